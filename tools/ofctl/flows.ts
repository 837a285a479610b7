/*
 * ofctl's flow commands, in ovs-ofctl's syntax and output (dump-flows is dump.ts): dump-aggregate,
 * add-flow, add-flows (a file or "-" of any size: parsed whole first, so a syntax error changes
 * nothing, then streamed in pipelined batches), mod-flows, del-flows, replace-flows and
 * diff-flows (a switch or a file on either side, "-"/"+" lines, status 2 when they differ).
 * Control path.
 */
import { readFileSync, statSync } from 'node:fs';
import type { FlowRemoteError } from '../../src/lib/flowproto/errors.js';
import type { FlowStats } from '../../src/lib/flowproto/messages.js';
import { formatActions } from '../../src/vswitchd/ofp/action-syntax.js';
import type { OfAction } from '../../src/vswitchd/ofp/actions.js';
import { FlowSyntaxError } from '../../src/vswitchd/ofp/errors.js';
import { newFlowMod, parseFlow, type FlowCommand, type FlowMod } from '../../src/vswitchd/ofp/flow-syntax.js';
import { OFPTT_ALL } from '../../src/vswitchd/ofp/layout.js';
import type { Match } from '../../src/vswitchd/ofp/match.js';
import { formatMatch } from '../../src/vswitchd/ofp/match-syntax.js';
import type { PortNamer } from '../../src/vswitchd/ofp/values.js';
import { flowModToWire, flowStatsFromWire, statsRequestToWire } from '../../src/vswitchd/ofp/wire.js';
import { errnoText, ToolError, ToolExit } from '../common.js';
import { formatAggregate } from './print.js';
import type { OfctlContext, OfSession } from './session.js';
import { formatRemoteError } from './replies.js';

/** Parses one flow, turning a syntax error into ofctl's message with the pointer. */
export function parseOrFail(text: string, command: FlowCommand | 'dump', names: PortNamer | undefined, where = ''): FlowMod {
  try {
    return parseFlow(text, { command, names });
  } catch (e) {
    if (e instanceof FlowSyntaxError) throw new ToolError(`${where}${e.describe()}`);
    throw e;
  }
}

/** Prints the switch's errors and fails (status 1) if there were any. */
function reportErrors(ctx: OfctlContext, errors: { index: number; error: FlowRemoteError }[], names?: PortNamer): void {
  if (errors.length === 0) return;
  for (const { error } of errors) ctx.io.err(formatRemoteError(error, ctx.style, names));
  throw new ToolExit(1);
}

/** The flow stats request of a filter (dump-flows, dump-aggregate). */
export function statsRequestOf(fm: FlowMod, strict: boolean) {
  return statsRequestToWire({ table: fm.table, match: fm.match, cookie: fm.cookie, cookieMask: fm.cookieMask, outPort: fm.outPort, strict, priority: fm.priority });
}

export async function dumpAggregate(ctx: OfctlContext, s: OfSession, filter: string | undefined): Promise<void> {
  const fm = filter === undefined ? newFlowMod('delete') : parseOrFail(filter, 'dump', await s.namer());
  const { xid, parts } = await s.multipart({ aggregate: statsRequestOf(fm, ctx.strict) });
  ctx.io.out(formatAggregate(parts[parts.length - 1]?.aggregate ?? {}, ctx.style, xid));
}

/** add-flow, mod-flows, del-flows: one flow mod and a barrier. */
export async function flowModCommand(ctx: OfctlContext, s: OfSession, command: FlowCommand, text: string | undefined): Promise<void> {
  const namer = await s.namer();
  const fm = parseOrFail(text ?? '', command, namer);
  const errors = await s.transact([{ flowMod: flowModToWire(fm) }]);
  reportErrors(ctx, errors, ctx.names ? namer : undefined);
}

// ---- Files ------------------------------------------------------------------------------------

export interface FileFlow {
  fm: FlowMod;
  line: number;
}

const LINE_COMMANDS: Record<string, FlowCommand> = {
  add: 'add', modify: 'modify', modify_strict: 'modify_strict', delete: 'delete', delete_strict: 'delete_strict',
};

