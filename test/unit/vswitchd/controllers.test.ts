/*
 * vswitchd's controller connections with the real vsdb, datapath (dummy ports) and vswitchd
 * in-process and fake controllers (FlowServer, or a raw socket for misbehaving peers):
 * connecting and reconnecting with backoff, the Controller rows' is_connected/role/status,
 * inactivity probes, fail modes (flush, fail-open, secure), packet-ins on a table miss with
 * buffering and rate limiting, roles across two controllers, ptcp: listening, and garbage
 * from a peer.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, SUPPORTED_VERSIONS } from '../../../src/lib/flowproto/codec.js';
import { FlowConnection } from '../../../src/lib/flowproto/connection.js';
import { FlowRemoteError } from '../../../src/lib/flowproto/errors.js';
import { encodeFrame } from '../../../src/lib/flowproto/framing.js';
import { mapOf, namedUuid, set } from '../../../src/ovsdb/datum.js';
import { parseActions } from '../../../src/vswitchd/ofp/action-syntax.js';
import { newOfFlow } from '../../../src/vswitchd/ofp/layout.js';
import { actionsToWire } from '../../../src/vswitchd/ofp/wire.js';
import { FakeCtl, sleep, wireMod } from './controller-fixture.js';
import { frame, SwitchFixture, until } from './switch-fixture.js';

async function remoteError(p: Promise<unknown>): Promise<FlowRemoteError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof FlowRemoteError) return e;
    throw e;
  }
  throw new Error('expected an error reply');
}

describe('vswitchd controller connections', () => {
  const sw = new SwitchFixture();
  const fakes: FakeCtl[] = [];
  const fake = async (port = 0): Promise<FakeCtl> => {
    const f = await new FakeCtl().listen(port);
    fakes.push(f);
    return f;
  };

  const bridgeRow = async (): Promise<any> =>
    (await sw.db.transact('Open_vSwitch', [{ op: 'select', table: 'Bridge', where: [['name', '==', 'br0']] }]))[0].rows[0];
  /** Replaces br0's controllers (and sets fail_mode when given). */
  const setControllers = async (rows: Record<string, unknown>[], failMode?: string): Promise<void> => {
    const br = await bridgeRow();
    const ops: object[] = rows.map((r, i) => ({ op: 'insert', table: 'Controller', row: r, 'uuid-name': `c${i}` }));
    const row: Record<string, unknown> = { controller: set(rows.map((_, i) => namedUuid(`c${i}`))) };
    if (failMode !== undefined) row.fail_mode = failMode === '' ? set([]) : failMode;
    ops.push({ op: 'update', table: 'Bridge', where: [['_uuid', '==', br._uuid]], row });
    await sw.configure(ops);
  };
  const ctlRow = async (target: string): Promise<any> =>
    (await sw.db.transact('Open_vSwitch', [{ op: 'select', table: 'Controller', where: [['target', '==', target]] }]))[0].rows[0];

  beforeAll(async () => {
    await sw.start('controllers-');
  });
  afterAll(async () => {
    await sw.stop();
    for (const f of fakes) await f.server.close();
  });

  it('connects, writes is_connected/role/status, flushes the NORMAL flow, and reconnects with backoff', async () => {
    expect(sw.bridge().tables.count).toBe(1); // priority=0,actions=NORMAL, no controller yet
    const f1 = await fake();
    const target = `tcp:127.0.0.1:${f1.port}`;
    await setControllers([{ target, max_backoff: 1000, inactivity_probe: 300 }]);
    await until('connection', () => f1.live().length === 1);
    expect(sw.bridge().tables.count).toBe(0); // first controller: flows flushed, no NORMAL
    await until('row connected', async () => {
      const r = await ctlRow(target);
      return r.is_connected === true && r.role === 'other' && mapOf(r.status).get('state') === 'ACTIVE';
    });
    // The switch answers requests at once and probes with echoes the fake answers.
    const feats = await f1.live()[0].request({ featuresRequest: {} });
    expect(feats.featuresReply?.nBuffers).toBe(256);
    await sleep(800);
    expect(f1.live()).toHaveLength(1);

    await f1.server.close();
    await until('row disconnected', async () => {
      const r = await ctlRow(target);
      return r.is_connected === false && mapOf(r.status).get('state') === 'BACKOFF';
    });
    await sleep(1500); // a few failed attempts: the backoff has reached max_backoff (1 s)
    const f2 = await fake(f1.port);
    await until('reconnected', () => f2.live().length === 1, 4000);
    await until('row connected again', async () => (await ctlRow(target)).is_connected === true);
  });

  it('disconnects a controller that does not answer the inactivity probe', async () => {
    const silent: net.Socket[] = [];
    const srv = net.createServer((s) => {
      silent.push(s);
      s.write(encodeFrame(encodeMessage(SUPPORTED_VERSIONS[0], 0, { hello: { versions: [...SUPPORTED_VERSIONS], agent: 'silent' } })));
      s.on('data', () => undefined); // reads but never answers
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as net.AddressInfo).port;
    const target = `tcp:127.0.0.1:${port}`;
    await setControllers([{ target, max_backoff: 1000, inactivity_probe: 200 }]);
    await until('connected', () => silent.length === 1);
    const closed = new Promise<void>((r) => silent[0].once('close', () => r()));
    await Promise.race([closed, sleep(3000).then(() => { throw new Error('not disconnected'); })]);
    await until('last_error', async () => String(mapOf((await ctlRow(target)).status).get('last_error') ?? '').includes('echo'));
    for (const s of silent) s.destroy();
    srv.close();
  });

  it('fail mode standalone fails open to NORMAL without a controller; secure keeps flows and drops misses', async () => {
    await setControllers([{ target: 'tcp:127.0.0.1:9', max_backoff: 1000, inactivity_probe: 200 }], 'standalone');
    const br = sw.bridge();
    await until('fail open', () => br.failOpen, 3000);
    const p2 = sw.dev('p2');
    p2.takeSent();
    sw.dev('p1').inject(frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:0a'));
    await until('flooded by NORMAL', () => p2.sent.length === 1);

    await setControllers([{ target: 'tcp:127.0.0.1:9', max_backoff: 1000, inactivity_probe: 200 }], 'secure');
    expect(br.failOpen).toBe(false);
    await sleep(300); // the revalidator drops the fail-open datapath flow
    p2.takeSent();
    sw.dev('p1').inject(frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:0b'));
    await sleep(300);
    expect(p2.sent.length).toBe(0);

    // No controller: secure gets no NORMAL flow after the flush, standalone gets it back.
    await setControllers([], 'secure');
    expect(br.tables.count).toBe(0);
    await setControllers([], '');
    expect(br.tables.count).toBe(1);
    p2.takeSent();
    sw.dev('p1').inject(frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:0c'));
    await until('NORMAL again', () => p2.sent.length === 1);
  });

  it('sends table misses as packet-ins; buffers cut packets for packet-out by buffer id; rate-limits', async () => {
    const f = await fake();
    await setControllers([{ target: `tcp:127.0.0.1:${f.port}`, max_backoff: 1000, inactivity_probe: 1000, controller_rate_limit: 100, controller_burst_limit: 25 }], 'secure');
    await until('connection', () => f.live().length === 1);
    const c = f.live()[0];
    expect(await c.transact([wireMod('priority=0,actions=CONTROLLER:65535')])).toEqual([]);
    sw.dev('p1').inject(frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:21'));
    await until('table-miss packet-in', () => f.packetIns(c).length === 1);
    const pin = f.packetIns(c)[0];
    expect([pin.data?.length, pin.totalLen, pin.bufferId]).toEqual([60, 60, 0xffffffff]);

    // A miss cut to miss_send_len keeps the whole frame in a buffer.
    await c.transact([{ setConfig: { missSendLen: 20 } }]);
    const packet = frame('02:00:00:00:00:22', '02:00:00:00:00:21');
    sw.bridge().events.emit('packet_in', { reason: 0, table: 0, cookie: 0n, controllerId: 0, userdata: null, inPort: 1, flow: newOfFlow(), packet, totalLen: packet.length });
    await until('cut packet-in', () => f.packetIns(c).length === 2);
    const cut = f.packetIns(c)[1];
    expect([cut.data?.length, cut.totalLen]).toEqual([20, 60]);
    expect(cut.bufferId).not.toBe(0xffffffff);
    const p2 = sw.dev('p2');
    p2.takeSent();
    const out = { packetOut: { bufferId: cut.bufferId, inPort: 1, actions: actionsToWire(parseActions('output:2', 0, 8)) } };
    expect(await c.transact([out])).toEqual([]);
    await until('buffered packet sent', () => p2.sent.length === 1);
    expect(p2.takeSent()[0].length).toBe(60);
    const again = await c.transact([out]);
    expect(again[0]?.error.code).toBe('OFPBRC_BUFFER_UNKNOWN'); // each buffer works once

    // 100 packet-ins at once: the burst (25) goes through, the rest is counted as rate-limited.
    const before = f.packetIns(c).length;
    for (let i = 0; i < 100; i++) {
      sw.bridge().events.emit('packet_in', { reason: 1, table: 0, cookie: 0n, controllerId: 0, userdata: null, inPort: 1, flow: newOfFlow(), packet, totalLen: packet.length });
    }
    await c.barrier();
    await sleep(100);
    const n = f.packetIns(c).length - before;
    expect(n).toBeGreaterThanOrEqual(20);
    expect(n).toBeLessThanOrEqual(30);
    expect(sw.vs.ofmgmt.bridge('br0')!.packetInsRateLimited).toBeGreaterThanOrEqual(70);
  });

  it('two controllers with roles: one master, the old master becomes slave, slaves get no packet-ins and cannot write', async () => {
    const a = await fake();
    const b = await fake();
    const ta = `tcp:127.0.0.1:${a.port}`;
    const tb = `tcp:127.0.0.1:${b.port}`;
    await setControllers([{ target: ta, max_backoff: 1000 }, { target: tb, max_backoff: 1000 }], 'secure');
    await until('both connected', () => a.live().length === 1 && b.live().length === 1);
    const ca = a.live()[0];
    const cb = b.live()[0];
    expect((await ca.request({ roleRequest: { role: 2, generationId: 1n } })).roleReply?.role).toBe(2);
    expect((await cb.request({ roleRequest: { role: 2, generationId: 2n } })).roleReply?.role).toBe(2);
    const stale = await remoteError(ca.request({ roleRequest: { role: 2, generationId: 1n } }));
    expect(stale.code).toBe('OFPRRFC_STALE');
    const refused = await ca.transact([wireMod('priority=5,actions=drop')]);
    expect(refused[0]?.error.code).toBe('OFPBRC_IS_SLAVE');
    expect(await cb.transact([wireMod('priority=5,actions=drop')])).toEqual([]);
    await until('roles in the rows', async () => (await ctlRow(ta)).role === 'slave' && (await ctlRow(tb)).role === 'master');
    const packet = frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:31');
    sw.bridge().events.emit('packet_in', { reason: 1, table: 0, cookie: 0n, controllerId: 0, userdata: null, inPort: 1, flow: newOfFlow(), packet, totalLen: 60 });
    await cb.barrier();
    await ca.barrier();
    expect(b.packetIns(cb)).toHaveLength(1);
    expect(a.packetIns(ca)).toHaveLength(0);
  });

  it('listens on ptcp: targets and serves controllers that connect', async () => {
    const target = 'ptcp:0:127.0.0.1';
    await setControllers([{ target }], '');
    let port = 0;
    await until('bound_port', async () => (port = Number(mapOf((await ctlRow(target)).status).get('bound_port') ?? 0)) > 0);
    const c = await FlowConnection.connect(`tcp:127.0.0.1:${port}`, { agent: 'test' });
    expect((await c.request({ featuresRequest: {} })).featuresReply?.nBuffers).toBe(256);
    await until('row connected', async () => (await ctlRow(target)).is_connected === true);
    c.close();
    await until('row disconnected', async () => (await ctlRow(target)).is_connected === false);
  });

  it('garbage gets an error, an oversize message a disconnect; other connections and vswitchd carry on', async () => {
    const good = await fake();
    const bad: net.Socket[] = [];
    const got: Buffer[] = [];
    const srv = net.createServer((s) => {
      bad.push(s);
      s.write(encodeFrame(encodeMessage(SUPPORTED_VERSIONS[0], 0, { hello: { versions: [...SUPPORTED_VERSIONS], agent: 'bad' } })));
      s.on('data', (d: Buffer) => got.push(d));
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const tbad = `tcp:127.0.0.1:${(srv.address() as net.AddressInfo).port}`;
    await setControllers([{ target: `tcp:127.0.0.1:${good.port}`, max_backoff: 1000 }, { target: tbad, max_backoff: 1000, inactivity_probe: 0 }]);
    await until('both connected', () => good.live().length === 1 && bad.length === 1);
    const first = bad[0];
    first.write(encodeFrame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])));
    await until('error reply', () => {
      const all = Buffer.concat(got);
      // Skip the switch's hello frame(s); look for an error message among the frames.
      for (let off = 0; off < all.length;) {
        let len = 0;
        let shift = 0;
        let b: number;
        do {
          b = all[off++];
          len |= (b & 0x7f) << shift;
          shift += 7;
        } while (b & 0x80 && off < all.length);
        if (off + len > all.length) return false;
        if (decodeMessage(all.subarray(off, off + len)).body === 'error') return true;
        off += len;
      }
      return false;
    });
    const closed = new Promise<void>((r) => first.once('close', () => r()));
    first.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])); // a length prefix of 4 GiB
    await closed;
    expect(good.live()).toHaveLength(1);
    expect(await good.live()[0].echo()).toBeGreaterThanOrEqual(0);
    await until('bad controller reconnected', () => bad.length === 2, 4000);
    for (const s of bad) s.destroy();
    srv.close();
    await setControllers([], '');
  });
});
