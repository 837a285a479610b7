/*
 * Answers the datapath's upcalls (flow cache misses): finds the bridge port of the key's
 * in_port, translates with learning (xlate.ts), installs the resulting flow and executes the
 * packet with the same actions. An in_port that belongs to no configured interface gets a drop
 * flow (counted) so its frames stop coming up. Runs once per miss, so it reuses one action
 * buffer; the DpifClient batches the puts and executes of one burst into one write.
 * A MAC table change wakes the revalidator, which fixes flows cached before the change.
 */
import type { DpifClient } from '../lib/dpif-client.js';
import { UPCALL_MISS } from '../lib/dpif-proto.js';
import { inPort } from '../lib/flow-key.js';
import type { SwitchState } from './state.js';
import { OdpActions, xlateNormal } from './xlate.js';

const NO_ACTIONS = new Int32Array(0);

export class UpcallHandler {
  private readonly state: SwitchState;
  private readonly acts = new OdpActions();
  private readonly onMacChange: () => void;
  private dp: DpifClient | null = null;

  constructor(state: SwitchState, onMacChange: () => void) {
    this.state = state;
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
    st.counters.upcalls++;
    if (!st.ready) {
      st.counters.upcall_not_ready++;
      return;
    }
    if (reason !== UPCALL_MISS) st.counters.upcall_bad_reason++;
    const odpIn = inPort(key);
    const bp = st.portsByOdp.get(odpIn);
    if (bp === undefined) {
      st.counters.upcall_unknown_port++;
      dp.flowPut(key, NO_ACTIONS);
      return;
    }
    const br = bp.bridge;
    const gen = br.macs.generation;
    const now = Date.now();
    const acts = this.acts;
    xlateNormal(br, bp, key, true, now, acts);
    dp.flowPut(key, acts.buf, acts.n);
    if (acts.n > 0) dp.execute(odpIn, acts.buf, packet, acts.n);
    br.ruleStats.packets++;
    br.ruleStats.bytes += packet.length;
    br.ruleUsed = now;
    if (br.macs.generation !== gen) this.onMacChange();
  }
}
