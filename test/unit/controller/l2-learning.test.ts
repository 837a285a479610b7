// The l2-learning app: its MAC table and decisions on their own, then end to end against a fake
// switch whose table 0 really forwards: the table-miss flow, flooding unknown destinations,
// flows with idle timeouts for learned ones (so steady traffic never reaches the controller),
// buffered versus unbuffered packet-ins, truncated packets, MAC moves and port removal.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { L2Learning, l2Decide, MacTable, parseL2Options } from '../../../src/controller/apps/l2-learning.js';
import { ControllerError } from '../../../src/controller/errors.js';
import { F_ETH_DST, F_ETH_SRC, F_IN_PORT } from '../../../src/vswitchd/ofp/fields.js';
import { OFPP_FLOOD, OFPP_LOCAL, OFPP_NONE } from '../../../src/vswitchd/ofp/layout.js';
import { portToWire } from '../../../src/vswitchd/ofp/wire-match.js';
import { FakeSwitch, frame, sleep, until, wirePort } from './fake-switch.js';
import { cleanup, connectSwitch, removeDir, startController } from './helpers.js';

afterEach(cleanup);
afterAll(removeDir);

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const C = '02:00:00:00:00:0c';
const BCAST = 'ff:ff:ff:ff:ff:ff';
const macNum = (s: string): number => parseInt(s.replace(/:/g, ''), 16);

/** Waits until the app's table-miss flow replaced the bridge's NORMAL one. */
function missFlow(sw: FakeSwitch): Promise<void> {
  return until(() => sw.flows().length === 1 && sw.flows()[0].actions[0]?.type === 'controller', 3000, 'table-miss flow');
}

describe('MacTable and l2Decide', () => {
  it('learns sources, floods unknown and multicast destinations, forwards known ones', () => {
    const t = new MacTable(10);
    let r = l2Decide(t, 1, macNum(A), macNum(B));
    expect(r).toEqual({ decision: { kind: 'flood' }, moved: false, learned: true });
    r = l2Decide(t, 2, macNum(B), macNum(A));
    expect(r.decision).toEqual({ kind: 'forward', port: 1 });
    expect(l2Decide(t, 2, macNum(B), macNum(BCAST)).decision).toEqual({ kind: 'flood' });
    expect(l2Decide(t, 1, macNum(A), macNum(A)).decision).toEqual({ kind: 'drop', why: 'same_port' });
    // A multicast source is never learned.
    l2Decide(t, 3, macNum('01:00:5e:00:00:01'), macNum(A));
    expect(t.lookup(macNum('01:00:5e:00:00:01'))).toBeUndefined();
  });

  it('learns on the bridge\'s own port (LOCAL) but not from an unknown port', () => {
    const t = new MacTable(10);
    l2Decide(t, OFPP_LOCAL, macNum(A), macNum(B));
    expect(t.lookup(macNum(A))).toBe(OFPP_LOCAL);
    expect(l2Decide(t, 1, macNum(B), macNum(A)).decision).toEqual({ kind: 'forward', port: OFPP_LOCAL });
    l2Decide(t, OFPP_NONE, macNum(C), macNum(A));
    expect(t.lookup(macNum(C))).toBeUndefined();
  });

  it('reports a move and forgets the oldest MAC beyond its size', () => {
    const t = new MacTable(2);
    l2Decide(t, 1, macNum(A), macNum(B));
    expect(l2Decide(t, 3, macNum(A), macNum(B)).moved).toBe(true);
    expect(t.lookup(macNum(A))).toBe(3);
    t.learn(macNum(B), 2);
    t.learn(macNum(C), 2); // evicts A, the oldest
    expect(t.lookup(macNum(A))).toBeUndefined();
    expect(t.size).toBe(2);
    expect(t.forgetPort(2)).toBe(2);
    expect(t.size).toBe(0);
  });

  it('parses its options and refuses unknown or bad ones', () => {
    expect(parseL2Options('idle_timeout=5,match_src=no,priority=7,cookie=0x99')).toMatchObject({ idleTimeout: 5, matchSrc: false, priority: 7, cookie: 0x99n });
    expect(parseL2Options(undefined).idleTimeout).toBe(60);
    expect(() => parseL2Options('idle=5')).toThrow(ControllerError);
    expect(() => parseL2Options('idle_timeout=70000')).toThrow(/out of range/);
    expect(() => parseL2Options('match_src=maybe')).toThrow(/yes or no/);
  });
});

