import { describe, expect, it } from 'vitest';
import {
  DL_TYPE_NONE, EXTRACT_BAD_HEADER, EXTRACT_OK, EXTRACT_RUNT, extractKey,
} from '../../../src/datapath/extract.js';
import {
  arpSha, arpTha, dlType, ethDst, ethSrc, FRAG_FIRST, FRAG_LATER, FRAG_NONE, inPort, ipv4ToString,
  ipv6ToString, KEY_WORDS, macFromString, nwFrag, nwProto, nwTos, nwTtl, tpDst, tpSrc, vlanTci,
  W_IPV6_LABEL, W_ND_TARGET, W_NW_DST, W_NW_SRC,
} from '../../../src/lib/flow-key.js';
import { arpFrame, ethFrame, ipv4Frame, ipv6Frame, ndFrame } from '../../../src/lib/packet.js';

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';

function extract(frame: Uint8Array, port = 3): { r: number; k: Uint32Array } {
  // Put the frame at an odd offset in a bigger buffer with garbage around it, like a batch slot.
  const buf = new Uint8Array(frame.length + 64).fill(0xee);
  buf.set(frame, 17);
  const k = new Uint32Array(KEY_WORDS * 2).fill(0xdeadbeef);
  const r = extractKey(buf, 17, frame.length, port, k, KEY_WORDS);
  expect(Array.from(k.subarray(0, KEY_WORDS)).every((w) => w === 0xdeadbeef)).toBe(true); // writes only its key
  return { r, k: k.slice(KEY_WORDS) };
}

describe('extractKey: Ethernet and VLAN', () => {
  it('fills in_port, MACs and dl_type of a plain frame', () => {
    const { r, k } = extract(ethFrame({ src: A, dst: B }, 0x88cc, new Uint8Array(46)), 7);
    expect(r).toBe(EXTRACT_OK);
    expect(inPort(k)).toBe(7);
    expect(ethSrc(k)).toBe(macFromString(A));
    expect(ethDst(k)).toBe(macFromString(B));
    expect(dlType(k)).toBe(0x88cc);
    expect(vlanTci(k)).toBe(0);
    expect(Array.from(k.subarray(5))).toEqual(new Array(KEY_WORDS - 5).fill(0));
  });

  it('parses one 802.1Q tag: vlan_tci has VID, PCP and CFI; dl_type is the inner type', () => {
    const f = ipv4Frame({ src: A, dst: B, vlan: { vid: 100, pcp: 5 } }, { src: '10.0.0.1', dst: '10.0.0.2' }, { udp: { src: 1, dst: 2 } });
    const { r, k } = extract(f);
    expect(r).toBe(EXTRACT_OK);
    expect(vlanTci(k)).toBe(100 | (5 << 13) | 0x1000);
    expect(dlType(k)).toBe(0x0800);
    expect(tpSrc(k)).toBe(1);
    expect(tpDst(k)).toBe(2);
  });

  it('a tag with VID 0 still differs from no tag (CFI set)', () => {
    const { k } = extract(ethFrame({ vlan: { vid: 0 } }, 0x88cc, new Uint8Array(46)));
    expect(vlanTci(k)).toBe(0x1000);
  });

  it('parses an 802.1ad outer tag; an inner tag stays as dl_type 0x8100', () => {
    const inner = ethFrame({ src: A, dst: B, vlan: { vid: 20 } }, 0x0800, new Uint8Array(30));
    const outer = new Uint8Array(inner.length + 4);
    outer.set(inner.subarray(0, 12), 0);
    outer.set([0x88, 0xa8, 0x00, 0x0a], 12); // S-tag VID 10
    outer.set(inner.subarray(12), 16);
    const { r, k } = extract(outer);
    expect(r).toBe(EXTRACT_OK);
    expect(vlanTci(k)).toBe(10 | 0x1000);
    expect(dlType(k)).toBe(0x8100);
  });

  it('802.3 frames: LLC/SNAP type is used, plain LLC is dl_type 0x05ff', () => {
    const snap = ethFrame({}, 60, Uint8Array.from([0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x06, ...new Array(40).fill(0)]));
    expect(dlType(extract(snap).k)).toBe(0x0806);
    const llc = ethFrame({}, 60, Uint8Array.from([0x42, 0x42, 0x03, ...new Array(43).fill(0)]));
    expect(dlType(extract(llc).k)).toBe(DL_TYPE_NONE);
  });

  it('runts (< 14 bytes) are drops; the key is still zeroed apart from in_port', () => {
    for (let len = 0; len < 14; len++) {
      const { r, k } = extract(new Uint8Array(len).fill(0xff), 9);
      expect(r).toBe(EXTRACT_RUNT);
      expect(k[0]).toBe(9);
      expect(Array.from(k.subarray(1))).toEqual(new Array(KEY_WORDS - 1).fill(0));
    }
    expect(extract(new Uint8Array(14)).r).toBe(EXTRACT_OK);
  });

  it('a truncated VLAN tag is a bad header, not a drop', () => {
    const f = ethFrame({ vlan: { vid: 5 } }, 0x0800).subarray(0, 16);
    const { r, k } = extract(f);
    expect(r).toBe(EXTRACT_BAD_HEADER);
    expect(dlType(k)).toBe(0x8100);
    expect(vlanTci(k)).toBe(0);
  });
});

