// The controller and its switch sessions against fake switches: the handshake (features, ports,
// description), the typed API apps use (flow mods from flow strings with port names, packet-out,
// statistics, barriers), port status, app dispatch (order, 'stop', failing apps), a switch that
// reconnects, a controller that restarts, echo probes, roles with several controllers, and
// broken input (garbage, oversize frames, no hello) that must not disturb the other switches.
import net from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../../src/controller/app.js';
import { L2Learning, parseL2Options } from '../../../src/controller/apps/l2-learning.js';
import { Controller } from '../../../src/controller/controller.js';
import type { PacketInEvent } from '../../../src/controller/events.js';
import type { SwitchSession } from '../../../src/controller/switch-session.js';
import { encodeMessage } from '../../../src/lib/flowproto/codec.js';
import { FlowConnection } from '../../../src/lib/flowproto/connection.js';
import { FlowServer } from '../../../src/lib/flowproto/server.js';
import { FlowRemoteError } from '../../../src/lib/flowproto/errors.js';
import { encodeFrame } from '../../../src/lib/flowproto/framing.js';
import type { FlowMessage } from '../../../src/lib/flowproto/messages.js';
import { FlowSyntaxError } from '../../../src/vswitchd/ofp/errors.js';
import { F_IN_PORT } from '../../../src/vswitchd/ofp/fields.js';
import { OFPP_LOCAL } from '../../../src/vswitchd/ofp/layout.js';
import { FakeSwitch, frame, sleep, until, wirePort } from './fake-switch.js';
import { cleanup, connectSwitch, dir, quietLog, removeDir, startController } from './helpers.js';
import { join } from 'node:path';

afterEach(cleanup);
afterAll(removeDir);

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const BCAST = 'ff:ff:ff:ff:ff:ff';

/** An app that records what it sees. */
function recorder(name = 'rec'): App & { events: string[]; pis: PacketInEvent[]; errors: FlowRemoteError[] } {
  const events: string[] = [];
  const pis: PacketInEvent[] = [];
  const errors: FlowRemoteError[] = [];
  return {
    name, events, pis, errors,
    onSwitchUp: (sw) => void events.push(`up ${sw.id}`),
    onSwitchDown: (sw, why) => void events.push(`down ${sw.id} ${why}`),
    onPacketIn: (_sw, pi) => void pis.push(pi),
    onPortStatus: (_sw, ev) => void events.push(`port ${ev.reasonName} ${ev.port.name}`),
    onFlowRemoved: (_sw, ev) => void events.push(`removed ${ev.reasonName} ${ev.matchString}`),
    onError: (_sw, err) => void errors.push(err),
  };
}

