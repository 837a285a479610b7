import { describe, expect, it } from 'vitest';
import { hashKey, hashMasked } from '../../../src/datapath/hash.js';
import { MegaflowTable, maskHashOf } from '../../../src/datapath/megaflow.js';
import { KEY_WORDS } from '../../../src/lib/flow-key.js';
import { exactMask } from '../../../src/lib/flow-mask.js';

function key(n: number, salt = 0): Uint32Array {
  const k = new Uint32Array(KEY_WORDS);
  k[0] = 1 + (n % 7);
  k[5] = n;
  k[9] = salt;
  return k;
}
const acts = (port: number): Int32Array => Int32Array.from([1, port]);

function lcg(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s >>> 8) % n;
  };
}

function wordsOf(mask: Uint32Array): Int32Array {
  const w: number[] = [];
  for (let i = 0; i < KEY_WORDS; i++) if (mask[i] !== 0) w.push(i);
  return Int32Array.from(w);
}

describe('hashes', () => {
  it('hashKey depends on every word and spreads sequential keys', () => {
    const base = key(1);
    const h0 = hashKey(base, 0);
    for (let w = 0; w < KEY_WORDS; w++) {
      const k = base.slice();
      k[w] ^= 1;
      expect(hashKey(k, 0)).not.toBe(h0);
    }
    const buckets = new Uint32Array(1024);
    for (let i = 0; i < 100000; i++) buckets[hashKey(key(i), 0) & 1023]++;
    expect(Math.max(...buckets)).toBeLessThan(160); // mean ~98
    const two = new Uint32Array(KEY_WORDS * 2);
    two.set(key(42), KEY_WORDS);
    expect(hashKey(two, KEY_WORDS)).toBe(hashKey(key(42), 0));
  });

  it('hashMasked sees only the masked bits of the listed words', () => {
    const mask = new Uint32Array(KEY_WORDS);
    mask[0] = 0xffffffff;
    mask[5] = 0xffffff00;
    const words = wordsOf(mask);
    const a = key(0x100);
    const b = a.slice();
    b[5] ^= 0xff; // wildcarded bits
    b[9] = 1234; // wildcarded word
    expect(hashMasked(a, 0, mask, words, words.length)).toBe(hashMasked(b, 0, mask, words, words.length));
    b[5] ^= 0x100;
    expect(hashMasked(a, 0, mask, words, words.length)).not.toBe(hashMasked(b, 0, mask, words, words.length));
    const buckets = new Uint32Array(1024);
    for (let i = 0; i < 100000; i++) buckets[hashMasked(key(i << 8), 0, mask, words, words.length) & 1023]++;
    expect(Math.max(...buckets)).toBeLessThan(160);
  });
});

