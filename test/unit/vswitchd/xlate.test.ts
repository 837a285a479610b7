import { describe, expect, it } from 'vitest';
import { ACT_OUTPUT, ACT_POP_VLAN, ACT_PUSH_VLAN } from '../../../src/lib/dpif-proto.js';
import {
  ETH_TYPE_IP, VLAN_CFI, W_ETH_DST_HI, W_ETH_MID, W_ETH_SRC_LO, W_IN_PORT, W_NW, W_NW_DST, W_NW_SRC, W_TP, W_TYPE_TCI, newKey, setEth,
} from '../../../src/lib/flow-key.js';
import { maskKeyInto, Wildcards } from '../../../src/lib/flow-mask.js';
import { Bridge, BridgePort, TRUNK_ALL, type VlanConfig } from '../../../src/vswitchd/bridge.js';
import {
  OdpActions,
  XR_DROP_RESERVED,
  XR_DROP_SAME_PORT,
  XR_DROP_VLAN,
  XR_FLOOD,
  XR_UNICAST,
  xlateNormal,
} from '../../../src/vswitchd/xlate.js';

const A = 0x020000000001;
const B = 0x020000000002;
const BCAST = 0xffffffffffff;

/** Bridge br0 with ports ofport i -> datapath port 10+i. */
function bridge(vlans: VlanConfig[]): { br: Bridge; p: BridgePort[] } {
  const br = new Bridge('br0', 'u');
  const p: BridgePort[] = [];
  vlans.forEach((v, i) => {
    const bp = new BridgePort(br, `p${i + 1}`, 'tap', `p${i + 1}`, i + 1, 11 + i, v);
    br.portsByOfport.set(i + 1, bp);
    p.push(bp);
  });
  br.reindex();
  return { br, p };
}

function key(inPort: number, dst: number, src: number, tci = 0): Uint32Array {
  const k = newKey();
  k[W_IN_PORT] = inPort;
  setEth(k, dst, src);
  k[W_TYPE_TCI] = (ETH_TYPE_IP << 16) | tci;
  return k;
}

function run(br: Bridge, p: BridgePort, k: Uint32Array, learn = true, now = 1000): { r: number; acts: number[] } {
  const out = new OdpActions();
  const r = xlateNormal(br, p, k, learn, now, out);
  return { r, acts: out.toArray() };
}

const out = (...ports: number[]): number[] => ports.flatMap((n) => [ACT_OUTPUT, n]);