describe('extractKey: IPv4', () => {
  it('TCP: addresses, proto, tos, ttl, ports', () => {
    const f = ipv4Frame({}, { src: '192.168.1.10', dst: '10.1.2.3', tos: 0xb8, ttl: 33 }, { tcp: { src: 40000, dst: 443 } });
    const { r, k } = extract(f);
    expect(r).toBe(EXTRACT_OK);
    expect(dlType(k)).toBe(0x0800);
    expect(ipv4ToString(k[W_NW_SRC])).toBe('192.168.1.10');
    expect(ipv4ToString(k[W_NW_DST])).toBe('10.1.2.3');
    expect(nwProto(k)).toBe(6);
    expect(nwTos(k)).toBe(0xb8);
    expect(nwTtl(k)).toBe(33);
    expect(nwFrag(k)).toBe(FRAG_NONE);
    expect(tpSrc(k)).toBe(40000);
    expect(tpDst(k)).toBe(443);
  });

  it('UDP, SCTP and ICMP', () => {
    let { k } = extract(ipv4Frame({}, { src: '1.1.1.1', dst: '2.2.2.2' }, { udp: { src: 53, dst: 5353 } }));
    expect([nwProto(k), tpSrc(k), tpDst(k)]).toEqual([17, 53, 5353]);
    ({ k } = extract(ipv4Frame({}, { src: '1.1.1.1', dst: '2.2.2.2' }, { sctp: { src: 9, dst: 10 } })));
    expect([nwProto(k), tpSrc(k), tpDst(k)]).toEqual([132, 9, 10]);
    ({ k } = extract(ipv4Frame({}, { src: '1.1.1.1', dst: '2.2.2.2' }, { icmp: { type: 8, code: 0 } })));
    expect([nwProto(k), tpSrc(k), tpDst(k)]).toEqual([1, 8, 0]);
    ({ k } = extract(ipv4Frame({}, { src: '1.1.1.1', dst: '2.2.2.2' }, { icmp: { type: 3, code: 4 } })));
    expect([tpSrc(k), tpDst(k)]).toEqual([3, 4]);
  });

  it('skips IP options using IHL', () => {
    const f = ipv4Frame({}, { src: '1.1.1.1', dst: '2.2.2.2', options: Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 0]) }, { udp: { src: 7, dst: 8 } });
    const { r, k } = extract(f);
    expect(r).toBe(EXTRACT_OK);
    expect([tpSrc(k), tpDst(k)]).toEqual([7, 8]);
  });

  it('fragments: first has L4, later has none', () => {
    let { r, k } = extract(ipv4Frame({}, { src: '1.1.1.1', dst: '2.2.2.2', mf: true }, { udp: { src: 7, dst: 8 } }, new Uint8Array(16)));
    expect(r).toBe(EXTRACT_OK);
    expect(nwFrag(k)).toBe(FRAG_FIRST);
    expect([tpSrc(k), tpDst(k)]).toEqual([7, 8]);
    ({ r, k } = extract(ipv4Frame({}, { src: '1.1.1.1', dst: '2.2.2.2', fragOffset: 1480, proto: 17 }, undefined, new Uint8Array(40).fill(0x55))));
    expect(r).toBe(EXTRACT_OK);
    expect(nwFrag(k)).toBe(FRAG_LATER);
    expect(nwProto(k)).toBe(17);
    expect(k[14]).toBe(0);
    // DF alone is not a fragment
    ({ k } = extract(ipv4Frame({}, { src: '1.1.1.1', dst: '2.2.2.2', df: true }, { udp: { src: 7, dst: 8 } })));
    expect(nwFrag(k)).toBe(FRAG_NONE);
  });

  it('ignores Ethernet padding after a short IP packet', () => {
    // ICMP 8 bytes; frame padded to 60 with bytes that would be wrong if parsed
    const f = ipv4Frame({}, { src: '1.1.1.1', dst: '2.2.2.2' }, { icmp: { type: 0, code: 0 } });
    const padded = new Uint8Array(60).fill(0x99);
    padded.set(f);
    const { r, k } = extract(padded);
    expect(r).toBe(EXTRACT_OK);
    expect([tpSrc(k), tpDst(k)]).toEqual([0, 0]);
  });

  it('truncated IPv4 header: L2 kept, L3 zero, bad header', () => {
    const f = ipv4Frame({ src: A }, { src: '1.1.1.1', dst: '2.2.2.2' }, { udp: { src: 7, dst: 8 } });
    for (const cut of [14, 20, 33]) {
      const { r, k } = extract(f.subarray(0, cut));
      expect(r).toBe(EXTRACT_BAD_HEADER);
      expect(ethSrc(k)).toBe(macFromString(A));
      expect(dlType(k)).toBe(0x0800);
      expect(k[W_NW_SRC]).toBe(0);
      expect(k[13]).toBe(0);
    }
  });

  it('truncated L4 header: L3 kept, ports zero, bad header', () => {
    const f = ipv4Frame({}, { src: '1.1.1.1', dst: '2.2.2.2' }, { tcp: { src: 7, dst: 8 } });
    // Shorten the frame and the IP total length together so only the TCP header is short.
    const cut = f.slice(0, 14 + 20 + 10);
    cut[16] = 0;
    cut[17] = 30;
    const { r, k } = extract(cut);
    expect(r).toBe(EXTRACT_BAD_HEADER);
    expect(nwProto(k)).toBe(6);
    expect(ipv4ToString(k[W_NW_DST])).toBe('2.2.2.2');
    expect(k[14]).toBe(0);
  });

  it('bad version, IHL < 5 and total length beyond the frame are bad headers', () => {
    const f = ipv4Frame({}, { src: '1.1.1.1', dst: '2.2.2.2' }, { udp: { src: 7, dst: 8 } });
    const v = f.slice();
    v[14] = 0x55;
    expect(extract(v).r).toBe(EXTRACT_BAD_HEADER);
    const ihl = f.slice();
    ihl[14] = 0x44;
    expect(extract(ihl).r).toBe(EXTRACT_BAD_HEADER);
    const tot = f.slice();
    tot[16] = 0x10;
    expect(extract(tot).r).toBe(EXTRACT_BAD_HEADER);
    expect(extract(tot).k[W_NW_SRC]).toBe(0);
  });
});

