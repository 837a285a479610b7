/*
 * Matches in ovs-ofctl syntax: parsing the match part of a flow ("tcp,in_port=1,nw_dst=10.0.0.0/8,
 * tp_dst=80") into a Match, and printing a Match the way ovs-ofctl dump-flows does (its field
 * order, shorthands, dl_vlan/vlan_tci choice, hex and CIDR forms). Prerequisites are enforced
 * after all items are read (order does not matter: "nw_dst=1.2.3.4,ip" is fine) with an error
 * naming what is missing ("nw_src requires ip or arp") that points at the field. Called by
 * flow-syntax.ts and by whoever needs a bare match (dump-flows filters, ofproto/trace).
 * Control path.
 */
import { ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, VLAN_CFI } from '../../lib/flow-key.js';
import { OFPBMC_BAD_PREREQ, OFPBMC_BAD_VALUE, OFPET_BAD_MATCH } from '../../lib/flowproto/error-codes.js';
import {
  ETH_TYPE_RARP, F_ETH_TYPE, F_IN_PORT, F_IP_DST, F_IP_FRAG, F_IP_SRC, F_NW_PROTO, F_NW_TOS, F_TP_DST, F_TP_SRC, fieldByName,
  IPPROTO_SCTP, P_ICMP_ANY, P_IP_ANY, P_IP_ANY_ARP, P_IP_ARP, P_L4, PREREQ_TEXT, prereqMet, type Field,
} from './fields.js';
import { getBig, getBits, getWide, OF_W_METADATA, OF_W_REG0, onesBig, setBits } from './layout.js';
import { Match } from './match.js';
import { TextWriter } from './text-writer.js';
import { keyValue, splitTop, syntaxError, type Item } from './tokens.js';
import { formatFieldValue, formatIpv6, formatMac, formatPort, hexAlt, parseFieldValue, parsePort, parseUint, prefixLen, ValueError, type PortNamer } from './values.js';

/** dl_type and nw_proto (-1: none) of each shorthand. */
export const SHORTHANDS: ReadonlyMap<string, [number, number]> = new Map([
  ['ip', [ETH_TYPE_IP, -1]], ['ipv6', [ETH_TYPE_IPV6, -1]], ['arp', [ETH_TYPE_ARP, -1]], ['rarp', [ETH_TYPE_RARP, -1]],
  ['icmp', [ETH_TYPE_IP, IPPROTO_ICMP]], ['tcp', [ETH_TYPE_IP, IPPROTO_TCP]], ['udp', [ETH_TYPE_IP, IPPROTO_UDP]],
  ['sctp', [ETH_TYPE_IP, IPPROTO_SCTP]], ['icmp6', [ETH_TYPE_IPV6, IPPROTO_ICMPV6]], ['tcp6', [ETH_TYPE_IPV6, IPPROTO_TCP]],
  ['udp6', [ETH_TYPE_IPV6, IPPROTO_UDP]], ['sctp6', [ETH_TYPE_IPV6, IPPROTO_SCTP]],
]);

/** Match keywords whose prerequisite is wider than their field's (they name several fields). */
const KEYWORD_PREREQ: ReadonlyMap<string, number> = new Map([
  ['nw_src', P_IP_ARP], ['nw_dst', P_IP_ARP], ['nw_proto', P_IP_ANY_ARP], ['ip_proto', P_IP_ANY_ARP],
  ['tp_src', P_L4], ['tp_dst', P_L4], ['icmp_type', P_ICMP_ANY], ['icmp_code', P_ICMP_ANY], ['nw_tos', P_IP_ANY],
]);

const FRAG_VALUES: ReadonlyMap<string, [number, number]> = new Map([
  ['no', [0, 1]], ['yes', [1, 1]], ['first', [1, 3]], ['later', [3, 3]], ['not_later', [0, 2]],
]);

const TCI_POS = 144;
const TOS_POS = 424;

/** A field item seen while parsing, for the prerequisite check. */
export interface FieldUse {
  name: string;
  prereq: number;
  off: number;
  len: number;
  field: Field | null;
}

