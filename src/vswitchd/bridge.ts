/*
 * A bridge as vswitchd runs it: its ports by OpenFlow port number and by datapath port number,
 * its MAC table, its OpenFlow table (for now only `priority=0,actions=NORMAL`, with the
 * statistics of the datapath flows it produced) and its drop counters. Built and updated by
 * config.ts from the database; read by xlate.ts, the upcall handler, the revalidator and appctl.
 * Control path.
 */
import { MacTable } from './mac-learning.js';

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

export interface RuleStats {
  packets: number;
  bytes: number;
}

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
  readonly portsByOfport = new Map<number, BridgePort>();
  /** Bridge other_config:forward-bpdu. */
  forwardBpdu = false;
  /** Creation time of the NORMAL rule (ms), for ofctl/dump-flows duration. */
  readonly created = Date.now();
  /**
   * Packets and bytes the NORMAL rule handled outside live datapath flows: packets executed on
   * upcalls and the final counts of flows the revalidator deleted. Live flows are added on dump.
   */
  readonly ruleStats: RuleStats = { packets: 0, bytes: 0 };
  /** Last time (ms) a packet of this bridge went through the NORMAL rule, 0 = never. */
  ruleUsed = 0;
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
