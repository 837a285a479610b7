/*
 * Translation: turns a flow key that arrived on a bridge port into datapath actions by running
 * the bridge's OpenFlow table, which is `priority=0,actions=NORMAL` for every bridge for now.
 * Called by the upcall handler (with learning) and by the revalidator (without). Per upcall,
 * not per packet: the result is installed as a datapath flow and cached there.
 *
 * NORMAL, the MAC learning switch, in the order it decides:
 *  1. VLAN of the frame: from the ingress port's VLAN config and the frame's 802.1Q VID
 *     (access port: its tag, tagged frames dropped; trunk: the VID, 0 when untagged, VIDs
 *     outside `trunks` dropped; native-tagged/-untagged: untagged frames get the native VLAN).
 *  2. Reserved multicast (01:80:c2:00:00:00-0f, STP/LACP/LLDP...) is dropped unless the bridge
 *     has other_config:forward-bpdu=true.
 *  3. Learn: (dl_src, VLAN) -> ingress port, unless dl_src is multicast (only when `learn`).
 *  4. Forward: a unicast dl_dst learned on some port of this VLAN goes out that port only;
 *     learned on the ingress port itself it is dropped (never hairpinned). Broadcast,
 *     multicast and unknown unicast are flooded to every other port carrying the VLAN.
 *  Egress tagging follows the egress port: access ports and the native VLAN of a
 *  native-untagged port send untagged, everything else tagged with the frame's VLAN (its PCP
 *  kept). Outputs are grouped so that the frame changes tag state at most once: first the ports
 *  that take the frame as it arrived, then one pop/push, then the rest.
 *
 * The result depends only on (in_port, dl_src, dl_dst, vlan_tci) and the MAC table, which is why
 * the revalidator can recompute it for any cached flow and compare.
 *
 * Wildcards: given a Wildcards (src/lib/flow-mask.ts), already initialised by the caller with
 * wc.initForKey(key), NORMAL un-wildcards each field before it decides on it: vlan_tci (the
 * VLAN and the PCP it keeps), dl_dst (reserved-multicast check, lookup, flooding) and dl_src
 * (learning: a new or moved source must come up again, so it is part of every flow that
 * reaches learning). Nothing else is read, so one datapath flow serves every microflow between
 * the same two MACs on the same port and VLAN, whatever the IP addresses and L4 ports. The mask
 * is the same whether or not `learn` is set, so the revalidator can compare it.
 */
import { ACT_OUTPUT, ACT_POP_VLAN, ACT_PUSH_VLAN } from '../lib/dpif-proto.js';
import { VLAN_CFI, ethDst, ethSrc, isMulticastMac, vlanTci } from '../lib/flow-key.js';
import type { Wildcards } from '../lib/flow-mask.js';
import { inputVlan, outputTagged, vlanIncluded, type Bridge, type BridgePort } from './bridge.js';

/** What NORMAL decided; the upcall handler counts these. */
export const XR_UNICAST = 0;
export const XR_FLOOD = 1;
export const XR_DROP_SAME_PORT = 2;
export const XR_DROP_VLAN = 3;
export const XR_DROP_RESERVED = 4;

/** A growable datapath action list (i32 words, see dpif-proto.ts). Reused across calls. */
export class OdpActions {
  buf = new Int32Array(64);
  n = 0;
  reset(): void {
    this.n = 0;
  }
  private word(w: number): void {
    if (this.n === this.buf.length) {
      const nb = new Int32Array(this.buf.length * 2);
      nb.set(this.buf);
      this.buf = nb;
    }
    this.buf[this.n++] = w;
  }
  output(odpPort: number): void {
    this.word(ACT_OUTPUT);
    this.word(odpPort);
  }
  pushVlan(tci: number): void {
    this.word(ACT_PUSH_VLAN);
    this.word(tci);
  }
  popVlan(): void {
    this.word(ACT_POP_VLAN);
  }
  equals(other: ArrayLike<number>): boolean {
    if (other.length !== this.n) return false;
    for (let i = 0; i < this.n; i++) if ((other[i] | 0) !== this.buf[i]) return false;
    return true;
  }
  toArray(): number[] {
    return Array.from(this.buf.subarray(0, this.n));
  }
}

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

const tagState = { tci: 0 };

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
  if (wc !== null) wc.vlanTci();
  const tci = vlanTci(key);
  const tagged = (tci & VLAN_CFI) !== 0;
  const vlan = inputVlan(inPort.vlan, tagged ? tci & 0xfff : 0);
  if (vlan < 0) {
    if (learn) br.counters.drop_vlan_invalid++;
    return XR_DROP_VLAN;
  }
  if (wc !== null) wc.ethDst();
  const dst = ethDst(key);
  if (!br.forwardBpdu && isReservedMulticast(dst)) {
    if (learn) br.counters.drop_reserved_multicast++;
    return XR_DROP_RESERVED;
  }
  if (wc !== null) wc.ethSrc();
  const src = ethSrc(key);
  if (learn && !isMulticastMac(src)) br.macs.learn(src, vlan, inPort.ofport, now);

  const pcpBits = tagged ? tci & 0xe000 : 0;
  tagState.tci = tagged ? tci : 0;
  if (!isMulticastMac(dst)) {
    const learned = br.macs.lookup(dst, vlan);
    if (learned === inPort.ofport) {
      if (learn) br.counters.drop_same_port++;
      return XR_DROP_SAME_PORT;
    }
    const p = learned < 0 ? undefined : br.port(learned);
    if (p !== undefined && vlanIncluded(p.vlan, vlan)) {
      emitOutput(out, tagState, egressTci(p, vlan, pcpBits), p.odpPort);
      if (learn) br.counters.unicast++;
      return XR_UNICAST;
    }
  }
  // Flood: first the ports that take the frame as it is, then the others after one change.
  const ports = br.ordered;
  const asIs = tagState.tci;
  let other = -1;
  for (let i = 0; i < ports.length; i++) {
    const p = ports[i];
    if (p === inPort || !vlanIncluded(p.vlan, vlan)) continue;
    const want = egressTci(p, vlan, pcpBits);
    if (want === asIs) out.output(p.odpPort);
    else other = want;
  }
  if (other >= 0) {
    for (let i = 0; i < ports.length; i++) {
      const p = ports[i];
      if (p === inPort || !vlanIncluded(p.vlan, vlan)) continue;
      const want = egressTci(p, vlan, pcpBits);
      if (want !== asIs) emitOutput(out, tagState, want, p.odpPort);
    }
  }
  if (learn) br.counters.flood++;
  return XR_FLOOD;
}
