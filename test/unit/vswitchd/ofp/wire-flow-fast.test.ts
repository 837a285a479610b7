/*
 * The fast flow stats path against the object path, on a corpus of flows with every match
 * field, every action kind, masks, timeouts, flags, cookies, counters and several tables:
 * FlowStatsEncoder's bytes decode (schema codec) to what flowStatsToWire encodes, and
 * FlowStatsPrinter prints exactly the lines formatFlowStats prints, with every option; forms
 * it leaves to the object path (nw_tos, vlan_pcp, bad ports, duplicate fields) print or fail
 * the same way.
 */
import { describe, expect, it } from 'vitest';
import { PROTO_PACKAGE, schema } from '../../../../src/lib/flowproto/codec.js';
import type { FlowStats, Input, MatchField } from '../../../../src/lib/flowproto/messages.js';
import { decodePlain, encodePlain, RawMessage, setRawDecode } from '../../../../src/lib/flowproto/plain-codec.js';
import { decodeMessage, encodeMessage } from '../../../../src/lib/flowproto/codec.js';
import { formatFlowStats, parseFlow, type FormatFlowOptions } from '../../../../src/vswitchd/ofp/flow-syntax.js';
import type { FlowEntry } from '../../../../src/vswitchd/ofp/flow-table.js';
import { OfTables } from '../../../../src/vswitchd/ofp/tables.js';
import type { PortNamer } from '../../../../src/vswitchd/ofp/values.js';
import { flowStatsFromWire, flowStatsToWire } from '../../../../src/vswitchd/ofp/wire.js';
import { FlowStatsEncoder } from '../../../../src/vswitchd/ofp/wire-flow-stats.js';
import { FlowStatsPrinter } from '../../../../src/vswitchd/ofp/wire-flow-text.js';

const CORPUS = [
  'priority=0,actions=NORMAL',
  'actions=drop',
  'table=0,priority=100,in_port=1,actions=output:2',
  'priority=5,in_port=LOCAL,actions=LOCAL,IN_PORT,FLOOD,ALL,NORMAL,CONTROLLER:100',
  'cookie=0x123456789abcdef,idle_timeout=10,hard_timeout=20,importance=7,send_flow_rem,check_overlap,reset_counts,no_packet_counts,no_byte_counts,priority=9,ip,actions=output:3',
  'cookie=0xffffffffffffffff,priority=65535,dl_src=02:00:00:00:00:01,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=drop',
  'priority=10,dl_type=0x88cc,actions=drop',
  'priority=11,dl_vlan=10,actions=strip_vlan,output:1',
  'priority=12,dl_vlan=10,dl_vlan_pcp=3,actions=pop_vlan,push_vlan:0x88a8,mod_vlan_vid:5,mod_vlan_pcp:2',
  'priority=13,vlan_tci=0x1000/0x1000,actions=drop',
  'priority=14,vlan_tci=0,actions=drop',
  'priority=15,vlan_tci=0x2005/0xefff,actions=drop',
  'priority=16,dl_vlan_pcp=5,actions=drop',
  'priority=17,ip,nw_src=10.0.0.0/8,nw_dst=192.168.1.1,nw_tos=16,nw_ecn=1,nw_ttl=64,nw_frag=first,actions=mod_nw_src:1.2.3.4,mod_nw_dst:5.6.7.8,mod_nw_tos:8,mod_nw_ecn:2,mod_nw_ttl:9,dec_ttl',
  'priority=18,ip,nw_src=10.0.0.1/255.0.255.0,nw_frag=later,actions=dec_ttl(1,2,3)',
  'priority=19,ip,nw_proto=47,nw_frag=not_later,actions=drop',
  'priority=20,tcp,tp_src=80,tp_dst=0x1000/0xf000,actions=mod_tp_src:1,mod_tp_dst:2',
  'priority=21,udp,tp_src=53,actions=mod_dl_src:02:00:00:00:00:02,mod_dl_dst:02:00:00:00:00:03',
  'priority=22,sctp,tp_dst=9,actions=drop',
  'priority=23,icmp,icmp_type=8,icmp_code=0,actions=drop',
  'priority=24,ipv6,ipv6_src=2001:db8::/32,ipv6_dst=fe80::1,ipv6_label=0x12345,actions=drop',
  'priority=25,ipv6,ipv6_src=2001:db8::1/ffff:0:ffff::,actions=drop',
  'priority=26,icmp6,icmp_type=135,nd_target=2001:db8::2,nd_sll=02:00:00:00:00:09,actions=drop',
  'priority=27,icmp6,icmp_type=136,nd_tll=02:00:00:00:00:0a,actions=drop',
  'priority=28,tcp6,tp_dst=443,actions=drop',
  'priority=29,udp6,actions=drop',
  'priority=30,sctp6,actions=drop',
  'priority=31,arp,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.0/24,arp_sha=02:00:00:00:00:01,arp_tha=00:00:00:00:00:00,actions=drop',
  'priority=32,rarp,actions=drop',
  'priority=33,reg0=5,reg1=0x10/0xf0,reg7=0xffffffff,reg15=1,actions=load:0x5->NXM_NX_REG0[0..15],move:NXM_NX_REG1[]->NXM_NX_REG2[]',
  'priority=34,ip,metadata=0x1234/0xffff,actions=set_field:10.0.0.9->ip_dst,goto_table:3',
  'priority=35,ip,actions=set_field:00:11:22:33:44:55->eth_src,set_field:0x5/0xf->reg3,output:NXM_NX_REG0[0..15]',
  'priority=36,actions=resubmit:3,resubmit(,2),resubmit(1,4),note:01.02.03,write_metadata:0x5/0xff',
  'priority=37,actions=controller(reason=no_match,max_len=128,id=5,userdata=01.02),controller(max_len=64),controller(id=2)',
  'priority=38,actions=learn(table=1,priority=10,cookie=0x5,idle_timeout=10,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],NXM_OF_IN_PORT[]=5,output:NXM_OF_IN_PORT[],load:0x5->NXM_NX_REG1[0..3])',
  'priority=39,in_port=2,actions=write_metadata:0x1,goto_table:5',
  'priority=40,tcp,nw_dst=10.1.0.0/16,tp_dst=22,actions=output:65279',
  'table=1,priority=1,actions=output:1',
  'table=3,cookie=0x7,priority=50,udp,tp_dst=67,actions=CONTROLLER:65535',
  'table=5,priority=0,actions=drop',
  'table=254,priority=300,dl_dst=ff:ff:ff:ff:ff:ff,actions=FLOOD',
];

