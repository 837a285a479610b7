// The action runner serving each egress port what it can take: GSO frames and partial
// checksums pass whole (with their virtio header) to ports that take them, and are segmented
// or finished in software for ports that do not; VLAN push/pop moves csum_start with the tag.
// Also the VLAN tag restore of packet-socket ports. Dummy ports, no root.
import { describe, expect, it } from 'vitest';
import { ActionRunner } from '../../../src/datapath/actions.js';
import {
  PacketBatch, RX_HEADROOM, SLOT_SIZE, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, VNET_WORDS,
} from '../../../src/datapath/batch.js';
import { Counters } from '../../../src/datapath/counters.js';
import { restoreVlanTags } from '../../../src/datapath/netdev-system.js';
import { DummyNetdev } from '../../../src/datapath/netdev-dummy.js';
import { csumAdd, csumFold, OFFLOAD_CSUM, OFFLOAD_TSO, OFFLOAD_UFO, OFFLOAD_USO } from '../../../src/datapath/offload.js';
import { PortTable } from '../../../src/datapath/ports.js';
import { ACT_OUTPUT, ACT_POP_VLAN, ACT_PUSH_VLAN } from '../../../src/lib/dpif-proto.js';
import { ipv4Frame } from '../../../src/lib/packet.js';

const ALL = OFFLOAD_CSUM | OFFLOAD_TSO | OFFLOAD_USO | OFFLOAD_UFO;
const ETH = { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' };
const V4 = { src: '10.0.0.1', dst: '10.0.0.2' };

function payload(n: number): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 13) & 0xff;
  return p;
}

/** Port 1: takes everything (like a vnet tap); port 2: nothing (like a plain socket). */
function setup(): { batch: PacketBatch; runner: ActionRunner; devs: DummyNetdev[]; ports: PortTable } {
  const devs: DummyNetdev[] = [];
  const ports = new PortTable((name) => {
    const d = new DummyNetdev(name, { offloads: name === 'p1' ? ALL : 0 });
    devs.push(d);
    return d;
  });
  ports.add('p1', 'dummy');
  ports.add('p2', 'dummy');
  const batch = new PacketBatch();
  return { batch, runner: new ActionRunner(batch, ports, new Counters()), devs, ports };
}

/** The frame with its TCP checksum replaced by the pseudo-header seed; returns its header. */
function partial(good: Uint8Array, gsoMss = 0): { frame: Uint8Array; vnet: number[] } {
  const f = good.slice();
  const l4len = f.length - 34;
  const seed = csumFold(csumAdd(f, 26, 34, 6 + l4len));
  f[50] = seed >>> 8;
  f[51] = seed & 0xff;
  const gso = gsoMss ? VIRTIO_NET_HDR_GSO_TCPV4 << 8 : 0;
  return { frame: f, vnet: [VIRTIO_NET_HDR_F_NEEDS_CSUM | gso, gsoMss ? 54 : 0, gsoMss, 34, 16] };
}

function runOn(s: ReturnType<typeof setup>, frame: Uint8Array, vnet: number[], acts: number[]): void {
  s.batch.count = 0;
  s.batch.push(frame, vnet);
  s.runner.run(Int32Array.from(acts), acts.length, s.batch.offs[0], s.batch.offs[0], frame.length);
  s.runner.flush();
}

