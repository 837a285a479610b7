/*
 * A bridge port's OpenFlow configuration bits (ofp_port_config: PORT_DOWN, NO_RECV, NO_FLOOD,
 * NO_FWD, NO_PACKET_IN), set by port mods (ofctl mod-port, a controller's PORT_MOD) through
 * ofmgmt-ports.ts and read by the translation: FLOOD and NORMAL's flooding skip NO_FLOOD ports,
 * nothing enters or leaves a PORT_DOWN port, NO_RECV drops what arrives, NO_FWD what is sent.
 * Kept beside the BridgePort (a WeakMap: a port that is removed and added again starts with 0,
 * as in OVS). Read per translation (per upcall), written per port mod. No allocation on reads.
 */
import type { BridgePort } from './bridge.js';

export const OFPPC_PORT_DOWN = 1 << 0;
export const OFPPC_NO_RECV = 1 << 2;
export const OFPPC_NO_FLOOD = 1 << 4;
export const OFPPC_NO_FWD = 1 << 5;
export const OFPPC_NO_PACKET_IN = 1 << 6;
/** Every bit a port mod may change. */
export const OFPPC_SUPPORTED = OFPPC_PORT_DOWN | OFPPC_NO_RECV | OFPPC_NO_FLOOD | OFPPC_NO_FWD | OFPPC_NO_PACKET_IN;

const configs = new WeakMap<BridgePort, number>();

/** The port's config bits (0 unless a port mod set some). */
export function portConfig(p: BridgePort): number {
  return configs.get(p) ?? 0;
}

/** Replaces the port's config bits; returns whether they changed. */
export function setPortConfig(p: BridgePort, config: number): boolean {
  const old = configs.get(p) ?? 0;
  const next = config & OFPPC_SUPPORTED;
  if (next === old) return false;
  if (next === 0) configs.delete(p);
  else configs.set(p, next);
  return true;
}

/** Whether FLOOD (and NORMAL's flooding) leaves the port out: NO_FLOOD, or administratively down. */
export function portNoFlood(p: BridgePort): boolean {
  const c = configs.get(p);
  return c !== undefined && (c & (OFPPC_NO_FLOOD | OFPPC_PORT_DOWN)) !== 0;
}

/** Whether packets may be sent out the port (not PORT_DOWN, not NO_FWD). */
export function portCanForward(p: BridgePort): boolean {
  const c = configs.get(p);
  return c === undefined || (c & (OFPPC_NO_FWD | OFPPC_PORT_DOWN)) === 0;
}

/** Whether packets arriving on the port are processed (not PORT_DOWN, not NO_RECV). */
export function portCanReceive(p: BridgePort): boolean {
  const c = configs.get(p);
  return c === undefined || (c & (OFPPC_NO_RECV | OFPPC_PORT_DOWN)) === 0;
}

/** Whether the port's packets may become packet-ins (not NO_PACKET_IN). */
export function portPacketIn(p: BridgePort): boolean {
  const c = configs.get(p);
  return c === undefined || (c & OFPPC_NO_PACKET_IN) === 0;
}
