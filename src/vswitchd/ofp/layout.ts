/*
 * The OpenFlow flow: what vswitchd's OpenFlow tables match on. It is the datapath flow key
 * (src/lib/flow-key.ts, words 0..KEY_WORDS-1, same meaning) followed by the pipeline-only
 * fields: metadata (64 bits) and reg0..reg15. One difference in word 0: here it holds the
 * OpenFlow in_port (ofport, 16 bits), not the datapath port number. Used by match.ts, the
 * classifier and (per upcall) the translation; the bit helpers are the only code that knows
 * how a field's bits sit in the words. Control path and per-upcall; no allocation except the
 * bigint helpers.
 *
 * Bit positions: the words form one big-endian bit stream; stream bit p lives in word p >> 5 at
 * bit 31 - (p & 31). Every field is a contiguous run of that stream (dl_dst = bits 32..79, a
 * register = a whole word), which is what lets load/move/learn work on any field and bit range.
 */
import { KEY_WORDS, W_IN_PORT } from '../../lib/flow-key.js';

/** Word holding the upper 32 bits of metadata; the lower 32 bits follow. */
export const OF_W_METADATA = KEY_WORDS;
/** Word of reg0; reg N is OF_W_REG0 + N. */
export const OF_W_REG0 = KEY_WORDS + 2;
export const OF_N_REGS = 16;
/** Words in an OpenFlow flow (and in a match's value and mask). */
export const OF_WORDS = OF_W_REG0 + OF_N_REGS;

/** OpenFlow port numbers (16-bit, as OVS's ofp_port_t; the wire uses the 32-bit OF1.3 forms). */
export const OFPP_MAX = 0xff00;
export const OFPP_UNSET = 0xfff7;
export const OFPP_IN_PORT = 0xfff8;
export const OFPP_TABLE = 0xfff9;
export const OFPP_NORMAL = 0xfffa;
export const OFPP_FLOOD = 0xfffb;
export const OFPP_ALL = 0xfffc;
export const OFPP_CONTROLLER = 0xfffd;
export const OFPP_LOCAL = 0xfffe;
export const OFPP_NONE = 0xffff;
/** "Any port" in filters (out_port): same value as OFPP_NONE, as in OpenFlow 1.0. */
export const OFPP_ANY = OFPP_NONE;

/** Tables 0..254; 255 means "all tables" in requests. */
export const OF_N_TABLES = 255;
export const OFPTT_ALL = 0xff;

/** A fresh, zeroed OpenFlow flow (or mask). */
export function newOfFlow(): Uint32Array {
  return new Uint32Array(OF_WORDS);
}

/**
 * Fills `out` (OF_WORDS) from a datapath key: words 1..KEY_WORDS-1 copied, word 0 set to the
 * OpenFlow port `ofInPort`, metadata and registers zeroed. Per upcall; no allocation.
 */
export function ofFlowFromKey(key: Uint32Array, ofInPort: number, out: Uint32Array, ko = 0): void {
  for (let i = 1; i < KEY_WORDS; i++) out[i] = key[ko + i];
  out[W_IN_PORT] = ofInPort & 0xffff;
  for (let i = KEY_WORDS; i < OF_WORDS; i++) out[i] = 0;
}

/**
 * Turns the wildcards a translation collected (OF_WORDS, 1 = bit examined) into a datapath mask
 * (KEY_WORDS words): the datapath in_port is always exact, words 1.. are copied, metadata and
 * registers are dropped (they are pipeline state derived from fields already in the mask).
 */
export function dpMaskFromWildcards(wc: Uint32Array, out: Uint32Array, oo = 0): void {
  out[oo + W_IN_PORT] = 0xffffffff;
  for (let i = 1; i < KEY_WORDS; i++) out[oo + i] = wc[i];
}

// ---- Bit helpers ------------------------------------------------------------------------------

/** The low `n` bits set (n in 0..32), as an unsigned number. */
export function lowMask(n: number): number {
  return n >= 32 ? 0xffffffff : ((1 << n) >>> 0) - 1;
}

/** Reads `width` (1..32) bits at stream position `pos`. */
export function getBits(w: Uint32Array, pos: number, width: number): number {
  const wi = pos >>> 5;
  const off = pos & 31;
  if (off + width <= 32) return ((w[wi] >>> (32 - off - width)) & lowMask(width)) >>> 0;
  const loBits = off + width - 32;
  const hi = w[wi] & lowMask(32 - off);
  return ((hi * 2 ** loBits) + (w[wi + 1] >>> (32 - loBits))) >>> 0;
}

/** Writes the low `width` (1..32) bits of `v` at stream position `pos`. */
export function setBits(w: Uint32Array, pos: number, width: number, v: number): void {
  const wi = pos >>> 5;
  const off = pos & 31;
  if (off + width <= 32) {
    const shift = 32 - off - width;
    const m = (lowMask(width) << shift) >>> 0;
    w[wi] = ((w[wi] & ~m) | ((v << shift) & m)) >>> 0;
    return;
  }
  const loBits = off + width - 32;
  const hiBits = width - loBits;
  setBits(w, pos, hiBits, Math.floor((v >>> 0) / 2 ** loBits));
  setBits(w, pos + hiBits, loBits, v & lowMask(loBits));
}