describe('ActionRunner offloads', () => {
  it('sends a GSO frame whole to a port that takes it and as MSS segments to one that does not', () => {
    const s = setup();
    const data = payload(30000);
    const good = ipv4Frame(ETH, { ...V4, id: 100 }, { tcp: { src: 5, dst: 6, seq: 1, flags: 0x18 } }, data);
    const { frame, vnet } = partial(good, 1448);
    runOn(s, frame, vnet, [ACT_OUTPUT, 1, ACT_OUTPUT, 2]);
    const whole = s.devs[0].takeSent();
    expect(whole).toEqual([frame]); // untouched bytes, seed still in place
    const segs = s.devs[1].takeSent();
    expect(segs.length).toBe(Math.ceil(30000 / 1448));
    segs.forEach((seg, k) => expect(seg).toEqual(ipv4Frame(ETH, { ...V4, id: 100 + k },
      { tcp: { src: 5, dst: 6, seq: 1 + k * 1448, flags: k === segs.length - 1 ? 0x18 : 0x10 } }, data.subarray(k * 1448, (k + 1) * 1448))));
    const p1 = s.ports.get(1)!.counters();
    const p2 = s.ports.get(2)!.counters();
    expect(p1.tx_gso).toBe(1);
    expect(p2.tx_sw_segmented).toBe(1);
    expect(p2.tx_sw_segments).toBe(segs.length);
  });

  it('passes the virtio header along with the frame', () => {
    const s = setup();
    const { frame, vnet } = partial(ipv4Frame(ETH, V4, { tcp: { src: 5, dst: 6 } }, payload(20000)), 1000);
    runOn(s, frame, vnet, [ACT_OUTPUT, 1]);
    expect(Array.from(s.devs[0].sentVnet[0])).toEqual(vnet);
  });

  it('segments more than fits the scratch area at once (flushes and goes on)', () => {
    const s = setup();
    const data = payload(60000);
    const good = ipv4Frame(ETH, V4, { tcp: { src: 5, dst: 6, seq: 77, flags: 0x10 } }, data);
    const { frame, vnet } = partial(good, 100); // 600 segments: many scratch refills and queue flushes
    runOn(s, frame, vnet, [ACT_OUTPUT, 2, ACT_OUTPUT, 2]);
    const segs = s.devs[1].takeSent();
    expect(segs.length).toBe(1200);
    const joined = new Uint8Array(120000);
    segs.forEach((seg, k) => joined.set(seg.subarray(54), (k % 600) * 100 + (k >= 600 ? 60000 : 0)));
    expect(joined.subarray(0, 60000)).toEqual(data);
    expect(joined.subarray(60000)).toEqual(data);
  });

  it('finishes a partial checksum for a port that cannot, without touching the copy queued for one that can', () => {
    const s = setup();
    const good = ipv4Frame(ETH, V4, { tcp: { src: 5, dst: 6, seq: 9 } }, payload(999));
    const { frame, vnet } = partial(good);
    runOn(s, frame, vnet, [ACT_OUTPUT, 1, ACT_OUTPUT, 2, ACT_OUTPUT, 1]);
    expect(s.devs[0].sent).toEqual([frame, frame]);
    expect(s.devs[0].sentVnet.map((v) => v[0])).toEqual([VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_F_NEEDS_CSUM]);
    expect(s.devs[1].sent).toEqual([good]);
    // Not queued yet: finished in place, and later outputs get the finished frame.
    runOn(s, frame, vnet, [ACT_OUTPUT, 2, ACT_OUTPUT, 1]);
    expect(s.devs[1].sent.at(-1)).toEqual(good);
    expect(s.devs[0].sent.at(-1)).toEqual(good);
    expect(s.devs[0].sentVnet.at(-1)![0]).toBe(0);
  });

  it('moves csum_start with a pushed or popped VLAN tag', () => {
    const s = setup();
    const good = ipv4Frame(ETH, V4, { tcp: { src: 5, dst: 6, seq: 9 } }, payload(300));
    const goodTagged = ipv4Frame({ ...ETH, vlan: { vid: 7 } }, V4, { tcp: { src: 5, dst: 6, seq: 9 } }, payload(300));
    const { frame, vnet } = partial(good);
    runOn(s, frame, vnet, [ACT_OUTPUT, 1, ACT_PUSH_VLAN, 0x1000 | 7, ACT_OUTPUT, 1, ACT_OUTPUT, 2, ACT_POP_VLAN, ACT_OUTPUT, 2]);
    expect(s.devs[0].sentVnet.map((v) => v[3])).toEqual([34, 38]);
    expect(s.devs[1].sent).toEqual([goodTagged, good]);
  });

  it('pushes a tag into the headroom without moving the frame', () => {
    const s = setup();
    const good = ipv4Frame(ETH, V4, { udp: { src: 5, dst: 6 } }, payload(100));
    s.batch.count = 0;
    s.batch.push(good);
    const off = s.batch.offs[0];
    s.runner.run(Int32Array.of(ACT_PUSH_VLAN, 0x1000 | 9, ACT_OUTPUT, 2), 4, off, off, good.length);
    s.runner.flush();
    expect(s.devs[1].sent[0]).toEqual(ipv4Frame({ ...ETH, vlan: { vid: 9 } }, V4, { udp: { src: 5, dst: 6 } }, payload(100)));
    expect(s.batch.buf[off - 4]).toBe(0x02); // new start of the frame: 4 bytes earlier
  });

  it('drops (and counts) a GSO frame it cannot segment', () => {
    const s = setup();
    const frame = ipv4Frame(ETH, V4, { udp: { src: 5, dst: 6 } }, payload(3000));
    runOn(s, frame, [VIRTIO_NET_HDR_F_NEEDS_CSUM | (VIRTIO_NET_HDR_GSO_TCPV4 << 8), 0, 1000, 34, 6], [ACT_OUTPUT, 2]);
    expect(s.devs[1].sent.length).toBe(0);
    expect(s.ports.get(2)!.counters().tx_offload_bad).toBe(1);
  });

  it('EXECUTE of a partial or oversized frame (a miss comes back without its header) still goes out right', () => {
    const s = setup();
    const data = payload(5000);
    const good = ipv4Frame(ETH, V4, { tcp: { src: 5, dst: 6, seq: 3, flags: 0x10 } }, data);
    const { frame } = partial(good);
    expect(s.runner.execute(Int32Array.of(ACT_OUTPUT, 2, ACT_OUTPUT, 1), 4, frame, 0, frame.length)).toBe(true);
    s.runner.flush();
    const segs = s.devs[1].takeSent();
    expect(segs.length).toBe(4); // cut at a 1500-byte MTU: 1460-byte segments
    segs.forEach((seg, k) => expect(seg).toEqual(ipv4Frame(ETH, { ...V4, id: 1 + k }, { tcp: { src: 5, dst: 6, seq: 3 + k * 1460, flags: 0x10 } }, data.subarray(k * 1460, (k + 1) * 1460))));
    expect(s.devs[0].sentVnet[0][0] >>> 8).toBe(VIRTIO_NET_HDR_GSO_TCPV4);
  });
});

