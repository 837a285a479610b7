/*
 * NORMAL, the MAC learning switch, as one OpenFlow action: turns the packet's flow into
 * datapath outputs (with the VLAN tagging each egress port wants) and learns its source. Called
 * by the OpenFlow translation (xlate.ts) for `actions=NORMAL` (a new bridge's only flow) and
 * by tests directly. Per upcall, not per packet.
 *
 * In the order it decides:
 *  1. VLAN of the frame: from the ingress port's VLAN config and the frame's 802.1Q VID
 *     (access port: its tag, tagged frames dropped; trunk: the VID, 0 when untagged, VIDs
 *     outside `trunks` dropped; native-tagged/-untagged: untagged frames get the native VLAN).
 *  2. Reserved multicast (01:80:c2:00:00:00-0f, STP/LACP/LLDP...) is dropped unless the bridge
 *     has other_config:forward-bpdu=true.
 *  3. Learn: (dl_src, VLAN) -> ingress port, unless dl_src is multicast (only when `learn`).
 *  4. Forward: a unicast dl_dst learned on some port of this VLAN goes out that port only;
 *     learned on the ingress port itself it is dropped (never hairpinned). Broadcast,
 *     multicast and unknown unicast are flooded to every other port carrying the VLAN (but not
 *     to ports a port mod made no-flood or down, ofport-config.ts).
 *  Egress tagging follows the egress port: access ports and the native VLAN of a
 *  native-untagged port send untagged, everything else tagged with the frame's VLAN (its PCP
 *  kept). Outputs are grouped so that the frame changes tag state at most once: first the ports
 *  that take the frame as it arrived, then one pop/push, then the rest.
 *
 * The result depends only on (in_port, dl_src, dl_dst, vlan_tci) and the MAC table.
 * Wildcards: NORMAL un-wildcards each field before it decides on it: vlan_tci (the VLAN and
 * the PCP it keeps), dl_dst (reserved-multicast check, lookup, flooding) and dl_src (learning:
 * a new or moved source must come up again, so it is part of every flow that reaches learning).
 * Nothing else is read, so one datapath flow serves every microflow between the same two MACs
 * on the same port and VLAN, whatever the IP addresses and L4 ports. The mask is the same
 * whether or not `learn` is set, so the revalidator can compare it.
 */
import { VLAN_CFI, ethDst, ethSrc, isMulticastMac, vlanTci } from '../lib/flow-key.js';
import type { Wildcards } from '../lib/flow-mask.js';
import { inputVlan, outputTagged, vlanIncluded, type Bridge, type BridgePort } from './bridge.js';
import type { OdpActions } from './odp-actions.js';
import { portCanForward, portNoFlood } from './ofport-config.js';

/** Where NORMAL says what it decided (ofproto/trace); null when nobody listens. */
export interface NormalReport {
  detail(text: string): void;
  warn(text: string): void;
  error(text: string): void;
}

/** What NORMAL decided; the upcall handler counts these. */
export const XR_UNICAST = 0;
export const XR_FLOOD = 1;
export const XR_DROP_SAME_PORT = 2;
export const XR_DROP_VLAN = 3;
export const XR_DROP_RESERVED = 4;

function isReservedMulticast(mac: number): boolean {
  // 01:80:c2:00:00:00 .. 01:80:c2:00:00:0f
  return mac >= 0x0180c2000000 && mac <= 0x0180c200000f;
}

/** The tci a frame of `vlan` carries when leaving through `p` (0 = untagged). */
function egressTci(p: BridgePort, vlan: number, pcpBits: number): number {
  return outputTagged(p.vlan, vlan) ? (vlan | pcpBits | VLAN_CFI) : 0;
}

/** Appends the outputs to `p`, changing the frame's tag state first when needed. */
function emitOutput(out: OdpActions, state: { tci: number }, want: number, odpPort: number): void {
  if (state.tci !== want) {
    if (state.tci !== 0) out.popVlan();
    if (want !== 0) out.pushVlan(want);
    state.tci = want;
  }
  out.output(odpPort);
}

/** The frame's tag state after the last NORMAL (its tci, 0 = untagged): the datapath actions
 *  it appended leave the frame that way. */
export const tagState = { tci: 0 };

