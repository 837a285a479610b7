/*
 * The OpenFlow model on the flow protocol: actions and instructions, flow mods, flow stats,
 * stats requests, flow-removed and flow-monitor updates, both ways. The switch decodes with
 * the *FromWire functions (which throw OfpError with the code to answer), ofctl and
 * controllers encode with *ToWire. Port numbers are 16-bit in the model and 32-bit on the
 * wire (wire-match.ts). Control path.
 */
import {
  OFPBAC_BAD_ARGUMENT, OFPBAC_BAD_OUT_PORT, OFPBAC_BAD_SET_TYPE, OFPBAC_BAD_TYPE, OFPBRC_BAD_TABLE_ID, OFPET_BAD_ACTION,
  OFPET_BAD_INSTRUCTION, OFPET_BAD_REQUEST, OFPET_FLOW_MOD_FAILED, OFPFMFC_BAD_COMMAND,
} from '../../lib/flowproto/error-codes.js';
import type {
  Action as WireAction, FieldRef as WireRef, FlowMod as WireFlowMod, FlowRemoved as WireFlowRemoved, FlowStats as WireFlowStats,
  FlowStatsRequest, Input, Instruction, Learn as WireLearn,
} from '../../lib/flowproto/messages.js';
import type { OfAction } from './actions.js';
import { OfpError } from './errors.js';
import { fieldById, type FieldRef } from './fields.js';
import type { FlowEntry } from './flow-table.js';
import { DEFAULT_PRIORITY, newFlowMod, type FlowCommand, type FlowMod, type FlowStatsView } from './flow-syntax.js';
import { OFPP_ANY, OFPP_IN_PORT, OFPTT_ALL, onesBig } from './layout.js';
import type { LearnItem, LearnSpec } from './learn.js';
import type { Match } from './match.js';
import type { OfTables } from './tables.js';
import { bigToBytes, bytesToBig, matchFromWire, matchToWire, portFromWire, portToWire } from './wire-match.js';

const COMMANDS: FlowCommand[] = ['add', 'modify', 'modify_strict', 'delete', 'delete_strict'];
const NO_BUFFER = 0xffffffff;

function badAction(code: number, msg: string): never {
  throw new OfpError(OFPET_BAD_ACTION, code, msg);
}

function refToWire(r: FieldRef): Input<WireRef> {
  return { field: r.field.id, offset: r.ofs, nBits: r.nbits };
}

const NO_BYTES = new Uint8Array(0);

function refFromWire(w: WireRef | null | undefined): FieldRef {
  const f = w ? fieldById(w.field ?? 0) : undefined;
  if (!w || f === undefined || !f.nxm) badAction(OFPBAC_BAD_SET_TYPE, `unknown field ${w?.field ?? '(none)'} in a sub-field`);
  const ofs = w.offset ?? 0;
  const nbits = (w.nBits ?? 0) === 0 ? f.width - ofs : w.nBits ?? 0;
  if (ofs + nbits > f.width || nbits <= 0) badAction(OFPBAC_BAD_ARGUMENT, `${f.name}[${ofs}..${ofs + nbits - 1}] is outside the field (${f.width} bits)`);
  return { field: f, ofs, nbits };
}

function wirePort(p: number, what: string): number {
  try {
    return portFromWire(p);
  } catch {
    return badAction(OFPBAC_BAD_OUT_PORT, `${what}: ${p} is not a valid port number`);
  }
}

// ---- Actions ------------------------------------------------------------------------------------

function learnToWire(s: LearnSpec): Input<WireLearn> {
  return {
    tableId: s.table, priority: s.priority, idleTimeout: s.idleTimeout, hardTimeout: s.hardTimeout, finIdleTimeout: s.finIdleTimeout,
    finHardTimeout: s.finHardTimeout, cookie: s.cookie, sendFlowRem: s.sendFlowRem, deleteLearned: s.deleteLearned, limit: s.limit,
    specs: s.items.map((it) => ({
      kind: it.kind === 'match' ? 0 : it.kind === 'load' ? 1 : 2,
      dst: it.dst ? refToWire(it.dst) : null,
      src: it.src ? refToWire(it.src) : null,
      value: it.src ? new Uint8Array(0) : bigToBytes(it.value, it.dst ? it.dst.nbits : 0),
    })),
  };
}

