/*
 * What vswitchd remembers about each datapath flow it installed (OVS calls these ukeys): the
 * OpenFlow rules its translation went through (credited with the flow's packets and bytes as
 * the revalidator sees them grow), the learn actions it ran (repeated while the flow is used),
 * whether it depends on the MAC table, the table and MAC generations it was translated at, and
 * the counts already credited. Written by the upcall handler (install) and the revalidator
 * (check, credit, delete). Control path.
 *
 * Memory: a flow is identified by two independent 32-bit hashes of its masked key and mask
 * (the map key holds 53 bits of them, `check` the rest), not by a copy of its 48 words, so a
 * ukey costs about 100 bytes: 200k flows fit in ~20 MB. Two flows colliding on all of those
 * bits (odds about 2^-80 per pair) would share counts, nothing worse. Rule lists are shared
 * between ukeys that went through the same rules (NORMAL alone, typically).
 */
import { KEY_WORDS } from '../lib/flow-key.js';
import type { FlowEntry } from './ofp/flow-table.js';
import type { LearnRecord } from './xlate.js';
import { murmurFinish, murmurMix } from '../lib/murmur.js';

export class Ukey {
  readonly check: number;
  rules: FlowEntry[];
  learns: LearnRecord[] | null;
  usesNormal: boolean;
  /** Bridge table and MAC generations the translation was made at. */
  tablesGen: number;
  macGen: number;
  /** Datapath counts already credited to the rules. */
  packets = 0;
  bytes = 0;
  /** Last revalidation pass that saw this flow in the datapath. */
  seen: number;
  constructor(check: number, rules: FlowEntry[], learns: LearnRecord[] | null, usesNormal: boolean, tablesGen: number, macGen: number, seen: number) {
    this.check = check;
    this.rules = rules;
    this.learns = learns;
    this.usesNormal = usesNormal;
    this.tablesGen = tablesGen;
    this.macGen = macGen;
    this.seen = seen;
  }
}


/** Hashes of the last identify() call. */
let idKey = 0;
let idCheck = 0;

/** Sets idKey/idCheck for the flow (key & mask, mask); `key` need not be masked. */
function identify(key: ArrayLike<number>, ko: number, mask: ArrayLike<number>, mo: number): void {
  let a = 0x5bd1e995;
  let b = 0x2c1b3c6d;
  for (let i = 0; i < KEY_WORDS; i++) {
    const m = mask[mo + i] >>> 0;
    const k = (key[ko + i] & m) >>> 0;
    a = murmurMix(a, k);
    a = murmurMix(a, m);
    b = murmurMix(b, m ^ 0x9e3779b9);
    b = murmurMix(b, k + i);
  }
  const h1 = murmurFinish(a);
  const h2 = murmurFinish(b);
  idKey = (h1 * 0x200000) + (h2 >>> 11); // 32 + 21 bits
  idCheck = h2;
}

export class UkeyTable {
  private readonly map = new Map<number, Ukey>();
  /** Current revalidation pass number (set by the revalidator). */
  pass = 0;
  private lastRules: FlowEntry[] = [];

  get size(): number {
    return this.map.size;
  }

  get(key: ArrayLike<number>, ko: number, mask: ArrayLike<number>, mo: number): Ukey | undefined {
    identify(key, ko, mask, mo);
    const u = this.map.get(idKey);
    return u !== undefined && u.check === idCheck ? u : undefined;
  }

  /**
   * Records a fresh translation of the flow (key & mask, mask): a new ukey, its counts
   * starting from zero (a new datapath flow), or the existing one updated.
   */
  put(key: ArrayLike<number>, mask: ArrayLike<number>, rules: FlowEntry[], learns: LearnRecord[] | null, usesNormal: boolean, tablesGen: number, macGen: number): Ukey {
    identify(key, 0, mask, 0);
    const shared = this.share(rules);
    const old = this.map.get(idKey);
    if (old !== undefined && old.check === idCheck) {
      this.update(old, shared, learns, usesNormal, tablesGen, macGen);
      old.seen = this.pass;
      return old;
    }
    const u = new Ukey(idCheck, shared, learns, usesNormal, tablesGen, macGen, this.pass);
    this.map.set(idKey, u);
    return u;
  }

  update(u: Ukey, rules: FlowEntry[], learns: LearnRecord[] | null, usesNormal: boolean, tablesGen: number, macGen: number): void {
    u.rules = this.share(rules);
    u.learns = learns;
    u.usesNormal = usesNormal;
    u.tablesGen = tablesGen;
    u.macGen = macGen;
  }

  delete(key: ArrayLike<number>, ko: number, mask: ArrayLike<number>, mo: number): void {
    identify(key, ko, mask, mo);
    const u = this.map.get(idKey);
    if (u !== undefined && u.check === idCheck) this.map.delete(idKey);
  }

  /** Drops the ukeys of flows no pass since `pass` has seen (flows deleted behind our back). */
  sweep(pass: number): number {
    let n = 0;
    for (const [k, u] of this.map) {
      if (u.seen < pass) {
        this.map.delete(k);
        n++;
      }
    }
    return n;
  }

  clear(): void {
    this.map.clear();
  }

  /** The same array as the last one stored when the rules are the same. */
  private share(rules: FlowEntry[]): FlowEntry[] {
    const last = this.lastRules;
    if (last.length === rules.length) {
      let same = true;
      for (let i = 0; i < rules.length; i++) if (last[i] !== rules[i]) { same = false; break; }
      if (same) return last;
    }
    this.lastRules = rules;
    return rules;
  }
}
