/*
 * Datapath counters: every drop reason and event the fast path counts, as slots of one
 * Float64Array indexed by the C_* constants below (hot: `counters.v[C_HIT]++` costs one store).
 * Owned by the Datapath; read by dp_stats (dpctl show -s), appctl coverage/show and tests. A
 * double counts exactly up to 2^53, which a per-packet counter does not reach in practice.
 * Every way a frame can be dropped has its own counter, marked `drop` in COUNTERS.
 */

export const C_HIT = 0;
export const C_MISSED = 1;
/** Frame shorter than an Ethernet header (dropped). */
export const C_RX_RUNT = 2;
/** Truncated or malformed L3/L4 header (not a drop: the key holds what could be parsed). */
export const C_RX_BAD_HEADER = 3;
/** Miss with no vswitchd connected, or queued when it went away (dropped). */
export const C_UPCALL_LOST = 4;
/** Miss while its ingress port's upcall queue was full (dropped). */
export const C_UPCALL_QUEUE_FULL = 5;
/** FLOW_PUT refused because the table is at flow_limit. */
export const C_FLOW_LIMIT = 6;
/** Output to a port number that does not exist (that copy dropped). */
export const C_TX_NO_PORT = 7;
/** Frames a netdev did not accept in txBurst (dropped; the netdev counts the reason). */
export const C_TX_FAILED = 8;
/** Malformed dpif message (bad length, unknown type, bad JSON, bad stream). */
export const C_BAD_DPIF_MESSAGE = 9;
/** EXECUTE or flow whose action list is malformed, or that met an unknown opcode. */
export const C_EXEC_BAD_ACTIONS = 10;
/** EXECUTE packet too large for a batch slot (dropped). */
export const C_EXEC_TOO_LONG = 11;
/** A VLAN push that would not fit the frame's slot (that frame dropped). */
export const C_ACTION_TOO_LONG = 12;
/** Upcalls written to vswitchd. */
export const C_UPCALL_SENT = 13;
/** EXECUTE messages run. */
export const C_EXECUTED = 14;
/** Flows installed (new, not replaced). */
export const C_FLOW_PUT = 15;
/** Flows deleted by FLOW_DEL. */
export const C_FLOW_DEL = 16;
/** Miss while all upcall queues together held upcall_max_bytes (dropped). */
export const C_UPCALL_LIMIT = 17;
/** Frames that hit a flow with no actions (an explicit drop flow). */
export const C_FLOW_DROP = 18;
/** Hits in the exact-match cache (part of `hit`). */
export const C_EMC_HIT = 19;
/** Hits in the megaflow table after an EMC miss (part of `hit`). */
export const C_MEGAFLOW_HIT = 20;
/** Megaflow subtables searched, summed over all lookups (masks: hit in dpctl show). */
export const C_MASK_LOOKUPS = 21;
/** FLOW_PUTs that replaced the actions of an existing flow. */
export const C_FLOW_MODIFY = 22;
/** Pages of flow dumps sent. */
export const C_DUMP_PAGES = 23;
/** Frames read right after a small burst went out, from the ports it went to (replies the
 *  kernel queued while the datapath wrote; see pipeline.ts). Extra rx attempts: rx_pickup_tries. */
export const C_RX_PICKUP = 24;
export const C_RX_PICKUP_TRIES = 25;

export interface CounterInfo {
  name: string;
  /** Whether the counted frames were dropped. */
  drop: boolean;
}

const c = (name: string, drop = false): CounterInfo => ({ name, drop });

/** Every counter, indexed by its C_* constant. */
export const COUNTERS: readonly CounterInfo[] = [
  c('hit'), c('missed'), c('rx_runt', true), c('rx_bad_header'), c('upcall_lost', true),
  c('upcall_queue_full', true), c('flow_limit'), c('tx_no_port', true), c('tx_failed', true),
  c('bad_dpif_message'), c('exec_bad_actions', true), c('exec_too_long', true), c('action_too_long', true),
  c('upcall_sent'), c('executed'), c('flow_put'), c('flow_del'), c('upcall_limit', true), c('flow_drop', true),
  c('emc_hit'), c('megaflow_hit'), c('mask_lookups'), c('flow_modify'), c('dump_pages'),
  c('rx_pickup'), c('rx_pickup_tries'),
];

export const COUNTER_NAMES: readonly string[] = COUNTERS.map((x) => x.name);

export class Counters {
  /** Counter values, indexed by the C_* constants. Hot paths increment in place. */
  readonly v: Float64Array;
  constructor() {
    this.v = new Float64Array(COUNTERS.length);
  }

  get(name: string): number {
    const i = COUNTER_NAMES.indexOf(name);
    return i < 0 ? 0 : this.v[i];
  }

  /** All counters as {name: value} (control path). */
  toObject(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < COUNTERS.length; i++) out[COUNTERS[i].name] = this.v[i];
    return out;
  }

  /** The drop counters as {name: value} (control path). */
  drops(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < COUNTERS.length; i++) if (COUNTERS[i].drop) out[COUNTERS[i].name] = this.v[i];
    return out;
  }

  /**
   * Text for `appctl -t datapath coverage/show`: every counter with its total (drop reasons
   * marked), then how many never fired, as ovs-appctl coverage/show ends.
   */
  coverage(): string {
    const lines = ['Event coverage:'];
    let zero = 0;
    for (let i = 0; i < COUNTERS.length; i++) {
      if (this.v[i] === 0) zero++;
      const tag = COUNTERS[i].drop ? ' (drop)' : '';
      lines.push(`${COUNTERS[i].name.padEnd(24)} total: ${this.v[i]}${tag}`);
    }
    lines.push(`${zero} events never hit`);
    return lines.join('\n') + '\n';
  }

  reset(): void {
    this.v.fill(0);
  }
}
