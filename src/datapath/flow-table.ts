/*
 * The datapath's exact-match flow table: key (all KEY_WORDS words) → actions, with packet and
 * byte counters and creation/last-used times. lookup() is hot (once per received frame);
 * put/del/flush/dumps are control path (dpif messages from vswitchd and dpctl). Owned by the
 * Datapath; the pipeline reads `actions`, `packets`, `bytes`, `used` by flow id.
 *
 * Layout: flows live in a pool of parallel typed arrays indexed by a stable flow id (keys,
 * hashes, counters, times) with a free list; an open-addressing index (linear probing,
 * power-of-two size, load ≤ 1/2) maps a key's hash to flow ids, storing the full hash next to
 * the id so most non-matching probes are rejected without touching the key. Deletion uses
 * backward shifting, so there are no tombstones and probe chains stay as short as if the
 * deleted flows had never been there. Pool and index start small and double on put (control
 * path) up to what flow_limit needs, so an idle datapath does not hold 25 MB of empty table.
 *
 * Notes on performance: lookup compares the stored hash first, then the key words with an
 * early exit; each probe is two typed-array reads. Nothing on lookup allocates.
 */
import { KEY_WORDS } from '../lib/flow-key.js';
import { hashKey } from './hash.js';

export const DEFAULT_FLOW_LIMIT = 200000;
const MIN_POOL = 1024;
const EMPTY = -1;

export class FlowTable {
  /** Flows refused beyond this count (put returns -1). */
  limit: number;
  /** Live flows. */
  count = 0;
  /** Key of flow f at keys[f*KEY_WORDS ..]. */
  keys: Uint32Array;
  hashes: Uint32Array;
  packets: Float64Array;
  bytes: Float64Array;
  /** Last hit, ms since the epoch; 0 = never. */
  used: Float64Array;
  /** Install time, ms since the epoch. */
  created: Float64Array;
  /** Actions of flow f; null for a free id. */
  actions: (Int32Array | null)[];
  private free: Int32Array;
  private nFree = 0;
  /** Ids handed out so far (ids >= this were never used). */
  private hiWater = 0;
  private slots: Int32Array;
  private slotHash: Uint32Array;
  private mask: number;

  constructor(limit = DEFAULT_FLOW_LIMIT) {
    this.limit = limit;
    const pool = MIN_POOL;
    this.keys = new Uint32Array(pool * KEY_WORDS);
    this.hashes = new Uint32Array(pool);
    this.packets = new Float64Array(pool);
    this.bytes = new Float64Array(pool);
    this.used = new Float64Array(pool);
    this.created = new Float64Array(pool);
    this.actions = nullArray(pool, []);
    this.free = new Int32Array(pool);
    this.slots = new Int32Array(pool * 2).fill(EMPTY);
    this.slotHash = new Uint32Array(pool * 2);
    this.mask = pool * 2 - 1;
  }

  /** Pool size: flow ids are < capacity. */
  get capacity(): number {
    return this.hashes.length;
  }

  /** Flow id whose key equals keys[ko..], or -1. `hash` must be hashKey(keys, ko). Hot. */
  lookup(keys: Uint32Array, ko: number, hash: number): number {
    const slots = this.slots;
    const slotHash = this.slotHash;
    const fk = this.keys; // local copies: the loop must not re-read fields
    const mask = this.mask;
    let i = hash & mask;
    for (;;) {
      const f = slots[i];
      if (f === EMPTY) return -1;
      if (slotHash[i] === hash) {
        const b = f * KEY_WORDS;
        let w = 0;
        while (w < KEY_WORDS && fk[b + w] === keys[ko + w]) w++;
        if (w === KEY_WORDS) return f;
      }
      i = (i + 1) & mask;
    }
  }

  /**
   * Installs key → actions (the table keeps `actions`; do not reuse it). An existing flow gets
   * the new actions and keeps its counters. Returns the flow id, or -1 when at the limit.
   */
  put(key: Uint32Array, actions: Int32Array, now: number, ko = 0): number {
    const h = hashKey(key, ko);
    const found = this.lookup(key, ko, h);
    if (found >= 0) {
      this.actions[found] = actions;
      return found;
    }
    if (this.count >= this.limit) return -1;
    if (this.nFree === 0 && this.hiWater === this.capacity) this.growPool();
    if ((this.count + 1) * 2 > this.slots.length) this.rebuildIndex(this.slots.length * 2);
    const f = this.nFree > 0 ? this.free[--this.nFree] : this.hiWater++;
    this.keys.set(key.subarray(ko, ko + KEY_WORDS), f * KEY_WORDS);
    this.hashes[f] = h;
    this.packets[f] = 0;
    this.bytes[f] = 0;
    this.used[f] = 0;
    this.created[f] = now;
    this.actions[f] = actions;
    this.insertSlot(f, h);
    this.count++;
    return f;
  }

