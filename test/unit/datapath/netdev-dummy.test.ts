import { describe, expect, it } from 'vitest';
import { BATCH_MAX, PacketBatch, SLOT_SIZE } from '../../../src/datapath/batch.js';
import { DUMMY_RX_QUEUE_MAX, DummyNetdev } from '../../../src/datapath/netdev-dummy.js';
import { badIfName, NetdevOpenError, openNetdev, type NetdevType } from '../../../src/datapath/netdev.js';
import { VswitchError } from '../../../src/lib/errors.js';

function frame(id: number, len = 64): Uint8Array {
  const f = new Uint8Array(len);
  f.fill(0xff, 0, 6);
  f.set([2, 0, 0, 0, 0, id & 0xff], 6);
  f[12] = 0x08;
  f[13] = 0x00;
  f[14] = id & 0xff;
  return f;
}

const nextTick = () => new Promise<void>((r) => setImmediate(r));

describe('DummyNetdev', () => {
  it('is what openNetdev returns for type dummy, with the given mac', () => {
    const d = openNetdev('p1', 'dummy', { mac: '02:AA:00:00:00:01' });
    expect(d).toBeInstanceOf(DummyNetdev);
    expect(d.name).toBe('p1');
    expect(d.type).toBe('dummy');
    expect(d.mac()).toBe('02:aa:00:00:00:01');
    expect(openNetdev('p2', 'dummy').mac()).toBe('');
  });

  it('delivers injected frames in order through rxBurst and counts them', () => {
    const d = new DummyNetdev('p1');
    const b = new PacketBatch();
    expect(d.rxBurst(b)).toBe(0);
    expect(d.inject(frame(1, 60))).toBe(true);
    expect(d.inject(frame(2, 1514))).toBe(true);
    expect(d.pending()).toBe(2);
    expect(d.rxBurst(b)).toBe(2);
    expect(b.count).toBe(2);
    expect(b.lens[0]).toBe(60);
    expect(b.lens[1]).toBe(1514);
    expect(b.copyFrame(0)).toEqual(frame(1, 60));
    expect(b.copyFrame(1)).toEqual(frame(2, 1514));
    expect(d.stats.rxPackets).toBe(2);
    expect(d.stats.rxBytes).toBe(60 + 1514);
    expect(d.rxBurst(b)).toBe(0);
    expect(b.count).toBe(0);
  });

  it('injects a copy, so the caller may reuse its buffer', () => {
    const d = new DummyNetdev('p1');
    const f = frame(1);
    d.inject(f);
    f[14] = 77;
    const b = new PacketBatch();
    d.rxBurst(b);
    expect(b.buf[b.offs[0] + 14]).toBe(1);
  });

  it('calls onReadable asynchronously, and again while frames remain (level-triggered)', async () => {
    const d = new DummyNetdev('p1');
    const b = new PacketBatch();
    const bursts: number[] = [];
    let calls = 0;
    d.start(() => {
      calls++;
      bursts.push(d.rxBurst(b));
    });
    for (let i = 0; i < BATCH_MAX + 8; i++) d.inject(frame(i));
    expect(calls).toBe(0); // never synchronously from inject
    await nextTick();
    await nextTick();
    await nextTick();
    expect(bursts).toEqual([BATCH_MAX, 8]);
    expect(b.copyFrame(7)[14]).toBe(BATCH_MAX + 7);
    expect(d.stats.rxPackets).toBe(BATCH_MAX + 8);
    await nextTick();
    expect(calls).toBe(2); // queue empty: no more wakeups
    d.close();
  });

  it('wakes a reader started after frames were injected', async () => {
    const d = new DummyNetdev('p1');
    d.inject(frame(1));
    let woke = 0;
    d.start(() => {
      woke++;
      d.rxBurst(new PacketBatch());
    });
    await nextTick();
    expect(woke).toBe(1);
  });

  it('drops and counts frames beyond the rx queue or larger than a slot', () => {
    const d = new DummyNetdev('p1');
    for (let i = 0; i < DUMMY_RX_QUEUE_MAX; i++) expect(d.inject(frame(i))).toBe(true);
    expect(d.inject(frame(0))).toBe(false);
    const big = new DummyNetdev('p2');
    expect(big.inject(new Uint8Array(SLOT_SIZE + 1))).toBe(false);
    expect(d.dropCounters().rx_queue_full).toBe(1);
    expect(d.stats.rxDropped).toBe(1);
    expect(big.dropCounters().rx_too_big).toBe(1);
    expect(big.stats.rxDropped).toBe(1);
  });

  it('records copies of transmitted frames and drops runts as tx_bad_frame', () => {
    const d = new DummyNetdev('p1');
    const b = new PacketBatch();
    b.push(frame(1, 60));
    b.push(Uint8Array.of(1, 2, 3)); // runt: shorter than an Ethernet header
    b.push(frame(3, 100));
    expect(d.txBurst(b.buf, b.offs, b.lens, b.count)).toBe(2);
    b.buf[14] = 55; // the netdev kept copies
    const sent = d.takeSent();
    expect(sent).toEqual([frame(1, 60), frame(3, 100)]);
    expect(d.takeSent()).toEqual([]);
    expect(d.stats.txPackets).toBe(2);
    expect(d.stats.txBytes).toBe(160);
    expect(d.stats.txErrors).toBe(1);
    expect(d.dropCounters().tx_bad_frame).toBe(1);
  });

  it('sends only frames i < count, from the given offsets', () => {
    const d = new DummyNetdev('p1');
    const buf = new Uint8Array(300);
    buf.set(frame(9, 64), 200);
    buf.set(frame(8, 64), 0);
    expect(d.txBurst(buf, Int32Array.of(200, 0), Int32Array.of(64, 64), 1)).toBe(1);
    expect(d.sent).toEqual([frame(9, 64)]);
  });

  it('drops everything as tx_link_down while the link is down', () => {
    const d = new DummyNetdev('p1');
    const b = new PacketBatch();
    b.push(frame(1));
    b.push(frame(2));
    d.linkUp = false;
    expect(d.txBurst(b.buf, b.offs, b.lens, b.count)).toBe(0);
    expect(d.stats.txDropped).toBe(2);
    expect(d.dropCounters().tx_link_down).toBe(2);
    expect(d.sent).toEqual([]);
    d.linkUp = true;
    expect(d.txBurst(b.buf, b.offs, b.lens, b.count)).toBe(2);
  });

  it('close is idempotent, stops wakeups and refuses further I/O', async () => {
    const d = new DummyNetdev('p1');
    let woke = 0;
    d.start(() => woke++);
    d.inject(frame(1));
    d.close();
    d.close();
    await nextTick();
    expect(woke).toBe(0);
    expect(d.rxBurst(new PacketBatch())).toBe(0);
    expect(d.inject(frame(2))).toBe(false);
    expect(d.dropCounters().rx_closed).toBe(1);
    const b = new PacketBatch();
    b.push(frame(3));
    expect(d.txBurst(b.buf, b.offs, b.lens, 1)).toBe(0);
    expect(d.dropCounters().tx_closed).toBe(1);
    expect(() => d.start(() => {})).toThrow(VswitchError);
    try {
      d.start(() => {});
    } catch (err) {
      expect((err as VswitchError).code).toBe('NETDEV_CLOSED');
    }
  });
});

describe('openNetdev argument checks (no root needed)', () => {
  it('rejects bad interface names for tap and internal ports before touching the kernel', () => {
    for (const type of ['tap', 'internal'] as const) {
      expect(() => openNetdev('a-name-that-is-too-long', type)).toThrow(NetdevOpenError);
      expect(() => openNetdev('a-name-that-is-too-long', type)).toThrow(/at most 15/);
      expect(() => openNetdev('', type)).toThrow(/empty/);
      expect(() => openNetdev('a/b', type)).toThrow(/invalid device name/);
    }
    expect(badIfName('vm1')).toBe('');
    expect(badIfName('123456789012345')).toBe('');
    expect(badIfName('1234567890123456')).not.toBe('');
  });

  it('rejects a malformed mac and an unknown type with code NETDEV_OPEN', () => {
    try {
      openNetdev('p1', 'dummy', { mac: '02:00:00:00:00' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(NetdevOpenError);
      expect((err as NetdevOpenError).code).toBe('NETDEV_OPEN');
      expect((err as Error).message).toContain("invalid mac '02:00:00:00:00'");
    }
    expect(() => openNetdev('p1', 'vxlan' as NetdevType)).toThrow(/unknown interface type 'vxlan'/);
  });
});
