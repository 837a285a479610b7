/*
 * A bridge's ports as the flow protocol shows them (ofp_port: number, MAC, name, config and
 * state bits, features and speed), its datapath id, port status changes between two
 * reconciliations (ADD, DELETE, MODIFY) and port mods (config bits; ofport-config.ts keeps
 * them). Used by ofmgmt.ts and ofconn.ts. Control path.
 */
import { OFPET_PORT_MOD_FAILED, OFPPMFC_BAD_CONFIG, OFPPMFC_BAD_HW_ADDR, OFPPMFC_BAD_PORT } from '../lib/flowproto/error-codes.js';
import type { Input, Port as WirePort, PortMod } from '../lib/flowproto/messages.js';
import { OFPP_LOCAL, type Bridge, type BridgePort } from './bridge.js';
import { OfpError } from './ofp/errors.js';
import { portFromWire, portToWire } from './ofp/wire-match.js';
import { OFPPC_SUPPORTED, portConfig, setPortConfig } from './ofport-config.js';
import type { DpPort } from './state.js';

/** Port state bits (ofp_port_state). */
export const OFPPS_LINK_DOWN = 1 << 0;
export const OFPPS_LIVE = 1 << 2;
/** Port feature bits (ofp_port_features) a tap reports, as OVS's netdev does: 10 Gb/s full duplex, copper. */
export const OFPPF_10GB_FD = 1 << 6;
export const OFPPF_COPPER = 1 << 11;
const TAP_FEATURES = OFPPF_10GB_FD | OFPPF_COPPER;
const TAP_SPEED_KBPS = 10_000_000;

/** PortReason of a port_status message. */
export const OFPPR_ADD = 0;
export const OFPPR_DELETE = 1;
export const OFPPR_MODIFY = 2;

/** What port_list says about a datapath port (state.ts's DpPort plus the device's state). */
export interface DpPortInfo extends DpPort {
  link_state?: string;
  error?: string;
}

function macBytes(mac: string | undefined): Uint8Array {
  const out = new Uint8Array(6);
  if (mac === undefined) return out;
  const parts = mac.split(':');
  if (parts.length !== 6) return out;
  for (let i = 0; i < 6; i++) out[i] = parseInt(parts[i], 16) & 0xff;
  return out;
}

/** The datapath's record of `p`, from a port_list result. */
export function dpPortOf(p: BridgePort, dpPorts: readonly DpPortInfo[]): DpPortInfo | undefined {
  for (const d of dpPorts) if (d.port_no === p.odpPort) return d;
  return undefined;
}

/** One port as the protocol describes it. */
export function portDesc(p: BridgePort, dp: DpPortInfo | undefined): Input<WirePort> {
  const up = dp?.link_state === 'up';
  return {
    portNo: portToWire(p.ofport), hwAddr: macBytes(dp?.mac), name: p.name, config: portConfig(p),
    state: up ? OFPPS_LIVE : OFPPS_LINK_DOWN, curr: TAP_FEATURES, advertised: 0, supported: 0, peer: 0,
    currSpeed: TAP_SPEED_KBPS, maxSpeed: 0,
  };
}

/** Every port of the bridge, by OpenFlow port number (LOCAL last). */
export function bridgePortDescs(br: Bridge, dpPorts: readonly DpPortInfo[]): Input<WirePort>[] {
  return br.ordered.map((p) => portDesc(p, dpPortOf(p, dpPorts)));
}

/** A comparable summary of a port description (what a MODIFY port status reports). */
function portKey(d: Input<WirePort>): string {
  return `${d.name}|${Buffer.from(d.hwAddr ?? new Uint8Array(0)).toString('hex')}|${d.config}|${d.state}`;
}

/** A snapshot of a bridge's ports, to tell what changed at the next reconciliation. */
export type PortSnapshot = Map<number, { desc: Input<WirePort>; key: string }>;

export function snapshotPorts(br: Bridge, dpPorts: readonly DpPortInfo[]): PortSnapshot {
  const snap: PortSnapshot = new Map();
  for (const p of br.ordered) {
    const desc = portDesc(p, dpPortOf(p, dpPorts));
    snap.set(p.ofport, { desc, key: portKey(desc) });
  }
  return snap;
}

