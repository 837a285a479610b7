import { describe, expect, it } from 'vitest';
import { BenchUsageError, SETUP_IDS, parseBenchArgs } from '../../../bench/options.js';

describe('bench option parsing', () => {
  it('runs every setup for 10 s by default', () => {
    const o = parseBenchArgs([]);
    expect(o.only).toEqual([...SETUP_IDS]);
    expect(o.seconds).toBe(10);
    expect(o.quick).toBe(false);
    expect(o.outDir).toBeNull();
    expect(o.pingCount).toBe(1000);
    expect(o.latencyRounds).toBe(5);
  });

  it('--quick shortens the runs and the round-trip counts', () => {
    const o = parseBenchArgs(['--quick']);
    expect(o.seconds).toBe(2);
    expect(o.pingCount).toBeLessThan(parseBenchArgs([]).pingCount);
    expect(o.latencyRounds).toBeGreaterThanOrEqual(2);
    expect(o.rrCount).toBeLessThan(parseBenchArgs([]).rrCount);
  });

  it('--time overrides the length, with or without --quick, in either spelling', () => {
    expect(parseBenchArgs(['--time', '5']).seconds).toBe(5);
    expect(parseBenchArgs(['--quick', '--time=0.5']).seconds).toBe(0.5);
    expect(parseBenchArgs(['--time=3', '--quick']).seconds).toBe(3);
  });

  it('--only keeps the canonical order, expands d to both OVS variants and drops repeats', () => {
    expect(parseBenchArgs(['--only', 'c,a']).only).toEqual(['a', 'c']);
    expect(parseBenchArgs(['--only=d']).only).toEqual(['d0', 'dt']);
    expect(parseBenchArgs(['--only', 'dt, A ,a']).only).toEqual(['a', 'dt']);
    expect(parseBenchArgs(['--only', 'all']).only).toEqual([...SETUP_IDS]);
  });

  it('takes --out and --help', () => {
    expect(parseBenchArgs(['--out', '/tmp/x']).outDir).toBe('/tmp/x');
    expect(parseBenchArgs(['-h']).help).toBe(true);
    expect(parseBenchArgs(['--help']).help).toBe(true);
  });

  it('rejects what it does not understand, saying what was expected', () => {
    expect(() => parseBenchArgs(['--only', 'a,x'])).toThrow(/unknown setup 'x'/);
    expect(() => parseBenchArgs(['--only', ','])).toThrow(/needs a list/);
    expect(() => parseBenchArgs(['--only'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['--time', '0'])).toThrow(/positive number of seconds/);
    expect(() => parseBenchArgs(['--time', 'abc'])).toThrow(/positive/);
    expect(() => parseBenchArgs(['--time'])).toThrow(/positive/);
    expect(() => parseBenchArgs(['--out'])).toThrow(/directory/);
    expect(() => parseBenchArgs(['--fast'])).toThrow(/unknown argument '--fast'/);
    try {
      parseBenchArgs(['extra']);
      expect.unreachable();
    } catch (e) {
      expect((e as BenchUsageError).code).toBe('BENCH_USAGE');
    }
  });
});
