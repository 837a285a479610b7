/*
 * The classifier: a set of rules (match + priority) and lookup of the highest-priority rule
 * that matches a flow, reporting which bits of the flow the answer depends on. One per OpenFlow
 * table (flow-table.ts); lookup runs per upcall and per revalidation, the rest on flow mods.
 *
 * Design: tuple space search. Rules are grouped into subtables by mask; within a subtable a rule
 * is found by hashing the flow's masked words, so a lookup costs one probe per subtable rather
 * than one comparison per rule. Subtables are visited in order of the highest priority they
 * hold, and the walk stops at the first subtable whose best rule could not beat the one already
 * found (priority pruning): with many rules in few masks a lookup touches a handful of
 * subtables. Among matching rules of equal priority the first one found wins, as in OVS (OpenFlow
 * leaves the choice open); the result is still a function of the flow and the rule set.
 *
 * Un-wildcarding: lookup(flow, wc) ORs into `wc` (a mask over the OpenFlow flow layout) every
 * bit the answer depended on, so that any flow agreeing with `flow` on those bits gets the same
 * answer; the caller turns wc into the datapath flow's mask, making the cached flow as wide as
 * is correct. The bits are:
 *  - of a subtable probed to the end: its whole mask (the probe read those bits);
 *  - of a subtable skipped at an early stage: the mask bits of the stages read so far. Each
 *    subtable splits its mask into stages (in_port/metadata/registers, L2, L3, L4) and keeps a
 *    set of the stage-prefix hashes of its rules; when the flow's prefix hash is absent no rule
 *    can match and the later stages were never looked at. A packet that is not TCP thus
 *    misses the subtable of "tcp,tp_dst=80" rules at the L3 stage and its megaflow does not pin
 *    tp_dst. (A hash collision only makes the walk go on: never wrong, at worst narrower.)
 *  - of a subtable skipped by prefix tracking: a few leading bits of nw_src or nw_dst. For the
 *    first word of each (IPv4 address, or the first 32 bits of an IPv6 one) a trie holds every
 *    rule's prefix; when the walk reaches the stage holding that word, a subtable whose mask on
 *    it is a /N prefix is skipped if no rule prefix of length N matches, and only the bits the
 *    trie walk read are un-wildcarded (that alone proves no rule of the subtable matches, so
 *    the stages passed before it add nothing). With rules 10.0.0.0/8 and 10.1.2.3/32, a packet
 *    to 192.168.1.1 depends on 1 bit of nw_dst.
 *  - pruned subtables contribute nothing: their order and the pruning depend only on the rule
 *    set and on results that depend on bits already un-wildcarded.
 * Each step depends only on bits it un-wildcards, which is the whole correctness argument;
 * test/unit/vswitchd/ofp/classifier.test.ts checks it against random rules and packets.
 *
 * Notes on performance: lookup allocates nothing: per subtable a typed array of the word
 * indices its mask uses (in stage order), a running 32-bit hash and one probe per stage into
 * open-addressing tables of typed arrays (int-map.ts; a JS Map probe costs several times as
 * much). Rules with the same masked value share a bucket ordered by priority. The trie walk
 * (once per field per lookup, only for IP packets reaching a prefix subtable) is the largest
 * single cost at 100k rules; it buys narrower megaflows. Non-strict selection (covered) scans
 * the rules of every subtable whose mask includes the filter's: O(rules), as in OVS.
 */
import { W_NW_DST, W_NW_SRC } from '../../lib/flow-key.js';
import { IntBuckets, IntCounts } from './int-map.js';
import { OF_W_METADATA, OF_WORDS } from './layout.js';
import type { Match } from './match.js';
import { PrefixTrie, prefixMask32 } from './prefix-trie.js';
import { murmurFinish, murmurMix } from '../../lib/murmur.js';

/** A rule as the classifier sees it; flow-table.ts extends it. Fields are set on insert. */
export class ClsRule {
  readonly match: Match;
  readonly priority: number;
  /** Insertion order (older rules first among equals), set by insert(). */
  seq = 0;
  /** Internal: the subtable and hash bucket key, while inserted. */
  subtable: Subtable | null = null;
  hash = 0;
  constructor(match: Match, priority: number) {
    this.match = match;
    this.priority = priority;
  }
}