describe('extractKey: IPv6', () => {
  it('UDP over IPv6: addresses, label, tclass, hlimit, ports', () => {
    const f = ipv6Frame({}, { src: '2001:db8::1', dst: 'fe80::2', label: 0x12345, tclass: 0x28, hlimit: 7 }, { udp: { src: 546, dst: 547 } });
    const { r, k } = extract(f);
    expect(r).toBe(EXTRACT_OK);
    expect(dlType(k)).toBe(0x86dd);
    expect(ipv6ToString(k, W_NW_SRC)).toBe('2001:db8::1');
    expect(ipv6ToString(k, W_NW_DST)).toBe('fe80::2');
    expect(k[W_IPV6_LABEL]).toBe(0x12345);
    expect(nwTos(k)).toBe(0x28);
    expect(nwTtl(k)).toBe(7);
    expect([nwProto(k), tpSrc(k), tpDst(k)]).toEqual([17, 546, 547]);
  });

  it('skips hop-by-hop, routing, destination options and AH headers', () => {
    const f = ipv6Frame({}, {
      src: '::1', dst: '::2',
      ext: [{ type: 0, data: new Uint8Array(6) }, { type: 43, data: new Uint8Array(14) }, { type: 51, data: new Uint8Array(4) }, { type: 60 }],
    }, { tcp: { src: 22, dst: 50000 } });
    const { r, k } = extract(f);
    expect(r).toBe(EXTRACT_OK);
    expect([nwProto(k), tpSrc(k), tpDst(k), nwFrag(k)]).toEqual([6, 22, 50000, FRAG_NONE]);
  });

  it('fragment header: first fragment parses L4, later does not', () => {
    let { r, k } = extract(ipv6Frame({}, { src: '::1', dst: '::2', ext: [{ type: 44, more: true }] }, { udp: { src: 1, dst: 2 } }));
    expect(r).toBe(EXTRACT_OK);
    expect([nwProto(k), nwFrag(k), tpSrc(k), tpDst(k)]).toEqual([17, FRAG_FIRST, 1, 2]);
    ({ r, k } = extract(ipv6Frame({}, { src: '::1', dst: '::2', ext: [{ type: 60 }, { type: 44, fragOffset: 1448 }], proto: 17 }, undefined, new Uint8Array(24))));
    expect(r).toBe(EXTRACT_OK);
    expect([nwProto(k), nwFrag(k), k[14]]).toEqual([17, FRAG_LATER, 0]);
  });

  it('ICMPv6 echo and neighbour discovery (target, sll, tll)', () => {
    let { k } = extract(ipv6Frame({}, { src: '::1', dst: '::2' }, { icmpv6: { type: 128, code: 0 } }));
    expect([nwProto(k), tpSrc(k), tpDst(k)]).toEqual([58, 128, 0]);
    expect(k[W_ND_TARGET]).toBe(0);
    let r: number;
    ({ r, k } = extract(ndFrame({}, { src: 'fe80::1', dst: 'ff02::1:ff00:2' }, { type: 135, target: 'fe80::2', lla: A })));
    expect(r).toBe(EXTRACT_OK);
    expect([tpSrc(k), tpDst(k)]).toEqual([135, 0]);
    expect(ipv6ToString(k, W_ND_TARGET)).toBe('fe80::2');
    expect(arpSha(k)).toBe(macFromString(A));
    expect(arpTha(k)).toBe(0);
    ({ r, k } = extract(ndFrame({}, { src: 'fe80::2', dst: 'fe80::1' }, { type: 136, target: 'fe80::2', lla: B })));
    expect(r).toBe(EXTRACT_OK);
    expect(arpSha(k)).toBe(0);
    expect(arpTha(k)).toBe(macFromString(B));
  });

  it('ND with a zero-length option is a bad header and clears the ND fields', () => {
    const f = ndFrame({}, { src: 'fe80::1', dst: 'fe80::2' }, { type: 135, target: 'fe80::2', lla: A });
    f[f.length - 7] = 0; // option length 0
    const { r, k } = extract(f);
    expect(r).toBe(EXTRACT_BAD_HEADER);
    expect(k[W_ND_TARGET + 3]).toBe(0);
    expect(arpSha(k)).toBe(0);
    expect(tpSrc(k)).toBe(135);
  });

  it('truncated IPv6 and extension headers are bad headers', () => {
    const f = ipv6Frame({}, { src: '::1', dst: '::2', ext: [{ type: 0, data: new Uint8Array(14) }] }, { udp: { src: 1, dst: 2 } });
    expect(extract(f.subarray(0, 50)).r).toBe(EXTRACT_BAD_HEADER);
    const short = f.slice();
    short[19] = 4; // payload length 4: the 16-byte hop-by-hop header does not fit
    const { r, k } = extract(short);
    expect(r).toBe(EXTRACT_BAD_HEADER);
    expect(ipv6ToString(k, W_NW_DST)).toBe('::2');
    expect(k[14]).toBe(0);
  });
});

