/*
 * A bridge's OpenFlow tables 0..254: applies flow mods (validated here: table id, timeouts,
 * match prerequisites, actions against each entry's match and table), answers lookups for
 * the translation, selects entries for statistics, expires timed-out entries, learns flows
 * (the learn action) and tells listeners what changed (flow monitors, flow-removed messages,
 * revalidation). A new bridge starts with `priority=0,actions=NORMAL` in table 0, as in OVS.
 * Owned by a bridge (phase 2); lookups per upcall, the rest per flow mod. Control path.
 *
 * `generation` goes up on every change that can alter a lookup's result, so a cached
 * datapath flow translated at an older generation is known to need revalidation.
 */
import { OFPBRC_BAD_TABLE_ID, OFPET_BAD_REQUEST, OFPET_FLOW_MOD_FAILED, OFPFMFC_BAD_COMMAND, OFPFMFC_BAD_TABLE_ID, OFPFMFC_BAD_TIMEOUT } from '../../lib/flowproto/error-codes.js';
import { validateActions, type OfAction } from './actions.js';
import { OfpError } from './errors.js';
import { emptyResult, FlowEntry, FlowTable, OFPRR_DELETE, type FlowFilter, type FlowModResult } from './flow-table.js';
import { newFlowMod, OFPFF_SEND_FLOW_REM, type FlowMod } from './flow-syntax.js';
import { formatActions } from './action-syntax.js';
import { OF_N_TABLES, OFPP_ANY, OFPP_NORMAL, OFPTT_ALL } from './layout.js';
import { learnFlow, type LearnSpec } from './learn.js';
import { Match } from './match.js';
import { validateMatch } from './match-check.js';

/** A change to the tables, for flow monitors and flow-removed messages. */
export interface FlowEvent {
  event: 'added' | 'modified' | 'removed';
  entry: FlowEntry;
  /** For 'removed': OFPRR_IDLE_TIMEOUT, OFPRR_HARD_TIMEOUT or OFPRR_DELETE; else -1. */
  reason: number;
}

export type FlowListener = (ev: FlowEvent) => void;

export interface TableStats {
  table: number;
  active: number;
  lookups: number;
  matched: number;
}

export interface Aggregate {
  packets: number;
  bytes: number;
  flows: number;
}

export class OfTables {
  readonly tables: FlowTable[] = [];
  /** Bumped by every change that can change a lookup (see the top of the file). */
  generation = 0;
  private readonly listeners: FlowListener[] = [];

  /** `withNormal`: install the table-miss entry priority=0,actions=NORMAL in table 0. */
  constructor(withNormal = true, now = Date.now()) {
    for (let i = 0; i < OF_N_TABLES; i++) this.tables.push(new FlowTable(i));
    if (withNormal) {
      const fm = newFlowMod('add');
      fm.priority = 0;
      fm.actions = [{ type: 'output', port: OFPP_NORMAL }];
      this.apply(fm, now);
    }
  }