/** Stage of each flow word: 0 in_port/metadata/registers, 1 L2, 2 L3, 3 L4. */
const WORD_STAGE = new Uint8Array(OF_WORDS);
for (let w = 0; w < OF_WORDS; w++) {
  WORD_STAGE[w] = w === 0 || w >= OF_W_METADATA ? 0 : w <= 4 ? 1 : w === 14 || (w >= 19 && w <= 22) ? 3 : 2;
}
const N_STAGES = 4;

const HASH_BASIS = 0x2e5a1b3d;
/** Final mix, kept to 30 bits so Map keys stay small integers (no heap numbers per lookup). */
function finish(h: number): number {
  return murmurFinish(h) & 0x3fffffff;
}

/** Prefix length of a 32-bit mask word, or -1 when it is not a prefix. */
function wordPrefixLen(m: number): number {
  const inv = ~m >>> 0;
  if ((inv & (inv + 1)) !== 0) return -1;
  return m === 0 ? 0 : Math.clz32(inv);
}

export class Subtable {
  readonly mask: Uint32Array;
  /** Hash of the mask words (the classifier's index of subtables). */
  readonly maskHash: number;
  /** The classifier it belongs to; null once removed from it. */
  owner: object | null;
  /** Indices of the non-zero mask words, in stage order. */
  readonly words: Int32Array;
  /** stageEnd[i]: words[0, stageEnd[i]) are the words of stages up to the i-th used stage. */
  readonly stageEnd: Int32Array;
  /** Counts of stage-prefix hashes, for every stage but the last. */
  readonly stageSets: IntCounts[];
  readonly buckets = new IntBuckets<ClsRule>();
  readonly trieLenSrc: number;
  readonly trieLenDst: number;
  /** Index (in stageEnd) of the stage before which the tries are consulted; -1: no trie use. */
  readonly trieStage: number;
  maxPriority = -1;
  nRules = 0;
  private readonly prioCount = new Map<number, number>();

  constructor(owner: object, mask: Uint32Array, maskHash: number) {
    this.owner = owner;
    this.mask = Uint32Array.from(mask);
    this.maskHash = maskHash;
    const ws: number[] = [];
    const ends: number[] = [];
    for (let s = 0; s < N_STAGES; s++) {
      const before = ws.length;
      for (let w = 0; w < OF_WORDS; w++) if (WORD_STAGE[w] === s && mask[w] !== 0) ws.push(w);
      if (ws.length > before) ends.push(ws.length);
    }
    if (ends.length === 0) ends.push(0);
    this.words = Int32Array.from(ws);
    this.stageEnd = Int32Array.from(ends);
    this.stageSets = [];
    for (let i = 0; i < ends.length - 1; i++) this.stageSets.push(new IntCounts());
    this.trieLenSrc = wordPrefixLen(mask[W_NW_SRC]);
    this.trieLenDst = wordPrefixLen(mask[W_NW_DST]);
    let ts = -1;
    if (this.trieLenSrc > 0 || this.trieLenDst > 0) {
      for (let i = 0, start = 0; i < ends.length; start = ends[i], i++) {
        for (let k = start; k < ends[i]; k++) if (ws[k] === W_NW_SRC || ws[k] === W_NW_DST) ts = ts < 0 ? i : ts;
      }
    }
    this.trieStage = ts;
  }

  /** Stage hashes of a rule's value: calls `fn` for each stage but the last, returns the full hash. */
  hashRule(value: Uint32Array, fn: ((i: number, h: number) => void) | null): number {
    let h = HASH_BASIS;
    let j = 0;
    const last = this.stageEnd.length - 1;
    for (let s = 0; s <= last; s++) {
      for (const end = this.stageEnd[s]; j < end; j++) h = murmurMix(h, value[this.words[j]]);
      if (s < last && fn) fn(s, finish(h));
    }
    return finish(h);
  }

  /** Adjusts the priority bookkeeping; returns true when maxPriority changed. */
  countPriority(p: number, delta: number): boolean {
    const n = (this.prioCount.get(p) ?? 0) + delta;
    if (n === 0) this.prioCount.delete(p);
    else this.prioCount.set(p, n);
    const old = this.maxPriority;
    if (delta > 0 && p > old) this.maxPriority = p;
    else if (delta < 0 && n === 0 && p === old) {
      let m = -1;
      for (const k of this.prioCount.keys()) if (k > m) m = k;
      this.maxPriority = m;
    }
    return this.maxPriority !== old;
  }
}

function maskHashOf(mask: Uint32Array): number {
  let h = HASH_BASIS;
  for (let i = 0; i < OF_WORDS; i++) h = murmurMix(h, mask[i]);
  return finish(h);
}

