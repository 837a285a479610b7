/*
 * Flow masks ("wildcards"): which bits of a flow key (src/lib/flow-key.ts) a decision looked at.
 * A mask is a KEY_WORDS Uint32Array laid out like the key; a 1 bit means "this bit of the key
 * was consulted, so a cached flow must match it exactly", a 0 bit means "any value". Used by
 * vswitchd's translation (it un-wildcards every field it reads, then installs key & mask as a
 * megaflow), by the datapath's megaflow table (src/datapath/megaflow.ts) and by the tools that
 * print masked flows (src/lib/odp-format.ts). Control path.
 *
 * How a translation uses it: `wc.initForKey(key)` sets the fields every translation depends on
 * (in_port, dl_type and, for IP, the fragment type; recirculation would join them), then each
 * step calls the un-wildcarding method of the field it reads (`wc.ethDst()`, `wc.vlanTci()`,
 * `wc.orWord(W_TP, 0xffff)` for tp_dst...) before it branches on it. A lookup in a wildcarded
 * table (OpenFlow classifier) does the same with the bits its rules' masks cover. Forgetting a
 * field makes the megaflow too wide (wrong forwarding); un-wildcarding too much only costs
 * cache hits, so when in doubt un-wildcard.
 */
import {
  ETH_TYPE_IP, ETH_TYPE_IPV6, KEY_WORDS, W_ETH_DST_HI, W_ETH_MID, W_ETH_SRC_LO, W_IN_PORT, W_NW, W_NW_DST,
  W_NW_SRC, W_TP, W_TYPE_TCI,
} from './flow-key.js';

/** A mask that matches every bit (an exact-match flow). */
export function exactMask(): Uint32Array {
  return new Uint32Array(KEY_WORDS).fill(0xffffffff);
}

/** out[oo..] = key[ko..] & mask[mo..] for all KEY_WORDS words. */
export function maskKeyInto(key: Uint32Array, ko: number, mask: Uint32Array, mo: number, out: Uint32Array, oo: number): void {
  for (let i = 0; i < KEY_WORDS; i++) out[oo + i] = (key[ko + i] & mask[mo + i]) >>> 0;
}

/** Whether every bit set in a[ao..] is also set in b[bo..] (a is at most as specific as b). */
export function maskIsSubset(a: Uint32Array, ao: number, b: Uint32Array, bo: number): boolean {
  for (let i = 0; i < KEY_WORDS; i++) if ((a[ao + i] & ~b[bo + i]) !== 0) return false;
  return true;
}

export function masksEqual(a: Uint32Array, ao: number, b: Uint32Array, bo: number): boolean {
  for (let i = 0; i < KEY_WORDS; i++) if (a[ao + i] !== b[bo + i]) return false;
  return true;
}

/** Whether the mask covers all of `bits` in word `w`. */
export function maskHas(mask: Uint32Array, w: number, bits: number, mo = 0): boolean {
  return ((mask[mo + w] & bits) >>> 0) === bits >>> 0;
}

/**
 * The wildcards a translation accumulates. `mask` is the live mask; callers may also OR into it
 * directly. Reset with clear() or initForKey() before each translation.
 */
export class Wildcards {
  readonly mask: Uint32Array;

  /**
   * `mask` (optional) is the memory to un-wildcard into: its first KEY_WORDS words, e.g. a view
   * of a larger OpenFlow-level wildcard array whose leading words are laid out like the key.
   */
  constructor(mask?: Uint32Array) {
    if (mask !== undefined && mask.length < KEY_WORDS) throw new RangeError(`a mask needs at least ${KEY_WORDS} words`);
    this.mask = mask === undefined ? new Uint32Array(KEY_WORDS) : mask.length === KEY_WORDS ? mask : mask.subarray(0, KEY_WORDS);
  }

  /** All wildcarded: matches every key. */
  clear(): void {
    this.mask.fill(0);
  }

  /**
   * Clears, then un-wildcards what every translation depends on, as Open vSwitch does:
   * in_port, dl_type, and the fragment type of IP packets (whether L4 fields exist).
   */
  initForKey(key: Uint32Array, ko = 0): void {
    this.mask.fill(0);
    this.inPort();
    this.dlType();
    const type = key[ko + W_TYPE_TCI] >>> 16;
    if (type === ETH_TYPE_IP || type === ETH_TYPE_IPV6) this.nwFrag();
  }

  /** Un-wildcards `bits` of word `w`. */
  orWord(w: number, bits: number): void {
    this.mask[w] = (this.mask[w] | bits) >>> 0;
  }

  /** Un-wildcards everything set in `other` (another mask). */
  union(other: Uint32Array, o = 0): void {
    for (let i = 0; i < KEY_WORDS; i++) this.mask[i] = (this.mask[i] | other[o + i]) >>> 0;
  }

  inPort(): void {
    this.mask[W_IN_PORT] = 0xffffffff;
  }
  ethDst(): void {
    this.orWord(W_ETH_DST_HI, 0xffffffff);
    this.orWord(W_ETH_MID, 0xffff0000);
  }
  ethSrc(): void {
    this.orWord(W_ETH_MID, 0x0000ffff);
    this.orWord(W_ETH_SRC_LO, 0xffffffff);
  }
  /** vlan_tci bits (default all: VID, PCP and the tag-present bit). */
  vlanTci(bits = 0xffff): void {
    this.orWord(W_TYPE_TCI, bits & 0xffff);
  }
  dlType(): void {
    this.orWord(W_TYPE_TCI, 0xffff0000);
  }
  nwProto(): void {
    this.orWord(W_NW, 0xff000000);
  }
  nwTos(): void {
    this.orWord(W_NW, 0x00ff0000);
  }
  nwTtl(): void {
    this.orWord(W_NW, 0x0000ff00);
  }
  nwFrag(): void {
    this.orWord(W_NW, 0x000000ff);
  }
  /** IPv4 source bits (a prefix mask such as 0xffffff00 for a /24). */
  nwSrc(bits = 0xffffffff): void {
    this.orWord(W_NW_SRC, bits);
  }
  nwDst(bits = 0xffffffff): void {
    this.orWord(W_NW_DST, bits);
  }
  tpSrc(bits = 0xffff): void {
    this.orWord(W_TP, (bits & 0xffff) << 16);
  }
  tpDst(bits = 0xffff): void {
    this.orWord(W_TP, bits & 0xffff);
  }
}
