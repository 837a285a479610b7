/*
 * selectForStats (the flow stats reply's selection and order, sorted by packed numeric keys)
 * against OfTables.select: the same entries in the same order for every kind of filter, on
 * tables big enough to take the packed-key sort, with replaced flows (new seqs) and several
 * tables; a bad table id fails as select() does.
 */
import { describe, expect, it } from 'vitest';
import { selectForStats, statsOrder } from '../../../src/vswitchd/ofmgmt-stats.js';
import { parseFlow } from '../../../src/vswitchd/ofp/flow-syntax.js';
import { parseMatch } from '../../../src/vswitchd/ofp/match-syntax.js';
import { OfTables } from '../../../src/vswitchd/ofp/tables.js';

function tables(): OfTables {
  const t = new OfTables(true, 1000);
  for (let i = 0; i < 3000; i++) {
    const table = i % 7 === 0 ? 2 : 0;
    t.apply(parseFlow(`table=${table},cookie=${i % 5},priority=${(i * 7919) % 300},udp,nw_src=10.0.${(i >> 8) & 255}.${i & 255},actions=output:${1 + (i % 3)}`), 1000 + i);
  }
  // Re-adding a flow gives it a new place among its priority (OpenFlow: an add replaces).
  for (let i = 0; i < 3000; i += 97) {
    const table = i % 7 === 0 ? 2 : 0;
    t.apply(parseFlow(`table=${table},cookie=${i % 5},priority=${(i * 7919) % 300},udp,nw_src=10.0.${(i >> 8) & 255}.${i & 255},actions=drop`), 9000 + i);
  }
  return t;
}

describe('selectForStats', () => {
  const t = tables();
  const filters: [string, Parameters<OfTables['select']>[0]][] = [
    ['every table', { table: 255 }],
    ['table 2', { table: 2 }],
    ['table 9 (empty)', { table: 9 }],
    ['a match', { table: 255, match: parseMatch('udp,nw_src=10.0.1.0/24') }],
    ['a cookie', { table: 255, cookie: 3n, cookieMask: 0xffn }],
    ['an out_port', { table: 0, outPort: 2 }],
    ['strict', { table: 255, match: parseMatch('udp,nw_src=10.0.0.5'), strict: true, priority: (5 * 7919) % 300 }],
  ];
  for (const [label, f] of filters) {
    it(`selects and orders as OfTables.select (${label})`, () => {
      const want = t.select(f);
      const got = selectForStats(t, f);
      expect(got.length).toBe(want.length);
      expect(got.every((e, i) => e === want[i])).toBe(true);
    });
  }

  it('has enough flows to use the packed sort, and orders by priority then age', () => {
    const es = t.tables[0].cls.rules();
    expect(es.length).toBeGreaterThan(256);
    const out = statsOrder([...es]);
    for (let i = 1; i < out.length; i++) {
      const a = out[i - 1];
      const b = out[i];
      expect(a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq)).toBe(true);
    }
  });

  it('fails for a table that does not exist as select() does', () => {
    expect(() => selectForStats(t, { table: 300 })).toThrow(/table 300 does not exist/);
  });
});
