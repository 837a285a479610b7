/*
 * Flow key hashes (hot: per received frame, and at flow install), all in Math.imul so V8 keeps
 * them in int32 registers. hashKey covers all KEY_WORDS words (the exact-match cache);
 * hashMasked (murmur3's block mix and finalizer) covers only the words a megaflow subtable's
 * mask selects, each ANDed with the mask (one hash per subtable probe). Seeds are fixed because
 * hashes never leave this process (tables rehash with the same functions). KEY_WORDS is even.
 */
import { KEY_WORDS } from '../lib/flow-key.js';
import { murmurFinish, murmurMix } from '../lib/murmur.js';

const SEED = 0x9747b28c;

/**
 * Hash of the key at keys[ko .. ko+KEY_WORDS), an unsigned 32-bit integer. Allocation-free.
 * Two independent lanes (even and odd words, a multiply-xorshift step each) so the CPU can run
 * them in parallel, then murmur3's finalizer: half the latency of a one-lane murmur over 24
 * words, and good enough for a cache index that also compares the full key.
 */
export function hashKey(keys: Uint32Array, ko: number): number {
  let a = SEED;
  let b = 0x85ebca6b;
  for (let i = 0; i < KEY_WORDS; i += 2) {
    a = Math.imul(a ^ keys[ko + i], 0x9e3779b1);
    a ^= a >>> 15;
    b = Math.imul(b ^ keys[ko + i + 1], 0x85ebca77);
    b ^= b >>> 13;
  }
  return murmurFinish(a ^ Math.imul(b, 0xc2b2ae3d) ^ (KEY_WORDS * 4));
}

/**
 * Hash of (key & mask) over the `n` word indices listed in words[0..n): the words where the mask
 * is nonzero. Equal masked keys hash equal whatever the wildcarded bits hold. Allocation-free.
 */
export function hashMasked(keys: Uint32Array, ko: number, mask: Uint32Array, words: Int32Array, n: number): number {
  let h = SEED;
  for (let i = 0; i < n; i++) {
    const w = words[i];
    h = murmurMix(h, keys[ko + w] & mask[w]);
  }
  return murmurFinish(h ^ (n * 4));
}
