/*
 * Formats datapath flows (a flow key, optionally its mask, odp actions and stats) the way
 * `ovs-dpctl dump-flows` prints them. Used by dpctl, vswitchd's dpif/dump-flows and tests.
 * Control path. Ports print as numbers unless a name is known. A tagged frame prints as OVS
 * does: `eth_type(0x8100),vlan(vid=10,pcp=0),encap(<inner type and headers>)`.
 *
 * Without a mask (an exact key, e.g. an upcall) every field prints:
 * `in_port(1),eth(src=..,dst=..),eth_type(0x0800),ipv4(src=..,...,frag=no),icmp(type=8,code=0)`.
 * With a mask (a megaflow) the format follows OVS's odp-util: `recirc_id(0)` first, a field
 * whose mask is all zeros is left out, an attribute all of whose fields are left out is left out
 * too, a partially masked field prints value/mask (`src=10.0.0.0/255.255.255.0`,
 * `dst=80/0xfff0`, `dst=01:00:00:00:00:00/01:00:00:00:00:00`), e.g.
 * `recirc_id(0),in_port(1),eth(src=..,dst=..),eth_type(0x0800),ipv4(frag=no)`.
 */
import {
  ACT_OUTPUT, ACT_POP_VLAN, ACT_PUSH_VLAN, ACT_SET_ARP, ACT_SET_ETH, ACT_SET_IPV4, ACT_SET_IPV6, ACT_SET_L4, ACT_USERSPACE, actionLength,
} from './dpif-proto.js';
import {
  arpSha, arpTha, dlType, ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ethDst, ethSrc, FRAG_FIRST, FRAG_LATER,
  inPort, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, ipv4ToString, ipv6ToString, macToString,
  nwFrag, nwProto, nwTos, nwTtl, tpDst, tpSrc, VLAN_CFI, vlanTci, W_ARP_MID, W_ARP_SHA_HI, W_ARP_THA_LO, W_ETH_DST_HI,
  W_ETH_MID, W_ETH_SRC_LO, W_IN_PORT, W_IPV6_LABEL, W_ND_TARGET, W_NW, W_NW_DST, W_NW_SRC, W_TP, W_TYPE_TCI,
} from './flow-key.js';

const ETH_TYPE_RARP = 0x8035;
const DL_TYPE_NONE = 0x05ff;
const IPPROTO_SCTP = 132;

/** Port number → name, as a map or a function; unknown ports print as numbers. */
export type PortNames = ReadonlyMap<number, string> | ((portNo: number) => string | undefined);

export interface FlowStats {
  packets: number;
  bytes: number;
  /** ms since the epoch; 0 = never. */
  used: number;
}

export interface FormatOptions {
  names?: PortNames;
  /** The flow's mask: format as a megaflow (wildcarded fields left out). */
  mask?: Uint32Array | null;
  /** "now" for the used: age, ms since the epoch (default Date.now()). */
  now?: number;
}

function portStr(no: number, names?: PortNames): string {
  const n = names === undefined ? undefined : typeof names === 'function' ? names(no) : names.get(no);
  return n ?? String(no);
}

/** `%#x` as C prints it: 0 stays "0", anything else gets 0x. */
function hexAlt(v: number): string {
  return v === 0 ? '0' : `0x${v.toString(16)}`;
}

function fragStr(f: number): string {
  return f === FRAG_FIRST ? 'first' : f === FRAG_LATER ? 'later' : 'no';
}

/** The key part: `in_port(1),eth(...),eth_type(0x0800),ipv4(...),tcp(...)`. */
export function formatKey(key: Uint32Array, names?: PortNames, o = 0): string {
  const k = o === 0 ? key : key.subarray(o);
  const out = [`in_port(${portStr(inPort(k), names)})`, `eth(src=${macToString(ethSrc(k))},dst=${macToString(ethDst(k))})`];
  const tci = vlanTci(k);
  const l3 = formatL3(k);
  if (tci !== 0) {
    out.push('eth_type(0x8100)', `vlan(vid=${tci & 0xfff},pcp=${tci >>> 13}${tci & 0x1000 ? '' : ',cfi=0'})`, `encap(${l3.join(',')})`);
  } else {
    out.push(...l3);
  }
  return out.join(',');
}

