/*
 * Field writes and reads of the OpenFlow translation (xlate.ts), and the commit that turns the
 * writes into datapath actions. Called per upcall and per revalidation, never per packet.
 *
 * Three arrays carry the state (all in the OpenFlow flow layout, ofp/layout.ts):
 *  - `flow`: the packet as the OpenFlow pipeline sees it now (actions change it);
 *  - `base`: the packet as the datapath will hold it at this point of the action list (the
 *    key as received, plus every change already committed);
 *  - `dirty`: the key bits actions wrote since the last commit.
 * A commit (before every output, NORMAL and packet-in) emits one masked set per header with
 * dirty bits (values from `flow`, masks = the dirty bits) and a pop/push when the VLAN tag
 * differs, then makes `base` agree. Writing only the bits an action wrote is what keeps the
 * datapath flow wide: a rewrite of nw_dst does not pin nw_dst in the megaflow, since the
 * written value is the same for every packet (constants, or bits read from un-wildcarded
 * fields by move). Reads un-wildcard what they read, prerequisite checks included (nw_proto
 * before a port rewrite), so a decision is never taken on a wildcarded bit.
 */
import {
  ACT_SET_ARP, ACT_SET_ETH, ACT_SET_IPV4, ACT_SET_IPV6,
} from '../lib/dpif-proto.js';
import {
  ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, FRAG_LATER, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, KEY_WORDS,
  VLAN_CFI, W_ARP_MID, W_ARP_SHA_HI, W_ARP_THA_LO, W_ETH_DST_HI, W_ETH_MID, W_ETH_SRC_LO, W_IPV6_LABEL, W_NW, W_NW_DST,
  W_NW_SRC, W_TP, W_TYPE_TCI,
} from '../lib/flow-key.js';
import type { Wildcards } from '../lib/flow-mask.js';
import {
  ETH_TYPE_RARP, IPPROTO_SCTP, P_ARP, P_ICMP, P_ICMP6, P_ICMP_ANY, P_IP, P_IP_ANY, P_IP_ANY_ARP, P_IP_ARP, P_IPV6, P_L4, P_NONE,
  P_ND, P_ND_ADVERT, P_ND_SOLICIT, P_SCTP, P_TCP, P_UDP,
} from './ofp/fields.js';
import { getBig, onesBig, orOnes, setBig } from './ofp/layout.js';
import type { OdpActions } from './odp-actions.js';

/** What the field code works on (the Xlator provides it). */
export interface FieldState {
  readonly flow: Uint32Array;
  readonly base: Uint32Array;
  readonly dirty: Uint32Array;
  /** Wildcards over the OpenFlow layout (OF_WORDS words). */
  readonly wcWords: Uint32Array;
  readonly wc: Wildcards;
  readonly out: OdpActions;
}

const TCI_POS = 144;
const TCI_WORD = W_TYPE_TCI;

export function dlTypeOf(flow: Uint32Array): number {
  return flow[W_TYPE_TCI] >>> 16;
}

/** nw_proto of the flow, un-wildcarding it. */
function proto(s: FieldState): number {
  s.wc.nwProto();
  return s.flow[W_NW] >>> 24;
}

/**
 * Whether the packet has the fields of prerequisite `p` (ofp/fields.ts P_*), un-wildcarding
 * what the answer reads beyond dl_type (always exact) and the fragment type.
 */
export function prereqOk(s: FieldState, p: number): boolean {
  if (p === P_NONE) return true;
  const t = dlTypeOf(s.flow);
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
  if ((s.flow[W_NW] & 0xff) === FRAG_LATER) return false; // no transport header
  const pr = proto(s);
  switch (p) {
    case P_TCP: return pr === IPPROTO_TCP;
    case P_UDP: return pr === IPPROTO_UDP;
    case P_SCTP: return pr === IPPROTO_SCTP;
    case P_L4: return pr === IPPROTO_TCP || pr === IPPROTO_UDP || pr === IPPROTO_SCTP;
    case P_ICMP: return ip && pr === IPPROTO_ICMP;
    case P_ICMP6: return ip6 && pr === IPPROTO_ICMPV6;
    case P_ICMP_ANY: return (ip && pr === IPPROTO_ICMP) || (ip6 && pr === IPPROTO_ICMPV6);
    default: break;
  }
  if (!ip6 || pr !== IPPROTO_ICMPV6) return false;
  s.wc.tpSrc(0xff); // ICMPv6 type
  const it = (s.flow[W_TP] >>> 16) & 0xff;
  if (p === P_ND) return it === 135 || it === 136;
  if (p === P_ND_SOLICIT) return it === 135;
  return p === P_ND_ADVERT && it === 136;
}

/** Reads `width` bits at stream position `pos` of the flow, un-wildcarding them. */
export function readBits(s: FieldState, pos: number, width: number): bigint {
  orOnes(s.wcWords, pos, width);
  return getBig(s.flow, pos, width);
}

/**
 * Writes `value` under `mask` into the `width` bits at `pos` of the flow and marks the written
 * key bits dirty (the VLAN tci is compared at commit instead; in_port, metadata and registers
 * are pipeline state only).
 */
