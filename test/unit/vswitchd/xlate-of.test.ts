// The OpenFlow translation (xlate.ts) on a bridge built in memory: multi-table pipelines, field
// rewrites committed as masked sets (applied to real frames by the datapath's set-field code and
// checked), VLAN actions, learn, controller and dec_ttl, and the megaflow masks it produces.
import { describe, expect, it } from 'vitest';
import { VNET_WORDS } from '../../../src/datapath/batch.js';
import { extractKey } from '../../../src/datapath/extract.js';
import { runSetAction } from '../../../src/datapath/set-field.js';
import {
  ACT_OUTPUT, ACT_POP_VLAN, ACT_PUSH_VLAN, ACT_SET_ETH, ACT_SET_IPV4, ACT_SET_L4, ACT_USERSPACE, actionLength,
} from '../../../src/lib/dpif-proto.js';
import {
  KEY_WORDS, W_ETH_DST_HI, W_ETH_MID, W_ETH_SRC_LO, W_IN_PORT, W_NW, W_NW_DST, W_NW_SRC, W_TP, W_TYPE_TCI,
} from '../../../src/lib/flow-key.js';
import { inetChecksum, ipv4Frame } from '../../../src/lib/packet.js';
import { Bridge, BridgePort, TRUNK_ALL, type VlanConfig } from '../../../src/vswitchd/bridge.js';
import { OFPR_ACTION, OFPR_INVALID_TTL } from '../../../src/vswitchd/ofp/actions.js';
import { parseFlow } from '../../../src/vswitchd/ofp/flow-syntax.js';
import { OF_W_REG0 } from '../../../src/vswitchd/ofp/layout.js';
import { decodePacketIn } from '../../../src/vswitchd/packet-in.js';
import { MAX_DEPTH, Xlator } from '../../../src/vswitchd/xlate.js';

/** br0 with ofports 1..n on datapath ports 11.. */
function bridge(n = 3, vlans: VlanConfig[] = []): Bridge {
  const br = new Bridge('br0', 'u');
  for (let i = 1; i <= n; i++) br.portsByOfport.set(i, new BridgePort(br, `p${i}`, 'tap', `p${i}`, i, 10 + i, vlans[i - 1] ?? TRUNK_ALL));
  br.reindex();
  return br;
}

function add(br: Bridge, ...flows: string[]): void {
  for (const f of flows) br.tables.apply(parseFlow(f));
}

function keyOf(frame: Uint8Array, odpIn: number): Uint32Array {
  const k = new Uint32Array(KEY_WORDS);
  extractKey(frame, 0, frame.length, odpIn, k, 0);
  return k;
}

const tcp = (dport = 80, opts: { ttl?: number; src?: string; dst?: string; dmac?: string; smac?: string } = {}): Uint8Array =>
  ipv4Frame({ dst: opts.dmac ?? '02:00:00:00:00:02', src: opts.smac ?? '02:00:00:00:00:01' },
    { src: opts.src ?? '10.0.0.1', dst: opts.dst ?? '10.0.0.2', ttl: opts.ttl ?? 64 }, { tcp: { src: 33000, dst: dport } }, new Uint8Array(30).fill(7));
const udp = (dport = 53): Uint8Array => ipv4Frame({}, { src: '10.0.0.1', dst: '10.0.0.2' }, { udp: { src: 1000, dst: dport } }, new Uint8Array(10));

function xlate(br: Bridge, frame: Uint8Array, ofIn = 1, sideEffects = false): Xlator {
  const x = new Xlator();
  x.translate(br, keyOf(frame, 10 + ofIn), ofIn, { sideEffects, now: 1000, trace: null });
  return x;
}

const acts = (x: Xlator): number[] => x.out.toArray();
/** Splits an action list into [op, ...operands] entries. */
function split(a: number[]): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < a.length;) {
    const len = actionLength(a[i], a[i + 1]);
    out.push(a.slice(i, i + len));
    i += len;
  }
  return out;
}

/** Runs the set actions of `a` on `frame` as the datapath would (outputs ignored). */
function applySets(frame: Uint8Array, a: number[]): void {
  const arr = Int32Array.from(a);
  for (let i = 0; i < arr.length;) {
    const op = arr[i];
    if (op >= ACT_SET_ETH && op <= 8) i = runSetAction(frame, 0, frame.length, new Uint16Array(VNET_WORDS), arr, i, arr.length);
    else i += actionLength(op, arr[i + 1]);
  }
}

