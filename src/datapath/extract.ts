/*
 * Flow key extraction (hot: once per received frame). Parses an Ethernet frame in place into
 * the KEY_WORDS-word key of src/lib/flow-key.ts: Ethernet, one 802.1Q/802.1ad tag, LLC/SNAP,
 * IPv4 (options, fragments), IPv6 (extension headers, fragments), TCP/UDP/SCTP ports,
 * ICMP/ICMPv6 type and code, ARP/RARP, IPv6 neighbour discovery (target, sll, tll).
 * Called by the pipeline per batch and by tests; reads bytes, writes key words, nothing else.
 *
 * Like Open vSwitch's flow extraction, a header that is truncated or invalid stops parsing
 * there: fields of the outer headers stay filled, the rest stay zero, and the result is
 * EXTRACT_BAD_HEADER (a flag, not a drop: the frame still gets looked up and forwarded, the
 * caller counts rx_bad_header). Only a frame shorter than an Ethernet header is a drop
 * (EXTRACT_RUNT). IP lengths are taken from the IP header, so Ethernet padding after a short
 * packet never reaches the L4 parser. As in OVS, IPv6 ND reuses the ARP sha/tha words for the
 * source/target link-layer address options. The 802.1ad TPID is not kept in the key (it has no
 * field): a 0x88a8 tag reads as its VID/PCP, like an 802.1Q tag.
 *
 * Notes on performance: one straight pass with manual big-endian reads (no DataView, no
 * subarray), bounds checked against the frame end before each header, no allocation and no
 * throw; typed-array reads past the end cannot happen because every read is length-checked.
 */
import {
  ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, FRAG_FIRST, FRAG_LATER, IPPROTO_ICMP, IPPROTO_ICMPV6,
  IPPROTO_TCP, IPPROTO_UDP, KEY_WORDS, VLAN_CFI, W_ARP_MID, W_ARP_SHA_HI, W_ARP_THA_LO, W_ETH_DST_HI,
  W_ETH_MID, W_ETH_SRC_LO, W_IN_PORT, W_IPV6_LABEL, W_ND_TARGET, W_NW, W_NW_DST, W_NW_SRC, W_TP,
  W_TYPE_TCI,
} from '../lib/flow-key.js';

/** Key complete. */
export const EXTRACT_OK = 0;
/** Shorter than an Ethernet header: the caller drops it (rx_runt). */
export const EXTRACT_RUNT = 1;
/** A header was truncated or invalid; the key holds what came before it (rx_bad_header). */
export const EXTRACT_BAD_HEADER = 2;

export const ETH_TYPE_RARP = 0x8035;
export const ETH_TYPE_QINQ = 0x88a8;
/** dl_type of a frame that is not Ethernet II (802.3 without a SNAP type), as in OVS. */
export const DL_TYPE_NONE = 0x05ff;
export const IPPROTO_SCTP = 132;

const ETH_HLEN = 14;

function rd16(b: Uint8Array, p: number): number {
  return (b[p] << 8) | b[p + 1];
}
function rd32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

/**
 * Fills key[ko .. ko+KEY_WORDS) from the frame buf[off .. off+len) received on port `inPort`.
 * Returns EXTRACT_OK, EXTRACT_RUNT (drop) or EXTRACT_BAD_HEADER (count, keep). Never throws.
 */
export function extractKey(buf: Uint8Array, off: number, len: number, inPort: number, key: Uint32Array, ko: number): number {
  for (let i = 0; i < KEY_WORDS; i++) key[ko + i] = 0;
  key[ko + W_IN_PORT] = inPort >>> 0;
  let end = off + len;
  if (end > buf.length) end = buf.length;
  if (off < 0 || end - off < ETH_HLEN) return EXTRACT_RUNT;

  key[ko + W_ETH_DST_HI] = rd32(buf, off);
  key[ko + W_ETH_MID] = ((rd16(buf, off + 4) << 16) | rd16(buf, off + 6)) >>> 0;
  key[ko + W_ETH_SRC_LO] = rd32(buf, off + 8);
  let p = off + 12;
  let type = rd16(buf, p);
  p += 2;
  let tci = 0;
  if (type === 0x8100 || type === ETH_TYPE_QINQ) {
    if (end - p < 4) {
      key[ko + W_TYPE_TCI] = (type << 16) >>> 0;
      return EXTRACT_BAD_HEADER;
    }
    tci = rd16(buf, p) | VLAN_CFI;
    type = rd16(buf, p + 2);
    p += 4;
  }
  if (type < 0x600) {
    // 802.3 length field: an LLC/SNAP header with OUI 0 carries a real EtherType.
    if (end - p >= 8 && buf[p] === 0xaa && buf[p + 1] === 0xaa && buf[p + 2] === 0x03 &&
        buf[p + 3] === 0 && buf[p + 4] === 0 && buf[p + 5] === 0 && rd16(buf, p + 6) >= 0x600) {
      type = rd16(buf, p + 6);
      p += 8;
    } else {
      type = DL_TYPE_NONE;
    }
  }
  key[ko + W_TYPE_TCI] = ((type << 16) | tci) >>> 0;

  if (type === ETH_TYPE_IP) return extractIpv4(buf, p, end, key, ko);
  if (type === ETH_TYPE_IPV6) return extractIpv6(buf, p, end, key, ko);
  if (type === ETH_TYPE_ARP || type === ETH_TYPE_RARP) return extractArp(buf, p, end, key, ko);
  return EXTRACT_OK;
}