function sameMask(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < OF_WORDS; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameValue(a: Match, b: Match, words: Int32Array): boolean {
  for (let j = 0; j < words.length; j++) if (a.value[words[j]] !== b.value[words[j]]) return false;
  return true;
}

export class Classifier<R extends ClsRule = ClsRule> {
  /** Subtables by mask hash (a list: different masks may share a hash). */
  private readonly byMask = new Map<number, Subtable[]>();
  /** Subtables by maxPriority, highest first (stable for equal priorities). */
  private subtables: Subtable[] = [];
  private readonly trieSrc = new PrefixTrie();
  private readonly trieDst = new PrefixTrie();
  private seq = 0;
  private n = 0;

  get count(): number {
    return this.n;
  }
  get subtableCount(): number {
    return this.subtables.length;
  }

  /** Adds a rule. Rules with the same match and priority may coexist (callers prevent it). */
  insert(rule: R): void {
    if (rule.subtable !== null) throw new Error('rule is already in a classifier');
    let st = this.findSubtable(rule.match.mask);
    if (st === null) {
      const h = maskHashOf(rule.match.mask);
      st = new Subtable(this, rule.match.mask, h);
      const list = this.byMask.get(h);
      if (list === undefined) this.byMask.set(h, [st]);
      else list.push(st);
      this.subtables.push(st);
    }
    const sets = st.stageSets;
    rule.hash = st.hashRule(rule.match.value, (i, h) => sets[i].add(h));
    rule.seq = ++this.seq;
    rule.subtable = st;
    const bucket = st.buckets.get(rule.hash);
    if (bucket === undefined) {
      st.buckets.set(rule.hash, [rule]);
    } else {
      let i = bucket.length;
      while (i > 0 && bucket[i - 1].priority < rule.priority) i--;
      bucket.splice(i, 0, rule);
    }
    st.nRules++;
    this.n++;
    if (st.trieLenSrc > 0) this.trieSrc.insert(rule.match.value[W_NW_SRC], st.trieLenSrc);
    if (st.trieLenDst > 0) this.trieDst.insert(rule.match.value[W_NW_DST], st.trieLenDst);
    if (st.countPriority(rule.priority, 1) || st.nRules === 1) this.resort();
  }

  /** Removes a rule; false when it is not in this classifier. */
  remove(rule: R): boolean {
    const st = rule.subtable;
    if (st === null || st.owner !== this) return false;
    const bucket = st.buckets.get(rule.hash);
    const i = bucket ? bucket.indexOf(rule) : -1;
    if (bucket === undefined || i < 0) return false;
    bucket.splice(i, 1);
    if (bucket.length === 0) st.buckets.delete(rule.hash);
    const sets = st.stageSets;
    st.hashRule(rule.match.value, (s, h) => sets[s].remove(h));
    if (st.trieLenSrc > 0) this.trieSrc.remove(rule.match.value[W_NW_SRC], st.trieLenSrc);
    if (st.trieLenDst > 0) this.trieDst.remove(rule.match.value[W_NW_DST], st.trieLenDst);
    rule.subtable = null;
    st.nRules--;
    this.n--;
    const changed = st.countPriority(rule.priority, -1);
    if (st.nRules === 0) {
      st.owner = null;
      const list = this.byMask.get(st.maskHash)!.filter((x) => x !== st);
      if (list.length === 0) this.byMask.delete(st.maskHash);
      else this.byMask.set(st.maskHash, list);
      this.subtables = this.subtables.filter((x) => x !== st);
    } else if (changed) {
      this.resort();
    }
    return true;
  }

  private findSubtable(mask: Uint32Array): Subtable | null {
    const list = this.byMask.get(maskHashOf(mask));
    if (list !== undefined) for (const st of list) if (sameMask(st.mask, mask)) return st;
    return null;
  }

  private resort(): void {
    this.subtables.sort((a, b) => b.maxPriority - a.maxPriority);
  }

  /** The rule with exactly this match and priority, or null. */
  findExact(match: Match, priority: number): R | null {
    const st = this.findSubtable(match.mask);
    if (st === null) return null;
    const bucket = st.buckets.get(st.hashRule(match.value, null));
    if (bucket === undefined) return null;
    for (const r of bucket) if (r.priority === priority && sameValue(r.match, match, st.words)) return r as R;
    return null;
  }

  /**
   * The highest-priority rule matching `flow` (OF_WORDS words), or null. When `wc` is given,
   * ORs into it the bits the answer depends on (see the top of this file). No allocation.
   */
  lookup(flow: Uint32Array, wc: Uint32Array | null): R | null {
    let best: ClsRule | null = null;
    let bestPri = -1;
    let srcDone = false;
    let dstDone = false;
    const subtables = this.subtables;
    outer: for (let si = 0; si < subtables.length; si++) {
      const st = subtables[si];
      if (st.maxPriority <= bestPri) break;
      const words = st.words;
      const mask = st.mask;
      const ends = st.stageEnd;
      const last = ends.length - 1;
      let h = HASH_BASIS;
      let j = 0;
      for (let s = 0; s <= last; s++) {
        if (s === st.trieStage) {
          // Prefix tracking, consulted when the walk reaches the stage holding nw_src/nw_dst.
          // A skip here depends on the trie's bits alone (no rule of this prefix length matches).
          if (st.trieLenSrc > 0) {
            if (!srcDone) {
              this.trieSrc.lookup(flow[W_NW_SRC]);
              srcDone = true;
            }
            if (!this.trieSrc.matched(st.trieLenSrc)) {
              if (wc !== null) wc[W_NW_SRC] = (wc[W_NW_SRC] | prefixMask32(this.trieSrc.checkBits)) >>> 0;
              continue outer;
            }
          }
          if (st.trieLenDst > 0) {
            if (!dstDone) {
              this.trieDst.lookup(flow[W_NW_DST]);
              dstDone = true;
            }
            if (!this.trieDst.matched(st.trieLenDst)) {
              if (wc !== null) wc[W_NW_DST] = (wc[W_NW_DST] | prefixMask32(this.trieDst.checkBits)) >>> 0;
              continue outer;
            }
          }
        }
        const end = ends[s];
        for (; j < end; j++) {
          const w = words[j];
          h = murmurMix(h, flow[w] & mask[w]);
        }
        if (s < last && !st.stageSets[s].has(finish(h))) {
          if (wc !== null) for (let k = 0; k < end; k++) wc[words[k]] = (wc[words[k]] | mask[words[k]]) >>> 0;
          continue outer;
        }
      }
      if (wc !== null) for (let k = 0; k < words.length; k++) wc[words[k]] = (wc[words[k]] | mask[words[k]]) >>> 0;
      const bucket = st.buckets.get(finish(h));
      if (bucket === undefined) continue;
      for (let b = 0; b < bucket.length; b++) {
        const r = bucket[b];
        if (r.priority <= bestPri) break;
        const v = r.match.value;
        let k = 0;
        for (; k < words.length; k++) {
          const w = words[k];
          if (((flow[w] & mask[w]) >>> 0) !== v[w]) break;
        }
        if (k === words.length) {
          best = r;
          bestPri = r.priority;
          break;
        }
      }
    }
    return best as R | null;
  }

  /** Every rule, in no particular order. */
  rules(): R[] {
    const out: ClsRule[] = [];
    for (const st of this.subtables) st.buckets.collect(out);
    return out as R[];
  }

  /**
   * Rules that `filter` covers (non-strict selection: at least as specific, agreeing on its
   * bits). Only subtables whose mask includes the filter's are read, and per rule only the
   * words the filter constrains are compared.
   */
  covered(filter: Match): R[] {
    const out: R[] = [];
    const fm = filter.mask;
    const fv = filter.value;
    const ws: number[] = [];
    for (let i = 0; i < OF_WORDS; i++) if (fm[i] !== 0) ws.push(i);
    const scratch: ClsRule[] = [];
    for (const st of this.subtables) {
      let sub = true;
      for (const i of ws) if ((fm[i] & ~st.mask[i]) !== 0) { sub = false; break; }
      if (!sub) continue;
      scratch.length = 0;
      st.buckets.collect(scratch);
      for (const r of scratch) {
        const v = r.match.value;
        let ok = true;
        for (let k = 0; k < ws.length; k++) {
          const i = ws[k];
          if (((v[i] ^ fv[i]) & fm[i]) !== 0) { ok = false; break; }
        }
        if (ok) out.push(r as R);
      }
    }
    return out;
  }

  /** A rule of priority `priority` that some packet matches together with `match`, or null. */
  findOverlap(match: Match, priority: number): R | null {
    const scratch: ClsRule[] = [];
    for (const st of this.subtables) {
      if (st.maxPriority < priority) continue;
      scratch.length = 0;
      for (const r of st.buckets.collect(scratch)) if (r.priority === priority && r.match.overlaps(match)) return r as R;
    }
    return null;
  }
}