/** eth_type and everything under it (inside encap() for a tagged frame). */
function formatL3(k: Uint32Array): string[] {
  const type = dlType(k);
  const out: string[] = [];
  if (type === DL_TYPE_NONE) return out;
  out.push(`eth_type(0x${type.toString(16).padStart(4, '0')})`);
  const proto = nwProto(k);
  const frag = nwFrag(k);
  if (type === ETH_TYPE_IP) {
    out.push(`ipv4(src=${ipv4ToString(k[W_NW_SRC])},dst=${ipv4ToString(k[W_NW_DST])},proto=${proto},tos=${hexAlt(nwTos(k))},ttl=${nwTtl(k)},frag=${fragStr(frag)})`);
    if (frag !== FRAG_LATER) {
      if (proto === IPPROTO_ICMP) out.push(`icmp(type=${tpSrc(k)},code=${tpDst(k)})`);
      else pushPorts(out, k, proto);
    }
  } else if (type === ETH_TYPE_IPV6) {
    out.push(`ipv6(src=${ipv6ToString(k, W_NW_SRC)},dst=${ipv6ToString(k, W_NW_DST)},label=${hexAlt(k[W_IPV6_LABEL])},proto=${proto},tclass=${hexAlt(nwTos(k))},hlimit=${nwTtl(k)},frag=${fragStr(frag)})`);
    if (frag !== FRAG_LATER) {
      if (proto === IPPROTO_ICMPV6) {
        const t = tpSrc(k);
        out.push(`icmpv6(type=${t},code=${tpDst(k)})`);
        if ((t === 135 || t === 136) && tpDst(k) === 0) {
          out.push(`nd(target=${ipv6ToString(k, W_ND_TARGET)},sll=${macToString(arpSha(k))},tll=${macToString(arpTha(k))})`);
        }
      } else {
        pushPorts(out, k, proto);
      }
    }
  } else if (type === ETH_TYPE_ARP || type === ETH_TYPE_RARP) {
    out.push(`arp(sip=${ipv4ToString(k[W_NW_SRC])},tip=${ipv4ToString(k[W_NW_DST])},op=${proto},sha=${macToString(arpSha(k))},tha=${macToString(arpTha(k))})`);
  }
  return out;
}

function pushPorts(out: string[], k: Uint32Array, proto: number): void {
  const name = proto === IPPROTO_TCP ? 'tcp' : proto === IPPROTO_UDP ? 'udp' : proto === IPPROTO_SCTP ? 'sctp' : '';
  if (name) out.push(`${name}(src=${tpSrc(k)},dst=${tpDst(k)})`);
}

/** The actions part (without "actions:"): `2,push_vlan(vid=10,pcp=0),3`, or `drop`. */
export function formatActions(acts: ArrayLike<number>, names?: PortNames): string {
  if (acts.length === 0) return 'drop';
  const out: string[] = [];
  let i = 0;
  while (i < acts.length) {
    const op = acts[i];
    const len = actionLength(op, i + 1 < acts.length ? acts[i + 1] : undefined);
    if (len === 0 || i + len > acts.length) {
      out.push(`<bad action ${Array.prototype.slice.call(acts, i).join(' ')}>`);
      break;
    }
    if (op === ACT_OUTPUT) {
      out.push(portStr(acts[i + 1], names));
    } else if (op === ACT_PUSH_VLAN) {
      const tci = acts[i + 1] & 0xffff;
      out.push(`push_vlan(vid=${tci & 0xfff},pcp=${tci >>> 13}${tci & 0x1000 ? '' : ',cfi=0'})`);
    } else if (op === ACT_POP_VLAN) {
      out.push('pop_vlan');
    } else if (op === ACT_USERSPACE) {
      out.push(formatUserspace(acts, i, names));
    } else {
      out.push(formatSet(acts, i));
    }
    i += len;
  }
  return out.join(',');
}

