/*
 * The megaflow cache: the datapath's wildcarded flows, (key & mask) → actions, with packet and
 * byte counters and creation/last-used times. lookup() is hot (every frame the exact-match
 * cache in emc.ts missed); put/del/flush/dump iteration are control path (dpif messages).
 * Owned by the Datapath; the pipeline reads `actions`, `packets`, `bytes`, `used`, `gen` by id.
 *
 * Design (tuple-space search, like Open vSwitch's dpcls): flows are grouped in subtables, one
 * per distinct mask (subtable.ts: an open-addressing hash over the masked key that precomputes
 * the list of words its mask does not wildcard, so a probe hashes and compares only those). A
 * lookup tries the subtables in rank order and returns the first match; vswitchd installs
 * overlapping megaflows only with the same actions, so which one matches does not matter.
 * Subtables are ranked by hits: each hit bumps its subtable's counter, and rerank() (called by
 * the Datapath once a second, never per packet) sorts them by the hits since the last ranking,
 * so the busiest masks are tried first. An emptied subtable is removed at once.
 *
 * Flows live in a pool of parallel typed arrays indexed by a stable flow id with a free list;
 * `gen[f]` is bumped whenever id f is freed, which is how the exact-match cache tells a live
 * entry from one pointing at a deleted (or reused) flow. Pool and indexes start small and
 * double on put, up to what the flow limit needs. A flow's identity is (masked key, mask):
 * putting the same pair again replaces its actions and keeps its counters.
 *
 * Notes on performance: a probe is one hashMasked() over the mask's nonzero words, then per
 * slot a stored-hash compare before any key word; nothing on lookup allocates. The flow arrays
 * are read through locals, and can be replaced only by put (between batches). put/find/del
 * find a mask's subtable by a hash of the whole mask (the last one used is tried first: a burst
 * of upcalls installs flows of one or two masks), without building a string or any object.
 */
import { KEY_WORDS } from '../lib/flow-key.js';
import { murmurFinish, murmurMix } from '../lib/murmur.js';
import { hashMasked } from './hash.js';
import { EMPTY, Subtable } from './subtable.js';

export { Subtable };
export const DEFAULT_FLOW_LIMIT = 200000;
const MIN_POOL = 1024;

/** Hash of a whole mask: the key subtables are found by on put, find and del (exported for tests). */
export function maskHashOf(mask: Uint32Array, mo: number): number {
  let h = 0x3c6ef372;
  for (let i = 0; i < KEY_WORDS; i++) h = murmurMix(h, mask[mo + i]);
  return murmurFinish(h);
}

function sameMask(a: Uint32Array, b: Uint32Array, bo: number): boolean {
  for (let i = 0; i < KEY_WORDS; i++) if (a[i] !== b[bo + i]) return false;
  return true;
}

export class MegaflowTable {
  /** Puts of new flows beyond this count are refused (put returns -1). */
  limit: number;
  /** Live flows. */
  count = 0;
  /** Masked key of flow f at keys[f*KEY_WORDS ..]. */
  keys: Uint32Array;
  /** Hash of flow f in its subtable. */
  hashes: Uint32Array;
  /** Subtable id of flow f. */
  subOf: Int32Array;
  /** Bumped each time id f is freed (exact-match cache validation). */
  gen: Uint32Array;
  packets: Float64Array;
  bytes: Float64Array;
  /** Last hit, ms since the epoch; 0 = never. */
  used: Float64Array;
  /** Install time, ms since the epoch. */
  created: Float64Array;
  /** Actions of flow f; null for a free id. */
  actions: (Int32Array | null)[];
  /** Subtables visited by the last lookup() (the caller adds it to its mask-lookup counter). */
  lastProbes = 0;
  /** Whether the last successful put() created a flow (false: it replaced one's actions). */
  putCreated = false;
  /** Subtables in search order (always an objectArray: see there). */
  private ranked: Subtable[] = objectArray([]);
  private readonly subtables: (Subtable | null)[] = [];
  /** Subtables by maskHashOf (a list: two masks may share a hash). */
  private readonly byMask = new Map<number, Subtable[]>();
  /** The subtable the last put/find used: a burst of puts mostly shares one mask. */
  private lastSub: Subtable | null = null;
  private free: Int32Array;
  private nFree = 0;
  /** Ids handed out so far (ids >= this were never used). */
  private hiWater = 0;
  private readonly scratch = new Uint32Array(KEY_WORDS);

  constructor(limit = DEFAULT_FLOW_LIMIT) {
    this.limit = limit;
    const pool = MIN_POOL;
    this.keys = new Uint32Array(pool * KEY_WORDS);
    this.hashes = new Uint32Array(pool);
    this.subOf = new Int32Array(pool);
    this.gen = new Uint32Array(pool);
    this.packets = new Float64Array(pool);
    this.bytes = new Float64Array(pool);
    this.used = new Float64Array(pool);
    this.created = new Float64Array(pool);
    this.actions = nullArray(pool, []);
    this.free = new Int32Array(pool);
  }

