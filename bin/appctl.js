#!/usr/bin/env node
// Entry point of the `appctl` command: runs the compiled tool (dist/tools/appctl.js).
import { main } from '../dist/tools/appctl.js';
main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  console.error(`appctl: ${err && err.message ? err.message : err}`);
  process.exit(1);
});
