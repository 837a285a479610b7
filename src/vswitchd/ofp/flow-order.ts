/*
 * A table's flows in dump order (priority highest first, then oldest first), kept as flows come
 * and go, with each flow's constant FlowStats bytes (wire-flow-const.ts) cached beside it. Owned
 * by FlowTable (flow-table.ts), which calls add/remove/update on every change; read by the flow
 * stats reply (ofmgmt-stats.ts, wire-flow-stats.ts). Control path: per flow mod and per dump.
 *
 * Design: one run per priority; a run holds its entries in insertion (seq) order, so a run is
 * appended to and never sorted, and the runs in priority order (sorted when first read after
 * one came or went: few, next to the flows) give the dump order with no sort of the flows
 * (sorting 100k flows cost more than encoding them). A run's cached bytes lie in one buffer in
 * the same order, so a dump reads them front to back instead of chasing each flow's match and
 * actions around the heap (those cache misses were most of a 100k-flow dump). A removed flow
 * leaves a hole (null) and a modified one a dead copy; a run is compacted when half of it is
 * holes or dead bytes. Memory: the bytes (~55 for a typical 4-field match and one output) plus
 * 40 per flow of index (entry, actions and cookie references, offset and lengths), before the
 * slack of growing arrays.
 *
 * When: bytes are cached off the flow mod path, so add-flows does not pay for them: entries
 * added or modified wait in a queue, which a background task drains once flow mods have
 * stopped for a few ms (a batch per event loop turn), and a dump drains first (oldest first,
 * the order their matches and actions lie in memory, cheaper than the dump's order).
 *
 * Staleness: the cache is keyed by the entry's actions array and cookie; a reader finding
 * either changed (someone assigned them without update(), or they wait in the queue)
 * re-encodes, so bytes are never stale.
 */
import { ProtoWriter } from '../../lib/flowproto/pb-writer.js';
import type { OfAction } from './actions.js';
import type { FlowEntry } from './flow-table.js';
import { flowConstInto } from './wire-flow-const.js';

/** A record's length word: head length << 24 | body length. Bodies this long are not cached. */
const BODY_MAX = 1 << 24;
/** Length word of an entry without cached bytes. */
export const NOT_CACHED = -1;
/** Runs with fewer holes than this are never compacted (it would cost more than it frees). */
const COMPACT_MIN = 64;
/** The background task caches bytes once flow mods stopped for this long (ms)... */
const QUIET_MS = 3;
/** ...this many entries per event loop turn (a few ms). */
const BATCH = 8192;

/** The flows of one priority in one table, oldest first, with their cached constant bytes. */
export class FlowRun {
  readonly priority: number;
  /** Entries in seq order; null where one was removed. Indices are FlowEntry.statsAt. */
  entries: (FlowEntry | null)[];
  live = 1;
  /** The cached bytes: entries[i]'s are w.buf[pos[2i], pos[2i] + head + body). */
  w = new ProtoWriter(64);
  /**
   * Per entry two numbers: the offset of its bytes, and head << 24 | body (their lengths) or
   * NOT_CACHED. Pairs in one array (and keys below) because most runs are small and each array
   * costs its own allocation.
   */
  pos: number[];
  /** Per entry the actions array and cookie its bytes were encoded from (another: stale bytes). */
  keys: (readonly OfAction[] | bigint | null)[];
  /** Bytes of w no live record uses. */
  dead = 0;

  /** A run holding `first`, its first entry (arrays made to size: many runs stay this small). */
  constructor(first: FlowEntry) {
    this.priority = first.priority;
    this.entries = [first];
    this.pos = [0, NOT_CACHED];
    this.keys = [null, null];
    first.statsRun = this;
    first.statsAt = 0;
  }

  /** Appends `e` (the newest of its priority), its bytes not yet cached (see fresh()). */
  append(e: FlowEntry): void {
    const i = this.entries.length;
    this.entries.push(e);
    this.pos.push(0, NOT_CACHED);
    this.keys.push(null, null);
    this.live++;
    e.statsRun = this;
    e.statsAt = i;
  }

  /** Forgets entries[i]'s bytes (they become dead): the next fresh() encodes them again. */
  invalidate(i: number): void {
    const len = this.pos[2 * i + 1];
    if (len !== NOT_CACHED) this.dead += (len >>> 24) + (len & 0xffffff);
    this.pos[2 * i + 1] = NOT_CACHED;
    this.keys[2 * i] = null;
    this.keys[2 * i + 1] = null;
  }

