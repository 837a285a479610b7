// Software offloads on built frames: GSO frames cut into the exact frames a sender would have
// put on the wire (every header field and checksum compared with frames built independently),
// partial checksums finished, the offload decision per port, and the header inference for
// EXECUTEd misses.
import { describe, expect, it } from 'vitest';
import {
  SCRATCH_START, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_GSO_UDP,
  VIRTIO_NET_HDR_GSO_UDP_L4, VIRTIO_NET_HDR_F_DATA_VALID, PacketBatch,
} from '../../../src/datapath/batch.js';
import {
  completeCsum, csumAdd, csumFold, FIX_CSUM, FIX_NONE, FIX_SEGMENT, inferOffload, OFFLOAD_CSUM, OFFLOAD_TSO, OFFLOAD_UFO,
  OFFLOAD_USO, offloadFix, Segmenter,
} from '../../../src/datapath/offload.js';
import { inetChecksum, ipv4Frame, ipv6Frame, type EthSpec } from '../../../src/lib/packet.js';

const ETH: EthSpec = { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' };
const V4 = { src: '10.0.0.1', dst: '10.0.0.2' };
const V6 = { src: 'fd00::1', dst: 'fd00::2' };

function payload(n: number): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 7 + (i >>> 8)) & 0xff;
  return p;
}

const rd16 = (b: Uint8Array, p: number) => (b[p] << 8) | b[p + 1];

/** Turns a finished frame into what a sender with checksum offload hands over: the L4
 *  checksum field holds the pseudo-header sum only. Returns the virtio header. */
function makePartial(f: Uint8Array, l3: number, l4: number, csumOff: number, v6: boolean, gso = 0, mss = 0): number[] {
  const proto = v6 ? f[l3 + 6] : f[l3 + 9];
  const l4len = f.length - l4;
  let s = v6 ? csumAdd(f, l3 + 8, l3 + 40, 0) : csumAdd(f, l3 + 12, l3 + 20, 0);
  s += proto + l4len;
  const ps = csumFold(s);
  f[l4 + csumOff] = ps >>> 8;
  f[l4 + csumOff + 1] = ps & 0xff;
  return [VIRTIO_NET_HDR_F_NEEDS_CSUM | (gso << 8), gso ? l4 + (proto === 6 ? 20 : 8) : 0, mss, l4, csumOff];
}

/** Segments f (header vnet) with a Segmenter into a scratch buffer; returns the segments. */
function segmentAll(f: Uint8Array, vnet: number[]): Uint8Array[] {
  const seg = new Segmenter();
  const buf = new Uint8Array(f.length + 200000);
  buf.set(f, 0);
  const n = seg.begin(buf, 0, f.length, Uint16Array.from(vnet), 0);
  const out: Uint8Array[] = [];
  let at = 70000;
  for (let k = 0; k < n; k++) {
    const len = seg.emit(k, buf, at);
    out.push(buf.slice(at, at + len));
    at += len + 3; // odd offsets too: nothing may depend on alignment
  }
  return out;
}

