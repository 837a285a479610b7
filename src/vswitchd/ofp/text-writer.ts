/*
 * Text written as UTF-8 straight into one growing, reused buffer: ASCII words, decimal and
 * hexadecimal numbers, and strings. For output of many lines (ofctl dump-flows' 100k flows,
 * wire-flow-text.ts) without a JS string per piece; the result becomes one string per chunk.
 * Control path, hot for big dumps: no allocation per write once the buffer has grown.
 */
import { GrowBuffer } from '../../lib/grow-buffer.js';

export class TextWriter extends GrowBuffer {
  constructor(initial = 1 << 20) {
    super(initial);
  }

  /** Whether anything but ASCII was written since the last take(). */
  private wide = false;

  /** A string of any characters, as UTF-8 (short ASCII strings by a loop: cheaper than a native write). */
  str(s: string): void {
    const n = s.length;
    this.ensure(n * 3);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 128) {
        this.wide = true;
        this.pos = p + buf.write(s.slice(i), p, 'utf8');
        return;
      }
      buf[p++] = c;
    }
    this.pos = p;
  }

  /** A string known to be ASCII (keywords, punctuation, numbers). */
  ascii(s: string): void {
    const n = s.length;
    this.ensure(n);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) buf[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /** One ASCII character. */
  char(c: number): void {
    this.ensure(1);
    this.buf[this.pos++] = c;
  }

  /** A non-negative number in decimal, as `${n}` prints it. */
  uint(n: number): void {
    if (n >>> 0 === n) { // an integer in 0 .. 2^32 - 1
      this.ensure(10);
      const buf = this.buf;
      if (n < 10) {
        buf[this.pos++] = 48 + n;
        return;
      }
      // Digits counted by comparisons, then written last first (no division to count them).
      const digits = n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : n < 100000 ? 5 : n < 1000000 ? 6 : n < 10000000 ? 7
        : n < 100000000 ? 8 : n < 1000000000 ? 9 : 10;
      let p = this.pos + digits;
      this.pos = p;
      let x = n;
      while (x >= 10) {
        const q = Math.floor(x / 10);
        buf[--p] = 48 + (x - q * 10);
        x = q;
      }
      buf[--p] = 48 + x;
      return;
    }
    this.ascii(String(n));
  }

  /** `n` with at least three digits (zero-padded), n < 1000. */
  pad3(n: number): void {
    this.ensure(3);
    const buf = this.buf;
    buf[this.pos++] = 48 + Math.floor(n / 100);
    buf[this.pos++] = 48 + (Math.floor(n / 10) % 10);
    buf[this.pos++] = 48 + (n % 10);
  }

  /**
   * Everything written, as bytes of their own (a copy: the writer starts over and reuses its
   * buffer), or null when it is not all ASCII (take() then has the string).
   */
  takeAscii(): Buffer | null {
    if (this.wide) return null;
    const b = Buffer.allocUnsafeSlow(this.pos);
    this.buf.copy(b, 0, 0, this.pos);
    this.pos = 0;
    return b;
  }

  /** Everything written, as a string; the writer starts over. */
  take(): string {
    const s = this.buf.toString(this.wide ? 'utf8' : 'latin1', 0, this.pos);
    this.pos = 0;
    this.wide = false;
    return s;
  }
}
