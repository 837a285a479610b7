#!/usr/bin/env node
// Entry point of the `ofctl` command: runs the compiled tool (dist/tools/ofctl.js).
import { main } from '../dist/tools/ofctl.js';
main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  console.error(`ofctl: ${err && err.message ? err.message : err}`);
  process.exit(1);
});