describe('offloadFix', () => {
  const gso = (t: number) => VIRTIO_NET_HDR_F_NEEDS_CSUM | (t << 8);
  it('passes whole what the port takes, finishes the rest', () => {
    const all = OFFLOAD_CSUM | OFFLOAD_TSO | OFFLOAD_USO | OFFLOAD_UFO;
    expect(offloadFix(0, 0)).toBe(FIX_NONE);
    expect(offloadFix(VIRTIO_NET_HDR_F_DATA_VALID, 0)).toBe(FIX_NONE);
    expect(offloadFix(VIRTIO_NET_HDR_F_NEEDS_CSUM, OFFLOAD_CSUM)).toBe(FIX_NONE);
    expect(offloadFix(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0)).toBe(FIX_CSUM);
    expect(offloadFix(gso(VIRTIO_NET_HDR_GSO_TCPV4), all)).toBe(FIX_NONE);
    expect(offloadFix(gso(VIRTIO_NET_HDR_GSO_TCPV6) | 0x8000, all)).toBe(FIX_NONE); // ECN bit
    expect(offloadFix(gso(VIRTIO_NET_HDR_GSO_TCPV4), OFFLOAD_CSUM)).toBe(FIX_SEGMENT);
    expect(offloadFix(gso(VIRTIO_NET_HDR_GSO_TCPV4), 0)).toBe(FIX_SEGMENT);
    expect(offloadFix(gso(VIRTIO_NET_HDR_GSO_UDP_L4), OFFLOAD_CSUM | OFFLOAD_TSO)).toBe(FIX_SEGMENT);
    expect(offloadFix(gso(VIRTIO_NET_HDR_GSO_UDP_L4), all)).toBe(FIX_NONE);
    expect(offloadFix(gso(VIRTIO_NET_HDR_GSO_UDP), OFFLOAD_CSUM | OFFLOAD_TSO)).toBe(FIX_SEGMENT);
    expect(offloadFix(gso(9), all)).toBe(FIX_SEGMENT); // unknown type: Segmenter refuses, counted
  });
});

describe('completeCsum', () => {
  const cases: [string, Uint8Array, number, number, boolean][] = [
    ['TCP/IPv4', ipv4Frame(ETH, V4, { tcp: { src: 1234, dst: 80, seq: 7, flags: 0x18 } }, payload(1001)), 14, 34, false],
    ['UDP/IPv4', ipv4Frame(ETH, V4, { udp: { src: 53, dst: 5353 } }, payload(333)), 14, 34, false],
    ['TCP/IPv6', ipv6Frame(ETH, V6, { tcp: { src: 1234, dst: 80, seq: 9, flags: 0x10 } }, payload(1400)), 14, 54, true],
    ['UDP/IPv6 tagged', ipv6Frame({ ...ETH, vlan: { vid: 5 } }, V6, { udp: { src: 1, dst: 2 } }, payload(77)), 18, 58, true],
  ];
  for (const [name, good, l3, l4, v6] of cases) {
    it(`finishes a partial ${name} checksum to what a full computation gives`, () => {
      const udp = (v6 ? good[l3 + 6] : good[l3 + 9]) === 17;
      const csumOff = udp ? 6 : 16;
      const f = good.slice();
      const vnet = makePartial(f, l3, l4, csumOff, v6);
      expect(rd16(f, l4 + csumOff)).not.toBe(rd16(good, l4 + csumOff));
      const buf = new Uint8Array(f.length + 10);
      buf.set(f, 5);
      expect(completeCsum(buf, 5, f.length, vnet[3], vnet[4])).toBe(true);
      expect(buf.slice(5, 5 + f.length)).toEqual(good);
    });
  }

  it('refuses a checksum field outside the frame and changes nothing', () => {
    const f = ipv4Frame(ETH, V4, { udp: { src: 1, dst: 2 } }, payload(10));
    const copy = f.slice();
    expect(completeCsum(f, 0, f.length, f.length - 1, 6)).toBe(false);
    expect(completeCsum(f, 0, f.length, 4, 0)).toBe(false);
    expect(f).toEqual(copy);
  });
});

