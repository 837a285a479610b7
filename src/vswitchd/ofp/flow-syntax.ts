/*
 * Whole flows in ovs-ofctl syntax: "table=0,priority=100,cookie=0x5,idle_timeout=10,tcp,
 * nw_dst=10.0.0.0/8,actions=output:2" parsed into a FlowMod for add-flow, mod-flows,
 * del-flows and dump-flows (each command allows what ovs-ofctl allows, with its wording), and
 * flow entries printed as ovs-ofctl dump-flows prints them. Output of dump-flows parses back
 * (duration=, n_packets= ... are ignored), so replace-flows and diff-flows work on dumps.
 * Used by ofctl (client side) and by vswitchd for strings it is given. Control path.
 */
import { OFPET_FLOW_MOD_FAILED, OFPFMFC_BAD_TABLE_ID } from '../../lib/flowproto/error-codes.js';
import { validateActions, type OfAction } from './actions.js';
import { formatActions, parseActions } from './action-syntax.js';
import { FlowSyntaxError, OfpError } from './errors.js';
import { OFPP_ANY, OFPTT_ALL, onesBig } from './layout.js';
import { Match } from './match.js';
import { applyMatchItem, checkPrereqs, formatMatch, type FieldUse } from './match-syntax.js';
import { findActions, keyValue, splitTop, syntaxError, type Item } from './tokens.js';
import { parsePort, parseUint, type PortNamer } from './values.js';

export type FlowCommand = 'add' | 'modify' | 'modify_strict' | 'delete' | 'delete_strict';

/** Flow mod flags (OpenFlow 1.3 ofp_flow_mod_flags). */
export const OFPFF_SEND_FLOW_REM = 1 << 0;
export const OFPFF_CHECK_OVERLAP = 1 << 1;
export const OFPFF_RESET_COUNTS = 1 << 2;
export const OFPFF_NO_PKT_COUNTS = 1 << 3;
export const OFPFF_NO_BYT_COUNTS = 1 << 4;

export const FLAG_NAMES: readonly (readonly [string, number])[] = [
  ['send_flow_rem', OFPFF_SEND_FLOW_REM], ['check_overlap', OFPFF_CHECK_OVERLAP], ['reset_counts', OFPFF_RESET_COUNTS],
  ['no_packet_counts', OFPFF_NO_PKT_COUNTS], ['no_byte_counts', OFPFF_NO_BYT_COUNTS],
];

export const DEFAULT_PRIORITY = 32768;

/** A flow mod (or, for dump-flows, a flow stats request: command 'delete', actions empty). */
export interface FlowMod {
  command: FlowCommand;
  /** 0..254; OFPTT_ALL (255) = every table (modify, delete, dump). */
  table: number;
  priority: number;
  match: Match;
  /** add: the new flow's cookie; otherwise compared with each flow's cookie under cookieMask. */
  cookie: bigint;
  cookieMask: bigint;
  /** modify: the cookie to give the flows modified (ovs-ofctl: "cookie=V" without a mask). */
  newCookie: bigint | null;
  idleTimeout: number;
  hardTimeout: number;
  importance: number;
  flags: number;
  /** delete and dump: only flows that output to this port (OFPP_ANY: no filter). */
  outPort: number;
  actions: OfAction[];
}

export function newFlowMod(command: FlowCommand): FlowMod {
  return {
    command, table: command === 'add' ? 0 : OFPTT_ALL, priority: DEFAULT_PRIORITY, match: new Match(), cookie: 0n,
    cookieMask: 0n, newCookie: null, idleTimeout: 0, hardTimeout: 0, importance: 0, flags: 0, outPort: OFPP_ANY, actions: [],
  };
}

/** Keywords of dump-flows output that carry statistics: accepted and ignored. */
const IGNORED = new Set(['duration', 'n_packets', 'n_bytes', 'idle_age', 'hard_age', 'packet_count', 'byte_count']);

export interface ParseFlowOptions {
  names?: PortNamer;
  /** What the flow is for: 'dump' = a dump-flows/dump-aggregate filter. Default 'add'. */
  command?: FlowCommand | 'dump';
}

function intItem(s: string, it: Item, max: number, name: string): number {
  const v = parseUint(it.value ?? '');
  if (v === null || v > BigInt(max)) throw syntaxError(`invalid ${name} "${it.value ?? ''}"`, s, it.valOff, Math.max(1, (it.value ?? '').length));
  return Number(v);
}

