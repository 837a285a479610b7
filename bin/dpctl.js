#!/usr/bin/env node
// Entry point of the `dpctl` command: runs the compiled tool (dist/tools/dpctl.js).
import { main } from '../dist/tools/dpctl.js';
main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  console.error(`dpctl: ${err && err.message ? err.message : err}`);
  process.exit(1);
});
