/*
 * The OpenFlow action model: what a flow entry does, as a flat list in the order written (as
 * ovs-ofctl shows it), the OpenFlow 1.3 instructions write_metadata and goto_table last. Made
 * by action-syntax.ts and the protocol conversion, checked against the flow's match and table
 * by validateActions(), run by the translation (phase 2 of the pipeline work). Control path.
 *
 * How each action reaches the datapath (src/lib/dpif-proto.ts), when the translation commits:
 *  - output:N, in_port, local, normal, flood, all: ACT_OUTPUT per datapath port (NORMAL via
 *    xlateNormal). Header changes made before an output are committed before it.
 *  - controller[:max_len]: needs ACT_USERSPACE (new): send the packet (first max_len bytes) up
 *    with userdata (reason, controller id, rule cookie...) as an upcall of reason ACTION.
 *  - mod_vlan_vid, mod_vlan_pcp, push_vlan, strip_vlan/pop_vlan, set_field vlan_vid/pcp/tci:
 *    ACT_POP_VLAN / ACT_PUSH_VLAN (existing): a changed tag is a pop then a push of the new tci.
 *  - mod_dl_src/dst, set_field eth_*: ACT_SET_ETH (new): write src and/or dst MAC.
 *  - mod_nw_src/dst, mod_nw_tos, mod_nw_ecn, mod_nw_ttl, dec_ttl, set_field ip_src, ip_dst, ipv6_src...: ACT_SET_IPV4
 *    / ACT_SET_IPV6 (new): write addresses, tos/tclass, ttl/hlimit (masked), fixing the IPv4
 *    header checksum and the TCP/UDP/ICMPv6 checksums that cover the pseudo-header (a UDP
 *    checksum of 0 over IPv4 stays 0). dec_ttl is decided here: ttl <= 1 sends to the
 *    controllers listed (reason invalid_ttl) and stops; otherwise it commits ttl-1.
 *  - mod_tp_src/dst, set_field tcp_/udp_/sctp_ ports: ACT_SET_L4_PORTS (new), fixing the TCP/UDP
 *    checksum (SCTP: CRC32c). set_field icmp_type/code: ACT_SET_ICMP (new, checksum fixed).
 *  - set_field arp_*, nd_*: ACT_SET_ARP / ACT_SET_ND (new, optional: rarely used).
 *  - load, move, set_field, write_metadata on metadata/reg0-15: pipeline state only, nothing in
 *    the datapath; on packet fields, as set_field of the field written.
 *  - resubmit, goto_table, note, learn: translation only (learn adds a flow to a table).
 */
import {
  OFPBAC_BAD_ARGUMENT, OFPBAC_BAD_OUT_PORT, OFPBAC_BAD_SET_TYPE, OFPBAC_MATCH_INCONSISTENT, OFPBAC_UNSUPPORTED_ORDER,
  OFPBIC_BAD_TABLE_ID, OFPET_BAD_ACTION, OFPET_BAD_INSTRUCTION,
} from '../../lib/flowproto/error-codes.js';
import { OfpError } from './errors.js';
import { PREREQ_TEXT, prereqMet, type Field, type FieldRef } from './fields.js';
import { OF_N_TABLES, OFPP_ANY, OFPP_CONTROLLER, OFPP_IN_PORT, OFPP_MAX, OFPTT_ALL } from './layout.js';
import type { LearnSpec } from './learn.js';
import type { Match } from './match.js';

/** Packet-in reasons (OpenFlow 1.3 ofp_packet_in_reason). */
export const OFPR_NO_MATCH = 0;
export const OFPR_ACTION = 1;
export const OFPR_INVALID_TTL = 2;

export type OfAction =
  /** To a port: a number, or OFPP_IN_PORT, OFPP_LOCAL, OFPP_NORMAL, OFPP_FLOOD, OFPP_ALL, OFPP_TABLE. */
  | { type: 'output'; port: number }
  /** To the port number held in a sub-field. */
  | { type: 'output_reg'; src: FieldRef }
  /** A packet-in to the controllers: `maxLen` bytes of the packet (65535 = all). */
  | { type: 'controller'; maxLen: number; reason: number; id: number; userdata: Uint8Array | null }
  /** Set the 802.1Q VID, pushing a tag (PCP 0) if the packet has none (OpenFlow 1.0 semantics). */
  | { type: 'mod_vlan_vid'; vid: number }
  | { type: 'mod_vlan_pcp'; pcp: number }
  /** Remove the outer tag; `spelling` keeps how it was written (strip_vlan or pop_vlan). */
  | { type: 'strip_vlan'; spelling: 'strip_vlan' | 'pop_vlan' }
  /** Push a new outer tag (VID and PCP 0 until set), ethertype 0x8100 or 0x88a8. */
  | { type: 'push_vlan'; ethertype: number }
  | { type: 'mod_dl_src' | 'mod_dl_dst'; mac: number }
  | { type: 'mod_nw_src' | 'mod_nw_dst'; ip: number }
  /** DSCP part of the TOS byte (value has its low 2 bits clear). */
  | { type: 'mod_nw_tos'; tos: number }
  | { type: 'mod_nw_ecn'; ecn: number }
  | { type: 'mod_nw_ttl'; ttl: number }
  | { type: 'mod_tp_src' | 'mod_tp_dst'; port: number }
  /** Decrement TTL/hop limit; at 0 send to the controllers with these ids (none: id 0). */
  | { type: 'dec_ttl'; ids: number[] }
  /** Write `value` under `mask` (all ones = whole field). */
  | { type: 'set_field'; field: Field; value: bigint; mask: bigint }
  | { type: 'load'; dst: FieldRef; value: bigint }
  | { type: 'move'; src: FieldRef; dst: FieldRef }
  /** Look the packet up in `table` (OFPTT_ALL = the current one) as if it came from `port`
   * (OFPP_IN_PORT = its in_port), run the actions found, then carry on here. */
  | { type: 'resubmit'; port: number; table: number }
  | { type: 'note'; data: Uint8Array }
  | { type: 'learn'; spec: LearnSpec }
  /** Instruction: metadata = (metadata & ~mask) | (value & mask). */
  | { type: 'write_metadata'; value: bigint; mask: bigint }
  /** Instruction: continue in a later table once this list is done. */
  | { type: 'goto_table'; table: number };

