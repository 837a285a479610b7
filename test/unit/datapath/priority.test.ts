// The datapath thread's nice level: VSWITCH_DATAPATH_NICE parsing, the default, and what the
// daemon is told when the kernel refuses. Plus one real setpriority on the test's own
// thread (lowering its priority needs no privilege), read back from /proc.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_DATAPATH_NICE, datapathNice, raiseDatapathPriority } from '../../../src/datapath/priority.js';

describe('datapathNice', () => {
  it('defaults to -10 when unset or empty', () => {
    expect(DEFAULT_DATAPATH_NICE).toBe(-10);
    expect(datapathNice({})).toEqual({ nice: -10, error: null });
    expect(datapathNice({ VSWITCH_DATAPATH_NICE: '' })).toEqual({ nice: -10, error: null });
  });

  it('takes an integer from -20 to 19', () => {
    expect(datapathNice({ VSWITCH_DATAPATH_NICE: '0' })).toEqual({ nice: 0, error: null });
    expect(datapathNice({ VSWITCH_DATAPATH_NICE: '-20' })).toEqual({ nice: -20, error: null });
    expect(datapathNice({ VSWITCH_DATAPATH_NICE: '19' })).toEqual({ nice: 19, error: null });
  });

  it('refuses anything else with a message naming the variable, and keeps the default', () => {
    for (const bad of ['-21', '20', '1.5', 'high']) {
      const r = datapathNice({ VSWITCH_DATAPATH_NICE: bad });
      expect(r.nice).toBe(-10);
      expect(r.error).toContain(`VSWITCH_DATAPATH_NICE=${bad}`);
    }
  });
});

describe('raiseDatapathPriority', () => {
  it('sets the level asked for', () => {
    const got: number[] = [];
    const r = raiseDatapathPriority({ VSWITCH_DATAPATH_NICE: '-5' }, (n) => { got.push(n); });
    expect(got).toEqual([-5]);
    expect(r).toEqual({ nice: -5, error: null });
  });

  it('reports a refusal instead of throwing', () => {
    const r = raiseDatapathPriority({}, () => {
      throw Object.assign(new Error('setpriority EACCES'), { code: 'ERR_SYSTEM_ERROR' });
    });
    expect(r.nice).toBe(-10);
    expect(r.error).toMatch(/cannot set nice -10 \(ERR_SYSTEM_ERROR\)/);
  });

  it('changes the calling thread for real (this test thread lowers its own priority to 7)', () => {
    const r = raiseDatapathPriority({ VSWITCH_DATAPATH_NICE: '7' });
    expect(r.error).toBeNull();
    const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ');
    expect(Number(fields[16])).toBe(7); // field 19 of stat: nice
  });
});