/**
 * Runs NORMAL for `key` entering `inPort` of `br` and leaves the datapath actions in `out`
 * (reset first; empty = drop). With `learn`, updates the MAC table at `now` and counts the
 * decision in br.counters. With `wc`, un-wildcards the fields it consults (see the header).
 * Returns one of the XR_* codes.
 */
export function xlateNormal(
  br: Bridge, inPort: BridgePort, key: Uint32Array, learn: boolean, now: number, out: OdpActions, wc: Wildcards | null = null,
): number {
  out.reset();
  return xlateNormalInto(br, inPort, key, learn, now, out, wc, null);
}

/**
 * NORMAL appending to `out`: `key` is the packet's flow as it is in the datapath at this point
 * (key layout in its first KEY_WORDS words; its vlan_tci is the frame's tag state), `report`
 * hears what was decided. Afterwards `tagState.tci` is the frame's tag state.
 */
export function xlateNormalInto(
  br: Bridge, inPort: BridgePort, key: Uint32Array, learn: boolean, now: number, out: OdpActions, wc: Wildcards | null,
  report: NormalReport | null,
): number {
  if (wc !== null) wc.vlanTci();
  const tci = vlanTci(key);
  const tagged = (tci & VLAN_CFI) !== 0;
  tagState.tci = tagged ? tci : 0;
  const vid = tagged ? tci & 0xfff : 0;
  const vlan = inputVlan(inPort.vlan, vid);
  if (vlan < 0) {
    if (learn) br.counters.drop_vlan_invalid++;
    if (report !== null) {
      report.error(inPort.vlan.mode === 'access'
        ? `dropping VLAN ${vid} tagged packet received on port ${inPort.name} configured as VLAN ${inPort.vlan.tag} access port`
        : `dropping VLAN ${vid} packet received on port ${inPort.name} not configured for trunking VLAN ${vid}`);
      report.warn('disallowed VLAN VID for this input port, dropping');
    }
    return XR_DROP_VLAN;
  }
  if (wc !== null) wc.ethDst();
  const dst = ethDst(key);
  if (!br.forwardBpdu && isReservedMulticast(dst)) {
    if (learn) br.counters.drop_reserved_multicast++;
    if (report !== null) report.detail('reserved multicast destination (other_config:forward-bpdu is off), dropping');
    return XR_DROP_RESERVED;
  }
  if (wc !== null) wc.ethSrc();
  const src = ethSrc(key);
  if (learn && !isMulticastMac(src)) br.macs.learn(src, vlan, inPort.ofport, now);

  const pcpBits = tagged ? tci & 0xe000 : 0;
  if (!isMulticastMac(dst)) {
    const learned = br.macs.lookup(dst, vlan);
    if (learned === inPort.ofport) {
      if (learn) br.counters.drop_same_port++;
      if (report !== null) report.detail('learned port is input port, dropping');
      return XR_DROP_SAME_PORT;
    }
    const p = learned < 0 ? undefined : br.port(learned);
    if (p !== undefined && vlanIncluded(p.vlan, vlan) && portCanForward(p)) {
      emitOutput(out, tagState, egressTci(p, vlan, pcpBits), p.odpPort);
      if (learn) br.counters.unicast++;
      if (report !== null) report.detail('forwarding to learned port');
      return XR_UNICAST;
    }
  }
  // Flood: first the ports that take the frame as it is, then the others after one change.
  const ports = br.ordered;
  const asIs = tagState.tci;
  let other = -1;
  for (let i = 0; i < ports.length; i++) {
    const p = ports[i];
    if (p === inPort || !vlanIncluded(p.vlan, vlan) || portNoFlood(p)) continue;
    const want = egressTci(p, vlan, pcpBits);
    if (want === asIs) out.output(p.odpPort);
    else other = want;
  }
  if (other >= 0) {
    for (let i = 0; i < ports.length; i++) {
      const p = ports[i];
      if (p === inPort || !vlanIncluded(p.vlan, vlan) || portNoFlood(p)) continue;
      const want = egressTci(p, vlan, pcpBits);
      if (want !== asIs) emitOutput(out, tagState, want, p.odpPort);
    }
  }
  if (learn) br.counters.flood++;
  if (report !== null) report.detail('no learned MAC for destination, flooding');
  return XR_FLOOD;
}
