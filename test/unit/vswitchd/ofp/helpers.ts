// Shared by the OpenFlow model tests and the classifier benchmark: a seeded random source,
// random masks, rules and flows over small value domains (so that rules really match), and
// a brute-force reference lookup.
import { ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, IPPROTO_TCP, IPPROTO_UDP, VLAN_CFI } from '../../../../src/lib/flow-key.js';
import { ClsRule } from '../../../../src/vswitchd/ofp/classifier.js';
import { OF_W_METADATA, OF_W_REG0, OF_WORDS, setBits } from '../../../../src/vswitchd/ofp/layout.js';
import { Match } from '../../../../src/vswitchd/ofp/match.js';
import { prefixMask32 } from '../../../../src/vswitchd/ofp/prefix-trie.js';

/** mulberry32: a small deterministic PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Rand = () => number;
export const pick = <T>(r: Rand, a: readonly T[]): T => a[Math.floor(r() * a.length)];
const u32 = (r: Rand): number => Math.floor(r() * 0x100000000) >>> 0;

const IPS = [0x0a000001, 0x0a000002, 0x0a000102, 0x0a010203, 0xc0a80101, 0xc0a80102, 0x0a0a0a0a, 0xac100001];
const PORTS = [22, 53, 80, 443, 8080, 1024, 65535];
const TYPES = [ETH_TYPE_IP, ETH_TYPE_IP, ETH_TYPE_IP, ETH_TYPE_ARP, ETH_TYPE_IPV6];
const PROTOS = [IPPROTO_TCP, IPPROTO_TCP, IPPROTO_UDP, 1];

/** A random flow in the small domains (a few ports, MACs, IPs...), other bits random. */
export function randomFlow(r: Rand): Uint32Array {
  const f = new Uint32Array(OF_WORDS);
  for (let i = 0; i < OF_WORDS; i++) f[i] = r() < 0.5 ? u32(r) : 0;
  f[0] = 1 + Math.floor(r() * 4);
  f[1] = 0x02000000;
  f[2] = (Math.floor(r() * 4) << 16) | 0x0200;
  f[3] = Math.floor(r() * 4);
  const tagged = r() < 0.3;
  f[4] = ((pick(r, TYPES) << 16) | (tagged ? VLAN_CFI | (1 + Math.floor(r() * 3)) : 0)) >>> 0;
  f[5] = pick(r, IPS);
  f[9] = pick(r, IPS);
  f[13] = ((pick(r, PROTOS) << 24) | (Math.floor(r() * 4) << 18) | (64 << 8)) >>> 0;
  f[14] = ((pick(r, PORTS) << 16) | pick(r, PORTS)) >>> 0;
  f[OF_W_REG0] = Math.floor(r() * 4);
  f[OF_W_METADATA + 1] = Math.floor(r() * 3);
  return f;
}

/** A random mask built from the fields rules usually use. */
export function randomMask(r: Rand): Uint32Array {
  const m = new Uint32Array(OF_WORDS);
  const p = (x: number): boolean => r() < x;
  if (p(0.3)) m[0] = 0xffff;
  if (p(0.15)) { m[1] = 0xffffffff; m[2] = 0xffff0000; }
  if (p(0.15)) { m[2] |= 0xffff; m[3] = 0xffffffff; }
  if (p(0.1)) m[1] = 0x01000000;
  if (p(0.6)) m[4] = 0xffff0000;
  if (p(0.2)) m[4] |= pick(r, [0x1fff, 0xffff, 0x1000, 0xf000]);
  if (p(0.35)) m[5] = prefixMask32(pick(r, [8, 16, 24, 32, 31, 1]));
  if (p(0.35)) m[9] = prefixMask32(pick(r, [8, 16, 24, 32, 12]));
  if (p(0.05)) m[9] = 0xff00ff00;
  if (p(0.4)) m[13] = 0xff000000;
  if (p(0.1)) m[13] |= 0x00fc0000;
  if (p(0.3)) m[14] = pick(r, [0xffff, 0xffff0000, 0xffffffff, 0xfc00]);
  if (p(0.15)) m[OF_W_REG0] = pick(r, [0xffffffff, 0x1, 0x3]);
  if (p(0.1)) m[OF_W_METADATA + 1] = 0xff;
  return m;
}

/** A rule with `mask`, its value taken from a random flow, priority from `prios`. */
export function randomRule(r: Rand, mask: Uint32Array, prios: readonly number[]): ClsRule {
  const f = randomFlow(r);
  const m = new Match(new Uint32Array(OF_WORDS), Uint32Array.from(mask));
  for (let i = 0; i < OF_WORDS; i++) m.value[i] = (f[i] & mask[i]) >>> 0;
  return new ClsRule(m, pick(r, prios));
}

/** Brute force: every rule that matches, and the best priority among them (-1 if none). */
export function bruteForce(rules: Iterable<ClsRule>, flow: Uint32Array): { best: number; matching: ClsRule[] } {
  const matching: ClsRule[] = [];
  let best = -1;
  for (const r of rules) {
    if (!r.match.matchesFlow(flow)) continue;
    matching.push(r);
    if (r.priority > best) best = r.priority;
  }
  return { best, matching };
}

/** A flow agreeing with `flow` on the bits of `wc`, the other bits from `other` or random. */
export function agreeing(r: Rand, flow: Uint32Array, wc: Uint32Array, other: Uint32Array): Uint32Array {
  const out = new Uint32Array(OF_WORDS);
  const useRandom = r() < 0.3;
  for (let i = 0; i < OF_WORDS; i++) {
    const free = useRandom ? u32(r) : other[i];
    out[i] = ((flow[i] & wc[i]) | (free & ~wc[i])) >>> 0;
  }
  return out;
}

export { setBits };