/** A masked set action as OVS prints one: `set(ipv4(dst=10.0.0.9,ttl=63))`. */
function formatSet(acts: ArrayLike<number>, i: number): string {
  const op = acts[i];
  // Rebuild key-layout value and mask arrays from the action's operands.
  const v = new Uint32Array(24);
  const m = new Uint32Array(24);
  const words = op === ACT_SET_ETH ? [W_ETH_DST_HI, W_ETH_MID, W_ETH_SRC_LO]
    : op === ACT_SET_IPV4 ? [W_NW_SRC, W_NW_DST, W_NW]
      : op === ACT_SET_IPV6 ? [W_NW_SRC, W_NW_SRC + 1, W_NW_SRC + 2, W_NW_SRC + 3, W_NW_DST, W_NW_DST + 1, W_NW_DST + 2, W_NW_DST + 3, W_NW, W_IPV6_LABEL]
        : op === ACT_SET_ARP ? [W_NW_SRC, W_NW_DST, W_NW, W_ARP_SHA_HI, W_ARP_MID, W_ARP_THA_LO] : [W_TP];
  const base = op === ACT_SET_L4 ? i + 2 : i + 1;
  for (let k = 0; k < words.length; k++) {
    v[words[k]] = acts[base + k] >>> 0;
    m[words[k]] = acts[base + words.length + k] >>> 0;
  }
  const f: string[] = [];
  if (op === ACT_SET_ETH) {
    mEth(f, 'src', ethSrc(v), ethSrc(m));
    mEth(f, 'dst', ethDst(v), ethDst(m));
    return `set(eth(${f.join(',')}))`;
  }
  if (op === ACT_SET_IPV4 || op === ACT_SET_IPV6) {
    const v6 = op === ACT_SET_IPV6;
    if (v6) {
      mIp6(f, 'src', v, m, W_NW_SRC);
      mIp6(f, 'dst', v, m, W_NW_DST);
      mHex(f, 'label', v[W_IPV6_LABEL], m[W_IPV6_LABEL] & 0xfffff, 0xfffff);
    } else {
      mIp4(f, 'src', v[W_NW_SRC], m[W_NW_SRC]);
      mIp4(f, 'dst', v[W_NW_DST], m[W_NW_DST]);
    }
    mHex(f, v6 ? 'tclass' : 'tos', nwTos(v), nwTos(m), 0xff);
    mDec(f, v6 ? 'hlimit' : 'ttl', nwTtl(v), nwTtl(m), 0xff);
    return `set(${v6 ? 'ipv6' : 'ipv4'}(${f.join(',')}))`;
  }
  if (op === ACT_SET_ARP) {
    mIp4(f, 'sip', v[W_NW_SRC], m[W_NW_SRC]);
    mIp4(f, 'tip', v[W_NW_DST], m[W_NW_DST]);
    mDec(f, 'op', nwProto(v), nwProto(m), 0xff);
    mEth(f, 'sha', arpSha(v), arpSha(m));
    mEth(f, 'tha', arpTha(v), arpTha(m));
    return `set(arp(${f.join(',')}))`;
  }
  const proto = acts[i + 1];
  if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
    mDec(f, 'type', tpSrc(v) & 0xff, tpSrc(m) & 0xff, 0xff);
    mDec(f, 'code', tpDst(v) & 0xff, tpDst(m) & 0xff, 0xff);
    return `set(${proto === IPPROTO_ICMP ? 'icmp' : 'icmpv6'}(${f.join(',')}))`;
  }
  mDec(f, 'src', tpSrc(v), tpSrc(m), 0xffff);
  mDec(f, 'dst', tpDst(v), tpDst(m), 0xffff);
  const name = proto === IPPROTO_TCP ? 'tcp' : proto === IPPROTO_UDP ? 'udp' : proto === IPPROTO_SCTP ? 'sctp' : `l4(proto=${proto})`;
  return `set(${name}(${f.join(',')}))`;
}

/**
 * `userspace(pid=PORT,controller(reason=1,table=0,rule_cookie=0x5,controller_id=0,max_len=128))`:
 * the first userdata words are vswitchd's packet-in header (src/vswitchd/packet-in.ts).
 */
function formatUserspace(acts: ArrayLike<number>, i: number, names?: PortNames): string {
  const n = acts[i + 1];
  const port = portStr(acts[i + 2], names);
  const maxLen = acts[i + 3];
  if (n < 5) return `userspace(pid=${port},max_len=${maxLen})`;
  const w0 = acts[i + 4] >>> 0;
  const cookie = (BigInt(acts[i + 5] >>> 0) << 32n) | BigInt(acts[i + 6] >>> 0);
  // The action's own max_len rides in the packet-in header (in_port | max_len << 16) when the
  // datapath is told to send the whole frame (-1).
  const ml = maxLen < 0 && n >= 6 ? acts[i + 7] >>> 16 : maxLen;
  return `userspace(pid=${port},controller(reason=${w0 & 0xff},table=${(w0 >>> 8) & 0xff},rule_cookie=0x${cookie.toString(16)},controller_id=${w0 >>> 16},max_len=${ml}))`;
}