function badValue(s: string, it: Item, msg: string): never {
  throw syntaxError(msg, s, it.valOff, Math.max(1, (it.value ?? '').length), OFPET_BAD_MATCH, OFPBMC_BAD_VALUE);
}

function num(s: string, it: Item, max: number, what: string): number {
  const v = parseUint(it.value ?? '');
  if (v === null || v > BigInt(max)) badValue(s, it, `${it.value}: invalid ${what}`);
  return Number(v);
}

function setTci(m: Match, value: number, mask: number): void {
  setBits(m.mask, TCI_POS, 16, mask);
  setBits(m.value, TCI_POS, 16, value & mask);
}

/**
 * Applies match item `it` of string `s` to `m`. Returns false when `it.key` is not a match
 * keyword (the caller tries its own keywords). Throws FlowSyntaxError.
 */
export function applyMatchItem(s: string, it: Item, m: Match, uses: FieldUse[], names?: PortNamer): boolean {
  const key = it.key.toLowerCase();
  const sh = SHORTHANDS.get(key);
  if (sh !== undefined && it.value === null) {
    m.setFieldNum(F_ETH_TYPE, sh[0]);
    if (sh[1] >= 0) m.setFieldNum(F_NW_PROTO, sh[1]);
    return true;
  }
  if (it.value === null) {
    if (fieldByName(key) || key === 'dl_vlan' || key === 'dl_vlan_pcp') badValue(s, it, `${it.key}: missing value`);
    return false;
  }
  const use = (name: string, prereq: number, field: Field | null): void => {
    uses.push({ name, prereq, off: it.keyOff, len: it.end - it.keyOff, field });
  };
  const tciV = getBits(m.value, TCI_POS, 16);
  const tciM = getBits(m.mask, TCI_POS, 16);
  switch (key) {
    case 'dl_vlan': {
      const v = parseUint(it.value);
      if (v === 0xffffn) setTci(m, 0, 0xffff);
      else if (v === null || v > 4095n) badValue(s, it, `${it.value}: invalid VLAN id (0 to 4095, or 0xffff for no tag)`);
      else setTci(m, (tciV & 0xe000) | VLAN_CFI | Number(v), tciM | 0x1fff);
      return true;
    }
    case 'dl_vlan_pcp': {
      const v = num(s, it, 7, 'VLAN priority');
      setTci(m, (tciV & 0x0fff) | VLAN_CFI | (v << 13), tciM | 0xf000);
      return true;
    }
    case 'nw_tos': {
      const v = num(s, it, 255, 'TOS');
      setBits(m.mask, TOS_POS, 8, (getBits(m.mask, TOS_POS, 8) | 0xfc) >>> 0);
      setBits(m.value, TOS_POS, 8, (getBits(m.value, TOS_POS, 8) & 0x03) | (v & 0xfc));
      use('nw_tos', P_IP_ANY, F_NW_TOS);
      return true;
    }
    case 'nw_frag':
    case 'ip_frag': {
      const fv = FRAG_VALUES.get(it.value.toLowerCase());
      if (fv === undefined) badValue(s, it, `${it.value}: invalid nw_frag (use no, yes, first, later or not_later)`);
      m.setFieldNum(F_IP_FRAG, fv[0], fv[1]);
      use(key, P_IP_ANY, F_IP_FRAG);
      return true;
    }
    case 'in_port': {
      try {
        m.setFieldNum(F_IN_PORT, parsePort(it.value, names));
      } catch {
        badValue(s, it, `${it.value}: invalid or unknown port for in_port`);
      }
      return true;
    }
    default:
      break;
  }
  const field = key === 'nw_src' ? F_IP_SRC : key === 'nw_dst' ? F_IP_DST : key === 'tp_src' ? F_TP_SRC
    : key === 'tp_dst' ? F_TP_DST : fieldByName(key);
  if (field === undefined) return false;
  let mv;
  try {
    mv = parseFieldValue(field, it.value, names);
  } catch (e) {
    if (e instanceof ValueError) badValue(s, it, e.message);
    throw e;
  }
  m.setField(field, mv.value, mv.mask);
  if (mv.mask !== 0n) use(it.key, KEYWORD_PREREQ.get(key) ?? field.prereq, field);
  return true;
}