function learnFromWire(w: WireLearn): LearnSpec {
  const items: LearnItem[] = (w.specs ?? []).map((sp) => {
    const src = sp.src ? refFromWire(sp.src) : null;
    if (sp.kind === 2) {
      if (src === null) badAction(OFPBAC_BAD_ARGUMENT, 'learn: an output spec needs a source field');
      return { kind: 'output', src, dst: null, value: 0n };
    }
    const dst = refFromWire(sp.dst);
    const value = src ? 0n : bytesToBig(sp.value ?? NO_BYTES);
    if (src && src.nbits !== dst.nbits) badAction(OFPBAC_BAD_ARGUMENT, 'learn: source and destination widths differ');
    if (value > onesBig(dst.nbits)) badAction(OFPBAC_BAD_ARGUMENT, 'learn: value wider than its destination');
    return { kind: sp.kind === 1 ? 'load' : 'match', dst, src, value };
  });
  return {
    table: w.tableId ?? 1, priority: w.priority ?? DEFAULT_PRIORITY, idleTimeout: w.idleTimeout ?? 0, hardTimeout: w.hardTimeout ?? 0,
    finIdleTimeout: w.finIdleTimeout ?? 0, finHardTimeout: w.finHardTimeout ?? 0, cookie: w.cookie ?? 0n, sendFlowRem: w.sendFlowRem ?? false,
    deleteLearned: w.deleteLearned ?? false, limit: w.limit ?? 0, items,
  };
}

/** One action (not write_metadata or goto_table, which are instructions). */
export function actionToWire(a: OfAction): Input<WireAction> {
  switch (a.type) {
    case 'output': return { output: { port: portToWire(a.port) } };
    case 'output_reg': return { outputField: refToWire(a.src) };
    case 'controller': return { controller: { maxLen: a.maxLen, reason: a.reason, controllerId: a.id, userdata: a.userdata ?? new Uint8Array(0) } };
    case 'mod_vlan_vid': return { modVlanVid: { vid: a.vid } };
    case 'mod_vlan_pcp': return { modVlanPcp: { pcp: a.pcp } };
    case 'strip_vlan': return { popVlan: { stripVlan: a.spelling === 'strip_vlan' } };
    case 'push_vlan': return { pushVlan: { ethertype: a.ethertype } };
    case 'mod_dl_src': return { modDlSrc: { mac: bigToBytes(BigInt(a.mac), 48) } };
    case 'mod_dl_dst': return { modDlDst: { mac: bigToBytes(BigInt(a.mac), 48) } };
    case 'mod_nw_src': return { modNwSrc: { ip: a.ip } };
    case 'mod_nw_dst': return { modNwDst: { ip: a.ip } };
    case 'mod_nw_tos': return { modNwTos: { value: a.tos } };
    case 'mod_nw_ecn': return { modNwEcn: { value: a.ecn } };
    case 'mod_nw_ttl': return { modNwTtl: { value: a.ttl } };
    case 'mod_tp_src': return { modTpSrc: { value: a.port } };
    case 'mod_tp_dst': return { modTpDst: { value: a.port } };
    case 'dec_ttl': return { decTtl: { controllerIds: a.ids } };
    case 'set_field': {
      const all = a.mask === onesBig(a.field.width);
      return { setField: { field: { field: a.field.id, value: bigToBytes(a.value, a.field.width), mask: all ? new Uint8Array(0) : bigToBytes(a.mask, a.field.width) } } };
    }
    case 'load': return { load: { dst: refToWire(a.dst), value: bigToBytes(a.value, a.dst.nbits) } };
    case 'move': return { move: { src: refToWire(a.src), dst: refToWire(a.dst) } };
    case 'resubmit': {
      const r: { inPort?: number; tableId?: number } = {};
      if (a.port !== OFPP_IN_PORT) r.inPort = portToWire(a.port);
      if (a.table !== OFPTT_ALL) r.tableId = a.table;
      return { resubmit: r };
    }
    case 'note': return { note: { data: a.data } };
    case 'learn': return { learn: learnToWire(a.spec) };
    default: throw new TypeError(`${a.type} is an instruction, not an action`);
  }
}

function u(v: number | undefined, max: number, what: string): number {
  v ??= 0;
  if (v > max) badAction(OFPBAC_BAD_ARGUMENT, `${what}: ${v} is out of range (at most ${max})`);
  return v;
}

