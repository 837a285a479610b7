/*
 * A table's dump order and cached stats bytes (flow-order.ts) through the table's own changes:
 * adds, replacing adds, strict and non-strict modifies (actions, cookies), deletes, timeouts,
 * enough deletes and modifies to compact runs. The order stays OfTables.select's, the bytes
 * FlowStatsEncoder copies stay byte for byte what it encodes without a cache (and decode to
 * flowStatsToWire), also for an entry changed behind the table's back or already removed.
 */
import { describe, expect, it } from 'vitest';
import { PROTO_PACKAGE, schema } from '../../../../src/lib/flowproto/codec.js';
import { decodePlain, encodePlain } from '../../../../src/lib/flowproto/plain-codec.js';
import { selectForStats } from '../../../../src/vswitchd/ofmgmt-stats.js';
import { parseFlow, type FlowCommand } from '../../../../src/vswitchd/ofp/flow-syntax.js';
import { FlowOrder, NOT_CACHED } from '../../../../src/vswitchd/ofp/flow-order.js';
import { FlowEntry } from '../../../../src/vswitchd/ofp/flow-table.js';
import { OfTables } from '../../../../src/vswitchd/ofp/tables.js';
import { flowStatsToWire } from '../../../../src/vswitchd/ofp/wire.js';
import { FlowStatsEncoder } from '../../../../src/vswitchd/ofp/wire-flow-stats.js';

const T0 = 1_700_000_000_000;
const NOW = T0 + 123_456;
const mod = (cmd: FlowCommand, s: string) => parseFlow(s, { command: cmd });

function ordered(t: OfTables): FlowEntry[] {
  const out: FlowEntry[] = [];
  for (const tb of t.tables) tb.orderedInto(out);
  return out;
}

/** The encoder's bytes for `es`, with the cached bytes and with none (statsRun hidden). */
function bothWays(es: FlowEntry[]): { cached: Uint8Array; plain: Uint8Array } {
  const enc = new FlowStatsEncoder();
  const cached = Uint8Array.from(enc.encode(es, 0, es.length, NOW));
  const runs = es.map((e) => e.statsRun);
  for (const e of es) e.statsRun = null;
  try {
    return { cached, plain: Uint8Array.from(enc.encode(es, 0, es.length, NOW)) };
  } finally {
    es.forEach((e, i) => (e.statsRun = runs[i]));
  }
}

function expectSameBytes(es: FlowEntry[]): void {
  const { cached, plain } = bothWays(es);
  expect(cached.length).toBe(plain.length);
  expect(Buffer.from(cached).equals(Buffer.from(plain))).toBe(true);
  const type = schema().lookupType(`${PROTO_PACKAGE}.FlowStatsReply`);
  const slow = encodePlain(type, { stats: es.map((e) => flowStatsToWire(e, NOW)) });
  expect(decodePlain(type, cached)).toEqual(decodePlain(type, Uint8Array.from(slow)));
}

/** 2000 flows over 40 priorities in tables 0 and 3, then replaces, modifies and deletes. */
function churned(): OfTables {
  const t = new OfTables(true, T0);
  for (let i = 0; i < 2000; i++) {
    const table = i % 9 === 0 ? 3 : 0;
    t.apply(parseFlow(`table=${table},cookie=${i % 4},priority=${100 + (i % 40)},udp,nw_src=10.1.${(i >> 8) & 255}.${i & 255},tp_dst=${i % 500},actions=output:${1 + (i % 3)}`), T0 + i);
  }
  // A big run, most of which is deleted below (holes: compacted).
  for (let i = 0; i < 300; i++) t.apply(parseFlow(`priority=7,tcp,tp_src=${i},actions=output:1`), T0 + 3000 + i);
  // Replacing adds: a new seq at the end of the priority's run.
  for (let i = 0; i < 2000; i += 37) {
    const table = i % 9 === 0 ? 3 : 0;
    t.apply(parseFlow(`table=${table},cookie=0x77,priority=${100 + (i % 40)},udp,nw_src=10.1.${(i >> 8) & 255}.${i & 255},tp_dst=${i % 500},actions=drop`), T0 + 5000 + i);
  }
  // Non-strict modify of a cookie slice, with a new cookie; strict modify of one flow.
  t.apply(mod('modify', 'cookie=2/0xff,cookie=0xabc,udp,actions=mod_tp_dst:7,output:4'), T0 + 7000);
  t.apply(mod('modify_strict', 'priority=102,udp,nw_src=10.1.0.2,tp_dst=2,actions=learn(table=1,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),output:2'), T0 + 7001);
  // Deletes: a whole priority (its run goes), most of another (compacted), a cookie slice.
  t.apply(mod('delete_strict', 'priority=101,udp,nw_src=10.1.0.41,tp_dst=41'), T0 + 8000);
  t.apply(mod('delete', 'udp,nw_src=10.1.0.0/16,tp_dst=10'), T0 + 8001);
  t.apply(mod('delete', 'cookie=1/0xff,udp'), T0 + 8002);
  for (let i = 5; i < 2000; i += 40) if (i % 9 !== 0) t.apply(mod('delete_strict', `priority=105,udp,nw_src=10.1.${(i >> 8) & 255}.${i & 255},tp_dst=${i % 500}`), T0 + 8003);
  for (let i = 0; i < 300; i++) if (i % 3 !== 0) t.apply(mod('delete_strict', `priority=7,tcp,tp_src=${i}`), T0 + 8004);
  // Many modifies of one small set, each cached again (as by a dump): dead bytes pile up until its run is compacted.
  for (let k = 0; k < 200; k++) {
    t.apply(mod('modify', `udp,nw_src=10.1.0.3,actions=output:${1 + (k % 50)}`), T0 + 9000 + k);
    t.tables[0].prepareStats();
  }
  return t;
}

