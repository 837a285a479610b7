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
    expect([...t.entries()].map((e) => e.mac)).toEqual([C]);
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