describe('switch sessions', () => {
  it('learns the switch in the handshake: dpid, ports by number and name, description', async () => {
    const rec = recorder();
    const t = await startController([rec], { tcp: true });
    const fs = new FakeSwitch(0xabcdef01n, 2);
    fs.ports.push(wirePort(OFPP_LOCAL, 'br-test'));
    await fs.connect(t.target);
    await until(() => rec.events.length === 1);
    expect(rec.events).toEqual(['up 00000000abcdef01']);
    const sw = t.ctrl.switch('00000000abcdef01')!;
    expect(t.ctrl.switch(0xabcdef01n)).toBe(sw);
    expect(t.ctrl.switch('0xabcdef01')).toBe(sw);
    expect(sw.nTables).toBe(255);
    expect([...sw.ports.keys()]).toEqual([1, 2, OFPP_LOCAL]);
    expect(sw.ports.get(OFPP_LOCAL)!.name).toBe('br-test');
    expect(sw.ports.get(2)!.hwAddr).toBe('02:00:00:00:00:02');
    expect(sw.desc).toMatchObject({ sw: 'fake switch', dp: 'br-test' });
    expect(sw.conn.peerAgent).toBe('fake switch');
    expect(t.ctrl.metrics.registry.render()).toMatch(/^vscontroller_switches_connected 1$/m);
    fs.close();
    await until(() => rec.events.length === 2);
    expect(rec.events[1]).toBe('down 00000000abcdef01 closed');
    expect(t.ctrl.switch(0xabcdef01n)).toBeUndefined();
    expect(t.ctrl.metrics.disconnects.get({ reason: 'closed' })).toBe(1);
  });

  it('gives apps flow mods from flow strings with port names, stats, packet-out and barriers', async () => {
    const t = await startController([]);
    const fs = await connectSwitch(t, 0x10n);
    const sw = t.ctrl.switch(0x10n)!;
    sw.addFlow('priority=200,in_port=p1,tcp,tp_dst=80,actions=output:p3');
    sw.flowMod('add', 'table=1,priority=5,actions=drop');
    await sw.barrier();
    const stats = await sw.flowStats('in_port=p1');
    expect(stats).toHaveLength(1);
    expect(stats[0].priority).toBe(200);
    expect(stats[0].match.fieldValueNum(F_IN_PORT)).toBe(1);
    expect(stats[0].actions).toEqual([{ type: 'output', port: 3 }]);
    expect((await sw.flowStats()).length).toBe(3); // with the bridge's NORMAL flow
    expect(await sw.aggregateStats('table=1')).toEqual({ packets: 0, bytes: 0, flows: 1 });
    sw.deleteFlows('table=1,priority=5', { strict: true });
    const failures = await sw.flowMods([
      { flow: 'priority=1,in_port=2,actions=output:1' },
      { flow: 'priority=1,in_port=2,check_overlap,actions=output:1' },
      { command: 'delete', flow: 'in_port=p1' },
    ]);
    expect(failures).toHaveLength(1);
    expect(failures[0].index).toBe(1);
    expect(failures[0].error.code).toBe('OFPFMFC_OVERLAP');
    expect(fs.flows(1)).toHaveLength(0);
    expect(fs.flows(0).map((e) => e.priority)).toEqual([1, 0]);
    // A bad flow string throws at once and sends nothing.
    const before = fs.flowMods.length;
    expect(() => sw.addFlow('in_port=nosuchport,actions=drop')).toThrow(FlowSyntaxError);
    await expect(sw.flowMods([{ flow: 'priority=9,actions=drop' }, { flow: 'tp_dst=80,actions=drop' }])).rejects.toThrow(/tp_dst requires/);
    await sw.barrier();
    expect(fs.flowMods.length).toBe(before);
    // Packet-out with an action string using a port name.
    sw.packetOut({ inPort: 1, actions: 'mod_vlan_vid:7,output:p2', data: frame(B, A) });
    await until(() => fs.packetOuts.length === 1);
    expect(fs.packetOuts[0].packetOut!.actions).toEqual([
      { kind: 'modVlanVid', modVlanVid: { vid: 7 } }, { kind: 'output', output: { port: 2 } },
    ]);
    expect((await sw.portStats()).map((p) => [p.portNo, p.rxPackets])).toEqual([[1, 10], [2, 10], [3, 10]]);
    expect(await sw.portStats(2)).toHaveLength(1);
    expect((await sw.tableStats())[0]).toMatchObject({ tableId: 0, activeCount: 2 });
    expect(await sw.echo()).toBeGreaterThanOrEqual(0);
    expect(t.ctrl.metrics.flowMods.get({ dpid: sw.id })).toBeGreaterThanOrEqual(5);
  });

  it('keeps ports current from port status and tells the apps', async () => {
    const rec = recorder();
    const t = await startController([rec]);
    const fs = await connectSwitch(t, 0x11n, 1);
    const sw = t.ctrl.switch(0x11n)!;
    fs.portStatus(0, wirePort(5, 'new5'));
    await until(() => sw.ports.has(5));
    expect(sw.names.number('new5')).toBe(5);
    fs.portStatus(2, { ...wirePort(5, 'new5'), config: 1 });
    await until(() => sw.ports.get(5)!.config === 1);
    fs.portStatus(1, wirePort(5, 'new5'));
    await until(() => !sw.ports.has(5));
    expect(rec.events.slice(1)).toEqual(['port add new5', 'port modify new5', 'port delete new5']);
  });

  it('passes flow-removed messages and switch errors to the apps', async () => {
    const rec = recorder();
    const t = await startController([rec]);
    const fs = await connectSwitch(t, 0x12n);
    const sw = t.ctrl.switch(0x12n)!;
    fs.conns[0].conn.send({ flowRemoved: { reason: 0, priority: 7, cookie: 5n, match: { fields: [{ field: 1, value: Uint8Array.from([0, 2]) }] } } });
    await until(() => rec.events.length === 2);
    expect(rec.events[1]).toBe('removed idle_timeout priority=7,in_port=2');
    const xid = sw.addFlow('priority=1,actions=output:1');
    sw.flowMod('add', 'priority=1,check_overlap,actions=output:1');
    await sw.barrier();
    await until(() => rec.errors.length === 1);
    expect(rec.errors[0].code).toBe('OFPFMFC_OVERLAP');
    expect(xid).toBeGreaterThan(0);
    expect(t.ctrl.metrics.switchErrors.get({ error: 'OFPFMFC_OVERLAP' })).toBe(1);
  });

  it('runs packet-in hooks in order; "stop" ends the chain; a throwing app is counted and skipped', async () => {
    const seen: string[] = [];
    const thrower: App = { name: 'thrower', onPacketIn: () => { seen.push('thrower'); throw new Error('boom'); }, onSwitchUp: () => { throw new Error('up boom'); } };
    const stopper: App = { name: 'stopper', onPacketIn: async (_sw, pi) => { seen.push('stopper'); await sleep(1); return pi.inPort === 9 ? 'stop' : undefined; } };
    const last: App = { name: 'last', onPacketIn: () => void seen.push('last') };
    const t = await startController([thrower, stopper, last]);
    const fs = await connectSwitch(t, 0x13n);
    fs.packetIn(1, frame(B, A));
    await until(() => seen.length === 3);
    fs.packetIn(9, frame(B, A));
    await until(() => seen.length === 5);
    await sleep(20);
    expect(seen).toEqual(['thrower', 'stopper', 'last', 'thrower', 'stopper']);
    expect(t.ctrl.metrics.appErrors.get({ app: 'thrower' })).toBe(3);
    expect(t.ctrl.switch(0x13n)!.isUp).toBe(true);
    expect(t.ctrl.metrics.packetInSeconds.observations).toBe(2);
  });

  it('refuses two apps with one name', () => {
    expect(() => new Controller({ targets: [], apps: [{ app: { name: 'x' } }, { app: { name: 'x' } }], log: quietLog() })).toThrow(/two apps are named "x"/);
  });

  it('a switch that reconnects replaces its old connection', async () => {
    const rec = recorder();
    const t = await startController([rec]);
    const first = await connectSwitch(t, 0x14n);
    const old = t.ctrl.switch(0x14n)!;
    const second = new FakeSwitch(0x14n);
    await second.connect(t.target);
    await until(() => t.ctrl.switch(0x14n) !== old && t.ctrl.switch(0x14n) !== undefined);
    await until(() => first.conns.length === 0, 3000, 'old connection closed');
    expect(rec.events).toEqual(['up 0000000000000014', 'down 0000000000000014 replaced', 'up 0000000000000014']);
    expect(t.ctrl.switches()).toHaveLength(1);
    second.close();
  });

  it('after a controller restart the switch reconnects, the apps set it up again and learned flows keep forwarding', async () => {
    const path = join(dir, 'restart.sock');
    const mk = async (): Promise<Controller> => {
      const c = new Controller({ targets: [{ kind: 'unix', path }], apps: [{ app: new L2Learning(parseL2Options(undefined)) }], log: quietLog(), probeIntervalMs: 0 });
      await c.start();
      return c;
    };
    let c = await mk();
    const fs = new FakeSwitch(0x15n);
    await fs.connect(`unix:${path}`);
    await until(() => fs.flows().length === 1 && fs.flows()[0].actions[0].type === 'controller');
    fs.inject(1, frame(BCAST, A));
    fs.inject(2, frame(A, B));
    fs.inject(1, frame(B, A));
    await until(() => fs.flows().length === 3);
    await c.stop();
    await until(() => fs.conns.length === 0);
    // The controller is gone: learned traffic is still switched by the flows.
    expect(fs.inject(1, frame(B, A)).via).toBe('flow');
    c = await mk();
    try {
      await fs.connect(`unix:${path}`);
      await until(() => c.switch(0x15n)?.isUp === true);
      await until(() => fs.flowMods.filter((m) => m.flowMod!.priority === 0).length === 2);
      expect(fs.flows()).toHaveLength(3);
      expect(fs.inject(2, frame(A, B)).via).toBe('flow');
      // New traffic is learned by the new controller.
      fs.inject(3, frame(A, '02:00:00:00:00:0c'));
      await until(() => fs.packetOuts.length >= 4);
    } finally {
      fs.close();
      await c.stop();
    }
  });
});

