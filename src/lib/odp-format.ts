/*
 * Formats datapath flows (a flow key + odp actions + stats) the way `ovs-dpctl dump-flows`
 * prints them, e.g. `in_port(1),eth(src=..,dst=..),eth_type(0x0800),ipv4(...),icmp(...),
 * packets:3, bytes:294, used:0.504s, actions:2,3`. Used by dpctl, vswitchd's dpif/dump-flows
 * and tests. Control path. A tagged frame prints as OVS does: `eth_type(0x8100),vlan(vid=10,
 * pcp=0),encap(<inner type and headers>)`. Ports print as numbers unless a name is known.
 */
import { ACT_OUTPUT, ACT_POP_VLAN, ACT_PUSH_VLAN, actionLength } from './dpif-proto.js';
import {
  arpSha, arpTha, dlType, ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ethDst, ethSrc, FRAG_FIRST, FRAG_LATER,
  inPort, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, ipv4ToString, ipv6ToString, macToString,
  nwFrag, nwProto, nwTos, nwTtl, tpDst, tpSrc, vlanTci, W_IPV6_LABEL, W_ND_TARGET, W_NW_DST, W_NW_SRC,
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
    const len = actionLength(op);
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
    }
    i += len;
  }
  return out.join(',');
}

/** `packets:3, bytes:294, used:0.504s` (or `used:never`). */
export function formatStats(stats: FlowStats, now = Date.now()): string {
  const used = stats.used ? `${(Math.max(0, now - stats.used) / 1000).toFixed(3)}s` : 'never';
  return `packets:${stats.packets}, bytes:${stats.bytes}, used:${used}`;
}

/** One dump-flows line: key, then stats if given, then actions. */
export function formatFlow(key: Uint32Array, actions: ArrayLike<number>, stats?: FlowStats, opts: FormatOptions = {}): string {
  const parts = [formatKey(key, opts.names)];
  if (stats) parts.push(formatStats(stats, opts.now));
  parts.push(`actions:${formatActions(actions, opts.names)}`);
  return parts.join(', ');
}
