/*
 * Field values as ovs-ofctl writes them: integers (decimal or 0x hex), MAC and IPv4/IPv6
 * addresses, masks and CIDR prefixes, OpenFlow port numbers and names. Parsing returns the
 * value (and mask) or a reason string the caller turns into a FlowSyntaxError at the right
 * token; formatting follows ovs-ofctl's output (hex for registers and metadata, decimal for
 * ports, "0x400/0xfc00" for masked integers, CIDR for prefix masks). Control path.
 */
import type { Field } from './fields.js';
import { onesBig, OFPP_ALL, OFPP_ANY, OFPP_CONTROLLER, OFPP_FLOOD, OFPP_IN_PORT, OFPP_LOCAL, OFPP_MAX, OFPP_NORMAL, OFPP_TABLE } from './layout.js';

/** Resolves port names both ways (ofctl --names). Either side may return undefined. */
export interface PortNamer {
  number(name: string): number | undefined;
  name(port: number): string | undefined;
}

/** A parse failure: the reason (ovs-ofctl's wording where it has one). */
export class ValueError extends Error {}

export const RESERVED_PORTS: ReadonlyMap<string, number> = new Map([
  ['IN_PORT', OFPP_IN_PORT], ['TABLE', OFPP_TABLE], ['NORMAL', OFPP_NORMAL], ['FLOOD', OFPP_FLOOD],
  ['ALL', OFPP_ALL], ['CONTROLLER', OFPP_CONTROLLER], ['LOCAL', OFPP_LOCAL], ['ANY', OFPP_ANY], ['NONE', OFPP_ANY],
]);

/** Parses "123", "0x7b" (any size); null when not an unsigned integer. */
export function parseUint(s: string): bigint | null {
  if (/^0[xX][0-9a-fA-F]+$/.test(s) || /^[0-9]+$/.test(s)) return BigInt(s);
  return null;
}

/** An unsigned integer of at most `bits` bits, else throws ValueError naming `what`. */
export function parseUintBits(s: string, bits: number, what: string): bigint {
  const v = parseUint(s);
  if (v === null) throw new ValueError(`${s}: invalid ${what} (expected a number)`);
  if (v > onesBig(bits)) throw new ValueError(`${s}: value too large for ${what} (${bits} bits)`);
  return v;
}

/** Number form of parseUintBits (bits <= 52). */
export function parseUintNum(s: string, bits: number, what: string): number {
  return Number(parseUintBits(s, bits, what));
}

export function parseMac(s: string): number | null {
  const parts = s.split(':');
  if (parts.length !== 6) return null;
  let v = 0;
  for (const p of parts) {
    if (!/^[0-9a-fA-F]{1,2}$/.test(p)) return null;
    v = v * 256 + parseInt(p, 16);
  }
  return v;
}

export function formatMac(v: number): string {
  let s = '';
  for (let i = 5; i >= 0; i--) {
    const b = Math.floor(v / 2 ** (8 * i)) % 256;
    s += (i === 5 ? '' : ':') + (b < 16 ? '0' : '') + b.toString(16);
  }
  return s;
}

export function parseIpv4(s: string): number | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let v = 0;
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v;
}

export function formatIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

export function parseIpv6(s: string): bigint | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return null;
  let tail4: number | null = null;
  let t = s;
  const lastColon = t.lastIndexOf(':');
  if (t.includes('.')) {
    tail4 = parseIpv4(t.slice(lastColon + 1));
    if (tail4 === null) return null;
    t = `${t.slice(0, lastColon + 1)}0:0`;
  }
  const dbl = t.split('::');
  if (dbl.length > 2) return null;
  const head = dbl[0] === '' ? [] : dbl[0].split(':');
  const tail = dbl.length === 2 ? (dbl[1] === '' ? [] : dbl[1].split(':')) : [];
  const n = head.length + tail.length;
  if (dbl.length === 1 ? n !== 8 : n > 7) return null;
  const groups = [...head, ...Array<string>(8 - n).fill('0'), ...tail];
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail4 !== null) v = (v & ~0xffffffffn) | BigInt(tail4);
  return v;
}

/** RFC 5952: lower case, the longest run (2+) of zero groups as "::". */
export function formatIpv6(v: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((v >> BigInt(16 * i)) & 0xffffn));
  let bestAt = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestAt === 0 && (bestLen === 6 || (bestLen === 5 && g[5] === 0xffff))) {
    // IPv4-compatible and IPv4-mapped addresses end in dotted quad, as inet_ntop prints them.
    return `::${bestLen === 5 ? 'ffff:' : ''}${g[6] >>> 8}.${g[6] & 0xff}.${g[7] >>> 8}.${g[7] & 0xff}`;
  }
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

/** The prefix length of `mask` (width bits) if it is a CIDR mask, else -1. */
export function prefixLen(mask: bigint, width: number): number {
  const inv = onesBig(width) & ~mask;
  if ((inv & (inv + 1n)) !== 0n) return -1;
  return inv === 0n ? width : width - inv.toString(2).length;
}

function prefixMask(len: number, width: number): bigint {
  return len === 0 ? 0n : onesBig(width) ^ onesBig(width - len);
}