describe('liveness and broken switches', () => {
  /** A switch whose socket we hold: FlowConnection does the hello and handshake, we write raw bytes. */
  async function rawSwitch(target: string, dpid: bigint): Promise<{ sock: net.Socket; conn: FlowConnection; closed: Promise<void> }> {
    const path = target.slice('unix:'.length);
    const sock = net.createConnection({ path });
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const conn = new FlowConnection(sock, { agent: 'raw' });
    const fs = new FakeSwitch(dpid, 1);
    conn.onMessage((m: FlowMessage) => (fs as unknown as { handle(c: unknown, m: FlowMessage): void }).handle({ conn, role: 1 }, m));
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    return { sock, conn, closed };
  }

  it('survives garbage and an oversize frame from one switch; the others keep working', async () => {
    const t = await startController([new L2Learning(parseL2Options(undefined))]);
    const good = await connectSwitch(t, 0x20n);
    const bad = await rawSwitch(t.target, 0x21n);
    await until(() => t.ctrl.switch(0x21n)?.isUp === true);
    const replies: FlowMessage[] = [];
    bad.conn.onMessage((m) => void replies.push(m));
    // An undecodable frame: answered BAD_REQUEST/BAD_LEN, the connection goes on.
    bad.sock.write(encodeFrame(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f])));
    // A message with a body the controller does not take: BAD_REQUEST/BAD_TYPE.
    bad.sock.write(encodeFrame(encodeMessage(1, 77, { flowMod: { priority: 1 } })));
    await until(() => replies.filter((m) => m.body === 'error').length === 2);
    const errs = replies.filter((m) => m.body === 'error').map((m) => [m.xid, m.error!.type, m.error!.code]);
    expect(errs).toEqual([[0, 1, 6], [77, 1, 1]]);
    expect(t.ctrl.switch(0x21n)?.isUp).toBe(true);
    // A packet-in whose match is broken is dropped with a warning, not fatal.
    bad.conn.send({ packetIn: { match: { fields: [{ field: 200, value: Uint8Array.from([1]) }] }, data: frame(B, A) } });
    // An oversize length prefix: the stream is broken, the controller closes that connection.
    bad.sock.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
    await bad.closed;
    await until(() => t.ctrl.switch(0x21n) === undefined);
    // The good switch is untouched and still served.
    expect(t.ctrl.switch(0x20n)?.isUp).toBe(true);
    await until(() => good.flows()[0]?.actions[0]?.type === 'controller');
    good.inject(1, frame(BCAST, A));
    await until(() => good.packetOuts.length === 1);
    expect(t.ctrl.switches().map((s) => s.id)).toEqual(['0000000000000020']);
  });

  it('closes a connection that never says hello, or stalls in the handshake', async () => {
    const t = await startController([], { handshakeTimeoutMs: 200 });
    const path = t.target.slice('unix:'.length);
    // No hello: a features reply first is HELLO_FAILED/EPERM and a close.
    const s1 = net.createConnection({ path });
    const closed1 = new Promise<void>((r) => s1.once('close', () => r()));
    s1.on('data', () => undefined);
    s1.write(encodeFrame(encodeMessage(1, 1, { featuresReply: { datapathId: 1n } })));
    await closed1;
    // A hello and then silence: closed when the handshake time runs out.
    const s2 = net.createConnection({ path });
    const closed2 = new Promise<void>((r) => s2.once('close', () => r()));
    s2.on('data', () => undefined);
    s2.write(encodeFrame(encodeMessage(1, 0, { hello: { versions: [1] } })));
    await closed2;
    await until(() => t.ctrl.metrics.disconnects.get({ reason: 'handshake_failed' }) === 1);
    expect(t.ctrl.connectionCount).toBe(0);
  });

  it('disconnects a switch that stops answering echo requests', async () => {
    const rec = recorder();
    const t = await startController([rec], { probeIntervalMs: 100 });
    const raw = await rawSwitch(t.target, 0x22n);
    await until(() => t.ctrl.switch(0x22n)?.isUp === true);
    await sleep(250); // a few probes answered
    expect(t.ctrl.switch(0x22n)?.isUp).toBe(true);
    raw.sock.pause(); // reads stop: echo requests go unanswered
    await until(() => rec.events.length === 2, 3000, 'echo timeout');
    raw.sock.resume();
    await raw.closed;
    expect(rec.events).toEqual(['up 0000000000000022', 'down 0000000000000022 echo_timeout']);
    expect(t.ctrl.metrics.echoTimeouts.get()).toBe(1);
  });
});