describe('xlateNormal (NORMAL)', () => {
  it('floods unknown unicast to every port but the ingress one, and learns the source', () => {
    const { br, p } = bridge([TRUNK_ALL, TRUNK_ALL, TRUNK_ALL]);
    const { r, acts } = run(br, p[0], key(11, B, A));
    expect(r).toBe(XR_FLOOD);
    expect(acts).toEqual(out(12, 13));
    expect(br.macs.lookup(A, 0)).toBe(1);
    expect(br.counters.flood).toBe(1);
  });

  it('sends known unicast out the learned port only', () => {
    const { br, p } = bridge([TRUNK_ALL, TRUNK_ALL, TRUNK_ALL]);
    run(br, p[0], key(11, B, A));
    const { r, acts } = run(br, p[1], key(12, A, B));
    expect(r).toBe(XR_UNICAST);
    expect(acts).toEqual(out(11));
    expect(br.macs.lookup(B, 0)).toBe(2);
  });

  it('never sends a frame back out its ingress port', () => {
    const { br, p } = bridge([TRUNK_ALL, TRUNK_ALL]);
    br.macs.learn(B, 0, 1, 0);
    const { r, acts } = run(br, p[0], key(11, B, A));
    expect(r).toBe(XR_DROP_SAME_PORT);
    expect(acts).toEqual([]);
    expect(br.counters.drop_same_port).toBe(1);
  });

  it('floods broadcast and multicast even when the address was somehow learned', () => {
    const { br, p } = bridge([TRUNK_ALL, TRUNK_ALL, TRUNK_ALL]);
    expect(run(br, p[1], key(12, BCAST, A)).acts).toEqual(out(11, 13));
    expect(run(br, p[2], key(13, 0x01005e000001, B)).acts).toEqual(out(11, 12));
  });

  it('does not learn without `learn` (revalidation) and does not count', () => {
    const { br, p } = bridge([TRUNK_ALL, TRUNK_ALL]);
    const g = br.macs.generation;
    run(br, p[0], key(11, B, A), false);
    expect(br.macs.size).toBe(0);
    expect(br.macs.generation).toBe(g);
    expect(br.counters.flood).toBe(0);
  });

  it('does not learn multicast sources', () => {
    const { br, p } = bridge([TRUNK_ALL, TRUNK_ALL]);
    run(br, p[0], key(11, B, 0x010000000001));
    expect(br.macs.size).toBe(0);
  });

  it('drops reserved multicast unless forward-bpdu', () => {
    const { br, p } = bridge([TRUNK_ALL, TRUNK_ALL]);
    expect(run(br, p[0], key(11, 0x0180c2000000, A)).r).toBe(XR_DROP_RESERVED);
    br.forwardBpdu = true;
    expect(run(br, p[0], key(11, 0x0180c2000000, A)).acts).toEqual(out(12));
  });

  it('keeps VLANs apart: access ports tag on trunks, untag on access', () => {
    const acc10: VlanConfig = { mode: 'access', tag: 10, trunks: null };
    const acc20: VlanConfig = { mode: 'access', tag: 20, trunks: null };
    const { br, p } = bridge([acc10, acc10, acc20, TRUNK_ALL]);
    // Untagged from access VLAN 10: out port 2 as is, then the trunk with a tag; not port 3.
    const f = run(br, p[0], key(11, BCAST, A));
    expect(f.acts).toEqual([...out(12), ACT_PUSH_VLAN, 10 | VLAN_CFI, ...out(14)]);
    expect(br.macs.lookup(A, 10)).toBe(1);
    // Tagged VLAN 10 from the trunk to A: popped, out port 1.
    const u = run(br, p[3], key(14, A, B, 10 | VLAN_CFI | 0x2000));
    expect(u.acts).toEqual([ACT_POP_VLAN, ...out(11)]);
    // A tagged frame on an access port is dropped.
    expect(run(br, p[0], key(11, BCAST, A, 20 | VLAN_CFI)).r).toBe(XR_DROP_VLAN);
    // A trunk limited to VLAN 20 does not accept VLAN 10.
    p[3].vlan = { mode: 'trunk', tag: -1, trunks: new Set([20]) };
    expect(run(br, p[3], key(14, BCAST, B, 10 | VLAN_CFI)).r).toBe(XR_DROP_VLAN);
  });

  it('keeps PCP when tagging and handles native-untagged', () => {
    const native: VlanConfig = { mode: 'native-untagged', tag: 5, trunks: new Set([7]) };
    const { br, p } = bridge([native, TRUNK_ALL]);
    // Untagged on the native port -> VLAN 5, tagged on the trunk.
    expect(run(br, p[0], key(11, BCAST, A)).acts).toEqual([ACT_PUSH_VLAN, 5 | VLAN_CFI, ...out(12)]);
    // VLAN 5 tagged with PCP 3 from the trunk -> untagged on the native port.
    expect(run(br, p[1], key(12, BCAST, B, 5 | VLAN_CFI | (3 << 13))).acts).toEqual([ACT_POP_VLAN, ...out(11)]);
    // VLAN 7 stays tagged through the native port.
    expect(run(br, p[1], key(12, BCAST, B, 7 | VLAN_CFI)).acts).toEqual(out(11));
  });

  it('OdpActions compares with dumped action lists', () => {
    const a = new OdpActions();
    a.output(3);
    expect(a.equals([ACT_OUTPUT, 3])).toBe(true);
    expect(a.equals([ACT_OUTPUT, 4])).toBe(false);
    expect(a.equals([])).toBe(false);
  });
});