  /** (Re-)encodes entries[i]'s bytes at the end of the buffer (any old copy becomes dead). */
  encode(i: number, e: FlowEntry): void {
    const w = this.w;
    const pos = this.pos;
    const old = pos[2 * i + 1];
    if (old !== NOT_CACHED) this.dead += (old >>> 24) + (old & 0xffffff);
    pos[2 * i + 1] = NOT_CACHED;
    this.keys[2 * i] = e.actions;
    this.keys[2 * i + 1] = e.cookie;
    const start = w.pos;
    let body: number;
    try {
      body = flowConstInto(w, e, e.subtable);
    } catch {
      // Left to the reader's uncached path, which reports the error where a dump would have.
      w.pos = start;
      return;
    }
    const bodyLen = w.pos - body;
    if (bodyLen >= BODY_MAX) {
      w.pos = start;
      return;
    }
    pos[2 * i] = start;
    pos[2 * i + 1] = ((body - start) << 24) | bodyLen;
  }

  /** Takes entries[i] out; returns true when the run should be compacted. */
  kill(i: number): boolean {
    const e = this.entries[i];
    if (e === null) return false;
    const len = this.pos[2 * i + 1];
    if (len !== NOT_CACHED) this.dead += (len >>> 24) + (len & 0xffffff);
    this.entries[i] = null;
    this.pos[2 * i + 1] = NOT_CACHED;
    this.keys[2 * i] = null;
    this.keys[2 * i + 1] = null;
    this.live--;
    e.statsRun = null;
    return this.wasteful();
  }

  /** More than half holes or dead bytes (and enough to be worth a copy). */
  wasteful(): boolean {
    const holes = this.entries.length - this.live;
    return (holes >= COMPACT_MIN && holes * 2 > this.entries.length) || (this.dead >= COMPACT_MIN * 64 && this.dead * 2 > this.w.pos);
  }

  /** Drops the holes and dead bytes: live entries move down (statsAt updated), bytes are copied, not re-encoded. */
  compact(): void {
    const entries: FlowEntry[] = [];
    const pos: number[] = [];
    const keys: (readonly OfAction[] | bigint | null)[] = [];
    const w = new ProtoWriter(Math.max(64, this.w.pos - this.dead));
    const src = this.w.buf;
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i];
      if (e === null) continue;
      const len = this.pos[2 * i + 1];
      e.statsAt = entries.length;
      entries.push(e);
      keys.push(this.keys[2 * i], this.keys[2 * i + 1]);
      pos.push(w.pos, len);
      if (len !== NOT_CACHED) {
        const size = (len >>> 24) + (len & 0xffffff);
        const from = this.pos[2 * i];
        w.ensure(size);
        src.copy(w.buf, w.pos, from, from + size);
        w.pos += size;
      }
    }
    this.entries = entries;
    this.pos = pos;
    this.keys = keys;
    this.w = w;
    this.dead = 0;
  }

  /**
   * The length word of `e`'s cached bytes (e.statsAt in this run; the offset is pos[2 *
   * statsAt]), re-encoding first when its actions or cookie changed since; NOT_CACHED when it
   * has none.
   */
  fresh(e: FlowEntry): number {
    const i = 2 * e.statsAt;
    if (this.keys[i] !== e.actions || this.keys[i + 1] !== e.cookie) this.encode(e.statsAt, e);
    return this.pos[i + 1];
  }
}

function isEntry(e: FlowEntry | null): e is FlowEntry {
  return e !== null;
}

/** The runs of one table, by priority. */
export class FlowOrder {
  private readonly byPriority = new Map<number, FlowRun>();
  /**
   * The runs, highest priority first; null after a run came or went, until the next reader
   * sorts them again (a dump, rarely: so that adding or removing flows of many distinct
   * priorities costs O(1) each rather than a splice into a sorted list).
   */
  private sorted: FlowRun[] | null = [];
  /** Entries added or modified since their bytes were last cached, oldest first (from pendingAt). */
  private pending: FlowEntry[] = [];
  private pendingAt = 0;
  /** Adds and modifies since the background task last looked (non-zero: flow mods are coming in). */
  private changes = 0;
  private armed = false;

  /** Adds `e`, which the classifier has just inserted (so it is the newest of its priority). */
  add(e: FlowEntry): void {
    this.changed(e);
    const run = this.byPriority.get(e.priority);
    if (run === undefined) {
      this.byPriority.set(e.priority, new FlowRun(e));
      this.sorted = null;
      return;
    }
    const es = run.entries;
    // The classifier numbers insertions in order, so this holds; kept true if it ever did not.
    let last = es.length - 1;
    while (last >= 0 && es[last] === null) last--;
    run.append(e);
    if (last >= 0 && es[last]!.seq > e.seq) this.reorder(run);
  }

