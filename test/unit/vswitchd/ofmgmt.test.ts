/*
 * vswitchd's flow-protocol service end to end: the real vsdb, datapath (dummy ports) and
 * vswitchd in-process, a FlowConnection on br0.mgmt, and every message type: hello, echo,
 * features, get/set config, async config, roles, flow mods (and their errors, with the
 * offending message), barrier ordering, multipart (desc, flow stats in parts, aggregate,
 * tables, port stats and descriptions, flow monitors), port mods, packet outs, packet-in and
 * flow-removed forwarding, and the socket following the bridge.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMessage } from '../../../src/lib/flowproto/codec.js';
import { FlowConnection } from '../../../src/lib/flowproto/connection.js';
import { FlowRemoteError } from '../../../src/lib/flowproto/errors.js';
import type { FlowMessage } from '../../../src/lib/flowproto/messages.js';
import { OFPFF_SEND_FLOW_REM, parseFlow } from '../../../src/vswitchd/ofp/flow-syntax.js';
import { F_IN_PORT, F_REG } from '../../../src/vswitchd/ofp/fields.js';
import { newOfFlow, OF_W_REG0 } from '../../../src/vswitchd/ofp/layout.js';
import { flowModFromWire, flowModToWire, flowStatsFromWire, actionsToWire } from '../../../src/vswitchd/ofp/wire.js';
import { matchFromWire } from '../../../src/vswitchd/ofp/wire-match.js';
import { OFPPC_NO_FLOOD, OFPPC_PORT_DOWN, portConfig, portNoFlood } from '../../../src/vswitchd/ofport-config.js';
import { FLOW_PART_FLOWS } from '../../../src/vswitchd/ofmgmt-stats.js';
import { frame, SwitchFixture, until } from './switch-fixture.js';

const LOCAL = 0xfffffffe;
const wireMod = (s: string, cmd?: Parameters<typeof parseFlow>[1]) => ({ flowMod: flowModToWire(parseFlow(s, cmd)) });

/** Collects the unsolicited messages (async ones, stray errors) a connection receives. */
function collect(conn: FlowConnection): FlowMessage[] {
  const got: FlowMessage[] = [];
  conn.onMessage((m) => void got.push(m));
  return got;
}

async function remoteError(p: Promise<unknown>): Promise<FlowRemoteError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof FlowRemoteError) return e;
    throw e;
  }
  throw new Error('expected an error reply');
}