describe('OpenFlow translation', () => {
  it('runs goto_table and resubmit through several tables, in order, and records the rules', () => {
    const br = bridge();
    add(br, 'table=0,priority=10,ip,actions=resubmit(,1),output:1,goto_table:2',
      'table=1,actions=output:2', 'table=2,priority=7,tcp,actions=resubmit(3,3)', 'table=3,in_port=3,actions=output:3,output:in_port');
    const x = xlate(br, tcp(), 2);
    expect(acts(x)).toEqual([ACT_OUTPUT, 11, ACT_OUTPUT, 13, ACT_OUTPUT, 12]);
    expect(x.rules.map((e) => e.table)).toEqual([0, 1, 2, 3]);
    // Non-IP goes to the table-miss NORMAL rule.
    expect(xlate(br, new Uint8Array(60).fill(2), 1).rules.map((e) => `${e.table}/${e.priority}`)).toEqual(['0/0']);
  });

  it('follows a goto_table chain through 100 tables (forward lookups do not count as nesting)', () => {
    const br = bridge();
    for (let t = 0; t < 100; t++) add(br, `table=${t},priority=10,actions=goto_table:${t + 1}`);
    add(br, 'table=100,actions=output:3');
    const x = xlate(br, tcp(), 1);
    expect(acts(x)).toEqual([ACT_OUTPUT, 13]);
    expect(x.rules.length).toBe(101);
    expect(x.counters.xlate_too_deep).toBe(0);
  });

  it('skips output to the input port unless in_port says so; flood and all leave it out', () => {
    const br = bridge();
    add(br, 'priority=10,actions=output:1,output:9,flood,in_port');
    expect(acts(xlate(br, tcp(), 1))).toEqual([ACT_OUTPUT, 12, ACT_OUTPUT, 13, ACT_OUTPUT, 11]);
  });

  it('stops a resubmit loop at the depth limit', () => {
    const br = bridge();
    add(br, 'priority=10,actions=output:2,resubmit(,0)');
    const x = xlate(br, tcp(), 1);
    expect(x.counters.xlate_too_deep).toBe(1);
    expect(acts(x).length).toBe(2 * (MAX_DEPTH + 1)); // the first lookup, then 64 nested ones
  });

  it('makes a rule on tp_dst pin tp_dst, nw_proto and dl_type, and nothing it did not read', () => {
    const br = bridge();
    add(br, 'priority=100,tcp,tp_dst=80,actions=output:2', 'priority=50,ip,nw_src=10.0.0.0/8,actions=output:3');
    const x = xlate(br, tcp(80));
    expect(acts(x)).toEqual([ACT_OUTPUT, 12]);
    expect(x.mask[W_IN_PORT]).toBe(0xffffffff);
    expect(x.mask[W_TYPE_TCI] >>> 16).toBe(0xffff);
    expect(x.mask[W_TP] & 0xffff).toBe(0xffff);
    expect(x.mask[W_TP] >>> 16).toBe(0); // tp_src not read
    expect(x.mask[W_NW] >>> 24).toBe(0xff);
    expect(x.mask[W_NW_DST]).toBe(0);
    expect(x.mask[W_ETH_DST_HI]).toBe(0);
    // A UDP packet: the tcp,tp_dst subtable is passed over at its L3 stage, tp_dst stays wild.
    const u = xlate(br, udp());
    expect(acts(u)).toEqual([ACT_OUTPUT, 13]);
    expect(u.mask[W_TP]).toBe(0);
    expect(u.mask[W_NW_SRC] >>> 24).toBe(0xff);
  });

  it('keeps NORMAL-only flows as wide as NORMAL makes them', () => {
    const br = bridge();
    const x = xlate(br, tcp());
    const want = new Uint32Array(KEY_WORDS);
    want[W_IN_PORT] = 0xffffffff;
    want[W_ETH_DST_HI] = want[W_ETH_MID] = want[W_ETH_SRC_LO] = want[W_TYPE_TCI] = 0xffffffff;
    want[W_NW] = 0xff; // fragment type
    expect(Array.from(x.mask)).toEqual(Array.from(want));
    expect(x.usesNormal).toBe(true);
    expect(acts(x)).toEqual([ACT_OUTPUT, 12, ACT_OUTPUT, 13]);
  });

  it('commits field rewrites as masked sets before the output, without pinning the rewritten fields', () => {
    const br = bridge();
    add(br, 'priority=10,tcp,actions=mod_nw_dst:192.168.7.9,mod_tp_dst:8080,mod_dl_src:0a:00:00:00:00:0a,output:2');
    const f = tcp(80);
    const x = xlate(br, f);
    const parts = split(acts(x));
    expect(parts.map((p) => p[0])).toEqual([ACT_SET_ETH, ACT_SET_IPV4, ACT_SET_L4, ACT_OUTPUT]);
    expect(parts[2]).toEqual([ACT_SET_L4, 6, 8080, 0xffff]);
    expect(x.mask[W_NW_DST]).toBe(0); // written, not read: any nw_dst gets the same rewrite
    expect(x.mask[W_TP]).toBe(0);
    expect(x.mask[W_NW] >>> 24).toBe(0xff); // tcp checked before writing the port
    applySets(f, acts(x));
    const k = keyOf(f, 11);
    expect(k[W_NW_DST]).toBe(0xc0a80709);
    expect(k[W_TP] & 0xffff).toBe(8080);
    expect(k[W_TP] >>> 16).toBe(33000);
    expect(k[W_ETH_SRC_LO]).toBe(0x0000000a);
    expect(k[W_ETH_MID] & 0xffff).toBe(0x0a00);
    expect(inetChecksum(f.subarray(14, 34))).toBe(0);
    const pseudo = new Uint8Array(12);
    pseudo.set(f.subarray(26, 34));
    pseudo[9] = 6;
    pseudo[11] = f.length - 34;
    expect(inetChecksum(pseudo, f.subarray(34))).toBe(0);
  });

  it('lets later lookups see rewritten fields; commits once per output', () => {
    const br = bridge();
    add(br, 'table=0,priority=10,ip,actions=output:2,mod_nw_dst:10.0.0.9,resubmit(,1)',
      'table=1,priority=5,ip,nw_dst=10.0.0.9,actions=output:1', 'table=1,priority=5,ip,nw_dst=10.0.0.2,actions=output:2');
    const x = xlate(br, tcp(), 3);
    expect(split(acts(x)).map((p) => p[0])).toEqual([ACT_OUTPUT, ACT_SET_IPV4, ACT_OUTPUT]);
    expect(acts(x).slice(-2)).toEqual([ACT_OUTPUT, 11]);
  });

  it('moves bits between fields, reading (and pinning) the source', () => {
    const br = bridge();
    add(br, 'priority=10,actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],output:2');
    const f = tcp();
    const x = xlate(br, f);
    expect(x.mask[W_ETH_SRC_LO]).toBe(0xffffffff);
    expect(x.mask[W_ETH_DST_HI]).toBe(0);
    applySets(f, acts(x));
    expect(Array.from(f.subarray(0, 6))).toEqual([2, 0, 0, 0, 0, 1]);
  });

  it('pushes, rewrites and pops VLAN tags, changing the tag once per output that needs it', () => {
    const br = bridge();
    add(br, 'priority=10,vlan_tci=0,actions=output:2,mod_vlan_vid:10,output:3,mod_vlan_pcp:5,output:1,in_port',
      'priority=10,dl_vlan=20,actions=strip_vlan,output:2');
    const x = xlate(br, tcp(), 1);
    expect(acts(x)).toEqual([ACT_OUTPUT, 12, ACT_PUSH_VLAN, 0x100a, ACT_OUTPUT, 13, ACT_POP_VLAN, ACT_PUSH_VLAN, 0xb00a, ACT_OUTPUT, 11]);
    const tagged = ipv4Frame({ vlan: { vid: 20 } }, { src: '1.1.1.1', dst: '2.2.2.2' }, { udp: { src: 1, dst: 2 } });
    expect(acts(xlate(br, tagged, 1))).toEqual([ACT_POP_VLAN, ACT_OUTPUT, 12]);
    add(br, 'priority=20,udp,actions=push_vlan:0x8100,set_field:4106->vlan_vid,output:2');
    expect(acts(xlate(br, udp(), 1))).toEqual([ACT_PUSH_VLAN, 0x100a, ACT_OUTPUT, 12]);
  });

  it('decrements the TTL, and at 1 sends a packet-in and stops the action list', () => {
    const br = bridge();
    add(br, 'priority=10,ip,actions=dec_ttl,output:2');
    const x = xlate(br, tcp(80, { ttl: 64 }));
    expect(split(acts(x))[0]).toEqual([ACT_SET_IPV4, 0, 0, 63 << 8, 0, 0, 0xff00]);
    expect(x.mask[W_NW] & 0xff00).toBe(0xff00);
    const y = xlate(br, tcp(80, { ttl: 1 }));
    const parts = split(acts(y));
    expect(parts.map((p) => p[0])).toEqual([ACT_USERSPACE]);
    const ev = decodePacketIn(Int32Array.from(parts[0].slice(4)), new Uint8Array(60), 60)!;
    expect(ev.reason).toBe(OFPR_INVALID_TTL);
  });

  it('turns a controller action into a userspace action carrying reason, table, cookie and registers', () => {
    const br = bridge();
    add(br, 'table=0,priority=10,actions=load:0x2a->NXM_NX_REG3[],goto_table:4',
      'table=4,cookie=0xabc,priority=9,actions=controller(max_len=128,id=5,userdata=01.02.03),output:2');
    const x = xlate(br, tcp(), 1);
    const parts = split(acts(x));
    expect(parts.map((p) => p[0])).toEqual([ACT_USERSPACE, ACT_OUTPUT]);
    const u = parts[0];
    expect(u[2]).toBe(11); // reported on the ingress datapath port
    expect(u[3]).toBe(-1); // the whole frame goes up; vswitchd cuts and buffers
    const ev = decodePacketIn(Int32Array.from(u.slice(4)), new Uint8Array(64), 100)!;
    expect(ev).toMatchObject({ reason: OFPR_ACTION, table: 4, cookie: 0xabcn, controllerId: 5, inPort: 1, totalLen: 100, maxLen: 128 });
    expect(Array.from(ev.userdata!)).toEqual([1, 2, 3]);
    expect(ev.flow[OF_W_REG0 + 3]).toBe(0x2a);
  });

  it('learns MAC-learning flows into a table and forwards by them (output:reg)', () => {
    const br = bridge();
    add(br,
      'table=0,priority=10,actions=learn(table=10,hard_timeout=300,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:NXM_OF_IN_PORT[]->NXM_NX_REG0[0..15]),resubmit(,10),goto_table:20',
      'table=20,priority=10,reg0=0,actions=flood', 'table=20,priority=5,actions=output:NXM_NX_REG0[0..15]');
    const a = tcp(80, { smac: '02:00:00:00:00:0a', dmac: '02:00:00:00:00:0b' });
    const x = xlate(br, a, 1, true);
    expect(acts(x)).toEqual([ACT_OUTPUT, 12, ACT_OUTPUT, 13]); // B unknown: flood
    expect(x.mask[W_ETH_SRC_LO]).toBe(0xffffffff); // learn read dl_src
    expect(x.mask[W_TYPE_TCI] & 0xfff).toBe(0xfff);
    expect(x.learns).toHaveLength(1);
    expect(br.tables.tables[10].count).toBe(1);
    const learned = br.tables.select({ table: 10 })[0];
    expect(learned.hardTimeout).toBe(300);
    // B answers from port 2: A is known now, B gets learned too.
    const b = tcp(80, { smac: '02:00:00:00:00:0b', dmac: '02:00:00:00:00:0a' });
    expect(acts(xlate(br, b, 2, true))).toEqual([ACT_OUTPUT, 11]);
    expect(acts(xlate(br, a, 1, true))).toEqual([ACT_OUTPUT, 12]);
    expect(br.tables.tables[10].count).toBe(2);
    // Learning the same flow again refreshes it instead of adding one.
    const gen = br.tables.generation;
    xlate(br, a, 1, true);
    expect(br.tables.generation).toBe(gen);
    // Without side effects nothing is learned.
    xlate(br, tcp(80, { smac: '02:00:00:00:00:0c' }), 3, false);
    expect(br.tables.tables[10].count).toBe(2);
  });

  it('runs NORMAL on the rewritten flow and counts table lookups only with side effects', () => {
    const br = bridge();
    br.macs.learn(0x02000000000b, 0, 3, 0);
    add(br, 'priority=10,ip,actions=mod_dl_dst:02:00:00:00:00:0b,NORMAL');
    const x = xlate(br, tcp(), 1, true);
    const parts = split(acts(x));
    expect(parts.map((p) => p[0])).toEqual([ACT_SET_ETH, ACT_OUTPUT]);
    expect(parts[1]).toEqual([ACT_OUTPUT, 13]);
    expect(br.tables.tableStats()[0].lookups).toBe(1);
    xlate(br, tcp(), 1, false);
    expect(br.tables.tableStats()[0].lookups).toBe(1);
  });

  it('translates a packet-out action list, with output:TABLE running the tables', () => {
    const br = bridge();
    add(br, 'priority=10,in_port=65533,actions=output:3');
    const x = new Xlator();
    x.translateActions(br, keyOf(tcp(), 0), 0xfffd, [{ type: 'output', port: 2 }, { type: 'output', port: 0xfff9 }], { sideEffects: false, now: 0, trace: null });
    expect(acts(x)).toEqual([ACT_OUTPUT, 12, ACT_OUTPUT, 13]);
  });
});