function u64(s: string, text: string, off: number): bigint {
  if (text === '-1') return onesBig(64);
  const v = parseUint(text);
  if (v === null || v > onesBig(64)) throw syntaxError(`invalid cookie "${text}"`, s, off, text.length || 1);
  return v;
}

/** Parses a flow string. Throws FlowSyntaxError (with the OpenFlow error when it is one). */
export function parseFlow(s: string, opts: ParseFlowOptions = {}): FlowMod {
  const cmd = opts.command ?? 'add';
  const fm = newFlowMod(cmd === 'dump' ? 'delete' : cmd);
  const withActions = cmd === 'add' || cmd === 'modify' || cmd === 'modify_strict';
  const act = findActions(s);
  if (act.at >= 0 && !withActions) throw syntaxError('unknown keyword actions', s, act.at, act.body - act.at);
  if (act.at < 0 && withActions) throw syntaxError('must specify an action', s, s.length, 1);
  const matchEnd = act.at >= 0 ? act.at : s.length;
  const uses: FieldUse[] = [];
  let tableItem: Item | null = null;
  for (const seg of splitTop(s, 0, matchEnd, true)) {
    const it = keyValue(s, seg);
    const key = it.key.toLowerCase();
    if (IGNORED.has(key)) continue;
    const flag = FLAG_NAMES.find(([n]) => n === key);
    if (flag && it.value === null) {
      fm.flags |= flag[1];
      continue;
    }
    switch (key) {
      case 'table':
        tableItem = it;
        fm.table = it.value?.toLowerCase() === 'all' ? OFPTT_ALL : intItem(s, it, 255, 'table id');
        continue;
      case 'priority': fm.priority = intItem(s, it, 65535, 'priority'); continue;
      case 'idle_timeout': fm.idleTimeout = intItem(s, it, 65535, 'idle_timeout'); continue;
      case 'hard_timeout': fm.hardTimeout = intItem(s, it, 65535, 'hard_timeout'); continue;
      case 'importance': fm.importance = intItem(s, it, 65535, 'importance'); continue;
      case 'out_port':
        try {
          fm.outPort = parsePort(it.value ?? '', opts.names);
        } catch {
          throw syntaxError(`${it.value}: unknown port for out_port`, s, it.valOff, (it.value ?? '').length || 1);
        }
        continue;
      case 'cookie': {
        const v = it.value ?? '';
        const slash = v.indexOf('/');
        if (slash >= 0) {
          if (cmd === 'add') throw syntaxError('flow additions cannot use a cookie mask', s, it.off, it.end - it.off);
          fm.cookie = u64(s, v.slice(0, slash), it.valOff);
          fm.cookieMask = u64(s, v.slice(slash + 1), it.valOff + slash + 1);
        } else if (cmd === 'add') {
          fm.cookie = u64(s, v, it.valOff);
        } else if (cmd === 'modify' || cmd === 'modify_strict') {
          fm.newCookie = u64(s, v, it.valOff);
        } else {
          throw syntaxError(`cannot set cookie (to match on a cookie, specify a mask, e.g. cookie=${v}/-1)`, s, it.off, it.end - it.off);
        }
        continue;
      }
      default:
        break;
    }
    if (!applyMatchItem(s, it, fm.match, uses, opts.names)) {
      throw syntaxError(`unknown keyword ${it.key}`, s, it.keyOff, it.key.length || 1);
    }
  }
  if (cmd === 'add' && fm.table === OFPTT_ALL && tableItem) {
    throw syntaxError('table=255 (all tables) is not allowed when adding a flow', s, tableItem.off, tableItem.end - tableItem.off,
      OFPET_FLOW_MOD_FAILED, OFPFMFC_BAD_TABLE_ID);
  }
  checkPrereqs(s, fm.match, uses);
  if (act.at >= 0) {
    const offsets: { off: number; end: number }[] = [];
    fm.actions = parseActions(s, act.body, s.length, opts.names, offsets);
    try {
      validateActions(fm.actions, { match: fm.match, table: fm.table === OFPTT_ALL ? 0 : fm.table });
    } catch (e) {
      if (!(e instanceof OfpError)) throw e;
      const seg = offsets[e.index] ?? { off: act.body, end: s.length };
      throw new FlowSyntaxError(e.message, s, seg.off, seg.end - seg.off, e.ofType, e.ofCode);
    }
  }
  return fm;
}

