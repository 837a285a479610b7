/*
 * One megaflow subtable: the flows that share a mask, indexed by a hash of their masked key.
 * Owned and driven by MegaflowTable (megaflow.ts), which keeps the flows' keys and hashes in its
 * pool; a subtable only stores flow ids and their hashes. find() is control path; the hot
 * lookup loop in MegaflowTable reads `slots`, `slotHash`, `words` directly.
 *
 * Layout: open addressing with linear probing over a power-of-two array (load ≤ 1/2, doubled by
 * the owner before it would pass), the full hash stored beside each id so most non-matching
 * slots are rejected without touching the key. Deletion shifts later entries of the cluster
 * back (no tombstones), so probe chains stay as short as if deleted flows had never been there.
 * `words` lists the mask's nonzero words: the only ones hashed and compared.
 */
import { KEY_WORDS } from '../lib/flow-key.js';
import { hashMasked } from './hash.js';

export const EMPTY = -1;
const MIN_SLOTS = 16;

export class Subtable {
  readonly id: number;
  readonly mask: Uint32Array;
  /** Indices of the mask's nonzero words, in order. */
  readonly words: Int32Array;
  readonly nWords: number;
  /** Hash of the whole mask: this subtable's key in MegaflowTable's map. */
  readonly maskHash: number;
  slots: Int32Array;
  slotHash: Uint32Array;
  slotMask: number;
  count = 0;
  /** Hits since the last ranking (hot: one increment per hit). */
  hits = 0;
  /** Hits counted before the last ranking. */
  pastHits = 0;

  constructor(id: number, mask: Uint32Array, maskHash: number) {
    this.id = id;
    this.mask = mask;
    this.maskHash = maskHash;
    const words: number[] = [];
    for (let w = 0; w < KEY_WORDS; w++) if (mask[w] !== 0) words.push(w);
    this.words = Int32Array.from(words);
    this.nWords = words.length;
    this.slots = new Int32Array(MIN_SLOTS).fill(EMPTY);
    this.slotHash = new Uint32Array(MIN_SLOTS);
    this.slotMask = MIN_SLOTS - 1;
  }

  /** hashMasked of a key under this subtable's mask. */
  hash(key: Uint32Array, ko: number): number {
    return hashMasked(key, ko, this.mask, this.words, this.nWords);
  }

  /** Id of the flow whose masked key (in `flowKeys`) equals key[ko..] under the mask, or -1. */
  find(key: Uint32Array, ko: number, flowKeys: Uint32Array): number {
    const h = this.hash(key, ko);
    let i = h & this.slotMask;
    for (;;) {
      const f = this.slots[i];
      if (f === EMPTY) return -1;
      if (this.slotHash[i] === h) {
        const b = f * KEY_WORDS;
        let j = 0;
        while (j < this.nWords) {
          const w = this.words[j];
          if (((key[ko + w] & this.mask[w]) >>> 0) !== flowKeys[b + w]) break;
          j++;
        }
        if (j === this.nWords) return f;
      }
      i = (i + 1) & this.slotMask;
    }
  }

  /** Adds flow f with hash h (the caller keeps the load ≤ 1/2). */
  insert(f: number, h: number): void {
    const sm = this.slotMask;
    let i = h & sm;
    while (this.slots[i] !== EMPTY) i = (i + 1) & sm;
    this.slots[i] = f;
    this.slotHash[i] = h;
  }

  /** Removes flow f (hash h). Backward shift: later entries of the cluster move up into the
   *  hole when their home slot does not lie cyclically between the hole and their slot. */
  remove(f: number, h: number): void {
    const sm = this.slotMask;
    const slots = this.slots;
    let i = h & sm;
    while (slots[i] !== f) i = (i + 1) & sm;
    let j = i;
    for (;;) {
      j = (j + 1) & sm;
      if (slots[j] === EMPTY) break;
      const home = this.slotHash[j] & sm;
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      slots[i] = slots[j];
      this.slotHash[i] = this.slotHash[j];
      i = j;
    }
    slots[i] = EMPTY;
  }

  /** Re-indexes into `size` slots (a power of two). */
  resize(size: number): void {
    const oldSlots = this.slots;
    const oldHash = this.slotHash;
    this.slots = new Int32Array(size).fill(EMPTY);
    this.slotHash = new Uint32Array(size);
    this.slotMask = size - 1;
    for (let i = 0; i < oldSlots.length; i++) if (oldSlots[i] !== EMPTY) this.insert(oldSlots[i], oldHash[i]);
  }

  /** Longest probe sequence (tests and diagnostics). */
  maxProbe(): number {
    let worst = 0;
    for (let i = 0; i < this.slots.length; i++) {
      if (this.slots[i] === EMPTY) continue;
      const d = (i - (this.slotHash[i] & this.slotMask)) & this.slotMask;
      if (d > worst) worst = d;
    }
    return worst + 1;
  }
}
