/*
 * The flow key: every field the datapath parses out of a frame, packed into KEY_WORDS 32-bit
 * words of a Uint32Array. The datapath fills keys (src/datapath/extract.ts, hot path), hashes
 * and compares them word by word; vswitchd reads them back with the accessors below to
 * translate a miss; tools format them (src/lib/odp-format.ts). The layout is the contract
 * between the processes: it travels in upcalls and flow installs as KEY_WORDS little-endian
 * words, so changing it is a protocol change (bump DPIF_VERSION in dpif-proto.ts).
 *
 * Notes on the layout: multi-byte header fields are stored in network order packed into a
 * word's high bits first (a MAC is 48 bits across two words), so formatting is a shift away and
 * a masked compare (the megaflow cache) is a word-wise AND. Absent fields are zero. As in Open
 * vSwitch, a present 802.1Q tag sets the CFI bit (0x1000) in vlan_tci so that "no tag" (0) and
 * "tag with VID 0" differ; ARP reuses nw_src/nw_dst/nw_proto for spa/tpa/op; ICMP reuses
 * tp_src/tp_dst for type/code.
 */

export const KEY_WORDS = 24;
export const KEY_BYTES = KEY_WORDS * 4;

/** Datapath port number of the frame's ingress port. */
export const W_IN_PORT = 0;
/** dl_dst bytes 0..3. */
export const W_ETH_DST_HI = 1;
/** dl_dst bytes 4..5 in the high half, dl_src bytes 0..1 in the low half. */
export const W_ETH_MID = 2;
/** dl_src bytes 2..5. */
export const W_ETH_SRC_LO = 3;
/** dl_type << 16 | vlan_tci (0 when untagged; VID | PCP << 13 | 0x1000 when tagged). */
export const W_TYPE_TCI = 4;
/** IPv4 source (or ARP spa) in word 5; IPv6 source in words 5..8. */
export const W_NW_SRC = 5;
/** IPv4 destination (or ARP tpa) in word 9; IPv6 destination in words 9..12. */
export const W_NW_DST = 9;
/** nw_proto << 24 | nw_tos << 16 | nw_ttl << 8 | nw_frag. ARP: nw_proto is the opcode. */
export const W_NW = 13;
/** tp_src << 16 | tp_dst. ICMP/ICMPv6: type << 16 | code. */
export const W_TP = 14;
/** ARP sha bytes 0..3. */
export const W_ARP_SHA_HI = 15;
/** ARP sha bytes 4..5 in the high half, tha bytes 0..1 in the low half. */
export const W_ARP_MID = 16;
/** ARP tha bytes 2..5. */
export const W_ARP_THA_LO = 17;
/** IPv6 flow label (20 bits). */
export const W_IPV6_LABEL = 18;
/** IPv6 neighbour discovery target, words 19..22. */
export const W_ND_TARGET = 19;
/** Reserved (recirculation id later); always 0 now. */
export const W_RESERVED = 23;

export const VLAN_CFI = 0x1000;
export const FRAG_NONE = 0;
export const FRAG_FIRST = 1;
export const FRAG_LATER = 3;

export const ETH_TYPE_IP = 0x0800;
export const ETH_TYPE_ARP = 0x0806;
export const ETH_TYPE_VLAN = 0x8100;
export const ETH_TYPE_IPV6 = 0x86dd;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

// ---- Accessors (control path: vswitchd translation, tools, tests). ----

export function inPort(k: Uint32Array, o = 0): number { return k[o + W_IN_PORT]; }
export function dlType(k: Uint32Array, o = 0): number { return k[o + W_TYPE_TCI] >>> 16; }
export function vlanTci(k: Uint32Array, o = 0): number { return k[o + W_TYPE_TCI] & 0xffff; }
export function nwProto(k: Uint32Array, o = 0): number { return k[o + W_NW] >>> 24; }
export function nwTos(k: Uint32Array, o = 0): number { return (k[o + W_NW] >>> 16) & 0xff; }
export function nwTtl(k: Uint32Array, o = 0): number { return (k[o + W_NW] >>> 8) & 0xff; }
export function nwFrag(k: Uint32Array, o = 0): number { return k[o + W_NW] & 0xff; }
export function tpSrc(k: Uint32Array, o = 0): number { return k[o + W_TP] >>> 16; }
export function tpDst(k: Uint32Array, o = 0): number { return k[o + W_TP] & 0xffff; }

/** dl_dst as a 48-bit number (exact in a double). */
export function ethDst(k: Uint32Array, o = 0): number {
  return k[o + W_ETH_DST_HI] * 0x10000 + (k[o + W_ETH_MID] >>> 16);
}
/** dl_src as a 48-bit number. */
export function ethSrc(k: Uint32Array, o = 0): number {
  return (k[o + W_ETH_MID] & 0xffff) * 0x100000000 + k[o + W_ETH_SRC_LO];
}
export function arpSha(k: Uint32Array, o = 0): number {
  return k[o + W_ARP_SHA_HI] * 0x10000 + (k[o + W_ARP_MID] >>> 16);
}
export function arpTha(k: Uint32Array, o = 0): number {
  return (k[o + W_ARP_MID] & 0xffff) * 0x100000000 + k[o + W_ARP_THA_LO];
}
export function isMulticastMac(mac48: number): boolean {
  return Math.floor(mac48 / 0x10000000000) % 2 === 1;
}

export function macToString(mac48: number): string {
  const parts: string[] = [];
  for (let i = 5; i >= 0; i--) parts.push((Math.floor(mac48 / 2 ** (8 * i)) & 0xff).toString(16).padStart(2, '0'));
  return parts.join(':');
}
export function macFromString(s: string): number {
  const m = /^([0-9a-fA-F]{1,2})(?::([0-9a-fA-F]{1,2})){5}$/.test(s) ? s.split(':') : null;
  if (!m) throw new RangeError(`bad MAC address '${s}'`);
  let v = 0;
  for (const p of m) v = v * 256 + parseInt(p, 16);
  return v;
}
export function ipv4ToString(w: number): string {
  return `${w >>> 24}.${(w >>> 16) & 0xff}.${(w >>> 8) & 0xff}.${w & 0xff}`;
}
/** IPv6 address from 4 words starting at k[o+w], in RFC 5952 compressed form. */
export function ipv6ToString(k: Uint32Array, w: number): string {
  const g: number[] = [];
  for (let i = 0; i < 4; i++) g.push(k[w + i] >>> 16, k[w + i] & 0xffff);
  let bestAt = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

/** A fresh zeroed key (control path and tests only). */
export function newKey(): Uint32Array { return new Uint32Array(KEY_WORDS); }

/** Writes dl_src/dl_dst into a key (tests and packet construction). */
export function setEth(k: Uint32Array, dst: number, src: number, o = 0): void {
  k[o + W_ETH_DST_HI] = Math.floor(dst / 0x10000) >>> 0;
  k[o + W_ETH_MID] = (((dst % 0x10000) << 16) | Math.floor(src / 0x100000000)) >>> 0;
  k[o + W_ETH_SRC_LO] = (src % 0x100000000) >>> 0;
}