describe('MegaflowTable', () => {
  it('exact flows: put, lookup, replace keeps counters, del, limit', () => {
    const t = new MegaflowTable(3);
    const m = exactMask();
    const k = key(5);
    const f = t.put(k, m, acts(2), 1000);
    expect(t.putCreated).toBe(true);
    expect(t.lookup(k, 0)).toBe(f);
    expect(t.lastProbes).toBe(1);
    expect(t.lookup(key(6), 0)).toBe(-1);
    t.packets[f] = 3;
    expect(t.put(k, m, acts(3), 2000)).toBe(f);
    expect(t.putCreated).toBe(false);
    expect(Array.from(t.actions[f]!)).toEqual([1, 3]);
    expect(t.packets[f]).toBe(3);
    expect(t.created[f]).toBe(1000);
    t.put(key(6), m, acts(1), 0);
    t.put(key(7), m, acts(1), 0);
    expect(t.put(key(8), m, acts(1), 0)).toBe(-1);
    expect(t.put(key(7), m, acts(9), 0)).toBeGreaterThanOrEqual(0); // replacing still works at the limit
    expect(t.del(k, m)).toBe(true);
    expect(t.del(k, m)).toBe(false);
    expect(t.lookup(k, 0)).toBe(-1);
    expect(t.count).toBe(2);
  });

  it('a wildcarded flow matches every key that agrees on its mask, in one subtable per mask', () => {
    const t = new MegaflowTable();
    const m = new Uint32Array(KEY_WORDS);
    m[0] = 0xffffffff;
    m[5] = 0xffff0000;
    const f = t.put(key(0x00070000), m, acts(4), 0); // in_port 1, word 5 high half 0x0007
    expect(Array.from(t.keyOf(f).subarray(0, 10))).toEqual([1, 0, 0, 0, 0, 0x00070000, 0, 0, 0, 0]); // stored masked
    for (const low of [0, 1, 0xffff]) {
      const k = key(0x00070000 | low, 99);
      k[0] = 1;
      expect(t.lookup(k, 0)).toBe(f);
    }
    const other = key(0x00080000);
    other[0] = 1;
    expect(t.lookup(other, 0)).toBe(-1);
    // The same masked key under another mask is another flow; deleting needs the exact mask.
    const g = t.put(key(0x00070000), exactMask(), acts(5), 0);
    expect(g).not.toBe(f);
    expect(t.nSubtables).toBe(2);
    expect(t.del(key(0x00070000), new Uint32Array(KEY_WORDS).fill(0xffff))).toBe(false);
    expect(t.find(key(0x0007abcd), m)).toBe(f);
    expect(Array.from(t.maskOf(f))).toEqual(Array.from(m));
    expect(t.del(key(0x0007abcd), m)).toBe(true); // any key with the same masked value
    expect(t.nSubtables).toBe(1); // an emptied subtable goes away
  });

  it('random puts, deletes and lookups over many masks agree with a brute-force model', () => {
    const rnd = lcg(7);
    // 40 masks over a few words, some overlapping, some partial.
    const masks: Uint32Array[] = [];
    for (let i = 0; i < 40; i++) {
      const m = new Uint32Array(KEY_WORDS);
      m[0] = 0xffffffff;
      const n = 1 + rnd(3);
      for (let j = 0; j < n; j++) m[[1, 2, 5, 9, 13, 14, 23][rnd(7)]] |= [0xffffffff, 0xffff0000, 0x0000ffff, 0xff00ff00, 0x1][rnd(5)];
      masks.push(m);
    }
    // Keys from a small universe, so puts collide and lookups often match.
    const randKey = (): Uint32Array => {
      const k = new Uint32Array(KEY_WORDS);
      k[0] = 1 + rnd(2);
      for (const w of [1, 2, 5, 9, 13, 14, 23]) k[w] = [0, 0xffffffff, 0x12345678, 0x00010001, rnd(4)][rnd(5)] >>> 0;
      return k;
    };
    interface M { key: Uint32Array; mask: Uint32Array; port: number }
    const model: M[] = [];
    const W = [0, 1, 2, 5, 9, 13, 14, 23]; // the only words keys and masks use
    const matches = (f: M, k: Uint32Array): boolean => {
      for (const w of W) if (((k[w] & f.mask[w]) >>> 0) !== f.key[w]) return false;
      return true;
    };
    const same = (f: M, k: Uint32Array, m: Uint32Array): boolean => {
      for (const w of W) if (f.mask[w] !== m[w] || f.key[w] !== ((k[w] & m[w]) >>> 0)) return false;
      return true;
    };
    const t = new MegaflowTable(100000);
    for (let step = 0; step < 20000; step++) {
      const op = rnd(10);
      const k = randKey();
      const m = masks[rnd(masks.length)];
      if (op < 4) {
        const port = 1 + rnd(1000);
        const f = t.put(k, m, acts(port), step);
        expect(f).toBeGreaterThanOrEqual(0);
        const i = model.findIndex((x) => same(x, k, m));
        if (i >= 0) model[i].port = port;
        else model.push({ key: k.map((v, w) => (v & m[w]) >>> 0), mask: m, port });
        expect(t.putCreated).toBe(i < 0);
      } else if (op < 6) {
        const i = model.findIndex((x) => same(x, k, m));
        expect(t.del(k, m)).toBe(i >= 0);
        if (i >= 0) model.splice(i, 1);
      } else {
        const f = t.lookup(k, 0);
        const hits = model.filter((x) => matches(x, k));
        if (hits.length === 0) {
          expect(f).toBe(-1);
        } else {
          expect(f).toBeGreaterThanOrEqual(0);
          const got = model.find((x) => same(x, t.keyOf(f), t.maskOf(f)));
          expect(got).toBeDefined();
          expect(matches(got!, k)).toBe(true);
          expect(t.actions[f]![1]).toBe(got!.port);
        }
      }
      if (step % 5000 === 0) t.rerank();
    }
    expect(t.count).toBe(model.length);
    expect(t.flowIds().length).toBe(model.length);
    expect(t.nSubtables).toBe(new Set(model.map((x) => x.mask.join(','))).size);
    expect(t.nSubtables).toBeGreaterThan(20);
  });

  it('two masks whose hashes collide still get a subtable each', () => {
    // Birthday search for two two-word masks with equal maskHashOf (one varying word alone
    // hashes one-to-one).
    const seen = new Map<number, number>();
    const m = new Uint32Array(KEY_WORDS);
    const fill = (x: Uint32Array, v: number): void => { x[3] = v; x[4] = Math.imul(v, 0x9e3779b1) >>> 0; };
    let pair: [number, number] | null = null;
    for (let v = 1; v < 1000000 && pair === null; v++) {
      fill(m, v);
      const h = maskHashOf(m, 0);
      const prev = seen.get(h);
      if (prev !== undefined) pair = [prev, v];
      else seen.set(h, v);
    }
    expect(pair).not.toBeNull();
    const [a, b] = pair as [number, number];
    const ma = new Uint32Array(KEY_WORDS); fill(ma, a);
    const mb = new Uint32Array(KEY_WORDS); fill(mb, b);
    expect(maskHashOf(ma, 0)).toBe(maskHashOf(mb, 0));
    const t = new MegaflowTable();
    const k = new Uint32Array(KEY_WORDS).fill(0xffffffff);
    const acts = Int32Array.from([1, 2]);
    const fa = t.put(k, ma, acts, 1);
    const fb = t.put(k, mb, acts, 1);
    expect(fa).not.toBe(fb);
    expect(t.nSubtables).toBe(2);
    expect(t.find(k, ma)).toBe(fa);
    expect(t.find(k, mb)).toBe(fb);
    expect(t.put(k, ma, acts, 2)).toBe(fa); // same (masked key, mask): replaced, not added
    expect(t.count).toBe(2);
    expect(t.del(k, mb)).toBe(true);
    expect(t.find(k, mb)).toBe(-1);
    expect(t.find(k, ma)).toBe(fa);
    expect(t.nSubtables).toBe(1);
    expect(t.put(k, mb, acts, 3)).toBeGreaterThanOrEqual(0);
    expect(t.nSubtables).toBe(2);
    expect(t.del(k, ma)).toBe(true);
    expect(t.del(k, mb)).toBe(true);
    expect(t.nSubtables).toBe(0);
  });

  it('ranks subtables by hits: the busiest mask is searched first after rerank()', () => {
    const t = new MegaflowTable();
    const mk = (w: number): Uint32Array => {
      const m = new Uint32Array(KEY_WORDS);
      m[0] = 0xffffffff;
      m[w] = 0xffffffff;
      return m;
    };
    const [m1, m2, m3] = [mk(1), mk(2), mk(3)];
    const k = (w: number, v: number): Uint32Array => {
      const x = new Uint32Array(KEY_WORDS);
      x[0] = 1;
      x[w] = v;
      return x;
    };
    t.put(k(1, 11), m1, acts(1), 0);
    t.put(k(2, 22), m2, acts(2), 0);
    const f3 = t.put(k(3, 33), m3, acts(3), 0);
    expect(t.subtableList().map((s) => s.id)).toEqual([0, 1, 2]); // creation order
    for (let i = 0; i < 10; i++) expect(t.lookup(k(3, 33), 0)).toBe(f3);
    expect(t.lastProbes).toBe(3);
    t.lookup(k(2, 22), 0);
    t.rerank();
    expect(t.subtableList().map((s) => s.id)).toEqual([2, 1, 0]);
    expect(t.lookup(k(3, 33), 0)).toBe(f3);
    expect(t.lastProbes).toBe(1);
    expect(t.lookup(k(1, 99), 0)).toBe(-1);
    expect(t.lastProbes).toBe(3);
    expect(t.totalSubtableHits()).toBe(12);
    // The next interval counts afresh: a new favourite moves up.
    for (let i = 0; i < 5; i++) t.lookup(k(1, 11), 0);
    t.rerank();
    expect(t.subtableList()[0].id).toBe(0);
  });

  it('grows to 100k flows in one subtable with short probes, and ids and generations behave', () => {
    const t = new MegaflowTable(200000);
    const m = new Uint32Array(KEY_WORDS);
    m[0] = 0xffffffff;
    m[5] = 0xffffffff;
    for (let i = 0; i < 100000; i++) expect(t.put(key(i, 7), m, acts(i & 0xff), i)).toBeGreaterThanOrEqual(0);
    expect(t.count).toBe(100000);
    expect(t.capacity).toBeGreaterThanOrEqual(100000);
    for (let i = 0; i < 100000; i += 97) {
      const f = t.lookup(key(i, 1234), 0); // word 9 wildcarded
      expect(t.actions[f]![1]).toBe(i & 0xff);
      expect(t.created[f]).toBe(i);
    }
    expect(t.maxProbe()).toBeLessThan(64);
    const f = t.lookup(key(5), 0);
    const g0 = t.gen[f];
    t.del(key(5), m);
    expect(t.gen[f]).toBe(g0 + 1);
    expect(t.put(key(123456), m, acts(1), 0)).toBe(f); // freed id reused
    expect(t.gen[f]).toBe(g0 + 1);
    const all = t.flowIds();
    expect(t.flush()).toBe(100000);
    expect(t.gen[all[10]]).toBeGreaterThan(0);
    expect(t.count).toBe(0);
    expect(t.nSubtables).toBe(0);
    expect(t.nextFlow(0)).toBe(-1);
    expect(t.lookup(key(7), 0)).toBe(-1);
  });

  it('backward-shift deletion across a wrapped cluster keeps every other flow findable', () => {
    const m = exactMask();
    const words = wordsOf(m);
    // A subtable starts with 16 slots and doubles at half load; 7 keys stay in 16 slots.
    const home: Uint32Array[] = [];
    for (let n = 0; home.length < 7; n++) {
      const k = key(n, 11);
      if ((hashMasked(k, 0, m, words, words.length) & 15) >= 14) home.push(k);
    }
    const rnd = lcg(5);
    for (let round = 0; round < 50; round++) {
      const t = new MegaflowTable();
      for (const k of home) t.put(k, m, acts(1), 0);
      const live = new Set(home);
      const order = home.slice().sort(() => rnd(2) - 0.5);
      for (const k of order) {
        expect(t.del(k, m)).toBe(true);
        live.delete(k);
        for (const h of home) expect(t.lookup(h, 0) >= 0).toBe(live.has(h));
      }
    }
  });
});
