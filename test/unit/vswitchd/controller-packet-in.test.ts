/*
 * Packet-ins to controllers: how much of the frame goes (the action's max_len; for table
 * misses and invalid TTLs the connection's miss_send_len too), buffering of what was cut so a
 * packet out names it by buffer id, max_len 65535 sending the whole frame unbuffered, the
 * max_len carried in the userspace action's userdata, and rate-limit drops shown in appctl
 * coverage/show, the scraped metrics and the Controller row's status. Real vsdb, datapath
 * (dummy ports) and vswitchd in-process; fake controllers.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVswitchdCoverage, renderVswitchd } from '../../../src/controller/vswitch-scrape.js';
import { connectUnix } from '../../../src/lib/jsonrpc.js';
import { mapOf } from '../../../src/ovsdb/datum.js';
import { parseActions } from '../../../src/vswitchd/ofp/action-syntax.js';
import { newOfFlow } from '../../../src/vswitchd/ofp/layout.js';
import { actionsToWire } from '../../../src/vswitchd/ofp/wire.js';
import { decodePacketIn, encodePacketIn, packetInMaxLen, type PacketInWithMaxLen } from '../../../src/vswitchd/packet-in.js';
import { NO_BUFFER } from '../../../src/vswitchd/packet-in-limit.js';
import { ctlRow, FakeCtl, setControllers, wireMod } from './controller-fixture.js';
import { frame, SwitchFixture, until } from './switch-fixture.js';

const OFPR_NO_MATCH = 0;
const OFPR_ACTION = 1;

function event(reason: number, packet: Uint8Array, maxLen?: number): PacketInWithMaxLen {
  const ev: PacketInWithMaxLen = { reason, table: 0, cookie: 0n, controllerId: 0, userdata: null, inPort: 1, flow: newOfFlow(), packet, totalLen: packet.length };
  if (maxLen !== undefined) ev.maxLen = maxLen;
  return ev;
}

describe('packet-in userdata', () => {
  it('carries the action max_len next to the in_port (65535 when the translation leaves it out)', () => {
    const out: number[] = [];
    const flow = newOfFlow();
    encodePacketIn({ reason: OFPR_ACTION, table: 3, cookie: 5n, controllerId: 0, ofInPort: 0xfffe, userdata: null, maxLen: 64 }, flow, out);
    const ev = decodePacketIn(Int32Array.from(out), new Uint8Array(100), 100)!;
    expect([ev.inPort, ev.maxLen, ev.table, packetInMaxLen(ev)]).toEqual([0xfffe, 64, 3, 64]);
    encodePacketIn({ reason: OFPR_ACTION, table: 0, cookie: 0n, controllerId: 0, ofInPort: 7, userdata: null }, flow, out);
    const all = decodePacketIn(Int32Array.from(out), new Uint8Array(100), 100)!;
    expect([all.inPort, all.maxLen]).toEqual([7, 0xffff]);
    const noMax: PacketInWithMaxLen = { ...all, maxLen: undefined };
    expect(packetInMaxLen(noMax)).toBe(0xffff);
  });
});

describe('packet-ins to controller connections', () => {
  const sw = new SwitchFixture();
  const fakes: FakeCtl[] = [];
  const fake = async (): Promise<FakeCtl> => {
    const f = await new FakeCtl().listen();
    fakes.push(f);
    return f;
  };

  beforeAll(async () => {
    await sw.start('controller-pin-');
  });
  afterAll(async () => {
    await sw.stop();
    for (const f of fakes) await f.server.close();
  });

  it('cuts to max_len and buffers the whole frame; 65535 sends it whole; misses also honour miss_send_len', async () => {
    const a = await fake();
    const b = await fake();
    await setControllers(sw, [{ target: `tcp:127.0.0.1:${a.port}` }, { target: `tcp:127.0.0.1:${b.port}` }], 'secure');
    await until('connections', () => a.live().length === 1 && b.live().length === 1);
    const ca = a.live()[0];
    const cb = b.live()[0];
    const packet = frame('02:00:00:00:00:42', '02:00:00:00:00:41', 0x88b5, 100);

    // controller:64 on a 100-byte frame: 64 bytes and a buffer id, the same for both controllers.
    sw.bridge().events.emit('packet_in', event(OFPR_ACTION, packet, 64));
    await until('cut packet-ins', () => a.packetIns(ca).length === 1 && b.packetIns(cb).length === 1);
    const [pa, pb] = [a.packetIns(ca)[0], b.packetIns(cb)[0]];
    expect([pa.data?.length, pa.totalLen]).toEqual([64, 100]);
    expect(pa.bufferId).not.toBe(NO_BUFFER);
    expect(pb.bufferId).toBe(pa.bufferId);
    const p2 = sw.dev('p2');
    p2.takeSent();
    const out = { packetOut: { bufferId: pa.bufferId, inPort: 1, actions: actionsToWire(parseActions('output:2', 0, 8)) } };
    expect(await ca.transact([out])).toEqual([]);
    await until('buffered frame sent whole', () => p2.sent.length === 1);
    expect(p2.takeSent()[0].length).toBe(100);
    expect((await cb.transact([out]))[0]?.error.code).toBe('OFPBRC_BUFFER_UNKNOWN');

    // controller:65535: the whole frame, no buffer (miss_send_len does not apply to ACTION).
    sw.bridge().events.emit('packet_in', event(OFPR_ACTION, packet, 65535));
    await until('whole packet-in', () => a.packetIns(ca).length === 2);
    expect([a.packetIns(ca)[1].data?.length, a.packetIns(ca)[1].bufferId]).toEqual([100, NO_BUFFER]);
    await ca.transact([{ setConfig: { missSendLen: 20 } }]);
    sw.bridge().events.emit('packet_in', event(OFPR_ACTION, packet, 65535));
    await until('ACTION ignores miss_send_len', () => a.packetIns(ca).length === 3);
    expect(a.packetIns(ca)[2].data?.length).toBe(100);

    // A table miss (reason no_match): the smaller of max_len and miss_send_len, buffered.
    sw.bridge().events.emit('packet_in', event(OFPR_NO_MATCH, packet, 65535));
    await until('miss packet-ins', () => a.packetIns(ca).length === 4 && b.packetIns(cb).length === 4);
    const miss = a.packetIns(ca)[3];
    expect([miss.data?.length, miss.totalLen]).toEqual([20, 100]);
    expect(miss.bufferId).not.toBe(NO_BUFFER);
    expect(b.packetIns(cb)[3].data?.length).toBe(100); // b's miss_send_len is 128 (default)
    expect(b.packetIns(cb)[3].bufferId).toBe(NO_BUFFER);

    // A frame the datapath already cut cannot be buffered: what there is goes, with no buffer id.
    sw.bridge().events.emit('packet_in', { ...event(OFPR_ACTION, packet.slice(0, 64)), totalLen: 100 });
    await until('pre-cut packet-in', () => a.packetIns(ca).length === 5);
    expect([a.packetIns(ca)[4].data?.length, a.packetIns(ca)[4].totalLen, a.packetIns(ca)[4].bufferId]).toEqual([64, 100, NO_BUFFER]);
  });

  it('a controller:64 flow sends 64 bytes and a buffer id through the real pipeline; packet-out by id sends it whole', async () => {
    const f = await fake();
    await setControllers(sw, [{ target: `tcp:127.0.0.1:${f.port}` }], 'secure');
    await until('connection', () => f.live().length === 1);
    const c = f.live()[0];
    expect(await c.transact([wireMod('priority=0,actions=CONTROLLER:64')])).toEqual([]);
    sw.dev('p1').inject(frame('02:00:00:00:00:52', '02:00:00:00:00:51', 0x88b5, 100));
    await until('packet-in', () => f.packetIns(c).length === 1);
    const pin = f.packetIns(c)[0];
    expect([pin.data?.length, pin.totalLen]).toEqual([64, 100]);
    expect(pin.bufferId).not.toBe(NO_BUFFER);
    const p2 = sw.dev('p2');
    p2.takeSent();
    const out = { packetOut: { bufferId: pin.bufferId, inPort: 1, actions: actionsToWire(parseActions('output:2', 0, 8)) } };
    expect(await c.transact([out])).toEqual([]);
    await until('buffered frame sent whole', () => p2.sent.length === 1);
    expect(p2.takeSent()[0].length).toBe(100);
  });

  it('shows rate-limit drops in coverage/show, the scraped metrics and the Controller status', async () => {
    const f = await fake();
    const target = `tcp:127.0.0.1:${f.port}`;
    sw.vs.controllers.statsMs = 0;
    await setControllers(sw, [{ target, controller_rate_limit: 100, controller_burst_limit: 25 }], 'secure');
    await until('connection', () => f.live().length === 1);
    const c = f.live()[0];
    const before = sw.vs.state.counters.packet_in_rate_limited;
    const packet = frame('02:00:00:00:00:62', '02:00:00:00:00:61');
    for (let i = 0; i < 100; i++) sw.bridge().events.emit('packet_in', event(OFPR_ACTION, packet));
    await c.barrier();
    const sent = f.packetIns(c).length;
    expect(sent).toBeGreaterThanOrEqual(24);
    expect(sent).toBeLessThanOrEqual(30);
    expect(sw.vs.state.counters.packet_in_rate_limited - before).toBe(100 - sent);

    const ctl = await connectUnix(join(sw.dir, 'vswitchd.ctl'));
    const text = String(await ctl.request('coverage/show', []));
    ctl.close();
    const line = text.split('\n').find((l) => l.startsWith('packet_in_rate_limited'));
    expect(Number(line?.trim().split(/\s+/)[1])).toBe(sw.vs.state.counters.packet_in_rate_limited);
    expect(renderVswitchd(parseVswitchdCoverage(text))).toContain(`vswitch_vswitchd_counter{counter="packet_in_rate_limited",bridge=""} ${sw.vs.state.counters.packet_in_rate_limited}`);

    await until('status counters', async () => {
      const st = mapOf((await ctlRow(sw, target)).status);
      return st.get('packet_in_rate_limited') === String(100 - sent) && st.get('packet_in_sent') === String(sent);
    });
    sw.vs.controllers.statsMs = 5000;
  });
});