const NAMES: PortNamer = {
  name: (p) => (p === 1 ? 'vm1' : p === 2 ? 'weird port' : p === 3 ? '123' : undefined),
  number: (n) => (n === 'vm1' ? 1 : undefined),
} as PortNamer;

function corpus(): { entries: FlowEntry[]; now: number } {
  const t0 = 1_700_000_000_000;
  const t = new OfTables(false, t0);
  CORPUS.forEach((text, i) => t.apply(parseFlow(text), t0 + i * 137));
  const entries = t.select({ table: 255 });
  // Counters and ages of every size, including 64-bit ones.
  entries.forEach((e, i) => {
    e.packets = i === 3 ? 2 ** 40 + 5 : i * 1000;
    e.bytes = i === 3 ? 2 ** 52 + 1 : i * 64000;
    e.used = t0 + i * 5000;
    if (i % 3 === 0) e.modified = t0 + i * 2500;
  });
  return { entries, now: t0 + 1_234_567 };
}

const statsReplyType = () => schema().lookupType(`${PROTO_PACKAGE}.FlowStatsReply`);

describe('fast flow stats encoder and printer', () => {
  const { entries, now } = corpus();

  it('parses the whole corpus into several tables', () => {
    expect(entries.length).toBe(CORPUS.length);
    expect(new Set(entries.map((e) => e.table))).toEqual(new Set([0, 1, 3, 5, 254]));
  });

  it('encodes bytes that decode to what flowStatsToWire encodes', () => {
    const enc = new FlowStatsEncoder();
    const fast = decodePlain(statsReplyType(), Uint8Array.from(enc.encode(entries, 0, entries.length, now)));
    const slow = decodePlain(statsReplyType(), Uint8Array.from(encodePlain(statsReplyType(), { stats: entries.map((e) => flowStatsToWire(e, now)) })));
    expect((fast.stats as unknown[]).length).toBe(entries.length);
    for (let i = 0; i < entries.length; i++) expect([i, (fast.stats as unknown[])[i]]).toEqual([i, (slow.stats as unknown[])[i]]);
    expect(fast).toEqual(slow);
  });

  it('splits parts by flow count and bytes', () => {
    const enc = new FlowStatsEncoder();
    let i = 0;
    const parts: number[] = [];
    while (i < entries.length) {
      const next = enc.part(entries, i, now, 7, 1 << 20);
      parts.push(next - i);
      i = next;
    }
    expect(parts.reduce((a, b) => a + b)).toBe(entries.length);
    expect(Math.max(...parts)).toBe(7);
    expect(enc.part(entries, 0, now, 1000, 100)).toBeLessThan(entries.length); // stops past 100 bytes
  });

  it('travels as a RawMessage through the message codec both ways', () => {
    const enc = new FlowStatsEncoder();
    const body = new RawMessage(enc.encode(entries, 0, entries.length, now));
    const bytes = encodeMessage(1, 9, { multipartReply: { more: true, flow: body as never } });
    const expected = encodeMessage(1, 9, { multipartReply: { more: true, flow: { stats: entries.map((e) => flowStatsToWire(e, now)) } } });
    expect(decodeMessage(bytes)).toEqual(decodeMessage(expected));
    const full = `.${PROTO_PACKAGE}.FlowStatsReply`;
    setRawDecode(full, true);
    let raw;
    try {
      raw = decodeMessage(bytes).multipartReply!.flow as unknown;
    } finally {
      setRawDecode(full, false);
    }
    expect(raw).toBeInstanceOf(RawMessage);
    expect(Buffer.from((raw as RawMessage).bytes)).toEqual(Buffer.from(body.bytes));
    expect(decodeMessage(bytes).multipartReply!.flow).not.toBeInstanceOf(RawMessage);
  });

  const OPTIONS: [string, FormatFlowOptions][] = [
    ['plain', {}], ['ages', { ages: true }], ['no-stats', { noStats: true }], ['names', { names: NAMES }],
    ['names, no-stats', { names: NAMES, noStats: true }],
  ];
  for (const [label, opts] of OPTIONS) {
    it(`prints the same lines as formatFlowStats (${label})`, () => {
      const bytes = new FlowStatsEncoder().encode(entries, 0, entries.length, now);
      const printer = new FlowStatsPrinter(opts);
      const fast = printer.print(bytes).split('\n');
      expect(printer.slowFlows).toBe(0); // every flow the switch sends takes the fast path
      const wire = decodePlain(statsReplyType(), Uint8Array.from(bytes)).stats as FlowStats[];
      const slow = wire.map((st) => formatFlowStats(flowStatsFromWire(st), opts));
      expect(fast.pop()).toBe('');
      expect(fast.length).toBe(CORPUS.length);
      for (let i = 0; i < slow.length; i++) expect(fast[i]).toBe(slow[i]);
    });
  }

  /** A FlowStatsReply of one flow with these match fields and output ports, through the schema codec. */
  function oneFlow(fields: Input<MatchField>[], ports: number[]): Uint8Array {
    const st: Input<FlowStats> = {
      priority: 7, match: { fields }, instructions: [{ applyActions: { actions: ports.map((port) => ({ output: { port } })) } }],
    };
    return encodePlain(statsReplyType(), { stats: [st] });
  }
  let lastSlow = 0;
  const printBoth = (bytes: Uint8Array): [string, string] => {
    const fast = (() => {
      const printer = new FlowStatsPrinter({});
      try {
        return printer.print(bytes);
      } catch (e) {
        return `error: ${(e as Error).message}`;
      } finally {
        lastSlow = printer.slowFlows;
      }
    })();
    const slow = (() => {
      try {
        const st = (decodePlain(statsReplyType(), bytes).stats as FlowStats[])[0];
        return `${formatFlowStats(flowStatsFromWire(st), {})}\n`;
      } catch (e) {
        return `error: ${(e as Error).message}`;
      }
    })();
    return [fast, slow];
  };

  it('leaves nw_tos, vlan_pcp and reserved ports to the object path with the same result', () => {
    const slows: number[] = [];
    const u8 = (...b: number[]) => Uint8Array.from(b);
    for (const bytes of [
      oneFlow([{ field: 5, value: u8(0x08, 0x00) }, { field: 15, value: u8(0x20) }], [1]), // nw_tos
      oneFlow([{ field: 8, value: u8(3) }], [0xfffffffa, 0xfffffffe]), // vlan_pcp; NORMAL, LOCAL
      oneFlow([{ field: 7, value: u8(0x10, 0x05), mask: u8(0x1f, 0xff) }], [0xfffffff8]), // vlan_vid; IN_PORT
    ]) {
      const [fast, slow] = printBoth(bytes);
      expect(slow).not.toMatch(/^error/);
      expect(fast).toBe(slow);
      slows.push(lastSlow);
    }
    expect(slows).toEqual([1, 1, 0]); // reserved ports and vlan_vid are printed by the fast path
  });

  it('fails where the object path fails, with the same error', () => {
    const u8 = (...b: number[]) => Uint8Array.from(b);
    const cases = [
      oneFlow([{ field: 1, value: u8(0, 1) }], [0xff00]), // port 0xff00 has no 16-bit form
      oneFlow([{ field: 1, value: u8(0, 1) }, { field: 1, value: u8(0, 2) }], [1]), // duplicate field
      oneFlow([{ field: 9, value: u8(10, 0, 0) }], [1]), // short value
      oneFlow([{ field: 5, value: u8(8, 0), mask: u8(0xff, 0) }], [1]), // eth_type cannot be masked
      oneFlow([{ field: 99, value: u8(1) }], [1]), // unknown field
      oneFlow([{ field: 26, value: u8(1), mask: u8(1) }, { field: 26, value: u8(1) }], [1]),
    ];
    for (const bytes of cases) {
      const [fast, slow] = printBoth(bytes);
      expect(slow).toMatch(/^error: /);
      expect(fast).toBe(slow);
    }
  });

  it('prints an empty reply as nothing', () => {
    expect(new FlowStatsPrinter({}).print(new Uint8Array(0))).toBe('');
  });

  it('hands the same text to a sink in pieces of whole lines (printTo)', () => {
    const bytes = new FlowStatsEncoder().encode(entries, 0, entries.length, now);
    const whole = new FlowStatsPrinter({}).print(bytes);
    const pieces: string[] = [];
    new FlowStatsPrinter({}).printTo(bytes, (p) => pieces.push(typeof p === 'string' ? p : p.toString('latin1')), 300);
    expect(pieces.length).toBeGreaterThan(5);
    for (const p of pieces) expect(p.endsWith('\n')).toBe(true);
    for (const p of pieces.slice(0, -1)) expect(p.length).toBeGreaterThanOrEqual(300);
    expect(pieces.join('')).toBe(whole);
  });
});