describe('Segmenter', () => {
  it('cuts a 64 KB TCP/IPv4 GSO frame into MSS segments, each exactly as the sender would build it', () => {
    const mss = 1448;
    const data = payload(64000);
    const seq = 0xfffff000; // wraps past 2^32 inside the frame
    const big = ipv4Frame(ETH, { ...V4, id: 0xfff0, df: true, tos: 0x02 }, { tcp: { src: 40000, dst: 5201, seq, ack: 99, flags: 0x19 | 0x80, window: 512 } }, data);
    const vnet = makePartial(big, 14, 34, 16, false, VIRTIO_NET_HDR_GSO_TCPV4, mss);
    const segs = segmentAll(big, vnet);
    const n = Math.ceil(64000 / mss);
    expect(segs.length).toBe(n);
    for (let k = 0; k < n; k++) {
      const last = k === n - 1;
      let flags = 0x19 | 0x80;
      if (!last) flags &= ~0x09; // FIN, PSH only on the last
      if (k > 0) flags &= ~0x80; // CWR only on the first
      const want = ipv4Frame(ETH, { ...V4, id: (0xfff0 + k) & 0xffff, df: true, tos: 0x02 },
        { tcp: { src: 40000, dst: 5201, seq: (seq + k * mss) >>> 0, ack: 99, flags, window: 512 } },
        data.subarray(k * mss, Math.min(64000, (k + 1) * mss)));
      expect(segs[k], `segment ${k}`).toEqual(want);
    }
  });

  it('cuts a VLAN-tagged TCP/IPv6 GSO frame (payload_len, seq, flags, checksum)', () => {
    const mss = 1000;
    const data = payload(4500);
    const eth = { ...ETH, vlan: { vid: 42, pcp: 5 } };
    const big = ipv6Frame(eth, V6, { tcp: { src: 1, dst: 2, seq: 5000, flags: 0x18 } }, data);
    const vnet = makePartial(big, 18, 58, 16, true, VIRTIO_NET_HDR_GSO_TCPV6, mss);
    const segs = segmentAll(big, vnet);
    expect(segs.length).toBe(5);
    segs.forEach((s, k) => {
      const want = ipv6Frame(eth, V6, { tcp: { src: 1, dst: 2, seq: 5000 + k * mss, flags: k === 4 ? 0x18 : 0x10 } }, data.subarray(k * mss, (k + 1) * mss));
      expect(s, `segment ${k}`).toEqual(want);
    });
  });

  it('cuts a UDP_L4 (USO) frame into datagrams for IPv4 and IPv6', () => {
    const data = payload(3000);
    const big4 = ipv4Frame(ETH, { ...V4, id: 7 }, { udp: { src: 443, dst: 5000 } }, data);
    const segs4 = segmentAll(big4, makePartial(big4, 14, 34, 6, false, VIRTIO_NET_HDR_GSO_UDP_L4, 1200));
    expect(segs4.map((s) => s.length)).toEqual([42 + 1200, 42 + 1200, 42 + 600]);
    segs4.forEach((s, k) => expect(s).toEqual(ipv4Frame(ETH, { ...V4, id: 7 + k }, { udp: { src: 443, dst: 5000 } }, data.subarray(k * 1200, (k + 1) * 1200))));
    const big6 = ipv6Frame(ETH, V6, { udp: { src: 443, dst: 5000 } }, data);
    const segs6 = segmentAll(big6, makePartial(big6, 14, 54, 6, true, VIRTIO_NET_HDR_GSO_UDP_L4, 1000));
    expect(segs6.length).toBe(3);
    segs6.forEach((s, k) => expect(s).toEqual(ipv6Frame(ETH, V6, { udp: { src: 443, dst: 5000 } }, data.subarray(k * 1000, (k + 1) * 1000))));
  });

  it('fragments a UFO IPv4 datagram: offsets, MF, header checksums, and a valid UDP checksum', () => {
    const data = payload(4000);
    const good = ipv4Frame(ETH, { ...V4, id: 0x4242 }, { udp: { src: 9, dst: 10 } }, data);
    const big = good.slice();
    const segs = segmentAll(big, makePartial(big, 14, 34, 6, false, VIRTIO_NET_HDR_GSO_UDP, 1480));
    expect(segs.length).toBe(3); // 4008 bytes of IP payload in 1480-byte pieces
    const ipPayload = good.subarray(34); // what the receiver reassembles, checksum included
    let at = 0;
    segs.forEach((s, k) => {
      expect(rd16(s, 14 + 4)).toBe(0x4242);
      const fo = rd16(s, 14 + 6);
      expect(fo & 0x1fff).toBe(at / 8);
      expect((fo & 0x2000) !== 0).toBe(k < 2);
      expect(rd16(s, 14 + 2)).toBe(s.length - 14);
      expect(inetChecksum(s.subarray(14, 34))).toBe(0);
      expect(s.subarray(34)).toEqual(ipPayload.subarray(at, at + s.length - 34));
      at += s.length - 34;
    });
    expect(at).toBe(ipPayload.length);
  });

  it('refuses what it cannot cut: zero gso_size, wrong protocol, truncated headers, IPv6 UFO', () => {
    const seg = new Segmenter();
    const tcp = ipv4Frame(ETH, V4, { tcp: { src: 1, dst: 2 } }, payload(3000));
    const udp6 = ipv6Frame(ETH, V6, { udp: { src: 1, dst: 2 } }, payload(3000));
    const hdr = (t: number, mss: number) => Uint16Array.of(VIRTIO_NET_HDR_F_NEEDS_CSUM | (t << 8), 0, mss, 34, 16);
    expect(seg.begin(tcp, 0, tcp.length, hdr(VIRTIO_NET_HDR_GSO_TCPV4, 0), 0)).toBe(0);
    expect(seg.begin(tcp, 0, tcp.length, hdr(VIRTIO_NET_HDR_GSO_UDP_L4, 1000), 0)).toBe(0);
    expect(seg.begin(tcp, 0, tcp.length, hdr(VIRTIO_NET_HDR_GSO_TCPV6, 1000), 0)).toBe(0);
    expect(seg.begin(tcp, 0, 40, hdr(VIRTIO_NET_HDR_GSO_TCPV4, 1000), 0)).toBe(0);
    expect(seg.begin(udp6, 0, udp6.length, hdr(VIRTIO_NET_HDR_GSO_UDP, 1000), 0)).toBe(0);
    expect(seg.begin(tcp, 0, tcp.length, hdr(VIRTIO_NET_HDR_GSO_TCPV4, 1000), 0)).toBe(3);
  });
});

