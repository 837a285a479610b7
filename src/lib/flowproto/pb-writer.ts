/*
 * A hand-driven protobuf writer over one growing, reused buffer: keys, varints (32 and 64 bit),
 * bytes, and nested messages whose length is patched in when they end (one byte reserved,
 * the body moved when the length needs more). For bulk messages written field by field
 * without building objects first (vswitchd's flow stats replies, wire-flow-stats.ts).
 * Control path, hot for 100k-flow dumps: no allocation per field once the buffer has grown.
 */

import { GrowBuffer } from '../grow-buffer.js';

const TWO32 = 4294967296;

/** `v` (an unsigned 32-bit value) as a varint at buf[p], which has room; returns the end. */
export function putVarint(buf: Buffer, p: number, v: number): number {
  v >>>= 0;
  while (v > 127) {
    buf[p++] = (v & 127) | 128;
    v >>>= 7;
  }
  buf[p++] = v;
  return p;
}

/** A 64-bit varint from its halves at buf[p], which has room; returns the end. */
export function putVarint64(buf: Buffer, p: number, lo: number, hi: number): number {
  lo >>>= 0;
  hi >>>= 0;
  while (hi !== 0 || lo > 127) {
    buf[p++] = (lo & 127) | 128;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  buf[p++] = lo;
  return p;
}

export class ProtoWriter extends GrowBuffer {
  constructor(initial = 1 << 16) {
    super(initial);
  }

  /** Starts over (the buffer is kept). */
  reset(): void {
    this.pos = 0;
  }

  /** The bytes written so far: a view of the reused buffer, valid until the next write or reset. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** An unsigned 32-bit varint (also a field key: id << 3 | wire type). */
  varint(v: number): void {
    this.ensure(5);
    this.pos = putVarint(this.buf, this.pos, v);
  }

  /** Key and uint32 value, skipped when 0 (proto3 implicit presence). */
  uint32Field(key: number, v: number): void {
    if (v === 0) return;
    this.varint(key);
    this.varint(v);
  }

  /** A 64-bit varint from its halves. */
  varint64(lo: number, hi: number): void {
    this.ensure(10);
    this.pos = putVarint64(this.buf, this.pos, lo, hi);
  }

  /** Key and uint64 value (a non-negative safe integer), skipped when 0. */
  uint64NumField(key: number, v: number): void {
    if (v === 0) return;
    this.varint(key);
    this.varint64(v >>> 0, Math.floor(v / TWO32));
  }

  /** Key and uint64 value, skipped when 0. */
  uint64BigField(key: number, v: bigint): void {
    if (v === 0n) return;
    this.varint(key);
    const u = BigInt.asUintN(64, v);
    this.varint64(Number(u & 0xffffffffn), Number(u >> 32n));
  }

  /** Writes `key` and reserves the length of a nested message; returns what end() needs. */
  begin(key: number): number {
    this.varint(key);
    this.ensure(1);
    return this.pos++;
  }

  /** Ends the nested message begun at `mark`: writes its length, moving the body if needed. */
  end(mark: number): void {
    const len = this.pos - mark - 1;
    if (len < 128) {
      this.buf[mark] = len;
      return;
    }
    const n = len < 0x4000 ? 2 : len < 0x200000 ? 3 : len < 0x10000000 ? 4 : 5;
    this.ensure(n - 1);
    this.buf.copyWithin(mark + n, mark + 1, this.pos);
    putVarint(this.buf, mark, len);
    this.pos += n - 1;
  }

  /** Raw bytes (an already encoded message body, say). */
  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}
