/*
 * What apps see: switch ports, packet-ins, port status and flow-removed messages turned from
 * their wire form (src/lib/flowproto/messages.ts) into plain objects with OpenFlow model port
 * numbers (16-bit, LOCAL = 0xfffe, as in flow strings), MACs as strings and numbers, and the
 * match as the model's Match (and as an ovs-ofctl string). Made by switch-session.ts, read by
 * apps and rest.ts. Control path (once per message).
 */
import type { FlowRemoved, PacketIn, Port, PortStatus } from '../lib/flowproto/messages.js';
import { F_IN_PORT } from '../vswitchd/ofp/fields.js';
import { OFPP_NONE } from '../vswitchd/ofp/layout.js';
import type { Match } from '../vswitchd/ofp/match.js';
import { formatMatch } from '../vswitchd/ofp/match-syntax.js';
import { formatMac } from '../vswitchd/ofp/values.js';
import { matchFromWire, portFromWire } from '../vswitchd/ofp/wire-match.js';

/** buffer_id of a packet the switch did not buffer (it is in `data`). */
export const NO_BUFFER = 0xffffffff;

export const PACKET_IN_REASONS = ['no_match', 'action', 'invalid_ttl'] as const;
export const PORT_REASONS = ['add', 'delete', 'modify'] as const;
export const FLOW_REMOVED_REASONS = ['idle_timeout', 'hard_timeout', 'delete', 'group_delete'] as const;

/** Port config bits (PortConfig) and state bits (PortState). */
export const OFPPC_PORT_DOWN = 1;
export const OFPPS_LINK_DOWN = 1;

export interface SwitchPort {
  /** OpenFlow port number as flow strings write it (LOCAL = 0xfffe). */
  portNo: number;
  name: string;
  /** "aa:bb:cc:dd:ee:ff". */
  hwAddr: string;
  config: number;
  state: number;
  currSpeed: number;
  maxSpeed: number;
}

export interface PacketInEvent {
  /** Ingress port (model number; LOCAL = 0xfffe; 0xffff when the switch did not say). */
  inPort: number;
  reason: number;
  reasonName: string;
  tableId: number;
  cookie: bigint;
  /** NO_BUFFER (0xffffffff) unless the switch kept the packet; then flow mods and packet-outs may name it. */
  bufferId: number;
  /** Length of the whole packet; `data` may hold less (max_len). */
  totalLen: number;
  data: Uint8Array;
  /** in_port and the pipeline fields (metadata, registers) the switch reported. */
  match: Match;
  userdata: Uint8Array;
  /** Ethernet header of `data` (0 / '' when data is shorter than 14 bytes). */
  ethDst: string;
  ethSrc: string;
  ethDstNum: number;
  ethSrcNum: number;
  /** The EtherType after any 802.1Q/802.1ad tags. */
  ethType: number;
  /** VLAN id of the outer tag, or -1 when untagged. */
  vlan: number;
  /** Offset in `data` of the header after Ethernet and its tags (14 untagged; 0 when too short). */
  l3Offset: number;
}

export interface PortStatusEvent {
  reason: number;
  reasonName: string;
  port: SwitchPort;
}

export interface FlowRemovedEvent {
  reason: number;
  reasonName: string;
  cookie: bigint;
  priority: number;
  tableId: number;
  match: Match;
  /** The match in ovs-ofctl syntax, with priority when not the default. */
  matchString: string;
  durationSec: number;
  idleTimeout: number;
  hardTimeout: number;
  packetCount: bigint;
  byteCount: bigint;
}

const EMPTY = new Uint8Array(0);

function macOf(b: Uint8Array | undefined): string {
  if (!b || b.length !== 6) return '00:00:00:00:00:00';
  return formatMac(b[0] * 2 ** 40 + b[1] * 2 ** 32 + ((b[2] << 24) >>> 0) + (b[3] << 16) + (b[4] << 8) + b[5]);
}

