#!/usr/bin/env node
/*
 * Writes proto/vswitch-flow.json, the protobufjs JSON descriptor of proto/vswitch-flow.proto
 * (the spec of record), which src/lib/flowproto/codec.ts loads at start: reading it costs a few
 * ms where parsing the .proto costs 15-25 ms of every ofctl run. Run after changing the .proto:
 *   node scripts/gen-proto-descriptor.mjs        (or: npm run gen:proto)
 * test/unit/lib/flowproto/descriptor.test.ts fails when the checked-in file differs from this
 * script's output, so the two cannot drift apart.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const PROTO_FILE = join(ROOT, 'proto', 'vswitch-flow.proto');
export const DESCRIPTOR_FILE = join(ROOT, 'proto', 'vswitch-flow.json');

/** The descriptor text of a .proto file (without comments), as written to DESCRIPTOR_FILE. */
export function descriptorText(protoFile = PROTO_FILE) {
  const root = protobuf.loadSync(protoFile);
  root.resolveAll();
  return `${JSON.stringify(root.toJSON({ keepComments: false }), null, 1)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(DESCRIPTOR_FILE, descriptorText());
  process.stdout.write(`wrote ${DESCRIPTOR_FILE}\n`);
}
