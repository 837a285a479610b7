/*
 * Header rewrites (hot: per frame of a flow whose actions change headers): the masked set
 * actions of src/lib/dpif-proto.ts (ACT_SET_ETH, _IPV4, _IPV6, _L4, _ARP) applied to a frame in
 * place, with every checksum the change touches fixed. Called by the action runner (actions.ts)
 * on the frame's current version; owns nothing but a few module-level parse results.
 *
 * Each action parses just what it needs (Ethernet, up to two VLAN tags, IPv4 options or IPv6
 * extension headers, the transport header) and does nothing to a frame that lacks the header
 * (a set of IPv4 fields on an ARP frame, ports on a later fragment). Checksums:
 *  - IPv4 header: recomputed over the header (at most 60 bytes).
 *  - TCP, UDP, ICMPv6: updated incrementally (RFC 1624) for each 16-bit word that changed in
 *    the transport header or in the pseudo-header (addresses). A UDP checksum of 0 over IPv4
 *    means "none" and stays 0; a UDP result of 0 is written as 0xffff.
 *  - ICMP: incrementally for type and code (no pseudo-header).
 *  - SCTP: CRC32c recomputed over the packet.
 *  - A partial checksum (virtio NEEDS_CSUM: the checksum field holds the folded pseudo-header
 *    sum and the sender's NIC, the kernel or offload.ts finishes it): only the pseudo-header
 *    part changes, so an address change adjusts the field as a sum; transport header changes
 *    need nothing, the final sum covers them.
 * Never throws, allocates nothing.
 */
import {
  ACT_SET_ARP, ACT_SET_ETH, ACT_SET_IPV4, ACT_SET_IPV6, ACT_SET_L4, SET_ARP_WORDS, SET_ETH_WORDS, SET_IPV4_WORDS,
  SET_IPV6_WORDS, SET_L4_WORDS,
} from '../lib/dpif-proto.js';
import { V_CSUM_OFFSET, V_CSUM_START, V_FLAGS_GSO, VIRTIO_NET_HDR_F_NEEDS_CSUM } from './batch.js';

const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_ICMPV6 = 58;
const PROTO_SCTP = 132;

// Parse results of the last parse() (module scratch: one frame at a time, no allocation).
/** Offset (absolute) of the L3 header, and its EtherType. */
let l3 = 0;
let ethType = 0;
/** Offset of the transport header (-1: none reachable: later fragment, truncated) and the end
 *  of the IP payload. */
let l4 = -1;
let l4End = 0;
let proto = -1;
/** IPv4 header length. */
let ihl = 0;
/** A first fragment (more follow): checksums over the whole packet cannot be recomputed. */
let fragmented = false;

function rd16(b: Uint8Array, p: number): number {
  return (b[p] << 8) | b[p + 1];
}
function wr16(b: Uint8Array, p: number, v: number): void {
  b[p] = (v >>> 8) & 0xff;
  b[p + 1] = v & 0xff;
}
function rd32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}
/** Writes the bits of `v` under `m` into the big-endian word at p. */
function wr32m(b: Uint8Array, p: number, v: number, m: number): void {
  for (let k = 0; k < 4; k++) {
    const sh = 24 - 8 * k;
    const mb = (m >>> sh) & 0xff;
    if (mb !== 0) b[p + k] = (b[p + k] & ~mb) | ((v >>> sh) & mb);
  }
}

