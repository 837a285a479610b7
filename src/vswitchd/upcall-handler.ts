/*
 * Answers the datapath's upcalls. A miss: find the bridge port of the key's in_port, translate
 * through the bridge's OpenFlow tables with side effects (xlate.ts: MAC learning, learn
 * actions, table counters), install the resulting megaflow (key & mask -> actions), record its
 * ukey (the rules it went through, for the revalidator to credit), credit those rules with
 * this packet, and execute the packet with the same actions. A packet-in (UPCALL_ACTION, from
 * a controller action): decode it (packet-in.ts) and emit it on the bridge. Runs once per
 * upcall, reusing one translator; the flow put and the execute go down as one PUT_EXECUTE
 * message, and the DpifClient writes the answers to one burst of upcalls with one write.
 * Control path (per upcall, not per packet).
 *
 * - An in_port that belongs to no configured interface gets a drop flow matching only in_port
 *   (counted), so that port's frames stop coming up.
 * - At the flow limit (udpif.ts: the datapath holds as many flows as the dynamic limit) the
 *   packet is still executed but no flow is installed (upcall_flow_limit), so a flood of new
 *   flows costs upcalls, not datapath memory, and the revalidator evicts idle flows first.
 * - With megaflows disabled (appctl upcall/disable-megaflows) the flow installed matches every
 *   key bit.
 * - A MAC table change wakes the revalidator, which re-translates the flows that used NORMAL.
 */
import type { DpifClient } from '../lib/dpif-client.js';
import { UPCALL_ACTION, UPCALL_MISS } from '../lib/dpif-proto.js';
import { KEY_WORDS, inPort } from '../lib/flow-key.js';
import { decodePacketIn } from './packet-in.js';
import type { SwitchState } from './state.js';
import { udpifOf, type Udpif } from './udpif.js';
import { Xlator } from './xlate.js';

const NO_ACTIONS = new Int32Array(0);
const EXACT = new Uint32Array(KEY_WORDS).fill(0xffffffff);
const IN_PORT_ONLY = new Uint32Array(KEY_WORDS);
IN_PORT_ONLY[0] = 0xffffffff;

export class UpcallHandler {
  private readonly state: SwitchState;
  private readonly udpif: Udpif;
  readonly xlator: Xlator;
  /** Masked key and mask of the last install: a burst of misses of one megaflow counts once. */
  private readonly last = new Uint32Array(2 * KEY_WORDS);
  private readonly onMacChange: () => void;
  private dp: DpifClient | null = null;

  /** `onMacChange` is called after a translation changed a MAC table (when no revalidator
   *  registered itself with udpif.wake). */
  constructor(state: SwitchState, onMacChange: () => void) {
    this.state = state;
    this.udpif = udpifOf(state);
    this.xlator = new Xlator(this.udpif.xlateCounters);
    this.onMacChange = onMacChange;
  }

  /** Starts answering the upcalls of `dp` (called again after a reconnect). */
  attach(dp: DpifClient): void {
    this.dp = dp;
    this.udpif.dp = dp;
    dp.onUpcall((key, reason, packet, user, totalLen) => this.handle(key, reason, packet, user, totalLen));
  }

  detach(): void {
    this.dp = null;
    this.udpif.dp = null;
  }

  handle(key: Uint32Array, reason: number, packet: Buffer, user: Int32Array | null = null, totalLen = -1): void {
    const dp = this.dp;
    if (dp === null) return;
    const st = this.state;
    const u = this.udpif;
    st.counters.upcalls++;
    if (!st.ready) {
      st.counters.upcall_not_ready++;
      return;
    }
    if (reason === UPCALL_ACTION) {
      this.packetIn(key, packet, user, totalLen);
      return;
    }
    if (reason !== UPCALL_MISS) st.counters.upcall_bad_reason++;
    const odpIn = inPort(key);
    const bp = st.portsByOdp.get(odpIn);
    if (bp === undefined) {
      st.counters.upcall_unknown_port++;
      if (this.install(u, key, IN_PORT_ONLY)) dp.putExecute(key, IN_PORT_ONLY, NO_ACTIONS, 0, packet, true, false);
      return;
    }
    const br = bp.bridge;
    const macGen = br.macs.generation;
    const tablesGen = br.tables.generation;
    const now = Date.now();
    const x = this.xlator;
    x.translate(br, key, bp.ofport, { sideEffects: true, now, trace: null });
    const mask = u.megaflows ? x.mask : EXACT;
    const put = this.install(u, key, mask);
    if (put) u.ukeys.put(key, mask, x.rules, x.learns, x.usesNormal, tablesGen, macGen);
    dp.putExecute(key, mask, x.out.buf, x.out.n, packet, put, x.out.n > 0);
    const rules = x.rules;
    for (let i = 0; i < rules.length; i++) br.tables.credit(rules[i], 1, packet.length, now);
    if (br.macs.generation !== macGen) {
      if (u.wake !== null) u.wake();
      else this.onMacChange();
    }
  }

  private packetIn(key: Uint32Array, packet: Buffer, user: Int32Array | null, totalLen: number): void {
    const u = this.udpif;
    const bp = this.state.portsByOdp.get(inPort(key));
    const ev = user === null || bp === undefined ? null : decodePacketIn(user, packet, totalLen < 0 ? packet.length : totalLen);
    if (ev === null || bp === undefined) {
      u.counters.packet_in_bad++;
      return;
    }
    u.counters.packet_in++;
    bp.bridge.events.emit('packet_in', ev);
  }

  /** Whether (key & mask) may be installed now (not at the flow limit); counts it. */
  private install(u: Udpif, key: Uint32Array, mask: Uint32Array): boolean {
    if (!u.canInstall) {
      u.counters.upcall_flow_limit++;
      return false;
    }
    u.counters.flows_installed++;
    const last = this.last;
    let same = true;
    for (let i = 0; i < KEY_WORDS; i++) {
      const k = (key[i] & mask[i]) >>> 0;
      if (last[i] !== k || last[KEY_WORDS + i] !== mask[i]) same = false;
      last[i] = k;
      last[KEY_WORDS + i] = mask[i];
    }
    if (!same) u.nFlows++;
    return true;
  }
}
