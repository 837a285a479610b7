#!/usr/bin/env node
// Entry point of the `vsdb-client` command: runs the compiled tool (dist/tools/vsdb-client.js).
import { main } from '../dist/tools/vsdb-client.js';
main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  console.error(`vsdb-client: ${err && err.message ? err.message : err}`);
  process.exit(1);
});
