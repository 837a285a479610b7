/*
 * PacketBatch: the unit of work of the datapath (hot). A batch owns one preallocated buffer of
 * BATCH_MAX fixed-size slots; frame i lives at buf[offs[i]] with length lens[i]. Netdev rxBurst
 * fills it, the pipeline stages read it and txBurst sends from it. Nothing is allocated after
 * construction: stages move slot indices and lengths, never bytes into new arrays.
 * A slot holds the largest frame a tap can hand over (64 KiB with a virtio header) plus room to
 * push headers (VLAN tags, encapsulation) in place.
 */

/** Frames per burst (one native call per burst). */
export const BATCH_MAX = 32;
/** Bytes per slot: a 64 KiB frame plus 256 bytes for headers pushed in place. */
export const SLOT_SIZE = 65536 + 256;

export class PacketBatch {
  /** BATCH_MAX * SLOT_SIZE bytes; slot i starts at offs[i]. */
  readonly buf: Uint8Array;
  /** Length of the frame in slot i (valid for i < count). */
  readonly lens: Int32Array;
  /** offs[i] = i * SLOT_SIZE, precomputed. */
  readonly offs: Int32Array;
  /** Number of valid frames, slots 0..count-1. */
  count: number;

  constructor() {
    this.buf = new Uint8Array(BATCH_MAX * SLOT_SIZE);
    this.lens = new Int32Array(BATCH_MAX);
    this.offs = new Int32Array(BATCH_MAX);
    for (let i = 0; i < BATCH_MAX; i++) this.offs[i] = i * SLOT_SIZE;
    this.count = 0;
  }

  /** Copies `frame` into the next free slot; returns false (and copies nothing) when the batch
   *  is full or the frame does not fit a slot. Control path and tests: callers check the result. */
  push(frame: Uint8Array): boolean {
    if (this.count >= BATCH_MAX || frame.length > SLOT_SIZE) return false;
    const i = this.count++;
    this.buf.set(frame, this.offs[i]);
    this.lens[i] = frame.length;
    return true;
  }

  /** A copy of frame i (allocates: tests, tracing and the control path only). */
  copyFrame(i: number): Uint8Array {
    if (i < 0 || i >= this.count) throw new RangeError(`frame ${i} out of range (count ${this.count})`);
    return this.buf.slice(this.offs[i], this.offs[i] + this.lens[i]);
  }
}
