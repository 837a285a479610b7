// The building blocks: bit-field access over the flow layout against a plain bit-array model,
// the classifier's open-addressing maps against Map, value parsing/printing edge cases, and the
// match relations (covers, overlaps) and match checks.
import { describe, expect, it } from 'vitest';
import { KEY_WORDS, newKey } from '../../../../src/lib/flow-key.js';
import { OfpError } from '../../../../src/vswitchd/ofp/errors.js';
import { F_ETH_SRC, F_IPV6_SRC, F_METADATA, F_TCP_DST, F_VLAN_VID, fieldByName } from '../../../../src/vswitchd/ofp/fields.js';
import { IntBuckets, IntCounts } from '../../../../src/vswitchd/ofp/int-map.js';
import {
  bitsOnes, bitsToBytes, bitsZero, bytesToBits, copyBits, dpMaskFromWildcards, getBig, getBits, getWide, OF_W_REG0, OF_WORDS, ofFlowFromKey,
  orOnes, setBig, setBits, setWide,
} from '../../../../src/vswitchd/ofp/layout.js';
import { Match } from '../../../../src/vswitchd/ofp/match.js';
import { validateMatch } from '../../../../src/vswitchd/ofp/match-check.js';
import { parseMatch } from '../../../../src/vswitchd/ofp/match-syntax.js';
import { formatFieldValue, formatIpv6, formatPort, hexAlt, parseFieldValue, parseIpv6, prefixLen } from '../../../../src/vswitchd/ofp/values.js';
import { rng } from './helpers.js';

/** Bit p of the stream, straight from the definition (word p>>5, bit 31-(p&31)). */
const bit = (w: Uint32Array, p: number): number => (w[p >>> 5] >>> (31 - (p & 31))) & 1;
function modelGet(w: Uint32Array, pos: number, width: number): bigint {
  let v = 0n;
  for (let i = 0; i < width; i++) v = (v << 1n) | BigInt(bit(w, pos + i));
  return v;
}

describe('bit access over the flow layout', () => {
  it('agrees with a bit-by-bit model for every position and width', () => {
    const r = rng(1);
    const w = new Uint32Array(OF_WORDS);
    for (let i = 0; i < OF_WORDS; i++) w[i] = Math.floor(r() * 0x100000000);
    for (let trial = 0; trial < 3000; trial++) {
      const width = 1 + Math.floor(r() * 128);
      const pos = Math.floor(r() * (OF_WORDS * 32 - width));
      expect(getBig(w, pos, width)).toBe(modelGet(w, pos, width));
      if (width <= 32) expect(BigInt(getBits(w, pos, width))).toBe(modelGet(w, pos, width));
      if (width <= 52) expect(BigInt(getWide(w, pos, width))).toBe(modelGet(w, pos, width));
      const before = Uint32Array.from(w);
      const v = BigInt.asUintN(width, BigInt(Math.floor(r() * 2 ** 52)) * BigInt(Math.floor(r() * 2 ** 52)));
      if (width <= 32 && trial % 2) setBits(w, pos, width, Number(v));
      else if (width <= 52 && trial % 3) setWide(w, pos, width, Number(v));
      else setBig(w, pos, width, v);
      expect(modelGet(w, pos, width)).toBe(v);
      let untouched = true;
      for (let p = 0; p < OF_WORDS * 32; p += 3) if ((p < pos || p >= pos + width) && bit(w, p) !== bit(before, p)) untouched = false;
      expect(untouched).toBe(true);
      const bytes = bitsToBytes(w, pos, width);
      const back = new Uint32Array(OF_WORDS);
      expect(bytesToBits(bytes, back, pos, width)).toBe(true);
      expect(getBig(back, pos, width)).toBe(v);
    }
  });

  it('copies bit ranges (also overlapping ones in one flow), ORs ones, tests zero/ones', () => {
    const r = rng(2);
    for (let t = 0; t < 500; t++) {
      const w = new Uint32Array(OF_WORDS);
      for (let i = 0; i < OF_WORDS; i++) w[i] = Math.floor(r() * 0x100000000);
      const n = 1 + Math.floor(r() * 100);
      const sp = Math.floor(r() * (OF_WORDS * 32 - n));
      const dp = Math.floor(r() * (OF_WORDS * 32 - n));
      const want = modelGet(w, sp, n);
      copyBits(w, sp, w, dp, n);
      expect(modelGet(w, dp, n)).toBe(want);
    }
    const m = new Uint32Array(OF_WORDS);
    orOnes(m, 80, 48);
    expect(bitsOnes(m, 80, 48)).toBe(true);
    expect(bitsZero(m, 0, 80)).toBe(true);
    expect(bitsZero(m, 128, 100)).toBe(true);
    expect(bytesToBits(Uint8Array.from([0x20, 0]), m, F_VLAN_VID.pos, 13)).toBe(false); // 14th bit set
  });

  it('maps datapath keys to OpenFlow flows and wildcards back to datapath masks', () => {
    const key = newKey();
    key[0] = 7; // datapath port
    key[5] = 0x0a000001;
    const flow = new Uint32Array(OF_WORDS).fill(0xdead);
    ofFlowFromKey(key, 3, flow);
    expect([flow[0], flow[5], flow[OF_W_REG0]]).toEqual([3, 0x0a000001, 0]);
    const wc = new Uint32Array(OF_WORDS);
    wc[5] = 0xffffff00;
    wc[OF_W_REG0] = 0xffffffff;
    const mask = new Uint32Array(KEY_WORDS);
    dpMaskFromWildcards(wc, mask);
    expect([mask[0], mask[5], mask.length]).toEqual([0xffffffff, 0xffffff00, KEY_WORDS]);
  });
});