/** `packets:3, bytes:294, used:0.504s` (or `used:never`). */
export function formatStats(stats: FlowStats, now = Date.now()): string {
  const used = stats.used ? `${(Math.max(0, now - stats.used) / 1000).toFixed(3)}s` : 'never';
  return `packets:${stats.packets}, bytes:${stats.bytes}, used:${used}`;
}

/** One dump-flows line: key (masked if opts.mask), then stats if given, then actions. */
export function formatFlow(key: Uint32Array, actions: ArrayLike<number>, stats?: FlowStats, opts: FormatOptions = {}): string {
  const parts = [opts.mask ? formatMaskedKey(key, opts.mask, opts.names) : formatKey(key, opts.names)];
  if (stats) parts.push(formatStats(stats, opts.now));
  parts.push(`actions:${formatActions(actions, opts.names)}`);
  return parts.join(', ');
}

// ---- Masked (megaflow) keys. ----

const ETH_EXACT = 0xffffffffffff;

function mEth(out: string[], name: string, v: number, m: number): void {
  if (m === 0) return;
  out.push(m === ETH_EXACT ? `${name}=${macToString(v)}` : `${name}=${macToString(v)}/${macToString(m)}`);
}
function mIp4(out: string[], name: string, v: number, m: number): void {
  if (m === 0) return;
  out.push(m === 0xffffffff ? `${name}=${ipv4ToString(v)}` : `${name}=${ipv4ToString(v)}/${ipv4ToString(m)}`);
}
function mIp6(out: string[], name: string, k: Uint32Array, m: Uint32Array, w: number): void {
  let any = false;
  let all = true;
  for (let i = 0; i < 4; i++) {
    if (m[w + i] !== 0) any = true;
    if (m[w + i] !== 0xffffffff) all = false;
  }
  if (!any) return;
  out.push(all ? `${name}=${ipv6ToString(k, w)}` : `${name}=${ipv6ToString(k, w)}/${ipv6ToString(m, w)}`);
}
/** A decimal field (u8 or be16) with a hex mask when partial. */
function mDec(out: string[], name: string, v: number, m: number, full: number): void {
  if (m === 0) return;
  out.push(m === full ? `${name}=${v}` : `${name}=${v}/${hexAlt(m)}`);
}
/** A hex field (tos, tclass, label). */
function mHex(out: string[], name: string, v: number, m: number, full: number): void {
  if (m === 0) return;
  out.push(m === full ? `${name}=${hexAlt(v)}` : `${name}=${hexAlt(v)}/${hexAlt(m)}`);
}
function mFrag(out: string[], v: number, m: number): void {
  if (m === 0) return;
  out.push(m === 0xff ? `frag=${fragStr(v)}` : `frag=${fragStr(v)}/${hexAlt(m)}`);
}
function attr(out: string[], name: string, fields: string[]): void {
  if (fields.length > 0) out.push(`${name}(${fields.join(',')})`);
}

/** vlan(...) as OVS prints a masked TCI: vid and pcp when set or matched, cfi=0 when no tag. */
function maskedVlan(tci: number, m: number): string {
  const f: string[] = [];
  const vid = tci & 0xfff;
  const vidM = m & 0xfff;
  const pcp = tci >>> 13;
  const pcpM = (m >>> 13) & 7;
  if (vid !== 0 || vidM !== 0) f.push(vidM === 0xfff ? `vid=${vid}` : `vid=${vid}/0x${vidM.toString(16)}`);
  if (pcp !== 0 || pcpM !== 0) f.push(pcpM === 7 ? `pcp=${pcp}` : `pcp=${pcp}/0x${pcpM.toString(16)}`);
  if ((tci & VLAN_CFI) === 0) f.push('cfi=0');
  return f.join(',');
}

/**
 * A megaflow's key and mask the way ovs-dpctl dump-flows prints it (see the header). `key`
 * should already be masked (as dumps return it); it is masked again here to be safe.
 */
