#!/usr/bin/env node
// Entry point of the vswitchd daemon (foreground unless started by `vswitch start`).
import '../dist/src/vswitchd/main.js';