describe('inferOffload', () => {
  it('sees a partial checksum by its pseudo-header seed, leaves finished frames alone', () => {
    const good = ipv4Frame(ETH, V4, { tcp: { src: 1, dst: 2, seq: 3 } }, payload(500));
    const vn = new Uint16Array(10);
    inferOffload(good, 0, good.length, vn, 5);
    expect(Array.from(vn.subarray(5))).toEqual([0, 0, 0, 0, 0]);
    const part = good.slice();
    makePartial(part, 14, 34, 16, false);
    inferOffload(part, 0, part.length, vn, 5);
    expect(Array.from(vn.subarray(5))).toEqual([VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 34, 16]);
    expect(completeCsum(part, 0, part.length, 34, 16)).toBe(true);
    expect(part).toEqual(good);
  });

  it('treats a TCP frame longer than any wire frame as GSO with a 1500-byte MTU', () => {
    const data = payload(20000);
    const good = ipv6Frame(ETH, V6, { tcp: { src: 1, dst: 2, seq: 10, flags: 0x18 } }, data);
    const vn = new Uint16Array(5);
    const f = good.slice();
    inferOffload(f, 0, f.length, vn, 0);
    expect(vn[0]).toBe(VIRTIO_NET_HDR_F_NEEDS_CSUM | (VIRTIO_NET_HDR_GSO_TCPV6 << 8));
    expect(vn[2]).toBe(1500 - 40 - 20);
    const segs = segmentAll(f, Array.from(vn));
    expect(segs.length).toBe(Math.ceil(20000 / 1440));
    segs.forEach((s, k) => expect(s).toEqual(ipv6Frame(ETH, V6, { tcp: { src: 1, dst: 2, seq: 10 + k * 1440, flags: k === segs.length - 1 ? 0x18 : 0x10 } }, data.subarray(k * 1440, (k + 1) * 1440))));
  });
});

describe('PacketBatch layout', () => {
  it('has scratch space behind the slots', () => {
    const b = new PacketBatch();
    expect(b.buf.length).toBeGreaterThan(SCRATCH_START + 65536);
  });
});
