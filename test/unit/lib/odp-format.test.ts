import { describe, expect, it } from 'vitest';
import { extractKey } from '../../../src/datapath/extract.js';
import { ACT_OUTPUT, ACT_POP_VLAN, ACT_PUSH_VLAN } from '../../../src/lib/dpif-proto.js';
import { KEY_WORDS, W_ARP_MID, W_ARP_SHA_HI, W_IN_PORT, W_IPV6_LABEL, W_NW, W_NW_DST, W_NW_SRC, W_TP, W_TYPE_TCI } from '../../../src/lib/flow-key.js';
import { exactMask, Wildcards } from '../../../src/lib/flow-mask.js';
import { formatActions, formatFlow, formatKey, formatMaskedKey, formatStats } from '../../../src/lib/odp-format.js';
import { arpFrame, ethFrame, ipv4Frame, ipv6Frame, ndFrame } from '../../../src/lib/packet.js';

const A = '02:00:00:00:00:01';
const B = '02:00:00:00:00:02';

function keyOf(frame: Uint8Array, port = 1): Uint32Array {
  const k = new Uint32Array(KEY_WORDS);
  extractKey(frame, 0, frame.length, port, k, 0);
  return k;
}

describe('odp-format', () => {
  it('formats an ICMP flow like ovs-dpctl dump-flows', () => {
    const k = keyOf(ipv4Frame({ src: A, dst: B }, { src: '10.0.0.1', dst: '10.0.0.2' }, { icmp: { type: 8, code: 0 } }));
    const line = formatFlow(k, [ACT_OUTPUT, 2, ACT_OUTPUT, 3], { packets: 3, bytes: 294, used: 10_000 }, { now: 10_504 });
    expect(line).toBe(
      'in_port(1),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),eth_type(0x0800),' +
        'ipv4(src=10.0.0.1,dst=10.0.0.2,proto=1,tos=0,ttl=64,frag=no),icmp(type=8,code=0), ' +
        'packets:3, bytes:294, used:0.504s, actions:2,3',
    );
  });

  it('tos in hex as OVS prints it, TCP/UDP ports, fragments', () => {
    const tcp = keyOf(ipv4Frame({ src: A, dst: B }, { src: '1.2.3.4', dst: '5.6.7.8', tos: 0x10, ttl: 3 }, { tcp: { src: 1234, dst: 80 } }));
    expect(formatKey(tcp)).toContain('ipv4(src=1.2.3.4,dst=5.6.7.8,proto=6,tos=0x10,ttl=3,frag=no),tcp(src=1234,dst=80)');
    const udp = keyOf(ipv4Frame({}, { src: '1.2.3.4', dst: '5.6.7.8', mf: true }, { udp: { src: 53, dst: 9 } }));
    expect(formatKey(udp)).toMatch(/frag=first\),udp\(src=53,dst=9\)$/);
    const later = keyOf(ipv4Frame({}, { src: '1.2.3.4', dst: '5.6.7.8', fragOffset: 8, proto: 17 }, undefined, new Uint8Array(8)));
    expect(formatKey(later)).toMatch(/proto=17,tos=0,ttl=64,frag=later\)$/);
  });

  it('VLAN as eth_type(0x8100),vlan(...),encap(...)', () => {
    const k = keyOf(ipv4Frame({ src: A, dst: B, vlan: { vid: 10, pcp: 0 } }, { src: '10.0.0.1', dst: '10.0.0.2' }, { udp: { src: 1, dst: 2 } }), 4);
    expect(formatKey(k)).toBe(
      'in_port(4),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),eth_type(0x8100),vlan(vid=10,pcp=0),' +
        'encap(eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2))',
    );
  });

  it('ARP', () => {
    const k = keyOf(arpFrame({ src: A, dst: 'ff:ff:ff:ff:ff:ff' }, { op: 1, sha: A, spa: '10.0.0.1', tpa: '10.0.0.2' }));
    expect(formatKey(k)).toBe(
      'in_port(1),eth(src=02:00:00:00:00:01,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0806),' +
        'arp(sip=10.0.0.1,tip=10.0.0.2,op=1,sha=02:00:00:00:00:01,tha=00:00:00:00:00:00)',
    );
  });

  it('IPv6, ICMPv6 and ND', () => {
    const u = keyOf(ipv6Frame({ src: A, dst: B }, { src: '2001:db8::1', dst: '2001:db8::2', label: 0x12345, hlimit: 64 }, { udp: { src: 1, dst: 2 } }));
    expect(formatKey(u)).toContain('eth_type(0x86dd),ipv6(src=2001:db8::1,dst=2001:db8::2,label=0x12345,proto=17,tclass=0,hlimit=64,frag=no),udp(src=1,dst=2)');
    const ns = keyOf(ndFrame({ src: A, dst: '33:33:ff:00:00:02' }, { src: 'fe80::1', dst: 'ff02::1:ff00:2' }, { type: 135, target: 'fe80::2', lla: A }));
    expect(formatKey(ns)).toMatch(/,icmpv6\(type=135,code=0\),nd\(target=fe80::2,sll=02:00:00:00:00:01,tll=00:00:00:00:00:00\)$/);
  });

  it('a non-Ethernet-II frame has no eth_type; an unknown type prints just eth_type', () => {
    expect(formatKey(keyOf(ethFrame({ src: A, dst: B }, 50, new Uint8Array(46))))).toBe('in_port(1),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02)');
    expect(formatKey(keyOf(ethFrame({ src: A, dst: B }, 0x88cc, new Uint8Array(46))))).toMatch(/\),eth_type\(0x88cc\)$/);
  });

  it('actions: drop, push_vlan, pop_vlan, port names', () => {
    expect(formatActions([])).toBe('drop');
    expect(formatActions([ACT_PUSH_VLAN, 0x1000 | 10, ACT_OUTPUT, 2, ACT_POP_VLAN, ACT_OUTPUT, 3])).toBe('push_vlan(vid=10,pcp=0),2,pop_vlan,3');
    expect(formatActions([ACT_PUSH_VLAN, 0x1000 | (5 << 13) | 4094])).toBe('push_vlan(vid=4094,pcp=5)');
    const names = new Map([[2, 'vm2']]);
    expect(formatActions([ACT_OUTPUT, 2, ACT_OUTPUT, 3], names)).toBe('vm2,3');
    expect(formatActions([ACT_OUTPUT, 2], (n) => (n === 2 ? 'eth0' : undefined))).toBe('eth0');
    expect(formatActions([ACT_OUTPUT])).toMatch(/^<bad action/);
  });

  it('stats: used never, in_port name', () => {
    expect(formatStats({ packets: 0, bytes: 0, used: 0 })).toBe('packets:0, bytes:0, used:never');
    const k = keyOf(ethFrame({ src: A, dst: B }, 0x88cc, new Uint8Array(46)), 7);
    expect(formatFlow(k, [], { packets: 0, bytes: 0, used: 0 }, { names: new Map([[7, 'tap7']]) })).toBe(
      'in_port(tap7),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),eth_type(0x88cc), packets:0, bytes:0, used:never, actions:drop',
    );
    expect(formatFlow(k, [ACT_OUTPUT, 1])).toMatch(/eth_type\(0x88cc\), actions:1$/);
  });
});

