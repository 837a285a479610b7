// OpenFlow table semantics (OpenFlow 1.3 where it defines them): the default NORMAL flow, add
// replacing identical flows, check_overlap, strict and non-strict modify/delete, cookie masks,
// out_port, timeouts, counters, table statistics, table miss, learn, change events.
import { describe, expect, it } from 'vitest';
import { ETH_TYPE_IP, IPPROTO_TCP, VLAN_CFI, W_NW, W_TP, W_TYPE_TCI } from '../../../../src/lib/flow-key.js';
import { formatActions } from '../../../../src/vswitchd/ofp/action-syntax.js';
import { OfpError } from '../../../../src/vswitchd/ofp/errors.js';
import { formatFlowStats, parseFlow, type FlowCommand } from '../../../../src/vswitchd/ofp/flow-syntax.js';
import { OFPRR_DELETE, OFPRR_HARD_TIMEOUT, OFPRR_IDLE_TIMEOUT } from '../../../../src/vswitchd/ofp/flow-table.js';
import { F_ETH_TYPE, F_TCP_DST } from '../../../../src/vswitchd/ofp/fields.js';
import { OF_W_REG0, OF_WORDS, OFPTT_ALL, setWide } from '../../../../src/vswitchd/ofp/layout.js';
import { Match } from '../../../../src/vswitchd/ofp/match.js';
import { formatMatch, parseMatch } from '../../../../src/vswitchd/ofp/match-syntax.js';
import { OfTables, type FlowEvent } from '../../../../src/vswitchd/ofp/tables.js';

const T0 = 1_000_000;
const mod = (cmd: FlowCommand, s: string) => parseFlow(s, { command: cmd });

function dump(t: OfTables, table = OFPTT_ALL): string[] {
  return t.select({ table }).map((e) => `${e.table}:${formatMatch(e.match, e.priority)} ${formatActions(e.actions)}`);
}

function tcpFlow(inPort: number, dport: number): Uint32Array {
  const f = new Uint32Array(OF_WORDS);
  f[0] = inPort;
  f[W_TYPE_TCI] = ETH_TYPE_IP << 16;
  f[W_NW] = IPPROTO_TCP << 24;
  f[W_TP] = (40000 << 16) | dport;
  return f;
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as OfpError).code;
  }
  return 'no error';
}

