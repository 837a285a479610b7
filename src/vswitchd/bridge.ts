/*
 * A bridge as vswitchd runs it: its ports by OpenFlow port number and by datapath port number,
 * its MAC table, its OpenFlow tables (`tables`, 0..254; a new bridge has
 * `priority=0,actions=NORMAL` in table 0), the asynchronous events the flow protocol forwards
 * (`events`: packet_in, flow_removed) and its drop counters. Built and updated by config.ts
 * from the database; read by the translation, the upcall handler, the revalidator, appctl and
 * the flow-protocol server. Control path.
 */
import { EventEmitter } from 'node:events';
import { MacTable } from './mac-learning.js';
import { OFPFF_SEND_FLOW_REM } from './ofp/flow-syntax.js';
import { OFPRR_DELETE, type FlowEntry } from './ofp/flow-table.js';
import { OfTables, type FlowEvent } from './ofp/tables.js';

export const OFPP_LOCAL = 65534;
/** Highest OpenFlow port number a regular port can have (OFPP_MAX). */
export const OFPP_MAX = 0xff00 - 1;

export type VlanMode = 'access' | 'trunk' | 'native-tagged' | 'native-untagged';

/** A Port row's VLAN settings, resolved the way OVS documents them (vswitch.xml, Port). */
export interface VlanConfig {
  mode: VlanMode;
  /** The access or native VLAN, -1 when none. */
  tag: number;
  /** VLANs a trunk carries; null means all of them. */
  trunks: Set<number> | null;
}

export const TRUNK_ALL: VlanConfig = { mode: 'trunk', tag: -1, trunks: null };

export class BridgePort {
  /** The Interface name (also the datapath port's device name). */
  readonly name: string;
  readonly type: string;
  /** Owning Port row name (equals `name` unless a port has several interfaces). */
  portName: string;
  ofport: number;
  odpPort: number;
  vlan: VlanConfig;
  readonly bridge: Bridge;
  constructor(bridge: Bridge, name: string, type: string, portName: string, ofport: number, odpPort: number, vlan: VlanConfig) {
    this.bridge = bridge;
    this.name = name;
    this.type = type;
    this.portName = portName;
    this.ofport = ofport;
    this.odpPort = odpPort;
    this.vlan = vlan;
  }
}

/** Whether frames of `vlan` may enter or leave through a port with VLAN config `c`. */
export function vlanIncluded(c: VlanConfig, vlan: number): boolean {
  if (c.mode === 'access') return vlan === c.tag;
  if (c.mode !== 'trunk' && vlan === c.tag) return true;
  return c.trunks === null || c.trunks.has(vlan);
}

/**
 * The VLAN a frame belongs to once it entered through `c` with 802.1Q VID `vid` (0 when untagged
 * or priority-tagged), or -1 when the port must drop it.
 */
export function inputVlan(c: VlanConfig, vid: number): number {
  switch (c.mode) {
    case 'access':
      return vid === 0 ? c.tag : -1;
    case 'trunk':
      return vlanIncluded(c, vid) ? vid : -1;
    default: {
      const v = vid === 0 ? c.tag : vid;
      return vlanIncluded(c, v) ? v : -1;
    }
  }
}

/** Whether frames of `vlan` leave through `c` carrying an 802.1Q tag. */
export function outputTagged(c: VlanConfig, vlan: number): boolean {
  if (vlan === 0) return false;
  if (c.mode === 'access') return false;
  if (c.mode === 'native-untagged' && vlan === c.tag) return false;
  return true;
}

/** A packet sent to the controllers by a `controller` or `dec_ttl` action (or a table miss). */
export interface PacketInEvent {
  /** OFPR_NO_MATCH, OFPR_ACTION or OFPR_INVALID_TTL (ofp/actions.ts). */
  reason: number;
  /** Table of the rule whose action sent it. */
  table: number;
  /** Cookie of that rule. */
  cookie: bigint;
  /** The action's controller id (0: every controller). */
  controllerId: number;
  /** The action's userdata (controller(userdata=...)), or null. */
  userdata: Uint8Array | null;
  /** OpenFlow in_port of the packet. */
  inPort: number;
  /** Metadata and registers at the action, as OpenFlow flow words (ofp/layout.ts, OF_WORDS);
   *  the packet fields come from `packet`. */
  flow: Uint32Array;
  /** The packet as it was at the action (whole for controller actions; each controller
   *  connection cuts it to maxLen / miss_send_len and buffers the rest, ofmgmt-bridge.ts). */
  packet: Uint8Array;
  /** The action's max_len (65535 or absent: send all, no buffer). */
  maxLen?: number;
  /** Length of the whole packet. */
  totalLen: number;
}