function extractIpv4(buf: Uint8Array, p: number, end: number, key: Uint32Array, ko: number): number {
  const avail = end - p;
  if (avail < 20) return EXTRACT_BAD_HEADER;
  const vihl = buf[p];
  const ihl = (vihl & 0x0f) * 4;
  const tot = rd16(buf, p + 2);
  if (vihl >>> 4 !== 4 || ihl < 20 || ihl > avail || tot < ihl || tot > avail) return EXTRACT_BAD_HEADER;
  key[ko + W_NW_SRC] = rd32(buf, p + 12);
  key[ko + W_NW_DST] = rd32(buf, p + 16);
  const proto = buf[p + 9];
  const fragOff = rd16(buf, p + 6);
  let frag = 0;
  if ((fragOff & 0x3fff) !== 0) frag = (fragOff & 0x1fff) !== 0 ? FRAG_LATER : FRAG_FIRST;
  key[ko + W_NW] = ((proto << 24) | (buf[p + 1] << 16) | (buf[p + 8] << 8) | frag) >>> 0;
  if (frag === FRAG_LATER) return EXTRACT_OK;
  return extractL4(buf, p + ihl, p + tot, proto, false, key, ko);
}

function extractIpv6(buf: Uint8Array, p: number, end: number, key: Uint32Array, ko: number): number {
  if (end - p < 40) return EXTRACT_BAD_HEADER;
  const vtc = rd32(buf, p);
  const l3end = p + 40 + rd16(buf, p + 4);
  if (vtc >>> 28 !== 6 || l3end > end) return EXTRACT_BAD_HEADER;
  for (let i = 0; i < 4; i++) {
    key[ko + W_NW_SRC + i] = rd32(buf, p + 8 + 4 * i);
    key[ko + W_NW_DST + i] = rd32(buf, p + 24 + 4 * i);
  }
  key[ko + W_IPV6_LABEL] = vtc & 0xfffff;
  const tclassTtl = (((vtc >>> 20) & 0xff) << 16) | (buf[p + 7] << 8);
  let nh = buf[p + 6];
  let q = p + 40;
  let frag = 0;
  let bad = false;
  for (;;) {
    if (nh === 0 || nh === 43 || nh === 60 || nh === 51) {
      // Hop-by-hop, routing, destination options: (len+1)*8 bytes; AH: (len+2)*4 bytes.
      if (l3end - q < 8) { bad = true; break; }
      const hlen = nh === 51 ? (buf[q + 1] + 2) * 4 : (buf[q + 1] + 1) * 8;
      if (l3end - q < hlen) { bad = true; break; }
      nh = buf[q];
      q += hlen;
    } else if (nh === 44) {
      if (l3end - q < 8) { bad = true; break; }
      frag = (rd16(buf, q + 2) & 0xfff8) !== 0 ? FRAG_LATER : FRAG_FIRST;
      nh = buf[q];
      q += 8;
      if (frag === FRAG_LATER) break;
    } else {
      break;
    }
  }
  key[ko + W_NW] = ((nh << 24) | tclassTtl | frag) >>> 0;
  if (bad) return EXTRACT_BAD_HEADER;
  if (frag === FRAG_LATER) return EXTRACT_OK;
  return extractL4(buf, q, l3end, nh, true, key, ko);
}

