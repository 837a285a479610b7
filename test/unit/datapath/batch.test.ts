import { describe, expect, it } from 'vitest';
import { BATCH_MAX, PacketBatch, RX_HEADROOM, SCRATCH_SIZE, SLOT_SIZE, slotOf, VNET_WORDS } from '../../../src/datapath/batch.js';

describe('PacketBatch', () => {
  it('preallocates BATCH_MAX slots of SLOT_SIZE bytes with precomputed offsets', () => {
    expect(BATCH_MAX).toBe(32);
    expect(SLOT_SIZE).toBe(65536 + 256);
    const b = new PacketBatch();
    expect(b.buf).toBeInstanceOf(Uint8Array);
    expect(b.buf.length).toBe(BATCH_MAX * SLOT_SIZE + SCRATCH_SIZE);
    expect(b.lens).toBeInstanceOf(Int32Array);
    expect(b.lens.length).toBe(BATCH_MAX);
    expect(b.offs).toBeInstanceOf(Int32Array);
    expect(Array.from(b.offs)).toEqual(Array.from({ length: BATCH_MAX }, (_, i) => i * SLOT_SIZE + RX_HEADROOM));
    expect(b.vnet.length).toBe(BATCH_MAX * VNET_WORDS);
    expect(b.vnetBytes.buffer).toBe(b.vnet.buffer);
    expect(b.count).toBe(0);
    for (let i = 0; i < BATCH_MAX; i++) expect(slotOf(b.offs[i])).toBe(i);
  });

  it('push copies frames into consecutive slots and copyFrame returns them', () => {
    const b = new PacketBatch();
    const buf = b.buf;
    const f0 = Uint8Array.from([1, 2, 3, 4]);
    const f1 = new Uint8Array(1500).fill(7);
    expect(b.push(f0)).toBe(true);
    expect(b.push(f1)).toBe(true);
    f0[0] = 99; // the batch holds a copy
    expect(b.count).toBe(2);
    expect(b.lens[0]).toBe(4);
    expect(b.lens[1]).toBe(1500);
    expect(Array.from(b.copyFrame(0))).toEqual([1, 2, 3, 4]);
    expect(b.buf[SLOT_SIZE + RX_HEADROOM]).toBe(7);
    expect(b.buf[SLOT_SIZE + RX_HEADROOM + 1499]).toBe(7);
    expect(b.buf[SLOT_SIZE + RX_HEADROOM + 1500]).toBe(0);
    expect(b.copyFrame(1)).toEqual(f1);
    expect(b.buf).toBe(buf); // never reallocated
  });

  it('refuses frames when full or larger than a slot', () => {
    const b = new PacketBatch();
    expect(b.push(new Uint8Array(SLOT_SIZE - RX_HEADROOM + 1))).toBe(false);
    expect(b.count).toBe(0);
    expect(b.push(new Uint8Array(SLOT_SIZE - RX_HEADROOM), [1, 2, 3, 4, 5])).toBe(true);
    expect(Array.from(b.vnet.subarray(0, VNET_WORDS))).toEqual([1, 2, 3, 4, 5]);
    for (let i = 1; i < BATCH_MAX; i++) expect(b.push(Uint8Array.of(i))).toBe(true);
    expect(b.count).toBe(BATCH_MAX);
    expect(b.push(Uint8Array.of(1))).toBe(false);
    expect(b.count).toBe(BATCH_MAX);
    expect(b.lens[BATCH_MAX - 1]).toBe(1);
  });

  it('copyFrame rejects indices outside 0..count-1', () => {
    const b = new PacketBatch();
    b.push(Uint8Array.of(1));
    expect(() => b.copyFrame(1)).toThrow(RangeError);
    expect(() => b.copyFrame(-1)).toThrow(RangeError);
  });
});
