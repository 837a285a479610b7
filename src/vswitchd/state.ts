/*
 * What vswitchd knows at run time, shared by its parts: the bridges by name, every bridge port by
 * datapath port number (the upcall handler's first lookup), the settings from the
 * Open_vSwitch row and the daemon-wide counters (appctl coverage/show). Written by config.ts,
 * read everywhere else. Control path.
 */
import type { Bridge, BridgePort } from './bridge.js';

export const DEFAULT_MAX_IDLE_MS = 10000;

/** A datapath port as port_list reports it. */
export interface DpPort {
  port_no: number;
  name: string;
  type: string;
  mac?: string;
  stats?: Record<string, number>;
}

export interface SwitchCounters {
  upcalls: number;
  /** Upcalls whose in_port belongs to no configured interface: a drop flow is installed. */
  upcall_unknown_port: number;
  /** Upcalls that came before the first reconciliation after a (re)connect: dropped, no flow. */
  upcall_not_ready: number;
  /** Upcalls with a reason other than MISS (handled as a miss). */
  upcall_bad_reason: number;
  reconfigures: number;
  revalidations: number;
  flows_dumped: number;
  /** Cached flows whose actions the revalidator replaced. */
  flows_modified: number;
  /** Cached flows deleted because idle longer than max-idle. */
  flows_deleted_idle: number;
  /** Cached flows deleted because their in_port is no longer a port of any bridge. */
  flows_deleted_no_port: number;
  /** MAC entries refreshed or relearned from cached flows. */
  macs_refreshed: number;
  dp_reconnects: number;
  db_reconnects: number;
  /** Packet-ins not sent to a controller connection because its rate limit was reached. */
  packet_in_rate_limited: number;
}

export class SwitchState {
  readonly bridges = new Map<string, Bridge>();
  readonly portsByOdp = new Map<number, BridgePort>();
  /**
   * False from a datapath (re)connect until the ports were reconciled with it: port numbers may
   * have changed, so upcalls are dropped instead of being translated on a stale port map.
   */
  ready = false;
  /** Open_vSwitch other_config:max-idle. */
  maxIdleMs = DEFAULT_MAX_IDLE_MS;
  /** Open_vSwitch other_config:flow-limit as last sent to the datapath (undefined: never). */
  flowLimit: number | undefined = undefined;
  /** The datapath ports as of the last reconciliation. */
  dpPorts: DpPort[] = [];
  readonly counters: SwitchCounters = {
    upcalls: 0,
    upcall_unknown_port: 0,
    upcall_not_ready: 0,
    upcall_bad_reason: 0,
    reconfigures: 0,
    revalidations: 0,
    flows_dumped: 0,
    flows_modified: 0,
    flows_deleted_idle: 0,
    flows_deleted_no_port: 0,
    macs_refreshed: 0,
    dp_reconnects: 0,
    db_reconnects: 0,
    packet_in_rate_limited: 0,
  };

  /** Rebuilds portsByOdp from the bridges. */
  reindexPorts(): void {
    this.portsByOdp.clear();
    for (const br of this.bridges.values()) for (const p of br.ordered) this.portsByOdp.set(p.odpPort, p);
  }

  bridge(name: string): Bridge | undefined {
    return this.bridges.get(name);
  }
}
