/*
 * TextWriter (the bulk text output of dump-flows): numbers print as `${n}` prints them, in every
 * range and for values that are not 32-bit integers; strings keep non-ASCII text; take() and
 * takeAscii() start the writer over, and it grows past its first buffer.
 */
import { describe, expect, it } from 'vitest';
import { TextWriter } from '../../../../src/vswitchd/ofp/text-writer.js';

describe('TextWriter', () => {
  it('prints numbers as String() does', () => {
    const t = new TextWriter(16);
    const values = [0, 7, 9, 10, 99, 100, 999, 1000, 65535, 1e6, 123456789, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53, -1, 1.5, NaN];
    for (const v of values) {
      t.uint(v);
      expect(t.take()).toBe(String(v));
    }
  });

  it('pads to three digits', () => {
    const t = new TextWriter(4);
    for (const v of [0, 5, 42, 999]) {
      t.pad3(v);
      expect(t.take()).toBe(String(v).padStart(3, '0'));
    }
  });

  it('keeps non-ASCII strings and tells takeAscii() so', () => {
    const t = new TextWriter(4);
    t.ascii('port=');
    t.str('brü0');
    expect(t.takeAscii()).toBeNull();
    expect(t.take()).toBe('port=brü0');
    t.ascii('plain');
    expect(t.takeAscii()?.toString('latin1')).toBe('plain');
    expect(t.take()).toBe('');
  });

  it('grows past its first buffer without losing text', () => {
    const t = new TextWriter(8);
    let want = '';
    for (let i = 0; i < 1000; i++) {
      t.ascii('n=');
      t.uint(i);
      t.char(10);
      want += `n=${i}\n`;
    }
    expect(t.take()).toBe(want);
  });
});
