/*
 * One growing, reused byte buffer with a write position: the base of the bulk writers that
 * build big replies and outputs without an allocation per piece (ProtoWriter in
 * flowproto/pb-writer.ts, TextWriter in vswitchd/ofp/text-writer.ts, FrameWriter in
 * dpif-proto.ts, also for upcalls). ensure() is one comparison unless the buffer must grow.
 */
export class GrowBuffer {
  buf: Buffer;
  pos = 0;

  constructor(initial: number) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  /** Room for `n` more bytes (doubling; what was written is kept). */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const b = Buffer.allocUnsafe(size);
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
  }
}