/** Throws, pointing at the first field whose prerequisites `m` does not meet. */
export function checkPrereqs(s: string, m: Match, uses: readonly FieldUse[]): void {
  for (const u of uses) {
    if (!prereqMet(u.prereq, m.value, m.mask)) {
      throw syntaxError(`${u.name} requires ${PREREQ_TEXT[u.prereq]}`, s, u.off, u.len, OFPET_BAD_MATCH, OFPBMC_BAD_PREREQ);
    }
  }
}

/** Parses a bare match ("tcp,nw_dst=10.0.0.1"); unknown keywords are errors. */
export function parseMatch(s: string, names?: PortNamer): Match {
  const m = new Match();
  const uses: FieldUse[] = [];
  for (const seg of splitTop(s, 0, s.length, true)) {
    const it = keyValue(s, seg);
    if (!applyMatchItem(s, it, m, uses, names)) throw syntaxError(`unknown keyword ${it.key}`, s, it.keyOff, it.key.length || 1);
  }
  checkPrereqs(s, m, uses);
  return m;
}

// ---- Formatting ---------------------------------------------------------------------------------

const SHORT_IP: Record<number, string> = { [IPPROTO_ICMP]: 'icmp', [IPPROTO_TCP]: 'tcp', [IPPROTO_UDP]: 'udp', [IPPROTO_SCTP]: 'sctp' };
const SHORT_IP6: Record<number, string> = { [IPPROTO_ICMPV6]: 'icmp6', [IPPROTO_TCP]: 'tcp6', [IPPROTO_UDP]: 'udp6', [IPPROTO_SCTP]: 'sctp6' };

function masked16(v: number, m: number): string {
  return m === 0xffff ? String(v) : `0x${v.toString(16)}/0x${m.toString(16)}`;
}
function macM(val: Uint32Array, msk: Uint32Array, pos: number): string | null {
  // MAC fields start on a 16-bit boundary: three u16 reads tell a wildcarded one cheaply.
  if ((u16(msk, pos) | u16(msk, pos + 16) | u16(msk, pos + 32)) === 0) return null;
  const m = getWide(msk, pos, 48);
  if (m === 0) return null;
  const v = getWide(val, pos, 48);
  return m === 0xffffffffffff ? formatMac(v) : `${formatMac(v)}/${formatMac(m)}`;
}
function ip6M(val: Uint32Array, msk: Uint32Array, pos: number): string | null {
  const m = getBig(msk, pos, 128);
  if (m === 0n) return null;
  const v = formatIpv6(getBig(val, pos, 128));
  if (m === onesBig(128)) return v;
  const len = prefixLen(m, 128);
  return len >= 0 ? `${v}/${len}` : `${v}/${formatIpv6(m)}`;
}

/** An IPv4 address, and "/len" or "/mask" unless the mask is all ones. */
function ip4Into(t: TextWriter, v: number, m: number): void {
  ip4Digits(t, v);
  if (m === 0xffffffff) return;
  t.char(47);
  const inv = ~m >>> 0;
  if ((inv & (inv + 1)) === 0) t.uint(Math.clz32(inv)); // a prefix of that length (as prefixLen)
  else ip4Digits(t, m);
}
function ip4Digits(t: TextWriter, v: number): void {
  t.uint(v >>> 24);
  t.char(46);
  t.uint((v >>> 16) & 0xff);
  t.char(46);
  t.uint((v >>> 8) & 0xff);
  t.char(46);
  t.uint(v & 0xff);
}

/** 16 bits at a stream position that does not cross a word (formatMatch's fixed fields: cheaper than getBits). */
function u16(w: Uint32Array, pos: number): number {
  return (w[pos >>> 5] >>> (16 - (pos & 31))) & 0xffff;
}
/** 8 bits at a byte-aligned stream position. */
function u8(w: Uint32Array, pos: number): number {
  return (w[pos >>> 5] >>> (24 - (pos & 31))) & 0xff;
}

/** Scratch for formatMatch's string. */
const scratch = new TextWriter(4096);

