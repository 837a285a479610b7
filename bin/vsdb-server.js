#!/usr/bin/env node
// Entry point of the vsdb-server daemon (foreground unless started by `vswitch start`).
import '../dist/src/ovsdb/main.js';
