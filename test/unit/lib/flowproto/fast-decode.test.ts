/*
 * fast-decode.ts against the schema codec: every message it accepts decodes to what the schema
 * path gives, and everything else (other bodies, unknown or repeated fields, raw decoding off,
 * broken bytes) is left to the schema path (null), so decodeMessage's answers do not change.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, PROTO_PACKAGE, schema } from '../../../../src/lib/flowproto/codec.js';
import { decodeCommon } from '../../../../src/lib/flowproto/fast-decode.js';
import type { BodyInput, FlowMessage } from '../../../../src/lib/flowproto/messages.js';
import { decodePlain, encodePlain, RawMessage, setRawDecode } from '../../../../src/lib/flowproto/plain-codec.js';

const FLOW_STATS_REPLY = `.${PROTO_PACKAGE}.FlowStatsReply`;

/** The schema path's answer (decodeMessage without its fast path: it too reads a plain Uint8Array). */
function reference(buf: Uint8Array): FlowMessage {
  const u8 = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  const m = decodePlain(schema().lookupType(`${PROTO_PACKAGE}.Message`), u8) as unknown as FlowMessage;
  m.version ??= 0;
  m.xid ??= 0;
  return m;
}

/** The bytes of a FlowStatsReply with one flow (what vswitchd streams). */
function statsBytes(): Uint8Array {
  return encodePlain(schema().lookupType(`${PROTO_PACKAGE}.FlowStatsReply`), {
    stats: [{ tableId: 1, priority: 100, cookie: 5n, packetCount: 3n, byteCount: 180n, match: { fields: [] }, instructions: [] }],
  });
}

const ACCEPTED: [string, number, number, BodyInput][] = [
  ['hello', 1, 0, { hello: { versions: [1], agent: 'vswitchd 0.1.0' } }],
  ['hello without agent', 1, 0, { hello: { versions: [1, 2, 7] } }],
  ['hello, version 0', 0, 0, { hello: { versions: [3] } }],
  ['last part', 1, 1, { multipartReply: { flow: new RawMessage(statsBytes()) as never } }],
  ['a part with more', 1, 4000000000, { multipartReply: { more: true, flow: new RawMessage(statsBytes()) as never } }],
  ['an empty part', 1, 9, { multipartReply: { more: true, flow: new RawMessage(new Uint8Array(0)) as never } }],
];

afterEach(() => setRawDecode(FLOW_STATS_REPLY, false));

describe('decodeCommon', () => {
  it.each(ACCEPTED)('decodes %s as the schema codec does', (_name, version, xid, body) => {
    setRawDecode(FLOW_STATS_REPLY, true);
    const bytes = encodeMessage(version, xid, body);
    const fast = decodeCommon(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
    expect(fast).not.toBeNull();
    expect(fast).toStrictEqual(reference(bytes));
    expect(decodeMessage(bytes)).toStrictEqual(reference(bytes));
  });

  it('keeps flow stats as a view of the message bytes', () => {
    setRawDecode(FLOW_STATS_REPLY, true);
    const stats = statsBytes();
    const m = decodeCommon(encodeMessage(1, 1, { multipartReply: { flow: new RawMessage(stats) as never } }));
    const flow = m?.multipartReply?.flow as unknown as RawMessage;
    expect(flow).toBeInstanceOf(RawMessage);
    expect(Buffer.from(flow.bytes).equals(Buffer.from(stats))).toBe(true);
  });

  it('leaves flow stats replies to the schema path while raw decoding is off', () => {
    const bytes = encodeMessage(1, 1, { multipartReply: { flow: { stats: [] } } });
    expect(decodeCommon(bytes)).toBeNull();
    expect(decodeMessage(bytes).multipartReply?.flow).toStrictEqual({});
  });

  it.each<[string, BodyInput]>([
    ['echo request', { echoRequest: { data: new Uint8Array([1, 2]) } }],
    ['error', { error: { type: 1, code: 2, detail: 'x' } }],
    ['barrier reply', { barrierReply: {} }],
    ['port desc reply', { multipartReply: { portDesc: { ports: [] } } }],
    ['hello with no versions', { hello: { agent: 'x' } }],
    ['hello with a non-ASCII agent', { hello: { versions: [1], agent: 'vswitchd é' } }],
  ])('leaves a %s to the schema path', (_name, body) => {
    setRawDecode(FLOW_STATS_REPLY, true);
    expect(decodeCommon(encodeMessage(1, 3, body))).toBeNull();
  });

  it('gives up on unknown fields, repeated bodies and broken bytes', () => {
    setRawDecode(FLOW_STATS_REPLY, true);
    const hello = encodeMessage(1, 0, { hello: { versions: [1] } });
    // An unknown varint field (99) after the hello.
    expect(decodeCommon(Uint8Array.from([...hello, 0x98, 0x06, 0x01]))).toBeNull();
    // Two hellos (the schema path keeps the last).
    expect(decodeCommon(Uint8Array.from([...hello, ...hello]))).toBeNull();
    // Cut short: the body's length runs past the end.
    expect(decodeCommon(hello.subarray(0, hello.length - 3))).toBeNull();
    // A varint longer than 5 bytes.
    expect(decodeCommon(Uint8Array.from([0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toBeNull();
    // Nothing at all is not a message this path knows.
    expect(decodeCommon(new Uint8Array(0))).toBeNull();
  });
});
