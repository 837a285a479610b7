import { describe, expect, it } from 'vitest';
import { Emc, EMC_ENTRIES } from '../../../src/datapath/emc.js';
import { hashKey } from '../../../src/datapath/hash.js';
import { MegaflowTable } from '../../../src/datapath/megaflow.js';
import { KEY_WORDS } from '../../../src/lib/flow-key.js';

/** A key per microflow n (a 5-tuple-like spread over several words). */
function micro(n: number): Uint32Array {
  const k = new Uint32Array(KEY_WORDS);
  k[0] = 1;
  k[4] = 0x08000000;
  k[5] = 0x0a000000 | (n & 0xffff);
  k[14] = n >>> 16;
  return k;
}

/** One megaflow (in_port only) that every micro() key matches. */
function table(): { t: MegaflowTable; f: number } {
  const t = new MegaflowTable();
  const m = new Uint32Array(KEY_WORDS);
  m[0] = 0xffffffff;
  const f = t.put(micro(0), m, Int32Array.from([1, 2]), 0);
  return { t, f };
}

function offer(emc: Emc, t: MegaflowTable, k: Uint32Array): number {
  const h = hashKey(k, 0);
  const hit = emc.lookup(k, 0, h, t.gen);
  if (hit >= 0) return hit;
  const f = t.lookup(k, 0);
  if (f >= 0) emc.insert(k, 0, h, f, t.gen[f], t.gen);
  return -1;
}

describe('Emc', () => {
  it('with insert probability 1, the second packet of a microflow hits', () => {
    const { t, f } = table();
    const emc = new Emc(1);
    expect(offer(emc, t, micro(1))).toBe(-1);
    expect(offer(emc, t, micro(1))).toBe(f);
    expect(emc.inserts).toBe(1);
    expect(emc.liveEntries(t.gen)).toBe(1);
    expect(emc.size).toBe(EMC_ENTRIES);
  });

  it('inserts about one megaflow hit in emc_insert_inv_prob', () => {
    const { t } = table();
    const emc = new Emc(100);
    for (let n = 0; n < 100000; n++) offer(emc, t, micro(n)); // each microflow once
    // Binomial(100000, 1/100): mean 1000, sd ~31.
    expect(emc.inserts).toBeGreaterThan(850);
    expect(emc.inserts).toBeLessThan(1150);
    const emc10 = new Emc(10);
    for (let n = 0; n < 100000; n++) offer(emc10, t, micro(n));
    expect(emc10.inserts).toBeGreaterThan(9500);
    expect(emc10.inserts).toBeLessThan(10500);
    // A steady microflow gets in after about N packets.
    const emc2 = new Emc(100, EMC_ENTRIES, 12345);
    let packets = 0;
    while (offer(emc2, t, micro(424242)) < 0) packets++;
    expect(packets).toBeLessThan(1000);
  });

  it('does not thrash: with more parallel microflows than entries, 1/100 insertion keeps a stable set hitting', () => {
    // 20000 microflows take turns (more than the 8192 entries). Inserting every miss keeps
    // evicting entries before their flow comes round again; inserting 1 in 100 lets a set
    // settle in and stay.
    const hitRate = (inv: number): number => {
      const { t } = table();
      const emc = new Emc(inv);
      const keys = Array.from({ length: 20000 }, (_, i) => micro(i));
      let hits = 0;
      let total = 0;
      for (let round = 0; round < 60; round++) {
        for (const k of keys) {
          const hit = offer(emc, t, k) >= 0;
          if (round >= 40) {
            total++;
            if (hit) hits++;
          }
        }
      }
      return hits / total;
    };
    const always = hitRate(1);
    const sometimes = hitRate(100);
    expect(always).toBeLessThan(0.2);
    expect(sometimes).toBeGreaterThan(always * 1.8);
  });

  it('an entry dies with its megaflow, also when the flow id is reused', () => {
    const { t, f } = table();
    const emc = new Emc(1);
    const k = micro(7);
    offer(emc, t, k);
    expect(emc.lookup(k, 0, hashKey(k, 0), t.gen)).toBe(f);
    const m = t.maskOf(f).slice();
    t.del(k, m);
    const m2 = m.slice();
    m2[5] = 0xffffffff;
    expect(t.put(micro(9), m2, Int32Array.from([1, 3]), 0)).toBe(f); // same id, different flow
    expect(emc.lookup(k, 0, hashKey(k, 0), t.gen)).toBe(-1);
    expect(emc.liveEntries(t.gen)).toBe(0);
    expect(offer(emc, t, micro(9))).toBe(-1); // re-inserted over the stale entry
    expect(offer(emc, t, micro(9))).toBe(f);
    t.flush();
    expect(emc.lookup(micro(9), 0, hashKey(micro(9), 0), t.gen)).toBe(-1);
  });

  it('emc_insert_inv_prob 0 turns it off and empties it; bad values are refused', () => {
    const { t, f } = table();
    const emc = new Emc(1);
    offer(emc, t, micro(3));
    expect(offer(emc, t, micro(3))).toBe(f);
    emc.setInsertInvProb(0);
    expect(emc.enabled).toBe(false);
    expect(emc.lookup(micro(3), 0, hashKey(micro(3), 0), t.gen)).toBe(-1);
    offer(emc, t, micro(3));
    expect(emc.liveEntries(t.gen)).toBe(0);
    expect(() => emc.setInsertInvProb(-1)).toThrow(RangeError);
    expect(() => new Emc(1, 1000)).toThrow(RangeError);
  });

  it('two ways: keys that share a slot can both stay', () => {
    const { t, f } = table();
    const emc = new Emc(1, 16);
    const byHome = new Map<number, Uint32Array[]>();
    for (let n = 0; ; n++) {
      const k = micro(n);
      const h = hashKey(k, 0);
      const list = byHome.get(h & 15) ?? [];
      list.push(k);
      byHome.set(h & 15, list);
      if (list.length === 2 && ((hashKey(list[0], 0) >>> 13) & 15) !== ((hashKey(list[1], 0) >>> 13) & 15)) {
        for (const x of list) offer(emc, t, x);
        for (const x of list) expect(emc.lookup(x, 0, hashKey(x, 0), t.gen)).toBe(f);
        break;
      }
      if (list.length === 2) byHome.delete(h & 15);
    }
  });
});
