/*
 * Software offloads (hot, but only for frames an egress port cannot take as they are): finishing
 * a partial checksum (virtio NEEDS_CSUM: the field at csum_start + csum_offset holds the
 * pseudo-header sum, the rest is left to do) and segmenting a GSO frame into wire-sized frames
 * (TCP over IPv4/IPv6: TSO; UDP_L4: USO; UDP over IPv4: UFO as IP fragments). Called by the
 * action runner per egress port and by the upcall queue (a miss goes up as finished frames);
 * owns nothing but each Segmenter's parse state. Pure byte work: no allocation, no throwing.
 *
 * How an egress port is served is decided from its capability bits (OFFLOAD_*) and the frame's
 * virtio header: a port with a virtio-net header (tap with IFF_VNET_HDR, AF_PACKET with
 * PACKET_VNET_HDR) takes GSO frames and partial checksums whole and the kernel finishes them
 * only if and where it must; any other port gets what a wire would carry.
 *
 * Notes on performance: checksums are summed two bytes at a time into a double (64 KiB cannot
 * overflow 2^53) and folded once; a segment is written with one copyWithin of its headers and
 * one of its payload, then its headers are patched and checksummed where it lies.
 */
import {
  V_CSUM_OFFSET, V_CSUM_START, V_FLAGS_GSO, V_GSO_SIZE, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_GSO_UDP, VIRTIO_NET_HDR_GSO_UDP_L4,
} from './batch.js';

/** Port capability bits: partial checksums, TCP GSO (v4, v6, ECN), UDP_L4 GSO, UFO. */
export const OFFLOAD_CSUM = 1;
export const OFFLOAD_TSO = 2;
export const OFFLOAD_USO = 4;
export const OFFLOAD_UFO = 8;

/** What offloadFix says a frame needs before an egress port can take it. */
export const FIX_NONE = 0;
export const FIX_CSUM = 1;
export const FIX_SEGMENT = 2;

const KIND_TCP = 1;
const KIND_USO = 2;
const KIND_UFO4 = 3;

/** Decides, from a frame's virtio word 0 (flags | gso_type << 8) and an egress port's
 *  capabilities, whether the frame goes as is, needs its checksum finished or must be
 *  segmented. Hot. */
export function offloadFix(w0: number, caps: number): number {
  const gt = (w0 >>> 8) & 0x7f;
  if (gt !== 0) {
    let need = 0;
    if (gt === VIRTIO_NET_HDR_GSO_TCPV4 || gt === VIRTIO_NET_HDR_GSO_TCPV6) need = OFFLOAD_TSO;
    else if (gt === VIRTIO_NET_HDR_GSO_UDP_L4) need = OFFLOAD_USO;
    else if (gt === VIRTIO_NET_HDR_GSO_UDP) need = OFFLOAD_UFO;
    return need !== 0 && (caps & need) !== 0 && (caps & OFFLOAD_CSUM) !== 0 ? FIX_NONE : FIX_SEGMENT;
  }
  return (w0 & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0 && (caps & OFFLOAD_CSUM) === 0 ? FIX_CSUM : FIX_NONE;
}

/** Ones'-complement sum of buf[start, end) as big-endian 16-bit words, added to `sum`
 *  (unfolded; an odd last byte counts as its high half). */
export function csumAdd(buf: Uint8Array, start: number, end: number, sum: number): number {
  let s = sum;
  let i = start;
  const even = end - ((end - start) & 1);
  for (; i + 8 <= even; i += 8) {
    s += ((buf[i] << 8) | buf[i + 1]) + ((buf[i + 2] << 8) | buf[i + 3]) + ((buf[i + 4] << 8) | buf[i + 5]) + ((buf[i + 6] << 8) | buf[i + 7]);
  }
  for (; i < even; i += 2) s += (buf[i] << 8) | buf[i + 1];
  if (even < end) s += buf[even] << 8;
  return s;
}

/** Folds an unfolded sum to 16 bits (not complemented). */
export function csumFold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  return s;
}

function wr16(b: Uint8Array, p: number, v: number): void {
  b[p] = (v >>> 8) & 0xff;
  b[p + 1] = v & 0xff;
}
function rd16(b: Uint8Array, p: number): number {
  return (b[p] << 8) | b[p + 1];
}

/**
 * Finishes a partial checksum in place: the 16-bit field at off+csumStart+csumOffset (which
 * holds the pseudo-header sum) becomes the checksum of buf[off+csumStart, off+len). Returns
 * false, changing nothing, when the field lies outside the frame.
 */
