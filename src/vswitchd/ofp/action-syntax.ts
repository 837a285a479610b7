/*
 * Actions in ovs-ofctl syntax: parsing the text after "actions=" into the action model
 * (actions.ts) and printing a list back the way ovs-ofctl dump-flows shows it ("output:2",
 * "NORMAL", "CONTROLLER:65535", "mod_vlan_vid:10", "set_field:10.0.0.5->ip_dst",
 * "load:0x1->NXM_NX_REG0[]", "resubmit(,2)", "learn(...)"). Errors use ovs-ofctl's wording and
 * point at the offending action. Called by flow-syntax.ts and packet-out parsing. Control path.
 */
import type { OfAction } from './actions.js';
import { OFPR_ACTION, OFPR_INVALID_TTL, OFPR_NO_MATCH } from './actions.js';
import { fieldByName } from './fields.js';
import { OFPP_CONTROLLER, OFPP_IN_PORT, OFPTT_ALL, onesBig } from './layout.js';
import { formatLearn, parseLearn } from './learn.js';
import { formatFieldRef, isFieldRef, parseFieldRef } from './subfield.js';
import { keyValue, splitTop, syntaxError, type Item, type Seg } from './tokens.js';
import {
  formatFieldValue, formatIpv4, formatMac, formatPort, hexAlt, parseFieldValue, parseIpv4, parseMac, parsePort, parseUint,
  RESERVED_PORTS, ValueError, type PortNamer,
} from './values.js';

const REASONS = ['no_match', 'action', 'invalid_ttl'];

function intArg(v: string | null, max: number, complaint: (v: string) => string): number {
  const n = parseUint(v ?? '');
  if (n === null || n > BigInt(max)) throw new ValueError(complaint(v ?? ''));
  return Number(n);
}