export type ActionType = OfAction['type'];

/** Where a flow's actions are checked: its match and its table. */
export interface ActionContext {
  match: Match;
  table: number;
}

function fail(type: number, code: number, msg: string): never {
  throw new OfpError(type, code, msg);
}

function needPrereq(what: string, f: Field, ctx: ActionContext): void {
  if (!prereqMet(f.prereq, ctx.match.value, ctx.match.mask)) {
    fail(OFPET_BAD_ACTION, OFPBAC_MATCH_INCONSISTENT, `${what}: ${f.name} requires ${PREREQ_TEXT[f.prereq]} in the match`);
  }
}

function needWritable(what: string, f: Field): void {
  if (!f.writable) fail(OFPET_BAD_ACTION, OFPBAC_BAD_SET_TYPE, `${what}: ${f.name} is read-only`);
}

/**
 * Checks an action list the way a switch does before accepting a flow: instruction order
 * (write_metadata, then goto_table, after every action, each at most once), goto_table to a
 * later table, output ports, fields written being writable and, like set_field, load, move
 * and learn sources, having their prerequisites in the match. Throws OfpError.
 */
export function validateActions(actions: readonly OfAction[], ctx: ActionContext): void {
  let stage = 0; // 0: actions, 1: write_metadata seen, 2: goto_table seen
  for (let i = 0; i < actions.length; i++) {
    try {
      stage = checkAction(actions[i], stage, ctx);
    } catch (e) {
      if (e instanceof OfpError) e.index = i;
      throw e;
    }
  }
}

/** Checks one action given the instruction stage so far; returns the new stage. */
function checkAction(a: OfAction, stage: number, ctx: ActionContext): number {
  if (a.type === 'write_metadata') {
    if (stage >= 1) fail(OFPET_BAD_ACTION, OFPBAC_UNSUPPORTED_ORDER, stage === 1 ? 'instruction write_metadata may be specified only once'
      : 'invalid instruction ordering: write_metadata must appear before goto_table');
    return 1;
  }
  if (a.type === 'goto_table') {
    if (stage === 2) fail(OFPET_BAD_ACTION, OFPBAC_UNSUPPORTED_ORDER, 'instruction goto_table may be specified only once');
    if (a.table <= ctx.table || a.table >= OF_N_TABLES) {
      fail(OFPET_BAD_INSTRUCTION, OFPBIC_BAD_TABLE_ID, `goto_table:${a.table} in table ${ctx.table}: the next table must be after this one (at most ${OF_N_TABLES - 1})`);
    }
    return 2;
  }
  if (stage > 0) {
    fail(OFPET_BAD_ACTION, OFPBAC_UNSUPPORTED_ORDER,
      `invalid instruction ordering: apply_actions must appear before ${stage === 1 ? 'write_metadata' : 'goto_table'}, for OpenFlow 1.1+ compatibility`);
  }
  switch (a.type) {
    case 'output':
      if (a.port === OFPP_ANY || (a.port >= OFPP_MAX && a.port < OFPP_IN_PORT)) fail(OFPET_BAD_ACTION, OFPBAC_BAD_OUT_PORT, `output:${a.port}: output to unknown port`);
      break;
    case 'output_reg':
      needPrereq('output', a.src.field, ctx);
      break;
    case 'set_field':
      needWritable('set_field', a.field);
      needPrereq('set_field', a.field, ctx);
      break;
    case 'load':
      needWritable('load', a.dst.field);
      needPrereq('load', a.dst.field, ctx);
      break;
    case 'move':
      if (a.src.nbits !== a.dst.nbits) fail(OFPET_BAD_ACTION, OFPBAC_BAD_ARGUMENT, `move: source is ${a.src.nbits} bits wide but destination is ${a.dst.nbits} bits wide`);
      needWritable('move', a.dst.field);
      needPrereq('move', a.src.field, ctx);
      needPrereq('move', a.dst.field, ctx);
      break;
    case 'resubmit':
      if (a.table !== OFPTT_ALL && a.table >= OF_N_TABLES) fail(OFPET_BAD_ACTION, OFPBAC_BAD_ARGUMENT, `resubmit: ${a.table}: resubmit to unknown table`);
      break;
    case 'learn':
      for (const it of a.spec.items) if (it.src !== null) needPrereq('learn', it.src.field, ctx);
      break;
    default:
      break;
  }
  return 0;
}

/** Whether the list sends anything out `port` (OpenFlow's out_port filter). */
export function actionsOutputTo(actions: readonly OfAction[], port: number): boolean {
  for (const a of actions) {
    if (a.type === 'output' && a.port === port) return true;
    if (a.type === 'controller' && port === OFPP_CONTROLLER) return true;
  }
  return false;
}