describe('flow protocol on BRIDGE.mgmt', () => {
  const sw = new SwitchFixture();
  const conns: FlowConnection[] = [];
  const connect = async (): Promise<FlowConnection> => {
    const c = await FlowConnection.connect(`unix:${sw.mgmt()}`, { agent: 'test' });
    conns.push(c);
    return c;
  };
  const flowStrings = async (c: FlowConnection): Promise<string[]> => {
    const parts = await c.multipart({ flow: {} });
    return parts.flatMap((p) => p.flow?.stats ?? []).map((s) => {
      const v = flowStatsFromWire(s);
      return `${v.table}:${v.priority}:${v.actions.map((a) => a.type).join('+')}:${v.cookie}`;
    });
  };

  beforeAll(async () => {
    await sw.start('ofmgmt-');
  });
  afterAll(async () => {
    for (const c of conns) c.close();
    await sw.stop();
  });

  it('serves each bridge on RUNDIR/BRIDGE.mgmt: hello, version and echo', async () => {
    expect(existsSync(sw.mgmt())).toBe(true);
    const c = await connect();
    expect(c.version).toBe(1);
    expect(c.peerAgent).toMatch(/^vswitchd /);
    expect(await c.echo(Uint8Array.from([1, 2, 3]))).toBeGreaterThanOrEqual(0);
  });

  it('answers features with the datapath id, 255 tables and the ports', async () => {
    const c = await connect();
    const f = (await c.request({ featuresRequest: {} })).featuresReply!;
    // The LOCAL port's MAC (the first dummy created is br0's: 02:aa:00:00:00:01).
    expect(f.datapathId).toBe(0x02aa00000001n);
    expect(f.nTables).toBe(255);
    expect(f.nBuffers ?? 0).toBe(0);
    expect(f.capabilities).toBe(7);
    const ports = (f.ports ?? []).map((p) => [p.portNo, p.name]);
    expect(ports).toEqual([[1, 'p1'], [2, 'p2'], [LOCAL, 'br0']]);
    expect(Buffer.from(f.ports![2].hwAddr!).toString('hex')).toBe('02aa00000001');

    const br = (await sw.db.transact('Open_vSwitch', [{ op: 'select', table: 'Bridge', where: [['name', '==', 'br0']] }]))[0].rows[0];
    await sw.configure([{ op: 'mutate', table: 'Bridge', where: [['_uuid', '==', br._uuid]], mutations: [['other_config', 'insert', ['map', [['datapath-id', '00000000000000ab']]]]] }]);
    expect((await c.request({ featuresRequest: {} })).featuresReply!.datapathId).toBe(0xabn);
    await sw.configure([{ op: 'mutate', table: 'Bridge', where: [['_uuid', '==', br._uuid]], mutations: [['other_config', 'delete', ['set', ['datapath-id']]]] }]);
  });

  it('gets and sets the switch config (miss_send_len) and refuses fragment modes it lacks', async () => {
    const c = await connect();
    expect((await c.request({ getConfigRequest: {} })).getConfigReply?.missSendLen ?? 0).toBe(0);
    expect(await c.transact([{ setConfig: { flags: 0, missSendLen: 200 } }])).toEqual([]);
    expect((await c.request({ getConfigRequest: {} })).getConfigReply?.missSendLen).toBe(200);
    const errs = await c.transact([{ setConfig: { flags: 1, missSendLen: 10 } }]);
    expect(errs.map((e) => e.error.code)).toEqual(['OFPSCFC_BAD_FLAGS']);
    expect((await c.request({ getConfigRequest: {} })).getConfigReply?.missSendLen).toBe(200);
  });

  it('starts management connections with no async messages; set_async/get_async change that', async () => {
    const c = await connect();
    const a = (await c.request({ getAsyncRequest: {} })).getAsyncReply ?? {};
    expect([a.packetInMask ?? 0, a.portStatusMask ?? 0, a.flowRemovedMask ?? 0]).toEqual([0, 0, 0]);
    await c.transact([{ setAsync: { packetInMask: 3, portStatusMask: 7, flowRemovedMask: 15 } }]);
    const b = (await c.request({ getAsyncRequest: {} })).getAsyncReply ?? {};
    expect([b.packetInMask, b.portStatusMask, b.flowRemovedMask]).toEqual([3, 7, 15]);
  });

  it('applies flow mods; a failed one is answered with its error and the offending message, and changes nothing', async () => {
    const c = await connect();
    expect(await c.transact([wireMod('priority=100,ip,nw_dst=10.0.0.2,actions=output:2')])).toEqual([]);
    const before = await flowStrings(c);
    const errs = await c.transact([wireMod('check_overlap,priority=100,ip,actions=drop')]);
    expect(errs).toHaveLength(1);
    expect(errs[0].error.code).toBe('OFPFMFC_OVERLAP');
    expect(errs[0].error.detail).toMatch(/overlaps/);
    const offending = decodeMessage(errs[0].error.data);
    expect(offending.body).toBe('flowMod');
    expect(flowModFromWire(offending.flowMod!).priority).toBe(100);
    // A match without its prerequisites: BAD_MATCH/BAD_PREREQ.
    const m = flowModToWire(parseFlow('priority=5,actions=drop'));
    m.match = { fields: [{ field: 21, value: Uint8Array.from([0, 80]) }] }; // tcp_dst without ip,tcp
    const errs2 = await c.transact([{ flowMod: m }]);
    expect(errs2[0].error.code).toBe('OFPBMC_BAD_PREREQ');
    // A table that does not exist, an unknown command.
    const bad = flowModToWire(parseFlow('priority=5,actions=drop'));
    bad.tableId = 255;
    expect((await c.transact([{ flowMod: bad }]))[0].error.code).toBe('OFPFMFC_BAD_TABLE_ID');
    expect(await flowStrings(c)).toEqual(before);
    await c.transact([wireMod('ip,nw_dst=10.0.0.2', { command: 'delete' })]);
  });

  it('replies to a barrier only after everything before it, errors included, in order', async () => {
    const c = await connect();
    const order: string[] = [];
    c.onMessage((m) => void order.push(m.body === 'error' ? `error:${m.xid}` : String(m.body)));
    const x1 = c.send(wireMod('priority=7,udp,actions=drop'));
    const x2 = c.send(wireMod('check_overlap,priority=7,udp,tp_dst=53,actions=drop'));
    const x3 = c.send(wireMod('priority=8,udp,actions=drop'));
    const statsParts = c.multipart({ flow: { match: {} } });
    await c.barrier();
    order.push('barrier');
    expect(order).toEqual([`error:${x2}`, 'barrier']);
    expect(x3).toBe(x1 + 2);
    // The stats request queued behind the flow mods sees both that succeeded.
    const prios = (await statsParts).flatMap((p) => p.flow?.stats ?? []).map((s) => s.priority);
    expect(prios).toContain(7);
    expect(prios).toContain(8);
    await c.transact([wireMod('udp', { command: 'delete' })]);
  });

  it('streams a large flow dump in parts, all but the last marked more, in OpenFlow order', async () => {
    const c = await connect();
    const br = sw.bridge();
    const n = FLOW_PART_FLOWS * 2 + 100;
    for (let i = 0; i < n; i++) br.tables.apply(parseFlow(`table=3,priority=${i % 500},tcp,nw_src=10.1.${i >> 8}.${i & 255},actions=drop`));
    const parts = await c.multipart({ flow: { tableId: 3 } });
    expect(parts.length).toBe(3);
    expect(parts.map((p) => p.more ?? false)).toEqual([true, true, false]);
    const stats = parts.flatMap((p) => p.flow?.stats ?? []);
    expect(stats.length).toBe(n);
    for (let i = 1; i < stats.length; i++) expect((stats[i - 1].priority ?? 0) >= (stats[i].priority ?? 0)).toBe(true);
    const agg = (await c.multipart({ aggregate: { tableId: 3 } }))[0].aggregate!;
    expect(agg.flowCount).toBe(n);
    const tables = (await c.multipart({ table: {} }))[0].table!.stats!;
    expect(tables).toHaveLength(255);
    expect(tables[3].activeCount).toBe(n);
    expect(tables[0].activeCount).toBe(1);
    await c.transact([wireMod('table=3', { command: 'delete' })]);
    expect((await c.multipart({ aggregate: { tableId: 3 } }))[0].aggregate!.flowCount ?? 0).toBe(0);
  });

  it('answers desc, port desc and port stats (the datapath counters)', async () => {
    const c = await connect();
    const d = (await c.multipart({ desc: {} }))[0].desc!;
    expect(d.mfrDesc).toBe('vswitch');
    expect(d.dpDesc).toBe('br0');
    const pd = (await c.multipart({ portDesc: {} }))[0].portDesc!.ports!;
    expect(pd.map((p) => p.name)).toEqual(['p1', 'p2', 'br0']);
    expect(pd[0].state).toBe(4); // LIVE
    expect(pd[0].currSpeed).toBe(10_000_000);
    sw.dev('p1').inject(frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:0a'));
    await until('p1 rx', async () => {
      const ps = (await c.multipart({ portStats: { portNo: 1 } }))[0].portStats!.stats!;
      return ps.length === 1 && ps[0].rxPackets === 1n;
    });
    const all = (await c.multipart({ portStats: {} }))[0].portStats!.stats!;
    expect(all.map((p) => p.portNo)).toEqual([1, 2, LOCAL]);
    const err = await remoteError(c.multipart({ portStats: { portNo: 77 } }));
    expect(err.code).toBe('OFPBRC_BAD_PORT');
    expect((await remoteError(c.multipart({}))).code).toBe('OFPBRC_BAD_MULTIPART');
  });

  it('applies port mods (config bits, port_status, Interface admin_state) and refuses bad ones', async () => {
    const watcher = await connect();
    const got = collect(watcher);
    await watcher.transact([{ setAsync: { portStatusMask: 7 } }]);
    const c = await connect();
    const p1 = sw.bridge().port(1)!;
    expect(await c.transact([{ portMod: { portNo: 1, config: OFPPC_NO_FLOOD, mask: OFPPC_NO_FLOOD } }])).toEqual([]);
    expect(portNoFlood(p1)).toBe(true);
    await until('port status', () => got.some((m) => m.body === 'portStatus'));
    const ps = got.find((m) => m.body === 'portStatus')!.portStatus!;
    expect(ps.reason).toBe(2);
    expect(ps.desc?.config).toBe(OFPPC_NO_FLOOD);
    expect(await c.transact([{ portMod: { portNo: 1, config: OFPPC_PORT_DOWN, mask: OFPPC_PORT_DOWN } }])).toEqual([]);
    expect(portConfig(p1)).toBe(OFPPC_NO_FLOOD | OFPPC_PORT_DOWN);
    const adminOf = async (): Promise<unknown> =>
      (await sw.db.transact('Open_vSwitch', [{ op: 'select', table: 'Interface', where: [['name', '==', 'p1']], columns: ['admin_state'] }]))[0].rows[0].admin_state;
    await until('admin_state down', async () => (await adminOf()) === 'down');
    expect(await c.transact([{ portMod: { portNo: 1, config: 0, mask: OFPPC_PORT_DOWN | OFPPC_NO_FLOOD } }])).toEqual([]);
    expect(portConfig(p1)).toBe(0);
    await until('admin_state up', async () => (await adminOf()) === 'up');
    const errs = await c.transact([
      { portMod: { portNo: 9, config: 0, mask: 1 } },
      { portMod: { portNo: 1, hwAddr: Uint8Array.from([1, 2, 3, 4, 5, 6]), config: 0, mask: 1 } },
      { portMod: { portNo: 1, config: 2, mask: 2 } },
    ]);
    expect(errs.map((e) => e.error.code)).toEqual(['OFPPMFC_BAD_PORT', 'OFPPMFC_BAD_HW_ADDR', 'OFPPMFC_BAD_CONFIG']);
  });

  it('sends port_status when a port is added to or removed from the bridge', async () => {
    const c = await connect();
    const got = collect(c);
    await c.transact([{ setAsync: { portStatusMask: 0b011 } }]); // ADD and DELETE only
    await sw.addPort('br0', 'p3');
    await sw.delPort('br0', 'p3');
    await until('two port_status', () => got.length >= 2);
    await c.barrier();
    expect(got.map((m) => [m.body, m.portStatus?.reason ?? 0, m.portStatus?.desc?.name, m.portStatus?.desc?.portNo])).toEqual([
      ['portStatus', 0, 'p3', 3], ['portStatus', 1, 'p3', 3],
    ]);
  });

  it('runs packet outs on the datapath and refuses bad ones', async () => {
    const c = await connect();
    const p2 = sw.dev('p2');
    p2.takeSent();
    const data = frame('02:00:00:00:00:02', '02:00:00:00:00:01');
    expect(await c.transact([{ packetOut: { bufferId: 0xffffffff, inPort: 1, actions: actionsToWire([{ type: 'output', port: 2 }]), data } }])).toEqual([]);
    await until('p2 sent', () => p2.sent.length === 1);
    expect(Buffer.from(p2.takeSent()[0]).equals(Buffer.from(data))).toBe(true);
    const errs = await c.transact([
      { packetOut: { bufferId: 7, inPort: 1, actions: [], data } },
      { packetOut: { inPort: 42, actions: [], data } },
      { packetOut: { inPort: 1, actions: [], data: Uint8Array.from([1, 2, 3]) } },
      { packetOut: { inPort: 1, actions: [{ setField: { field: { field: 21, value: Uint8Array.from([0, 1]) } } }], data } },
    ]);
    expect(errs.map((e) => e.error.code)).toEqual(['OFPBRC_BUFFER_UNKNOWN', 'OFPBRC_BAD_PORT', 'OFPBRC_BAD_PACKET', 'OFPBAC_MATCH_INCONSISTENT']);
  });

  it('implements roles: one master, stale generation ids, slaves cannot change the switch', async () => {
    const a = await connect();
    const b = await connect();
    expect((await a.request({ roleRequest: { role: 0 } })).roleReply?.role).toBe(1);
    expect((await a.request({ roleRequest: { role: 2, generationId: 5n } })).roleReply).toMatchObject({ role: 2, generationId: 5n });
    expect((await b.request({ roleRequest: { role: 2, generationId: 6n } })).roleReply?.role).toBe(2);
    expect((await a.request({ roleRequest: { role: 0 } })).roleReply?.role).toBe(3);
    expect((await a.transact([wireMod('priority=9,arp,actions=drop')]))[0].error.code).toBe('OFPBRC_IS_SLAVE');
    expect((await remoteError(a.request({ roleRequest: { role: 2, generationId: 4n } }))).code).toBe('OFPRRFC_STALE');
    expect((await remoteError(a.request({ roleRequest: { role: 7 } }))).code).toBe('OFPRRFC_BAD_ROLE');
    // Generation ids wrap: 2^64-1 is older than 6.
    expect((await remoteError(a.request({ roleRequest: { role: 3, generationId: 0xffffffffffffffffn } }))).code).toBe('OFPRRFC_STALE');
    expect((await a.request({ roleRequest: { role: 1 } })).roleReply?.role).toBe(1);
    expect(await a.transact([wireMod('priority=9,arp,actions=drop')])).toEqual([]);
    await a.transact([wireMod('arp', { command: 'delete' })]);
  });

  it('forwards flow_removed and packet_in to connections that asked, as the bridge emits them', async () => {
    const want = await connect();
    const quiet = await connect();
    const got = collect(want);
    const none = collect(quiet);
    await want.transact([{ setAsync: { packetInMask: 0b011, flowRemovedMask: 0b1111 } }, { setConfig: { missSendLen: 20 } }]);
    await want.transact([wireMod('send_flow_rem,priority=33,udp,actions=drop')]);
    expect(parseFlow('send_flow_rem,priority=33,udp,actions=drop').flags & OFPFF_SEND_FLOW_REM).toBeTruthy();
    await want.transact([wireMod('priority=33,udp', { command: 'delete_strict' })]);
    await until('flow_removed', () => got.some((m) => m.body === 'flowRemoved'));
    const fr = got.find((m) => m.body === 'flowRemoved')!.flowRemoved!;
    expect([fr.priority, fr.reason ?? 0]).toEqual([33, 2]);
    const flow = newOfFlow();
    flow[OF_W_REG0 + 1] = 0x1234;
    const packet = frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:01', 0x0800);
    const br = sw.bridge();
    br.events.emit('packet_in', { reason: 1, table: 0, cookie: 5n, controllerId: 0, userdata: null, inPort: 2, flow, packet, totalLen: packet.length });
    br.events.emit('packet_in', { reason: 0, table: 1, cookie: 0n, controllerId: 0, userdata: null, inPort: 1, flow, packet, totalLen: packet.length });
    br.events.emit('packet_in', { reason: 1, table: 0, cookie: 0n, controllerId: 9, userdata: null, inPort: 1, flow, packet, totalLen: packet.length });
    br.events.emit('packet_in', { reason: 2, table: 0, cookie: 0n, controllerId: 0, userdata: null, inPort: 1, flow, packet, totalLen: packet.length });
    await until('packet_ins', () => got.filter((m) => m.body === 'packetIn').length === 2);
    await want.barrier();
    const pins = got.filter((m) => m.body === 'packetIn').map((m) => m.packetIn!);
    expect(pins).toHaveLength(2); // controller id 9 and reason INVALID_TTL are not for this connection
    expect([pins[0].reason, pins[0].cookie, pins[0].data?.length, pins[0].totalLen]).toEqual([1, 5n, 60, 60]);
    const m = matchFromWire(pins[0].match);
    expect(m.fieldValueNum(F_IN_PORT)).toBe(2);
    expect(m.fieldValueNum(F_REG[1])).toBe(0x1234);
    // A table miss carries what miss_send_len allows.
    expect([pins[1].reason ?? 0, pins[1].tableId, pins[1].data?.length, pins[1].totalLen]).toEqual([0, 1, 20, 60]);
    expect(none).toEqual([]);
  });

  it('runs flow monitors: initial flows, then additions, modifications and removals', async () => {
    const mon = await connect();
    const got = collect(mon);
    const c = await connect();
    await c.transact([wireMod('table=4,priority=10,ip,actions=drop')]);
    const parts = await mon.multipart({ flowMonitor: { monitorId: 7, tableId: 4, flags: 1 | 2 | 4 | 8 | 16 } });
    expect(parts[0].flowMonitor!.updates!.map((u) => [u.event ?? 0, u.priority])).toEqual([[0, 10]]);
    await c.transact([wireMod('table=4,priority=11,ip,actions=drop')]);
    await c.transact([wireMod('table=5,priority=11,ip,actions=drop')]); // another table: not reported
    await c.transact([wireMod('table=4,ip,actions=output:1', { command: 'modify' })]);
    await c.transact([wireMod('table=4,priority=11,ip,actions=output:2')]); // replaces: one MODIFIED
    await c.transact([wireMod('table=4,priority=10,ip', { command: 'delete_strict' })]);
    await until('updates', () => got.flatMap((m) => m.flowMonitorUpdate?.updates ?? []).length >= 5);
    await c.barrier();
    const ups = got.flatMap((m) => m.flowMonitorUpdate?.updates ?? []).map((u) => `${u.event ?? 0}/${u.priority}`);
    // The non-strict modify reports both flows, in either order.
    expect([ups[0], ...[...ups.slice(1, 3)].sort(), ups[3], ups[4]]).toEqual(['1/11', '3/10', '3/11', '3/11', '2/10']);
    expect(got.every((m) => m.flowMonitorUpdate?.monitorId === 7)).toBe(true);
    expect((await remoteError(mon.multipart({ flowMonitor: { monitorId: 7 } }))).code).toBe('OFPBRC_EPERM');
    await c.transact([wireMod('table=4', { command: 'delete' }), wireMod('table=5', { command: 'delete' })]);
  });

  it('answers a message it does not handle with BAD_TYPE', async () => {
    const c = await connect();
    const errs = await c.transact([{ packetIn: {} }]);
    expect(errs.map((e) => e.error.code)).toEqual(['OFPBRC_BAD_TYPE']);
  });

  it('opens and removes the socket with the bridge, and closes it when vswitchd stops', async () => {
    await sw.addBridge('br1', ['q1']);
    expect(existsSync(sw.mgmt('br1'))).toBe(true);
    const c = await FlowConnection.connect(`unix:${sw.mgmt('br1')}`);
    const closed = new Promise((r) => c.once('close', r));
    expect((await c.request({ featuresRequest: {} })).featuresReply!.ports!.map((p) => p.name)).toEqual(['q1', 'br1']);
    await sw.delBridge('br1');
    await closed;
    expect(existsSync(sw.mgmt('br1'))).toBe(false);
    expect(existsSync(sw.mgmt('br0'))).toBe(true);
    await sw.vs.ofmgmt.close();
    expect(existsSync(sw.mgmt('br0'))).toBe(false);
  });
});