export function completeCsum(buf: Uint8Array, off: number, len: number, csumStart: number, csumOffset: number): boolean {
  const start = off + csumStart;
  const field = start + csumOffset;
  const end = off + len;
  if (csumStart < 14 || field + 2 > end) return false;
  let c = ~csumFold(csumAdd(buf, start, end, 0)) & 0xffff;
  if (c === 0) c = 0xffff; // a zero UDP checksum means "none"; 0xffff is the same value for TCP
  wr16(buf, field, c);
  return true;
}

/** IPv4 header checksum of buf[p, p+ihl), written in place. */
function ipv4Csum(b: Uint8Array, p: number, ihl: number): void {
  b[p + 10] = 0;
  b[p + 11] = 0;
  wr16(b, p + 10, ~csumFold(csumAdd(b, p, p + ihl, 0)) & 0xffff);
}

/**
 * Splits one GSO frame into the frames a wire would carry. begin() parses the frame and its
 * virtio header and says how many segments it makes; emit(k, dst, at) writes segment k
 * anywhere (scratch space, or straight into an upcall) with every header fixed and every
 * checksum computed. The source frame is only read. One instance per caller (parse state).
 */
export class Segmenter {
  private src: Uint8Array;
  private off = 0;
  private len = 0;
  private kind = 0;
  private v6 = false;
  /** Offsets from the frame start: network header, transport header, end of all headers. */
  private l3 = 0;
  private l4 = 0;
  private hdrs = 0;
  /** Bytes after the headers (TCP/UDP payload; for UFO, the IP payload). */
  private payload = 0;
  private mss = 0;
  private proto = 0;
  /** UFO: the finished UDP checksum of the whole datagram. */
  private udpCsum = 0;
  /** Segments of the frame begin() parsed. */
  nseg = 0;
  /** Largest segment emit() writes for that frame. */
  segMax = 0;

  constructor() {
    this.src = new Uint8Array(0);
  }

