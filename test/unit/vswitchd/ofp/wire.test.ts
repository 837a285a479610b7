// The OpenFlow model over the flow protocol: every flow of the ovs-ofctl fixtures survives
// flow mod -> protobuf bytes -> flow mod unchanged; flow stats and requests round-trip; bad wire
// matches and actions are refused with the right OpenFlow error.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '../../../../src/lib/flowproto/codec.js';
import type { FlowMod as WireFlowMod, Match as WireMatch } from '../../../../src/lib/flowproto/messages.js';
import { formatActions } from '../../../../src/vswitchd/ofp/action-syntax.js';
import { OfpError } from '../../../../src/vswitchd/ofp/errors.js';
import { formatFlowStats, parseFlow } from '../../../../src/vswitchd/ofp/flow-syntax.js';
import { OFPP_ANY, OFPP_CONTROLLER, OFPP_LOCAL } from '../../../../src/vswitchd/ofp/layout.js';
import { formatMatch, parseMatch } from '../../../../src/vswitchd/ofp/match-syntax.js';
import { OfTables } from '../../../../src/vswitchd/ofp/tables.js';
import {
  actionsFromWire, actionsToWire, flowModFromWire, flowModToWire, flowStatsFromWire, flowStatsToWire, statsRequestFromWire, statsRequestToWire,
} from '../../../../src/vswitchd/ofp/wire.js';
import { matchFromWire, matchToWire, portFromWire, portToWire } from '../../../../src/vswitchd/ofp/wire-match.js';

function viaBytes(fm: ReturnType<typeof flowModToWire>): WireFlowMod {
  return decodeMessage(encodeMessage(1, 9, { flowMod: fm })).flowMod!;
}

const lines = ['ovs-dump-flows-of13.txt', 'ovs-dump-flows-nxst.txt'].flatMap((f) =>
  readFileSync(new URL(`./fixtures/${f}`, import.meta.url), 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#')));

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as OfpError).code;
  }
  return 'no error';
}

describe('flow mods on the wire', () => {
  it('every fixture flow survives encoding to bytes and back', () => {
    expect(lines.length).toBeGreaterThan(100);
    for (const line of lines) {
      const fm = parseFlow(line);
      const back = flowModFromWire(viaBytes(flowModToWire(fm)));
      expect(`${formatMatch(back.match, back.priority)} ${formatActions(back.actions)}`).toBe(`${formatMatch(fm.match, fm.priority)} ${formatActions(fm.actions)}`);
      expect([back.table, back.cookie, back.flags, back.idleTimeout, back.hardTimeout, back.command]).toEqual([fm.table, fm.cookie, fm.flags, fm.idleTimeout, fm.hardTimeout, 'add']);
      expect(back.match.equals(fm.match)).toBe(true);
    }
  });

  it('carries commands, cookies, masks, out_port and the new cookie of a modify', () => {
    const d = flowModFromWire(viaBytes(flowModToWire(parseFlow('table=3,cookie=0x10/0xf0,out_port=LOCAL,tcp', { command: 'delete_strict' }))));
    expect([d.command, d.table, d.cookie, d.cookieMask, d.outPort]).toEqual(['delete_strict', 3, 0x10n, 0xf0n, OFPP_LOCAL]);
    const m = flowModFromWire(viaBytes(flowModToWire(parseFlow('cookie=0x7,in_port=1,actions=drop', { command: 'modify' }))));
    expect([m.command, m.newCookie, m.outPort, m.priority]).toEqual(['modify', 7n, OFPP_ANY, 32768]);
    const p0 = flowModFromWire(viaBytes(flowModToWire(parseFlow('priority=0,actions=drop'))));
    expect(p0.priority).toBe(0);
  });

  it('refuses bad commands, buffers and instruction repeats', () => {
    const base = viaBytes(flowModToWire(parseFlow('actions=drop')));
    expect(code(() => flowModFromWire({ ...base, command: 9 }))).toBe('OFPFMFC_BAD_COMMAND');
    expect(code(() => flowModFromWire({ ...base, bufferId: 5 }))).toBe('OFPBRC_BUFFER_UNKNOWN');
    expect(code(() => flowModFromWire({ ...base, instructions: [...base.instructions!, ...base.instructions!] }))).toBe('OFPBIC_UNSUP_INST');
    expect(code(() => flowModFromWire({ ...base, instructions: [{ kind: undefined }] }))).toBe('OFPBIC_UNKNOWN_INST');
    expect(code(() => actionsFromWire([{ kind: 'output', output: { port: 0xfffe0000 } }]))).toBe('OFPBAC_BAD_OUT_PORT');
    expect(code(() => actionsFromWire([{ kind: undefined }]))).toBe('OFPBAC_BAD_TYPE');
    expect(code(() => actionsFromWire([{ kind: 'setField', setField: { field: { field: 99, value: Buffer.alloc(1), mask: Buffer.alloc(0) } } }]))).toBe('OFPBAC_BAD_SET_TYPE');
    expect(code(() => actionsFromWire([{ kind: 'modNwTos', modNwTos: { value: 3 } }]))).toBe('OFPBAC_BAD_ARGUMENT');
  });

  it('converts port numbers between 16 and 32 bits', () => {
    expect(portToWire(OFPP_LOCAL)).toBe(0xfffffffe);
    expect(portToWire(OFPP_CONTROLLER)).toBe(0xfffffffd);
    expect(portToWire(7)).toBe(7);
    expect(portFromWire(0xfffffffa)).toBe(0xfffa);
    expect(() => portFromWire(0x10000)).toThrow(RangeError);
    const acts = parseFlow('actions=output:3,LOCAL,controller:64,resubmit(,2)').actions;
    expect(formatActions(actionsFromWire(decodeMessage(encodeMessage(1, 1, { packetOut: { actions: actionsToWire(acts) } })).packetOut!.actions!))).toBe('output:3,LOCAL,CONTROLLER:64,resubmit(,2)');
  });
});

