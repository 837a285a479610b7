/*
 * Flow stats replies straight from flow entries to protobuf bytes: the body of a
 * FlowStatsReply (repeated FlowStats) written field by field into one reused buffer, with no
 * FlowStats objects on the way. The bytes decode to exactly what flowStatsToWire (wire.ts)
 * gives (same fields, same presence); the match follows matchToWire's field choice and order,
 * planned once per shape of mask (consecutive flows of a big table share one). Common actions
 * are written by hand, rare ones (learn, set_field, load ...) through the schema codec. Used by
 * ofmgmt-stats.ts for dump-flows; hot for 100k-flow dumps, where the cost is mostly cache
 * misses on scattered entries (see touch()).
 */
import { ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../../lib/flow-key.js';
import { PROTO_PACKAGE, schema } from '../../lib/flowproto/codec.js';
import { encodePlain } from '../../lib/flowproto/plain-codec.js';
import { ProtoWriter } from '../../lib/flowproto/pb-writer.js';
import type protobuf from 'protobufjs';
import type { OfAction } from './actions.js';
import {
  ETH_TYPE_RARP, F_ARP_OP, F_ARP_SHA, F_ARP_SPA, F_ARP_THA, F_ARP_TPA, F_ETH_DST, F_ETH_SRC, F_ETH_TYPE, F_ICMP_CODE, F_ICMP_TYPE,
  F_ICMPV6_CODE, F_ICMPV6_TYPE, F_IN_PORT, F_IP_DSCP, F_IP_DST, F_IP_ECN, F_IP_FRAG, F_IP_SRC, F_IPV6_DST, F_IPV6_LABEL, F_IPV6_SRC,
  F_METADATA, F_ND_SLL, F_ND_TARGET, F_ND_TLL, F_NW_PROTO, F_NW_TTL, F_REG, F_SCTP_DST, F_SCTP_SRC, F_TCP_DST, F_TCP_SRC,
  F_TP_DST, F_TP_SRC, F_UDP_DST, F_UDP_SRC, F_VLAN_TCI, IPPROTO_SCTP, type Field,
} from './fields.js';
import type { FlowEntry } from './flow-table.js';
import { bitsOnes, bitsToBytes, bitsZero, getBits, OF_WORDS } from './layout.js';
import type { Match } from './match.js';
import { actionToWire } from './wire.js';
import { portToWire } from './wire-match.js';

// Field keys (id << 3 | wire type: 0 varint, 2 length-delimited).
const K_STATS = (1 << 3) | 2; // FlowStatsReply.stats
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

/** Most bytes flow() writes before the cookie: key and length, and 8 uint32 fields. */
const FIXED_MAX = 2 + 8 * 6;

/** Key and uint32 value at buf[p] unless the value is 0; returns the end. */
function putUint(buf: Buffer, p: number, key: number, v: number): number {
  if (v === 0) return p;
  buf[p++] = key;
  v >>>= 0;
  while (v > 127) {
    buf[p++] = (v & 127) | 128;
    v >>>= 7;
  }
  buf[p++] = v;
  return p;
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

/**
 * Reads what encoding an entry reads first, for a run of entries, in one tight loop whose
 * iterations do not depend on each other, so the CPU overlaps their cache misses (the entries,
 * matches and actions of a big table lie scattered in the heap, and the encoding loop itself
 * would wait for each miss in turn). Returns a sum so the reads are not optimized away.
 */
function touch(entries: readonly FlowEntry[], start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i++) {
    const e = entries[i];
    const m = e.match;
    const a = e.actions;
    sum += e.created + m.mask[4] + m.value[4] + m.mask[13] + (a.length > 0 ? a[0].type.length : 0);
  }
  return sum;
}

export class FlowStatsEncoder {
  private readonly w = new ProtoWriter(1 << 20);
  /** What touch() returned last (kept so the reads stay). */
  touched = 0;
  /** The mask, eth_type and nw_proto of the last match planned, and its plan. */
  private readonly lastMask = new Uint32Array(OF_WORDS);
  private planType = -1;
  private planProto = -1;
  private plan: MatchPlan | null = null;

  /**
   * The FlowStatsReply body of entries[start, end) at time `now` (ms): a view of a reused
   * buffer, valid until the next call (FlowConnection.send copies it at once).
   */
  encode(entries: readonly FlowEntry[], start: number, end: number, now: number): Uint8Array {
    const w = this.w;
    w.reset();
    for (let i = start; i < end; i++) this.flow(entries[i], now);
    return w.view();
  }

  /**
   * Encodes entries from `start` until `maxFlows` flows or at least `maxBytes` bytes are
   * written; returns the index after the last one encoded. The bytes are then bytes().
   */
  part(entries: readonly FlowEntry[], start: number, now: number, maxFlows: number, maxBytes: number): number {
    const w = this.w;
    w.reset();
    const end = Math.min(entries.length, start + maxFlows);
    this.touched = touch(entries, start, end);
    let i = start;
    while (i < end && w.pos < maxBytes) this.flow(entries[i++], now);
    return i;
  }

  /** What the last part() wrote: a view of the reused buffer, valid until the next call. */
  bytes(): Uint8Array {
    return this.w.view();
  }

  private flow(e: FlowEntry, now: number): void {
    const w = this.w;
    w.ensure(FIXED_MAX);
    // The scalar fields straight into the buffer (proto3: zeros are not sent).
    const buf = w.buf;
    let p = w.pos;
    buf[p++] = K_STATS;
    const mark = p++; // length, patched by end()
    const age = Math.max(0, now - e.created);
    p = putUint(buf, p, 1 << 3, e.table);
    p = putUint(buf, p, 2 << 3, Math.floor(age / 1000));
    p = putUint(buf, p, 3 << 3, Math.floor(age % 1000) * 1e6);
    p = putUint(buf, p, 4 << 3, e.priority);
    p = putUint(buf, p, 5 << 3, e.idleTimeout);
    p = putUint(buf, p, 6 << 3, e.hardTimeout);
    p = putUint(buf, p, 7 << 3, e.flags);
    p = putUint(buf, p, 8 << 3, e.importance);
    w.pos = p;
    if (e.cookie !== 0n) w.uint64BigField(9 << 3, e.cookie);
    w.uint64NumField(10 << 3, e.packets);
    w.uint64NumField(11 << 3, e.bytes);
    const m = w.begin(K_MATCH);
    this.match(e.match);
    w.end(m);
    this.instructions(e.actions);
    w.ensure(12);
    w.pos = putUint(w.buf, w.pos, 14 << 3, Math.floor(Math.max(0, now - e.used) / 1000));
    w.pos = putUint(w.buf, w.pos, 15 << 3, Math.floor(Math.max(0, now - e.modified) / 1000));
    w.end(mark);
  }

  /** The match's fields as matchToWire lists them, from the plan of its mask. */
  private match(m: Match): void {
    const plan = this.planOf(m);
    const w = this.w;
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

  /**
   * The fields to send for a match and their masks (null: exact): a function of its mask and
   * of its exact eth_type and nw_proto, so consecutive flows of one shape (most of a big table)
   * share one plan.
   */
  private planOf(m: Match): MatchPlan {
    const k = m.mask;
    const v = m.value;
    const last = this.lastMask;
    // eth_type: bits 128..143 (the high half of word 4); nw_proto: bits 416..423 (top byte of word 13).
    const type = k[4] >>> 16 === 0xffff ? v[4] >>> 16 : -1;
    const proto = k[13] >>> 24 === 0xff ? v[13] >>> 24 : -1;
    let same = this.plan !== null && type === this.planType && proto === this.planProto;
    for (let i = 0; same && i < OF_WORDS; i++) if (k[i] !== last[i]) same = false;
    if (same) return this.plan!;
    last.set(k);
    this.planType = type;
    this.planProto = proto;
    this.plan = makePlan(k, type, proto);
    return this.plan;
  }

  /** As instructionsToWire: apply_actions (also when there are no actions), then the others in order. */
  private instructions(actions: readonly OfAction[]): void {
    const w = this.w;
    let nApply = 0;
    for (let i = 0; i < actions.length; i++) if (actions[i].type !== 'write_metadata' && actions[i].type !== 'goto_table') nApply++;
    if (nApply > 0 || actions.length === 0) {
      const ins = w.begin(K_INSTRUCTION);
      const apply = w.begin(K_APPLY);
      for (let i = 0; i < actions.length; i++) {
        const a = actions[i];
        if (a.type !== 'write_metadata' && a.type !== 'goto_table') this.action(a);
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

  private action(a: OfAction): void {
    const w = this.w;
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