describe('l2-learning with a switch', () => {
  it('installs the table-miss flow and sets miss_send_len on connect', async () => {
    const t = await startController([new L2Learning(parseL2Options(undefined))]);
    const sw = await connectSwitch(t, 0x1n);
    await until(() => sw.flows().some((e) => e.priority === 0 && e.actions[0]?.type === 'controller'));
    const miss = sw.flows().find((e) => e.priority === 0)!;
    expect(miss.cookie).toBe(0x4c32n);
    expect(miss.match.isCatchAll()).toBe(true);
    expect(miss.actions).toEqual([{ type: 'controller', maxLen: 65535, reason: 1, id: 0, userdata: null }]);
    expect(sw.missSendLen).toBe(65535);
    // It replaced the bridge's NORMAL flow (same match and priority): nothing else is in table 0.
    expect(sw.flows()).toHaveLength(1);
  });

  it('floods the first packet, installs a flow for the answer, and steady traffic stays in the switch', async () => {
    const l2 = new L2Learning(parseL2Options('idle_timeout=30'));
    const t = await startController([l2]);
    const sw = await connectSwitch(t, 0x2n);
    await missFlow(sw);

    // A -> broadcast from port 1: flooded.
    const arp = frame(BCAST, A, 60, 0x0806);
    expect(sw.inject(1, arp).via).toBe('controller');
    await until(() => sw.packetOuts.length === 1);
    const po1 = sw.packetOuts[0].packetOut!;
    expect(po1.inPort).toBe(1);
    expect(po1.actions).toEqual([{ kind: 'output', output: { port: portToWire(OFPP_FLOOD) } }]);
    expect(Buffer.from(po1.data!)).toEqual(Buffer.from(arp));

    // B -> A from port 2: A is known on port 1: a flow and a packet-out to port 1.
    const ba = frame(A, B);
    expect(sw.inject(2, ba).via).toBe('controller');
    await until(() => sw.packetOuts.length === 2);
    const po2 = sw.packetOuts[1].packetOut!;
    expect(po2.actions).toEqual([{ kind: 'output', output: { port: 1 } }]);
    expect(Buffer.from(po2.data!)).toEqual(Buffer.from(ba));
    await until(() => sw.flows().length === 2);
    const f = sw.flows().find((e) => e.priority === 100)!;
    expect(f.idleTimeout).toBe(30);
    expect(f.cookie).toBe(0x4c32n);
    expect(f.match.fieldValueNum(F_IN_PORT)).toBe(2);
    expect(f.match.fieldValueNum(F_ETH_DST)).toBe(macNum(A));
    expect(f.match.fieldValueNum(F_ETH_SRC)).toBe(macNum(B));
    expect(f.actions).toEqual([{ type: 'output', port: 1 }]);

    // A -> B from port 1: B is known on port 2 now.
    sw.inject(1, frame(B, A));
    await until(() => sw.flows().length === 3);

    // Warm: both directions are switched by flows, the controller sees nothing more.
    const pinsBefore = sw.packetInsSent;
    const outsBefore = sw.packetOuts.length;
    for (let i = 0; i < 200; i++) {
      expect(sw.inject(1, frame(B, A)).via).toBe('flow');
      expect(sw.inject(2, frame(A, B)).via).toBe('flow');
    }
    await sleep(50);
    expect(sw.packetInsSent).toBe(pinsBefore);
    expect(sw.packetOuts.length).toBe(outsBefore);
    expect(t.ctrl.metrics.packetIns.get({ dpid: '0000000000000002' })).toBe(3);
    expect(l2.describe()).toMatchObject({ switches: { '0000000000000002': [{ mac: A, port: 1 }, { mac: B, port: 2 }] } });
  });

  it('with match_src=no installs one flow per destination and in_port', async () => {
    const t = await startController([new L2Learning(parseL2Options('match_src=no'))]);
    const sw = await connectSwitch(t, 0x3n);
    await missFlow(sw);
    sw.inject(1, frame(BCAST, A));
    sw.inject(2, frame(A, B));
    await until(() => sw.flows().length === 2);
    const f = sw.flows().find((e) => e.priority === 100)!;
    expect(f.match.isWild(F_ETH_SRC)).toBe(true);
    expect(f.match.fieldValueNum(F_ETH_DST)).toBe(macNum(A));
  });

  it('names a buffered packet in the flow mod instead of sending it back', async () => {
    const t = await startController([new L2Learning(parseL2Options(undefined))]);
    const sw = await connectSwitch(t, 0x4n);
    await missFlow(sw);
    sw.inject(1, frame(BCAST, A));
    await until(() => sw.packetOuts.length === 1);
    sw.packetIn(2, frame(A, B), { bufferId: 77 });
    await until(() => sw.flowMods.some((m) => m.flowMod!.bufferId === 77));
    await sleep(30);
    expect(sw.packetOuts).toHaveLength(1);
    // A buffered flood is a packet-out naming the buffer, without data.
    sw.packetIn(2, frame(C, B), { bufferId: 78 });
    await until(() => sw.packetOuts.length === 2);
    expect(sw.packetOuts[1].packetOut!.bufferId).toBe(78);
    expect(sw.packetOuts[1].packetOut!.data ?? new Uint8Array(0)).toHaveLength(0);
  });

  it('does not send a truncated packet on, but still learns and installs the flow', async () => {
    const l2 = new L2Learning(parseL2Options(undefined));
    const t = await startController([l2]);
    const sw = await connectSwitch(t, 0x5n);
    await missFlow(sw);
    sw.packetIn(1, frame(BCAST, A, 1000).subarray(0, 128), { totalLen: 1000 });
    sw.packetIn(2, frame(A, B, 1000).subarray(0, 128), { totalLen: 1000 });
    await until(() => sw.flows().length === 2);
    await sleep(30);
    expect(sw.packetOuts).toHaveLength(0);
    expect(l2.table('0000000000000005')!.size).toBe(2);
    expect(t.ctrl.metrics.registry.render()).toMatch(/vscontroller_app_l2_truncated_total\{app="l2-learning"\} 2/);
  });

  it('deletes the flows toward a MAC that moved, and the flows out of a removed port', async () => {
    const t = await startController([new L2Learning(parseL2Options(undefined))]);
    const sw = await connectSwitch(t, 0x6n);
    await missFlow(sw);
    sw.inject(1, frame(BCAST, A));
    sw.inject(2, frame(A, B)); // flow in_port=2,dl_dst=A -> 1
    sw.inject(1, frame(B, A)); // flow in_port=1,dl_dst=B -> 2
    sw.inject(3, frame(A, C)); // flow in_port=3,dl_dst=A -> 1
    await until(() => sw.flows().length === 4);
    // A shows up on port 3: flows toward A (to port 1) go.
    sw.inject(3, frame(B, A));
    await until(() => sw.flows().filter((e) => e.match.fieldValueNum(F_ETH_DST) === macNum(A)).length === 0, 3000, 'flows to A deleted');
    // Port 2 goes away: flows out of port 2 go, and B is forgotten.
    await until(() => sw.flows().some((e) => e.match.fieldValueNum(F_IN_PORT) === 3 && e.match.fieldValueNum(F_ETH_DST) === macNum(B)));
    sw.portStatus(1, wirePort(2, 'p2'));
    await until(() => !sw.flows().some((e) => e.actions.some((a) => a.type === 'output' && a.port === 2)), 3000, 'flows out of port 2 deleted');
    await until(() => t.ctrl.switch(6n)!.ports.has(2) === false);
    sw.inject(1, frame(B, A));
    await until(() => sw.packetOuts.some((m) => m.packetOut!.actions![0].output?.port === portToWire(OFPP_FLOOD) && m.packetOut!.inPort === 1 && Buffer.from(m.packetOut!.data!.subarray(0, 6)).equals(Buffer.from([2, 0, 0, 0, 0, 0xb]))));
  });

  it('keeps MAC tables per switch', async () => {
    const l2 = new L2Learning(parseL2Options(undefined));
    const t = await startController([l2]);
    const s1 = await connectSwitch(t, 0x7n);
    const s2 = await connectSwitch(t, 0x8n);
    await missFlow(s1);
    await missFlow(s2);
    s1.inject(1, frame(BCAST, A));
    await until(() => l2.table('0000000000000007')?.size === 1);
    s2.inject(2, frame(A, B));
    await until(() => s2.packetOuts.length === 1);
    expect(s2.packetOuts[0].packetOut!.actions![0].output!.port).toBe(portToWire(OFPP_FLOOD)); // A unknown on switch 8
    expect(l2.table('0000000000000008')!.lookup(macNum(A))).toBeUndefined();
  });
});
