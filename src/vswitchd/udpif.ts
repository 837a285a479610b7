/*
 * Flow-cache bookkeeping shared by the upcall handler and the revalidator (OVS calls this
 * layer udpif): the dynamic flow limit, the estimate of how many flows the datapath holds, and
 * the counters appctl coverage/show prints. One per SwitchState, found with udpifOf(st), so
 * the two can share it without either owning the other. Control path.
 *
 * The dynamic flow limit: the configured ceiling is Open_vSwitch other_config:flow-limit
 * (default 200000); as in Open vSwitch the limit starts at 10000 (or the ceiling, if lower), so a
 * flood of new flows right after start costs upcalls, not puts, dumps and revalidation of
 * tens of thousands of flows, and grows only as passes prove fast. After each revalidation pass the limit moves with how long the pass took,
 * as in Open vSwitch: a pass over 2 s divides it by the pass's seconds, one over 1.3 s takes a
 * quarter off, and a pass under 1 s with over 2000 flows raises it by 1000 while the flows it
 * could handle at that speed exceed it; it never goes below 1000 (or the ceiling, if lower).
 * While the datapath holds more flows than the limit, the upcall handler installs no new flows
 * (it still executes the packet) and the revalidator evicts flows idle for more than 100 ms
 * instead of max-idle: idle flows go first, busy ones keep forwarding.
 *
 * It also holds what both sides share about installed flows: the ukeys (ukeys.ts), the
 * datapath connection (for packet-out), the translation counters and whether megaflows are on
 * (`appctl upcall/disable-megaflows` makes every flow exact-match, as in OVS).
 */
import type { DpifClient } from '../lib/dpif-client.js';
import type { SwitchState } from './state.js';
import { UkeyTable } from './ukeys.js';
import type { XlateCounters } from './xlate.js';

export const DEFAULT_FLOW_LIMIT = 200000;
export const MIN_FLOW_LIMIT = 1000;
/** The dynamic limit's starting point (under a lower ceiling, the ceiling). */
export const INITIAL_FLOW_LIMIT = 10000;
/** Idle time after which flows are evicted while over the flow limit. */
export const OVER_LIMIT_IDLE_MS = 100;

export interface UdpifCounters {
  /** Upcalls executed without installing a flow because the datapath was at the flow limit. */
  upcall_flow_limit: number;
  /** Flows installed (or re-installed) by upcalls. */
  flows_installed: number;
  /** Flows the revalidator translated again. */
  flows_revalidated: number;
  /** Flows deleted because a new translation consults a field their mask wildcards. */
  flows_deleted_mask: number;
  /** Flows deleted for being idle over 100 ms while over the flow limit. */
  flows_evicted: number;
  /** Revalidation passes that translated every flow again (configuration or MAC change). */
  revalidate_full: number;
  /** Flow dump pages read. */
  dump_pages: number;
  /** Packet-ins received from the datapath (controller actions) and handed to the bridge. */
  packet_in: number;
  /** Packet-ins whose userdata or port made no sense (dropped). */
  packet_in_bad: number;
  /** Ukeys of flows that disappeared from the datapath without vswitchd deleting them. */
  ukeys_swept: number;
}

export class Udpif {
  /** Current (dynamic) flow limit. */
  flowLimit: number = DEFAULT_FLOW_LIMIT;
  /** Datapath flows as of the last pass, plus flows installed since. */
  nFlows = 0;
  /** Duration (ms) of the last completed revalidation pass. */
  lastPassMs = 0;
  /** Asks the revalidator for an incremental pass soon (set by the revalidator). */
  wake: (() => void) | null = null;
  /**
   * Resolves once the revalidator has no pass running or queued and the datapath has applied
   * its changes (set by the revalidator): after a flow table change, awaiting it means every
   * cached datapath flow follows the new tables (a barrier can wait for it).
   */
  settle: (() => Promise<void>) | null = null;
  /** The datapath connection (set by the upcall handler while attached). */
  dp: DpifClient | null = null;
  /** Install megaflows (false: exact-match flows only, `upcall/disable-megaflows`). */
  megaflows = true;
  readonly ukeys = new UkeyTable();
  readonly counters: UdpifCounters = {
    upcall_flow_limit: 0,
    flows_installed: 0,
    flows_revalidated: 0,
    flows_deleted_mask: 0,
    flows_evicted: 0,
    revalidate_full: 0,
    dump_pages: 0,
    packet_in: 0,
    packet_in_bad: 0,
    ukeys_swept: 0,
  };
  readonly xlateCounters: XlateCounters = { xlate_too_deep: 0, xlate_learn_failed: 0 };

  /** Whether new flows may be installed now. */
  get canInstall(): boolean {
    return this.nFlows < this.flowLimit;
  }

  /** Applies the outcome of a pass that took `durationMs` and left `nFlows` flows. */
  adjust(durationMs: number, nFlows: number, ceiling: number): void {
    this.lastPassMs = durationMs;
    this.nFlows = nFlows;
    let limit = this.flowLimit;
    if (durationMs > 2000) limit = Math.floor((limit * 1000) / durationMs);
    else if (durationMs > 1300) limit = Math.floor((limit * 3) / 4);
    else if (durationMs < 1000 && nFlows > 2000 && limit < (nFlows * 1000) / Math.max(durationMs, 1)) limit += 1000;
    this.flowLimit = Math.max(Math.min(limit, ceiling), Math.min(MIN_FLOW_LIMIT, ceiling));
  }
}

const byState = new WeakMap<SwitchState, Udpif>();

/** The Udpif of `st` (created on first use, its limit INITIAL_FLOW_LIMIT under the ceiling). */
export function udpifOf(st: SwitchState): Udpif {
  let u = byState.get(st);
  if (u === undefined) {
    u = new Udpif();
    u.flowLimit = Math.min(flowLimitCeiling(st), INITIAL_FLOW_LIMIT);
    byState.set(st, u);
  }
  return u;
}

/** The configured flow limit (other_config:flow-limit), or the default. */
export function flowLimitCeiling(st: SwitchState): number {
  return st.flowLimit ?? DEFAULT_FLOW_LIMIT;
}