describe('restoreVlanTags', () => {
  it('puts stripped tags back in front of the frame, shifts csum_start and drops truncated frames', () => {
    const b = new PacketBatch();
    const plain = ipv4Frame(ETH, V4, { udp: { src: 1, dst: 2 } }, payload(50));
    const tagged = ipv4Frame({ ...ETH, vlan: { vid: 100, pcp: 2, tpid: 0x88a8 } }, V4, { udp: { src: 1, dst: 2 } }, payload(50));
    b.push(plain, [VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 34, 6]);
    b.push(plain);
    b.push(plain);
    b.lens[1] = -1; // truncated
    b.aux[0] = (0x88a8 << 16) | (2 << 13) | 100;
    b.aux[1] = 0;
    b.aux[2] = 0;
    expect(restoreVlanTags(b, 3)).toBe(2);
    expect(b.buf.slice(b.offs[0], b.offs[0] + b.lens[0])).toEqual(tagged);
    expect(b.offs[0]).toBe(RX_HEADROOM - 4);
    expect(b.vnet[3]).toBe(38);
    expect(b.offs[1]).toBe(2 * SLOT_SIZE + RX_HEADROOM); // frame 2 moved down; its slot is unchanged
    expect(b.buf.slice(b.offs[1], b.offs[1] + b.lens[1])).toEqual(plain);
    expect(b.vnet[2 * VNET_WORDS + 3]).toBe(0);
  });
});
