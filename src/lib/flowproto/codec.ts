/*
 * Encoding and decoding of flow protocol messages with protobufjs, from the schema of record
 * proto/vswitch-flow.proto (found from this module's location, so it works from src/ under the
 * test runner and from dist/ after tsc), loaded from its generated JSON descriptor
 * proto/vswitch-flow.json when present (scripts/gen-proto-descriptor.mjs; a few ms instead of
 * 15-25 ms of parsing per process), else parsed; the byte-level work is plain-codec.ts (plain
 * objects, no protobufjs message instances). protobufjs and the schema load on first use: the
 * messages of a dump (fast-decode.ts) decode without them.
 * Used by connection.ts and by anyone who needs raw bytes (tests, tools). Control path.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type protobuf from 'protobufjs';
import { decodeCommon } from './fast-decode.js';
import { FlowProtoError } from './errors.js';
import type { BodyInput, FlowMessage } from './messages.js';
import { decodePlain, encodePlain, protobufLib } from './plain-codec.js';

/** The protocol version this code speaks (Hello.versions). */
export const FLOW_PROTO_VERSION = 1;
export const SUPPORTED_VERSIONS: readonly number[] = [FLOW_PROTO_VERSION];
export const PROTO_PACKAGE = 'vswitch.flow.v1';
const PROTO_FILE = 'proto/vswitch-flow.proto';

/** Path of the .proto file: the nearest ancestor directory of this module that has it. */
export function protoPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const p = join(dir, PROTO_FILE);
    if (existsSync(p)) return p;
    const up = dirname(dir);
    if (up === dir) throw new Error(`${PROTO_FILE} not found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

let root: protobuf.Root | null = null;
let messageType: protobuf.Type | null = null;

/** Path of the .proto's JSON descriptor (generated; test/unit/lib/flowproto/descriptor.test.ts keeps it equal). */
export function descriptorPath(): string {
  return protoPath().replace(/\.proto$/, '.json');
}

/** The loaded schema (once): from the JSON descriptor, or parsed from the .proto without one. */
export function schema(): protobuf.Root {
  if (root === null) {
    const json = descriptorPath();
    const pb = protobufLib();
    root = existsSync(json) ? pb.Root.fromJSON(JSON.parse(readFileSync(json, 'utf8')) as protobuf.INamespace) : pb.loadSync(protoPath());
  }
  return root;
}

function msgType(): protobuf.Type {
  if (messageType === null) messageType = schema().lookupType(`${PROTO_PACKAGE}.Message`);
  return messageType;
}

/**
 * Encodes a message (`body` holds one member of the oneof). Values must have the types of
 * messages.ts (enums as numbers, uint64 as bigint or number, bytes as Uint8Array).
 */
export function encodeMessage(version: number, xid: number, body: BodyInput): Uint8Array {
  return encodePlain(msgType(), { ...body, version, xid: xid >>> 0 });
}

/**
 * Decodes one message; throws FlowProtoError('BAD_MESSAGE') when the bytes are not one. Fields
 * at their default are absent (see messages.ts); bytes fields are views into `buf`.
 */
export function decodeMessage(buf: Uint8Array): FlowMessage {
  // protobufjs reads a plain Uint8Array about twice as fast as a Buffer (no Buffer.slice per bytes field).
  const u8 = Buffer.isBuffer(buf) ? new Uint8Array(buf.buffer, buf.byteOffset, buf.length) : buf;
  const common = decodeCommon(u8);
  if (common !== null) return common;
  const t = msgType();
  try {
    const m = decodePlain(t, u8) as unknown as FlowMessage;
    m.version ??= 0;
    m.xid ??= 0;
    return m;
  } catch (e) {
    throw new FlowProtoError('BAD_MESSAGE', `not a valid flow protocol message: ${(e as Error).message}`, { cause: e });
  }
}
