#!/usr/bin/env node
// Entry point of the `vswitch` command: runs the compiled tool (dist/tools/vswitch.js).
import { main } from '../dist/tools/vswitch.js';
main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  console.error(`vswitch: ${err && err.message ? err.message : err}`);
  process.exit(1);
});
