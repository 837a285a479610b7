#!/usr/bin/env node
// Entry point of the `vsdb-tool` command: runs the compiled tool (dist/tools/vsdb-tool.js).
import { main } from '../dist/tools/vsdb-tool.js';
main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  console.error(`vsdb-tool: ${err && err.message ? err.message : err}`);
  process.exit(1);
});
