/*
 * static: flows from a file, per datapath id (`--app static:FILE`). The file is JSON (.json)
 * or YAML (.yaml, .yml; anything else is tried as JSON, then YAML): a mapping from a datapath
 * id (16 hex digits, 0xHEX or decimal, as the REST API takes them) or "*" (every switch) to a
 * list of flows in ovs-ofctl add-flow syntax:
 *
 *     "*":
 *       - priority=0,actions=NORMAL
 *     "0000000000000001":
 *       - priority=100,in_port=1,actions=output:2
 *
 * Whenever a switch comes up (first connection and every reconnection), the app makes its
 * flows exactly the file's: flows without a cookie get the app's (0x5354); flows with that
 * cookie that the file does not list are deleted, then every listed flow is added (an add
 * replaces a flow with the same match and priority), in one transaction with a barrier.
 * SIGHUP (reload) re-reads the file and reapplies it to every connected switch. Flows are
 * checked when the file is read (vscontroller refuses to start on a bad one); port names
 * ("output:vm1") are resolved per switch. Control path.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import YAML from 'yaml';
import type { App, AppContext, AppCounter } from '../app.js';
import { ControllerError } from '../errors.js';
import type { SwitchSession } from '../switch-session.js';
import { FlowSyntaxError } from '../../vswitchd/ofp/errors.js';
import { newFlowMod, parseFlow, type FlowMod } from '../../vswitchd/ofp/flow-syntax.js';
import { onesBig } from '../../vswitchd/ofp/layout.js';
import type { PortNamer } from '../../vswitchd/ofp/values.js';
import { formatDpid, parseDpid } from '../target.js';

/** Cookie of the flows this app adds without one of their own ("ST"). */
export const STATIC_COOKIE = 0x5354n;

/** Flows by datapath id (16 hex digits) or "*". */
export type StaticFlows = Map<string, string[]>;

/** Accepts any port name, so flows can be checked before a switch says which names exist. */
const ANY_NAME: PortNamer = { number: () => 1, name: () => undefined };

/** Parses a static flow file's text; `file` names it in messages. Throws ControllerError('STATIC_FILE'). */
export function parseStaticFlows(text: string, file: string): StaticFlows {
  let doc: unknown;
  const ext = extname(file).toLowerCase();
  try {
    if (ext === '.json') doc = JSON.parse(text);
    else if (ext === '.yaml' || ext === '.yml') doc = YAML.parse(text, { schema: 'failsafe' });
    else {
      try {
        doc = JSON.parse(text);
      } catch {
        doc = YAML.parse(text, { schema: 'failsafe' });
      }
    }
  } catch (e) {
    throw new ControllerError('STATIC_FILE', `${file}: ${(e as Error).message}`, { cause: e });
  }
  if (doc === null || doc === undefined || doc === '') doc = {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ControllerError('STATIC_FILE', `${file}: expected a mapping from datapath id (or "*") to a list of flows`);
  }
  const out: StaticFlows = new Map();
  for (const [key, list] of Object.entries(doc as Record<string, unknown>)) {
    let id: string;
    if (key === '*') id = '*';
    else {
      try {
        id = formatDpid(parseDpid(key));
      } catch (e) {
        throw new ControllerError('STATIC_FILE', `${file}: ${(e as Error).message}`);
      }
    }
    if (list === null || list === '') continue;
    if (!Array.isArray(list)) throw new ControllerError('STATIC_FILE', `${file}: "${key}": expected a list of flows`);
    const flows = out.get(id) ?? [];
    list.forEach((f: unknown, i: number) => {
      if (typeof f !== 'string') throw new ControllerError('STATIC_FILE', `${file}: "${key}" flow ${i + 1}: expected a flow string`);
      try {
        parseFlow(f, { command: 'add', names: ANY_NAME });
      } catch (e) {
        const detail = e instanceof FlowSyntaxError ? e.describe() : (e as Error).message;
        throw new ControllerError('STATIC_FILE', `${file}: "${key}" flow ${i + 1}: ${detail}`, { cause: e });
      }
      flows.push(f);
    });
    out.set(id, flows);
  }
  return out;
}