async function readText(ctx: OfctlContext, file: string): Promise<string> {
  if (file === '-') return ctx.readStdin();
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ToolError(`${file}: open failed (${errnoText(e)})`);
  }
}

/**
 * The flows of a file, one per line in add-flow syntax (dump-flows output too); blank lines
 * and "#" comments are skipped; a line may start with add, modify, modify_strict, delete or
 * delete_strict (add-flows only). A syntax error fails naming FILE:LINE.
 */
export async function readFlowFile(ctx: OfctlContext, file: string, names: PortNamer | undefined, allowCommands: boolean): Promise<FileFlow[]> {
  const text = await readText(ctx, file);
  const out: FileFlow[] = [];
  let line = 0;
  let pos = 0;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    line++;
    let s = text.slice(pos, nl).trim();
    pos = nl + 1;
    if (s === '' || s.startsWith('#') || /^(NXST|OFPST)_FLOW reply/.test(s)) continue;
    let command: FlowCommand = 'add';
    if (allowCommands) {
      const m = /^([a-z_]+)\s+/.exec(s);
      if (m && LINE_COMMANDS[m[1]] !== undefined) {
        command = LINE_COMMANDS[m[1]];
        s = s.slice(m[0].length);
      }
    }
    out.push({ fm: parseOrFail(s, command, names, `${file}:${line}: `), line });
  }
  return out;
}

export async function addFlows(ctx: OfctlContext, s: OfSession, file: string): Promise<void> {
  const namer = await s.namer();
  const flows = await readFlowFile(ctx, file, namer, true);
  const errors = await s.stream(flows.length, (i) => ({ flowMod: flowModToWire(flows[i].fm) }));
  reportErrors(ctx, errors, ctx.names ? namer : undefined);
}

// ---- Comparing flow tables --------------------------------------------------------------------

/** One flow as diff-flows and replace-flows compare it (ovs-ofctl's "version"). */
interface FlowVersion {
  table: number;
  priority: number;
  match: Match;
  actions: readonly OfAction[];
  actionsText: string;
  cookie: bigint;
  idleTimeout: number;
  hardTimeout: number;
  importance: number;
  /** The file's flow mod (replace-flows adds it), null for a switch's flow. */
  fm: FlowMod | null;
}

type FlowSet = Map<string, FlowVersion>;

function flowKey(table: number, priority: number, match: Match): string {
  return `${table}/${priority}/${match.key()}`;
}

function versionOfMod(fm: FlowMod): FlowVersion {
  return {
    table: fm.table, priority: fm.priority, match: fm.match, actions: fm.actions, actionsText: formatActions(fm.actions), cookie: fm.cookie,
    idleTimeout: fm.idleTimeout, hardTimeout: fm.hardTimeout, importance: fm.importance, fm,
  };
}

function versionOfStats(st: FlowStats): FlowVersion {
  const v = flowStatsFromWire(st);
  return {
    table: v.table, priority: v.priority, match: v.match, actions: v.actions, actionsText: formatActions(v.actions), cookie: v.cookie,
    idleTimeout: v.idleTimeout, hardTimeout: v.hardTimeout, importance: v.importance, fm: null,
  };
}

function sameVersion(a: FlowVersion, b: FlowVersion): boolean {
  return a.actionsText === b.actionsText && a.cookie === b.cookie && a.idleTimeout === b.idleTimeout && a.hardTimeout === b.hardTimeout
    && a.importance === b.importance;
}

/** "table=2 priority=9,ip cookie=0x5 idle_timeout=10 actions=drop", as ovs-ofctl diff-flows prints a flow. */
export function formatVersion(v: FlowVersion, names?: PortNamer): string {
  const parts: string[] = [];
  if (v.table !== 0) parts.push(`table=${v.table}`);
  const m = formatMatch(v.match, v.priority, names);
  if (m) parts.push(m);
  if (v.cookie !== 0n) parts.push(`cookie=0x${v.cookie.toString(16)}`);
  if (v.idleTimeout) parts.push(`idle_timeout=${v.idleTimeout}`);
  if (v.hardTimeout) parts.push(`hard_timeout=${v.hardTimeout}`);
  if (v.importance) parts.push(`importance=${v.importance}`);
  parts.push(`actions=${formatActions(v.actions, names)}`);
  return parts.join(' ');
}

