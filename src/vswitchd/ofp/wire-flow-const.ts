/*
 * The parts of a FlowStats message that do not change while a flow sits in its table, as
 * protobuf bytes: priority, timeouts, flags, importance and cookie ("head"), then match and
 * instructions ("body"), exactly as flowStatsToWire (wire.ts) would have them encoded. The
 * match follows matchToWire's field choice and order, planned once per shape of mask; common
 * actions are written by hand, rare ones (learn, set_field, load ...) through the schema codec.
 * Written into a caller's ProtoWriter: the flow order cache (flow-order.ts) when a flow is
 * added or modified, FlowStatsEncoder (wire-flow-stats.ts) for a flow without a cached copy.
 * Control path; runs per flow mod and per uncached flow of a dump.
 */
import { ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../../lib/flow-key.js';
import { PROTO_PACKAGE, schema } from '../../lib/flowproto/codec.js';
import { encodePlain } from '../../lib/flowproto/plain-codec.js';
import { putVarint, type ProtoWriter } from '../../lib/flowproto/pb-writer.js';
import type protobuf from 'protobufjs';
import type { OfAction } from './actions.js';
import {
  ETH_TYPE_RARP, F_ARP_OP, F_ARP_SHA, F_ARP_SPA, F_ARP_THA, F_ARP_TPA, F_ETH_DST, F_ETH_SRC, F_ETH_TYPE, F_ICMP_CODE, F_ICMP_TYPE,
  F_ICMPV6_CODE, F_ICMPV6_TYPE, F_IN_PORT, F_IP_DSCP, F_IP_DST, F_IP_ECN, F_IP_FRAG, F_IP_SRC, F_IPV6_DST, F_IPV6_LABEL, F_IPV6_SRC,
  F_METADATA, F_ND_SLL, F_ND_TARGET, F_ND_TLL, F_NW_PROTO, F_NW_TTL, F_REG, F_SCTP_DST, F_SCTP_SRC, F_TCP_DST, F_TCP_SRC,
  F_TP_DST, F_TP_SRC, F_UDP_DST, F_UDP_SRC, F_VLAN_TCI, IPPROTO_SCTP, type Field,
} from './fields.js';
import { bitsOnes, bitsToBytes, bitsZero, getBits, OF_WORDS } from './layout.js';
import type { Match } from './match.js';
import { actionToWire } from './wire.js';
import { portToWire } from './wire-match.js';

/** What flowConstInto reads of a flow entry (FlowEntry has all of it). */
export interface FlowConstSource {
  readonly priority: number;
  readonly idleTimeout: number;
  readonly hardTimeout: number;
  readonly flags: number;
  readonly importance: number;
  readonly cookie: bigint;
  readonly match: Match;
  readonly actions: readonly OfAction[];
}

// Field keys (id << 3 | wire type: 0 varint, 2 length-delimited).
const K_MATCH = (12 << 3) | 2; // FlowStats.match
const K_INSTRUCTION = (13 << 3) | 2;
const K_FIELDS = (1 << 3) | 2; // Match.fields
const K_MF_FIELD = 1 << 3;
const K_MF_VALUE = (2 << 3) | 2;
const K_MF_MASK = (3 << 3) | 2;
const K_APPLY = (1 << 3) | 2; // Instruction.apply_actions
const K_WRITE_METADATA = (2 << 3) | 2;
const K_GOTO = (3 << 3) | 2;
const K_ACTIONS = (1 << 3) | 2; // ApplyActions.actions
const K_V1 = 1 << 3; // field 1 of a small message, varint
const K_V2 = 2 << 3;

/** Action oneof members whose message is one uint32 field (1): their field numbers. */
const ONE_UINT: Record<string, number> = {
  output: 1, mod_vlan_vid: 4, mod_vlan_pcp: 5, push_vlan: 7, mod_nw_src: 10, mod_nw_dst: 11, mod_nw_tos: 12, mod_nw_ecn: 13,
  mod_nw_ttl: 14, mod_tp_src: 15, mod_tp_dst: 16,
};

let actionType: protobuf.Type | null = null;

/** Most bytes the head's five uint32 fields take. */
const HEAD_MAX = 5 * 6;

/** Key and uint32 value at buf[p] unless the value is 0; returns the end. */
export function putUint(buf: Buffer, p: number, key: number, v: number): number {
  if (v === 0) return p;
  buf[p] = key;
  return putVarint(buf, p + 1, v);
}

/**
 * Writes the head (FlowStats fields 4 to 9) then the body (fields 12 and 13) of `e` at w.pos;
 * returns where the body starts. Between the two, a FlowStats has its counters (10, 11).
 * `maskKey`, when not null, is an object standing for e.match's mask (its classifier subtable):
 * the same key means the same mask, so the last plan is reused without comparing masks.
 */
export function flowConstInto(w: ProtoWriter, e: FlowConstSource, maskKey: object | null): number {
  w.ensure(HEAD_MAX);
  const buf = w.buf;
  let p = w.pos;
  p = putUint(buf, p, 4 << 3, e.priority);
  p = putUint(buf, p, 5 << 3, e.idleTimeout);
  p = putUint(buf, p, 6 << 3, e.hardTimeout);
  p = putUint(buf, p, 7 << 3, e.flags);
  p = putUint(buf, p, 8 << 3, e.importance);
  w.pos = p;
  if (e.cookie !== 0n) w.uint64BigField(9 << 3, e.cookie);
  const body = w.pos;
  const m = w.begin(K_MATCH);
  matchInto(w, e.match, maskKey);
  w.end(m);
  instructionsInto(w, e.actions);
  return body;
}

/** What matchToWire sends for one shape of match: its fields, and each one's mask bytes (null: exact). */
interface MatchPlan {
  fields: Field[];
  masks: (Uint8Array | null)[];
}

/** The plan of a match with mask `k` and exact eth_type and nw_proto `type` and `proto` (-1: not exact). */
function makePlan(k: Uint32Array, type: number, proto: number): MatchPlan {
  const plan: MatchPlan = { fields: [], masks: [] };
  const push = (f: Field): void => {
    if (bitsZero(k, f.pos, f.width)) return;
    plan.fields.push(f);
    plan.masks.push(bitsOnes(k, f.pos, f.width) ? null : bitsToBytes(k, f.pos, f.width).slice());
  };
  const arp = type === ETH_TYPE_ARP || type === ETH_TYPE_RARP;
  const v6 = type === ETH_TYPE_IPV6;
  push(F_IN_PORT);
  push(F_METADATA);
  for (const r of F_REG) push(r);
  push(F_ETH_DST);
  push(F_ETH_SRC);
  push(F_ETH_TYPE);
  push(F_VLAN_TCI);
  push(v6 ? F_IPV6_SRC : arp ? F_ARP_SPA : F_IP_SRC);
  push(v6 ? F_IPV6_DST : arp ? F_ARP_TPA : F_IP_DST);
  if (!v6 && (!bitsZero(k, 192, 96) || !bitsZero(k, 320, 96))) push(F_IPV6_SRC); // only an invalid match
  push(arp ? F_ARP_OP : F_NW_PROTO);
  push(F_IP_DSCP);
  push(F_IP_ECN);
  push(F_NW_TTL);
  push(F_IP_FRAG);
  const icmp = (type === ETH_TYPE_IP && proto === IPPROTO_ICMP) || (v6 && proto === IPPROTO_ICMPV6);
  if (icmp && getBits(k, 448, 8) === 0 && getBits(k, 464, 8) === 0) {
    push(v6 ? F_ICMPV6_TYPE : F_ICMP_TYPE);
    push(v6 ? F_ICMPV6_CODE : F_ICMP_CODE);
  } else {
    const [s, d] = proto === IPPROTO_TCP ? [F_TCP_SRC, F_TCP_DST] : proto === IPPROTO_UDP ? [F_UDP_SRC, F_UDP_DST]
      : proto === IPPROTO_SCTP ? [F_SCTP_SRC, F_SCTP_DST] : [F_TP_SRC, F_TP_DST];
    push(s);
    push(d);
  }
  push(arp ? F_ARP_SHA : F_ND_SLL);
  push(arp ? F_ARP_THA : F_ND_TLL);
  push(F_IPV6_LABEL);
  push(F_ND_TARGET);
  return plan;
}

/** Writes field f of `words` as ceil(width/8) big-endian bytes at buf[p] (as bitsToBytes); returns the end. */
function putFieldBytes(buf: Buffer, p: number, words: Uint32Array, f: Field): number {
  const n = (f.width + 7) >> 3;
  const head = f.width - (n - 1) * 8;
  const pos = f.pos;
  buf[p++] = head === 8 && (pos & 7) === 0 ? (words[pos >>> 5] >>> (24 - (pos & 31))) & 0xff : getBits(words, pos, head);
  let bit = pos + head;
  if ((bit & 7) === 0) {
    // Byte-aligned: each byte straight from its word.
    for (let i = 1; i < n; i++, bit += 8) buf[p++] = (words[bit >>> 5] >>> (24 - (bit & 31))) & 0xff;
  } else {
    for (let i = 1; i < n; i++, bit += 8) buf[p++] = getBits(words, bit, 8);
  }
  return p;
}

/*
 * The last plan made and what it was made for: consecutive matches of one shape (most of a big
 * table, in insertion order or in a dump) share it. Module state: one thread, and a plan is a
 * pure function of what it is keyed by.
 */
const lastMask = new Uint32Array(OF_WORDS);
let planType = -1;
let planProto = -1;
let lastPlan: MatchPlan | null = null;
/** The mask key (see flowConstInto) lastPlan was made or last checked for. */
let lastKey: object | null = null;

/**
 * The fields to send for a match and their masks (null: exact): a function of its mask and
 * of its exact eth_type and nw_proto.
 */
function planOf(m: Match, maskKey: object | null): MatchPlan {
  const k = m.mask;
  const v = m.value;
  // eth_type: bits 128..143 (the high half of word 4); nw_proto: bits 416..423 (top byte of word 13).
  const type = k[4] >>> 16 === 0xffff ? v[4] >>> 16 : -1;
  const proto = k[13] >>> 24 === 0xff ? v[13] >>> 24 : -1;
  let same = lastPlan !== null && type === planType && proto === planProto;
  if (same && (maskKey === null || maskKey !== lastKey)) {
    for (let i = 0; i < OF_WORDS; i++) {
      if (k[i] !== lastMask[i]) {
        same = false;
        break;
      }
    }
  }
  lastKey = maskKey;
  if (same) return lastPlan!;
  lastMask.set(k);
  planType = type;
  planProto = proto;
  lastPlan = makePlan(k, type, proto);
  return lastPlan;
}

/** The match's fields (Match.fields entries) as matchToWire lists them, from the plan of its mask. */
function matchInto(w: ProtoWriter, m: Match, maskKey: object | null): void {
  const plan = planOf(m, maskKey);
  const v = m.value;
  for (let j = 0; j < plan.fields.length; j++) {
    const f = plan.fields[j];
    const maskBytes = plan.masks[j];
    const n = (f.width + 7) >> 3;
    const size = 2 + 2 + n + (maskBytes === null ? 0 : 2 + n); // id < 128, lengths < 128
    w.ensure(size + 2);
    const buf = w.buf;
    let p = w.pos;
    buf[p++] = K_FIELDS;
    buf[p++] = size;
    buf[p++] = K_MF_FIELD;
    buf[p++] = f.id;
    buf[p++] = K_MF_VALUE;
    buf[p++] = n;
    p = putFieldBytes(buf, p, v, f);
    if (maskBytes !== null) {
      buf[p++] = K_MF_MASK;
      buf[p++] = n;
      buf.set(maskBytes, p);
      p += n;
    }
    w.pos = p;
  }
}

/** As instructionsToWire: apply_actions (also when there are no actions), then the others in order. */
function instructionsInto(w: ProtoWriter, actions: readonly OfAction[]): void {
  let nApply = 0;
  for (let i = 0; i < actions.length; i++) if (actions[i].type !== 'write_metadata' && actions[i].type !== 'goto_table') nApply++;
  if (nApply > 0 || actions.length === 0) {
    const ins = w.begin(K_INSTRUCTION);
    const apply = w.begin(K_APPLY);
    for (let i = 0; i < actions.length; i++) {
      const a = actions[i];
      if (a.type !== 'write_metadata' && a.type !== 'goto_table') actionInto(w, a);
    }
    w.end(apply);
    w.end(ins);
  }
  for (let i = 0; i < actions.length; i++) {
    const a = actions[i];
    if (a.type === 'write_metadata') {
      const ins = w.begin(K_INSTRUCTION);
      const wm = w.begin(K_WRITE_METADATA);
      w.uint64BigField(K_V1, a.value);
      w.uint64BigField(K_V2, a.mask);
      w.end(wm);
      w.end(ins);
    } else if (a.type === 'goto_table') {
      const ins = w.begin(K_INSTRUCTION);
      const g = w.begin(K_GOTO);
      w.uint32Field(K_V1, a.table);
      w.end(g);
      w.end(ins);
    }
  }
}

function actionInto(w: ProtoWriter, a: OfAction): void {
  const mark = w.begin(K_ACTIONS);
  const member = a.type === 'output' ? 1 : ONE_UINT[a.type];
  if (member !== undefined) {
    const body = w.begin((member << 3) | 2);
    w.uint32Field(K_V1, oneUint(a));
    w.end(body);
  } else {
    // Rare actions: the generic encoder, from the same object actionToWire makes.
    actionType ??= schema().lookupType(`${PROTO_PACKAGE}.Action`);
    w.raw(encodePlain(actionType, actionToWire(a) as Record<string, unknown>));
  }
  w.end(mark);
}

/** The one number of an action in ONE_UINT, as actionToWire puts it on the wire. */
function oneUint(a: OfAction): number {
  switch (a.type) {
    case 'output': return portToWire(a.port);
    case 'mod_vlan_vid': return a.vid;
    case 'mod_vlan_pcp': return a.pcp;
    case 'push_vlan': return a.ethertype;
    case 'mod_nw_src': case 'mod_nw_dst': return a.ip;
    case 'mod_nw_tos': return a.tos;
    case 'mod_nw_ecn': return a.ecn;
    case 'mod_nw_ttl': return a.ttl;
    case 'mod_tp_src': case 'mod_tp_dst': return a.port;
    default: return 0;
  }
}
