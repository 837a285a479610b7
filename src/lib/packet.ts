/*
 * Frame builder for tests and benchmarks: Ethernet (optionally one VLAN tag), IPv4 (options,
 * fragments), IPv6 (extension headers), TCP/UDP/SCTP/ICMP/ICMPv6 (valid checksums), ARP and
 * IPv6 neighbour discovery, each returned as a fresh Uint8Array. Never used on the hot path
 * (it allocates freely); the datapath's parser (src/datapath/extract.ts) is tested against it.
 */

export interface EthSpec {
  dst?: string;
  src?: string;
  vlan?: { vid: number; pcp?: number; tpid?: number };
}

export interface Ipv4Spec {
  src: string;
  dst: string;
  ttl?: number;
  tos?: number;
  id?: number;
  df?: boolean;
  mf?: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  fragOffset?: number;
  /** IP options (padded to a multiple of 4 bytes). */
  options?: Uint8Array;
  /** Protocol number when no L4 spec is given (default 0xfd, "experimental"). */
  proto?: number;
}

export interface Ipv6Ext {
  /** 0 hop-by-hop, 43 routing, 60 destination options, 44 fragment, 51 AH. */
  type: number;
  data?: Uint8Array;
  /** Fragment header: offset in bytes (multiple of 8) and more-fragments flag. */
  fragOffset?: number;
  more?: boolean;
}

export interface Ipv6Spec {
  src: string;
  dst: string;
  hlimit?: number;
  tclass?: number;
  label?: number;
  ext?: Ipv6Ext[];
  proto?: number;
}

export type L4Spec =
  | { tcp: { src: number; dst: number; seq?: number; ack?: number; flags?: number; window?: number } }
  | { udp: { src: number; dst: number } }
  | { sctp: { src: number; dst: number } }
  | { icmp: { type: number; code: number; id?: number; seq?: number } }
  | { icmpv6: { type: number; code: number; body?: Uint8Array } };

export const DEFAULT_SRC_MAC = '02:00:00:00:00:01';
export const DEFAULT_DST_MAC = '02:00:00:00:00:02';

export function macBytes(s: string): Uint8Array {
  const parts = s.split(':');
  if (parts.length !== 6) throw new RangeError(`bad MAC address '${s}'`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function ipv4Bytes(s: string): Uint8Array {
  const parts = s.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) throw new RangeError(`bad IPv4 address '${s}'`);
  return Uint8Array.from(parts);
}

export function ipv6Bytes(s: string): Uint8Array {
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) throw new RangeError(`bad IPv6 address '${s}'`);
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >>> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
function put32(b: Uint8Array, o: number, v: number): void {
  put16(b, o, v >>> 16);
  put16(b, o + 2, v & 0xffff);
}

/** The Internet checksum (RFC 1071) of the concatenation of `parts`. */
export function inetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  let odd = false;
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) {
      sum += odd ? p[i] : p[i] << 8;
      odd = !odd;
    }
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An Ethernet frame: dst, src, [tag], type, payload. */
export function ethFrame(eth: EthSpec, type: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const tag = eth.vlan ? 4 : 0;
  const h = new Uint8Array(14 + tag);
  h.set(macBytes(eth.dst ?? DEFAULT_DST_MAC), 0);
  h.set(macBytes(eth.src ?? DEFAULT_SRC_MAC), 6);
  if (eth.vlan) {
    put16(h, 12, eth.vlan.tpid ?? 0x8100);
    put16(h, 14, ((eth.vlan.pcp ?? 0) << 13) | (eth.vlan.vid & 0xfff));
  }
  put16(h, 12 + tag, type);
  return concat(h, payload);
}

/** L4 header + payload with its checksum over `pseudo` (empty for ICMPv4). Returns [proto, bytes]. */
function l4Bytes(l4: L4Spec, payload: Uint8Array, pseudo: (proto: number, len: number) => Uint8Array): [number, Uint8Array] {
  if ('tcp' in l4) {
    const h = new Uint8Array(20);
    put16(h, 0, l4.tcp.src);
    put16(h, 2, l4.tcp.dst);
    put32(h, 4, l4.tcp.seq ?? 1);
    put32(h, 8, l4.tcp.ack ?? 0);
    h[12] = 5 << 4;
    h[13] = l4.tcp.flags ?? 0x02;
    put16(h, 14, l4.tcp.window ?? 65535);
    const seg = concat(h, payload);
    put16(seg, 16, inetChecksum(pseudo(6, seg.length), seg));
    return [6, seg];
  }
  if ('udp' in l4) {
    const seg = concat(new Uint8Array(8), payload);
    put16(seg, 0, l4.udp.src);
    put16(seg, 2, l4.udp.dst);
    put16(seg, 4, seg.length);
    put16(seg, 6, inetChecksum(pseudo(17, seg.length), seg) || 0xffff);
    return [17, seg];
  }
  if ('sctp' in l4) {
    const seg = concat(new Uint8Array(12), payload);
    put16(seg, 0, l4.sctp.src);
    put16(seg, 2, l4.sctp.dst);
    return [132, seg]; // CRC32c not computed: the datapath does not check it
  }
  if ('icmp' in l4) {
    const seg = concat(new Uint8Array(8), payload);
    seg[0] = l4.icmp.type;
    seg[1] = l4.icmp.code;
    put16(seg, 4, l4.icmp.id ?? 1);
    put16(seg, 6, l4.icmp.seq ?? 1);
    put16(seg, 2, inetChecksum(seg));
    return [1, seg];
  }
  const seg = concat(new Uint8Array(4), l4.icmpv6.body ?? new Uint8Array(4), payload);
  seg[0] = l4.icmpv6.type;
  seg[1] = l4.icmpv6.code;
  put16(seg, 2, inetChecksum(pseudo(58, seg.length), seg));
  return [58, seg];
}