/** The port status messages that take `before` to `after`, in port order. */
export function portChanges(before: PortSnapshot, after: PortSnapshot): { reason: number; desc: Input<WirePort> }[] {
  const out: { reason: number; desc: Input<WirePort> }[] = [];
  for (const [no, b] of before) if (!after.has(no)) out.push({ reason: OFPPR_DELETE, desc: b.desc });
  for (const [no, a] of after) {
    const b = before.get(no);
    if (b === undefined) out.push({ reason: OFPPR_ADD, desc: a.desc });
    else if (b.key !== a.key) out.push({ reason: OFPPR_MODIFY, desc: a.desc });
  }
  return out;
}

/**
 * Applies a port mod to `br`: the bits of `mask` in the port's config become those of
 * `config`. Returns the port and whether its config changed. Throws OfpError (PORT_MOD_FAILED:
 * BAD_PORT, BAD_HW_ADDR, BAD_CONFIG).
 */
export function applyPortMod(br: Bridge, pm: PortMod, dpPorts: readonly DpPortInfo[]): { port: BridgePort; changed: boolean } {
  let ofport: number;
  try {
    ofport = portFromWire(pm.portNo ?? 0);
  } catch {
    throw new OfpError(OFPET_PORT_MOD_FAILED, OFPPMFC_BAD_PORT, `port ${pm.portNo ?? 0} is not a valid port number`);
  }
  const port = br.port(ofport);
  if (port === undefined) throw new OfpError(OFPET_PORT_MOD_FAILED, OFPPMFC_BAD_PORT, `bridge ${br.name} has no port ${ofport === OFPP_LOCAL ? 'LOCAL' : ofport}`);
  const hw = pm.hwAddr ?? new Uint8Array(0);
  if (hw.length !== 0) {
    const mine = macBytes(dpPortOf(port, dpPorts)?.mac);
    if (hw.length !== 6 || !hw.every((b, i) => b === mine[i])) {
      throw new OfpError(OFPET_PORT_MOD_FAILED, OFPPMFC_BAD_HW_ADDR, `port ${port.name}: hw_addr does not match the port's address`);
    }
  }
  const mask = pm.mask ?? 0;
  if ((mask & ~OFPPC_SUPPORTED) !== 0) {
    throw new OfpError(OFPET_PORT_MOD_FAILED, OFPPMFC_BAD_CONFIG, `port config bits 0x${(mask & ~OFPPC_SUPPORTED).toString(16)} are not supported`);
  }
  const next = ((portConfig(port) & ~mask) | ((pm.config ?? 0) & mask)) >>> 0;
  return { port, changed: setPortConfig(port, next) };
}

/** "0000" + the 12 hex digits of a MAC, or undefined for anything that is not a MAC. */
function dpidFromMac(mac: string | undefined): bigint | undefined {
  if (mac === undefined || !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(mac)) return undefined;
  return BigInt(`0x${mac.replace(/:/g, '')}`);
}

/** FNV-1a of the name, to 48 bits with the locally administered bit set (a bridge with no MAC yet). */
function dpidFromName(name: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const c of Buffer.from(name)) h = ((h ^ BigInt(c)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return ((h & 0xffffffffffffn) | 0x020000000000n) & ~0x010000000000n;
}

/**
 * The bridge's datapath id, as OVS picks it: other_config:datapath-id (16 hex digits) if set;
 * else from the bridge's MAC (other_config:hwaddr, else its LOCAL port's MAC) in the low 48
 * bits; else derived from its name.
 */
export function bridgeDatapathId(br: Bridge, dpPorts: readonly DpPortInfo[], otherConfig: (key: string) => string | undefined): bigint {
  const conf = otherConfig('datapath-id');
  if (conf !== undefined && /^(0x)?[0-9a-fA-F]{16}$/.test(conf)) return BigInt(conf.startsWith('0x') ? conf : `0x${conf}`);
  const hw = dpidFromMac(otherConfig('hwaddr'));
  if (hw !== undefined) return hw;
  const local = br.port(OFPP_LOCAL);
  const mac = local ? dpidFromMac(dpPortOf(local, dpPorts)?.mac) : undefined;
  return mac ?? dpidFromName(br.name);
}

/** "0000b665edd3e54c": 16 hex digits, as OVS prints a datapath id. */
export function formatDatapathId(dpid: bigint): string {
  return dpid.toString(16).padStart(16, '0');
}
