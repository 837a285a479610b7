#!/usr/bin/env node
// Entry point of the datapath daemon (foreground unless started by `vswitch start`).
import '../dist/src/datapath/main.js';