/** "LOCAL", "NORMAL", a number, or a name from `names`. Throws ValueError. */
export function parsePort(s: string, names?: PortNamer): number {
  const r = RESERVED_PORTS.get(s.toUpperCase());
  if (r !== undefined) return r;
  const n = parseUint(s);
  if (n !== null) {
    if (n > 0xffffn) throw new ValueError(`${s}: port number out of range`);
    return Number(n);
  }
  const named = names?.number(s);
  if (named !== undefined) return named;
  throw new ValueError(`${s}: unknown port`);
}

/** OVS's spelling of a port: reserved ports by name, others as numbers (or names with --names). */
export function formatPort(p: number, names?: PortNamer): string {
  if (p >= OFPP_MAX) {
    for (const [k, v] of RESERVED_PORTS) if (v === p && k !== 'NONE') return k;
  }
  const n = names?.name(p);
  if (n !== undefined) return /^[A-Za-z0-9_.-]+$/.test(n) && parseUint(n) === null && !RESERVED_PORTS.has(n.toUpperCase()) ? n : `"${n}"`;
  return String(p);
}

/** A parsed value and mask (mask = all ones when none was written). */
export interface MaskedValue {
  value: bigint;
  mask: bigint;
}

/**
 * Parses a field value "V" or "V/M" (M may be a CIDR length for addresses). Throws ValueError
 * with ovs-ofctl's wording.
 */
export function parseFieldValue(f: Field, text: string, names?: PortNamer): MaskedValue {
  const all = onesBig(f.width);
  const slash = f.format === 'port' ? -1 : text.indexOf('/');
  const vs = slash < 0 ? text : text.slice(0, slash);
  const ms = slash < 0 ? null : text.slice(slash + 1);
  if (ms !== null && !f.maskable) throw new ValueError(`${f.name} does not support masking`);
  let value: bigint;
  let mask = all;
  switch (f.format) {
    case 'port':
      value = BigInt(parsePort(text, names));
      break;
    case 'mac': {
      const v = parseMac(vs);
      if (v === null) throw new ValueError(`${vs}: invalid Ethernet address`);
      value = BigInt(v);
      if (ms !== null) {
        const m = parseMac(ms);
        if (m === null) throw new ValueError(`${ms}: invalid Ethernet address`);
        mask = BigInt(m);
      }
      break;
    }
    case 'ipv4': {
      const v = parseIpv4(vs);
      if (v === null) throw new ValueError(`${vs}: invalid IP address`);
      value = BigInt(v);
      if (ms !== null) mask = parseAddrMask(ms, 32, vs);
      break;
    }
    case 'ipv6': {
      const v = parseIpv6(vs);
      if (v === null) throw new ValueError(`${vs}: invalid IPv6 address`);
      value = v;
      if (ms !== null) mask = parseAddrMask(ms, 128, vs);
      break;
    }
    case 'frag':
      throw new ValueError(`${text}: use nw_frag=no|yes|first|later|not_later`);
    default: {
      value = parseUintBits(vs, f.width, f.name);
      if (ms !== null) mask = parseUintBits(ms, f.width, `${f.name} mask`);
    }
  }
  return { value: value & mask, mask };
}

function parseAddrMask(ms: string, width: number, vs: string): bigint {
  if (/^[0-9]+$/.test(ms)) {
    const n = Number(ms);
    if (n > width) {
      throw new ValueError(`${vs}/${ms}: ${width === 32 ? 'IPv4' : 'IPv6'} network prefix bits not between 0 and ${width}, inclusive`);
    }
    return prefixMask(n, width);
  }
  const m = width === 32 ? parseIpv4(ms) : parseIpv6(ms);
  if (m === null) throw new ValueError(`${ms}: invalid ${width === 32 ? 'IP' : 'IPv6'} mask`);
  return BigInt(m);
}

/** C's "%#x": 0 stays "0". */
export function hexAlt(v: bigint | number): string {
  return v === 0n || v === 0 ? '0' : `0x${v.toString(16)}`;
}
function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

/** The value as ovs-ofctl prints it for field `f` (mask = all ones: no "/mask"). */
export function formatFieldValue(f: Field, value: bigint, mask: bigint = onesBig(f.width), names?: PortNamer): string {
  const exact = mask === onesBig(f.width);
  switch (f.format) {
    case 'port':
      return formatPort(Number(value), names);
    case 'mac':
      return exact ? formatMac(Number(value)) : `${formatMac(Number(value))}/${formatMac(Number(mask))}`;
    case 'ipv4':
    case 'ipv6': {
      const fmt = f.format === 'ipv4' ? (v: bigint) => formatIpv4(Number(v)) : formatIpv6;
      if (exact) return fmt(value);
      const len = prefixLen(mask, f.width);
      return len >= 0 ? `${fmt(value)}/${len}` : `${fmt(value)}/${fmt(mask)}`;
    }
    case 'hex':
      return exact ? hexAlt(value) : `${hexAlt(value)}/${hexAlt(mask)}`;
    case 'hex4':
      return exact ? `0x${value.toString(16).padStart(4, '0')}` : `0x${value.toString(16).padStart(4, '0')}/0x${mask.toString(16).padStart(4, '0')}`;
    case 'hex5':
      return exact ? `0x${value.toString(16).padStart(5, '0')}` : `0x${value.toString(16).padStart(5, '0')}/0x${mask.toString(16).padStart(5, '0')}`;
    default:
      return exact ? value.toString(10) : `${hex(value)}/${hex(mask)}`;
  }
}