describe('IntCounts and IntBuckets', () => {
  it('behave like Map under random adds and removes (growth, wraparound, backward shift)', () => {
    const r = rng(3);
    const counts = new IntCounts();
    const buckets = new IntBuckets<number>();
    const mc = new Map<number, number>();
    const mb = new Map<number, number[]>();
    for (let step = 0; step < 20000; step++) {
      // Few distinct keys, many colliding in the low bits, so probe runs are long.
      const k = (Math.floor(r() * 300) * 1024 + (r() < 0.5 ? 7 : 0)) & 0x3fffffff;
      if (r() < 0.55) {
        counts.add(k);
        mc.set(k, (mc.get(k) ?? 0) + 1);
        buckets.set(k, [step]);
        mb.set(k, [step]);
      } else {
        counts.remove(k);
        const c = (mc.get(k) ?? 0) - 1;
        if (c <= 0) mc.delete(k);
        else mc.set(k, c);
        buckets.delete(k);
        mb.delete(k);
      }
      if (step % 97 === 0) {
        let same = true;
        for (let q = 0; q < 300; q++) {
          for (const key of [q * 1024, q * 1024 + 7]) {
            if (counts.has(key) !== mc.has(key) || buckets.get(key)?.[0] !== mb.get(key)?.[0]) same = false;
          }
        }
        expect(same).toBe(true);
        expect(counts.size).toBe(mc.size);
        expect(buckets.size).toBe(mb.size);
        expect([...buckets.values()].length).toBe(mb.size);
      }
    }
  });
});