  /** Pool size: flow ids are < capacity. */
  get capacity(): number {
    return this.hashes.length;
  }

  /** Number of subtables (distinct masks). */
  get nSubtables(): number {
    return this.ranked.length;
  }

  /** Flow id of the first flow (in rank order) matching the key at keys[ko..], or -1. Hot. */
  lookup(keys: Uint32Array, ko: number): number {
    const ranked = this.ranked; // locals: the loop must not re-read fields
    const n = ranked.length;
    const fk = this.keys;
    for (let r = 0; r < n; r++) {
      const st = ranked[r];
      const mask = st.mask;
      const words = st.words;
      const nw = st.nWords;
      const h = hashMasked(keys, ko, mask, words, nw);
      const slots = st.slots;
      const slotHash = st.slotHash;
      const sm = st.slotMask;
      let i = h & sm;
      for (;;) {
        const f = slots[i];
        if (f === EMPTY) break;
        if (slotHash[i] === h) {
          const b = f * KEY_WORDS;
          let j = 0;
          while (j < nw) {
            const w = words[j];
            if (((keys[ko + w] & mask[w]) >>> 0) !== fk[b + w]) break;
            j++;
          }
          if (j === nw) {
            st.hits++;
            this.lastProbes = r + 1;
            return f;
          }
        }
        i = (i + 1) & sm;
      }
    }
    this.lastProbes = n;
    return -1;
  }

  /**
   * Installs (key & mask) → actions (the table keeps `actions`; do not reuse it). An existing
   * flow with the same masked key and mask gets the new actions and keeps its counters
   * (putCreated = false). Returns the flow id, or -1 when a new flow would exceed the limit.
   */
  put(key: Uint32Array, mask: Uint32Array, actions: Int32Array, now: number, ko = 0, mo = 0): number {
    let st = this.subtableOf(mask, mo);
    if (st !== undefined) {
      const found = st.find(key, ko, this.keys);
      if (found >= 0) {
        this.actions[found] = actions;
        this.putCreated = false;
        return found;
      }
    }
    if (this.count >= this.limit) return -1;
    if (st === undefined) st = this.addSubtable(mask, mo);
    if (this.nFree === 0 && this.hiWater === this.capacity) this.growPool();
    if ((st.count + 1) * 2 > st.slots.length) st.resize(st.slots.length * 2);
    const f = this.nFree > 0 ? this.free[--this.nFree] : this.hiWater++;
    const b = f * KEY_WORDS;
    for (let i = 0; i < KEY_WORDS; i++) this.keys[b + i] = (key[ko + i] & st.mask[i]) >>> 0;
    const h = st.hash(key, ko);
    this.hashes[f] = h;
    this.subOf[f] = st.id;
    this.packets[f] = 0;
    this.bytes[f] = 0;
    this.used[f] = 0;
    this.created[f] = now;
    this.actions[f] = actions;
    st.insert(f, h);
    st.count++;
    this.count++;
    this.putCreated = true;
    return f;
  }

  /** Id of the flow with this masked key and exactly this mask, or -1. Control path. */
  find(key: Uint32Array, mask: Uint32Array, ko = 0, mo = 0): number {
    const st = this.subtableOf(mask, mo);
    return st === undefined ? -1 : st.find(key, ko, this.keys);
  }

  /** The subtable of exactly this mask, if there is one. No allocation. */
  private subtableOf(mask: Uint32Array, mo: number): Subtable | undefined {
    const last = this.lastSub;
    if (last !== null && sameMask(last.mask, mask, mo)) return last;
    const list = this.byMask.get(maskHashOf(mask, mo));
    if (list === undefined) return undefined;
    for (let i = 0; i < list.length; i++) {
      if (sameMask(list[i].mask, mask, mo)) {
        this.lastSub = list[i];
        return list[i];
      }
    }
    return undefined;
  }

  /** Removes the flow with this masked key and mask; false if there was none. */
  del(key: Uint32Array, mask: Uint32Array, ko = 0, mo = 0): boolean {
    const f = this.find(key, mask, ko, mo);
    if (f < 0) return false;
    this.delFlow(f);
    return true;
  }

  /** Removes flow f (a live id). */
  delFlow(f: number): void {
    const st = this.subtables[this.subOf[f]] as Subtable;
    st.remove(f, this.hashes[f]);
    st.count--;
    this.actions[f] = null;
    this.gen[f] = (this.gen[f] + 1) >>> 0;
    this.free[this.nFree++] = f;
    this.count--;
    if (st.count === 0) this.removeSubtable(st);
  }

  /** Removes every flow and subtable; returns how many flows there were. */
  flush(): number {
    const n = this.count;
    for (let f = 0; f < this.hiWater; f++) {
      if (this.actions[f] !== null) this.gen[f] = (this.gen[f] + 1) >>> 0;
      this.actions[f] = null;
    }
    for (const st of this.ranked.slice()) this.removeSubtable(st);
    this.nFree = 0;
    this.hiWater = 0;
    this.count = 0;
    return n;
  }