describe('xlateNormal wildcards', () => {
  function xl(br: Bridge, p: BridgePort, k: Uint32Array, learn = true): { acts: number[]; mask: number[] } {
    const wc = new Wildcards();
    wc.initForKey(k);
    const o = new OdpActions();
    xlateNormal(br, p, k, learn, 1000, o, wc);
    return { acts: o.toArray(), mask: [...wc.mask] };
  }
  function ipKey(inPort: number, dst: number, src: number, nwSrc: number, tp: number): Uint32Array {
    const k = key(inPort, dst, src);
    k[W_NW_SRC] = nwSrc;
    k[W_NW_DST] = 0x0a000002;
    k[W_NW] = (6 << 24) | (64 << 8);
    k[W_TP] = tp;
    return k;
  }

  it('consults in_port, dl_type, frag, vlan_tci, dl_src and dl_dst, nothing else', () => {
    const { br, p } = bridge([TRUNK_ALL, TRUNK_ALL, TRUNK_ALL]);
    const { mask } = xl(br, p[0], ipKey(11, B, A, 0x0a000001, 0x04d20050));
    const want = new Array(24).fill(0);
    want[W_IN_PORT] = 0xffffffff;
    want[W_ETH_DST_HI] = 0xffffffff;
    want[W_ETH_MID] = 0xffffffff;
    want[W_ETH_SRC_LO] = 0xffffffff;
    want[W_TYPE_TCI] = 0xffffffff;
    want[W_NW] = 0xff;
    expect(mask).toEqual(want);
    // Same mask whether learning or not (the revalidator compares masks), and when unicast.
    expect(xl(br, p[1], ipKey(12, A, B, 1, 2), false).mask).toEqual(want);
    expect(xl(br, p[1], ipKey(12, A, B, 1, 2), true).acts).toEqual(out(11));
    expect(xl(br, p[1], ipKey(12, A, B, 1, 2), true).mask).toEqual(want);
  });

  it('two microflows between the same MACs map to one megaflow; a new source MAC does not', () => {
    const { br, p } = bridge([TRUNK_ALL, TRUNK_ALL, TRUNK_ALL]);
    br.macs.learn(B, 0, 2, 0);
    const k1 = ipKey(11, B, A, 0x0a000001, (1234 << 16) | 80);
    const k2 = ipKey(11, B, A, 0x0a000009, (4321 << 16) | 443);
    const r1 = xl(br, p[0], k1);
    const r2 = xl(br, p[0], k2);
    expect(r1).toEqual(r2);
    const m = Uint32Array.from(r1.mask);
    const mk1 = new Uint32Array(24);
    const mk2 = new Uint32Array(24);
    maskKeyInto(k1, 0, m, 0, mk1, 0);
    maskKeyInto(k2, 0, m, 0, mk2, 0);
    expect([...mk1]).toEqual([...mk2]);
    const k3 = ipKey(11, B, 0x020000000003, 0x0a000001, (1234 << 16) | 80);
    const mk3 = new Uint32Array(24);
    maskKeyInto(k3, 0, m, 0, mk3, 0);
    expect([...mk3]).not.toEqual([...mk1]);
  });

  it('drops narrow down to what decided them: a bad VLAN does not look at MACs', () => {
    const acc10: VlanConfig = { mode: 'access', tag: 10, trunks: null };
    const { br, p } = bridge([acc10, TRUNK_ALL]);
    const k = key(11, B, A, 20 | VLAN_CFI);
    const { acts, mask } = xl(br, p[0], k);
    expect(acts).toEqual([]);
    expect(mask[W_ETH_DST_HI]).toBe(0);
    expect(mask[W_ETH_SRC_LO]).toBe(0);
    expect(mask[W_TYPE_TCI]).toBe(0xffffffff);
    // reserved multicast: dst consulted, src not (no learning before that check)
    const r = xl(br, p[1], key(12, 0x0180c2000000, A));
    expect(r.acts).toEqual([]);
    expect(r.mask[W_ETH_DST_HI]).toBe(0xffffffff);
    expect(r.mask[W_ETH_SRC_LO]).toBe(0);
  });
});

describe('Wildcards', () => {
  it('un-wildcards into a view of a larger array, and helpers compose', () => {
    const big = new Uint32Array(42);
    big[30] = 7;
    const wc = new Wildcards(big);
    wc.initForKey(key(11, B, A)); // IPv4: in_port, dl_type, frag
    wc.tpDst(0xff00);
    wc.nwSrc(0xffffff00);
    expect(big[W_IN_PORT]).toBe(0xffffffff);
    expect(big[W_TYPE_TCI]).toBe(0xffff0000);
    expect(big[W_NW]).toBe(0xff);
    expect(big[W_TP]).toBe(0xff00);
    expect(big[W_NW_SRC]).toBe(0xffffff00);
    expect(big[30]).toBe(7); // beyond the key: untouched
    wc.clear();
    expect(big[W_IN_PORT]).toBe(0);
    expect(() => new Wildcards(new Uint32Array(3))).toThrow(RangeError);
  });
});