  /** Takes `e` out (it was removed from the table). */
  remove(e: FlowEntry): void {
    const run = e.statsRun;
    if (run === null || this.byPriority.get(run.priority) !== run) return;
    const wasteful = run.kill(e.statsAt);
    if (run.live === 0) {
      this.byPriority.delete(run.priority);
      this.sorted = null;
    } else if (wasteful) {
      run.compact();
    }
  }

  /** The runs, highest priority first (a list kept until a run comes or goes: do not change it). */
  runs(): readonly FlowRun[] {
    if (this.sorted === null) this.sorted = [...this.byPriority.values()].sort((a, b) => b.priority - a.priority);
    return this.sorted;
  }

  /** Forgets `e`'s cached bytes after its actions or cookie changed (cached again later). */
  update(e: FlowEntry): void {
    const run = e.statsRun;
    if (run === null || this.byPriority.get(run.priority) !== run) return;
    run.invalidate(e.statsAt);
    this.changed(e);
    if (run.wasteful()) run.compact();
  }

  /** How many entries wait for their bytes to be cached (some may have gone since). */
  get pendingCount(): number {
    return this.pending.length - this.pendingAt;
  }

  /**
   * Caches the bytes of up to `limit` waiting entries, oldest first (the order their matches
   * and actions were made in, so mostly the order they lie in memory); returns how many still
   * wait. A dump calls it with Infinity first; the background task in batches.
   */
  encodePending(limit: number): number {
    const q = this.pending;
    let i = this.pendingAt;
    for (let done = 0; i < q.length && done < limit; i++) {
      const e = q[i];
      const run = e.statsRun;
      if (run === null || this.byPriority.get(run.priority) !== run) continue;
      run.fresh(e);
      done++;
    }
    if (i === q.length) {
      this.pending = [];
      this.pendingAt = 0;
      return 0;
    }
    this.pendingAt = i;
    return q.length - i;
  }

  private changed(e: FlowEntry): void {
    this.pending.push(e);
    this.changes++;
    if (!this.armed) this.arm();
  }

  private arm(): void {
    this.armed = true;
    setTimeout(this.tick, QUIET_MS).unref();
  }

  /**
   * The background task: while flow mods come in it only waits; once QUIET_MS passed without
   * one it caches waiting bytes a batch per event loop turn until none wait.
   */
  private readonly tick = (): void => {
    this.armed = false;
    if (this.changes > 0) {
      this.changes = 0;
      this.arm();
      return;
    }
    if (this.encodePending(BATCH) > 0) {
      this.armed = true;
      setImmediate(this.tick);
    }
  };

  /** Appends the entries to `out` in dump order (priority highest first, then oldest first). */
  orderedInto(out: FlowEntry[]): void {
    const runs = this.runs();
    for (let r = 0; r < runs.length; r++) {
      const es = runs[r].entries;
      for (let i = 0; i < es.length; i++) {
        const e = es[i];
        if (e !== null) out.push(e);
      }
    }
  }

  /**
   * Appends to `parts` one array per run, in dump order: a run's own entries array when it has
   * no holes (the caller must copy before the table changes), else its live entries.
   */
  runsInto(parts: FlowEntry[][]): void {
    const runs = this.runs();
    for (let r = 0; r < runs.length; r++) {
      const run = runs[r];
      parts.push(run.live === run.entries.length ? (run.entries as FlowEntry[]) : run.entries.filter(isEntry));
    }
  }

  /** Bytes held for cached records and index (for tests and sizing). */
  memoryBytes(): number {
    let n = 0;
    for (const r of this.byPriority.values()) n += r.w.buf.length + 5 * 8 * r.entries.length; // entries, pos (2), keys (2)
    return n;
  }

  private reorder(run: FlowRun): void {
    run.compact();
    const idx = run.entries.map((_, i) => i).sort((a, b) => run.entries[a]!.seq - run.entries[b]!.seq);
    run.entries = idx.map((i) => run.entries[i]!);
    run.pos = idx.flatMap((i) => [run.pos[2 * i], run.pos[2 * i + 1]]);
    run.keys = idx.flatMap((i) => [run.keys[2 * i], run.keys[2 * i + 1]]);
    run.entries.forEach((e, j) => (e!.statsAt = j));
  }
}
