// A stream port in a whole datapath, driven over datapath.sock as vswitchd drives it (no root):
// port_add with options.path (validated, idempotent for the same path, refused for another),
// port_list with the path and the link state, frames between a stream peer and a dummy port
// through installed flows, a 64 KiB GSO frame cut into wire-sized segments for the stream peer
// (the port takes no offloads), and port_del removing the socket file.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4 } from '../../../src/datapath/batch.js';
import { Datapath } from '../../../src/datapath/datapath.js';
import { extractKey } from '../../../src/datapath/extract.js';
import type { DummyNetdev } from '../../../src/datapath/netdev-dummy.js';
import { csumAdd, csumFold } from '../../../src/datapath/offload.js';
import { DpifClient } from '../../../src/lib/dpif-client.js';
import { ACT_OUTPUT, KEY_WORDS } from '../../../src/lib/dpif-proto.js';
import { ipv4Frame } from '../../../src/lib/packet.js';

const ETH = { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' };
const V4 = { src: '10.0.0.1', dst: '10.0.0.2' };

function keyFor(frame: Uint8Array, port: number): Uint32Array {
  const k = new Uint32Array(KEY_WORDS);
  extractKey(frame, 0, frame.length, port, k, 0);
  return k;
}
function prefixed(f: Uint8Array): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(f.length);
  return Buffer.concat([h, Buffer.from(f)]);
}
async function until<T>(get: () => T | undefined | false, what: string, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface PortInfo { port_no: number; name: string; type: string; options: { path?: string }; link_state: string; counters: Record<string, number> }

describe('stream ports in the datapath', () => {
  let dir = '';
  let dp: Datapath;
  let c: DpifClient;
  const peers: net.Socket[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vswitch-streamdp-'));
    dp = new Datapath({ socketPath: join(dir, 'datapath.sock') });
    await dp.start();
    c = await DpifClient.connect(join(dir, 'datapath.sock'), 'tool');
  });
  afterEach(async () => {
    for (const p of peers) p.destroy();
    c.close();
    await dp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const list = async (): Promise<PortInfo[]> => (await c.request('port_list')) as PortInfo[];

  it('port_add checks options.path; same path is idempotent, another is refused; port_del removes the socket', async () => {
    await expect(c.request('port_add', { name: 'vmS', type: 'stream' })).rejects.toMatchObject({
      code: 'NETDEV_OPEN', message: expect.stringMatching(/^stream port vmS: options:path is required/),
    });
    await expect(c.request('port_add', { name: 'vmS', type: 'stream', options: { path: 'rel.sock' } })).rejects.toMatchObject({
      code: 'NETDEV_OPEN', message: "stream port vmS: options:path must be an absolute path, not 'rel.sock'",
    });
    await expect(c.request('port_add', { name: 'vmS', type: 'stream', options: { path: 5 } })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(c.request('port_add', { name: 'vmS', type: 'stream', options: 'x' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(c.request('port_add', { name: 'vmS', type: 'stream', options: { path: '/x', color: 'red' } })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    const path = join(dir, 'vmS.sock');
    expect(await c.request('port_add', { name: 'vmS', type: 'stream', options: { path } })).toEqual({ port_no: 1 });
    expect(existsSync(path)).toBe(true);
    expect(await c.request('port_add', { name: 'vmS', type: 'stream', options: { path } })).toEqual({ port_no: 1 });
    await expect(c.request('port_add', { name: 'vmS', type: 'stream', options: { path: join(dir, 'other.sock') } })).rejects.toMatchObject({ code: 'PORT_EXISTS' });
    await expect(c.request('port_add', { name: 'vmS', type: 'stream', options: { path, mode: '0600' } })).rejects.toMatchObject({ code: 'PORT_EXISTS' });
    const [p] = await list();
    expect(p).toMatchObject({ port_no: 1, name: 'vmS', type: 'stream', options: { path }, link_state: 'down' });
    expect(p!.counters).toMatchObject({ rx_bad_frame: 0, tx_queue_full: 0, tx_link_down: 0, connects: 0 });
    await c.request('port_del', { port_no: 1 });
    expect(existsSync(path)).toBe(false);
  });

  it('frames flow both ways through flows; a GSO frame reaches the stream peer cut into segments', async () => {
    const path = join(dir, 'vmS.sock');
    expect(await c.request('port_add', { name: 'vmS', type: 'stream', options: { path } })).toEqual({ port_no: 1 });
    expect(await c.request('port_add', { name: 'd2', type: 'dummy' })).toEqual({ port_no: 2 });
    const d2 = dp.ports.byNameGet('d2')!.netdev as DummyNetdev;

    const peer = net.connect(path);
    peers.push(peer);
    let acc = Buffer.alloc(0);
    const rx: Buffer[] = [];
    peer.on('data', (b: Buffer) => {
      acc = Buffer.concat([acc, b]);
      while (acc.length >= 4 && acc.length >= 4 + acc.readUInt32BE(0)) {
        rx.push(acc.subarray(4, 4 + acc.readUInt32BE(0)));
        acc = acc.subarray(4 + acc.readUInt32BE(0));
      }
    });
    await until(() => dp.ports.byNameGet('vmS')!.netdev.linkState() === 'up', 'the peer to connect');
    expect((await list())[0]!.link_state).toBe('up');

    // Stream peer -> dummy.
    const ping = ipv4Frame(ETH, V4, { icmp: { type: 8, code: 0 } }, new Uint8Array(56));
    c.flowPut(keyFor(ping, 1), null, [ACT_OUTPUT, 2]);
    await c.request('dp_stats'); // ordered after the put
    peer.write(prefixed(ping));
    await until(() => d2.sent.length === 1, 'the frame on d2');
    expect(d2.sent[0]).toEqual(ping);

    // Dummy -> stream peer: a 10000-byte TCP payload as one GSO frame with a partial checksum.
    const data = new Uint8Array(10000).map((_, i) => (i * 31) & 0xff);
    const good = ipv4Frame({ src: ETH.dst, dst: ETH.src }, { src: V4.dst, dst: V4.src }, { tcp: { src: 80, dst: 4000, seq: 1000 } }, data);
    const gso = good.slice();
    const seed = csumFold(csumAdd(gso, 26, 34, 6 + gso.length - 34));
    gso[50] = seed >>> 8;
    gso[51] = seed & 0xff;
    c.flowPut(keyFor(gso, 2), null, [ACT_OUTPUT, 1]);
    await c.request('dp_stats');
    d2.inject(gso, [VIRTIO_NET_HDR_F_NEEDS_CSUM | (VIRTIO_NET_HDR_GSO_TCPV4 << 8), 54, 1448, 34, 16]);
    await until(() => rx.length === Math.ceil(10000 / 1448), 'the segments at the peer');
    const payload = Buffer.concat(rx.map((s) => s.subarray(54)));
    expect(rx.every((s) => s.length <= 1448 + 54)).toBe(true);
    expect(Buffer.compare(payload, Buffer.from(data))).toBe(0);
    // Each segment carries a correct TCP checksum (sum over pseudo-header and segment is 0xffff).
    for (const s of rx) expect(csumFold(csumAdd(s, 34, s.length, csumAdd(s, 26, 34, 6 + s.length - 34)))).toBe(0xffff);
    const counters = (await list())[0]!.counters;
    expect(counters.tx_sw_segmented).toBe(1);
    expect(counters.tx_sw_segments).toBe(rx.length);
  });
});
