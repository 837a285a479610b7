import { describe, expect, it } from 'vitest';
import { MacTable } from '../../../src/vswitchd/mac-learning.js';

const A = 0x020000000001;
const B = 0x020000000002;
const C = 0x020000000003;

describe('MacTable', () => {
  it('learns (mac, vlan) -> port and keeps VLANs apart', () => {
    const t = new MacTable();
    expect(t.lookup(A, 0)).toBe(-1);
    expect(t.learn(A, 0, 1, 1000)).toBe(true);
    expect(t.learn(A, 10, 2, 1000)).toBe(true);
    expect(t.lookup(A, 0)).toBe(1);
    expect(t.lookup(A, 10)).toBe(2);
    expect(t.lookup(A, 20)).toBe(-1);
    expect(t.size).toBe(2);
  });

  it('bumps the generation on a new entry and a move, not on a refresh', () => {
    const t = new MacTable();
    t.learn(A, 0, 1, 1000);
    const g = t.generation;
    expect(t.learn(A, 0, 1, 2000)).toBe(false);
    expect(t.generation).toBe(g);
    expect(t.entry(A, 0)!.refreshed).toBe(2000);
    expect(t.learn(A, 0, 3, 3000)).toBe(true);
    expect(t.generation).toBe(g + 1);
    expect(t.lookup(A, 0)).toBe(3);
    expect(t.counters.moved).toBe(1);
  });

  it('ages out entries not refreshed for mac-aging-time, and only those', () => {
    const t = new MacTable(10);
    t.learn(A, 0, 1, 0);
    t.learn(B, 0, 2, 5000);
    t.learn(A, 0, 1, 6000); // refresh moves A behind B
    const g = t.generation;
    expect(t.expire(14999)).toBe(0);
    expect(t.generation).toBe(g);
    expect(t.expire(15000)).toBe(1); // B learned at 5 s, 10 s aging
    expect(t.lookup(B, 0)).toBe(-1);
    expect(t.lookup(A, 0)).toBe(1);
    expect(t.generation).toBe(g + 1);
    expect(t.expire(16000)).toBe(1);
    expect(t.size).toBe(0);
    expect(t.counters.aged).toBe(2);
  });

  it('evicts the least recently refreshed entry when full', () => {
    const t = new MacTable(300, 2);
    t.learn(A, 0, 1, 1);
    t.learn(B, 0, 2, 2);
    t.learn(A, 0, 1, 3); // A is now the most recent
    t.learn(C, 0, 3, 4);
    expect(t.size).toBe(2);
    expect(t.lookup(B, 0)).toBe(-1);
    expect(t.lookup(A, 0)).toBe(1);
    expect(t.lookup(C, 0)).toBe(3);
    expect(t.counters.evicted).toBe(1);
    t.resize(1);
    // C was seen once, A twice: shrinking keeps the established A.
    expect([...t.entries()].map((e) => e.mac)).toEqual([A]);
  });

  it('keeps established entries through a flood of random source MACs, within its size', () => {
    const t = new MacTable(300, 100);
    for (let h = 1; h <= 50; h++) {
      t.learn(0x020000100000 + h, 0, h, 0);
      t.learn(0x020000100000 + h, 0, h, 1); // seen again: established
    }
    let seed = 1;
    for (let i = 0; i < 100000; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      t.learn(0x020000000000 + seed, 0, 99, 2 + i);
      if (t.size > 100) throw new Error(`table grew to ${t.size}`);
    }
    for (let h = 1; h <= 50; h++) expect(t.lookup(0x020000100000 + h, 0)).toBe(h);
    expect(t.counters.evicted).toBe(100000 - 50);
    expect(t.protectedSize).toBe(50);
  });

  it('caps the protected share so new hosts can still be learned', () => {
    const t = new MacTable(300, 10);
    for (let h = 1; h <= 10; h++) {
      t.learn(h, 0, 1, h);
      t.learn(h, 0, 1, 100 + h);
    }
    expect(t.protectedSize).toBe(8);
    expect(t.size).toBe(10);
    t.learn(1000, 0, 2, 1000);
    expect(t.lookup(1000, 0)).toBe(2);
    // The least recently refreshed entry went, not an established one that is in use.
    expect(t.lookup(1, 0)).toBe(-1);
    expect(t.lookup(10, 0)).toBe(1);
    expect([...t.entries()].map((e) => e.refreshed)).toEqual([...[...t.entries()].map((e) => e.refreshed)].sort((a, b) => a - b));
  });

  it('flushes one port or everything, and lists entries oldest first', () => {
    const t = new MacTable();
    t.learn(A, 0, 1, 1);
    t.learn(B, 0, 2, 2);
    t.learn(C, 5, 1, 3);
    expect([...t.entries()].map((e) => e.mac)).toEqual([A, B, C]);
    expect(t.flush(1)).toBe(2);
    expect([...t.entries()].map((e) => e.mac)).toEqual([B]);
    expect(t.flush()).toBe(1);
    expect(t.size).toBe(0);
    expect(MacTable.age({ refreshed: 1000 } as never, 4999)).toBe(3);
  });
});
