// As root: the addon's packet socket receive ring (ring.c) and send-only sockets (link.c) on a
// veth pair of the root namespace, without the daemons. Frames are sent into one end and read
// from the ring on the other: contents and order (small frames through the ring, a jumbo frame
// through the whole-copy path between them), the VLAN tag the kernel strips, drops counted when
// the ring is full, and a send-only socket that receives nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_MAX, PacketBatch, RX_HEADROOM, SLOT_SIZE } from '../../src/datapath/batch.js';
import { TX_STATS_SLOTS } from '../../src/datapath/native.js';
import { loadPacketIo, RING_FRAME_SIZE } from '../../src/datapath/packet-io.js';
import { requireRoot, uniqueName } from './helpers.js';
import { sh, sleep } from './instance.js';

const root = requireRoot();

/** An Ethernet frame of `len` bytes to `dst` (ethertype 0x88b5, local experimental), byte i of
 *  the payload = (seq + i) & 0xff; with `vlan`, an 802.1Q tag after the addresses. */
function frame(len: number, seq: number, vlan?: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]);
  let o = 12;
  if (vlan !== undefined) {
    f.set([0x81, 0x00, (vlan >> 8) & 0x0f, vlan & 0xff], 12);
    o = 16;
  }
  f[o] = 0x88;
  f[o + 1] = 0xb5;
  for (let i = o + 2; i < len; i++) f[i] = (seq + i) & 0xff;
  return f;
}

describe.skipIf(!root)('packet socket receive ring', () => {
  const io = root ? loadPacketIo() : (undefined as never);
  const a = uniqueName('vra');
  const b = uniqueName('vrb');
  const fds: number[] = [];
  const rings: number[] = [];
  const batch = new PacketBatch();
  const txStats = new Float64Array(TX_STATS_SLOTS);

  beforeAll(() => {
    sh('ip', 'link', 'add', a, 'mtu', '9000', 'type', 'veth', 'peer', 'name', b, 'mtu', '9000');
    // No IPv6 on the pair: its router solicitations would be frames the tests did not send.
    sh('sysctl', '-qw', `net.ipv6.conf.${a}.disable_ipv6=1`, `net.ipv6.conf.${b}.disable_ipv6=1`);
    sh('ip', 'link', 'set', a, 'up');
    sh('ip', 'link', 'set', b, 'up');
  });

  afterAll(() => {
    for (const fd of rings) io.packetRingUnmap(fd);
    for (const fd of fds) io.fdClose(fd);
    sh('ip', 'link', 'del', a);
  });

  function open(frames = 64): { rx: number; tx: number } {
    const rx = io.packetRingOpen(a, true, frames, RING_FRAME_SIZE);
    rings.push(rx);
    fds.push(rx);
    const tx = io.packetTxOpen(b, true);
    fds.push(tx);
    return { rx, tx };
  }

  /** Sends the frames on `tx` (zero virtio headers) and returns how many the socket took. */
  function send(tx: number, frames: Uint8Array[]): number {
    const out = new PacketBatch();
    for (const f of frames) expect(out.push(f)).toBe(true);
    return io.packetSendBurst(tx, out.buf, out.offs, out.lens, out.count, out.vnetBytes, 10, txStats);
  }

  function recv(fd: number): number {
    return io.packetRingRecvBurst(fd, batch.buf, SLOT_SIZE, RX_HEADROOM, BATCH_MAX, batch.offs, batch.lens,
      batch.vnetBytes, 10, batch.aux);
  }

  it('delivers small frames through the ring and jumbo frames whole, in order', async () => {
    const { rx, tx } = open();
    const sent = [frame(60, 1), frame(8000, 2), frame(1514, 3), frame(64, 4), frame(9000, 5), frame(5000, 6),
      frame(8999, 7), frame(60, 8)];
    expect(send(tx, sent)).toBe(sent.length);
    await sleep(50);
    expect(recv(rx)).toBe(sent.length);
    for (let i = 0; i < sent.length; i++) {
      expect(batch.offs[i]).toBe(i * SLOT_SIZE + RX_HEADROOM);
      expect(batch.lens[i]).toBe(sent[i].length);
      expect(batch.buf.subarray(batch.offs[i], batch.offs[i] + batch.lens[i])).toEqual(sent[i]);
      expect(batch.aux[i]).toBe(0);
      expect(Array.from(batch.vnetBytes.subarray(i * 10, i * 10 + 10))).toEqual(new Array(10).fill(0));
    }
    expect(recv(rx)).toBe(0);
    expect(io.packetDrops(rx)).toBe(0);
  });

  it('reports the VLAN tag the kernel stripped', async () => {
    const { rx, tx } = open();
    expect(send(tx, [frame(80, 9, 100), frame(4000, 10, 4094)])).toBe(2);
    await sleep(50);
    expect(recv(rx)).toBe(2);
    expect(batch.aux[0]).toBe(((0x8100 << 16) | 100) >>> 0);
    expect(batch.aux[1]).toBe(((0x8100 << 16) | 4094) >>> 0);
    // The frame comes without its tag; payload intact after the ethertype.
    expect(batch.lens[0]).toBe(76);
    expect(batch.buf[batch.offs[0] + 12]).toBe(0x88);
    expect(batch.buf[batch.offs[0] + 20]).toBe((9 + 24) & 0xff);
  });

  it('counts the frames dropped while the ring is full, and reads the ones it kept', async () => {
    const { rx, tx } = open(64);
    let took = 0;
    for (let k = 0; k < 8; k++) {
      const frames: Uint8Array[] = [];
      for (let i = 0; i < 32; i++) frames.push(frame(60, k * 32 + i));
      took += send(tx, frames);
    }
    expect(took).toBe(256);
    await sleep(50);
    let got = 0;
    for (let n = recv(rx); n > 0; n = recv(rx)) got += n;
    expect(got).toBe(64);
    expect(io.packetDrops(rx)).toBe(256 - 64);
    expect(io.packetDrops(rx)).toBe(0); // the read resets it
  });

  it('a send-only socket receives nothing, and a fd without a ring says EBADF', async () => {
    const { tx } = open();
    const back = io.packetTxOpen(a, true);
    fds.push(back);
    const r = io.packetRingOpen(b, true, 64, RING_FRAME_SIZE);
    rings.push(r);
    fds.push(r);
    expect(send(back, [frame(60, 7)])).toBe(1);
    await sleep(50);
    expect(recv(r)).toBe(1); // sent on a, arrived at b
    expect(io.packetRecvBurst(tx, batch.buf, SLOT_SIZE, RX_HEADROOM, BATCH_MAX, batch.offs, batch.lens,
      batch.vnetBytes, 10, batch.aux)).toBe(0);
    expect(recv(tx)).toBe(-9); // EBADF: no ring on it
  });

  it('refuses a bad geometry and a missing device', () => {
    expect(() => io.packetRingOpen(a, true, 64, 3000)).toThrow(/bad ring geometry/);
    expect(() => io.packetRingOpen(uniqueName('vrnone'), true, 64, RING_FRAME_SIZE)).toThrow(expect.objectContaining({ code: 'ENODEV' }));
    expect(() => io.packetTxOpen(uniqueName('vrnone'), true)).toThrow(expect.objectContaining({ code: 'ENODEV' }));
  });
});
