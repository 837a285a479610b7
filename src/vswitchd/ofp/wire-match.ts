/*
 * Matches and port numbers on the flow protocol: a Match to the list of MatchFields the wire
 * carries (the protocol's own fields, chosen by the match's dl_type and nw_proto the way
 * ovs-ofctl names them) and back, with OpenFlow's checks (unknown field, bad length, mask on a
 * field that takes none, the same bits twice). Used by wire.ts, ofctl and vswitchd's protocol
 * handler. Control path.
 */
import { ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, VLAN_CFI } from '../../lib/flow-key.js';
import { OFPBMC_BAD_FIELD, OFPBMC_BAD_LEN, OFPBMC_BAD_MASK, OFPBMC_BAD_PREREQ, OFPBMC_BAD_VALUE, OFPBMC_DUP_FIELD, OFPET_BAD_MATCH } from '../../lib/flowproto/error-codes.js';
import type { Input, Match as WireMatch, MatchField } from '../../lib/flowproto/messages.js';
import { OfpError } from './errors.js';
import {
  ETH_TYPE_RARP, F_ARP_OP, F_ARP_SHA, F_ARP_SPA, F_ARP_THA, F_ARP_TPA, F_ETH_DST, F_ETH_SRC, F_ETH_TYPE, F_ICMP_CODE, F_ICMP_TYPE,
  F_ICMPV6_CODE, F_ICMPV6_TYPE, F_IN_PORT, F_IP_DSCP, F_IP_DST, F_IP_ECN, F_IP_FRAG, F_IP_SRC, F_IPV6_DST, F_IPV6_LABEL, F_IPV6_SRC,
  F_METADATA, F_ND_SLL, F_ND_TARGET, F_ND_TLL, F_NW_PROTO, F_NW_TOS, F_NW_TTL, F_REG, F_SCTP_DST, F_SCTP_SRC, F_TCP_DST, F_TCP_SRC,
  F_TP_DST, F_TP_SRC, F_UDP_DST, F_UDP_SRC, F_VLAN_PCP, F_VLAN_TCI, fieldById, IPPROTO_SCTP, type Field,
} from './fields.js';
import { bitsOnes, bitsToBytes, bitsZero, bytesToBits, getBits, OFPP_MAX, orOnes } from './layout.js';
import { Match } from './match.js';