  /** The first live flow id >= from, or -1 (control path: dumps walk the ids in order). */
  nextFlow(from: number): number {
    for (let f = from < 0 ? 0 : from; f < this.hiWater; f++) if (this.actions[f] !== null) return f;
    return -1;
  }

  /** Ids of the live flows (control path, tests). */
  flowIds(): number[] {
    const out: number[] = [];
    for (let f = this.nextFlow(0); f >= 0; f = this.nextFlow(f + 1)) out.push(f);
    return out;
  }

  /** The mask of flow f (its subtable's; do not modify). */
  maskOf(f: number): Uint32Array {
    return (this.subtables[this.subOf[f]] as Subtable).mask;
  }

  /** A copy of flow f's masked key (control path). */
  keyOf(f: number): Uint32Array {
    return this.keys.slice(f * KEY_WORDS, (f + 1) * KEY_WORDS);
  }

  /** The subtables in search order (diagnostics, tests). */
  subtableList(): readonly Subtable[] {
    return this.ranked;
  }

  /** Hits of all subtables, counted and not yet ranked (for dp_stats). */
  totalSubtableHits(): number {
    let n = 0;
    for (const st of this.ranked) n += st.hits + st.pastHits;
    return n;
  }

  /**
   * Re-sorts the subtables by hits since the last call, busiest first (ties keep their order),
   * and starts counting again. Control path: the Datapath calls it once a second.
   */
  rerank(): void {
    const list = this.ranked.slice();
    list.sort((a, b) => b.hits - a.hits);
    for (const st of list) {
      st.pastHits += st.hits;
      st.hits = 0;
    }
    this.ranked = objectArray(list);
  }

  /** Longest probe sequence over all subtables (tests and diagnostics). */
  maxProbe(): number {
    let worst = 0;
    for (const st of this.ranked) worst = Math.max(worst, st.maxProbe());
    return worst;
  }

  private addSubtable(mask: Uint32Array, mo: number): Subtable {
    let sid = this.subtables.indexOf(null);
    if (sid < 0) {
      sid = this.subtables.length;
      this.subtables.push(null);
    }
    const m = this.scratch;
    for (let i = 0; i < KEY_WORDS; i++) m[i] = mask[mo + i];
    const st = new Subtable(sid, m.slice(), maskHashOf(m, 0));
    this.subtables[sid] = st;
    const list = this.byMask.get(st.maskHash);
    if (list === undefined) this.byMask.set(st.maskHash, [st]);
    else list.push(st);
    this.lastSub = st;
    this.ranked = objectArray(this.ranked, st); // a new array: a running lookup keeps its own
    return st;
  }

  private removeSubtable(st: Subtable): void {
    this.subtables[st.id] = null;
    const list = this.byMask.get(st.maskHash) as Subtable[];
    if (list.length === 1) this.byMask.delete(st.maskHash);
    else list.splice(list.indexOf(st), 1);
    if (this.lastSub === st) this.lastSub = null;
    this.ranked = objectArray(this.ranked.filter((s) => s !== st));
  }

  private growPool(): void {
    const n = this.capacity * 2;
    this.keys = grown(this.keys, n * KEY_WORDS);
    this.hashes = grown(this.hashes, n);
    this.subOf = grown(this.subOf, n);
    this.gen = grown(this.gen, n);
    this.packets = grown(this.packets, n);
    this.bytes = grown(this.bytes, n);
    this.used = grown(this.used, n);
    this.created = grown(this.created, n);
    this.free = grown(this.free, n);
    this.actions = nullArray(n, this.actions);
  }
}

/** A larger copy of a typed array (control path: table growth). */
function grown<T extends Uint32Array | Int32Array | Float64Array>(a: T, len: number): T {
  const b = new (a.constructor as new (n: number) => T)(len);
  b.set(a);
  return b;
}

/**
 * A copy of `list` (plus `extra`) in an array whose elements kind holds objects even when it is
 * empty. An empty `[]` (or filter() that keeps nothing) is an array of small integers, another
 * map than a filled one: lookup(), optimised for one, was thrown back to the interpreter
 * ("wrong map") each time the table emptied (flows expiring after an idle spell) or refilled.
 */
function objectArray(list: readonly Subtable[], extra?: Subtable): Subtable[] {
  const out: (Subtable | null)[] = [null];
  out.pop();
  for (let i = 0; i < list.length; i++) out.push(list[i]);
  if (extra !== undefined) out.push(extra);
  return out as Subtable[];
}

/** A packed array of `n` entries: `from`'s, then nulls (packed keeps the hot read cheap). */
function nullArray(n: number, from: (Int32Array | null)[]): (Int32Array | null)[] {
  const out: (Int32Array | null)[] = [];
  for (let i = 0; i < n; i++) out.push(i < from.length ? from[i] : null);
  return out;
}
