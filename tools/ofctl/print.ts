/*
 * ofctl's printing of flow-protocol replies and asynchronous messages in ovs-ofctl's shapes:
 * features and ports (show, dump-ports-desc, port_status), port and table statistics,
 * descriptions, aggregates, flow mods (in error reports), flow_removed and flow monitor
 * updates. `style` is the OpenFlow version ovs-ofctl would have used (-O): 1.0 by default, whose
 * headers read "NXST_FLOW reply (xid=0x4):", 1.1 and later "OFPST_FLOW reply (OF1.3) (xid=0x2):".
 * Pure functions of the decoded messages; control path.
 */
import type { AggregateStatsReply, DescReply, FeaturesReply, FlowRemoved, FlowUpdate, Port, PortStats, TableStats } from '../../src/lib/flowproto/messages.js';
import { formatActions } from '../../src/vswitchd/ofp/action-syntax.js';
import type { FlowMod } from '../../src/vswitchd/ofp/flow-syntax.js';
import { OFPTT_ALL } from '../../src/vswitchd/ofp/layout.js';
import { formatMatch } from '../../src/vswitchd/ofp/match-syntax.js';
import { formatPort, type PortNamer } from '../../src/vswitchd/ofp/values.js';
import { instructionsFromWire } from '../../src/vswitchd/ofp/wire.js';
import { matchFromWire, portFromWire } from '../../src/vswitchd/ofp/wire-match.js';

/** The OpenFlow version whose output shapes ofctl follows: 10 (1.0, the default) ... 15. */
export type Style = number;

/** " (OF1.3)" for 1.1 and later; nothing for 1.0, as ovs-ofctl labels its headers. */
export function verLabel(style: Style): string {
  return style === 10 ? '' : ` (OF${Math.floor(style / 10)}.${style % 10})`;
}

/** "OFPST_FLOW reply (OF1.3) (xid=0x2):" style headers. */
export function header(name: string, style: Style, xid: number): string {
  return `${name}${verLabel(style)} (xid=0x${xid.toString(16)}):`;
}

function bits(v: number, names: [number, string][]): string {
  const out: string[] = [];
  for (const [b, n] of names) if ((v & b) !== 0) out.push(n);
  return out.length ? out.join(' ') : '0';
}

const CAPS_10: [number, string][] = [[1, 'FLOW_STATS'], [2, 'TABLE_STATS'], [4, 'PORT_STATS'], [8, 'STP'], [0x20, 'IP_REASM'], [0x40, 'QUEUE_STATS'], [0x80, 'ARP_MATCH_IP']];
const CAPS_13: [number, string][] = [[1, 'FLOW_STATS'], [2, 'TABLE_STATS'], [4, 'PORT_STATS'], [8, 'GROUP_STATS'], [0x20, 'IP_REASM'], [0x40, 'QUEUE_STATS'], [0x100, 'PORT_BLOCKED']];
const CONFIG: [number, string][] = [[1, 'PORT_DOWN'], [4, 'NO_RECV'], [16, 'NO_FLOOD'], [32, 'NO_FWD'], [64, 'NO_PACKET_IN']];
const STATE_10: [number, string][] = [[1, 'LINK_DOWN'], [2, 'BLOCKED']];
const STATE_13: [number, string][] = [[1, 'LINK_DOWN'], [2, 'BLOCKED'], [4, 'LIVE']];
const FEATURES: [number, string][] = [
  [1 << 0, '10MB-HD'], [1 << 1, '10MB-FD'], [1 << 2, '100MB-HD'], [1 << 3, '100MB-FD'], [1 << 4, '1GB-HD'], [1 << 5, '1GB-FD'],
  [1 << 6, '10GB-FD'], [1 << 7, '40GB-FD'], [1 << 8, '100GB-FD'], [1 << 9, '1TB-FD'], [1 << 10, 'OTHER'], [1 << 11, 'COPPER'],
  [1 << 12, 'FIBER'], [1 << 13, 'AUTO_NEG'], [1 << 14, 'AUTO_PAUSE'], [1 << 15, 'AUTO_PAUSE_ASYM'],
];
/** The actions line of an OpenFlow 1.0 features reply: the OpenFlow 1.0 actions this switch has. */
const ACTIONS_10 = 'output set_vlan_vid set_vlan_pcp strip_vlan mod_dl_src mod_dl_dst mod_nw_src mod_nw_dst mod_nw_tos mod_tp_src mod_tp_dst';