/** Reads `width` (1..52) bits as a number (MACs fit). */
export function getWide(w: Uint32Array, pos: number, width: number): number {
  if (width <= 32) return getBits(w, pos, width);
  const hiBits = width - 32;
  return getBits(w, pos, hiBits) * 0x100000000 + getBits(w, pos + hiBits, 32);
}

/** Writes `width` (1..52) bits of the number `v`. */
export function setWide(w: Uint32Array, pos: number, width: number, v: number): void {
  if (width <= 32) {
    setBits(w, pos, width, v);
    return;
  }
  const hiBits = width - 32;
  setBits(w, pos, hiBits, Math.floor(v / 0x100000000));
  setBits(w, pos + hiBits, 32, v % 0x100000000);
}

/** Reads any number of bits as a bigint (control path). */
export function getBig(w: Uint32Array, pos: number, width: number): bigint {
  let v = 0n;
  let p = pos;
  const end = pos + width;
  while (p < end) {
    const n = Math.min(32 - (p & 31), end - p);
    v = (v << BigInt(n)) | BigInt(getBits(w, p, n));
    p += n;
  }
  return v;
}

/** Writes the low `width` bits of the bigint `v` (control path). */
export function setBig(w: Uint32Array, pos: number, width: number, v: bigint): void {
  let end = pos + width;
  while (end > pos) {
    const start = Math.max(pos, (end - 1) & ~31);
    const n = end - start;
    setBits(w, start, n, Number(v & BigInt(lowMask(n))));
    v >>= BigInt(n);
    end = start;
  }
}

/** ORs `width` one-bits at `pos` into `w` (un-wildcarding a field). */
export function orOnes(w: Uint32Array, pos: number, width: number): void {
  let p = pos;
  const end = pos + width;
  while (p < end) {
    const off = p & 31;
    const n = Math.min(32 - off, end - p);
    w[p >>> 5] = (w[p >>> 5] | (lowMask(n) << (32 - off - n))) >>> 0;
    p += n;
  }
}

/** Copies `n` bits from stream position `sp` of `src` to `dp` of `dst` (move, learn). */
export function copyBits(src: Uint32Array, sp: number, dst: Uint32Array, dp: number, n: number): void {
  if (src === dst && n > 32) {
    setBig(dst, dp, n, getBig(src, sp, n)); // overlapping runs in one flow: read all first
    return;
  }
  let done = 0;
  while (done < n) {
    const k = Math.min(32, n - done);
    setBits(dst, dp + done, k, getBits(src, sp + done, k));
    done += k;
  }
}

/** Whether the `width` bits at `pos` are all zero. */
export function bitsZero(w: Uint32Array, pos: number, width: number): boolean {
  for (let p = pos, end = pos + width; p < end;) {
    const n = Math.min(32 - (p & 31), end - p);
    if (getBits(w, p, n) !== 0) return false;
    p += n;
  }
  return true;
}

/** Whether the `width` bits at `pos` are all one. */
export function bitsOnes(w: Uint32Array, pos: number, width: number): boolean {
  for (let p = pos, end = pos + width; p < end;) {
    const n = Math.min(32 - (p & 31), end - p);
    if (getBits(w, p, n) !== lowMask(n)) return false;
    p += n;
  }
  return true;
}

// Encoding a dump makes millions of small byte arrays; views on 64 KiB slabs (never reused,
// each freed when its last view is) cost a fraction of arrays with their own buffers.
const BYTE_SLAB = 65536;
let bslab = new ArrayBuffer(BYTE_SLAB);
let bused = 0;
function byteSlab(n: number): Uint8Array {
  if (bused + n > BYTE_SLAB) {
    bslab = new ArrayBuffer(BYTE_SLAB);
    bused = 0;
  }
  const a = new Uint8Array(bslab, bused, n);
  bused += n;
  return a;
}

/** The `width` bits at `pos` as ceil(width/8) big-endian bytes (protocol encoding). */
export function bitsToBytes(w: Uint32Array, pos: number, width: number): Uint8Array {
  const n = (width + 7) >> 3;
  const out = byteSlab(n);
  const head = width - (n - 1) * 8; // bits in the first byte
  out[0] = getBits(w, pos, head);
  for (let i = 1; i < n; i++) out[i] = getBits(w, pos + head + (i - 1) * 8, 8);
  return out;
}

/**
 * Writes big-endian `bytes` (ceil(width/8) of them) as the `width` bits at `pos`; returns false
 * (writing nothing) when the first byte has bits above the field's width.
 */
export function bytesToBits(bytes: Uint8Array, w: Uint32Array, pos: number, width: number): boolean {
  const n = (width + 7) >> 3;
  const head = width - (n - 1) * 8;
  if (bytes.length !== n || bytes[0] > lowMask(head)) return false;
  setBits(w, pos, head, bytes[0]);
  for (let i = 1; i < n; i++) setBits(w, pos + head + (i - 1) * 8, 8, bytes[i]);
  return true;
}

/** All ones of `width` bits, as a bigint. */
export function onesBig(width: number): bigint {
  return (1n << BigInt(width)) - 1n;
}