export function readStaticFlows(file: string): StaticFlows {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ControllerError('STATIC_FILE', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  return parseStaticFlows(text, file);
}

function flowKey(f: { table: number; priority: number; match: { key(): string } }): string {
  return `${f.table}/${f.priority}/${f.match.key()}`;
}

export interface ApplyResult {
  added: number;
  deleted: number;
  failed: { flow: string; error: string }[];
}

export class StaticFlowsApp implements App {
  readonly name = 'static';
  flows: StaticFlows;
  private ctx: AppContext | null = null;
  private applied: AppCounter | null = null;
  private failures: AppCounter | null = null;
  /** The last application per switch (tests, REST). */
  readonly lastResult = new Map<string, ApplyResult>();

  constructor(readonly file: string) {
    this.flows = readStaticFlows(file);
  }

  start(ctx: AppContext): void {
    this.ctx = ctx;
    this.applied = ctx.counter('static_flows_applied', 'Flows added by the static app (each application counts again).');
    this.failures = ctx.counter('static_flow_failures', 'Static flows that a switch refused or that did not parse for it.');
    let n = 0;
    for (const l of this.flows.values()) n += l.length;
    ctx.log.info({ file: this.file, flows: n, switches: [...this.flows.keys()] }, 'static flows loaded');
  }

  /** The flow strings for a switch: those for "*" first, then its own. */
  flowsFor(id: string): string[] {
    return [...(this.flows.get('*') ?? []), ...(this.flows.get(id) ?? [])];
  }

  async onSwitchUp(sw: SwitchSession): Promise<void> {
    await this.apply(sw);
  }

  /** Makes the switch's flows with the app's cookie exactly the file's. */
  async apply(sw: SwitchSession): Promise<ApplyResult> {
    const log = this.ctx?.log;
    const result: ApplyResult = { added: 0, deleted: 0, failed: [] };
    const wanted: { text: string; fm: FlowMod }[] = [];
    for (const text of this.flowsFor(sw.id)) {
      try {
        const fm = sw.parseFlow(text, 'add');
        if (fm.cookie === 0n) fm.cookie = STATIC_COOKIE;
        wanted.push({ text, fm });
      } catch (e) {
        result.failed.push({ flow: text, error: (e as Error).message });
      }
    }
    const keep = new Set(wanted.map((w) => flowKey(w.fm)));
    const stale: FlowMod[] = [];
    try {
      for (const f of await sw.flowStats(`cookie=0x${STATIC_COOKIE.toString(16)}/-1`)) {
        if (keep.has(flowKey(f))) continue;
        const del = newFlowMod('delete_strict');
        del.table = f.table;
        del.priority = f.priority;
        del.match = f.match;
        del.cookie = STATIC_COOKIE;
        del.cookieMask = onesBig(64);
        stale.push(del);
      }
    } catch (e) {
      log?.warn({ dpid: sw.id, err: (e as Error).message }, 'could not list the flows applied before; old ones stay');
    }
    // Stale flows go first: should the switch report a listed flow under a match that differs
    // from ours, the add that follows restores it.
    const reqs = [...stale.map((fm) => ({ command: 'delete_strict' as const, flow: fm })), ...wanted.map((w) => ({ command: 'add' as const, flow: w.fm }))];
    if (reqs.length > 0) {
      const failures = await sw.flowMods(reqs);
      const bad = new Set(failures.map((f) => f.index));
      for (const f of failures) {
        result.failed.push({ flow: f.index >= stale.length ? wanted[f.index - stale.length].text : f.flow, error: f.error.message });
      }
      for (let i = 0; i < stale.length; i++) if (!bad.has(i)) result.deleted++;
      for (let i = 0; i < wanted.length; i++) if (!bad.has(stale.length + i)) result.added++;
    }
    this.applied?.inc(result.added);
    this.failures?.inc(result.failed.length);
    for (const f of result.failed) log?.error({ dpid: sw.id, flow: f.flow, err: f.error }, 'static flow not applied');
    log?.info({ dpid: sw.id, added: result.added, deleted: result.deleted, failed: result.failed.length }, 'static flows applied');
    this.lastResult.set(sw.id, result);
    return result;
  }

  /** Re-reads the file (a bad file keeps the old flows) and reapplies it to every switch. */
  async reload(): Promise<void> {
    try {
      this.flows = readStaticFlows(this.file);
    } catch (e) {
      this.ctx?.log.error({ err: (e as Error).message }, 'static flow file not reloaded; keeping the previous flows');
      return;
    }
    for (const sw of this.ctx?.switches() ?? []) await this.apply(sw);
  }

  describe(): unknown {
    return {
      file: this.file,
      flows: Object.fromEntries(this.flows),
      last: Object.fromEntries(this.lastResult),
    };
  }
}

export function createStatic(arg: string | undefined): App {
  if (!arg) throw new ControllerError('APP_ARG', 'static: give the flow file: --app static:FILE (.json, .yaml or .yml)');
  return new StaticFlowsApp(arg);
}
