#!/usr/bin/env node
// Entry point of the `vsctl` command: runs the compiled tool (dist/tools/vsctl.js).
import { main } from '../dist/tools/vsctl.js';
main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  console.error(`vsctl: ${err && err.message ? err.message : err}`);
  process.exit(1);
});
