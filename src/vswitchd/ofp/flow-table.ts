/*
 * One OpenFlow table: its flow entries in a classifier, with OpenFlow 1.3's flow mod semantics
 * (add replaces an identical match and priority, check_overlap refuses overlaps, modify and
 * delete in strict and non-strict forms, cookie masks, out_port), timeouts, counters and
 * table statistics. Owned by tables.ts, which validates flow mods first and fans out
 * "all tables" requests. lookup() runs per upcall; everything else per flow mod. A packet that
 * matches nothing is a table miss: lookup returns null and the pipeline drops it (OpenFlow 1.3),
 * unless a table-miss entry (priority 0, matching everything) says otherwise.
 */
import { OFPET_FLOW_MOD_FAILED, OFPFMFC_OVERLAP, OFPFMFC_TABLE_FULL } from '../../lib/flowproto/error-codes.js';
import { actionsOutputTo, type OfAction } from './actions.js';
import { Classifier, ClsRule } from './classifier.js';
import { OfpError } from './errors.js';
import { FlowOrder, type FlowRun } from './flow-order.js';
import { OFPFF_CHECK_OVERLAP, OFPFF_RESET_COUNTS, type FlowMod } from './flow-syntax.js';
import { OFPP_ANY } from './layout.js';
import type { Match } from './match.js';

/** Why a flow entry left its table (OpenFlow 1.3 ofp_flow_removed_reason). */
export const OFPRR_IDLE_TIMEOUT = 0;
export const OFPRR_HARD_TIMEOUT = 1;
export const OFPRR_DELETE = 2;

export class FlowEntry extends ClsRule {
  readonly table: number;
  cookie: bigint;
  actions: OfAction[];
  readonly idleTimeout: number;
  readonly hardTimeout: number;
  readonly flags: number;
  readonly importance: number;
  /** When it was installed (ms): its duration counts from here. */
  readonly created: number;
  /** When it was installed or last modified (ms): the hard timeout counts from here, as in OVS. */
  modified: number;
  /** Last time a packet matched it (ms; `created` until then): the idle timeout counts from here. */
  used: number;
  packets = 0;
  bytes = 0;
  /** Internal (flow-order.ts): the run of its table's dump order holding it, and its index there. */
  statsRun: FlowRun | null = null;
  statsAt = 0;

  constructor(table: number, match: Match, fm: FlowMod, now: number) {
    super(match, fm.priority);
    this.table = table;
    this.cookie = fm.command === 'add' ? fm.cookie : (fm.newCookie ?? 0n);
    this.actions = fm.actions;
    this.idleTimeout = fm.idleTimeout;
    this.hardTimeout = fm.hardTimeout;
    this.flags = fm.flags;
    this.importance = fm.importance;
    this.created = now;
    this.modified = now;
    this.used = now;
  }

  /** When the entry expires (ms since the epoch), Infinity if never; and by which timeout. */
  expiry(): { at: number; reason: number } {
    const hard = this.hardTimeout ? this.modified + this.hardTimeout * 1000 : Infinity;
    const idle = this.idleTimeout ? this.used + this.idleTimeout * 1000 : Infinity;
    return hard <= idle ? { at: hard, reason: OFPRR_HARD_TIMEOUT } : { at: idle, reason: OFPRR_IDLE_TIMEOUT };
  }
}

/** What a flow mod did, so the caller can send flow-removed and monitor messages. */
export interface FlowModResult {
  added: FlowEntry[];
  /** Entries an add replaced (same match and priority): no flow-removed is sent for these. */
  replaced: FlowEntry[];
  modified: FlowEntry[];
  /** Entries removed, with why (OFPRR_*). */
  removed: { entry: FlowEntry; reason: number }[];
}

export function emptyResult(): FlowModResult {
  return { added: [], replaced: [], modified: [], removed: [] };
}

/** Selection of entries for modify, delete and statistics. */
export interface FlowFilter {
  match: Match;
  /** Only with `strict`: the priority the entry must have. */
  priority: number;
  strict: boolean;
  cookie: bigint;
  cookieMask: bigint;
  /** OFPP_ANY: no filter. */
  outPort: number;
}

export const DEFAULT_MAX_ENTRIES = 1_000_000;

export class FlowTable {
  readonly id: number;
  readonly cls = new Classifier<FlowEntry>();
  /** The entries in dump order, with their constant stats bytes (flow-order.ts). */
  readonly order = new FlowOrder();
  /** Lookups done in this table and how many found an entry (table statistics). */
  lookupCount = 0;
  matchedCount = 0;
  maxEntries = DEFAULT_MAX_ENTRIES;
  /** Entries with an idle or hard timeout. */
  private readonly timed = new Set<FlowEntry>();

  constructor(id: number) {
    this.id = id;
  }

