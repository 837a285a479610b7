import { describe, expect, it } from 'vitest';
import { V_CSUM_OFFSET, V_CSUM_START, V_FLAGS_GSO, VIRTIO_NET_HDR_F_NEEDS_CSUM, VNET_WORDS } from '../../../src/datapath/batch.js';
import { extractKey } from '../../../src/datapath/extract.js';
import { completeCsum } from '../../../src/datapath/offload.js';
import { crc32c, runSetAction } from '../../../src/datapath/set-field.js';
import { ACT_SET_ARP, ACT_SET_ETH, ACT_SET_IPV4, ACT_SET_IPV6, ACT_SET_L4 } from '../../../src/lib/dpif-proto.js';
import {
  KEY_WORDS, W_ARP_MID, W_ARP_SHA_HI, W_ARP_THA_LO, W_ETH_DST_HI, W_ETH_MID, W_ETH_SRC_LO, W_IPV6_LABEL, W_NW, W_NW_DST, W_NW_SRC, W_TP,
} from '../../../src/lib/flow-key.js';
import { arpFrame, inetChecksum, ipv4Frame, ipv6Frame } from '../../../src/lib/packet.js';

const ETH = [W_ETH_DST_HI, W_ETH_MID, W_ETH_SRC_LO];
const V4 = [W_NW_SRC, W_NW_DST, W_NW];
const V6 = [W_NW_SRC, W_NW_SRC + 1, W_NW_SRC + 2, W_NW_SRC + 3, W_NW_DST, W_NW_DST + 1, W_NW_DST + 2, W_NW_DST + 3, W_NW, W_IPV6_LABEL];
const ARP = [W_NW_SRC, W_NW_DST, W_NW, W_ARP_SHA_HI, W_ARP_MID, W_ARP_THA_LO];

function keyOf(f: Uint8Array): Uint32Array {
  const k = new Uint32Array(KEY_WORDS);
  extractKey(f, 0, f.length, 1, k, 0);
  return k;
}

/** A set action carrying key words `words` of `want`, masked by `mask` (key layout). */
function setAct(op: number, words: number[], want: Uint32Array, mask: Uint32Array): number[] {
  return [op, ...words.map((w) => want[w] & mask[w]), ...words.map((w) => mask[w] | 0)];
}

function run(f: Uint8Array, acts: number[], vm = new Uint16Array(VNET_WORDS)): void {
  const a = Int32Array.from(acts);
  let i = 0;
  while (i < a.length) {
    i = runSetAction(f, 0, f.length, vm, a, i, a.length);
    expect(i).toBeGreaterThan(0);
  }
}

const rd16 = (b: Uint8Array, p: number): number => (b[p] << 8) | b[p + 1];

/** Verifies every checksum of an IPv4 or IPv6 frame from scratch (untagged, no options unless ihl says). */
function checksumsValid(f: Uint8Array, l3 = 14): void {
  const type = rd16(f, l3 - 2);
  let l4: number;
  let proto: number;
  let end: number;
  let pseudo: Uint8Array;
  if (type === 0x0800) {
    const ihl = (f[l3] & 15) * 4;
    expect(inetChecksum(f.subarray(l3, l3 + ihl)), 'IPv4 header checksum').toBe(0);
    l4 = l3 + ihl;
    proto = f[l3 + 9];
    end = l3 + rd16(f, l3 + 2);
    pseudo = new Uint8Array(12);
    pseudo.set(f.subarray(l3 + 12, l3 + 20), 0);
    pseudo[9] = proto;
    pseudo[10] = (end - l4) >> 8;
    pseudo[11] = (end - l4) & 0xff;
  } else {
    l4 = l3 + 40;
    proto = f[l3 + 6];
    end = l3 + 40 + rd16(f, l3 + 4);
    pseudo = new Uint8Array(40);
    pseudo.set(f.subarray(l3 + 8, l3 + 40), 0);
    pseudo[34] = ((end - l4) >> 8) & 0xff;
    pseudo[35] = (end - l4) & 0xff;
    pseudo[39] = proto;
  }
  const seg = f.subarray(l4, end);
  if (proto === 1) expect(inetChecksum(seg), 'ICMP checksum').toBe(0);
  else if (proto === 6 || proto === 58) expect(inetChecksum(pseudo, seg), `checksum of protocol ${proto}`).toBe(0);
  else if (proto === 17 && rd16(f, l4 + 6) !== 0) expect(inetChecksum(pseudo, seg), 'UDP checksum').toBe(0);
}