function noteBytes(v: string): Uint8Array {
  const hex = v.replace(/\./g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new ValueError("bad hex digit in `note' argument");
  const data = new Uint8Array(hex.length / 2);
  for (let i = 0; i < data.length; i++) data[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return data;
}

function parseController(it: Item): OfAction {
  const a = { type: 'controller' as const, maxLen: 65535, reason: OFPR_ACTION, id: 0, userdata: null as Uint8Array | null };
  if (it.value === null || it.value === '') return a;
  if (it.form === ':') {
    a.maxLen = intArg(it.value, 65535, (v) => `invalid max_len "${v}"`);
    return a;
  }
  const s = it.value;
  for (const seg of splitTop(s, 0, s.length, false)) {
    const kv = keyValue(s, seg);
    switch (kv.key) {
      case 'max_len': a.maxLen = intArg(kv.value, 65535, (v) => `invalid max_len "${v}"`); break;
      case 'id': a.id = intArg(kv.value, 65535, (v) => `invalid controller id "${v}"`); break;
      case 'reason': {
        const r = REASONS.indexOf(kv.value ?? '');
        if (r < 0) throw new ValueError(`unknown reason "${kv.value}"`);
        a.reason = r;
        break;
      }
      case 'userdata': a.userdata = noteBytes(kv.value ?? ''); break;
      default: throw new ValueError(`${kv.key}: unknown controller argument`);
    }
  }
  return a;
}

function parseResubmit(it: Item, names?: PortNamer): OfAction {
  let portText = it.value ?? '';
  let tableText = '';
  if (it.form === '(') {
    const comma = portText.indexOf(',');
    if (comma >= 0) {
      tableText = portText.slice(comma + 1).trim();
      portText = portText.slice(0, comma).trim();
    }
    if (portText === '' && tableText === '') throw new ValueError('at least one "in_port" or "table" must be specified on resubmit');
  }
  const port = portText === '' ? OFPP_IN_PORT : parsePort(portText, names);
  const table = tableText === '' ? OFPTT_ALL : intArg(tableText, 254, (v) => `${v}: resubmit to unknown table`);
  return { type: 'resubmit', port, table };
}

function arrow(v: string, what: string): [string, string] {
  const i = v.lastIndexOf('->');
  if (i < 0) throw new ValueError(`${v}: missing "->" in ${what}`);
  return [v.slice(0, i), v.slice(i + 2)];
}

function parseOne(s: string, it: Item, names?: PortNamer): OfAction | null {
  const key = it.key.toLowerCase();
  const v = it.value;
  if (v === null) {
    switch (key) {
      case 'normal': case 'flood': case 'all': case 'in_port': case 'local': case 'table':
        return { type: 'output', port: RESERVED_PORTS.get(key.toUpperCase())! };
      case 'controller': return parseController(it);
      case 'drop': return null;
      case 'strip_vlan': case 'pop_vlan': return { type: 'strip_vlan', spelling: key };
      case 'dec_ttl': return { type: 'dec_ttl', ids: [] };
      case 'note': return { type: 'note', data: new Uint8Array(0) };
      default: break;
    }
    // A bare port: "2", or a name with --names.
    if (parseUint(it.key) !== null || names?.number(it.key) !== undefined) return { type: 'output', port: parsePort(it.key, names) };
    throw syntaxError(`unknown action ${it.key}`, s, it.keyOff, it.key.length || 1);
  }
  switch (key) {
    case 'output': {
      if (it.form === '(') throw new ValueError(`output(...): truncating output is not supported; use output:PORT`);
      if (isFieldRef(v) && RESERVED_PORTS.get(v.toUpperCase()) === undefined && names?.number(v) === undefined) {
        return { type: 'output_reg', src: parseFieldRef(v) };
      }
      let port: number;
      try {
        port = parsePort(v, names);
      } catch {
        throw new ValueError(`${v}: output to unknown port`);
      }
      return port === OFPP_CONTROLLER ? { type: 'controller', maxLen: 65535, reason: OFPR_ACTION, id: 0, userdata: null } : { type: 'output', port };
    }
    case 'controller': return parseController(it);
    case 'enqueue': throw new ValueError('enqueue: queues are not supported');
    case 'mod_vlan_vid': return { type: 'mod_vlan_vid', vid: intArg(v, 4095, (x) => `${x}: not a valid VLAN VID`) };
    case 'mod_vlan_pcp': return { type: 'mod_vlan_pcp', pcp: intArg(v, 7, (x) => `${x}: not a valid VLAN PCP`) };
    case 'push_vlan': {
      const t = parseUint(v);
      if (t !== 0x8100n && t !== 0x88a8n) throw new ValueError(`${v}: not a valid VLAN ethertype`);
      return { type: 'push_vlan', ethertype: Number(t) };
    }
    case 'mod_dl_src': case 'mod_dl_dst': {
      const mac = parseMac(v);
      if (mac === null) throw new ValueError(`${v}: invalid Ethernet address`);
      return { type: key, mac };
    }
    case 'mod_nw_src': case 'mod_nw_dst': {
      const ip = parseIpv4(v);
      if (ip === null) throw new ValueError(`${v}: invalid IP address`);
      return { type: key, ip };
    }
    case 'mod_nw_tos': {
      const tos = intArg(v, 255, (x) => `${x}: not a valid TOS`);
      if (tos & 3) throw new ValueError(`${v}: not a valid TOS`);
      return { type: 'mod_nw_tos', tos };
    }
    case 'mod_nw_ecn': return { type: 'mod_nw_ecn', ecn: intArg(v, 3, (x) => `${x}: not a valid ECN`) };
    case 'mod_nw_ttl': return { type: 'mod_nw_ttl', ttl: intArg(v, 255, (x) => `invalid TTL "${x}"`) };
    case 'mod_tp_src': case 'mod_tp_dst': return { type: key, port: intArg(v, 65535, (x) => `${x}: invalid TCP/UDP port`) };
    case 'dec_ttl': {
      const ids = v.trim() === '' ? [] : v.split(',').map((x) => intArg(x.trim(), 65535, (y) => `${y}: invalid controller id`));
      return { type: 'dec_ttl', ids };
    }
    case 'set_field': {
      const [val, name] = arrow(v, 'set_field');
      const field = fieldByName(name.trim());
      if (field === undefined) throw new ValueError(`${name} is not a valid OXM field name`);
      const mv = parseFieldValue(field, val, names);
      return { type: 'set_field', field, value: mv.value, mask: mv.mask };
    }
    case 'load': {
      const [val, dstText] = arrow(v, 'load');
      const dst = parseFieldRef(dstText);
      const n = parseUint(val);
      if (n === null) throw new ValueError(`${val}: invalid value for load`);
      if (n > onesBig(dst.nbits)) throw new ValueError(`${v}: value ${val} does not fit into ${dst.nbits} bits`);
      return { type: 'load', dst, value: n };
    }
    case 'move': {
      const [a, b] = arrow(v, 'move');
      const src = parseFieldRef(a);
      const dst = parseFieldRef(b);
      if (src.nbits !== dst.nbits) throw new ValueError(`${v}: source field is ${src.nbits} bits wide but destination is ${dst.nbits} bits wide`);
      return { type: 'move', src, dst };
    }
    case 'resubmit': return parseResubmit(it, names);
    case 'goto_table': return { type: 'goto_table', table: intArg(v, 254, (x) => `${x}: invalid table id`) };
    case 'write_metadata': {
      const slash = v.indexOf('/');
      const val = parseUint(slash < 0 ? v : v.slice(0, slash));
      const mask = slash < 0 ? onesBig(64) : parseUint(v.slice(slash + 1));
      if (val === null || mask === null || val > onesBig(64) || mask > onesBig(64)) throw new ValueError(`${v}: invalid metadata`);
      return { type: 'write_metadata', value: val & mask, mask };
    }
    case 'note': return { type: 'note', data: noteBytes(v) };
    case 'learn': {
      if (it.form !== '(') throw new ValueError('learn: expected learn(...)');
      return { type: 'learn', spec: parseLearn(s, it.valOff, it.valOff + v.length, names) };
    }
    default:
      throw syntaxError(`unknown action ${it.key}`, s, it.keyOff, it.key.length || 1);
  }
}

/**
 * Parses the actions in s[start, end) (the text after "actions="). "drop" must stand alone.
 * Throws FlowSyntaxError pointing at the bad action.
 */
export function parseActions(s: string, start: number, end: number, names?: PortNamer, offsets?: Seg[]): OfAction[] {
  const out: OfAction[] = [];
  const segs = splitTop(s, start, end, false);
  for (const seg of segs) {
    let it: Item;
    let a: OfAction | null;
    try {
      it = keyValue(s, seg);
      a = parseOne(s, it, names);
    } catch (e) {
      if (e instanceof ValueError) throw syntaxError(e.message, s, seg.off, seg.end - seg.off);
      throw e;
    }
    if (a === null) {
      if (segs.length > 1) throw syntaxError('"drop" must not be accompanied by any other action or instruction', s, seg.off, seg.end - seg.off);
      continue;
    }
    out.push(a);
    offsets?.push(seg);
  }
  return out;
}

function dotted(data: Uint8Array): string {
  return Array.from(data, (b) => b.toString(16).padStart(2, '0')).join('.');
}

/** The bytes of a note as stored: padded with zeros as OVS pads NXAST_NOTE (to 8-byte actions). */
export function paddedNote(data: Uint8Array): Uint8Array {
  const len = ((data.length + 10 + 7) & ~7) - 10;
  if (len === data.length) return data;
  const out = new Uint8Array(len);
  out.set(data);
  return out;
}

/** One action as ovs-ofctl prints it. */
export function formatAction(a: OfAction, names?: PortNamer): string {
  switch (a.type) {
    case 'output': {
      const p = formatPort(a.port, names);
      return a.port >= 0xff00 ? p : `output:${p}`;
    }
    case 'output_reg': return `output:${formatFieldRef(a.src)}`;
    case 'controller': {
      if (a.reason === OFPR_ACTION && a.id === 0 && a.userdata === null) return `CONTROLLER:${a.maxLen}`;
      const p: string[] = [];
      if (a.reason !== OFPR_ACTION) p.push(`reason=${REASONS[a.reason] ?? a.reason}`);
      if (a.maxLen !== 65535) p.push(`max_len=${a.maxLen}`);
      if (a.id !== 0) p.push(`id=${a.id}`);
      if (a.userdata !== null) p.push(`userdata=${dotted(a.userdata)}`);
      return `controller(${p.join(',')})`;
    }
    case 'mod_vlan_vid': return `mod_vlan_vid:${a.vid}`;
    case 'mod_vlan_pcp': return `mod_vlan_pcp:${a.pcp}`;
    case 'strip_vlan': return a.spelling;
    case 'push_vlan': return `push_vlan:0x${a.ethertype.toString(16)}`;
    case 'mod_dl_src': case 'mod_dl_dst': return `${a.type}:${formatMac(a.mac)}`;
    case 'mod_nw_src': case 'mod_nw_dst': return `${a.type}:${formatIpv4(a.ip)}`;
    case 'mod_nw_tos': return `mod_nw_tos:${a.tos}`;
    case 'mod_nw_ecn': return `mod_nw_ecn:${a.ecn}`;
    case 'mod_nw_ttl': return `mod_nw_ttl:${a.ttl}`;
    case 'mod_tp_src': case 'mod_tp_dst': return `${a.type}:${a.port}`;
    case 'dec_ttl': return a.ids.length === 0 || (a.ids.length === 1 && a.ids[0] === 0) ? 'dec_ttl' : `dec_ttl(${a.ids.join(',')})`;
    case 'set_field': return `set_field:${formatFieldValue(a.field, a.value, a.mask, names)}->${a.field.name}`;
    case 'load': return `load:${hexAlt(a.value)}->${formatFieldRef(a.dst)}`;
    case 'move': return `move:${formatFieldRef(a.src)}->${formatFieldRef(a.dst)}`;
    case 'resubmit': {
      const port = a.port === OFPP_IN_PORT ? '' : formatPort(a.port, names);
      return a.table === OFPTT_ALL ? `resubmit:${port || 'IN_PORT'}` : `resubmit(${port},${a.table})`;
    }
    case 'goto_table': return `goto_table:${a.table}`;
    case 'write_metadata': return a.mask === onesBig(64) ? `write_metadata:${hexAlt(a.value)}` : `write_metadata:${hexAlt(a.value)}/${hexAlt(a.mask)}`;
    case 'note': return `note:${dotted(paddedNote(a.data))}`;
    case 'learn': return formatLearn(a.spec, names);
  }
}

/** The list as ovs-ofctl prints it; "drop" when empty. */
export function formatActions(actions: readonly OfAction[], names?: PortNamer): string {
  if (actions.length === 0) return 'drop';
  let s = '';
  for (let i = 0; i < actions.length; i++) s += (i ? ',' : '') + formatAction(actions[i], names);
  return s;
}

export { OFPR_NO_MATCH, OFPR_INVALID_TTL };