  get count(): number {
    return this.cls.count;
  }

  /** The entry for `flow` (OF_WORDS), un-wildcarding into `wc` (see classifier.ts). */
  lookup(flow: Uint32Array, wc: Uint32Array | null, count = true): FlowEntry | null {
    const e = this.cls.lookup(flow, wc);
    if (count) {
      this.lookupCount++;
      if (e !== null) this.matchedCount++;
    }
    return e;
  }

  /** OFPFC_ADD into this table. Throws OfpError (OVERLAP, TABLE_FULL). */
  add(fm: FlowMod, now: number, res: FlowModResult): FlowEntry {
    const old = this.cls.findExact(fm.match, fm.priority);
    if ((fm.flags & OFPFF_CHECK_OVERLAP) !== 0 && this.cls.findOverlap(fm.match, fm.priority) !== null) {
      throw new OfpError(OFPET_FLOW_MOD_FAILED, OFPFMFC_OVERLAP, `table ${this.id}: the flow overlaps an existing flow of priority ${fm.priority}`);
    }
    if (old === null && this.cls.count >= this.maxEntries) {
      throw new OfpError(OFPET_FLOW_MOD_FAILED, OFPFMFC_TABLE_FULL, `table ${this.id} is full (${this.maxEntries} flows)`);
    }
    const e = new FlowEntry(this.id, fm.match.clone(), fm, now);
    if (old !== null) {
      // OpenFlow 1.3: the old entry goes (duration restarts); counters carry over unless reset_counts.
      if ((fm.flags & OFPFF_RESET_COUNTS) === 0) {
        e.packets = old.packets;
        e.bytes = old.bytes;
      }
      this.unlink(old);
      res.replaced.push(old);
    }
    this.cls.insert(e);
    this.order.add(e);
    if (e.idleTimeout || e.hardTimeout) this.timed.add(e);
    res.added.push(e);
    return e;
  }

  /** Entries `f` selects (strict: same match and priority; else every entry it covers). */
  select(f: FlowFilter): FlowEntry[] {
    let found: FlowEntry[];
    if (f.strict) {
      const e = this.cls.findExact(f.match, f.priority);
      found = e === null ? [] : [e];
    } else {
      found = f.match.isCatchAll() ? this.cls.rules() : this.cls.covered(f.match);
    }
    if (f.cookieMask === 0n && f.outPort === OFPP_ANY) return found;
    return found.filter((e) => ((e.cookie ^ f.cookie) & f.cookieMask) === 0n && (f.outPort === OFPP_ANY || actionsOutputTo(e.actions, f.outPort)));
  }

  /** Applies a modify to already selected (and checked) entries. */
  modify(entries: FlowEntry[], fm: FlowMod, now: number, res: FlowModResult): void {
    for (const e of entries) {
      e.actions = fm.actions;
      if (fm.newCookie !== null) e.cookie = fm.newCookie;
      if ((fm.flags & OFPFF_RESET_COUNTS) !== 0) {
        e.packets = 0;
        e.bytes = 0;
      }
      e.modified = now;
      this.order.update(e);
      res.modified.push(e);
    }
  }

  /** Removes entries, recording `reason`. */
  remove(entries: FlowEntry[], reason: number, res: FlowModResult): void {
    for (const e of entries) {
      if (this.unlink(e)) res.removed.push({ entry: e, reason });
    }
  }

  private unlink(e: FlowEntry): boolean {
    this.timed.delete(e);
    if (!this.cls.remove(e)) return false;
    this.order.remove(e);
    return true;
  }

  /**
   * Every entry appended to `out` in dump order: priority highest first, then oldest first
   * (OfTables.select's order, without a sort).
   */
  orderedInto(out: FlowEntry[]): void {
    this.order.orderedInto(out);
  }

  /** Caches the stats bytes of every entry still waiting for them (before a dump: see flow-order.ts). */
  prepareStats(): void {
    if (this.order.pendingCount > 0) this.order.encodePending(Infinity);
  }

  /** The entries in dump order, as arrays to concatenate (FlowOrder.runsInto: copy them before the table changes). */
  orderedRunsInto(parts: FlowEntry[][]): void {
    this.order.runsInto(parts);
  }

  /** Removes entries whose idle or hard timeout passed at `now`. */
  expire(now: number, res: FlowModResult): void {
    for (const e of this.timed) {
      const { at, reason } = e.expiry();
      if (now >= at) {
        this.unlink(e);
        res.removed.push({ entry: e, reason });
      }
    }
  }

  /** The earliest expiry time of any entry (ms), Infinity if none: when to call expire(). */
  nextExpiry(): number {
    let t = Infinity;
    for (const e of this.timed) t = Math.min(t, e.expiry().at);
    return t;
  }
}