/** The model of a wire action. Throws OfpError(BAD_ACTION). */
export function actionFromWire(w: WireAction): OfAction {
  switch (w.kind) {
    case 'output': return { type: 'output', port: wirePort(w.output!.port ?? 0, 'output') };
    case 'outputField': return { type: 'output_reg', src: refFromWire(w.outputField) };
    case 'controller': {
      const c = w.controller!;
      return { type: 'controller', maxLen: u(c.maxLen ?? 65535, 65535, 'controller max_len'), reason: u(c.reason, 2, 'controller reason'),
        id: u(c.controllerId, 65535, 'controller id'), userdata: c.userdata?.length ? Uint8Array.from(c.userdata) : null };
    }
    case 'modVlanVid': return { type: 'mod_vlan_vid', vid: u(w.modVlanVid!.vid, 4095, 'mod_vlan_vid') };
    case 'modVlanPcp': return { type: 'mod_vlan_pcp', pcp: u(w.modVlanPcp!.pcp, 7, 'mod_vlan_pcp') };
    case 'popVlan': return { type: 'strip_vlan', spelling: w.popVlan!.stripVlan ? 'strip_vlan' : 'pop_vlan' };
    case 'pushVlan': {
      const t = w.pushVlan!.ethertype ?? 0;
      if (t !== 0x8100 && t !== 0x88a8) badAction(OFPBAC_BAD_ARGUMENT, `push_vlan: ${t} is not a VLAN ethertype`);
      return { type: 'push_vlan', ethertype: t };
    }
    case 'modDlSrc': case 'modDlDst': {
      const mac = (w.modDlSrc ?? w.modDlDst)!.mac ?? NO_BYTES;
      if (mac.length !== 6) badAction(OFPBAC_BAD_ARGUMENT, 'a MAC address has 6 bytes');
      return { type: w.kind === 'modDlSrc' ? 'mod_dl_src' : 'mod_dl_dst', mac: Number(bytesToBig(mac)) };
    }
    case 'modNwSrc': return { type: 'mod_nw_src', ip: (w.modNwSrc!.ip ?? 0) >>> 0 };
    case 'modNwDst': return { type: 'mod_nw_dst', ip: (w.modNwDst!.ip ?? 0) >>> 0 };
    case 'modNwTos': {
      const tos = u(w.modNwTos!.value, 255, 'mod_nw_tos');
      if (tos & 3) badAction(OFPBAC_BAD_ARGUMENT, `mod_nw_tos: ${tos} is not a valid TOS (low 2 bits must be 0)`);
      return { type: 'mod_nw_tos', tos };
    }
    case 'modNwEcn': return { type: 'mod_nw_ecn', ecn: u(w.modNwEcn!.value, 3, 'mod_nw_ecn') };
    case 'modNwTtl': return { type: 'mod_nw_ttl', ttl: u(w.modNwTtl!.value, 255, 'mod_nw_ttl') };
    case 'modTpSrc': return { type: 'mod_tp_src', port: u(w.modTpSrc!.value, 65535, 'mod_tp_src') };
    case 'modTpDst': return { type: 'mod_tp_dst', port: u(w.modTpDst!.value, 65535, 'mod_tp_dst') };
    case 'decTtl': return { type: 'dec_ttl', ids: (w.decTtl!.controllerIds ?? []).map((i) => u(i, 65535, 'dec_ttl id')) };
    case 'setField': {
      const mf = w.setField!.field;
      const f = mf ? fieldById(mf.field ?? 0) : undefined;
      if (!mf || f === undefined) badAction(OFPBAC_BAD_SET_TYPE, `set_field: unknown field ${mf?.field ?? '(none)'}`);
      const n = (f.width + 7) >> 3;
      const mv = mf.value ?? NO_BYTES;
      const mm = mf.mask ?? NO_BYTES;
      if (mv.length !== n || (mm.length !== 0 && mm.length !== n)) badAction(OFPBAC_BAD_ARGUMENT, `set_field ${f.name}: value must be ${n} bytes`);
      const all = onesBig(f.width);
      const value = bytesToBig(mv);
      const mask = mm.length ? bytesToBig(mm) : all;
      if (value > all || mask > all) badAction(OFPBAC_BAD_ARGUMENT, `set_field ${f.name}: value wider than the field`);
      return { type: 'set_field', field: f, value: value & mask, mask };
    }
    case 'load': {
      const dst = refFromWire(w.load!.dst);
      const value = bytesToBig(w.load!.value ?? NO_BYTES);
      if (value > onesBig(dst.nbits)) badAction(OFPBAC_BAD_ARGUMENT, `load: value does not fit into ${dst.nbits} bits`);
      return { type: 'load', dst, value };
    }
    case 'move': {
      const src = refFromWire(w.move!.src);
      const dst = refFromWire(w.move!.dst);
      if (src.nbits !== dst.nbits) badAction(OFPBAC_BAD_ARGUMENT, 'move: source and destination widths differ');
      return { type: 'move', src, dst };
    }
    case 'resubmit': {
      const r = w.resubmit!;
      const table = r.tableId ?? OFPTT_ALL;
      if (table > OFPTT_ALL) badAction(OFPBAC_BAD_ARGUMENT, `resubmit: ${table}: resubmit to unknown table`);
      return { type: 'resubmit', port: r.inPort === undefined ? OFPP_IN_PORT : wirePort(r.inPort, 'resubmit'), table };
    }
    case 'note': return { type: 'note', data: Uint8Array.from(w.note!.data ?? NO_BYTES) };
    case 'learn': return { type: 'learn', spec: learnFromWire(w.learn!) };
    default: return badAction(OFPBAC_BAD_TYPE, 'unknown or empty action');
  }
}