describe('odp-format with masks (megaflows)', () => {
  function normal(k: Uint32Array): Uint32Array {
    const wc = new Wildcards();
    wc.initForKey(k);
    wc.vlanTci();
    wc.ethDst();
    wc.ethSrc();
    return wc.mask;
  }

  it('a NORMAL megaflow prints like OVS: recirc_id, in_port, eth, eth_type, ipv4(frag=no)', () => {
    const k = keyOf(ipv4Frame({ src: A, dst: B }, { src: '10.0.0.1', dst: '10.0.0.2' }, { tcp: { src: 1234, dst: 80 } }), 3);
    const m = normal(k);
    expect(formatMaskedKey(k, m)).toBe('recirc_id(0),in_port(3),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),eth_type(0x0800),ipv4(frag=no)');
    expect(formatFlow(k, [1, 2], { packets: 1, bytes: 60, used: 0 }, { mask: m, names: new Map([[3, 'vm3']]) })).toBe(
      'recirc_id(0),in_port(vm3),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),eth_type(0x0800),ipv4(frag=no), packets:1, bytes:60, used:never, actions:2',
    );
    // Not IP: no frag; only in_port: everything else left out.
    const arp = keyOf(arpFrame({ src: A, dst: 'ff:ff:ff:ff:ff:ff' }, { op: 1, sha: A, spa: '10.0.0.1', tpa: '10.0.0.2' }));
    expect(formatMaskedKey(arp, normal(arp))).toBe('recirc_id(0),in_port(1),eth(src=02:00:00:00:00:01,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0806)');
    const onlyPort = new Uint32Array(KEY_WORDS);
    onlyPort[W_IN_PORT] = 0xffffffff;
    expect(formatMaskedKey(arp, onlyPort)).toBe('recirc_id(0),in_port(1)');
  });

  it('partial masks print value/mask; exact masks print every field as without a mask', () => {
    const k = keyOf(ipv4Frame({ src: A, dst: B }, { src: '10.1.2.3', dst: '10.0.0.2', tos: 0x10 }, { tcp: { src: 1234, dst: 80 } }));
    const m = new Uint32Array(KEY_WORDS);
    m[W_IN_PORT] = 0xffffffff;
    m[1] = 0x01000000; // dl_dst multicast bit only
    m[W_TYPE_TCI] = 0xffff0000;
    m[W_NW_SRC] = 0xffffff00;
    m[W_NW] = 0xfffc00ff; // proto, tos/0xfc, frag
    m[W_TP] = 0x0000fff0; // tp_dst/0xfff0
    expect(formatMaskedKey(k, m)).toBe(
      'recirc_id(0),in_port(1),eth(dst=00:00:00:00:00:00/01:00:00:00:00:00),eth_type(0x0800),' +
        'ipv4(src=10.1.2.0/255.255.255.0,proto=6,tos=0x10/0xfc,frag=no),tcp(dst=80/0xfff0)',
    );
    const exact = formatMaskedKey(k, exactMask());
    expect(exact).toBe(`recirc_id(0),${formatKey(k)}`);
  });

  it('VLAN, IPv6 label, ARP sha and ICMP under masks', () => {
    const tagged = keyOf(ipv4Frame({ src: A, dst: B, vlan: { vid: 10, pcp: 3 } }, { src: '10.0.0.1', dst: '10.0.0.2' }, { udp: { src: 1, dst: 2 } }));
    expect(formatMaskedKey(tagged, normal(tagged))).toBe(
      'recirc_id(0),in_port(1),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),eth_type(0x8100),vlan(vid=10,pcp=3),encap(eth_type(0x0800),ipv4(frag=no))',
    );
    const vidOnly = normal(tagged);
    vidOnly[W_TYPE_TCI] = (vidOnly[W_TYPE_TCI] & 0xffff1fff) >>> 0; // pcp wildcarded
    expect(formatMaskedKey(tagged, vidOnly)).toContain('vlan(vid=10),encap(');
    const v6 = keyOf(ipv6Frame({ src: A, dst: B }, { src: '2001:db8::1', dst: '2001:db8::2', label: 0x12345 }, { udp: { src: 1, dst: 2 } }));
    const m6 = normal(v6);
    m6[W_IPV6_LABEL] = 0xf0000;
    m6[W_NW_DST] = 0xffffffff;
    expect(formatMaskedKey(v6, m6)).toBe(
      'recirc_id(0),in_port(1),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),eth_type(0x86dd),ipv6(dst=2001:db8::/ffff:ffff::,label=0x10000/0xf0000,frag=no)',
    );
    const arp = keyOf(arpFrame({ src: A, dst: 'ff:ff:ff:ff:ff:ff' }, { op: 2, sha: A, spa: '10.0.0.1', tpa: '10.0.0.2' }));
    const ma = normal(arp);
    ma[W_NW] = 0xff000000;
    ma[W_ARP_SHA_HI] = 0xffffffff;
    ma[W_ARP_MID] = 0xffff0000;
    ma[W_NW_DST] = 0xffffffff;
    expect(formatMaskedKey(arp, ma)).toMatch(/,eth_type\(0x0806\),arp\(tip=10\.0\.0\.2,op=2,sha=02:00:00:00:00:01\)$/);
    const icmp = keyOf(ipv4Frame({ src: A, dst: B }, { src: '10.0.0.1', dst: '10.0.0.2' }, { icmp: { type: 8, code: 0 } }));
    const mi = normal(icmp);
    mi[W_NW] = 0xff0000ff;
    mi[W_TP] = 0x00ff0000; // type only
    expect(formatMaskedKey(icmp, mi)).toMatch(/ipv4\(proto=1,frag=no\),icmp\(type=8\)$/);
  });
});