describe('OfTables', () => {
  it('starts with priority=0,actions=NORMAL in table 0, which matches everything', () => {
    const t = new OfTables(true, T0);
    expect(dump(t)).toEqual(['0:priority=0 NORMAL']);
    expect(t.lookup(0, tcpFlow(1, 80), null)?.priority).toBe(0);
    expect(t.lookup(1, tcpFlow(1, 80), null)).toBeNull(); // table miss in table 1
    expect(new OfTables(false).count).toBe(0);
  });

  it('add with an identical match and priority replaces the flow; counters carry over unless reset_counts', () => {
    const t = new OfTables(false, T0);
    const a = t.apply(mod('add', 'priority=5,in_port=1,actions=drop'), T0).added[0];
    t.credit(a, 3, 300, T0 + 10);
    const r = t.apply(mod('add', 'priority=5,in_port=1,actions=output:2'), T0 + 500);
    expect(r.replaced).toEqual([a]);
    expect(r.removed).toEqual([]);
    const b = r.added[0];
    expect([b.packets, b.bytes, b.created]).toEqual([3, 300, T0 + 500]);
    expect(dump(t)).toEqual(['0:priority=5,in_port=1 output:2']);
    const c = t.apply(mod('add', 'priority=5,in_port=1,reset_counts,actions=output:3'), T0 + 600).added[0];
    expect(c.packets).toBe(0);
    // A different priority is a different flow.
    t.apply(mod('add', 'priority=6,in_port=1,actions=drop'), T0);
    expect(t.count).toBe(2);
  });

  it('check_overlap refuses a flow of the same priority that some packet would match too', () => {
    const t = new OfTables(false, T0);
    t.apply(mod('add', 'priority=10,ip,nw_dst=10.0.0.0/8,actions=drop'), T0);
    expect(code(() => t.apply(mod('add', 'priority=10,check_overlap,tcp,nw_dst=10.1.0.0/16,actions=drop'), T0))).toBe('OFPFMFC_OVERLAP');
    expect(code(() => t.apply(mod('add', 'priority=10,check_overlap,ip,nw_dst=10.0.0.0/8,actions=drop'), T0))).toBe('OFPFMFC_OVERLAP');
    t.apply(mod('add', 'priority=11,check_overlap,tcp,nw_dst=10.1.0.0/16,actions=drop'), T0);
    t.apply(mod('add', 'priority=10,check_overlap,ip,nw_dst=11.0.0.0/8,actions=drop'), T0);
    t.apply(mod('add', 'priority=10,check_overlap,arp,actions=drop'), T0);
    expect(t.count).toBe(4);
  });

  it('modify (non-strict) changes the actions of every flow the match covers, keeping counters; strict only the identical one', () => {
    const t = new OfTables(false, T0);
    const a = t.apply(mod('add', 'priority=1,tcp,tp_dst=80,actions=drop'), T0).added[0];
    t.apply(mod('add', 'priority=2,tcp,tp_dst=22,actions=drop'), T0);
    t.apply(mod('add', 'priority=3,arp,actions=drop'), T0);
    t.credit(a, 1, 60, T0);
    const r = t.apply(mod('modify', 'tcp,actions=output:1'), T0 + 1);
    expect(r.modified.length).toBe(2);
    expect(a.packets).toBe(1);
    expect(dump(t)).toEqual(['0:priority=3,arp drop', '0:priority=2,tcp,tp_dst=22 output:1', '0:priority=1,tcp,tp_dst=80 output:1']);
    // Strict: needs the same match and priority.
    expect(t.apply(mod('modify_strict', 'priority=1,tcp,actions=output:9'), T0).modified).toEqual([]);
    expect(t.apply(mod('modify_strict', 'priority=2,tcp,tp_dst=80,actions=output:9'), T0).modified).toEqual([]);
    expect(t.apply(mod('modify_strict', 'priority=1,tcp,tp_dst=80,actions=output:9'), T0).modified).toEqual([a]);
    // OpenFlow 1.1+: a modify that selects nothing adds nothing.
    expect(t.apply(mod('modify', 'udp,actions=drop'), T0).added).toEqual([]);
    expect(t.count).toBe(3);
  });

  it('cookies: mask selects, an unmasked cookie in modify sets it', () => {
    const t = new OfTables(false, T0);
    t.apply(mod('add', 'cookie=0x11,priority=1,in_port=1,actions=drop'), T0);
    t.apply(mod('add', 'cookie=0x12,priority=1,in_port=2,actions=drop'), T0);
    t.apply(mod('add', 'cookie=0x21,priority=1,in_port=3,actions=drop'), T0);
    expect(t.select({ table: 0, cookie: 0x10n, cookieMask: 0xf0n }).length).toBe(2);
    const r = t.apply(mod('modify', 'cookie=0x20/0xf0,cookie=0x99,actions=output:1'), T0);
    expect(r.modified.map((e) => e.cookie)).toEqual([0x99n]);
    expect(t.apply(mod('delete', 'cookie=0x10/0xf0'), T0).removed.length).toBe(2);
    expect(t.count).toBe(1);
    expect(() => parseFlow('cookie=0x5', { command: 'delete' })).toThrow(/cannot set cookie/);
    expect(() => parseFlow('cookie=1/1,actions=drop')).toThrow(/flow additions cannot use a cookie mask/);
  });

  it('delete (non-strict) ignores priority, honours out_port and table; strict needs the exact flow', () => {
    const t = new OfTables(false, T0);
    t.apply(mod('add', 'table=0,priority=1,ip,actions=output:1'), T0);
    t.apply(mod('add', 'table=0,priority=2,tcp,actions=output:2'), T0);
    t.apply(mod('add', 'table=1,priority=3,tcp,tp_dst=80,actions=output:2'), T0);
    t.apply(mod('add', 'table=1,priority=4,arp,actions=output:2'), T0);
    expect(t.apply(mod('delete_strict', 'priority=3,tcp'), T0).removed).toEqual([]);
    expect(t.apply(mod('delete', 'table=0,tcp,out_port=1'), T0).removed).toEqual([]);
    const r = t.apply(mod('delete', 'tcp,out_port=2'), T0);
    expect(r.removed.map((x) => [x.entry.table, x.entry.priority, x.reason])).toEqual([[0, 2, OFPRR_DELETE], [1, 3, OFPRR_DELETE]]);
    expect(dump(t)).toEqual(['0:priority=1,ip output:1', '1:priority=4,arp output:2']);
    expect(t.apply(mod('delete_strict', 'table=1,priority=4,arp'), T0).removed.length).toBe(1);
    expect(t.apply(mod('delete', ''), T0).removed.length).toBe(1);
    expect(t.count).toBe(0);
  });

  it('idle and hard timeouts; crediting traffic keeps a flow alive', () => {
    const t = new OfTables(false, T0);
    const idle = t.apply(mod('add', 'idle_timeout=10,priority=1,in_port=1,actions=drop'), T0).added[0];
    const hard = t.apply(mod('add', 'hard_timeout=15,idle_timeout=5,priority=1,in_port=2,actions=drop'), T0).added[0];
    t.apply(mod('add', 'priority=1,in_port=3,actions=drop'), T0);
    expect(t.nextExpiry()).toBe(T0 + 5000);
    t.credit(hard, 1, 64, T0 + 4000);
    t.credit(hard, 1, 64, T0 + 8000);
    t.credit(hard, 1, 64, T0 + 12000); // idle would now end at +17 s, but the hard timeout is at +15 s
    t.credit(idle, 1, 64, T0 + 6000); // idle now ends at +16 s
    expect(t.nextExpiry()).toBe(T0 + 15000);
    expect(t.expire(T0 + 14999).removed).toEqual([]);
    expect(t.expire(T0 + 15000).removed.map((r) => [r.entry, r.reason])).toEqual([[hard, OFPRR_HARD_TIMEOUT]]);
    expect(t.expire(T0 + 15999).removed).toEqual([]);
    expect(t.expire(T0 + 16000).removed.map((r) => [r.entry, r.reason])).toEqual([[idle, OFPRR_IDLE_TIMEOUT]]);
    expect(t.count).toBe(1);
    expect(t.nextExpiry()).toBe(Infinity);
  });

  it('counts lookups and matches per table', () => {
    const t = new OfTables(false, T0);
    t.apply(mod('add', 'priority=1,tcp,tp_dst=80,actions=drop'), T0);
    t.lookup(0, tcpFlow(1, 80), null);
    t.lookup(0, tcpFlow(1, 81), null);
    t.lookup(0, tcpFlow(1, 81), null, false);
    expect(t.tableStats()[0]).toEqual({ table: 0, active: 1, lookups: 2, matched: 1 });
  });

  it('rejects bad flow mods with the OpenFlow error', () => {
    const t = new OfTables(false, T0);
    const back = mod('add', 'table=2,actions=drop');
    back.actions = [{ type: 'goto_table', table: 1 }];
    expect(code(() => t.apply(back, T0))).toBe('OFPBIC_BAD_TABLE_ID');
    t.apply(mod('add', 'table=3,priority=1,actions=drop'), T0);
    // Modifying every table: goto_table:2 is fine in table 0 but not for the flow in table 3.
    expect(code(() => t.apply(mod('modify', 'actions=goto_table:2'), T0))).toBe('OFPBIC_BAD_TABLE_ID');
    expect(dump(t)).toEqual(['3:priority=1 drop']);
    const m = new Match();
    m.setFieldNum(F_TCP_DST, 80);
    const fm = mod('add', 'actions=drop');
    fm.match = m;
    expect(code(() => t.apply(fm, T0))).toBe('OFPBMC_BAD_PREREQ');
    m.setFieldNum(F_ETH_TYPE, ETH_TYPE_IP);
    expect(code(() => t.apply(fm, T0))).toBe('OFPBMC_BAD_PREREQ');
    const full = new OfTables(false, T0);
    full.tables[0].maxEntries = 2;
    full.apply(mod('add', 'in_port=1,actions=drop'), T0);
    full.apply(mod('add', 'in_port=2,actions=drop'), T0);
    full.apply(mod('add', 'in_port=2,actions=output:1'), T0); // replacing is fine when full
    expect(code(() => full.apply(mod('add', 'in_port=3,actions=drop'), T0))).toBe('OFPFMFC_TABLE_FULL');
  });

  it('learns with the MAC-learning form and refreshes an identical learned flow', () => {
    const t = new OfTables(false, T0);
    const fm = mod('add', 'table=0,actions=learn(table=10,hard_timeout=300,priority=1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:NXM_OF_IN_PORT[]->NXM_NX_REG0[0..15]),resubmit(,10)');
    t.apply(fm, T0);
    const learn = fm.actions[0];
    if (learn.type !== 'learn') throw new Error('expected learn');
    const flow = new Uint32Array(OF_WORDS);
    flow[0] = 3;
    flow[W_TYPE_TCI] = (ETH_TYPE_IP << 16) | VLAN_CFI | 10;
    setWide(flow, 80, 48, 0x020000000001); // dl_src
    const e = t.tables[10].lookup(flow, null) ?? t.learn(learn.spec, flow, T0);
    expect(formatFlowStats({ ...e, durationMs: 0, idleAge: -1, hardAge: -1 }, { noStats: true }))
      .toBe(' table=10, hard_timeout=300, priority=1,vlan_tci=0x000a/0x0fff,dl_dst=02:00:00:00:00:01 actions=load:0x3->NXM_NX_REG0[0..15]');
    // A frame to that MAC on VLAN 10 now hits the learned flow; on VLAN 11 it does not.
    const back = new Uint32Array(OF_WORDS);
    back[W_TYPE_TCI] = VLAN_CFI | 10;
    setWide(back, 32, 48, 0x020000000001); // dl_dst
    expect(t.lookup(10, back, null)).toBe(e);
    back[W_TYPE_TCI] = VLAN_CFI | 11;
    expect(t.lookup(10, back, null)).toBeNull();
    // Relearning the same thing refreshes it (hard timeout restarts); a move replaces it.
    const gen = t.generation;
    expect(t.learn(learn.spec, flow, T0 + 100_000)).toBe(e);
    expect(e.modified).toBe(T0 + 100_000);
    expect(t.generation).toBe(gen);
    flow[0] = 4;
    const moved = t.learn(learn.spec, flow, T0 + 200_000);
    expect(moved).not.toBe(e);
    expect(formatActions(moved.actions)).toBe('load:0x4->NXM_NX_REG0[0..15]');
    expect(t.tables[10].count).toBe(1);
    flow[OF_W_REG0] = 0;
  });

  it('tells listeners what changed and bumps the generation', () => {
    const t = new OfTables(false, T0);
    const seen: string[] = [];
    const stop = t.listen((ev: FlowEvent) => seen.push(`${ev.event}:${ev.entry.priority}:${ev.reason}`));
    const g0 = t.generation;
    t.apply(mod('add', 'priority=7,hard_timeout=1,actions=drop'), T0);
    t.apply(mod('add', 'priority=7,hard_timeout=1,actions=output:1'), T0);
    t.apply(mod('modify', 'actions=output:2'), T0);
    t.apply(mod('delete', 'in_port=9'), T0); // nothing: no event, no generation change
    const g1 = t.generation;
    t.expire(T0 + 1000);
    expect(seen).toEqual(['added:7:-1', 'removed:7:2', 'added:7:-1', 'modified:7:-1', `removed:7:${OFPRR_HARD_TIMEOUT}`]);
    expect(g1).toBe(g0 + 3);
    expect(t.generation).toBe(g1 + 1);
    stop();
    t.apply(mod('add', 'actions=drop'), T0);
    expect(seen.length).toBe(5);
  });

  it('selects for dump-flows and dump-aggregate like ovs-ofctl', () => {
    const t = new OfTables(true, T0);
    const a = t.apply(mod('add', 'priority=100,ip,nw_dst=10.0.0.2,actions=output:2'), T0).added[0];
    t.apply(mod('add', 'table=1,priority=10,actions=output:1'), T0);
    t.credit(a, 5, 500, T0);
    expect(t.aggregate({ table: OFPTT_ALL })).toEqual({ packets: 5, bytes: 500, flows: 3 });
    expect(t.select({ table: OFPTT_ALL, match: parseMatch('ip') }).length).toBe(1);
    expect(t.select({ table: 1 }).length).toBe(1);
    expect(() => t.select({ table: 300 })).toThrow(/does not exist/);
  });
});