/** An Ethernet frame carrying IPv4 (and L4 if given; for a later fragment give only payload). */
export function ipv4Frame(eth: EthSpec, ip: Ipv4Spec, l4?: L4Spec, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const src = ipv4Bytes(ip.src);
  const dst = ipv4Bytes(ip.dst);
  const pseudo = (proto: number, len: number): Uint8Array => {
    const p = new Uint8Array(12);
    p.set(src, 0);
    p.set(dst, 4);
    p[9] = proto;
    put16(p, 10, len);
    return p;
  };
  const [proto, body] = l4 ? l4Bytes(l4, payload, pseudo) : [ip.proto ?? 0xfd, payload];
  const opts = ip.options ?? new Uint8Array(0);
  const optLen = (opts.length + 3) & ~3;
  const h = new Uint8Array(20 + optLen);
  h[0] = 0x40 | ((20 + optLen) >>> 2);
  h[1] = ip.tos ?? 0;
  put16(h, 2, h.length + body.length);
  put16(h, 4, ip.id ?? 1);
  put16(h, 6, (ip.df ? 0x4000 : 0) | (ip.mf ? 0x2000 : 0) | ((ip.fragOffset ?? 0) >>> 3));
  h[8] = ip.ttl ?? 64;
  h[9] = proto;
  h.set(src, 12);
  h.set(dst, 16);
  h.set(opts, 20);
  put16(h, 10, inetChecksum(h));
  return ethFrame(eth, 0x0800, concat(h, body));
}

function extBytes(e: Ipv6Ext, next: number): Uint8Array {
  if (e.type === 44) {
    const b = new Uint8Array(8);
    b[0] = next;
    put16(b, 2, (e.fragOffset ?? 0) | (e.more ? 1 : 0));
    put32(b, 4, 0x1234);
    return b;
  }
  const data = e.data ?? new Uint8Array(0);
  if (e.type === 51) {
    const len = (12 + data.length + 3) & ~3;
    const b = new Uint8Array(len);
    b[0] = next;
    b[1] = len / 4 - 2;
    b.set(data, 12);
    return b;
  }
  const len = Math.max(8, (2 + data.length + 7) & ~7);
  const b = new Uint8Array(len);
  b[0] = next;
  b[1] = len / 8 - 1;
  b.set(data, 2);
  return b;
}

/** An Ethernet frame carrying IPv6 with optional extension headers and L4. */
export function ipv6Frame(eth: EthSpec, ip: Ipv6Spec, l4?: L4Spec, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const src = ipv6Bytes(ip.src);
  const dst = ipv6Bytes(ip.dst);
  const pseudo = (proto: number, len: number): Uint8Array => {
    const p = new Uint8Array(40);
    p.set(src, 0);
    p.set(dst, 16);
    put32(p, 32, len);
    p[39] = proto;
    return p;
  };
  const [proto, body] = l4 ? l4Bytes(l4, payload, pseudo) : [ip.proto ?? 59, payload];
  const ext = ip.ext ?? [];
  const exts: Uint8Array[] = [];
  for (let i = 0; i < ext.length; i++) exts.push(extBytes(ext[i], i + 1 < ext.length ? ext[i + 1].type : proto));
  const rest = concat(...exts, body);
  const h = new Uint8Array(40);
  put32(h, 0, (6 << 28) | ((ip.tclass ?? 0) << 20) | ((ip.label ?? 0) & 0xfffff));
  put16(h, 4, rest.length);
  h[6] = ext.length ? ext[0].type : proto;
  h[7] = ip.hlimit ?? 64;
  h.set(src, 8);
  h.set(dst, 24);
  return ethFrame(eth, 0x86dd, concat(h, rest));
}

export interface ArpSpec {
  op: number;
  sha: string;
  spa: string;
  tha?: string;
  tpa: string;
}

/** An Ethernet/IPv4 ARP frame. */
export function arpFrame(eth: EthSpec, arp: ArpSpec): Uint8Array {
  const b = new Uint8Array(28);
  put16(b, 0, 1);
  put16(b, 2, 0x0800);
  b[4] = 6;
  b[5] = 4;
  put16(b, 6, arp.op);
  b.set(macBytes(arp.sha), 8);
  b.set(ipv4Bytes(arp.spa), 14);
  b.set(macBytes(arp.tha ?? '00:00:00:00:00:00'), 18);
  b.set(ipv4Bytes(arp.tpa), 24);
  return ethFrame(eth, 0x0806, b);
}

/** An IPv6 neighbour solicitation (135, with sll) or advertisement (136, with tll). */
export function ndFrame(eth: EthSpec, ip: Omit<Ipv6Spec, 'ext' | 'proto'>, nd: { type: 135 | 136; target: string; lla?: string }): Uint8Array {
  const opt = nd.lla ? new Uint8Array(8) : new Uint8Array(0);
  if (nd.lla) {
    opt[0] = nd.type === 135 ? 1 : 2;
    opt[1] = 1;
    opt.set(macBytes(nd.lla), 2);
  }
  const body = concat(new Uint8Array(4), ipv6Bytes(nd.target), opt); // reserved/flags, target, option
  return ipv6Frame(eth, { hlimit: 255, ...ip }, { icmpv6: { type: nd.type, code: 0, body } });
}