/** A flow entry with send_flow_rem left its table. */
export interface FlowRemovedEvent {
  entry: FlowEntry;
  /** OFPRR_IDLE_TIMEOUT, OFPRR_HARD_TIMEOUT or OFPRR_DELETE (ofp/flow-table.ts). */
  reason: number;
  /** When it was removed (ms since the epoch): duration = at - entry.created. */
  at: number;
}

/** What a bridge tells the flow-protocol side: `events.on('packet_in', fn)`. */
export type BridgeEventMap = {
  packet_in: [PacketInEvent];
  flow_removed: [FlowRemovedEvent];
};

export interface BridgeCounters {
  /** Destination learned on the ingress port: OVS drops rather than hairpin. */
  drop_same_port: number;
  /** Frame's VLAN not allowed on its ingress port. */
  drop_vlan_invalid: number;
  /** IEEE 802.1D reserved multicast (01:80:c2:00:00:0x) with forward-bpdu off. */
  drop_reserved_multicast: number;
  /** Unicast to a learned port. */
  unicast: number;
  /** Flooded (broadcast, multicast or unknown destination). */
  flood: number;
}

export class Bridge {
  readonly name: string;
  readonly uuid: string;
  readonly macs = new MacTable();
  /** OpenFlow tables 0..254. `tables.generation` moves on every change; `tables.listen` tells
   *  about each added, modified and removed entry. */
  readonly tables = new OfTables(true);
  /** packet_in and flow_removed (for the flow-protocol server to forward). */
  readonly events = new EventEmitter<BridgeEventMap>();
  /** Called after every change of `tables` (the revalidator sets it: cached flows are checked
   *  again at once). */
  onTablesChange: (() => void) | null = null;
  readonly portsByOfport = new Map<number, BridgePort>();
  /** Bridge other_config:forward-bpdu. */
  forwardBpdu = false;
  /** Fail mode standalone with no controller reachable: every packet goes to NORMAL, the
   *  tables are not looked up (set by fail-mode.ts). */
  failOpen = false;
  readonly counters: BridgeCounters = {
    drop_same_port: 0,
    drop_vlan_invalid: 0,
    drop_reserved_multicast: 0,
    unicast: 0,
    flood: 0,
  };
  /** Ports in a fixed order (by OpenFlow port number) so translations are deterministic. */
  ordered: BridgePort[] = [];

  constructor(name: string, uuid: string) {
    this.name = name;
    this.uuid = uuid;
    this.tables.listen((ev) => this.onFlowEvent(ev));
  }

  /** Entries an add replaced come as 'removed' (DELETE) right before the 'added' of their
   *  successor; OpenFlow sends no flow_removed for them, so DELETE removals wait a microtask. */
  private pendingRemoved: FlowRemovedEvent[] = [];
  private onFlowEvent(ev: FlowEvent): void {
    if (this.onTablesChange !== null) this.onTablesChange();
    const e = ev.entry;
    if (ev.event === 'added') {
      if (this.pendingRemoved.length > 0) {
        this.pendingRemoved = this.pendingRemoved.filter((r) =>
          !(r.entry.table === e.table && r.entry.priority === e.priority && r.entry.match.equals(e.match)));
      }
      return;
    }
    if (ev.event !== 'removed' || (e.flags & OFPFF_SEND_FLOW_REM) === 0) return;
    const rem: FlowRemovedEvent = { entry: e, reason: ev.reason, at: Date.now() };
    if (ev.reason !== OFPRR_DELETE) {
      this.events.emit('flow_removed', rem);
      return;
    }
    if (this.pendingRemoved.length === 0) queueMicrotask(() => this.flushRemoved());
    this.pendingRemoved.push(rem);
  }
  private flushRemoved(): void {
    const list = this.pendingRemoved;
    this.pendingRemoved = [];
    for (const r of list) this.events.emit('flow_removed', r);
  }

  /** Rebuilds `ordered` after portsByOfport changed. */
  reindex(): void {
    this.ordered = [...this.portsByOfport.values()].sort((a, b) => a.ofport - b.ofport);
  }

  port(ofport: number): BridgePort | undefined {
    return this.portsByOfport.get(ofport);
  }

  portByName(name: string): BridgePort | undefined {
    for (const p of this.ordered) if (p.name === name) return p;
    return undefined;
  }
}

/** "LOCAL" for the bridge's own port, else the number. */
export function ofportName(ofport: number): string {
  return ofport === OFPP_LOCAL ? 'LOCAL' : String(ofport);
}