  /** Calls `fn` for each change from now on; returns a function that stops it. */
  listen(fn: FlowListener): () => void {
    this.listeners.push(fn);
    return () => {
      const i = this.listeners.indexOf(fn);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Total entries in all tables. */
  get count(): number {
    let n = 0;
    for (const t of this.tables) n += t.count;
    return n;
  }

  /** The entry of table `table` for `flow` (OF_WORDS), un-wildcarding into `wc`. Per upcall. */
  lookup(table: number, flow: Uint32Array, wc: Uint32Array | null, count = true): FlowEntry | null {
    return this.tables[table].lookup(flow, wc, count);
  }

  private tablesOf(table: number): FlowTable[] {
    if (table === OFPTT_ALL) return this.tables;
    if (table < 0 || table >= OF_N_TABLES) throw new OfpError(OFPET_BAD_REQUEST, OFPBRC_BAD_TABLE_ID, `table ${table} does not exist (tables are 0 to ${OF_N_TABLES - 1})`);
    return [this.tables[table]];
  }

  /**
   * Applies a flow mod at time `now`. All-or-nothing: checks everything before changing
   * anything. Throws OfpError with the OpenFlow error to answer.
   */
  apply(fm: FlowMod, now = Date.now()): FlowModResult {
    const res = emptyResult();
    if (fm.idleTimeout < 0 || fm.idleTimeout > 65535 || fm.hardTimeout < 0 || fm.hardTimeout > 65535) {
      throw new OfpError(OFPET_FLOW_MOD_FAILED, OFPFMFC_BAD_TIMEOUT, 'timeouts must be 0 to 65535 seconds');
    }
    switch (fm.command) {
      case 'add': {
        if (fm.table === OFPTT_ALL || fm.table < 0 || fm.table >= OF_N_TABLES) {
          throw new OfpError(OFPET_FLOW_MOD_FAILED, OFPFMFC_BAD_TABLE_ID, `cannot add a flow to table ${fm.table} (tables are 0 to ${OF_N_TABLES - 1})`);
        }
        validateMatch(fm.match);
        validateActions(fm.actions, { match: fm.match, table: fm.table });
        this.tables[fm.table].add(fm, now, res);
        break;
      }
      case 'modify':
      case 'modify_strict': {
        validateMatch(fm.match);
        const f = this.filterOf(fm, fm.command === 'modify_strict', false);
        const picked = this.tablesOf(fm.table).map((t) => [t, t.select(f)] as const);
        for (const [, es] of picked) for (const e of es) validateActions(fm.actions, { match: e.match, table: e.table });
        for (const [t, es] of picked) t.modify(es, fm, now, res);
        break;
      }
      case 'delete':
      case 'delete_strict': {
        const f = this.filterOf(fm, fm.command === 'delete_strict', true);
        for (const t of this.tablesOf(fm.table)) t.remove(t.select(f), OFPRR_DELETE, res);
        break;
      }
      default:
        throw new OfpError(OFPET_FLOW_MOD_FAILED, OFPFMFC_BAD_COMMAND, `unknown flow mod command ${String(fm.command)}`);
    }
    this.publish(res);
    return res;
  }

  private filterOf(fm: FlowMod, strict: boolean, withOutPort: boolean): FlowFilter {
    return { match: fm.match, priority: fm.priority, strict, cookie: fm.cookie, cookieMask: fm.cookieMask, outPort: withOutPort ? fm.outPort : OFPP_ANY };
  }

  private publish(res: FlowModResult): void {
    const changed = res.added.length + res.modified.length + res.removed.length + res.replaced.length;
    if (changed === 0) return;
    this.generation++;
    if (this.listeners.length === 0) return;
    const emit = (ev: FlowEvent): void => {
      for (const l of this.listeners) l(ev);
    };
    for (const e of res.replaced) emit({ event: 'removed', entry: e, reason: OFPRR_DELETE });
    for (const e of res.added) emit({ event: 'added', entry: e, reason: -1 });
    for (const e of res.modified) emit({ event: 'modified', entry: e, reason: -1 });
    for (const r of res.removed) emit({ event: 'removed', entry: r.entry, reason: r.reason });
  }

  /**
   * Entries selected by a stats request (dump-flows, dump-aggregate): table (or OFPTT_ALL),
   * match (non-strict unless `strict`), cookie/mask and out_port. Ordered by table, then
   * priority (highest first), then age (oldest first).
   */
  select(filter: { table: number; match?: Match; priority?: number; strict?: boolean; cookie?: bigint; cookieMask?: bigint; outPort?: number }): FlowEntry[] {
    const f: FlowFilter = {
      match: filter.match ?? Match.catchAll(), priority: filter.priority ?? 32768, strict: filter.strict ?? false,
      cookie: filter.cookie ?? 0n, cookieMask: filter.cookieMask ?? 0n, outPort: filter.outPort ?? OFPP_ANY,
    };
    const out: FlowEntry[] = [];
    for (const t of this.tablesOf(filter.table)) {
      const es = t.select(f);
      es.sort((a, b) => b.priority - a.priority || a.seq - b.seq);
      for (const e of es) out.push(e);
    }
    return out;
  }

  aggregate(filter: Parameters<OfTables['select']>[0]): Aggregate {
    const a: Aggregate = { packets: 0, bytes: 0, flows: 0 };
    for (const e of this.select(filter)) {
      a.packets += e.packets;
      a.bytes += e.bytes;
      a.flows++;
    }
    return a;
  }

  tableStats(): TableStats[] {
    return this.tables.map((t) => ({ table: t.id, active: t.count, lookups: t.lookupCount, matched: t.matchedCount }));
  }

  /** Adds packets and bytes to an entry and marks it used at `usedMs` (from datapath flow stats). */
  credit(e: FlowEntry, packets: number, bytes: number, usedMs: number): void {
    e.packets += packets;
    e.bytes += bytes;
    if (usedMs > e.used) e.used = usedMs;
  }

  /** Removes entries whose timeouts passed; returns what was removed (reason idle/hard). */
  expire(now = Date.now()): FlowModResult {
    const res = emptyResult();
    for (const t of this.tables) t.expire(now, res);
    this.publish(res);
    return res;
  }

  /** The earliest time (ms) an entry can expire, Infinity if none. */
  nextExpiry(): number {
    let t = Infinity;
    for (const tb of this.tables) t = Math.min(t, tb.nextExpiry());
    return t;
  }

  /**
   * Runs a learn action for the packet whose OpenFlow flow is `flow`: adds the learned flow,
   * or, when an identical one (same match, priority and actions) exists, refreshes it (its
   * hard timeout restarts) without a change event. Returns the entry.
   */
  learn(spec: LearnSpec, flow: Uint32Array, now = Date.now()): FlowEntry {
    const lf = learnFlow(spec, flow);
    const table = this.tables[lf.table];
    const old = table.cls.findExact(lf.match, lf.priority);
    if (old !== null && sameActions(old, lf.actions) && old.cookie === lf.cookie) {
      old.modified = now;
      old.used = Math.max(old.used, now);
      return old;
    }
    const fm = newFlowMod('add');
    fm.table = lf.table;
    fm.priority = lf.priority;
    fm.match = lf.match;
    fm.actions = lf.actions;
    fm.cookie = lf.cookie;
    fm.idleTimeout = lf.idleTimeout;
    fm.hardTimeout = lf.hardTimeout;
    fm.flags = lf.sendFlowRem ? OFPFF_SEND_FLOW_REM : 0;
    return this.apply(fm, now).added[0];
  }
}

/** Two action lists are the same when they print the same (the syntax is canonical). */
function sameActions(e: FlowEntry, actions: readonly OfAction[]): boolean {
  return formatActions(e.actions) === formatActions(actions);
}

export { FlowEntry };
