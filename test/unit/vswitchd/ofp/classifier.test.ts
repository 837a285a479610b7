// The classifier against a brute-force model with random rules and flows, and its wildcard
// tracking: every flow that agrees with a looked-up flow on the un-wildcarded bits must get the
// same rule; plus the narrowing the design promises (stages, prefix tries, pruning).
import { describe, expect, it } from 'vitest';
import { ETH_TYPE_IP, IPPROTO_TCP, IPPROTO_UDP, W_NW_DST, W_TP, W_TYPE_TCI, W_NW } from '../../../../src/lib/flow-key.js';
import { Classifier, ClsRule } from '../../../../src/vswitchd/ofp/classifier.js';
import { F_ETH_TYPE, F_IP_DST, F_NW_PROTO, F_TCP_DST } from '../../../../src/vswitchd/ofp/fields.js';
import { OF_WORDS } from '../../../../src/vswitchd/ofp/layout.js';
import { Match } from '../../../../src/vswitchd/ofp/match.js';
import { parseMatch } from '../../../../src/vswitchd/ofp/match-syntax.js';
import { PrefixTrie, prefixMask32 } from '../../../../src/vswitchd/ofp/prefix-trie.js';
import { agreeing, bruteForce, pick, randomFlow, randomMask, randomRule, rng } from './helpers.js';

function checkAgainstModel(seed: number, nMasks: number, nRules: number, nFlows: number, prios: number[], minHits = nFlows / 10): void {
  const r = rng(seed);
  const masks = Array.from({ length: nMasks }, () => randomMask(r));
  const cls = new Classifier();
  const rules: ClsRule[] = [];
  for (let i = 0; i < nRules; i++) {
    const rule = randomRule(r, pick(r, masks), prios);
    if (cls.findExact(rule.match, rule.priority)) continue;
    cls.insert(rule);
    rules.push(rule);
  }
  expect(cls.count).toBe(rules.length);
  let hits = 0;
  for (let i = 0; i < nFlows; i++) {
    const flow = randomFlow(r);
    const wc = new Uint32Array(OF_WORDS);
    const got = cls.lookup(flow, wc);
    const { best, matching } = bruteForce(rules, flow);
    if (best < 0) {
      expect(got).toBeNull();
    } else {
      hits++;
      expect(got).not.toBeNull();
      expect(got!.priority).toBe(best);
      expect(matching).toContain(got);
    }
    expect(cls.lookup(flow, null)).toBe(got);
    // Sufficiency of the un-wildcarded bits.
    for (let k = 0; k < 8; k++) {
      const other = agreeing(r, flow, wc, randomFlow(r));
      expect(cls.lookup(other, null)).toBe(got);
    }
  }
  expect(hits).toBeGreaterThanOrEqual(minHits); // the domains make rules really match
}

describe('Classifier against brute force, with wildcard sufficiency', () => {
  it('one mask, many priorities', () => checkAgainstModel(1, 1, 300, 400, [1, 2, 3, 100, 200, 32768]));
  it('10 masks', () => checkAgainstModel(2, 10, 600, 600, [0, 10, 20, 30, 100, 32768, 65535]));
  it('50 masks', () => checkAgainstModel(3, 50, 1500, 800, [1, 5, 50, 500, 5000, 32768]));
  it('50 masks, all one priority (ties)', () => checkAgainstModel(4, 50, 800, 600, [32768]));
  it('many seeds, small tables', () => {
    for (let seed = 10; seed < 60; seed++) checkAgainstModel(seed, 1 + (seed % 12), 60, 60, [1, 2, 3, 4], 0);
  });

  it('stays right while rules come and go', () => {
    const r = rng(99);
    const masks = Array.from({ length: 12 }, () => randomMask(r));
    const cls = new Classifier();
    const live = new Set<ClsRule>();
    for (let step = 0; step < 3000; step++) {
      if (live.size > 0 && r() < 0.45) {
        const victim = pick(r, [...live]);
        expect(cls.remove(victim)).toBe(true);
        expect(cls.remove(victim)).toBe(false);
        live.delete(victim);
      } else {
        const rule = randomRule(r, pick(r, masks), [1, 2, 3, 50, 100]);
        if (cls.findExact(rule.match, rule.priority)) continue;
        cls.insert(rule);
        live.add(rule);
      }
      if (step % 10 === 0) {
        const flow = randomFlow(r);
        const wc = new Uint32Array(OF_WORDS);
        const got = cls.lookup(flow, wc);
        const { best } = bruteForce(live, flow);
        expect(got?.priority ?? -1).toBe(best);
        expect(cls.lookup(agreeing(r, flow, wc, randomFlow(r)), null)).toBe(got);
      }
    }
    expect(cls.count).toBe(live.size);
    expect([...cls.rules()].length).toBe(live.size);
    for (const rule of [...live]) cls.remove(rule);
    expect(cls.count).toBe(0);
    expect(cls.subtableCount).toBe(0);
  });
});

