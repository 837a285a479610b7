import { describe, expect, it } from 'vitest';
import { roundOrder } from '../../../bench/measure-latency.js';

describe('latency rounds', () => {
  it('rotate the setups so each leads one round in turn, and none is dropped or repeated', () => {
    const ids = ['a', 'b', 'c', 'd0', 'dt'];
    const firsts = [0, 1, 2, 3, 4].map((r) => roundOrder(ids, r)[0]);
    expect(firsts).toEqual(ids);
    for (let r = 0; r < 7; r++) expect([...roundOrder(ids, r)].sort()).toEqual([...ids].sort());
    expect(roundOrder(ids, 2)).toEqual(['c', 'd0', 'dt', 'a', 'b']);
    expect(roundOrder(ids, 5)).toEqual(ids);
    expect(roundOrder([], 3)).toEqual([]);
    expect(ids).toEqual(['a', 'b', 'c', 'd0', 'dt']); // not modified
  });
});