/** A value of `width` bits as ceil(width/8) big-endian bytes. */
export function bigToBytes(v: bigint, width: number): Uint8Array {
  const n = (width + 7) >> 3;
  const out = new Uint8Array(n);
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export function bytesToBig(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

/** A 16-bit OpenFlow port number (model) as the 32-bit number of the wire (OpenFlow 1.3). */
export function portToWire(p: number): number {
  return p >= OFPP_MAX ? (p + 0xffff0000) >>> 0 : p;
}

/** A 32-bit wire port number as the model's 16-bit one; throws RangeError when it has none. */
export function portFromWire(p: number): number {
  if (p >= 0xffffff00) return p - 0xffff0000;
  if (p < OFPP_MAX) return p;
  throw new RangeError(`port ${p} is not a valid port number`);
}

const NO_BYTES = new Uint8Array(0);

function push(out: Input<MatchField>[], m: Match, f: Field): void {
  let any = 0;
  for (let w = f.pos >>> 5, last = (f.pos + f.width - 1) >>> 5; w <= last; w++) any |= m.mask[w];
  if (any === 0 || bitsZero(m.mask, f.pos, f.width)) return;
  out.push({
    field: f.id, value: bitsToBytes(m.value, f.pos, f.width),
    mask: bitsOnes(m.mask, f.pos, f.width) ? NO_BYTES : bitsToBytes(m.mask, f.pos, f.width),
  });
}

/** The match as wire fields. */
export function matchToWire(m: Match): Input<WireMatch> {
  const out: Input<MatchField>[] = [];
  const type = getBits(m.mask, 128, 16) === 0xffff ? getBits(m.value, 128, 16) : -1;
  const proto = getBits(m.mask, 416, 8) === 0xff ? getBits(m.value, 416, 8) : -1;
  const arp = type === ETH_TYPE_ARP || type === ETH_TYPE_RARP;
  const v6 = type === ETH_TYPE_IPV6;
  push(out, m, F_IN_PORT);
  push(out, m, F_METADATA);
  for (const r of F_REG) push(out, m, r);
  push(out, m, F_ETH_DST);
  push(out, m, F_ETH_SRC);
  push(out, m, F_ETH_TYPE);
  push(out, m, F_VLAN_TCI);
  push(out, m, v6 ? F_IPV6_SRC : arp ? F_ARP_SPA : F_IP_SRC);
  push(out, m, v6 ? F_IPV6_DST : arp ? F_ARP_TPA : F_IP_DST);
  if (!v6 && (!bitsZero(m.mask, 192, 96) || !bitsZero(m.mask, 320, 96))) {
    push(out, m, F_IPV6_SRC); // only an invalid match gets here; the receiver reports it
  }
  push(out, m, arp ? F_ARP_OP : F_NW_PROTO);
  push(out, m, F_IP_DSCP);
  push(out, m, F_IP_ECN);
  push(out, m, F_NW_TTL);
  push(out, m, F_IP_FRAG);
  const icmp = (type === ETH_TYPE_IP && proto === IPPROTO_ICMP) || (v6 && proto === IPPROTO_ICMPV6);
  if (icmp && getBits(m.mask, 448, 8) === 0 && getBits(m.mask, 464, 8) === 0) {
    push(out, m, v6 ? F_ICMPV6_TYPE : F_ICMP_TYPE);
    push(out, m, v6 ? F_ICMPV6_CODE : F_ICMP_CODE);
  } else {
    const [s, d] = proto === IPPROTO_TCP ? [F_TCP_SRC, F_TCP_DST] : proto === IPPROTO_UDP ? [F_UDP_SRC, F_UDP_DST]
      : proto === IPPROTO_SCTP ? [F_SCTP_SRC, F_SCTP_DST] : [F_TP_SRC, F_TP_DST];
    push(out, m, s);
    push(out, m, d);
  }
  push(out, m, arp ? F_ARP_SHA : F_ND_SLL);
  push(out, m, arp ? F_ARP_THA : F_ND_TLL);
  push(out, m, F_IPV6_LABEL);
  push(out, m, F_ND_TARGET);
  return { fields: out };
}

function bad(code: number, msg: string): never {
  throw new OfpError(OFPET_BAD_MATCH, code, msg);
}

/**
 * The Match a list of wire fields describes. Throws OfpError(BAD_MATCH: BAD_FIELD, BAD_LEN,
 * BAD_MASK, BAD_VALUE, DUP_FIELD). Prerequisites are checked by validateMatch (tables.ts).
 */
export function matchFromWire(w: WireMatch | null | undefined): Match {
  const m = new Match();
  const v = m.value;
  const k = m.mask;
  let sawPcp = false;
  for (const mf of w?.fields ?? []) {
    const f = fieldById(mf.field ?? 0);
    const mv = mf.value ?? NO_BYTES;
    const mm = mf.mask ?? NO_BYTES;
    if (f === undefined || mf.field === 0) bad(OFPBMC_BAD_FIELD, `unknown match field ${mf.field}`);
    const n = (f.width + 7) >> 3;
    if (mv.length !== n) bad(OFPBMC_BAD_LEN, `${f.name}: value of ${mv.length} bytes, expected ${n}`);
    if (mm.length !== 0 && mm.length !== n) bad(OFPBMC_BAD_LEN, `${f.name}: mask of ${mm.length} bytes, expected ${n}`);
    if (f.id === F_NW_TOS.id) {
      // The TOS byte matches on its DSCP bits, as ovs-ofctl's nw_tos does.
      if (mm.length !== 0) bad(OFPBMC_BAD_MASK, 'nw_tos cannot be masked');
      if (!bitsZero(k, F_IP_DSCP.pos, 6)) bad(OFPBMC_DUP_FIELD, 'nw_tos: these bits are already matched by another field');
      m.setFieldNum(F_IP_DSCP, mv[0] >> 2);
      continue;
    }
    if (!bitsZero(k, f.pos, f.width)) bad(OFPBMC_DUP_FIELD, `${f.name}: these bits are already matched by another field`);
    if (!bytesToBits(mv, v, f.pos, f.width)) bad(OFPBMC_BAD_VALUE, `${f.name}: value wider than ${f.width} bits`);
    if (mm.length === 0) {
      orOnes(k, f.pos, f.width);
    } else {
      if (!bytesToBits(mm, k, f.pos, f.width)) bad(OFPBMC_BAD_VALUE, `${f.name}: mask wider than ${f.width} bits`);
      if (!f.maskable && !bitsOnes(k, f.pos, f.width)) bad(OFPBMC_BAD_MASK, `${f.name} cannot be masked`);
    }
    for (let i = f.pos >>> 5, last = (f.pos + f.width - 1) >>> 5; i <= last; i++) v[i] = (v[i] & k[i]) >>> 0;
    if (f.id === F_VLAN_PCP.id) sawPcp = true;
  }
  if (sawPcp) {
    // A priority is only there when a tag is: match "tag present" too (OpenFlow's prerequisite).
    const tv = m.fieldValueNum(F_VLAN_TCI);
    const tm = m.fieldMaskNum(F_VLAN_TCI);
    if ((tm & VLAN_CFI) !== 0 && (tv & VLAN_CFI) === 0) bad(OFPBMC_BAD_PREREQ, 'vlan_pcp requires a VLAN tag (vlan_vid says there is none)');
    m.setFieldNum(F_VLAN_TCI, (tv | VLAN_CFI) >>> 0, (tm | VLAN_CFI) >>> 0);
  }
  return m;
}