function extractL4(buf: Uint8Array, p: number, end: number, proto: number, v6: boolean, key: Uint32Array, ko: number): number {
  const avail = end - p;
  if (proto === IPPROTO_TCP) {
    const doff = avail >= 20 ? (buf[p + 12] >>> 4) * 4 : 0;
    if (doff < 20 || doff > avail) return EXTRACT_BAD_HEADER;
    key[ko + W_TP] = rd32(buf, p);
  } else if (proto === IPPROTO_UDP) {
    if (avail < 8) return EXTRACT_BAD_HEADER;
    key[ko + W_TP] = rd32(buf, p);
  } else if (proto === IPPROTO_SCTP) {
    if (avail < 12) return EXTRACT_BAD_HEADER;
    key[ko + W_TP] = rd32(buf, p);
  } else if (proto === IPPROTO_ICMP && !v6) {
    if (avail < 8) return EXTRACT_BAD_HEADER;
    key[ko + W_TP] = ((buf[p] << 16) | buf[p + 1]) >>> 0;
  } else if (proto === IPPROTO_ICMPV6 && v6) {
    if (avail < 8) return EXTRACT_BAD_HEADER;
    const type = buf[p];
    key[ko + W_TP] = ((type << 16) | buf[p + 1]) >>> 0;
    if ((type === 135 || type === 136) && buf[p + 1] === 0) return extractNd(buf, p, end, type, key, ko);
  }
  return EXTRACT_OK;
}

/** Neighbour solicitation (135) / advertisement (136): target, then the SLL/TLL options. */
function extractNd(buf: Uint8Array, p: number, end: number, type: number, key: Uint32Array, ko: number): number {
  if (end - p < 24) return EXTRACT_BAD_HEADER;
  for (let i = 0; i < 4; i++) key[ko + W_ND_TARGET + i] = rd32(buf, p + 8 + 4 * i);
  let q = p + 24;
  let haveSll = false;
  let haveTll = false;
  while (end - q >= 8) {
    const optType = buf[q];
    const optLen = buf[q + 1] * 8;
    if (optLen === 0 || optLen > end - q) return badNd(key, ko);
    if (optLen === 8 && optType === 1 && type === 135) {
      if (haveSll) return badNd(key, ko);
      haveSll = true;
      key[ko + W_ARP_SHA_HI] = rd32(buf, q + 2);
      key[ko + W_ARP_MID] = ((rd16(buf, q + 6) << 16) | (key[ko + W_ARP_MID] & 0xffff)) >>> 0;
    } else if (optLen === 8 && optType === 2 && type === 136) {
      if (haveTll) return badNd(key, ko);
      haveTll = true;
      key[ko + W_ARP_MID] = ((key[ko + W_ARP_MID] & 0xffff0000) | rd16(buf, q + 2)) >>> 0;
      key[ko + W_ARP_THA_LO] = rd32(buf, q + 4);
    }
    q += optLen;
  }
  return EXTRACT_OK;
}

function badNd(key: Uint32Array, ko: number): number {
  for (let i = 0; i < 4; i++) key[ko + W_ND_TARGET + i] = 0;
  key[ko + W_ARP_SHA_HI] = 0;
  key[ko + W_ARP_MID] = 0;
  key[ko + W_ARP_THA_LO] = 0;
  return EXTRACT_BAD_HEADER;
}

function extractArp(buf: Uint8Array, p: number, end: number, key: Uint32Array, ko: number): number {
  if (end - p < 28) return EXTRACT_BAD_HEADER;
  // Only Ethernet/IPv4 ARP has fields in the key; any other kind is a valid frame without them.
  if (rd16(buf, p) !== 1 || rd16(buf, p + 2) !== ETH_TYPE_IP || buf[p + 4] !== 6 || buf[p + 5] !== 4) return EXTRACT_OK;
  const op = rd16(buf, p + 6);
  key[ko + W_NW] = op <= 0xff ? (op << 24) >>> 0 : 0;
  key[ko + W_NW_SRC] = rd32(buf, p + 14);
  key[ko + W_NW_DST] = rd32(buf, p + 24);
  key[ko + W_ARP_SHA_HI] = rd32(buf, p + 8);
  key[ko + W_ARP_MID] = ((rd16(buf, p + 12) << 16) | rd16(buf, p + 18)) >>> 0;
  key[ko + W_ARP_THA_LO] = rd32(buf, p + 20);
  return EXTRACT_OK;
}