describe('matches on the wire', () => {
  const wm = (fields: [number, number[], number[]?][]): WireMatch => ({
    fields: fields.map(([field, v, m]) => ({ field, value: Buffer.from(v), mask: Buffer.from(m ?? []) })),
  });

  it('names protocol fields by dl_type and nw_proto', () => {
    const ids = (s: string) => (matchToWire(parseMatch(s)).fields ?? []).map((f) => f!.field);
    expect(ids('tcp,nw_src=10.0.0.0/8,tp_dst=80')).toEqual([5, 9, 14, 21]);
    expect(ids('udp6,tp_src=53')).toEqual([5, 14, 22]);
    expect(ids('arp,arp_spa=1.2.3.4,arp_op=1,arp_sha=00:00:00:00:00:01')).toEqual([5, 31, 30, 33]);
    expect(ids('icmp6,icmp_type=135,nd_target=::1')).toEqual([5, 14, 28, 35]);
    expect(ids('in_port=1,reg3=5,metadata=0x1/0x1')).toEqual([1, 2, 43]);
    expect(ids('ip,nw_tos=8,nw_ecn=1')).toEqual([5, 16, 17]);
  });

  it('refuses unknown fields, bad lengths, masks where none may be, and duplicates', () => {
    expect(code(() => matchFromWire(wm([[200, [1]]])))).toBe('OFPBMC_BAD_FIELD');
    expect(code(() => matchFromWire(wm([[9, [1, 2, 3]]])))).toBe('OFPBMC_BAD_LEN');
    expect(code(() => matchFromWire(wm([[5, [8, 0], [0xff, 0]]])))).toBe('OFPBMC_BAD_MASK');
    expect(code(() => matchFromWire(wm([[5, [8, 0]], [9, [1, 1, 1, 1]], [31, [1, 1, 1, 1]]])))).toBe('OFPBMC_DUP_FIELD');
    expect(code(() => matchFromWire(wm([[8, [9]]])))).toBe('OFPBMC_BAD_VALUE');
    // Prerequisites are the tables' business: a wire flow mod without them is refused there.
    const t = new OfTables(false);
    const fm = flowModFromWire({ ...viaBytes(flowModToWire(parseFlow('actions=drop'))), match: wm([[21, [0, 80]]]) });
    expect(code(() => t.apply(fm))).toBe('OFPBMC_BAD_PREREQ');
  });

  it('vlan_pcp implies a tag; nw_tos matches its DSCP bits', () => {
    expect(formatMatch(matchFromWire(wm([[8, [5]]])))).toBe('dl_vlan_pcp=5');
    expect(formatMatch(matchFromWire(wm([[8, [3]], [7, [0x10, 0x0a]]])))).toBe('dl_vlan=10,dl_vlan_pcp=3');
    expect(code(() => matchFromWire(wm([[8, [3]], [7, [0, 0]]])))).toBe('OFPBMC_BAD_PREREQ');
    expect(formatMatch(matchFromWire(wm([[5, [8, 0]], [15, [0x2b]]])))).toBe('ip,nw_tos=40');
  });
});

describe('flow stats on the wire', () => {
  it('print the same as the entry they came from', () => {
    const t = new OfTables(true, 1000);
    const e = t.apply(parseFlow('cookie=0x5,idle_timeout=30,priority=7,tcp,tp_dst=22,actions=output:2,goto_table:4'), 2000).added[0];
    t.credit(e, 4, 400, 2500);
    const now = 7123;
    const ws = decodeMessage(encodeMessage(1, 1, { multipartReply: { flow: { stats: [flowStatsToWire(e, now)] } } })).multipartReply!.flow!.stats![0];
    expect(formatFlowStats(flowStatsFromWire(ws), { ages: true }))
      .toBe(' cookie=0x5, duration=5.123s, table=0, n_packets=4, n_bytes=400, idle_timeout=30, idle_age=4, priority=7,tcp,tp_dst=22 actions=output:2,goto_table:4');
  });

  it('requests select the same flows after the trip', () => {
    const f = parseFlow('table=0,cookie=0x1/0x1,out_port=2,tcp', { command: 'dump' });
    const back = statsRequestFromWire(decodeMessage(encodeMessage(1, 1, { multipartRequest: { flow: statsRequestToWire(f) } })).multipartRequest!.flow!);
    expect([back.table, back.cookie, back.cookieMask, back.outPort, back.strict]).toEqual([0, 1n, 1n, 2, false]);
    expect(formatMatch(back.match!)).toBe('tcp');
    const all = statsRequestFromWire(decodeMessage(encodeMessage(1, 1, { multipartRequest: { flow: statsRequestToWire(parseFlow('', { command: 'dump' })) } })).multipartRequest!.flow!);
    expect([all.table, all.outPort]).toEqual([255, OFPP_ANY]);
  });
});