/** A packet-out's action list (no instructions allowed). */
export function actionsToWire(actions: readonly OfAction[]): Input<WireAction>[] {
  return actions.map(actionToWire);
}

export function actionsFromWire(list: readonly WireAction[]): OfAction[] {
  return list.map(actionFromWire);
}

/** A flow's action list as OpenFlow 1.3 instructions (apply_actions, write_metadata, goto_table). */
export function instructionsToWire(actions: readonly OfAction[]): Input<Instruction>[] {
  const out: Input<Instruction>[] = [];
  const apply = actions.filter((a) => a.type !== 'write_metadata' && a.type !== 'goto_table');
  if (apply.length > 0 || actions.length === 0) out.push({ applyActions: { actions: apply.map(actionToWire) } });
  for (const a of actions) {
    if (a.type === 'write_metadata') out.push({ writeMetadata: { metadata: a.value, metadataMask: a.mask } });
    else if (a.type === 'goto_table') out.push({ gotoTable: { tableId: a.table } });
  }
  return out;
}

/** The flat action list of a flow's instructions. Throws OfpError on unknown or repeated ones. */
export function instructionsFromWire(list: readonly Instruction[]): OfAction[] {
  const out: OfAction[] = [];
  const seen = new Set<string>();
  for (const ins of list) {
    const k = ins.kind;
    if (k === undefined) throw new OfpError(OFPET_BAD_INSTRUCTION, 0, 'unknown or empty instruction');
    if (seen.has(k)) throw new OfpError(OFPET_BAD_INSTRUCTION, 1, `instruction ${k} given twice`);
    seen.add(k);
    if (k === 'applyActions') {
      out.push(...actionsFromWire(ins.applyActions!.actions ?? []));
    } else if (k === 'writeMetadata') {
      const mask = ins.writeMetadata!.metadataMask ?? 0n;
      out.push({ type: 'write_metadata', value: (ins.writeMetadata!.metadata ?? 0n) & mask, mask });
    } else if (k === 'gotoTable') {
      out.push({ type: 'goto_table', table: ins.gotoTable!.tableId ?? 0 });
    }
  }
  return out; // validateActions checks the order
}

// ---- Flow mods and stats ----------------------------------------------------------------------

export function flowModToWire(fm: FlowMod): Input<WireFlowMod> {
  const w: Input<WireFlowMod> = {
    cookie: fm.cookie, cookieMask: fm.cookieMask, tableId: fm.table, command: COMMANDS.indexOf(fm.command),
    idleTimeout: fm.idleTimeout, hardTimeout: fm.hardTimeout, priority: fm.priority, bufferId: NO_BUFFER, flags: fm.flags,
    match: matchToWire(fm.match), instructions: instructionsToWire(fm.actions), importance: fm.importance,
  };
  if (fm.outPort !== OFPP_ANY) w.outPort = portToWire(fm.outPort);
  if (fm.newCookie !== null) w.newCookie = fm.newCookie;
  return w;
}