describe('values', () => {
  it('parses and prints IPv6 as ovs-ofctl does', () => {
    for (const s of ['::', '::1', 'fe80::1', '2001:db8::', '1:2:3:4:5:6:7:8', '1::8', '::ffff:1.2.3.4', '::1.2.3.4', '2001:db8:0:1::1']) {
      expect(formatIpv6(parseIpv6(s)!)).toBe(s);
    }
    expect(formatIpv6(parseIpv6('2001:0db8:0000:0000:0000:0000:0000:0001')!)).toBe('2001:db8::1');
    expect(formatIpv6(parseIpv6('1:0:0:2:0:0:0:3')!)).toBe('1:0:0:2::3');
    for (const bad of ['1::2::3', '1:2:3:4:5:6:7:8:9', 'g::1', '1:2:3:4:5:6:7', '12345::']) expect(parseIpv6(bad)).toBeNull();
  });

  it('prefix lengths, %#x, ports', () => {
    expect(prefixLen(0xffffff00n, 32)).toBe(24);
    expect(prefixLen(0n, 32)).toBe(0);
    expect(prefixLen(0xff00ff00n, 32)).toBe(-1);
    expect(hexAlt(0n)).toBe('0');
    expect(hexAlt(255)).toBe('0xff');
    expect(formatPort(0xfffe)).toBe('LOCAL');
    expect(formatPort(0xfffa)).toBe('NORMAL');
    expect(formatPort(5, { name: () => '7', number: () => undefined })).toBe('"7"');
  });

  it('parses masked values per field format, refusing masks where none are allowed', () => {
    expect(parseFieldValue(F_ETH_SRC, '02:00:00:00:00:01/ff:ff:ff:00:00:00')).toEqual({ value: 0x020000000000n, mask: 0xffffff000000n });
    expect(parseFieldValue(F_IPV6_SRC, '2001:db8::1/32').mask).toBe(0xffffffffn << 96n);
    expect(parseFieldValue(F_TCP_DST, '0x50/0xfff0')).toEqual({ value: 0x50n, mask: 0xfff0n });
    expect(() => parseFieldValue(fieldByName('nw_ttl')!, '3/1')).toThrow(/does not support masking/);
    expect(() => parseFieldValue(F_TCP_DST, '70000')).toThrow(/value too large for tcp_dst \(16 bits\)/);
    expect(formatFieldValue(F_METADATA, 0x10n, 0xf0n)).toBe('0x10/0xf0');
  });
});

describe('Match relations and checks', () => {
  it('covers: a filter selects rules at least as specific that agree with it', () => {
    const ip = parseMatch('ip');
    expect(ip.covers(parseMatch('tcp,nw_dst=10.0.0.1'))).toBe(true);
    expect(ip.covers(parseMatch('arp'))).toBe(false);
    expect(parseMatch('tcp,nw_dst=10.0.0.1').covers(ip)).toBe(false);
    expect(parseMatch('ip,nw_dst=10.0.0.0/8').covers(parseMatch('ip,nw_dst=10.1.0.0/16'))).toBe(true);
    expect(parseMatch('ip,nw_dst=10.1.0.0/16').covers(parseMatch('ip,nw_dst=10.0.0.0/8'))).toBe(false);
    expect(Match.catchAll().covers(ip)).toBe(true);
  });

  it('overlaps: some packet matches both', () => {
    expect(parseMatch('ip,nw_dst=10.0.0.0/8').overlaps(parseMatch('tcp,tp_dst=80'))).toBe(true);
    expect(parseMatch('ip,nw_dst=10.0.0.0/8').overlaps(parseMatch('ip,nw_dst=11.0.0.0/8'))).toBe(false);
    expect(parseMatch('in_port=1').overlaps(parseMatch('in_port=2'))).toBe(false);
    expect(parseMatch('in_port=1').overlaps(parseMatch('dl_vlan=5'))).toBe(true);
  });

  it('validateMatch names the missing prerequisite', () => {
    const check = (m: Match): string => {
      try {
        validateMatch(m);
        return 'ok';
      } catch (e) {
        return (e as OfpError).message;
      }
    };
    expect(check(parseMatch('udp6,ipv6_src=2001:db8::/64,tp_dst=53'))).toBe('ok');
    expect(check(parseMatch('arp,arp_sha=00:00:00:00:00:01'))).toBe('ok');
    expect(check(parseMatch('icmp6,icmp_type=136,nd_tll=00:00:00:00:00:01'))).toBe('ok');
    const m = parseMatch('ip');
    m.setFieldNum(F_TCP_DST, 80);
    expect(check(m)).toBe('tp_dst requires tcp, udp or sctp');
    const v6 = parseMatch('ip');
    v6.setField(F_IPV6_SRC, 1n);
    expect(check(v6)).toBe('ipv6_src requires ipv6');
    const res = new Match();
    res.mask[23] = 1;
    expect(check(res)).toMatch(/belong to no field/);
  });
});
