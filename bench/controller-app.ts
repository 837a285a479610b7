/*
 * The controller app the real-switch controller benchmark (bench/controller-real.ts) runs in
 * its in-process Controller: it joins two ports of the bridge and decides every packet it is
 * sent. Mode 'relay' sends each packet-in out of the other port (packet-out, by buffer id when
 * the switch buffered the frame); mode 'exact' does that too and first installs an exact flow
 * for an IPv4/UDP packet's 5-tuple (so the next packet of that 5-tuple stays in the switch);
 * mode 'off' ignores packet-ins. Per packet-in, control path.
 */
import type { App } from '../src/controller/app.js';
import { NO_BUFFER, type PacketInEvent } from '../src/controller/events.js';
import type { SwitchSession } from '../src/controller/switch-session.js';
import type { OfAction } from '../src/vswitchd/ofp/actions.js';
import { F_ETH_TYPE, F_IN_PORT, F_IP_DST, F_IP_SRC, F_NW_PROTO, F_UDP_DST, F_UDP_SRC } from '../src/vswitchd/ofp/fields.js';
import { newFlowMod } from '../src/vswitchd/ofp/flow-syntax.js';

export type BenchAppMode = 'off' | 'relay' | 'exact';

/** Priority and idle timeout of the exact flows mode 'exact' installs. */
export const EXACT_PRIORITY = 100;
export const EXACT_IDLE_S = 30;

export class BenchRelayApp implements App {
  readonly name = 'bench-relay';
  mode: BenchAppMode = 'off';
  /** The two ports joined (model numbers), set once the switch is up. */
  portA = 0;
  portB = 0;
  packetIns = 0;
  buffered = 0;
  flowMods = 0;
  packetOuts = 0;
  private readonly toA: OfAction[] = [];
  private readonly toB: OfAction[] = [];

  setPorts(a: number, b: number): void {
    this.portA = a;
    this.portB = b;
    this.toA.splice(0, this.toA.length, { type: 'output', port: a });
    this.toB.splice(0, this.toB.length, { type: 'output', port: b });
  }

  resetCounts(): void {
    this.packetIns = this.buffered = this.flowMods = this.packetOuts = 0;
  }

  onPacketIn(sw: SwitchSession, pi: PacketInEvent): void {
    if (this.mode === 'off') return;
    this.packetIns++;
    const out = pi.inPort === this.portA ? this.toB : pi.inPort === this.portB ? this.toA : null;
    if (out === null) return;
    const buffered = pi.bufferId !== NO_BUFFER;
    if (buffered) this.buffered++;
    if (this.mode === 'exact' && this.installExact(sw, pi, out, buffered)) return;
    sw.packetOut(buffered ? { inPort: pi.inPort, actions: out, bufferId: pi.bufferId } : { inPort: pi.inPort, actions: out, data: pi.data });
    this.packetOuts++;
  }

  /**
   * An exact flow for an IPv4/UDP packet-in; with a buffered frame the flow mod names the buffer
   * (the switch then runs the frame through its tables: no packet-out). False when not IPv4/UDP.
   */
  private installExact(sw: SwitchSession, pi: PacketInEvent, out: OfAction[], buffered: boolean): boolean {
    const d = pi.data;
    const l3 = pi.l3Offset;
    if (pi.ethType !== 0x0800 || l3 === 0 || d.length < l3 + 28 || d[l3 + 9] !== 17) return false;
    const ihl = (d[l3] & 0x0f) * 4;
    if (d.length < l3 + ihl + 4) return false;
    const fm = newFlowMod('add');
    fm.priority = EXACT_PRIORITY;
    fm.idleTimeout = EXACT_IDLE_S;
    fm.match.setFieldNum(F_IN_PORT, pi.inPort);
    fm.match.setFieldNum(F_ETH_TYPE, 0x0800);
    fm.match.setFieldNum(F_NW_PROTO, 17);
    fm.match.setFieldNum(F_IP_SRC, ((d[l3 + 12] << 24) | (d[l3 + 13] << 16) | (d[l3 + 14] << 8) | d[l3 + 15]) >>> 0);
    fm.match.setFieldNum(F_IP_DST, ((d[l3 + 16] << 24) | (d[l3 + 17] << 16) | (d[l3 + 18] << 8) | d[l3 + 19]) >>> 0);
    fm.match.setFieldNum(F_UDP_SRC, (d[l3 + ihl] << 8) | d[l3 + ihl + 1]);
    fm.match.setFieldNum(F_UDP_DST, (d[l3 + ihl + 2] << 8) | d[l3 + ihl + 3]);
    fm.actions = out;
    sw.addFlow(fm, buffered ? { bufferId: pi.bufferId } : {});
    this.flowMods++;
    if (buffered) return true;
    sw.packetOut({ inPort: pi.inPort, actions: out, data: pi.data });
    this.packetOuts++;
    return true;
  }

  describe(): unknown {
    return { mode: this.mode, packetIns: this.packetIns, flowMods: this.flowMods, packetOuts: this.packetOuts };
  }
}