function flowOf(fields: Record<number, number>): Uint32Array {
  const f = new Uint32Array(OF_WORDS);
  for (const [w, v] of Object.entries(fields)) f[Number(w)] = v >>> 0;
  return f;
}

describe('Classifier wildcard narrowing', () => {
  it('a non-TCP packet does not depend on tp_dst (staged lookup)', () => {
    const cls = new Classifier();
    cls.insert(new ClsRule(parseMatch('tcp,tp_dst=80'), 100));
    const udp = flowOf({ [W_TYPE_TCI]: ETH_TYPE_IP << 16, [W_NW]: IPPROTO_UDP << 24, [W_TP]: (1000 << 16) | 80 });
    const wc = new Uint32Array(OF_WORDS);
    expect(cls.lookup(udp, wc)).toBeNull();
    expect(wc[W_TP]).toBe(0);
    expect(wc[W_TYPE_TCI]).toBe(0xffff0000);
    expect(wc[W_NW]).toBe(0xff000000);
    // A TCP packet to port 80 depends on the whole rule.
    const tcp = flowOf({ [W_TYPE_TCI]: ETH_TYPE_IP << 16, [W_NW]: IPPROTO_TCP << 24, [W_TP]: (1000 << 16) | 80 });
    wc.fill(0);
    expect(cls.lookup(tcp, wc)?.priority).toBe(100);
    expect(wc[W_TP]).toBe(0xffff);
  });

  it('prefix tracking un-wildcards only the nw_dst bits the trie read', () => {
    const cls = new Classifier();
    cls.insert(new ClsRule(parseMatch('ip,nw_dst=10.0.0.0/8'), 10));
    cls.insert(new ClsRule(parseMatch('ip,nw_dst=10.1.2.3'), 20));
    const wc = new Uint32Array(OF_WORDS);
    const far = flowOf({ [W_TYPE_TCI]: ETH_TYPE_IP << 16, [W_NW_DST]: 0xc0a80101 });
    expect(cls.lookup(far, wc)).toBeNull();
    expect(wc[W_NW_DST]).toBe(0x80000000);
    expect(wc[W_TYPE_TCI]).toBe(0);
    // 10.1.2.4: the /8 matches; 10.1.2.3/32 is ruled out by bit 29, so 30 bits are enough.
    wc.fill(0);
    const near = flowOf({ [W_TYPE_TCI]: ETH_TYPE_IP << 16, [W_NW_DST]: 0x0a010204 });
    expect(cls.lookup(near, wc)?.priority).toBe(10);
    expect(wc[W_NW_DST]).toBe(prefixMask32(30));
    // 10.9.9.9 diverges from 10.1.2.3 at bit 12: 13 bits suffice for the /32, the /8 needs 8.
    wc.fill(0);
    const mid = flowOf({ [W_TYPE_TCI]: ETH_TYPE_IP << 16, [W_NW_DST]: 0x0a090909 });
    expect(cls.lookup(mid, wc)?.priority).toBe(10);
    expect(wc[W_NW_DST]).toBe(prefixMask32(13));
  });

  it('priority pruning: a high-priority hit leaves lower subtables out of the mask', () => {
    const cls = new Classifier();
    cls.insert(new ClsRule(parseMatch('in_port=1'), 1000));
    cls.insert(new ClsRule(parseMatch('tcp,tp_dst=22'), 10));
    const wc = new Uint32Array(OF_WORDS);
    const f = flowOf({ 0: 1, [W_TYPE_TCI]: ETH_TYPE_IP << 16, [W_NW]: IPPROTO_TCP << 24, [W_TP]: 22 });
    expect(cls.lookup(f, wc)?.priority).toBe(1000);
    expect(wc[0]).toBe(0xffff);
    expect(wc[W_TYPE_TCI]).toBe(0);
    expect(wc[W_TP]).toBe(0);
  });

  it('findExact, covered and findOverlap', () => {
    const cls = new Classifier();
    const a = new ClsRule(parseMatch('ip,nw_dst=10.0.0.0/8'), 5);
    const b = new ClsRule(parseMatch('tcp,nw_dst=10.0.0.1,tp_dst=80'), 5);
    const c = new ClsRule(parseMatch('arp'), 5);
    for (const x of [a, b, c]) cls.insert(x);
    expect(cls.findExact(parseMatch('ip,nw_dst=10.0.0.0/8'), 5)).toBe(a);
    expect(cls.findExact(parseMatch('ip,nw_dst=10.0.0.0/8'), 6)).toBeNull();
    expect(cls.covered(parseMatch('ip')).sort((x, y) => x.seq - y.seq)).toEqual([a, b]);
    expect(cls.covered(Match.catchAll()).length).toBe(3);
    expect(cls.findOverlap(parseMatch('ip,nw_dst=10.5.0.0/16'), 5)).toBe(a);
    expect(cls.findOverlap(parseMatch('ipv6'), 5)).toBeNull();
    expect(cls.findOverlap(parseMatch('ip'), 6)).toBeNull();
    const m = new Match();
    m.setFieldNum(F_ETH_TYPE, ETH_TYPE_IP);
    m.setFieldNum(F_NW_PROTO, IPPROTO_TCP);
    m.setFieldNum(F_IP_DST, 0x0a000001);
    m.setFieldNum(F_TCP_DST, 80);
    expect(cls.findExact(m, 5)).toBe(b);
  });
});

