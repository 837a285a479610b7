/*
 * The datapath daemon's V8 flags (v8-flags.ts): the tier-up budget and the memory-reducer flag
 * always, VSWITCH_DATAPATH_V8_FLAGS after them when set, each handed to V8 in that order.
 */
import { describe, expect, it } from 'vitest';
import { datapathV8Flags, GC_FLAGS, JIT_INTERRUPT_BUDGET, setDatapathV8Flags } from '../../../src/datapath/v8-flags.js';

describe('datapath V8 flags', () => {
  it('sets the tier-up budget and turns the memory reducer off by default', () => {
    expect(datapathV8Flags({})).toEqual([`--interrupt-budget=${JIT_INTERRUPT_BUDGET}`, GC_FLAGS]);
    expect(GC_FLAGS).toBe('--no-memory-reducer-for-small-heaps');
    expect(datapathV8Flags({ VSWITCH_DATAPATH_V8_FLAGS: '  ' })).toHaveLength(2);
  });

  it('adds VSWITCH_DATAPATH_V8_FLAGS last, so it can override ours', () => {
    const env = { VSWITCH_DATAPATH_V8_FLAGS: '--trace-deopt --interrupt-budget=65536' };
    expect(datapathV8Flags(env).at(-1)).toBe('--trace-deopt --interrupt-budget=65536');
    const set: string[] = [];
    setDatapathV8Flags(env, (f) => set.push(f));
    expect(set).toEqual(datapathV8Flags(env));
  });
});