function mac(b: Uint8Array | undefined): string {
  const a = b ?? new Uint8Array(6);
  return Array.from(a, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** A wire port number as ovs-ofctl prints it ("1", "LOCAL", a name with --names). */
export function portName(wire: number, names?: PortNamer): string {
  try {
    return formatPort(portFromWire(wire), names);
  } catch {
    return String(wire);
  }
}

/** One port of show / dump-ports-desc / port_status. */
export function formatPortDesc(p: Port, style: Style): string {
  let s = ` ${portName(p.portNo ?? 0)}(${p.name ?? ''}): addr:${mac(p.hwAddr)}\n`;
  s += `     config:     ${bits(p.config ?? 0, CONFIG)}\n`;
  s += `     state:      ${bits(p.state ?? 0, style === 10 ? STATE_10 : STATE_13)}\n`;
  if (p.curr) s += `     current:    ${bits(p.curr, FEATURES)}\n`;
  if (p.advertised) s += `     advertised: ${bits(p.advertised, FEATURES)}\n`;
  if (p.supported) s += `     supported:  ${bits(p.supported, FEATURES)}\n`;
  if (p.peer) s += `     peer:       ${bits(p.peer, FEATURES)}\n`;
  s += `     speed: ${Math.floor((p.currSpeed ?? 0) / 1000)} Mbps now, ${Math.floor((p.maxSpeed ?? 0) / 1000)} Mbps max\n`;
  return s;
}

/** Ports by number, LOCAL (and other reserved numbers) last, as ovs-ofctl sorts them. */
export function sortPorts(ports: readonly Port[]): Port[] {
  return [...ports].sort((a, b) => (a.portNo ?? 0) - (b.portNo ?? 0));
}

/** The features reply part of show (OpenFlow 1.0 lists the ports in it). */
export function formatFeatures(f: FeaturesReply, style: Style, xid: number): string {
  let s = `${header('OFPT_FEATURES_REPLY', style, xid)} dpid:${(f.datapathId ?? 0n).toString(16).padStart(16, '0')}\n`;
  s += `n_tables:${f.nTables ?? 0}, n_buffers:${f.nBuffers ?? 0}\n`;
  s += `capabilities: ${bits(f.capabilities ?? 0, style === 10 ? CAPS_10 : CAPS_13)}\n`;
  if (style === 10) {
    s += `actions: ${ACTIONS_10}\n`;
    for (const p of sortPorts(f.ports ?? [])) s += formatPortDesc(p, style);
  }
  return s;
}

export function formatPortDescs(ports: readonly Port[], style: Style, xid: number): string {
  let s = `${header('OFPST_PORT_DESC reply', style, xid)}\n`;
  for (const p of sortPorts(ports)) s += formatPortDesc(p, style);
  return s;
}

export function formatGetConfig(missSendLen: number, style: Style, xid: number): string {
  return `${header('OFPT_GET_CONFIG_REPLY', style, xid)} frags=normal miss_send_len=${missSendLen}\n`;
}

export function formatDesc(d: DescReply, style: Style, xid: number): string {
  return `${header('OFPST_DESC reply', style, xid)}\nManufacturer: ${d.mfrDesc ?? ''}\nHardware: ${d.hwDesc ?? ''}\nSoftware: ${d.swDesc ?? ''}\n` +
    `Serial Num: ${d.serialNum ?? ''}\nDP Description: ${d.dpDesc ?? ''}\n`;
}

export function formatAggregate(a: AggregateStatsReply, style: Style, xid: number): string {
  const name = style === 10 ? 'NXST_AGGREGATE reply' : 'OFPST_AGGREGATE reply';
  return `${header(name, style, xid)} packet_count=${a.packetCount ?? 0n} byte_count=${a.byteCount ?? 0n} flow_count=${a.flowCount ?? 0}\n`;
}

export function formatPortStats(stats: readonly PortStats[], style: Style, xid: number, names?: PortNamer): string {
  let s = `${header('OFPST_PORT reply', style, xid)} ${stats.length} ports\n`;
  for (const p of stats) {
    s += `  port ${portName(p.portNo ?? 0, names).padStart(2)}: rx pkts=${p.rxPackets ?? 0n}, bytes=${p.rxBytes ?? 0n}, drop=${p.rxDropped ?? 0n}, ` +
      `errs=${p.rxErrors ?? 0n}, frame=${p.rxFrameErr ?? 0n}, over=${p.rxOverErr ?? 0n}, crc=${p.rxCrcErr ?? 0n}\n`;
    s += `           tx pkts=${p.txPackets ?? 0n}, bytes=${p.txBytes ?? 0n}, drop=${p.txDropped ?? 0n}, errs=${p.txErrors ?? 0n}, coll=${p.collisions ?? 0n}\n`;
    if (style >= 13) s += `           duration=${duration(p.durationSec ?? 0, p.durationNsec ?? 0)}\n`;
  }
  return s;
}

/** "12.345s" (milliseconds), as ovs-ofctl prints durations. */
export function duration(sec: number, nsec: number): string {
  return `${sec}.${String(Math.floor(nsec / 1e6)).padStart(3, '0')}s`;
}

function tableKey(t: TableStats): string {
  return `${t.activeCount ?? 0}|${t.lookupCount ?? 0n}|${t.matchedCount ?? 0n}`;
}

/** dump-tables: each table's counters; a run of tables like the one before is "ditto". */
export function formatTables(tables: readonly TableStats[], style: Style, xid: number): string {
  let s = `${header('OFPST_TABLE reply', style, xid)}\n`;
  let i = 0;
  while (i < tables.length) {
    const t = tables[i];
    s += `  table ${t.tableId ?? 0}${t.name ? ` ("${t.name}")` : ''}:\n    active=${t.activeCount ?? 0}, lookup=${t.lookupCount ?? 0n}, matched=${t.matchedCount ?? 0n}\n`;
    if (style === 10 && i === 0 && t.maxEntries) s += `    max_entries=${t.maxEntries}\n`;
    s += '\n';
    let j = i + 1;
    while (j < tables.length && tableKey(tables[j]) === tableKey(t) && !tables[j].name) j++;
    if (j - i === 2) s += `  table ${tables[i + 1].tableId ?? 0}: ditto\n`;
    else if (j - i > 2) s += `  tables ${tables[i + 1].tableId ?? 0}...${tables[j - 1].tableId ?? 0}: ditto\n`;
    i = j;
  }
  return s;
}

const FM_COMMANDS: Record<string, string> = { add: 'ADD', modify: 'MOD', modify_strict: 'MOD_STRICT', delete: 'DEL', delete_strict: 'DEL_STRICT' };
const FLAG_NAMES: [number, string][] = [[1, 'send_flow_rem'], [2, 'check_overlap'], [4, 'reset_counts'], [8, 'no_packet_counts'], [16, 'no_byte_counts']];

/** A flow mod as ovs-ofctl prints an OFPT_FLOW_MOD: "ADD priority=100,ip check_overlap actions=drop". */
export function formatFlowModMsg(fm: FlowMod, names?: PortNamer): string {
  let s = FM_COMMANDS[fm.command] ?? fm.command.toUpperCase();
  if (fm.table !== 0 && fm.table !== OFPTT_ALL) s += ` table:${fm.table}`;
  const m = formatMatch(fm.match, fm.priority, names);
  if (m) s += ` ${m}`;
  if (fm.cookie !== 0n) s += ` cookie:0x${fm.cookie.toString(16)}`;
  if (fm.idleTimeout) s += ` idle:${fm.idleTimeout}`;
  if (fm.hardTimeout) s += ` hard:${fm.hardTimeout}`;
  for (const [b, n] of FLAG_NAMES) if ((fm.flags & b) !== 0) s += ` ${n}`;
  if (fm.importance) s += ` importance:${fm.importance}`;
  if (fm.command === 'add' || fm.command === 'modify' || fm.command === 'modify_strict') s += ` actions=${formatActions(fm.actions, names)}`;
  return s;
}

const REMOVED_REASONS = ['idle', 'hard', 'delete', 'group_delete'];

/** An OFPT_FLOW_REMOVED: "priority=100,ip reason=delete table_id=0 duration1.234s idle0 pkts0 bytes0". */
export function formatFlowRemoved(r: FlowRemoved, style: Style, names?: PortNamer): string {
  let s = `${header(style === 10 ? 'NXT_FLOW_REMOVED' : 'OFPT_FLOW_REMOVED', style, 0)} `;
  const m = formatMatch(matchFromWire(r.match), r.priority ?? 0, names);
  if (m) s += `${m} `;
  s += `reason=${REMOVED_REASONS[r.reason ?? 0] ?? r.reason} table_id=${r.tableId ?? 0}`;
  if (r.cookie) s += ` cookie:0x${r.cookie.toString(16)}`;
  s += ` duration${duration(r.durationSec ?? 0, r.durationNsec ?? 0)} idle${r.idleTimeout ?? 0}`;
  if (r.hardTimeout) s += ` hard${r.hardTimeout}`;
  return `${s} pkts${r.packetCount ?? 0n} bytes${r.byteCount ?? 0n}\n`;
}

const UPDATE_EVENTS = ['ADDED', 'ADDED', 'DELETED', 'MODIFIED'];

/** One flow monitor update line: " event=ADDED table=0 cookie=0 priority=5,udp actions=drop". */
export function formatFlowUpdate(u: FlowUpdate, names?: PortNamer): string {
  const ev = u.event ?? 0;
  let s = ` event=${UPDATE_EVENTS[ev] ?? ev}`;
  if (ev === 2) s += ` reason=${REMOVED_REASONS[u.reason ?? 0] ?? u.reason}`;
  s += ` table=${u.tableId ?? 0} cookie=${u.cookie ?? 0n}`;
  const m = formatMatch(matchFromWire(u.match), u.priority ?? 0, names);
  if (m) s += ` ${m}`;
  if (u.instructions && u.instructions.length > 0) s += ` actions=${formatActions(instructionsFromWire(u.instructions), names)}`;
  return `${s}\n`;
}

const PORT_REASONS = ['ADD', 'DEL', 'MOD'];

export function formatPortStatus(reason: number, desc: Port, style: Style): string {
  return `${header('OFPT_PORT_STATUS', style, 0)} ${PORT_REASONS[reason] ?? reason}:${formatPortDesc(desc, style)}`;
}
