/*
 * The field registry: every field a match, set_field, load, move or learn can name, where its
 * bits sit in the OpenFlow flow (layout.ts), how its values are written, whether it can be
 * masked or written, and what it requires of the match (its prerequisites). The ids are stable:
 * they are the FieldId numbers of proto/vswitch-flow.proto. Used by the flow syntax, the
 * protocol conversion and the translation. Control path.
 *
 * Names: each field has its canonical name (as set_field prints it, "eth_src"), its NXM name
 * (as load/move/learn print it, "NXM_OF_ETH_SRC") and aliases ("dl_src", "OXM_OF_ETH_SRC").
 * Lookups are case-insensitive.
 */
import { ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../../lib/flow-key.js';
import { getBits, OF_W_METADATA, OF_W_REG0 } from './layout.js';

export const ETH_TYPE_RARP = 0x8035;
export const IPPROTO_SCTP = 132;

/** How a field's values are parsed and printed. */
export type FieldFormat = 'dec' | 'hex' | 'hex4' | 'hex5' | 'mac' | 'ipv4' | 'ipv6' | 'port' | 'frag';

// Prerequisites: what the match must pin down before a field may be matched or written.
export const P_NONE = 0;
export const P_IP = 1;
export const P_IPV6 = 2;
export const P_IP_ANY = 3;
export const P_ARP = 4;
export const P_IP_ARP = 5;
export const P_IP_ANY_ARP = 6;
export const P_TCP = 7;
export const P_UDP = 8;
export const P_SCTP = 9;
export const P_L4 = 10;
export const P_ICMP = 11;
export const P_ICMP6 = 12;
export const P_ICMP_ANY = 13;
export const P_ND = 14;
export const P_ND_SOLICIT = 15;
export const P_ND_ADVERT = 16;

/** The words of "FIELD requires ...". */
export const PREREQ_TEXT: readonly string[] = [
  '', 'ip', 'ipv6', 'ip or ipv6', 'arp', 'ip or arp', 'ip, ipv6 or arp', 'tcp or tcp6', 'udp or udp6',
  'sctp or sctp6', 'tcp, udp or sctp', 'icmp', 'icmp6', 'icmp or icmp6', 'icmp6 with icmp_type=135 or 136',
  'icmp6 with icmp_type=135', 'icmp6 with icmp_type=136',
];

export interface Field {
  /** Stable id (proto FieldId). */
  readonly id: number;
  /** Canonical name: what set_field and learn immediates print. */
  readonly name: string;
  /** Name load, move and learn print for a bit range of this field. */
  readonly nxm: string;
  readonly aliases: readonly string[];
  /** Stream bit position of the field's most significant bit (layout.ts). */
  readonly pos: number;
  readonly width: number;
  readonly format: FieldFormat;
  readonly maskable: boolean;
  readonly writable: boolean;
  readonly prereq: number;
}

const byId: Field[] = [];
const byName = new Map<string, Field>();

function def(id: number, name: string, nxm: string, aliases: string[], pos: number, width: number, format: FieldFormat,
  maskable: boolean, writable: boolean, prereq: number): Field {
  const f: Field = { id, name, nxm, aliases, pos, width, format, maskable, writable, prereq };
  byId[id] = f;
  for (const n of [name, nxm, ...aliases]) if (n) byName.set(n.toLowerCase(), f);
  return f;
}

const W = 32;
export const F_IN_PORT = def(1, 'in_port', 'NXM_OF_IN_PORT', ['OXM_OF_IN_PORT'], 16, 16, 'port', false, true, P_NONE);
export const F_METADATA = def(2, 'metadata', 'OXM_OF_METADATA', [], OF_W_METADATA * W, 64, 'hex', true, true, P_NONE);
export const F_ETH_DST = def(3, 'eth_dst', 'NXM_OF_ETH_DST', ['dl_dst', 'OXM_OF_ETH_DST'], 32, 48, 'mac', true, true, P_NONE);
export const F_ETH_SRC = def(4, 'eth_src', 'NXM_OF_ETH_SRC', ['dl_src', 'OXM_OF_ETH_SRC'], 80, 48, 'mac', true, true, P_NONE);
export const F_ETH_TYPE = def(5, 'eth_type', 'NXM_OF_ETH_TYPE', ['dl_type', 'OXM_OF_ETH_TYPE'], 128, 16, 'hex4', false, false, P_NONE);
export const F_VLAN_TCI = def(6, 'vlan_tci', 'NXM_OF_VLAN_TCI', [], 144, 16, 'hex4', true, true, P_NONE);
/** OXM vlan_vid: 13 bits, 0x1000 (OFPVID_PRESENT) = a tag is present, as the CFI bit of vlan_tci. */
export const F_VLAN_VID = def(7, 'vlan_vid', 'OXM_OF_VLAN_VID', [], 147, 13, 'dec', true, true, P_NONE);
export const F_VLAN_PCP = def(8, 'vlan_pcp', 'OXM_OF_VLAN_PCP', [], 144, 3, 'dec', false, true, P_NONE);
export const F_IP_SRC = def(9, 'ip_src', 'NXM_OF_IP_SRC', ['OXM_OF_IPV4_SRC', 'ipv4_src'], 160, 32, 'ipv4', true, true, P_IP);
export const F_IP_DST = def(10, 'ip_dst', 'NXM_OF_IP_DST', ['OXM_OF_IPV4_DST', 'ipv4_dst'], 288, 32, 'ipv4', true, true, P_IP);
export const F_IPV6_SRC = def(11, 'ipv6_src', 'NXM_NX_IPV6_SRC', ['OXM_OF_IPV6_SRC'], 160, 128, 'ipv6', true, true, P_IPV6);
export const F_IPV6_DST = def(12, 'ipv6_dst', 'NXM_NX_IPV6_DST', ['OXM_OF_IPV6_DST'], 288, 128, 'ipv6', true, true, P_IPV6);
export const F_IPV6_LABEL = def(13, 'ipv6_label', 'NXM_NX_IPV6_LABEL', ['OXM_OF_IPV6_FLABEL'], 588, 20, 'hex5', true, true, P_IPV6);
export const F_NW_PROTO = def(14, 'nw_proto', 'NXM_OF_IP_PROTO', ['ip_proto', 'OXM_OF_IP_PROTO'], 416, 8, 'dec', false, false, P_IP_ANY);
/** The whole TOS byte; matching nw_tos looks at its DSCP bits only (as OVS). Read-only. */
export const F_NW_TOS = def(15, 'nw_tos', 'NXM_OF_IP_TOS', [], 424, 8, 'dec', false, false, P_IP_ANY);
export const F_IP_DSCP = def(16, 'ip_dscp', 'OXM_OF_IP_DSCP', [], 424, 6, 'dec', false, true, P_IP_ANY);
export const F_IP_ECN = def(17, 'ip_ecn', 'NXM_NX_IP_ECN', ['nw_ecn', 'OXM_OF_IP_ECN'], 430, 2, 'dec', false, true, P_IP_ANY);
export const F_NW_TTL = def(18, 'nw_ttl', 'NXM_NX_IP_TTL', [], 432, 8, 'dec', false, true, P_IP_ANY);
export const F_IP_FRAG = def(19, 'ip_frag', 'NXM_NX_IP_FRAG', ['nw_frag'], 440, 8, 'frag', true, false, P_IP_ANY);
export const F_TCP_SRC = def(20, 'tcp_src', 'NXM_OF_TCP_SRC', ['OXM_OF_TCP_SRC'], 448, 16, 'dec', true, true, P_TCP);
export const F_TCP_DST = def(21, 'tcp_dst', 'NXM_OF_TCP_DST', ['OXM_OF_TCP_DST'], 464, 16, 'dec', true, true, P_TCP);
export const F_UDP_SRC = def(22, 'udp_src', 'NXM_OF_UDP_SRC', ['OXM_OF_UDP_SRC'], 448, 16, 'dec', true, true, P_UDP);
export const F_UDP_DST = def(23, 'udp_dst', 'NXM_OF_UDP_DST', ['OXM_OF_UDP_DST'], 464, 16, 'dec', true, true, P_UDP);
export const F_SCTP_SRC = def(24, 'sctp_src', 'OXM_OF_SCTP_SRC', [], 448, 16, 'dec', true, true, P_SCTP);
export const F_SCTP_DST = def(25, 'sctp_dst', 'OXM_OF_SCTP_DST', [], 464, 16, 'dec', true, true, P_SCTP);
export const F_ICMP_TYPE = def(26, 'icmp_type', 'NXM_OF_ICMP_TYPE', ['icmpv4_type', 'OXM_OF_ICMPV4_TYPE'], 456, 8, 'dec', false, true, P_ICMP);
export const F_ICMP_CODE = def(27, 'icmp_code', 'NXM_OF_ICMP_CODE', ['icmpv4_code', 'OXM_OF_ICMPV4_CODE'], 472, 8, 'dec', false, true, P_ICMP);
export const F_ICMPV6_TYPE = def(28, 'icmpv6_type', 'NXM_NX_ICMPV6_TYPE', ['OXM_OF_ICMPV6_TYPE'], 456, 8, 'dec', false, true, P_ICMP6);
export const F_ICMPV6_CODE = def(29, 'icmpv6_code', 'NXM_NX_ICMPV6_CODE', ['OXM_OF_ICMPV6_CODE'], 472, 8, 'dec', false, true, P_ICMP6);
export const F_ARP_OP = def(30, 'arp_op', 'NXM_OF_ARP_OP', ['OXM_OF_ARP_OP'], 416, 8, 'dec', false, true, P_ARP);
export const F_ARP_SPA = def(31, 'arp_spa', 'NXM_OF_ARP_SPA', ['OXM_OF_ARP_SPA'], 160, 32, 'ipv4', true, true, P_ARP);
export const F_ARP_TPA = def(32, 'arp_tpa', 'NXM_OF_ARP_TPA', ['OXM_OF_ARP_TPA'], 288, 32, 'ipv4', true, true, P_ARP);
export const F_ARP_SHA = def(33, 'arp_sha', 'NXM_NX_ARP_SHA', ['OXM_OF_ARP_SHA'], 480, 48, 'mac', true, true, P_ARP);
export const F_ARP_THA = def(34, 'arp_tha', 'NXM_NX_ARP_THA', ['OXM_OF_ARP_THA'], 528, 48, 'mac', true, true, P_ARP);
export const F_ND_TARGET = def(35, 'nd_target', 'NXM_NX_ND_TARGET', ['OXM_OF_IPV6_ND_TARGET'], 608, 128, 'ipv6', true, true, P_ND);
export const F_ND_SLL = def(36, 'nd_sll', 'NXM_NX_ND_SLL', ['OXM_OF_IPV6_ND_SLL'], 480, 48, 'mac', true, true, P_ND_SOLICIT);
export const F_ND_TLL = def(37, 'nd_tll', 'NXM_NX_ND_TLL', ['OXM_OF_IPV6_ND_TLL'], 528, 48, 'mac', true, true, P_ND_ADVERT);
/** tp_src/tp_dst: the transport ports of whichever of TCP, UDP, SCTP the match names. */
export const F_TP_SRC = def(38, 'tp_src', '', [], 448, 16, 'dec', true, true, P_L4);
export const F_TP_DST = def(39, 'tp_dst', '', [], 464, 16, 'dec', true, true, P_L4);

export const F_REG: readonly Field[] = Array.from({ length: 16 }, (_, i) =>
  def(40 + i, `reg${i}`, `NXM_NX_REG${i}`, [], (OF_W_REG0 + i) * W, 32, 'hex', true, true, P_NONE));
/** xreg N is reg 2N (high half) and reg 2N+1 (low half). */
export const F_XREG: readonly Field[] = Array.from({ length: 8 }, (_, i) =>
  def(56 + i, `xreg${i}`, `OXM_OF_PKT_REG${i}`, [], (OF_W_REG0 + 2 * i) * W, 64, 'hex', true, true, P_NONE));

/** The field named `name` (any spelling, case-insensitive), or undefined. */
export function fieldByName(name: string): Field | undefined {
  return byName.get(name.toLowerCase());
}

/** The field with proto id `id`, or undefined. */
export function fieldById(id: number): Field | undefined {
  return byId[id];
}

/** Every field, by id. */
export function allFields(): Field[] {
  return byId.filter((f) => f !== undefined);
}

// ---- Prerequisites ----------------------------------------------------------------------------

function exactType(value: Uint32Array, mask: Uint32Array): number {
  return getBits(mask, 128, 16) === 0xffff ? getBits(value, 128, 16) : -1;
}
function exactProto(value: Uint32Array, mask: Uint32Array): number {
  return getBits(mask, 416, 8) === 0xff ? getBits(value, 416, 8) : -1;
}
function exactIcmpType(value: Uint32Array, mask: Uint32Array): number {
  return getBits(mask, 456, 8) === 0xff ? getBits(value, 456, 8) : -1;
}

/** Whether a match (value, mask) meets prerequisite `p`. */
export function prereqMet(p: number, value: Uint32Array, mask: Uint32Array): boolean {
  if (p === P_NONE) return true;
  const t = exactType(value, mask);
  const ip = t === ETH_TYPE_IP;
  const ip6 = t === ETH_TYPE_IPV6;
  const arp = t === ETH_TYPE_ARP || t === ETH_TYPE_RARP;
  switch (p) {
    case P_IP: return ip;
    case P_IPV6: return ip6;
    case P_IP_ANY: return ip || ip6;
    case P_ARP: return arp;
    case P_IP_ARP: return ip || arp;
    case P_IP_ANY_ARP: return ip || ip6 || arp;
    default: break;
  }
  if (!ip && !ip6) return false;
  const proto = exactProto(value, mask);
  switch (p) {
    case P_TCP: return proto === IPPROTO_TCP;
    case P_UDP: return proto === IPPROTO_UDP;
    case P_SCTP: return proto === IPPROTO_SCTP;
    case P_L4: return proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP;
    case P_ICMP: return ip && proto === IPPROTO_ICMP;
    case P_ICMP6: return ip6 && proto === IPPROTO_ICMPV6;
    case P_ICMP_ANY: return (ip && proto === IPPROTO_ICMP) || (ip6 && proto === IPPROTO_ICMPV6);
    default: break;
  }
  if (!ip6 || proto !== IPPROTO_ICMPV6) return false;
  const it = exactIcmpType(value, mask);
  if (p === P_ND) return it === 135 || it === 136;
  if (p === P_ND_SOLICIT) return it === 135;
  return it === 136;
}

/** A bit range of a field: bits [ofs, ofs+nbits) counted from its least significant bit. */
export interface FieldRef {
  field: Field;
  ofs: number;
  nbits: number;
}

/** Stream position of a FieldRef's most significant bit. */
export function refPos(r: FieldRef): number {
  return r.field.pos + r.field.width - r.ofs - r.nbits;
}

/** Whether the ref covers its whole field. */
export function refIsWhole(r: FieldRef): boolean {
  return r.ofs === 0 && r.nbits === r.field.width;
}