const payload = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff);

describe('set actions (set-field.ts)', () => {
  it('rewrites IPv4 addresses, tos and ttl, and TCP ports, with valid checksums', () => {
    for (const n of [0, 1, 7, 100]) {
      const f = ipv4Frame({}, { src: '10.0.0.1', dst: '10.0.0.2', tos: 0x11, ttl: 64 }, { tcp: { src: 1234, dst: 80 } }, payload(n));
      const want = keyOf(f);
      const mask = new Uint32Array(KEY_WORDS);
      want[W_NW_SRC] = 0xc0a80101;
      want[W_NW_DST] = 0xac100009;
      want[W_NW] = (want[W_NW] & ~0x00ffff00) | (0xb8 << 16) | (17 << 8);
      mask[W_NW_SRC] = mask[W_NW_DST] = 0xffffffff;
      mask[W_NW] = 0x00fcff00; // DSCP bits and TTL: the ECN bits (0x01) stay
      want[W_TP] = (4321 << 16) | 8080;
      mask[W_TP] = 0xffffffff;
      run(f, [...setAct(ACT_SET_IPV4, V4, want, mask), ACT_SET_L4, 6, want[W_TP] | 0, -1]);
      const k = keyOf(f);
      expect(k[W_NW_SRC]).toBe(0xc0a80101);
      expect(k[W_NW_DST]).toBe(0xac100009);
      expect((k[W_NW] >>> 16) & 0xff).toBe(0xb8 | 0x01);
      expect((k[W_NW] >>> 8) & 0xff).toBe(17);
      expect(k[W_TP]).toBe(((4321 << 16) | 8080) >>> 0);
      checksumsValid(f);
    }
  });

  it('rewrites UDP (checksum kept valid) and leaves a UDP checksum of 0 at 0', () => {
    const f = ipv4Frame({}, { src: '10.0.0.1', dst: '10.0.0.2' }, { udp: { src: 53, dst: 5353 } }, payload(33));
    const want = keyOf(f);
    const mask = new Uint32Array(KEY_WORDS);
    want[W_NW_DST] = 0x0a000063;
    mask[W_NW_DST] = 0xffffffff;
    run(f, [...setAct(ACT_SET_IPV4, V4, want, mask), ACT_SET_L4, 17, 999, 0xffff]);
    expect(rd16(f, 14 + 20 + 2)).toBe(999);
    checksumsValid(f);
    const z = ipv4Frame({}, { src: '10.0.0.1', dst: '10.0.0.2' }, { udp: { src: 53, dst: 5353 } }, payload(10));
    z[14 + 20 + 6] = 0;
    z[14 + 20 + 7] = 0;
    run(z, [...setAct(ACT_SET_IPV4, V4, want, mask), ACT_SET_L4, 17, 1000, 0xffff]);
    expect(rd16(z, 14 + 20 + 6)).toBe(0);
    expect(rd16(z, 14 + 20 + 2)).toBe(1000);
    expect(inetChecksum(z.subarray(14, 34))).toBe(0);
  });

  it('rewrites IPv6 addresses, traffic class, label and hop limit over TCP, UDP and ICMPv6', () => {
    const l4s = [{ tcp: { src: 1, dst: 2 } }, { udp: { src: 3, dst: 4 } }, { icmpv6: { type: 128, code: 0 } }] as const;
    for (const l4 of l4s) {
      const f = ipv6Frame({}, { src: '2001:db8::1', dst: '2001:db8::2', tclass: 0x21, label: 0x12345, hlimit: 9 }, l4, payload(21));
      const want = keyOf(f);
      const mask = new Uint32Array(KEY_WORDS);
      for (let i = 0; i < 4; i++) { mask[W_NW_SRC + i] = mask[W_NW_DST + i] = 0xffffffff; }
      want[W_NW_SRC + 3] = 0xabcdef01;
      want[W_NW_DST] = 0xfd000000;
      want[W_NW] = (want[W_NW] & ~0x00ffff00) | (0x40 << 16) | (3 << 8);
      mask[W_NW] = 0x00ffff00;
      want[W_IPV6_LABEL] = 0xfedcb;
      mask[W_IPV6_LABEL] = 0xfffff;
      run(f, setAct(ACT_SET_IPV6, V6, want, mask));
      const k = keyOf(f);
      expect(k[W_NW_SRC + 3]).toBe(0xabcdef01);
      expect(k[W_NW_DST]).toBe(0xfd000000);
      expect((k[W_NW] >>> 16) & 0xff).toBe(0x40);
      expect((k[W_NW] >>> 8) & 0xff).toBe(3);
      expect(k[W_IPV6_LABEL]).toBe(0xfedcb);
      checksumsValid(f);
    }
  });

  it('rewrites ICMP type and code with a valid checksum', () => {
    const f = ipv4Frame({}, { src: '1.1.1.1', dst: '2.2.2.2' }, { icmp: { type: 8, code: 0 } }, payload(5));
    run(f, [ACT_SET_L4, 1, (0 << 16) | 3, 0x00ff00ff]);
    expect([f[34], f[35]]).toEqual([0, 3]);
    checksumsValid(f);
  });

  it('writes only the masked Ethernet bits, and works behind a VLAN tag', () => {
    const f = ipv4Frame({ dst: '02:00:00:00:00:02', src: '02:00:00:00:00:01', vlan: { vid: 10 } }, { src: '10.0.0.1', dst: '10.0.0.2' }, { tcp: { src: 1, dst: 2 } });
    const want = keyOf(f);
    const mask = new Uint32Array(KEY_WORDS);
    // dl_dst := 0a:0b:0c:0d:0e:0f, dl_src untouched.
    want[W_ETH_DST_HI] = 0x0a0b0c0d;
    want[W_ETH_MID] = (want[W_ETH_MID] & 0xffff) | 0x0e0f0000;
    mask[W_ETH_DST_HI] = 0xffffffff;
    mask[W_ETH_MID] = 0xffff0000;
    want[W_NW_DST] = 0x0a000005;
    mask[W_NW_DST] = 0xffffffff;
    run(f, [...setAct(ACT_SET_ETH, ETH, want, mask), ...setAct(ACT_SET_IPV4, V4, want, mask)]);
    expect(Array.from(f.subarray(0, 12))).toEqual([10, 11, 12, 13, 14, 15, 2, 0, 0, 0, 0, 1]);
    expect(rd16(f, 14)).toBe(10);
    checksumsValid(f, 18);
  });

  it('keeps a partial checksum consistent (pseudo-header only), so finishing it later is right', () => {
    const f = ipv4Frame({}, { src: '10.0.0.1', dst: '10.0.0.2' }, { tcp: { src: 1000, dst: 80 } }, payload(77));
    // Make it partial as a tap hands it over: the field holds the folded pseudo-header sum.
    const l4 = 34;
    const len = f.length - l4;
    const pseudo = new Uint8Array(12);
    pseudo.set(f.subarray(26, 34), 0);
    pseudo[9] = 6;
    pseudo[10] = len >> 8;
    pseudo[11] = len & 0xff;
    const ps = ~inetChecksum(pseudo) & 0xffff;
    f[l4 + 16] = ps >> 8;
    f[l4 + 17] = ps & 0xff;
    const vm = new Uint16Array(VNET_WORDS);
    vm[V_FLAGS_GSO] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vm[V_CSUM_START] = l4;
    vm[V_CSUM_OFFSET] = 16;
    const want = keyOf(f);
    const mask = new Uint32Array(KEY_WORDS);
    want[W_NW_SRC] = 0x01020304;
    want[W_NW_DST] = 0x05060708;
    mask[W_NW_SRC] = mask[W_NW_DST] = 0xffffffff;
    run(f, [...setAct(ACT_SET_IPV4, V4, want, mask), ACT_SET_L4, 6, (2000 << 16) | 8080, -1], vm);
    expect(completeCsum(f, 0, f.length, l4, 16)).toBe(true);
    checksumsValid(f);
  });

  it('recomputes SCTP CRC32c after a port change', () => {
    expect(crc32c(new TextEncoder().encode('123456789'), 0, 9)).toBe(0xe3069283);
    const f = ipv4Frame({}, { src: '10.0.0.1', dst: '10.0.0.2' }, { sctp: { src: 5, dst: 6 } }, payload(16));
    run(f, [ACT_SET_L4, 132, (7 << 16) | 8, -1]);
    const l4 = 34;
    const stored = f[l4 + 8] | (f[l4 + 9] << 8) | (f[l4 + 10] << 16) | (f[l4 + 11] << 24);
    const copy = f.slice(l4);
    copy.fill(0, 8, 12);
    expect(stored >>> 0).toBe(crc32c(copy, 0, copy.length));
    expect(rd16(f, l4)).toBe(7);
  });

  it('rewrites ARP fields', () => {
    const f = arpFrame({}, { op: 1, sha: '02:00:00:00:00:01', spa: '10.0.0.1', tha: '00:00:00:00:00:00', tpa: '10.0.0.2' });
    const want = keyOf(f);
    const mask = new Uint32Array(KEY_WORDS);
    want[W_NW] = 2 << 24;
    mask[W_NW] = 0xff000000;
    want[W_NW_SRC] = 0x0a000002;
    mask[W_NW_SRC] = 0xffffffff;
    // tha := sha's old value 02:00:00:00:00:01 (as an ARP responder's move would)
    want[W_ARP_MID] = (want[W_ARP_MID] & 0xffff0000) | 0x0200;
    want[W_ARP_THA_LO] = 0x00000001;
    mask[W_ARP_MID] = 0x0000ffff;
    mask[W_ARP_THA_LO] = 0xffffffff;
    run(f, setAct(ACT_SET_ARP, ARP, want, mask));
    const k = keyOf(f);
    expect(k[W_NW] >>> 24).toBe(2);
    expect(k[W_NW_SRC]).toBe(0x0a000002);
    expect(k[W_NW_DST]).toBe(0x0a000002);
    expect(Array.from(f.subarray(14 + 18, 14 + 24))).toEqual([2, 0, 0, 0, 0, 1]);
  });

  it('never throws on truncated or garbage frames and never writes past the frame', () => {
    const base = ipv4Frame({}, { src: '10.0.0.1', dst: '10.0.0.2' }, { tcp: { src: 1, dst: 2 } }, payload(40));
    const b6 = ipv6Frame({}, { src: '::1', dst: '::2', ext: [{ type: 0 }, { type: 44, fragOffset: 0, more: true }] }, { udp: { src: 1, dst: 2 } }, payload(9));
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8);
    const ops = [ACT_SET_ETH, ACT_SET_IPV4, ACT_SET_IPV6, ACT_SET_L4, ACT_SET_ARP];
    const words = [6, 6, 20, 3, 12];
    for (let t = 0; t < 3000; t++) {
      const src = t % 2 ? base : b6;
      const len = rnd() % (src.length + 1);
      const buf = new Uint8Array(len + 16).fill(0xee);
      buf.set(src.subarray(0, len), 0);
      if (t % 3 === 0 && len > 0) for (let k = 0; k < 4; k++) buf[rnd() % len] = rnd() & 0xff;
      const oi = t % ops.length;
      const acts = new Int32Array(1 + words[oi]);
      acts[0] = ops[oi];
      for (let k = 1; k < acts.length; k++) acts[k] = rnd() * 31;
      if (ops[oi] === ACT_SET_L4) acts[1] = [6, 17, 1, 58, 132][rnd() % 5];
      expect(runSetAction(buf, 0, len, new Uint16Array(VNET_WORDS), acts, 0, acts.length)).toBe(acts.length);
      for (let k = len; k < buf.length; k++) expect(buf[k], `op ${acts[0]} len ${len} t ${t} at ${k}`).toBe(0xee);
    }
    // Operands missing: reported, not run.
    expect(runSetAction(base, 0, base.length, new Uint16Array(VNET_WORDS), Int32Array.of(ACT_SET_IPV4, 1, 2), 0, 3)).toBe(-1);
  });
});