describe('PrefixTrie', () => {
  it('agrees with brute force, and checkBits is enough', () => {
    const r = rng(7);
    const trie = new PrefixTrie();
    const entries: [number, number][] = [];
    for (let step = 0; step < 4000; step++) {
      if (entries.length > 0 && r() < 0.4) {
        const i = Math.floor(r() * entries.length);
        const [v, l] = entries[i];
        expect(trie.remove(v, l)).toBe(true);
        entries.splice(i, 1);
      } else {
        const l = 1 + Math.floor(r() * 32);
        const v = (pick(r, [0x0a000000, 0x0a010203, 0xc0a80000, 0xffffffff, 0]) ^ (r() < 0.5 ? Math.floor(r() * 0x10000) : 0)) >>> 0;
        trie.insert(v, l);
        entries.push([(v & prefixMask32(l)) >>> 0, l]);
      }
      const probe = (pick(r, [0x0a000000, 0x0a010203, 0xc0a80000, 0xffffffff, 0]) ^ Math.floor(r() * 0x1000000)) >>> 0;
      trie.lookup(probe);
      let expectLens = 0;
      for (const [v, l] of entries) if (((probe & prefixMask32(l)) >>> 0) === v) expectLens |= 1 << (l - 1);
      expect(trie.lens).toBe(expectLens >>> 0);
      const { lens, checkBits } = trie;
      const other = ((probe & prefixMask32(checkBits)) | (Math.floor(r() * 0x100000000) & ~prefixMask32(checkBits))) >>> 0;
      trie.lookup(other);
      expect(trie.lens).toBe(lens);
    }
    for (const [v, l] of entries) expect(trie.remove(v, l)).toBe(true);
    expect(trie.size).toBe(0);
    expect(trie.remove(0x0a000000, 8)).toBe(false);
  });
});