/** The model of a wire flow mod. Throws OfpError (bad command, table, buffer, match or actions shape). */
export function flowModFromWire(w: WireFlowMod): FlowMod {
  const command = COMMANDS[w.command ?? 0];
  if (command === undefined) throw new OfpError(OFPET_FLOW_MOD_FAILED, OFPFMFC_BAD_COMMAND, `unknown flow mod command ${w.command}`);
  const buffer = w.bufferId ?? 0;
  if (buffer !== 0 && buffer !== NO_BUFFER) throw new OfpError(OFPET_BAD_REQUEST, 8, 'this switch does not buffer packets (buffer_id must be 0xffffffff)');
  const table = w.tableId ?? 0;
  if (table > OFPTT_ALL) throw new OfpError(OFPET_BAD_REQUEST, OFPBRC_BAD_TABLE_ID, `table ${table} does not exist`);
  const fm = newFlowMod(command);
  fm.table = table;
  fm.priority = w.priority ?? DEFAULT_PRIORITY;
  if (fm.priority > 65535) throw new OfpError(OFPET_FLOW_MOD_FAILED, 0, `priority ${fm.priority} is out of range`);
  fm.cookie = w.cookie ?? 0n;
  fm.cookieMask = w.cookieMask ?? 0n;
  fm.newCookie = w.newCookie ?? null;
  fm.idleTimeout = w.idleTimeout ?? 0;
  fm.hardTimeout = w.hardTimeout ?? 0;
  fm.importance = w.importance ?? 0;
  fm.flags = w.flags ?? 0;
  fm.outPort = w.outPort === undefined || w.outPort === null ? OFPP_ANY : wirePort(w.outPort, 'out_port');
  fm.match = matchFromWire(w.match);
  fm.actions = instructionsFromWire(w.instructions ?? []);
  return fm;
}

/** A dump-flows / dump-aggregate request. */
export function statsRequestToWire(f: { table: number; match: Match; cookie: bigint; cookieMask: bigint; outPort: number; strict?: boolean; priority?: number }): Input<FlowStatsRequest> {
  const w: Input<FlowStatsRequest> = { cookie: f.cookie, cookieMask: f.cookieMask, match: matchToWire(f.match), strict: f.strict ?? false };
  if (f.table !== OFPTT_ALL) w.tableId = f.table;
  if (f.outPort !== OFPP_ANY) w.outPort = portToWire(f.outPort);
  if (f.strict) w.priority = f.priority ?? DEFAULT_PRIORITY;
  return w;
}

/** The OfTables.select() filter of a wire stats request. */
export function statsRequestFromWire(w: FlowStatsRequest): Parameters<OfTables['select']>[0] {
  return {
    table: w.tableId ?? OFPTT_ALL, match: matchFromWire(w.match), strict: w.strict ?? false, priority: w.priority ?? DEFAULT_PRIORITY,
    cookie: w.cookie ?? 0n, cookieMask: w.cookieMask ?? 0n, outPort: w.outPort === undefined || w.outPort === null ? OFPP_ANY : wirePort(w.outPort, 'out_port'),
  };
}

/** An entry's statistics at time `now` (ms). */
export function flowStatsToWire(e: FlowEntry, now: number): Input<WireFlowStats> {
  const age = Math.max(0, now - e.created);
  return {
    tableId: e.table, durationSec: Math.floor(age / 1000), durationNsec: Math.floor(age % 1000) * 1e6, priority: e.priority,
    idleTimeout: e.idleTimeout, hardTimeout: e.hardTimeout, flags: e.flags, importance: e.importance, cookie: e.cookie,
    packetCount: e.packets, byteCount: e.bytes, match: matchToWire(e.match), instructions: instructionsToWire(e.actions),
    idleAge: Math.floor(Math.max(0, now - e.used) / 1000), hardAge: Math.floor(Math.max(0, now - e.modified) / 1000),
  };
}

/** What ofctl prints for a FlowStats it received. */
export function flowStatsFromWire(s: WireFlowStats): FlowStatsView {
  return {
    table: s.tableId ?? 0, priority: s.priority ?? 0, match: matchFromWire(s.match), actions: instructionsFromWire(s.instructions ?? []),
    cookie: s.cookie ?? 0n, durationMs: (s.durationSec ?? 0) * 1000 + Math.floor((s.durationNsec ?? 0) / 1e6),
    packets: Number(s.packetCount ?? 0n), bytes: Number(s.byteCount ?? 0n), idleTimeout: s.idleTimeout ?? 0,
    hardTimeout: s.hardTimeout ?? 0, flags: s.flags ?? 0, importance: s.importance ?? 0, idleAge: s.idleAge ?? 0, hardAge: s.hardAge ?? 0,
  };
}

/** A flow_removed for an entry that left its table for `reason` at `now`. */
export function flowRemovedToWire(e: FlowEntry, reason: number, now: number): Input<WireFlowRemoved> {
  const age = Math.max(0, now - e.created);
  return {
    cookie: e.cookie, priority: e.priority, reason, tableId: e.table, durationSec: Math.floor(age / 1000),
    durationNsec: Math.floor(age % 1000) * 1e6, idleTimeout: e.idleTimeout, hardTimeout: e.hardTimeout,
    packetCount: e.packets, byteCount: e.bytes, match: matchToWire(e.match),
  };
}