  /** Parses the GSO frame buf[off, off+len) with virtio header vnet[vi ..]. Returns the number
   *  of segments (>= 1), or 0 if the frame cannot be segmented (unknown GSO type, headers
   *  truncated or not what the GSO type says, gso_size 0, IPv6 UFO). */
  begin(buf: Uint8Array, off: number, len: number, vnet: Uint16Array, vi: number): number {
    this.nseg = 0;
    const gt = (vnet[vi + V_FLAGS_GSO] >>> 8) & 0x7f;
    const mss = vnet[vi + V_GSO_SIZE];
    if (mss === 0 || len < 14) return 0;
    let p = 12;
    let type = rd16(buf, off + p);
    for (let tags = 0; tags < 2 && (type === 0x8100 || type === 0x88a8); tags++) {
      p += 4;
      if (p + 2 > len) return 0;
      type = rd16(buf, off + p);
    }
    const l3 = p + 2;
    let l4 = 0;
    let proto = 0;
    if (type === 0x0800) {
      if (l3 + 20 > len || buf[off + l3] >>> 4 !== 4) return 0;
      l4 = l3 + (buf[off + l3] & 0x0f) * 4;
      proto = buf[off + l3 + 9];
      this.v6 = false;
    } else if (type === 0x86dd) {
      if (l3 + 40 > len || buf[off + l3] >>> 4 !== 6) return 0;
      this.v6 = true;
      const flags = vnet[vi + V_FLAGS_GSO] & 0xff;
      const cs = vnet[vi + V_CSUM_START];
      if ((flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0 && cs >= l3 + 40) {
        l4 = cs; // extension headers: the sender says where the transport header starts
        proto = gt === VIRTIO_NET_HDR_GSO_TCPV6 ? 6 : 17;
      } else {
        l4 = l3 + 40;
        proto = buf[off + l3 + 6];
      }
    } else {
      return 0;
    }
    if (l4 > len) return 0;
    let hdrs = 0;
    let kind = 0;
    if ((gt === VIRTIO_NET_HDR_GSO_TCPV4 && !this.v6) || (gt === VIRTIO_NET_HDR_GSO_TCPV6 && this.v6)) {
      if (proto !== 6 || l4 + 20 > len) return 0;
      hdrs = l4 + (buf[off + l4 + 12] >>> 4) * 4;
      kind = KIND_TCP;
    } else if (gt === VIRTIO_NET_HDR_GSO_UDP_L4) {
      if (proto !== 17) return 0;
      hdrs = l4 + 8;
      kind = KIND_USO;
    } else if (gt === VIRTIO_NET_HDR_GSO_UDP && !this.v6) {
      if (proto !== 17 || l4 + 8 > len) return 0;
      hdrs = l4; // IP fragments: everything after the IP header is payload
      kind = KIND_UFO4;
    } else {
      return 0;
    }
    if (hdrs > len || hdrs < l4 + (kind === KIND_UFO4 ? 0 : 8)) return 0;
    this.src = buf;
    this.off = off;
    this.len = len;
    this.kind = kind;
    this.l3 = l3;
    this.l4 = l4;
    this.hdrs = hdrs;
    this.proto = proto;
    this.payload = len - hdrs;
    this.mss = kind === KIND_UFO4 ? mss & ~7 : mss;
    if (this.mss === 0) return 0;
    if (kind === KIND_UFO4) this.udpCsum = this.l4Csum(buf, off, l4, len - l4, 6, true);
    const n = this.payload === 0 ? 1 : Math.ceil(this.payload / this.mss);
    this.nseg = n;
    this.segMax = hdrs + Math.min(this.mss, this.payload);
    return n;
  }

  /** Writes segment k (0 <= k < nseg) of the parsed frame at dst[at ..]; returns its length.
   *  dst may be the source buffer as long as the ranges do not overlap. */
  emit(k: number, dst: Uint8Array, at: number): number {
    const src = this.src;
    const off = this.off;
    const hdrs = this.hdrs;
    const start = k * this.mss;
    let plen = this.payload - start;
    if (plen > this.mss) plen = this.mss;
    if (plen < 0) plen = 0;
    const last = k === this.nseg - 1;
    if (dst === src) {
      dst.copyWithin(at, off, off + hdrs);
      dst.copyWithin(at + hdrs, off + hdrs + start, off + hdrs + start + plen);
    } else {
      // Another buffer (the upcall path, once per miss): two views, no byte copies.
      dst.set(src.subarray(off, off + hdrs), at);
      dst.set(src.subarray(off + hdrs + start, off + hdrs + start + plen), at + hdrs);
    }
    const len = hdrs + plen;
    const l3 = at + this.l3;
    const l4 = at + this.l4;
    if (this.kind === KIND_UFO4) {
      const ihl = this.l4 - this.l3;
      wr16(dst, l3 + 2, ihl + plen);
      wr16(dst, l3 + 6, (last ? 0 : 0x2000) | ((start >>> 3) & 0x1fff)); // MF; DF cleared
      ipv4Csum(dst, l3, ihl);
      if (k === 0) wr16(dst, l4 + 6, this.udpCsum);
      return len;
    }
    const l4len = len - this.l4;
    if (this.v6) {
      wr16(dst, l3 + 4, this.l4 - this.l3 - 40 + l4len);
    } else {
      const ihl = this.l4 - this.l3;
      wr16(dst, l3 + 2, ihl + l4len);
      wr16(dst, l3 + 4, (rd16(src, off + this.l3 + 4) + k) & 0xffff);
      ipv4Csum(dst, l3, ihl);
    }
    if (this.kind === KIND_TCP) {
      const seq = (((src[off + this.l4 + 4] << 24) | (src[off + this.l4 + 5] << 16) | (src[off + this.l4 + 6] << 8) | src[off + this.l4 + 7]) >>> 0) + start;
      dst[l4 + 4] = (seq >>> 24) & 0xff;
      dst[l4 + 5] = (seq >>> 16) & 0xff;
      dst[l4 + 6] = (seq >>> 8) & 0xff;
      dst[l4 + 7] = seq & 0xff;
      let flags = src[off + this.l4 + 13];
      if (!last) flags &= ~0x09; // FIN and PSH only on the last segment
      if (k > 0) flags &= ~0x80; // CWR only on the first
      dst[l4 + 13] = flags;
      wr16(dst, l4 + 16, this.l4Csum(dst, at, this.l4, l4len, 16, false));
    } else {
      wr16(dst, l4 + 4, l4len);
      wr16(dst, l4 + 6, this.l4Csum(dst, at, this.l4, l4len, 6, true));
    }
    return len;
  }

  /** Checksum of the transport segment at b[base+l4, +l4len) with its pseudo-header; the
   *  field at csumOff is taken as zero. */
  private l4Csum(b: Uint8Array, base: number, l4: number, l4len: number, csumOff: number, udp: boolean): number {
    const p3 = base + this.l3;
    const p4 = base + l4;
    let s = this.v6 ? csumAdd(b, p3 + 8, p3 + 40, 0) : csumAdd(b, p3 + 12, p3 + 20, 0);
    s += this.proto + l4len;
    s = csumAdd(b, p4, p4 + csumOff, s);
    s = csumAdd(b, p4 + csumOff + 2, p4 + l4len, s);
    let c = ~csumFold(s) & 0xffff;
    if (c === 0 && udp) c = 0xffff;
    return c;
  }

  /** Total bytes emit() writes for every segment of the parsed frame. */
  totalBytes(): number {
    return this.nseg * this.hdrs + this.payload;
  }

  /** The length of the frame begin() parsed (for counters). */
  get frameLen(): number {
    return this.len;
  }
}

/**
 * Works out the virtio header of a frame that comes back without one (an EXECUTE of a miss:
 * upcalls carry bytes only) into vnet[vi ..]: a TCP or UDP checksum that does not verify but
 * holds exactly the pseudo-header sum is a partial one (NEEDS_CSUM); a TCP frame longer than
 * any wire frame (1518 bytes) is a GSO frame, cut at a 1500-byte MTU if a port needs it cut.
 * Anything else gets a zero header. Runs per EXECUTE (a miss), not per hit.
 */
export function inferOffload(buf: Uint8Array, off: number, len: number, vnet: Uint16Array, vi: number): void {
  for (let w = 0; w < 5; w++) vnet[vi + w] = 0;
  if (len < 14) return;
  let p = 12;
  let type = rd16(buf, off + p);
  for (let tags = 0; tags < 2 && (type === 0x8100 || type === 0x88a8) && p + 6 <= len; tags++) {
    p += 4;
    type = rd16(buf, off + p);
  }
  const l3 = p + 2;
  let l4 = 0;
  let proto = 0;
  let l4len = 0;
  let v6 = false;
  if (type === 0x0800 && l3 + 20 <= len && buf[off + l3] >>> 4 === 4) {
    const ihl = (buf[off + l3] & 0x0f) * 4;
    const tot = rd16(buf, off + l3 + 2);
    if ((rd16(buf, off + l3 + 6) & 0x3fff) !== 0 || ihl < 20 || tot < ihl || l3 + tot > len) return; // fragments: leave
    l4 = l3 + ihl;
    proto = buf[off + l3 + 9];
    l4len = tot - ihl;
  } else if (type === 0x86dd && l3 + 40 <= len && buf[off + l3] >>> 4 === 6) {
    v6 = true;
    l4 = l3 + 40;
    proto = buf[off + l3 + 6];
    l4len = rd16(buf, off + l3 + 4);
    if (l4 + l4len > len) return;
  } else {
    return;
  }
  const csumOff = proto === 6 ? 16 : proto === 17 ? 6 : -1;
  if (csumOff < 0 || l4len < csumOff + 2 || (proto === 6 && l4len < 20)) return;
  const a = off + l3;
  let ps = v6 ? csumAdd(buf, a + 8, a + 40, 0) : csumAdd(buf, a + 12, a + 20, 0);
  ps += proto + l4len;
  const pseudo = csumFold(ps);
  const field = rd16(buf, off + l4 + csumOff);
  const all = csumFold(csumAdd(buf, off + l4, off + l4 + l4len, ps));
  if (all !== 0xffff && (field === pseudo || (pseudo === 0xffff && field === 0))) {
    vnet[vi + V_FLAGS_GSO] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vnet[vi + V_CSUM_START] = l4;
    vnet[vi + V_CSUM_OFFSET] = csumOff;
  }
  const thl = proto === 6 ? (buf[off + l4 + 12] >>> 4) * 4 : 0;
  if (proto === 6 && len > 1518 && thl >= 20 && l4 + thl < l4 + l4len) {
    const mss = 1500 - (l4 - l3) - thl;
    if ((vnet[vi + V_FLAGS_GSO] & VIRTIO_NET_HDR_F_NEEDS_CSUM) === 0) {
      vnet[vi + V_CSUM_START] = l4;
      vnet[vi + V_CSUM_OFFSET] = csumOff;
      // A complete checksum is a valid seed only if turned back into the pseudo-header sum.
      wr16(buf, off + l4 + csumOff, pseudo);
    }
    vnet[vi + V_FLAGS_GSO] = VIRTIO_NET_HDR_F_NEEDS_CSUM | ((v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4) << 8);
    vnet[vi + 1] = l4 + thl;
    vnet[vi + V_GSO_SIZE] = mss;
  }
}
