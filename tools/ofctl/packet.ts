/*
 * Packets in ofctl: the hex frames packet-out takes ("ffffffffffff0200..." , spaces and dots
 * allowed, ovs-ofctl's "Trailing garbage in packet data" when it is not whole bytes) and the
 * one-line summary ovs-ofctl prints under a packet-in ("tcp,vlan_tci=0x0000,dl_src=...,tp_dst=80"
 * from the frame's parsed headers). Control path.
 */
import { extractKey } from '../../src/datapath/extract.js';
import {
  ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ethDst, ethSrc, arpSha, arpTha, FRAG_FIRST, FRAG_LATER, IPPROTO_ICMP, IPPROTO_ICMPV6,
  IPPROTO_TCP, IPPROTO_UDP, ipv4ToString, ipv6ToString, KEY_WORDS, macToString, nwFrag, nwProto, nwTos, nwTtl, tpDst, tpSrc, vlanTci,
  W_NW_DST, W_NW_SRC, W_TYPE_TCI,
} from '../../src/lib/flow-key.js';
import { ToolError } from '../common.js';

/** Bytes of a hex string ("0a0b 0c.0d"); throws ToolError naming `what`. */
export function parseHexPacket(text: string, what = 'packet'): Uint8Array {
  const hex = text.replace(/[\s.]/g, '');
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length % 2 !== 0) throw new ToolError(`${what}: Trailing garbage in packet data`);
  if (hex.length < 28) throw new ToolError(`${what}: a packet needs at least an Ethernet header (14 bytes)`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

const SCTP = 132;
const PROTO_NAMES: Record<number, string> = { [IPPROTO_TCP]: 'tcp', [IPPROTO_UDP]: 'udp', [SCTP]: 'sctp', [IPPROTO_ICMP]: 'icmp' };
const PROTO6_NAMES: Record<number, string> = { [IPPROTO_TCP]: 'tcp6', [IPPROTO_UDP]: 'udp6', [SCTP]: 'sctp6', [IPPROTO_ICMPV6]: 'icmp6' };

function fragName(f: number): string {
  return f === FRAG_FIRST ? 'first' : f === FRAG_LATER ? 'later' : 'no';
}

/** The fields of a frame, as ovs-ofctl summarizes a packet-in's data. */
export function packetSummary(data: Uint8Array): string {
  if (data.length < 14) return `(${data.length} bytes: too short for an Ethernet header)`;
  const k = new Uint32Array(KEY_WORDS);
  extractKey(data, 0, data.length, 0, k, 0);
  const type = k[W_TYPE_TCI] >>> 16;
  const tci = vlanTci(k);
  const eth = `vlan_tci=0x${tci.toString(16).padStart(4, '0')},dl_src=${macToString(ethSrc(k))},dl_dst=${macToString(ethDst(k))}`;
  if (type === ETH_TYPE_ARP) {
    return `arp,${eth},arp_spa=${ipv4ToString(k[W_NW_SRC])},arp_tpa=${ipv4ToString(k[W_NW_DST])},arp_op=${nwProto(k)},` +
      `arp_sha=${macToString(arpSha(k))},arp_tha=${macToString(arpTha(k))}`;
  }
  if (type === ETH_TYPE_IP || type === ETH_TYPE_IPV6) {
    const v6 = type === ETH_TYPE_IPV6;
    const proto = nwProto(k);
    const name = (v6 ? PROTO6_NAMES : PROTO_NAMES)[proto];
    const addrs = v6 ? `ipv6_src=${ipv6ToString(k, W_NW_SRC)},ipv6_dst=${ipv6ToString(k, W_NW_DST)}`
      : `nw_src=${ipv4ToString(k[W_NW_SRC])},nw_dst=${ipv4ToString(k[W_NW_DST])}`;
    let s = `${name ?? (v6 ? 'ipv6' : 'ip')},${eth},${addrs}${name ? '' : `,nw_proto=${proto}`},nw_tos=${nwTos(k) & 0xfc},nw_ecn=${nwTos(k) & 3},` +
      `nw_ttl=${nwTtl(k)},nw_frag=${fragName(nwFrag(k))}`;
    if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) s += `,icmp_type=${tpSrc(k)},icmp_code=${tpDst(k)}`;
    else if (name) s += `,tp_src=${tpSrc(k)},tp_dst=${tpDst(k)}`;
    return s;
  }
  return `${eth},dl_type=0x${type.toString(16).padStart(4, '0')}`;
}
