/*
 * The revalidator keeps the datapath's flow cache true to the current MAC tables and
 * configuration. Woken by a MAC table change (a new MAC, a moved MAC), by a configuration change,
 * and every second. Control path: one flow_dump per pass, never per packet.
 *
 * A pass:
 *  1. Dumps every datapath flow.
 *  2. Refreshes MAC entries from the flows used since the previous pass (their in_port and
 *     dl_src): traffic that hits cached flows never reaches the upcall handler, so without this
 *     a busy host's entry would age out under it. After a restart (`relearn`) every flow
 *     counts, oldest use first, so the table comes back as it was before.
 *  3. Ages out MAC entries (mac-aging-time).
 *  4. For each flow: idle longer than max-idle (Open_vSwitch other_config:max-idle, default
 *     10 s) -> delete, its counts added to the NORMAL rule's; in_port no longer a bridge port ->
 *     delete (unless it is already a drop flow, kept until idle so a stray port's frames stay
 *     down in the datapath); else re-translate WITHOUT learning and replace the actions when
 *     they differ (a flooding flow becomes unicast once its destination is learned, a unicast
 *     flow floods again once its entry aged out, a flow to a removed port changes).
 * Passes never overlap: a wakeup during a pass makes one more pass right after it.
 */
import type { DpifClient } from '../lib/dpif-client.js';
import { KEY_WORDS, ethSrc, inPort, isMulticastMac, vlanTci, VLAN_CFI } from '../lib/flow-key.js';
import type { Logger } from '../lib/log.js';
import { inputVlan } from './bridge.js';
import type { SwitchState } from './state.js';
import { OdpActions, xlateNormal } from './xlate.js';

/** A flow as flow_dump returns it. */
export interface DumpedFlow {
  key: number[];
  actions: number[];
  packets: number;
  bytes: number;
  used: number;
  created: number;
}

export const REVALIDATE_INTERVAL_MS = 1000;

export class Revalidator {
  private readonly state: SwitchState;
  private readonly log: Logger;
  private dp: DpifClient | null = null;
  private readonly acts = new OdpActions();
  private readonly key = new Uint32Array(KEY_WORDS);
  private running = false;
  private again = false;
  private relearnNext = false;
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  /** Start time (ms) of the last completed dump; flows used after it refresh MACs. */
  private lastDump = Date.now();
  private idleWaiters: (() => void)[] = [];

  constructor(state: SwitchState, log: Logger) {
    this.state = state;
    this.log = log;
  }

  attach(dp: DpifClient): void {
    this.dp = dp;
  }

  detach(): void {
    this.dp = null;
  }

  /** Starts the once-a-second pass. */
  start(intervalMs = REVALIDATE_INTERVAL_MS): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.trigger(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Asks for a pass soon; `relearn` makes it learn MACs from every cached flow (restart). */
  trigger(relearn = false): void {
    if (relearn) this.relearnNext = true;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.loop();
    });
  }

  /** Runs a pass now (waiting for a running one first) and resolves when it is done. */
  async run(relearn = false): Promise<void> {
    this.trigger(relearn);
    await this.whenIdle();
  }

  /** Resolves once no pass is running or queued. */
  whenIdle(): Promise<void> {
    if (!this.running && !this.scheduled && !this.again) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private async loop(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      do {
        this.again = false;
        const relearn = this.relearnNext;
        this.relearnNext = false;
        try {
          await this.pass(relearn);
        } catch (e) {
          if (relearn) this.relearnNext = true;
          this.log.warn({ err: (e as Error).message }, 'revalidation pass failed');
          break;
        }
      } while (this.again);
    } finally {
      this.running = false;
      if (!this.scheduled && !this.again) {
        const w = this.idleWaiters.splice(0);
        for (const f of w) f();
      }
    }
  }

  private async pass(relearn: boolean): Promise<void> {
    const dp = this.dp;
    const st = this.state;
    // Before the ports are reconciled with this datapath the port map may be stale.
    if (dp === null || dp.isClosed || !st.ready) return;
    const started = Date.now();
    const flows = (await dp.request('flow_dump')) as DumpedFlow[];
    if (this.dp !== dp || dp.isClosed) return;
    const now = Date.now();
    st.counters.revalidations++;
    st.counters.flows_dumped += flows.length;
    const key = this.key;

    // 2. Refresh (or, after a restart, relearn) MACs from flows that carried traffic.
    const since = relearn ? -1 : this.lastDump;
    const users = flows.filter((f) => (relearn ? true : f.used >= since && f.used > 0));
    if (relearn) users.sort((a, b) => (a.used || a.created) - (b.used || b.created));
    for (const f of users) {
      loadKey(key, f.key);
      const bp = st.portsByOdp.get(inPort(key));
      if (bp === undefined) continue;
      const src = ethSrc(key);
      if (isMulticastMac(src)) continue;
      const tci = vlanTci(key);
      const vlan = inputVlan(bp.vlan, (tci & VLAN_CFI) !== 0 ? tci & 0xfff : 0);
      if (vlan < 0) continue;
      bp.bridge.macs.learn(src, vlan, bp.ofport, now);
      if (f.used > bp.bridge.ruleUsed) bp.bridge.ruleUsed = f.used;
      st.counters.macs_refreshed++;
    }
    // 3. Age out.
    for (const br of st.bridges.values()) br.macs.expire(now);

    // 4. Delete idle and orphaned flows, fix stale ones.
    const acts = this.acts;
    for (const f of flows) {
      loadKey(key, f.key);
      const bp = st.portsByOdp.get(inPort(key));
      const idle = now - (f.used || f.created);
      if (idle > st.maxIdleMs) {
        dp.flowDel(key);
        st.counters.flows_deleted_idle++;
        if (bp !== undefined) {
          bp.bridge.ruleStats.packets += f.packets;
          bp.bridge.ruleStats.bytes += f.bytes;
        }
        continue;
      }
      if (bp === undefined) {
        if (f.actions.length > 0) {
          dp.flowDel(key);
          st.counters.flows_deleted_no_port++;
        }
        continue;
      }
      xlateNormal(bp.bridge, bp, key, false, now, acts);
      if (!acts.equals(f.actions)) {
        dp.flowPut(key, acts.buf, acts.n);
        st.counters.flows_modified++;
      }
    }
    dp.flush();
    this.lastDump = started;
  }
}

function loadKey(out: Uint32Array, words: number[]): void {
  for (let i = 0; i < KEY_WORDS; i++) out[i] = words[i] >>> 0;
}