describe('extractKey: ARP', () => {
  it('op, spa, tpa, sha, tha', () => {
    const f = arpFrame({ src: A, dst: 'ff:ff:ff:ff:ff:ff' }, { op: 2, sha: A, spa: '10.0.0.1', tha: B, tpa: '10.0.0.2' });
    const { r, k } = extract(f);
    expect(r).toBe(EXTRACT_OK);
    expect(dlType(k)).toBe(0x0806);
    expect(nwProto(k)).toBe(2);
    expect(ipv4ToString(k[W_NW_SRC])).toBe('10.0.0.1');
    expect(ipv4ToString(k[W_NW_DST])).toBe('10.0.0.2');
    expect(arpSha(k)).toBe(macFromString(A));
    expect(arpTha(k)).toBe(macFromString(B));
  });

  it('truncated ARP is a bad header with no ARP fields; op > 255 reads as 0', () => {
    const f = arpFrame({}, { op: 1, sha: A, spa: '10.0.0.1', tpa: '10.0.0.2' });
    const { r, k } = extract(f.subarray(0, 40));
    expect(r).toBe(EXTRACT_BAD_HEADER);
    expect(k[W_NW_SRC]).toBe(0);
    const big = f.slice();
    big[20] = 1;
    expect(nwProto(extract(big).k)).toBe(0);
  });
});

