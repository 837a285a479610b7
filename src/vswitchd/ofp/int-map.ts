/*
 * Open-addressing hash maps keyed by already-mixed 30-bit integers (the classifier's hashes),
 * in typed arrays: linear probing, power-of-two capacity kept at most half full, deletion by
 * backward shift (no tombstones). IntCounts counts keys (the classifier's stage sets);
 * IntBuckets maps a key to an array of values (its rule buckets). Owned by classifier.ts; get
 * and has run per classifier lookup and allocate nothing.
 *
 * Notes on performance: a JS Map costs ~60 ns per get at 100k keys; a probe here is a masked
 * index and one or two typed-array reads, which matters because a lookup makes several per
 * subtable.
 */

const EMPTY = -1;
const MIN_CAP = 8;

class Table {
  keys: Int32Array;
  mask: number;
  size = 0;
  constructor(cap: number) {
    this.keys = new Int32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
  }
  /** Slot of `k`, or -1. */
  find(k: number): number {
    const keys = this.keys;
    const mask = this.mask;
    let i = k & mask;
    for (;;) {
      const x = keys[i];
      if (x === k) return i;
      if (x === EMPTY) return -1;
      i = (i + 1) & mask;
    }
  }
  /** Slot where `k` is or would go. */
  slot(k: number): number {
    const keys = this.keys;
    const mask = this.mask;
    let i = k & mask;
    while (keys[i] !== EMPTY && keys[i] !== k) i = (i + 1) & mask;
    return i;
  }
}

/** Moves later entries of the probe run back over the slot freed at `i` (`move(from, to)`). */
function backShift(t: Table, i: number, move: (from: number, to: number) => void): void {
  const keys = t.keys;
  const mask = t.mask;
  keys[i] = EMPTY;
  let hole = i;
  let j = i;
  for (;;) {
    j = (j + 1) & mask;
    const k = keys[j];
    if (k === EMPTY) return;
    const home = k & mask;
    // Move k into the hole if its home is not cyclically within (hole, j].
    if (hole <= j ? home <= hole || home > j : home <= hole && home > j) {
      keys[hole] = k;
      keys[j] = EMPTY;
      move(j, hole);
      hole = j;
    }
  }
}

/** Counts of 30-bit keys. */
export class IntCounts {
  private t = new Table(MIN_CAP);
  private counts = new Int32Array(MIN_CAP);

  get size(): number {
    return this.t.size;
  }

  has(k: number): boolean {
    return this.t.find(k) >= 0;
  }

  add(k: number): void {
    if ((this.t.size + 1) * 2 > this.t.keys.length) this.grow();
    const i = this.t.slot(k);
    if (this.t.keys[i] === EMPTY) {
      this.t.keys[i] = k;
      this.counts[i] = 0;
      this.t.size++;
    }
    this.counts[i]++;
  }

  /** Drops one count of `k` (the key goes at zero). */
  remove(k: number): void {
    const i = this.t.find(k);
    if (i < 0) return;
    if (--this.counts[i] > 0) return;
    this.t.size--;
    const c = this.counts;
    backShift(this.t, i, (from, to) => {
      c[to] = c[from];
    });
  }

  private grow(): void {
    const old = this.t;
    const oldCounts = this.counts;
    this.t = new Table(old.keys.length * 2);
    this.counts = new Int32Array(old.keys.length * 2);
    for (let i = 0; i < old.keys.length; i++) {
      if (old.keys[i] === EMPTY) continue;
      const j = this.t.slot(old.keys[i]);
      this.t.keys[j] = old.keys[i];
      this.counts[j] = oldCounts[i];
    }
    this.t.size = old.size;
  }
}

/** 30-bit key -> array of values. */
export class IntBuckets<V> {
  private t = new Table(MIN_CAP);
  private vals: (V[] | undefined)[] = new Array<V[] | undefined>(MIN_CAP).fill(undefined);

  get size(): number {
    return this.t.size;
  }

  get(k: number): V[] | undefined {
    const i = this.t.find(k);
    return i < 0 ? undefined : this.vals[i];
  }

  set(k: number, v: V[]): void {
    if ((this.t.size + 1) * 2 > this.t.keys.length) this.grow();
    const i = this.t.slot(k);
    if (this.t.keys[i] === EMPTY) {
      this.t.keys[i] = k;
      this.t.size++;
    }
    this.vals[i] = v;
  }

  delete(k: number): void {
    const i = this.t.find(k);
    if (i < 0) return;
    this.t.size--;
    const vals = this.vals;
    vals[i] = undefined;
    backShift(this.t, i, (from, to) => {
      vals[to] = vals[from];
      vals[from] = undefined;
    });
  }

  /** Appends every value of every array to `out` (no particular order); returns `out`. */
  collect(out: V[]): V[] {
    const vals = this.vals;
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i];
      if (v !== undefined) for (let j = 0; j < v.length; j++) out.push(v[j]);
    }
    return out;
  }

  /** Every value array, in no particular order. */
  *values(): IterableIterator<V[]> {
    for (let i = 0; i < this.vals.length; i++) {
      const v = this.vals[i];
      if (v !== undefined) yield v;
    }
  }

  private grow(): void {
    const old = this.t;
    const oldVals = this.vals;
    this.t = new Table(old.keys.length * 2);
    this.vals = new Array<V[] | undefined>(old.keys.length * 2).fill(undefined);
    for (let i = 0; i < old.keys.length; i++) {
      if (old.keys[i] === EMPTY) continue;
      const j = this.t.slot(old.keys[i]);
      this.t.keys[j] = old.keys[i];
      this.vals[j] = oldVals[i];
    }
    this.t.size = old.size;
  }
}
