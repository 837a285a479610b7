/*
 * murmur3's 32-bit block mix and finalizer, in Math.imul so V8 keeps them in int32 registers.
 * Shared by the datapath's key hashes (hot), the OpenFlow classifier and vswitchd's ukey
 * table. Allocation-free; hashes never leave the process, so seeds are each caller's choice.
 */

/** Mixes the 32-bit block `k` into the running hash `h`. */
export function murmurMix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** murmur3's finalizer: avalanches `h`; returns an unsigned 32-bit integer. */
export function murmurFinish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