describe('flow order and cached stats bytes', () => {
  const t = churned();

  it('gives OfTables.select order after adds, replaces, modifies and deletes', () => {
    const want = t.select({ table: 255 });
    const got = ordered(t);
    expect(got.length).toBe(want.length);
    expect(got.every((e, i) => e === want[i])).toBe(true);
    expect(got.length).toBeGreaterThan(1000);
    // The priority whose flows were all deleted has no run left; one mostly deleted was compacted.
    expect(got.some((e) => e.priority === 105 && e.table === 0)).toBe(false);
    for (const e of got) expect(e.statsRun!.entries[e.statsAt]).toBe(e);
    const holey = got.find((e) => e.priority === 7)!.statsRun!;
    expect(holey.live).toBe(100);
    expect(holey.entries.length).toBeLessThan(200);
    const rewritten = got.find((e) => e.priority === 103 && e.table === 0)!.statsRun!;
    expect(rewritten.w.pos).toBeLessThan(100 * 64);
  });

  it('selectForStats reads the order for whole-table dumps, with cookie and out_port filters', () => {
    for (const f of [{ table: 255 }, { table: 3 }, { table: 7 }, { table: 255, cookie: 0xabcn, cookieMask: 0xfffn }, { table: 0, outPort: 4 }]) {
      const want = t.select(f);
      const got = selectForStats(t, f);
      expect(got.length).toBe(want.length);
      expect(got.every((e, i) => e === want[i])).toBe(true);
    }
  });

  it('orders a table of more runs than one concat() takes (one priority per flow)', () => {
    const t2 = new OfTables(true, T0);
    for (let i = 0; i < 9000; i++) t2.apply(parseFlow(`priority=${(i * 7) % 9001},ip,nw_dst=10.0.${i >> 8}.${i & 255},actions=drop`), T0);
    const want = t2.select({ table: 255 });
    const got = selectForStats(t2, { table: 255 });
    expect(got.length).toBe(9001);
    expect(got.every((e, i) => e === want[i])).toBe(true);
  });

  it('copies cached bytes equal to encoding each flow afresh', () => {
    const es = ordered(t);
    for (const [i, e] of es.entries()) {
      e.packets = i % 7 === 0 ? 2 ** 33 + i : i;
      e.bytes = i * 1500;
      e.used = T0 + i * 10;
    }
    expectSameBytes(es);
    expect(es.some((e) => e.cookie === 0xabcn && e.actions.length === 2)).toBe(true);
    expect(es.some((e) => e.actions.some((a) => a.type === 'learn'))).toBe(true);
  });

  it('re-encodes an entry whose actions or cookie were set behind the table', () => {
    const es = ordered(t).slice(0, 50);
    const e = es[10];
    const before = bothWays([e]).cached;
    e.actions = [{ type: 'output', port: 9 }];
    e.cookie = 0x5555n;
    const { cached, plain } = bothWays([e]);
    expect(Buffer.from(cached).equals(Buffer.from(before))).toBe(false);
    expect(Buffer.from(cached).equals(Buffer.from(plain))).toBe(true);
    expectSameBytes(es);
  });

  it('still encodes an entry removed while a dump holds it (no cached bytes any more)', () => {
    const t2 = churned();
    const snapshot = selectForStats(t2, { table: 255 });
    const want = bothWays(snapshot).plain;
    t2.apply(mod('delete', 'udp,nw_src=10.1.0.0/24'), T0 + 10_000);
    expect(snapshot.some((e) => e.statsRun === null)).toBe(true);
    const enc = new FlowStatsEncoder();
    expect(Buffer.from(enc.encode(snapshot, 0, snapshot.length, NOW)).equals(Buffer.from(want))).toBe(true);
    expectSameBytes(selectForStats(t2, { table: 255 }));
  });

  it('drops entries that time out, and a table emptied has no runs', () => {
    const t2 = new OfTables(false, T0);
    for (let i = 0; i < 300; i++) t2.apply(parseFlow(`priority=${i % 3},hard_timeout=${1 + (i % 2)},ip,nw_dst=10.0.${i >> 8}.${i & 255},actions=drop`), T0);
    t2.expire(T0 + 1500);
    expect(ordered(t2)).toEqual(t2.select({ table: 255 }));
    expect(ordered(t2).length).toBe(150);
    t2.expire(T0 + 2500);
    expect(ordered(t2)).toEqual([]);
    expect(t2.tables[0].order.memoryBytes()).toBe(0);
  });

  it('costs under 160 bytes per flow for 4-field flows with one output', () => {
    const t2 = new OfTables(false, T0);
    const n = 20000;
    for (let i = 0; i < n; i++) {
      t2.apply(parseFlow(`priority=${1000 + (i % 100)},tcp,nw_src=10.0.${(i >> 8) & 255}.${i & 255},tp_dst=${80 + (i % 1000)},actions=output:${1 + (i % 2)}`), T0);
    }
    t2.tables[0].prepareStats();
    const perFlow = t2.tables[0].order.memoryBytes() / n;
    expect(perFlow).toBeGreaterThan(60);
    expect(perFlow).toBeLessThan(160);
  });

  it('keeps a run in seq order when an entry comes in out of order (not done by the classifier, kept anyway)', () => {
    const order = new FlowOrder();
    const make = (seq: number, prio: number): FlowEntry => {
      const fm = parseFlow(`priority=${prio},tcp,tp_dst=${seq},actions=output:${seq}`);
      const e = new FlowEntry(0, fm.match, fm, T0);
      e.seq = seq;
      return e;
    };
    const es = [make(5, 10), make(9, 10), make(2, 10), make(7, 20), make(1, 10)];
    for (const e of es) order.add(e);
    const out: FlowEntry[] = [];
    order.orderedInto(out);
    expect(out.map((e) => e.seq)).toEqual([7, 1, 2, 5, 9]);
    for (const e of out) expect(e.statsRun!.entries[e.statsAt]).toBe(e);
    expectSameBytes(out);
  });

  it('caches bytes in the background once flow mods stop, and before a dump otherwise', async () => {
    const t2 = new OfTables(false, T0);
    const cached = (e: FlowEntry): boolean => e.statsRun!.pos[2 * e.statsAt + 1] !== NOT_CACHED && e.statsRun!.keys[2 * e.statsAt] === e.actions;
    for (let i = 0; i < 20000; i++) t2.apply(parseFlow(`priority=${i % 10},udp,tp_src=${i},actions=output:1`), T0);
    const order = t2.tables[0].order;
    expect(order.pendingCount).toBe(20000);
    expect(ordered(t2).some(cached)).toBe(false);
    const deadline = Date.now() + 5000;
    while (order.pendingCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(order.pendingCount).toBe(0);
    expect(ordered(t2).every(cached)).toBe(true);
    // A modify waits again; a dump's selection caches it first.
    t2.apply(mod('modify_strict', 'priority=3,udp,tp_src=3,actions=output:2'), T0 + 1);
    const e = ordered(t2).find((x) => x.priority === 3 && x.actions[0].type === 'output' && x.actions[0].port === 2)!;
    expect(cached(e)).toBe(false);
    selectForStats(t2, { table: 0 });
    expect(cached(e)).toBe(true);
    expect(order.pendingCount).toBe(0);
  });
});
