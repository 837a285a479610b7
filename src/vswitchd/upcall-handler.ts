/*
 * Answers the datapath's upcalls (flow cache misses): finds the bridge port of the key's
 * in_port, translates with learning and wildcard tracking (xlate.ts), installs the resulting
 * megaflow (key & mask → actions) and executes the packet with the same actions. Runs once per
 * miss, so it reuses one action buffer and one Wildcards; the DpifClient batches the puts and
 * executes of one burst into one write. Control path (per upcall, not per packet).
 *
 * - An in_port that belongs to no configured interface gets a drop flow matching only in_port
 *   (counted), so that port's frames stop coming up.
 * - At the flow limit (udpif.ts: the datapath holds as many flows as the dynamic limit) the
 *   packet is still executed but no flow is installed (upcall_flow_limit), so a flood of new
 *   flows costs upcalls, not datapath memory, and the revalidator evicts idle flows first.
 * - A MAC table change wakes the revalidator, which re-translates the flows of that bridge.
 */
import type { DpifClient } from '../lib/dpif-client.js';
import { UPCALL_MISS } from '../lib/dpif-proto.js';
import { KEY_WORDS, inPort } from '../lib/flow-key.js';
import { Wildcards } from '../lib/flow-mask.js';
import type { SwitchState } from './state.js';
import { udpifOf, type Udpif } from './udpif.js';
import { OdpActions, xlateNormal } from './xlate.js';

const NO_ACTIONS = new Int32Array(0);

export class UpcallHandler {
  private readonly state: SwitchState;
  private readonly acts = new OdpActions();
  private readonly wc = new Wildcards();
  private readonly udpif: Udpif;
  /** Masked key and mask of the last install: a burst of misses of one megaflow counts once. */
  private readonly last = new Uint32Array(2 * KEY_WORDS);
  private readonly onMacChange: () => void;
  private dp: DpifClient | null = null;

  /** `onMacChange` is called after a translation changed a MAC table (when no revalidator
   *  registered itself with udpif.wake). */
  constructor(state: SwitchState, onMacChange: () => void) {
    this.state = state;
    this.udpif = udpifOf(state);
    this.onMacChange = onMacChange;
  }

  /** Starts answering the upcalls of `dp` (called again after a reconnect). */
  attach(dp: DpifClient): void {
    this.dp = dp;
    dp.onUpcall((key, reason, packet) => this.handle(key, reason, packet));
  }

  detach(): void {
    this.dp = null;
  }

  handle(key: Uint32Array, reason: number, packet: Buffer): void {
    const dp = this.dp;
    if (dp === null) return;
    const st = this.state;
    const u = this.udpif;
    st.counters.upcalls++;
    if (!st.ready) {
      st.counters.upcall_not_ready++;
      return;
    }
    if (reason !== UPCALL_MISS) st.counters.upcall_bad_reason++;
    const wc = this.wc;
    const odpIn = inPort(key);
    const bp = st.portsByOdp.get(odpIn);
    if (bp === undefined) {
      st.counters.upcall_unknown_port++;
      wc.clear();
      wc.inPort();
      this.install(dp, u, key, NO_ACTIONS, 0);
      return;
    }
    const br = bp.bridge;
    const gen = br.macs.generation;
    const now = Date.now();
    const acts = this.acts;
    wc.initForKey(key);
    xlateNormal(br, bp, key, true, now, acts, wc);
    this.install(dp, u, key, acts.buf, acts.n);
    if (acts.n > 0) dp.execute(odpIn, acts.buf, packet, acts.n);
    br.ruleStats.packets++;
    br.ruleStats.bytes += packet.length;
    br.ruleUsed = now;
    if (br.macs.generation !== gen) {
      if (u.wake !== null) u.wake();
      else this.onMacChange();
    }
  }

  private install(dp: DpifClient, u: Udpif, key: Uint32Array, acts: Int32Array, n: number): void {
    if (!u.canInstall) {
      u.counters.upcall_flow_limit++;
      return;
    }
    const mask = this.wc.mask;
    dp.flowPut(key, mask, acts, n);
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
  }
}