describe('roles with several controllers', () => {
  it('the newest master wins; the slave is refused; a stale generation is refused', async () => {
    const rec1 = recorder('r1');
    const c1 = await startController([rec1], { role: 'master', generationId: 10n });
    const c2 = await startController([], { role: 'master', generationId: 20n });
    const c3 = await startController([], { role: 'master', generationId: 5n });
    const fs = new FakeSwitch(0x30n);
    const k1 = await fs.connect(c1.target);
    await until(() => c1.ctrl.switch(0x30n)?.isUp === true);
    expect(c1.ctrl.switch(0x30n)!.role).toBe('master');
    await fs.connect(c2.target);
    await until(() => c2.ctrl.switch(0x30n)?.isUp === true);
    expect(c2.ctrl.switch(0x30n)!.role).toBe('master');
    // c1 was demoted by the switch: its flow mods are refused.
    const s1: SwitchSession = c1.ctrl.switch(0x30n)!;
    const failures = await s1.flowMods([{ flow: 'priority=3,actions=drop' }]);
    expect(failures.map((f) => f.error.code)).toEqual(['OFPBRC_IS_SLAVE']);
    s1.addFlow('priority=4,actions=drop');
    await until(() => rec1.errors.length === 1);
    expect(rec1.errors[0].code).toBe('OFPBRC_IS_SLAVE');
    expect(await c2.ctrl.switch(0x30n)!.flowMods([{ flow: 'priority=3,actions=drop' }])).toEqual([]);
    // A master request with an older generation id is refused; the session stays up as equal.
    await fs.connect(c3.target);
    await until(() => c3.ctrl.switch(0x30n)?.isUp === true);
    expect(c3.ctrl.switch(0x30n)!.role).toBe('equal');
    // c1 takes mastership back with a newer generation through the API.
    expect(await s1.setRole('master', 30n)).toEqual({ role: 'master', generationId: 30n });
    expect(await s1.flowMods([{ flow: 'priority=5,actions=drop' }])).toEqual([]);
    // Only non-slaves get packet-ins (the switch's side), c1 as master gets them.
    fs.packetIn(1, frame(B, A));
    await until(() => rec1.pis.length === 1);
    expect(fs.conns.find((c) => c.conn === k1)!.role).toBe(2);
  });
});

describe('a switch connecting with FlowConnection.connect', () => {
  it('answers a request that arrives in the same read as the hello when its handler comes with the options', async () => {
    // A peer that sends its hello and a features request in one write (as a controller in
    // another process often does): the request is dispatched before connect() resolves, so a
    // handler set afterwards with onMessage() is too late; the onMessage option is not.
    const path = join(dir, 'early.sock');
    const got: string[] = [];
    const srv = new FlowServer((conn) => {
      conn.request({ featuresRequest: {} }).then((r) => got.push(`${r.body} ${r.featuresReply?.datapathId}`), (e: Error) => got.push(e.message));
    });
    await srv.listenUnix(path);
    try {
      const c = await FlowConnection.connect(path, { onMessage: (m, k) => k.reply(m, { featuresReply: { datapathId: 9n } }) });
      await until(() => got.length === 1);
      expect(got).toEqual(['featuresReply 9']);
      c.close();
    } finally {
      await srv.close();
    }
  });
});
