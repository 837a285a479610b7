/*
 * Flow key hash (hot: once per received frame, and at flow install). murmur3's 32-bit block
 * mix over the KEY_WORDS words of a key, then its finalizer, all in Math.imul so V8 keeps it
 * in int32 registers. Keys are fixed length, so no tail handling; the seed is fixed because the
 * hash never leaves this process (the flow table rehashes on growth with the same function).
 */
import { KEY_WORDS } from '../lib/flow-key.js';

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const SEED = 0x9747b28c;

/** Hash of the key at keys[ko .. ko+KEY_WORDS), an unsigned 32-bit integer. Allocation-free. */
export function hashKey(keys: Uint32Array, ko: number): number {
  let h = SEED;
  for (let i = 0; i < KEY_WORDS; i++) {
    let k = Math.imul(keys[ko + i], C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= KEY_WORDS * 4;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