async function switchFlows(s: OfSession): Promise<FlowSet> {
  const set: FlowSet = new Map();
  await s.multipartStream({ flow: {} }, (p) => {
    for (const st of p.flow?.stats ?? []) {
      const v = versionOfStats(st);
      set.set(flowKey(v.table, v.priority, v.match), v);
    }
  });
  return set;
}

function fileFlowSet(flows: FileFlow[]): FlowSet {
  const set: FlowSet = new Map();
  for (const { fm } of flows) {
    if (fm.table === OFPTT_ALL) fm.table = 0;
    set.set(flowKey(fm.table, fm.priority, fm.match), versionOfMod(fm));
  }
  return set;
}

/** Every key of both sets, by table, then priority (highest first), then match. */
function orderedKeys(a: FlowSet, b: FlowSet): string[] {
  const all = new Map<string, FlowVersion>();
  for (const [k, v] of a) all.set(k, v);
  for (const [k, v] of b) if (!all.has(k)) all.set(k, v);
  const text = new Map<string, string>();
  for (const [k, v] of all) text.set(k, formatMatch(v.match, v.priority));
  return [...all.keys()].sort((x, y) => {
    const vx = all.get(x)!;
    const vy = all.get(y)!;
    if (vx.table !== vy.table) return vx.table - vy.table;
    if (vx.priority !== vy.priority) return vy.priority - vx.priority;
    const tx = text.get(x)!;
    const ty = text.get(y)!;
    return tx < ty ? -1 : tx > ty ? 1 : 0;
  });
}

/** A switch (bridge name, unix:, tcp:) or, when a file of that name exists or it is "-", a file. */
function isFileSource(src: string): boolean {
  if (src === '-') return true;
  if (src.startsWith('unix:') || src.startsWith('tcp:')) return false;
  try {
    return statSync(src).isFile();
  } catch {
    return false;
  }
}

export async function diffFlows(ctx: OfctlContext, src1: string, src2: string): Promise<number> {
  const sessions: OfSession[] = [];
  let names: PortNamer | undefined;
  const load = async (src: string): Promise<FlowSet> => {
    if (isFileSource(src)) return fileFlowSet(await readFlowFile(ctx, src, names, false));
    const s = await ctx.open(src);
    sessions.push(s);
    names ??= await s.namer();
    return switchFlows(s);
  };
  try {
    // Switches first, so their port names serve the files.
    const firstIsFile = isFileSource(src1);
    let a: FlowSet;
    let b: FlowSet;
    if (firstIsFile && !isFileSource(src2)) {
      b = await load(src2);
      a = await load(src1);
    } else {
      a = await load(src1);
      b = await load(src2);
    }
    const printNames = ctx.names ? names : undefined;
    let out = '';
    let differ = false;
    for (const k of orderedKeys(a, b)) {
      const va = a.get(k);
      const vb = b.get(k);
      if (va && vb && sameVersion(va, vb)) continue;
      differ = true;
      if (va) out += `-${formatVersion(va, printNames)}\n`;
      if (vb) out += `+${formatVersion(vb, printNames)}\n`;
    }
    if (out) ctx.io.out(out);
    return differ ? 2 : 0;
  } finally {
    for (const s of sessions) s.close();
  }
}

export async function replaceFlows(ctx: OfctlContext, s: OfSession, file: string): Promise<void> {
  const namer = await s.namer();
  const want = fileFlowSet(await readFlowFile(ctx, file, namer, false));
  const have = await switchFlows(s);
  const mods: FlowMod[] = [];
  for (const [k, v] of have) {
    if (want.has(k)) continue;
    const fm = newFlowMod('delete_strict');
    fm.table = v.table;
    fm.priority = v.priority;
    fm.match = v.match;
    mods.push(fm);
  }
  for (const [k, v] of want) {
    const old = have.get(k);
    if (old && !ctx.readd && sameVersion(old, v)) continue;
    mods.push(v.fm!);
  }
  const errors = await s.stream(mods.length, (i) => ({ flowMod: flowModToWire(mods[i]) }));
  reportErrors(ctx, errors, ctx.names ? namer : undefined);
}
