/*
 * Datapath counters: every drop reason and event the fast path counts, as slots of one
 * Float64Array indexed by the C_* constants below (hot: `counters.v[C_HIT]++` costs one store).
 * Owned by the Datapath; read by dp_stats, appctl coverage/show and tests. A double counts
 * exactly up to 2^53, which a per-packet counter does not reach in practice.
 */

export const C_HIT = 0;
export const C_MISSED = 1;
/** Frame shorter than an Ethernet header (dropped). */
export const C_RX_RUNT = 2;
/** Truncated or malformed L3/L4 header (not a drop: the key holds what could be parsed). */
export const C_RX_BAD_HEADER = 3;
/** Miss with no vswitchd connected (dropped). */
export const C_UPCALL_LOST = 4;
/** Miss while the upcall queue to vswitchd was over its bound (dropped). */
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

export const COUNTER_NAMES: readonly string[] = [
  'hit', 'missed', 'rx_runt', 'rx_bad_header', 'upcall_lost', 'upcall_queue_full', 'flow_limit',
  'tx_no_port', 'tx_failed', 'bad_dpif_message', 'exec_bad_actions', 'exec_too_long',
  'action_too_long', 'upcall_sent', 'executed', 'flow_put', 'flow_del',
];

export class Counters {
  /** Counter values, indexed by the C_* constants. Hot paths increment in place. */
  readonly v: Float64Array;
  constructor() {
    this.v = new Float64Array(COUNTER_NAMES.length);
  }

  get(name: string): number {
    const i = COUNTER_NAMES.indexOf(name);
    return i < 0 ? 0 : this.v[i];
  }

  /** All counters as {name: value} (control path). */
  toObject(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < COUNTER_NAMES.length; i++) out[COUNTER_NAMES[i]] = this.v[i];
    return out;
  }

  /** Text for `appctl -t datapath coverage/show`: the counters that fired, then how many did not. */
  coverage(): string {
    const lines = ['Event coverage:'];
    let zero = 0;
    for (let i = 0; i < COUNTER_NAMES.length; i++) {
      if (this.v[i] === 0) zero++;
      else lines.push(`${COUNTER_NAMES[i].padEnd(24)} total: ${this.v[i]}`);
    }
    lines.push(`${zero} events never hit`);
    return lines.join('\n') + '\n';
  }

  reset(): void {
    this.v.fill(0);
  }
}
