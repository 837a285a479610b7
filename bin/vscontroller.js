#!/usr/bin/env node
// Entry point of the `vscontroller` command: runs the compiled tool (dist/tools/vscontroller.js).
import { main } from '../dist/tools/vscontroller.js';
main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  console.error(`vscontroller: ${err && err.message ? err.message : err}`);
  process.exit(1);
});