export function portFromWireDesc(p: Port): SwitchPort {
  let portNo: number;
  try {
    portNo = portFromWire(p.portNo ?? 0);
  } catch {
    portNo = p.portNo ?? 0; // beyond the model's range: shown as sent
  }
  return {
    portNo, name: p.name ?? '', hwAddr: macOf(p.hwAddr), config: p.config ?? 0, state: p.state ?? 0,
    currSpeed: p.currSpeed ?? 0, maxSpeed: p.maxSpeed ?? 0,
  };
}

/** Whether a port is up: neither administratively down nor without link. */
export function portIsUp(p: SwitchPort): boolean {
  return (p.config & OFPPC_PORT_DOWN) === 0 && (p.state & OFPPS_LINK_DOWN) === 0;
}

function mac48(d: Uint8Array, o: number): number {
  return d[o] * 2 ** 40 + d[o + 1] * 2 ** 32 + ((d[o + 2] << 24) >>> 0) + (d[o + 3] << 16) + (d[o + 4] << 8) + d[o + 5];
}

/** Throws OfpError when the match does not decode. */
export function packetInFromWire(pi: PacketIn): PacketInEvent {
  const match = matchFromWire(pi.match);
  const data = pi.data ?? EMPTY;
  const reason = pi.reason ?? 0;
  const ev: PacketInEvent = {
    inPort: match.isWild(F_IN_PORT) ? OFPP_NONE : match.fieldValueNum(F_IN_PORT),
    reason, reasonName: PACKET_IN_REASONS[reason] ?? String(reason), tableId: pi.tableId ?? 0, cookie: pi.cookie ?? 0n,
    bufferId: pi.bufferId ?? 0, totalLen: pi.totalLen ?? data.length, data, match, userdata: pi.userdata ?? EMPTY,
    ethDst: '', ethSrc: '', ethDstNum: 0, ethSrcNum: 0, ethType: 0, vlan: -1, l3Offset: 0,
  };
  // buffer_id 0 on the wire is "absent": the switch never buffers (proto: always 0xffffffff).
  if (ev.bufferId === 0) ev.bufferId = NO_BUFFER;
  if (data.length >= 14) {
    ev.ethDstNum = mac48(data, 0);
    ev.ethSrcNum = mac48(data, 6);
    ev.ethDst = formatMac(ev.ethDstNum);
    ev.ethSrc = formatMac(ev.ethSrcNum);
    let off = 12;
    let type = (data[off] << 8) | data[off + 1];
    while ((type === 0x8100 || type === 0x88a8) && data.length >= off + 6) {
      if (ev.vlan < 0) ev.vlan = ((data[off + 2] << 8) | data[off + 3]) & 0xfff;
      off += 4;
      type = (data[off] << 8) | data[off + 1];
    }
    ev.ethType = type;
    ev.l3Offset = off + 2;
  }
  return ev;
}

export function portStatusFromWire(ps: PortStatus): PortStatusEvent {
  const reason = ps.reason ?? 0;
  return { reason, reasonName: PORT_REASONS[reason] ?? String(reason), port: portFromWireDesc(ps.desc ?? {}) };
}

export function flowRemovedFromWire(fr: FlowRemoved): FlowRemovedEvent {
  const reason = fr.reason ?? 0;
  const match = matchFromWire(fr.match);
  const priority = fr.priority ?? 0;
  return {
    reason, reasonName: FLOW_REMOVED_REASONS[reason] ?? String(reason), cookie: fr.cookie ?? 0n, priority,
    tableId: fr.tableId ?? 0, match, matchString: formatMatch(match, priority), durationSec: fr.durationSec ?? 0,
    idleTimeout: fr.idleTimeout ?? 0, hardTimeout: fr.hardTimeout ?? 0, packetCount: fr.packetCount ?? 0n, byteCount: fr.byteCount ?? 0n,
  };
}

/** Whether a MAC (as a 48-bit number) is multicast or broadcast (I/G bit set). */
export function isMulticastMac(mac: number): boolean {
  return Math.floor(mac / 2 ** 40) % 2 === 1;
}