// ---- Printing ----------------------------------------------------------------------------------

/** What dump-flows prints for one flow entry. */
export interface FlowStatsView {
  table: number;
  priority: number;
  match: Match;
  actions: readonly OfAction[];
  cookie: bigint;
  /** Age of the entry in ms. */
  durationMs: number;
  packets: number;
  bytes: number;
  idleTimeout: number;
  hardTimeout: number;
  flags: number;
  importance: number;
  /** Seconds since last hit / since last modified (printed with `ages`); -1 = not shown. */
  idleAge: number;
  hardAge: number;
}

export interface FormatFlowOptions {
  names?: PortNamer;
  /** --no-stats: drop duration, counters, and cookie/table when 0. */
  noStats?: boolean;
  /** Print idle_age= and hard_age= (ovs-ofctl's plain dump-flows does). */
  ages?: boolean;
}

/** As ovs-ofctl: "12.345s", or "12s" when there is no fraction. */
function duration(ms: number): string {
  const t = Math.max(0, Math.floor(ms));
  const frac = t % 1000;
  return frac === 0 ? `${Math.floor(t / 1000)}s` : `${Math.floor(t / 1000)}.${String(frac).padStart(3, '0')}s`;
}

/** " cookie=0x0, duration=1.234s, table=0, n_packets=0, n_bytes=0, priority=100,ip actions=drop" */
export function formatFlowStats(f: FlowStatsView, o: FormatFlowOptions = {}): string {
  return formatFlowStatsText(f, formatMatch(f.match, f.priority, o.names), formatActions(f.actions, o.names), o);
}

/**
 * formatFlowStats with the match (as formatMatch prints it, priority included) and the actions
 * already formatted; `f.match` and `f.actions` are not read. For printers that format those
 * themselves (wire-flow-text.ts).
 */
export function formatFlowStatsText(f: FlowStatsView, matchText: string, actionsText: string, o: FormatFlowOptions = {}): string {
  const stats = !o.noStats;
  let s = ' ';
  if (stats || f.cookie !== 0n) s += `cookie=0x${f.cookie.toString(16)}, `;
  if (stats) s += `duration=${duration(f.durationMs)}, `;
  if (stats || f.table !== 0) s += `table=${f.table}, `;
  if (stats) s += `n_packets=${f.packets}, n_bytes=${f.bytes}, `;
  if (f.idleTimeout) s += `idle_timeout=${f.idleTimeout}, `;
  if (f.hardTimeout) s += `hard_timeout=${f.hardTimeout}, `;
  if (f.flags) for (const [name, bit] of FLAG_NAMES) if (f.flags & bit) s += `${name} `;
  if (f.importance) s += `importance=${f.importance}, `;
  if (stats && o.ages) {
    if (f.idleAge >= 0) s += `idle_age=${f.idleAge}, `;
    if (f.hardAge >= 0 && f.hardAge !== Math.floor(f.durationMs / 1000)) s += `hard_age=${f.hardAge}, `;
  }
  // Every part above ends in a space; a match never does. (No s[s.length - 1]: reading a
  // character flattens the string, which costs more than the rest for a 100k-flow dump.)
  if (matchText !== '') s += `${matchText} `;
  return `${s}actions=${actionsText}`;
}

/** The flow as an add-flow string: "table=1,priority=5,in_port=1,actions=drop" (diff-flows). */
export function formatFlowMod(f: { table: number; priority: number; match: Match; actions: readonly OfAction[]; cookie: bigint;
  idleTimeout: number; hardTimeout: number; flags: number }, names?: PortNamer): string {
  const p: string[] = [];
  if (f.table !== 0) p.push(`table=${f.table}`);
  if (f.cookie !== 0n) p.push(`cookie=0x${f.cookie.toString(16)}`);
  if (f.idleTimeout) p.push(`idle_timeout=${f.idleTimeout}`);
  if (f.hardTimeout) p.push(`hard_timeout=${f.hardTimeout}`);
  for (const [name, bit] of FLAG_NAMES) if (f.flags & bit) p.push(name);
  const m = formatMatch(f.match, f.priority, names);
  if (m) p.push(m);
  p.push(`actions=${formatActions(f.actions, names)}`);
  return p.join(',');
}
