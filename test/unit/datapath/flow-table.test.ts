import { describe, expect, it } from 'vitest';
import { FlowTable } from '../../../src/datapath/flow-table.js';
import { hashKey } from '../../../src/datapath/hash.js';
import { KEY_WORDS } from '../../../src/lib/flow-key.js';

function key(n: number, salt = 0): Uint32Array {
  const k = new Uint32Array(KEY_WORDS);
  k[0] = 1 + (n % 7);
  k[5] = n;
  k[9] = salt;
  return k;
}
const acts = (port: number): Int32Array => Int32Array.from([1, port]);

function find(t: FlowTable, k: Uint32Array): number {
  return t.lookup(k, 0, hashKey(k, 0));
}

describe('hashKey', () => {
  it('depends on every word and spreads sequential keys', () => {
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
  });

  it('reads the key at an offset', () => {
    const two = new Uint32Array(KEY_WORDS * 2);
    two.set(key(42), KEY_WORDS);
    expect(hashKey(two, KEY_WORDS)).toBe(hashKey(key(42), 0));
  });
});

describe('FlowTable', () => {
  it('put, lookup, replace keeps counters, del', () => {
    const t = new FlowTable(10);
    const k = key(5);
    const f = t.put(k, acts(2), 1000);
    expect(f).toBeGreaterThanOrEqual(0);
    expect(find(t, k)).toBe(f);
    expect(find(t, key(6))).toBe(-1);
    expect(t.created[f]).toBe(1000);
    expect(t.used[f]).toBe(0);
    t.packets[f] = 3;
    t.bytes[f] = 300;
    expect(t.put(k, acts(3), 2000)).toBe(f);
    expect(Array.from(t.actions[f]!)).toEqual([1, 3]);
    expect(t.packets[f]).toBe(3);
    expect(t.created[f]).toBe(1000);
    expect(t.count).toBe(1);
    expect(t.del(k)).toBe(true);
    expect(t.del(k)).toBe(false);
    expect(find(t, k)).toBe(-1);
    expect(t.count).toBe(0);
  });

  it('looks up a key stored at an offset in a batch key array', () => {
    const t = new FlowTable();
    const f = t.put(key(9), acts(1), 0);
    const keys = new Uint32Array(KEY_WORDS * 4);
    keys.set(key(9), KEY_WORDS * 3);
    expect(t.lookup(keys, KEY_WORDS * 3, hashKey(keys, KEY_WORDS * 3))).toBe(f);
  });

  it('refuses puts beyond the limit, but replacing an existing flow still works', () => {
    const t = new FlowTable(3);
    for (let i = 0; i < 3; i++) expect(t.put(key(i), acts(1), 0)).toBeGreaterThanOrEqual(0);
    expect(t.put(key(99), acts(1), 0)).toBe(-1);
    expect(t.put(key(1), acts(4), 0)).toBeGreaterThanOrEqual(0);
    t.del(key(0));
    expect(t.put(key(99), acts(1), 0)).toBeGreaterThanOrEqual(0);
    t.limit = 2;
    expect(t.put(key(100), acts(1), 0)).toBe(-1);
    expect(t.count).toBe(3);
  });

  it('keys that share a hash are told apart by their words', () => {
    const t = new FlowTable();
    const a = key(1);
    const b = key(2);
    const h = 0x12345678; // force both into the same probe chain with the same stored hash
    const fa = t.put(a, acts(1), 0);
    const fb = t.put(b, acts(2), 0);
    expect(t.lookup(a, 0, hashKey(a, 0))).toBe(fa);
    expect(t.lookup(b, 0, hashKey(b, 0))).toBe(fb);
    expect(t.lookup(a, 0, h)).toBe(-1); // a wrong hash never matches (hash is compared first)
  });

  it('grows past its initial size and keeps every flow', () => {
    const t = new FlowTable(200000);
    for (let i = 0; i < 50000; i++) expect(t.put(key(i, 7), acts(i & 0xff), i)).toBeGreaterThanOrEqual(0);
    expect(t.count).toBe(50000);
    expect(t.capacity).toBeGreaterThanOrEqual(50000);
    for (let i = 0; i < 50000; i += 97) {
      const f = find(t, key(i, 7));
      expect(f).toBeGreaterThanOrEqual(0);
      expect(t.actions[f]![1]).toBe(i & 0xff);
      expect(t.created[f]).toBe(i);
    }
    expect(t.maxProbe()).toBeLessThan(64);
  });

  it('flush empties the table and ids are reused', () => {
    const t = new FlowTable();
    for (let i = 0; i < 100; i++) t.put(key(i), acts(1), 0);
    expect(t.flush()).toBe(100);
    expect(t.count).toBe(0);
    expect(t.flowIds()).toEqual([]);
    expect(find(t, key(5))).toBe(-1);
    expect(t.put(key(5), acts(1), 0)).toBe(0);
  });

  it('random put/del/lookup agrees with a Map model (deletion keeps probe chains intact)', () => {
    let seed = 99;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return (seed >>> 8) % n;
    };
    // A small universe in a table with few slots makes long clusters and many wrap-arounds.
    const t = new FlowTable(5000);
    const model = new Map<number, number>();
    for (let step = 0; step < 60000; step++) {
      const n = rnd(3000);
      const k = key(n, 3);
      const op = rnd(10);
      if (op < 5) {
        const port = rnd(100);
        const f = t.put(k, acts(port), step);
        expect(f).toBeGreaterThanOrEqual(0);
        model.set(n, port);
      } else if (op < 8) {
        expect(t.del(k)).toBe(model.delete(n));
      } else {
        const f = find(t, k);
        if (model.has(n)) expect(t.actions[f]![1]).toBe(model.get(n));
        else expect(f).toBe(-1);
      }
      if (step % 5000 === 0) {
        expect(t.count).toBe(model.size);
        for (let m = 0; m < 3000; m++) expect(find(t, key(m, 3)) >= 0).toBe(model.has(m));
      }
    }
    expect(t.count).toBe(model.size);
    expect(t.flowIds().length).toBe(model.size);
    for (const f of t.flowIds()) expect(model.get(t.keyOf(f)[5])).toBe(t.actions[f]![1]);
  });

  it('backward-shift deletion across a wrapped cluster of same-home keys', () => {
    // The initial index has 2048 slots: pick keys whose home slot is one of the last 4, so
    // their cluster wraps past the end of the index, then delete in random orders.
    const home: Uint32Array[] = [];
    for (let n = 0; home.length < 60; n++) {
      const k = key(n, 11);
      if ((hashKey(k, 0) & 2047) >= 2044) home.push(k);
    }
    let seed = 5;
    for (let round = 0; round < 30; round++) {
      const t = new FlowTable();
      for (const k of home) t.put(k, acts(1), 0);
      expect(t.maxProbe()).toBeGreaterThanOrEqual(56);
      const live = new Set(home);
      const order = home.slice().sort(() => ((seed = (Math.imul(seed, 48271) + 7) >>> 0) & 1) - 0.5);
      for (const k of order.slice(0, 40)) {
        expect(t.del(k)).toBe(true);
        live.delete(k);
        for (const h of home) expect(find(t, h) >= 0).toBe(live.has(h));
      }
      expect(t.maxProbe()).toBeLessThanOrEqual(live.size + 4);
    }
  });
});
