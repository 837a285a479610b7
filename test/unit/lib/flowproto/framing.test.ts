// Framing and codec of the flow protocol: frames split anywhere or packed together come out
// whole; oversize and malformed length prefixes stop the decoder with a typed error; random
// bytes never make push() or decodeMessage() throw anything but their typed errors.
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, FLOW_PROTO_VERSION, protoPath, schema } from '../../../../src/lib/flowproto/codec.js';
import { FlowProtoError } from '../../../../src/lib/flowproto/errors.js';
import { encodeFrame, FrameDecoder } from '../../../../src/lib/flowproto/framing.js';
import { rng } from '../../vswitchd/ofp/helpers.js';

function payloads(r: () => number, n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => {
    const len = i % 7 === 0 ? 0 : Math.floor(r() * (i % 5 === 0 ? 70000 : 300));
    const b = Buffer.alloc(len);
    for (let j = 0; j < len; j++) b[j] = Math.floor(r() * 256);
    return b;
  });
}

describe('FrameDecoder', () => {
  it('reassembles frames split at every possible point and packed several per chunk', () => {
    const r = rng(5);
    const msgs = payloads(r, 40);
    const stream = Buffer.concat(msgs.map((m) => encodeFrame(m)));
    for (const chunkMax of [1, 2, 3, 7, 64, 1000, 100000]) {
      const got: Buffer[] = [];
      const d = new FrameDecoder((p) => got.push(Buffer.from(p)));
      let ok = true;
      for (let p = 0; p < stream.length;) {
        const n = 1 + Math.floor(r() * chunkMax);
        ok &&= d.push(stream.subarray(p, p + n));
        p += n;
      }
      expect(ok).toBe(true);
      expect(got.length).toBe(msgs.length);
      got.forEach((g, i) => expect(g.equals(msgs[i])).toBe(true));
      expect(d.buffered).toBe(0);
    }
  });

  it('encodes lengths as protobuf varints', () => {
    expect([...encodeFrame(new Uint8Array(0))]).toEqual([0]);
    expect([...encodeFrame(new Uint8Array(127)).subarray(0, 1)]).toEqual([127]);
    expect([...encodeFrame(new Uint8Array(300)).subarray(0, 2)]).toEqual([0xac, 0x02]);
  });

  it('rejects an oversize frame before reading it, and a varint longer than 32 bits', () => {
    const got: Buffer[] = [];
    const d = new FrameDecoder((p) => got.push(p), 1000);
    expect(d.push(Buffer.concat([encodeFrame(Buffer.alloc(10)), encodeFrame(Buffer.alloc(1001))]))).toBe(false);
    expect(got.length).toBe(1);
    expect(d.error).toBeInstanceOf(FlowProtoError);
    expect(d.error?.code).toBe('FRAME_TOO_LARGE');
    expect(d.push(encodeFrame(Buffer.alloc(1)))).toBe(false); // stays broken
    const v = new FrameDecoder(() => undefined);
    expect(v.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toBe(false);
    expect(v.error?.code).toBe('BAD_LENGTH');
    const w = new FrameDecoder(() => undefined);
    expect(w.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]))).toBe(false); // 2^35-1
    expect(w.error?.code).toMatch(/BAD_LENGTH|FRAME_TOO_LARGE/);
  });

  it('never throws on random bytes', () => {
    const r = rng(11);
    for (let i = 0; i < 300; i++) {
      const d = new FrameDecoder((p) => {
        try {
          decodeMessage(p);
        } catch (e) {
          expect(e).toBeInstanceOf(FlowProtoError);
        }
      }, 4096);
      const len = Math.floor(r() * 5000);
      const b = Buffer.alloc(len);
      for (let j = 0; j < len; j++) b[j] = Math.floor(r() * 256);
      for (let p = 0; p < len; p += 1 + Math.floor(r() * 100)) {
        if (!d.push(b.subarray(p, p + 1 + Math.floor(r() * 100)))) break;
      }
    }
  });
});

describe('codec', () => {
  it('loads the schema of record from proto/', () => {
    expect(protoPath()).toMatch(/proto\/vswitch-flow\.proto$/);
    expect(schema().lookupType('vswitch.flow.v1.FlowMod').fields.cookie.type).toBe('uint64');
  });

  it('round-trips messages, 64-bit values as bigint', () => {
    const bytes = encodeMessage(FLOW_PROTO_VERSION, 0xfffffffe, {
      flowMod: {
        cookie: 0xffffffffffffffffn, command: 3, tableId: 255, priority: 0, outPort: 0xfffffffe,
        match: { fields: [{ field: 9, value: Uint8Array.from([10, 0, 0, 1]), mask: Uint8Array.from([255, 255, 255, 0]) }] },
        instructions: [{ applyActions: { actions: [{ output: { port: 0xfffffffa } }] } }, { gotoTable: { tableId: 3 } }],
      },
    });
    const m = decodeMessage(bytes);
    expect(m.xid).toBe(0xfffffffe);
    expect(m.body).toBe('flowMod');
    const fm = m.flowMod!;
    expect(fm.cookie).toBe(0xffffffffffffffffn);
    expect(fm.priority).toBe(0); // optional: present even when 0
    expect(fm.newCookie).toBeUndefined();
    expect(fm.outPort).toBe(0xfffffffe);
    expect([...fm.match!.fields![0].mask!]).toEqual([255, 255, 255, 0]);
    expect(fm.instructions!.map((i) => i.kind)).toEqual(['applyActions', 'gotoTable']);
    expect(fm.instructions![0].applyActions!.actions![0].output!.port).toBe(0xfffffffa);
    expect(fm.tableId).toBe(255);
    expect(fm.idleTimeout).toBeUndefined(); // defaults are absent after decoding
  });

  it('turns undecodable bytes into FlowProtoError BAD_MESSAGE', () => {
    expect(() => decodeMessage(Buffer.from([0x52, 0x05, 0x01]))).toThrow(FlowProtoError);
    try {
      decodeMessage(Buffer.from([0x0a, 0xff]));
    } catch (e) {
      expect((e as FlowProtoError).code).toBe('BAD_MESSAGE');
    }
    expect(decodeMessage(new Uint8Array(0)).body).toBeUndefined(); // empty: valid, no body
  });
});