  /** Removes the flow with this key; false if there was none. */
  del(key: Uint32Array, ko = 0): boolean {
    const h = hashKey(key, ko);
    const f = this.lookup(key, ko, h);
    if (f < 0) return false;
    this.removeSlot(f, h);
    this.release(f);
    return true;
  }

  /** Removes every flow; returns how many there were. */
  flush(): number {
    const n = this.count;
    this.slots.fill(EMPTY);
    this.actions.fill(null);
    this.nFree = 0;
    this.hiWater = 0;
    this.count = 0;
    return n;
  }

  /** Ids of the live flows (control path: dumps). */
  flowIds(): number[] {
    const out: number[] = [];
    for (let f = 0; f < this.hiWater; f++) if (this.actions[f] !== null) out.push(f);
    return out;
  }

  /** A copy of flow f's key (control path). */
  keyOf(f: number): Uint32Array {
    return this.keys.slice(f * KEY_WORDS, (f + 1) * KEY_WORDS);
  }

  /** Longest probe sequence in the index (tests and diagnostics). */
  maxProbe(): number {
    let worst = 0;
    for (let i = 0; i < this.slots.length; i++) {
      if (this.slots[i] === EMPTY) continue;
      const d = (i - (this.slotHash[i] & this.mask)) & this.mask;
      if (d > worst) worst = d;
    }
    return worst + 1;
  }

  private insertSlot(f: number, h: number): void {
    const mask = this.mask;
    let i = h & mask;
    while (this.slots[i] !== EMPTY) i = (i + 1) & mask;
    this.slots[i] = f;
    this.slotHash[i] = h;
  }

  /** Backward-shift deletion: later entries of the cluster move up into the hole when their
   *  home slot does not lie cyclically between the hole and their current slot. */
  private removeSlot(f: number, h: number): void {
    const mask = this.mask;
    const slots = this.slots;
    let i = h & mask;
    while (slots[i] !== f) i = (i + 1) & mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (slots[j] === EMPTY) break;
      const home = this.slotHash[j] & mask;
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      slots[i] = slots[j];
      this.slotHash[i] = this.slotHash[j];
      i = j;
    }
    slots[i] = EMPTY;
  }

  private release(f: number): void {
    this.actions[f] = null;
    this.free[this.nFree++] = f;
    this.count--;
  }

  private growPool(): void {
    const n = this.capacity * 2;
    this.keys = grown(this.keys, n * KEY_WORDS);
    this.hashes = grown(this.hashes, n);
    this.packets = grown(this.packets, n);
    this.bytes = grown(this.bytes, n);
    this.used = grown(this.used, n);
    this.created = grown(this.created, n);
    this.free = grown(this.free, n);
    this.actions = nullArray(n, this.actions);
    if (this.slots.length < n * 2) this.rebuildIndex(n * 2);
  }

  private rebuildIndex(size: number): void {
    this.slots = new Int32Array(size).fill(EMPTY);
    this.slotHash = new Uint32Array(size);
    this.mask = size - 1;
    for (let f = 0; f < this.hiWater; f++) if (this.actions[f] !== null) this.insertSlot(f, this.hashes[f]);
  }
}

/** A larger copy of a typed array (control path: table growth). */
function grown<T extends Uint32Array | Int32Array | Float64Array>(a: T, len: number): T {
  const b = new (a.constructor as new (n: number) => T)(len);
  b.set(a);
  return b;
}

/** A packed array of `n` entries: `from`'s, then nulls (packed keeps the hot read cheap). */
function nullArray(n: number, from: (Int32Array | null)[]): (Int32Array | null)[] {
  const out: (Int32Array | null)[] = [];
  for (let i = 0; i < n; i++) out.push(i < from.length ? from[i] : null);
  return out;
}
