/*
 * Interoperability of codec.ts's own encoder/decoder (plain-codec.ts) with protobufjs's
 * reflection codec as the reference protobuf implementation: bytes either one writes the other
 * reads back to the same values, including uint64 extremes, packed and unpacked repeated
 * scalars, nested oneofs, proto3 optional fields, unicode strings and unknown fields.
 */
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, schema } from '../../../../src/lib/flowproto/codec.js';
import { FlowProtoError } from '../../../../src/lib/flowproto/errors.js';
import type { BodyInput } from '../../../../src/lib/flowproto/messages.js';

const T = (): protobuf.Type => schema().lookupType('vswitch.flow.v1.Message');
const TO_OBJECT: protobuf.IConversionOptions = { longs: BigInt, oneofs: true };

/** protobufjs's reading of bytes. */
function refDecode(b: Uint8Array): Record<string, unknown> {
  return T().toObject(T().decode(new Uint8Array(b.buffer, b.byteOffset, b.length)), TO_OBJECT);
}
/** protobufjs's writing of a message (uint64 passed as decimal strings, which it takes). */
function refEncode(o: Record<string, unknown>): Uint8Array {
  const conv = JSON.parse(JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v))) as Record<string, unknown>;
  return T().encode(T().fromObject(conv)).finish();
}

const MAX64 = 0xffffffffffffffffn;
const u8 = (...b: number[]): Uint8Array => Uint8Array.from(b);

const flowMod: BodyInput = {
  flowMod: {
    cookie: MAX64, cookieMask: 0x123456789abcdef0n, tableId: 3, command: 1, idleTimeout: 60, hardTimeout: 0, priority: 65535,
    bufferId: 0xffffffff, flags: 5, newCookie: 0n,
    match: { fields: [{ field: 5, value: u8(8, 0) }, { field: 9, value: u8(10, 1, 2, 3), mask: u8(255, 255, 0, 0) }] },
    instructions: [
      { applyActions: { actions: [{ output: { port: 2 } }, { controller: { maxLen: 0, controllerId: 7, userdata: u8(1, 2) } }, { decTtl: { controllerIds: [1, 300, 70000] } }] } },
      { writeMetadata: { metadata: 1n << 63n, metadataMask: MAX64 } },
      { gotoTable: { tableId: 9 } },
    ],
  },
};

describe('plain codec interoperability with protobufjs', () => {
  it('protobufjs reads what encodeMessage writes', () => {
    const b = encodeMessage(1, 0xfffffffe, flowMod);
    const ref = refDecode(b);
    const mine = decodeMessage(b);
    expect(ref.xid).toBe(0xfffffffe);
    const fm = ref.flowMod as Record<string, unknown>;
    expect(fm.cookie).toBe(MAX64);
    expect(fm.cookieMask).toBe(0x123456789abcdef0n);
    expect(fm.newCookie).toBe(0n);
    expect(mine).toEqual(ref);
    expect(mine.flowMod?.instructions?.[0].applyActions?.actions?.[2].decTtl?.controllerIds).toEqual([1, 300, 70000]);
    expect(mine.flowMod?.instructions?.[0].applyActions?.actions?.[1].kind).toBe('controller');
    expect(mine.flowMod?.instructions?.[0].applyActions?.actions?.[1].controller?.maxLen).toBe(0);
  });

  it('decodeMessage reads what protobufjs writes, with the same values', () => {
    const msg = { ...flowMod, version: 1, xid: 42 };
    const b = refEncode(msg);
    expect(decodeMessage(b)).toEqual(refDecode(b));
    expect(decodeMessage(b).flowMod?.cookie).toBe(MAX64);
    const hello = refEncode({ version: 1, xid: 1, hello: { versions: [1, 2, 300], agent: 'ofctl ü→✓' } });
    expect(decodeMessage(hello).hello).toEqual({ versions: [1, 2, 300], agent: 'ofctl ü→✓' });
    expect(decodeMessage(encodeMessage(1, 1, { hello: { versions: [1, 2, 300], agent: 'ofctl ü→✓' } }))).toEqual(refDecode(hello));
  });

  it('round-trips multipart flow stats replies like protobufjs', () => {
    const stats = Array.from({ length: 50 }, (_, i) => ({
      tableId: i % 3, durationSec: i, durationNsec: 999000000, priority: i, cookie: BigInt(i) << 40n, packetCount: 2n ** 53n + BigInt(i), byteCount: 0n,
      match: { fields: [{ field: 9, value: u8(10, 0, 0, i) }] }, instructions: [{ applyActions: { actions: [{ output: { port: i } }] } }], idleAge: i,
    }));
    const b = encodeMessage(1, 5, { multipartReply: { more: true, flow: { stats } } });
    const ref = refDecode(b);
    expect(decodeMessage(b)).toEqual(ref);
    expect(decodeMessage(refEncode({ version: 1, xid: 5, multipartReply: { more: true, flow: { stats } } }))).toEqual(ref);
  });

  it('accepts unpacked repeated scalars, skips unknown fields, and lets the last oneof member win', () => {
    const w = protobuf.Writer.create();
    w.uint32((1 << 3) | 0).uint32(1); // version
    w.uint32((99 << 3) | 2).bytes(u8(1, 2, 3)); // unknown field
    w.uint32((10 << 3) | 2).fork().uint32((1 << 3) | 0).uint32(7).uint32((1 << 3) | 0).uint32(8).uint32((50 << 3) | 0).uint32(1).ldelim(); // hello, unpacked
    w.uint32((12 << 3) | 2).fork().uint32((1 << 3) | 2).bytes(u8(9)).ldelim(); // echo_request
    const m = decodeMessage(w.finish());
    expect(m.version).toBe(1);
    expect(m.body).toBe('echoRequest');
    expect(m.hello).toBeUndefined();
    expect(m.echoRequest?.data).toEqual(u8(9));
  });

  it('rejects truncated messages and non-object nested messages', () => {
    const b = encodeMessage(1, 1, flowMod);
    for (const n of [b.length - 1, b.length - 5, 3]) expect(() => decodeMessage(b.subarray(0, n))).toThrow(FlowProtoError);
    expect(() => encodeMessage(1, 1, { flowMod: { match: 5 as unknown as null } })).toThrow(TypeError);
  });
});