export function writeBits(s: FieldState, pos: number, width: number, value: bigint, mask: bigint = onesBig(width)): void {
  const m = mask & onesBig(width);
  const old = getBig(s.flow, pos, width);
  setBig(s.flow, pos, width, (old & ~m) | (value & m));
  const w0 = pos >>> 5;
  const w1 = (pos + width - 1) >>> 5;
  if (w0 >= 1 && w1 < KEY_WORDS && !(w0 === TCI_WORD && pos >= TCI_POS)) {
    setBig(s.dirty, pos, width, getBig(s.dirty, pos, width) | m);
  }
}

/** The flow's vlan_tci (0 = no tag). */
export function flowTci(s: FieldState): number {
  return s.flow[W_TYPE_TCI] & 0xffff;
}
export function setFlowTci(s: FieldState, tci: number): void {
  s.flow[W_TYPE_TCI] = ((s.flow[W_TYPE_TCI] & 0xffff0000) | (tci & 0xffff)) >>> 0;
}

// Header groups: the key words of each masked set, and which of their bits may be written.
const ETH_WORDS = Int32Array.of(W_ETH_DST_HI, W_ETH_MID, W_ETH_SRC_LO);
const IPV4_WORDS = Int32Array.of(W_NW_SRC, W_NW_DST, W_NW);
const IPV6_WORDS = Int32Array.of(W_NW_SRC, W_NW_SRC + 1, W_NW_SRC + 2, W_NW_SRC + 3, W_NW_DST, W_NW_DST + 1, W_NW_DST + 2,
  W_NW_DST + 3, W_NW, W_IPV6_LABEL);
const ARP_WORDS = Int32Array.of(W_NW_SRC, W_NW_DST, W_NW, W_ARP_SHA_HI, W_ARP_MID, W_ARP_THA_LO);
/** Writable bits of W_NW: IP tos/tclass and ttl/hop limit; ARP opcode. */
const NW_IP_BITS = 0x00ffff00;
const NW_ARP_BITS = 0xff000000;

/** Scratch mask for one set action (key layout). */
const setMask = new Uint32Array(KEY_WORDS);

function anyDirty(d: Uint32Array, words: Int32Array): boolean {
  for (let k = 0; k < words.length; k++) if (d[words[k]] !== 0) return true;
  return false;
}

function emitSet(s: FieldState, op: number, words: Int32Array, nwBits: number): void {
  for (let k = 0; k < words.length; k++) {
    const w = words[k];
    setMask[w] = w === W_NW ? (s.dirty[w] & nwBits) >>> 0 : s.dirty[w];
  }
  let any = false;
  for (let k = 0; k < words.length; k++) if (setMask[words[k]] !== 0) any = true;
  if (!any) return;
  s.out.set(op, words, s.flow, setMask);
  for (let k = 0; k < words.length; k++) {
    const w = words[k];
    s.base[w] = ((s.base[w] & ~setMask[w]) | (s.flow[w] & setMask[w])) >>> 0;
  }
}

/** Whether a commit would emit anything now. */
export function needsCommit(s: FieldState): boolean {
  if ((s.base[W_TYPE_TCI] & 0xffff) !== flowTci(s)) return true;
  for (let w = 1; w < KEY_WORDS; w++) if (s.dirty[w] !== 0) return true;
  return false;
}

/**
 * Makes the datapath packet agree with the flow: masked sets for the dirty bits of each
 * header the packet has, then the VLAN tag (pop and/or push). Dirty bits of headers the
 * packet lacks (or the datapath cannot rewrite: ND fields) are dropped.
 */
export function commit(s: FieldState): void {
  const d = s.dirty;
  const type = dlTypeOf(s.flow);
  if (anyDirty(d, ETH_WORDS)) emitSet(s, ACT_SET_ETH, ETH_WORDS, 0);
  if (type === ETH_TYPE_IP) {
    if (anyDirty(d, IPV4_WORDS)) emitSet(s, ACT_SET_IPV4, IPV4_WORDS, NW_IP_BITS);
  } else if (type === ETH_TYPE_IPV6) {
    if (anyDirty(d, IPV6_WORDS)) emitSet(s, ACT_SET_IPV6, IPV6_WORDS, NW_IP_BITS);
  } else if (type === ETH_TYPE_ARP || type === ETH_TYPE_RARP) {
    if (anyDirty(d, ARP_WORDS)) emitSet(s, ACT_SET_ARP, ARP_WORDS, NW_ARP_BITS);
  }
  if (d[W_TP] !== 0 && (type === ETH_TYPE_IP || type === ETH_TYPE_IPV6) && (s.flow[W_NW] & 0xff) !== FRAG_LATER) {
    const p = proto(s);
    s.out.setL4(p, s.flow[W_TP], d[W_TP]);
    s.base[W_TP] = ((s.base[W_TP] & ~d[W_TP]) | (s.flow[W_TP] & d[W_TP])) >>> 0;
  }
  d.fill(0);
  const want = flowTci(s);
  const have = s.base[W_TYPE_TCI] & 0xffff;
  if (want !== have) {
    // pop/push rebuild the whole tag: its bits from the original packet must be pinned.
    s.wc.vlanTci();
    if ((have & VLAN_CFI) !== 0) s.out.popVlan();
    if ((want & VLAN_CFI) !== 0) s.out.pushVlan(want);
    s.base[W_TYPE_TCI] = ((s.base[W_TYPE_TCI] & 0xffff0000) | ((want & VLAN_CFI) !== 0 ? want : 0)) >>> 0;
  }
}