export function formatMaskedKey(key: Uint32Array, mask: Uint32Array, names?: PortNames): string {
  const k = new Uint32Array(key.length);
  for (let i = 0; i < key.length; i++) k[i] = (key[i] & mask[i]) >>> 0;
  const m = mask;
  const out = ['recirc_id(0)'];
  const pm = m[W_IN_PORT];
  if (pm !== 0) out.push(pm === 0xffffffff ? `in_port(${portStr(inPort(k), names)})` : `in_port(${inPort(k)}/${hexAlt(pm)})`);
  const eth: string[] = [];
  mEth(eth, 'src', ethSrc(k), ethSrc(m));
  mEth(eth, 'dst', ethDst(k), ethDst(m));
  attr(out, 'eth', eth);
  const tci = vlanTci(k);
  const tciM = vlanTci(m);
  const l3 = maskedL3(k, m);
  if ((tci & VLAN_CFI) !== 0) {
    out.push('eth_type(0x8100)', `vlan(${maskedVlan(tci, tciM)})`, `encap(${l3.join(',')})`);
  } else {
    out.push(...l3);
  }
  return out.join(',');
}

function maskedL3(k: Uint32Array, m: Uint32Array): string[] {
  const out: string[] = [];
  const typeM = m[W_TYPE_TCI] >>> 16;
  if (typeM === 0) return out;
  const type = dlType(k);
  const hex4 = (v: number): string => v.toString(16).padStart(4, '0');
  out.push(typeM === 0xffff ? `eth_type(0x${hex4(type)})` : `eth_type(0x${hex4(type)}/0x${hex4(typeM)})`);
  if (typeM !== 0xffff) return out;
  const proto = nwProto(k);
  const frag = nwFrag(k);
  if (type === ETH_TYPE_IP || type === ETH_TYPE_IPV6) {
    const f: string[] = [];
    if (type === ETH_TYPE_IP) {
      mIp4(f, 'src', k[W_NW_SRC], m[W_NW_SRC]);
      mIp4(f, 'dst', k[W_NW_DST], m[W_NW_DST]);
    } else {
      mIp6(f, 'src', k, m, W_NW_SRC);
      mIp6(f, 'dst', k, m, W_NW_DST);
      mHex(f, 'label', k[W_IPV6_LABEL], m[W_IPV6_LABEL] & 0xfffff, 0xfffff);
    }
    mDec(f, 'proto', proto, nwProto(m), 0xff);
    mHex(f, type === ETH_TYPE_IP ? 'tos' : 'tclass', nwTos(k), nwTos(m), 0xff);
    mDec(f, type === ETH_TYPE_IP ? 'ttl' : 'hlimit', nwTtl(k), nwTtl(m), 0xff);
    mFrag(f, frag, nwFrag(m));
    attr(out, type === ETH_TYPE_IP ? 'ipv4' : 'ipv6', f);
    if (frag === FRAG_LATER) return out;
    const l4: string[] = [];
    const icmp = (type === ETH_TYPE_IP && proto === IPPROTO_ICMP) || (type === ETH_TYPE_IPV6 && proto === IPPROTO_ICMPV6);
    if (icmp) {
      mDec(l4, 'type', tpSrc(k), tpSrc(m) & 0xff, 0xff);
      mDec(l4, 'code', tpDst(k), tpDst(m) & 0xff, 0xff);
      attr(out, type === ETH_TYPE_IP ? 'icmp' : 'icmpv6', l4);
      const t = tpSrc(k);
      if (type === ETH_TYPE_IPV6 && (t === 135 || t === 136) && tpDst(k) === 0) {
        const nd: string[] = [];
        mIp6(nd, 'target', k, m, W_ND_TARGET);
        mEth(nd, 'sll', arpSha(k), arpSha(m));
        mEth(nd, 'tll', arpTha(k), arpTha(m));
        attr(out, 'nd', nd);
      }
      return out;
    }
    const name = proto === IPPROTO_TCP ? 'tcp' : proto === IPPROTO_UDP ? 'udp' : proto === IPPROTO_SCTP ? 'sctp' : '';
    if (name) {
      mDec(l4, 'src', tpSrc(k), tpSrc(m), 0xffff);
      mDec(l4, 'dst', tpDst(k), tpDst(m), 0xffff);
      attr(out, name, l4);
    }
  } else if (type === ETH_TYPE_ARP || type === ETH_TYPE_RARP) {
    const f: string[] = [];
    mIp4(f, 'sip', k[W_NW_SRC], m[W_NW_SRC]);
    mIp4(f, 'tip', k[W_NW_DST], m[W_NW_DST]);
    mDec(f, 'op', proto, nwProto(m), 0xff);
    mEth(f, 'sha', arpSha(k), arpSha(m));
    mEth(f, 'tha', arpTha(k), arpTha(m));
    attr(out, 'arp', f);
  }
  return out;
}