/**
 * The match as ovs-ofctl prints it, with "priority=N" first unless it is the default 32768:
 * "priority=100,tcp,in_port=1,nw_dst=10.0.0.0/8,tp_dst=80". Empty string for a catch-all at
 * the default priority.
 */
export function formatMatch(match: Match, priority = 32768, names?: PortNamer): string {
  formatMatchInto(scratch, match, priority, names);
  return scratch.take();
}

/** formatMatch, written into `t` (dump-flows writes 100k of them into one buffer). */
export function formatMatchInto(t: TextWriter, match: Match, priority = 32768, names?: PortNamer): void {
  const val = match.value;
  const msk = match.mask;
  let n = 0; // items written: a comma goes before every one but the first
  if (priority !== 32768) {
    n++;
    t.ascii('priority=');
    t.uint(priority);
  }
  const typeExact = u16(msk, 128) === 0xffff;
  const type = typeExact ? u16(val, 128) : -1;
  const protoMask = u8(msk, 416);
  const proto = protoMask === 0xff ? u8(val, 416) : -1;
  let skipType = true;
  let skipProto = false;
  if (type === ETH_TYPE_IP) {
    const sh = proto >= 0 ? SHORT_IP[proto] : undefined;
    { if (n++) t.char(44); t.ascii(sh ?? 'ip'); }
    skipProto = sh !== undefined;
  } else if (type === ETH_TYPE_IPV6) {
    const sh = proto >= 0 ? SHORT_IP6[proto] : undefined;
    { if (n++) t.char(44); t.ascii(sh ?? 'ipv6'); }
    skipProto = sh !== undefined;
  } else if (type === ETH_TYPE_ARP) { if (n++) t.char(44); t.str('arp'); }
  else if (type === ETH_TYPE_RARP) { if (n++) t.char(44); t.str('rarp'); }
  else skipType = false;

  for (let i = 0; i < 16; i++) {
    const m = msk[OF_W_REG0 + i]; // reg i is that whole word (F_REG[i])
    if (m !== 0) { if (n++) t.char(44); t.str(`reg${i}=${m === 0xffffffff ? hexAlt(val[OF_W_REG0 + i]) : `${hexAlt(val[OF_W_REG0 + i])}/${hexAlt(m)}`}`); }
  }
  if (msk[OF_W_METADATA] !== 0 || msk[OF_W_METADATA + 1] !== 0) {
    const m = getBig(msk, OF_W_METADATA * 32, 64);
    const v = getBig(val, OF_W_METADATA * 32, 64);
    { if (n++) t.char(44); t.str(`metadata=${m === onesBig(64) ? hexAlt(v) : `${hexAlt(v)}/${hexAlt(m)}`}`); }
  }
  if (u16(msk, 16) !== 0) { if (n++) t.char(44); t.str(`in_port=${formatPort(u16(val, 16), names)}`); }

  const tciM = u16(msk, TCI_POS);
  if (tciM !== 0) {
    const tci = u16(val, TCI_POS);
    const vidM = tciM & 0x0fff;
    const pcpM = tciM & 0xe000;
    if ((tciM & VLAN_CFI) !== 0 && (tci & VLAN_CFI) !== 0 && (vidM === 0 || vidM === 0xfff) && (pcpM === 0 || pcpM === 0xe000) && (vidM || pcpM)) {
      if (vidM) { if (n++) t.char(44); t.str(`dl_vlan=${tci & 0xfff}`); }
      if (pcpM) { if (n++) t.char(44); t.str(`dl_vlan_pcp=${tci >>> 13}`); }
    } else {
      if (n++) t.char(44);
      t.ascii(tciM === 0xffff ? `vlan_tci=0x${tci.toString(16).padStart(4, '0')}`
        : `vlan_tci=0x${tci.toString(16).padStart(4, '0')}/0x${tciM.toString(16).padStart(4, '0')}`);
    }
  }
  const src = macM(val, msk, 80);
  if (src !== null) { if (n++) t.char(44); t.str(`dl_src=${src}`); }
  const dst = macM(val, msk, 32);
  if (dst !== null) { if (n++) t.char(44); t.str(`dl_dst=${dst}`); }
  if (!skipType && typeExact) { if (n++) t.char(44); t.str(`dl_type=0x${type.toString(16).padStart(4, '0')}`); }

  const arp = type === ETH_TYPE_ARP || type === ETH_TYPE_RARP;
  if (type === ETH_TYPE_IPV6) {
    const s6 = ip6M(val, msk, 160);
    if (s6 !== null) { if (n++) t.char(44); t.str(`ipv6_src=${s6}`); }
    const d6 = ip6M(val, msk, 288);
    if (d6 !== null) { if (n++) t.char(44); t.str(`ipv6_dst=${d6}`); }
    const lm = getBits(msk, 588, 20);
    if (lm !== 0) { if (n++) t.char(44); t.str(`ipv6_label=${formatFieldValue(fieldByName('ipv6_label')!, BigInt(getBits(val, 588, 20)), BigInt(lm))}`); }
  } else {
    if (msk[5] !== 0) {
      if (n++) t.char(44);
      t.ascii(arp ? 'arp_spa=' : 'nw_src=');
      ip4Into(t, val[5], msk[5]);
    }
    if (msk[9] !== 0) {
      if (n++) t.char(44);
      t.ascii(arp ? 'arp_tpa=' : 'nw_dst=');
      ip4Into(t, val[9], msk[9]);
    }
  }
  if (!skipProto && protoMask !== 0) { if (n++) t.char(44); t.str(`${arp ? 'arp_op' : 'nw_proto'}=${u8(val, 416)}`); }
  if (arp) {
    const sha = macM(val, msk, 480);
    if (sha !== null) { if (n++) t.char(44); t.str(`arp_sha=${sha}`); }
    const tha = macM(val, msk, 528);
    if (tha !== null) { if (n++) t.char(44); t.str(`arp_tha=${tha}`); }
  }
  const tosM = u8(msk, TOS_POS);
  const tos = u8(val, TOS_POS);
  if (tosM & 0xfc) { if (n++) t.char(44); t.str(`nw_tos=${tos & 0xfc}`); }
  if (tosM & 0x03) { if (n++) t.char(44); t.str(`nw_ecn=${tos & 0x03}`); }
  if (u8(msk, 432) !== 0) { if (n++) t.char(44); t.str(`nw_ttl=${u8(val, 432)}`); }
  const fragM = u8(msk, 440) & 3;
  if (fragM !== 0) {
    const fv = u8(val, 440) & 3;
    const name = fragM === 3 ? (fv === 0 ? 'no' : fv === 1 ? 'first' : 'later') : fragM === 1 ? (fv ? 'yes' : 'no') : (fv ? 'later' : 'not_later');
    { if (n++) t.char(44); t.str(`nw_frag=${name}`); }
  }
  const icmp = (type === ETH_TYPE_IP && proto === IPPROTO_ICMP) || (type === ETH_TYPE_IPV6 && proto === IPPROTO_ICMPV6);
  const spM = u16(msk, 448);
  const dpM = u16(msk, 464);
  if (icmp) {
    if (spM !== 0) { if (n++) t.char(44); t.str(`icmp_type=${u8(val, 456)}`); }
    if (dpM !== 0) { if (n++) t.char(44); t.str(`icmp_code=${u8(val, 472)}`); }
    if (type === ETH_TYPE_IPV6) {
      const nd = ip6M(val, msk, 608);
      if (nd !== null) { if (n++) t.char(44); t.str(`nd_target=${nd}`); }
      const sll = macM(val, msk, 480);
      if (sll !== null) { if (n++) t.char(44); t.str(`nd_sll=${sll}`); }
      const tll = macM(val, msk, 528);
      if (tll !== null) { if (n++) t.char(44); t.str(`nd_tll=${tll}`); }
    }
  } else {
    if (spM !== 0) {
      if (n++) t.char(44);
      t.ascii('tp_src=');
      if (spM === 0xffff) t.uint(u16(val, 448));
      else t.ascii(masked16(u16(val, 448), spM));
    }
    if (dpM !== 0) {
      if (n++) t.char(44);
      t.ascii('tp_dst=');
      if (dpM === 0xffff) t.uint(u16(val, 464));
      else t.ascii(masked16(u16(val, 464), dpM));
    }
  }
}