describe('extractKey: robustness', () => {
  it('random garbage and random truncations never throw and never write outside the key', () => {
    let seed = 12345;
    const rnd = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 8;
    };
    const templates = [
      ipv4Frame({ vlan: { vid: 3 } }, { src: '1.2.3.4', dst: '5.6.7.8', options: new Uint8Array(4) }, { tcp: { src: 1, dst: 2 } }),
      ipv6Frame({}, { src: '::1', dst: '::2', ext: [{ type: 0 }, { type: 44 }] }, { udp: { src: 1, dst: 2 } }),
      ndFrame({}, { src: 'fe80::1', dst: 'fe80::2' }, { type: 135, target: 'fe80::3', lla: A }),
      arpFrame({}, { op: 1, sha: A, spa: '1.1.1.1', tpa: '2.2.2.2' }),
    ];
    const buf = new Uint8Array(2048);
    const key = new Uint32Array(KEY_WORDS * 3);
    for (let iter = 0; iter < 20000; iter++) {
      let len: number;
      if (iter % 2 === 0) {
        const t = templates[iter % templates.length];
        buf.set(t, 64);
        len = rnd() % (t.length + 1);
        const flips = rnd() % 4;
        for (let j = 0; j < flips; j++) buf[64 + (rnd() % t.length)] = rnd() & 0xff;
      } else {
        len = rnd() % 300;
        for (let j = 0; j < len; j++) buf[64 + j] = rnd() & 0xff;
        if (len > 14 && rnd() % 2) { buf[64 + 12] = [0x08, 0x86, 0x81, 0x08][rnd() % 4]; buf[64 + 13] = [0x00, 0xdd, 0x00, 0x06][rnd() % 4]; }
      }
      key.fill(0xabcdef01);
      const r = extractKey(buf, 64, len, 1, key, KEY_WORDS);
      expect(r === EXTRACT_OK || r === EXTRACT_RUNT || r === EXTRACT_BAD_HEADER).toBe(true);
      expect(key[KEY_WORDS - 1]).toBe(0xabcdef01);
      expect(key[2 * KEY_WORDS]).toBe(0xabcdef01);
      expect(key[KEY_WORDS + 23]).toBe(0); // reserved word stays zero
    }
  });

  it('a length past the end of the buffer is clipped, not read beyond', () => {
    const f = ipv4Frame({}, { src: '1.1.1.1', dst: '2.2.2.2' }, { udp: { src: 1, dst: 2 } });
    const key = new Uint32Array(KEY_WORDS);
    expect(extractKey(f, 0, f.length + 1000, 1, key, 0)).toBe(EXTRACT_OK);
    expect(tpDst(key)).toBe(2);
    expect(extractKey(f, f.length - 5, 1000, 1, key, 0)).toBe(EXTRACT_RUNT);
  });
});
