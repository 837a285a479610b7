/*
 * The exact-match cache (EMC): a small fixed-size cache in front of the megaflow table that maps
 * a full flow key to the megaflow it matched, so a busy microflow costs one hash and one key
 * compare instead of a tuple-space search. lookup() and insert() are hot (per frame); the
 * pipeline owns the calls, the Datapath owns the instance. Config: `emc_insert_inv_prob`
 * (dpif set_config), default 100.
 *
 * Design: EMC_ENTRIES entries, 2-way set associative: a key may live in slot h & mask or in slot
 * (h >>> 13) & mask, where h is hashKey() of the full key. An entry holds the full key, its hash,
 * the megaflow id and that flow's generation when the entry was made; a hit is valid only if
 * the flow's generation still matches (MegaflowTable bumps it when the id is freed), so deleted
 * or reused flows never need to be chased out of the cache. A megaflow hit is inserted with
 * probability 1/emc_insert_inv_prob (1 = always, 0 = EMC off), as Open vSwitch does: with
 * thousands of parallel microflows, inserting every one would keep evicting the entries that
 * were actually hot (thrashing), while a steady flow still gets in after ~N packets.
 *
 * Notes on performance: typed arrays only; the random draw is an inline xorshift32; nothing
 * allocates. 8192 entries × (24 key words + 3) ≈ 864 KiB.
 */
import { KEY_WORDS } from '../lib/flow-key.js';

export const EMC_ENTRIES = 8192;
export const DEFAULT_EMC_INSERT_INV_PROB = 100;
const NONE = -1;

export class Emc {
  readonly size: number;
  private readonly mask: number;
  private readonly keys: Uint32Array;
  private readonly hashes: Uint32Array;
  private readonly flows: Int32Array;
  private readonly gens: Uint32Array;
  /** Insert one megaflow hit in this many (0 = never look up or insert). */
  private invProb: number;
  /** A draw <= threshold inserts. */
  private threshold: number;
  private rng: number;
  /** Entries written (new or overwritten). */
  inserts = 0;

  constructor(invProb = DEFAULT_EMC_INSERT_INV_PROB, size = EMC_ENTRIES, seed = 0x2545f491) {
    if ((size & (size - 1)) !== 0 || size < 2) throw new RangeError('EMC size must be a power of two >= 2');
    this.size = size;
    this.mask = size - 1;
    this.keys = new Uint32Array(size * KEY_WORDS);
    this.hashes = new Uint32Array(size);
    this.flows = new Int32Array(size).fill(NONE);
    this.gens = new Uint32Array(size);
    this.invProb = 0;
    this.threshold = 0;
    this.rng = seed >>> 0 || 1;
    this.setInsertInvProb(invProb);
  }

  get insertInvProb(): number {
    return this.invProb;
  }

  /** Whether lookups are worth doing (false when the EMC is switched off). */
  get enabled(): boolean {
    return this.invProb !== 0;
  }

  /** Sets emc_insert_inv_prob: 0 disables the EMC (and empties it), 1 inserts every hit. */
  setInsertInvProb(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError('emc_insert_inv_prob must be a non-negative integer');
    this.invProb = n;
    this.threshold = n === 0 ? 0 : Math.floor(0xffffffff / n);
    if (n === 0) this.clear();
  }

  /**
   * Megaflow id cached for the key at keys[ko..] with hash `hash`, or -1. `flowGen` is the
   * megaflow table's generation array; an entry whose flow moved on is dropped. Hot.
   */
  lookup(keys: Uint32Array, ko: number, hash: number, flowGen: Uint32Array): number {
    const m = this.mask;
    let e = hash & m;
    for (let way = 0; way < 2; way++) {
      const f = this.flows[e];
      if (f !== NONE && this.hashes[e] === hash && this.sameKey(e, keys, ko)) {
        if (this.gens[e] === flowGen[f]) return f;
        this.flows[e] = NONE; // the flow was deleted: forget the entry
      }
      e = (hash >>> 13) & m;
    }
    return -1;
  }

  /**
   * Caches key → flow `f` (generation `gen`) with probability 1/insertInvProb. Prefers the
   * way holding the same key, then an empty or stale way, else replaces one at random. Hot.
   */
  insert(keys: Uint32Array, ko: number, hash: number, f: number, gen: number, flowGen: Uint32Array): void {
    if (this.invProb === 0) return;
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x >>> 0;
    if (this.invProb !== 1 && this.rng > this.threshold) return;
    const m = this.mask;
    const a = hash & m;
    const b = (hash >>> 13) & m;
    let e: number;
    if (this.hashes[a] === hash && this.flows[a] !== NONE && this.sameKey(a, keys, ko)) e = a;
    else if (this.hashes[b] === hash && this.flows[b] !== NONE && this.sameKey(b, keys, ko)) e = b;
    else if (this.dead(a, flowGen)) e = a;
    else if (this.dead(b, flowGen)) e = b;
    else e = (this.rng & 0x100) === 0 ? a : b;
    const base = e * KEY_WORDS;
    for (let i = 0; i < KEY_WORDS; i++) this.keys[base + i] = keys[ko + i];
    this.hashes[e] = hash;
    this.flows[e] = f;
    this.gens[e] = gen;
    this.inserts++;
  }

  /** Forgets every entry (control path). */
  clear(): void {
    this.flows.fill(NONE);
  }

  /** Entries that still point at a live flow (control path: statistics). */
  liveEntries(flowGen: Uint32Array): number {
    let n = 0;
    for (let e = 0; e < this.size; e++) if (!this.dead(e, flowGen)) n++;
    return n;
  }

  private dead(e: number, flowGen: Uint32Array): boolean {
    const f = this.flows[e];
    return f === NONE || f >= flowGen.length || this.gens[e] !== flowGen[f];
  }

  private sameKey(e: number, keys: Uint32Array, ko: number): boolean {
    const ek = this.keys;
    const base = e * KEY_WORDS;
    for (let i = 0; i < KEY_WORDS; i++) if (ek[base + i] !== keys[ko + i]) return false;
    return true;
  }
}