/** RFC 1624 eqn 3: checksum `hc` after a 16-bit word changed from `from` to `to`. */
export function csumReplace16(hc: number, from: number, to: number): number {
  let s = (~hc & 0xffff) + (~from & 0xffff) + (to & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
/** The same for a 32-bit word (two 16-bit halves). */
export function csumReplace32(hc: number, from: number, to: number): number {
  return csumReplace16(csumReplace16(hc, from >>> 16, to >>> 16), from & 0xffff, to & 0xffff);
}

/**
 * Finds L3 and L4 of the frame buf[off, end): sets l3, ethType, l4, l4End, proto, ihl.
 * Returns false when there is no Ethernet header.
 */
function parse(buf: Uint8Array, off: number, end: number): boolean {
  l4 = -1;
  proto = -1;
  ethType = 0;
  fragmented = false;
  if (end - off < 14) return false;
  let p = off + 12;
  let type = rd16(buf, p);
  for (let tags = 0; tags < 2 && (type === 0x8100 || type === 0x88a8); tags++) {
    if (end - p < 6) return false;
    p += 4;
    type = rd16(buf, p);
  }
  l3 = p + 2;
  ethType = type;
  if (type === 0x0800) {
    if (end - l3 < 20 || buf[l3] >>> 4 !== 4) { ethType = 0; return true; }
    ihl = (buf[l3] & 0x0f) * 4;
    const tot = rd16(buf, l3 + 2);
    if (ihl < 20 || tot < ihl || l3 + tot > end) { ethType = 0; return true; }
    proto = buf[l3 + 9];
    const frag = rd16(buf, l3 + 6);
    if ((frag & 0x1fff) !== 0) return true; // later fragment: no transport header
    fragmented = (frag & 0x2000) !== 0;
    l4 = l3 + ihl;
    l4End = l3 + tot;
  } else if (type === 0x86dd) {
    if (end - l3 < 40 || buf[l3] >>> 4 !== 6) { ethType = 0; return true; }
    const pend = l3 + 40 + rd16(buf, l3 + 4);
    if (pend > end) { ethType = 0; return true; }
    let nh = buf[l3 + 6];
    let q = l3 + 40;
    for (;;) {
      if (nh === 0 || nh === 43 || nh === 60 || nh === 51) {
        if (pend - q < 8) return true;
        const hl = nh === 51 ? (buf[q + 1] + 2) * 4 : (buf[q + 1] + 1) * 8;
        if (pend - q < hl) return true;
        nh = buf[q];
        q += hl;
      } else if (nh === 44) {
        if (pend - q < 8) return true;
        const fo = rd16(buf, q + 2);
        nh = buf[q];
        q += 8;
        if ((fo & 0xfff8) !== 0) { proto = nh; return true; }
        fragmented = (fo & 1) !== 0;
      } else {
        break;
      }
    }
    proto = nh;
    l4 = q;
    l4End = pend;
  }
  return true;
}

/** Offset of the checksum field in the transport header, -1 if none (or header truncated). */
function l4CsumOffset(): number {
  const avail = l4End - l4;
  if (proto === PROTO_TCP) return avail >= 20 ? 16 : -1;
  if (proto === PROTO_UDP) return avail >= 8 ? 6 : -1;
  if (proto === PROTO_ICMP || proto === PROTO_ICMPV6) return avail >= 4 ? 2 : -1;
  if (proto === PROTO_SCTP) return avail >= 12 ? 8 : -1;
  return -1;
}

/** Whether the transport checksum is partial (NEEDS_CSUM pointing at it). */
function partialAt(vm: Uint16Array, off: number, field: number): boolean {
  return (vm[V_FLAGS_GSO] & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0 && off + vm[V_CSUM_START] + vm[V_CSUM_OFFSET] === field;
}

// Pseudo-header words that changed (old, new), collected by the IP sets, applied by fixL4.
const pseudoOld = new Uint32Array(8);
const pseudoNew = new Uint32Array(8);
let nPseudo = 0;

/** Applies the collected pseudo-header changes (and any `hdrOld/hdrNew` transport word) to
 *  the transport checksum. */
function fixL4(buf: Uint8Array, off: number, vm: Uint16Array, hdrOld: number, hdrNew: number, hdrWord: boolean): void {
  const co = l4CsumOffset();
  if (co < 0) return;
  const f = l4 + co;
  if (proto === PROTO_SCTP) {
    // CRC32c covers the SCTP packet only (no pseudo-header): redo it when a port changed.
    if (hdrWord && !fragmented && !partialAt(vm, off, f)) sctpCrc(buf, l4, l4End);
    return;
  }
  const pseudo = proto !== PROTO_ICMP; // ICMPv4 has no pseudo-header
  if (partialAt(vm, off, f)) {
    // The field holds the folded pseudo-header sum: adjust it as a sum (complement around).
    let s = ~rd16(buf, f) & 0xffff;
    if (pseudo) for (let k = 0; k < nPseudo; k++) s = csumReplace32(s, pseudoOld[k], pseudoNew[k]);
    wr16(buf, f, ~s & 0xffff);
    return;
  }
  let c = rd16(buf, f);
  if (proto === PROTO_UDP && c === 0 && ethType === 0x0800) return; // no checksum
  if (pseudo) for (let k = 0; k < nPseudo; k++) c = csumReplace32(c, pseudoOld[k], pseudoNew[k]);
  if (hdrWord) c = csumReplace32(c, hdrOld, hdrNew);
  if (proto === PROTO_UDP && c === 0) c = 0xffff;
  wr16(buf, f, c);
}

/** IPv4 header checksum recomputed in place. */
function ipv4HeaderCsum(buf: Uint8Array): void {
  buf[l3 + 10] = 0;
  buf[l3 + 11] = 0;
  let s = 0;
  for (let p = l3; p < l3 + ihl; p += 2) s += rd16(buf, p);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  wr16(buf, l3 + 10, ~s & 0xffff);
}

/**
 * Runs the set action at acts[i] on the frame buf[off, off+len), whose virtio header is `vm`
 * (read to tell a partial checksum). Returns the index of the next action, or -1 when the
 * operands run past `n` (malformed list).
 */
export function runSetAction(buf: Uint8Array, off: number, len: number, vm: Uint16Array, acts: Int32Array, i: number, n: number): number {
  const op = acts[i];
  const a = i + 1;
  const end = off + len;
  if (op === ACT_SET_ETH) {
    if (a + SET_ETH_WORDS > n) return -1;
    if (len >= 14) for (let k = 0; k < 3; k++) wr32m(buf, off + 4 * k, acts[a + k], acts[a + 3 + k]);
    return a + SET_ETH_WORDS;
  }
  if (op === ACT_SET_IPV4) {
    if (a + SET_IPV4_WORDS > n) return -1;
    if (parse(buf, off, end) && ethType === 0x0800) setIpv4(buf, off, vm, acts, a);
    return a + SET_IPV4_WORDS;
  }
  if (op === ACT_SET_IPV6) {
    if (a + SET_IPV6_WORDS > n) return -1;
    if (parse(buf, off, end) && ethType === 0x86dd) setIpv6(buf, off, vm, acts, a);
    return a + SET_IPV6_WORDS;
  }
  if (op === ACT_SET_L4) {
    if (a + SET_L4_WORDS > n) return -1;
    if (parse(buf, off, end) && l4 >= 0 && proto === acts[a]) setL4(buf, off, vm, acts[a + 1] >>> 0, acts[a + 2] >>> 0);
    return a + SET_L4_WORDS;
  }
  if (op === ACT_SET_ARP) {
    if (a + SET_ARP_WORDS > n) return -1;
    if (parse(buf, off, end) && (ethType === 0x0806 || ethType === 0x8035)) setArp(buf, end, acts, a);
    return a + SET_ARP_WORDS;
  }
  return -1;
}

function setIpv4(buf: Uint8Array, off: number, vm: Uint16Array, acts: Int32Array, a: number): void {
  nPseudo = 0;
  for (let k = 0; k < 2; k++) {
    const m = acts[a + 3 + k] >>> 0;
    if (m === 0) continue;
    const p = l3 + 12 + 4 * k;
    const old = rd32(buf, p);
    const nv = ((old & ~m) | (acts[a + k] & m)) >>> 0;
    if (nv === old) continue;
    wr32m(buf, p, nv, 0xffffffff);
    pseudoOld[nPseudo] = old;
    pseudoNew[nPseudo++] = nv;
  }
  const nm = acts[a + 5] >>> 0;
  const nwv = acts[a + 2] >>> 0;
  const tosM = (nm >>> 16) & 0xff;
  if (tosM !== 0) buf[l3 + 1] = (buf[l3 + 1] & ~tosM) | ((nwv >>> 16) & tosM);
  const ttlM = (nm >>> 8) & 0xff;
  if (ttlM !== 0) buf[l3 + 8] = (buf[l3 + 8] & ~ttlM) | ((nwv >>> 8) & ttlM);
  ipv4HeaderCsum(buf);
  if (nPseudo > 0 && l4 >= 0) fixL4(buf, off, vm, 0, 0, false);
}

function setIpv6(buf: Uint8Array, off: number, vm: Uint16Array, acts: Int32Array, a: number): void {
  nPseudo = 0;
  for (let k = 0; k < 8; k++) {
    const m = acts[a + 10 + k] >>> 0;
    if (m === 0) continue;
    const p = l3 + 8 + 4 * k;
    const old = rd32(buf, p);
    const nv = ((old & ~m) | (acts[a + k] & m)) >>> 0;
    if (nv === old) continue;
    wr32m(buf, p, nv, 0xffffffff);
    pseudoOld[nPseudo] = old;
    pseudoNew[nPseudo++] = nv;
  }
  const nm = acts[a + 18] >>> 0;
  const nwv = acts[a + 8] >>> 0;
  const tcM = (nm >>> 16) & 0xff;
  const labelM = (acts[a + 19] >>> 0) & 0xfffff;
  if (tcM !== 0 || labelM !== 0) {
    // version(4) | tclass(8) | label(20) in the first word.
    const w = rd32(buf, l3);
    const m = ((tcM << 20) | labelM) >>> 0;
    const v = ((((nwv >>> 16) & 0xff) << 20) | ((acts[a + 9] >>> 0) & 0xfffff)) >>> 0;
    wr32m(buf, l3, ((w & ~m) | (v & m)) >>> 0, 0xffffffff);
  }
  const hlM = (nm >>> 8) & 0xff;
  if (hlM !== 0) buf[l3 + 7] = (buf[l3 + 7] & ~hlM) | ((nwv >>> 8) & hlM);
  if (nPseudo > 0 && l4 >= 0) fixL4(buf, off, vm, 0, 0, false);
}

/** Ports (TCP, UDP, SCTP) or ICMP/ICMPv6 type and code, as the key's W_TP word. */
function setL4(buf: Uint8Array, off: number, vm: Uint16Array, v: number, m: number): void {
  nPseudo = 0;
  const avail = l4End - l4;
  if (proto === PROTO_ICMP || proto === PROTO_ICMPV6) {
    if (avail < 4) return;
    // W_TP = type << 16 | code; on the wire type and code are adjacent bytes.
    const old = rd16(buf, l4);
    const tv = (((v >>> 16) & 0xff) << 8) | (v & 0xff);
    const tm = (((m >>> 16) & 0xff) << 8) | (m & 0xff);
    const nv = (old & ~tm) | (tv & tm);
    if (nv === old) return;
    wr16(buf, l4, nv);
    fixL4(buf, off, vm, old, nv, true);
    return;
  }
  if (avail < 4 || (proto !== PROTO_TCP && proto !== PROTO_UDP && proto !== PROTO_SCTP)) return;
  const old = rd32(buf, l4);
  const nv = ((old & ~m) | (v & m)) >>> 0;
  if (nv === old) return;
  wr32m(buf, l4, nv, 0xffffffff);
  const co = l4CsumOffset();
  // A partial checksum covers the ports when it is finished: nothing to fix now.
  if (co >= 0 && proto !== PROTO_SCTP && partialAt(vm, off, l4 + co)) return;
  fixL4(buf, off, vm, old, nv, true);
}

/** Ethernet/IPv4 ARP: op, spa, tpa, sha, tha (no checksum). */
function setArp(buf: Uint8Array, end: number, acts: Int32Array, a: number): void {
  if (end - l3 < 28 || rd16(buf, l3) !== 1 || rd16(buf, l3 + 2) !== 0x0800 || buf[l3 + 4] !== 6 || buf[l3 + 5] !== 4) return;
  const opM = (acts[a + 8] >>> 24) & 0xff;
  if (opM !== 0) {
    buf[l3 + 6] = 0;
    buf[l3 + 7] = (buf[l3 + 7] & ~opM) | ((acts[a + 2] >>> 24) & opM);
  }
  wr32m(buf, l3 + 14, acts[a], acts[a + 6]); // spa
  wr32m(buf, l3 + 24, acts[a + 1], acts[a + 7]); // tpa
  // sha = W_ARP_SHA_HI (4 bytes) + high half of W_ARP_MID; tha = low half of W_ARP_MID + W_ARP_THA_LO.
  wr32m(buf, l3 + 8, acts[a + 3], acts[a + 9]);
  const mid = acts[a + 4] >>> 0;
  const midM = acts[a + 10] >>> 0;
  for (let k = 0; k < 2; k++) {
    const sh = 24 - 8 * k;
    const mb = (midM >>> sh) & 0xff;
    if (mb !== 0) buf[l3 + 12 + k] = (buf[l3 + 12 + k] & ~mb) | ((mid >>> sh) & mb);
    const sl = 8 - 8 * k;
    const ml = (midM >>> sl) & 0xff;
    if (ml !== 0) buf[l3 + 18 + k] = (buf[l3 + 18 + k] & ~ml) | ((mid >>> sl) & ml);
  }
  wr32m(buf, l3 + 20, acts[a + 5], acts[a + 11]);
}

// ---- SCTP CRC32c (Castagnoli, reflected) ----

const CRC32C = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  CRC32C[n] = c >>> 0;
}

/** CRC32c of buf[start, end) (standard: initial and final value all ones). */
export function crc32c(buf: Uint8Array, start: number, end: number): number {
  let c = 0xffffffff;
  for (let p = start; p < end; p++) c = CRC32C[(c ^ buf[p]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** Recomputes the SCTP checksum of the packet buf[p, end) (stored little-endian, as on the wire). */
function sctpCrc(buf: Uint8Array, p: number, end: number): void {
  buf[p + 8] = 0;
  buf[p + 9] = 0;
  buf[p + 10] = 0;
  buf[p + 11] = 0;
  const c = crc32c(buf, p, end);
  buf[p + 8] = c & 0xff;
  buf[p + 9] = (c >>> 8) & 0xff;
  buf[p + 10] = (c >>> 16) & 0xff;
  buf[p + 11] = (c >>> 24) & 0xff;
}
