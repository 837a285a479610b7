/*
 * Flow stats replies straight from flow entries to protobuf bytes: the body of a
 * FlowStatsReply (repeated FlowStats) written field by field into one reused buffer, with no
 * FlowStats objects on the way; the bytes are exactly what flowStatsToWire (wire.ts) encodes
 * to. Per flow only the counters and times are encoded here: the rest (priority ... cookie,
 * match, instructions) is copied from the bytes its table caches for it (flow-order.ts; cached
 * here first if they are missing or stale), or encoded by wire-flow-const.ts for an entry no
 * longer in a table. Used by ofmgmt-stats.ts for dump-flows; hot for 100k-flow dumps.
 */
import { ProtoWriter, putVarint64 } from '../../lib/flowproto/pb-writer.js';
import { NOT_CACHED } from './flow-order.js';
import type { FlowEntry } from './flow-table.js';
import { flowConstInto, putUint } from './wire-flow-const.js';

const K_STATS = (1 << 3) | 2; // FlowStatsReply.stats

/** Most bytes written before the head: key and length, table and duration (3 uint32 fields). */
const FIXED_MAX = 2 + 3 * 6;
/** Most bytes of the counters (2 uint64 fields) and of the two ages (2 uint32 fields). */
const COUNTERS_MAX = 2 * 11;
const AGES_MAX = 2 * 6;
const TWO32 = 4294967296;

/** Key and uint64 value (a non-negative safe integer) at buf[p] unless 0; returns the end. */
function putUint64(buf: Buffer, p: number, key: number, v: number): number {
  if (v === 0) return p;
  buf[p] = key;
  return putVarint64(buf, p + 1, v >>> 0, Math.floor(v / TWO32));
}

/**
 * Reads what encoding an entry reads first, for a run of entries, in one tight loop whose
 * iterations do not depend on each other, so the CPU overlaps their cache misses (the entries
 * of a big table lie scattered in the heap, and the encoding loop itself would wait for each
 * miss in turn). Returns a sum so the reads are not optimized away.
 */
function touch(entries: readonly FlowEntry[], start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i++) {
    const e = entries[i];
    sum += e.created + e.used + e.statsAt;
  }
  return sum;
}

export class FlowStatsEncoder {
  private readonly w = new ProtoWriter(1 << 20);
  /** The constant bytes of an entry without cached ones, encoded for the moment. */
  private readonly scratch = new ProtoWriter(1 << 12);
  /** What touch() returned last (kept so the reads stay). */
  touched = 0;

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

  /**
   * One FlowStats: table and duration, the cached head (priority ... cookie), the counters,
   * the cached body (match, instructions), the ages. Field order and presence as the schema
   * codec writes flowStatsToWire's object (proto3: zeros are not sent).
   */
  private flow(e: FlowEntry, now: number): void {
    const run = e.statsRun;
    let len = run === null ? NOT_CACHED : run.fresh(e);
    let src: Buffer;
    let s: number;
    if (len !== NOT_CACHED) {
      src = run!.w.buf;
      s = run!.pos[2 * e.statsAt];
    } else {
      const sc = this.scratch;
      sc.reset();
      const body = flowConstInto(sc, e, null);
      len = (body << 24) | (sc.pos - body);
      src = sc.buf;
      s = 0;
    }
    const head = len >>> 24;
    const body = len & 0xffffff;
    const w = this.w;
    w.ensure(FIXED_MAX + head + COUNTERS_MAX + body + AGES_MAX);
    const buf = w.buf;
    let p = w.pos;
    buf[p++] = K_STATS;
    const mark = p++; // length, patched by end()
    const age = Math.max(0, now - e.created);
    p = putUint(buf, p, 1 << 3, e.table);
    p = putUint(buf, p, 2 << 3, Math.floor(age / 1000));
    p = putUint(buf, p, 3 << 3, Math.floor(age % 1000) * 1e6);
    for (let k = 0; k < head; k++) buf[p++] = src[s++];
    p = putUint64(buf, p, 10 << 3, e.packets);
    p = putUint64(buf, p, 11 << 3, e.bytes);
    for (let k = 0; k < body; k++) buf[p++] = src[s++];
    p = putUint(buf, p, 14 << 3, Math.floor(Math.max(0, now - e.used) / 1000));
    p = putUint(buf, p, 15 << 3, Math.floor(Math.max(0, now - e.modified) / 1000));
    w.pos = p;
    w.end(mark);
  }
}
