/*
 * The datapath, assembled: one PacketBatch (the buffer every frame passes through), the port
 * registry, the flow caches (exact-match cache in front of the megaflow table), the action
 * runner, the upcall queues, the pipeline and the datapath.sock server. Used by the daemon
 * (main.ts) and by tests, which run a whole datapath in-process with dummy ports and a socket
 * in a temporary directory. Control path; the hot path is Pipeline.runPort, wired here to each
 * port's readiness callback.
 *
 * Once a second (while started) it re-ranks the megaflow subtables by hits and decides whether
 * the pipeline consults the exact-match cache: an EMC hit costs a hash of the whole key and a
 * whole-key compare (bench/micro.ts: about what three subtable probes cost), which only pays
 * when a megaflow lookup costs more, i.e. when the last second's megaflow lookups searched on
 * average at least `emcMinProbes` subtables (default 3). With NORMAL alone there are one or two
 * masks and the EMC stays off; with many OpenFlow-shaped masks it comes on. emcMinProbes 0
 * keeps it on.
 */
import type { Logger } from '../lib/log.js';
import { RateLimiter } from '../lib/log.js';
import { ActionRunner } from './actions.js';
import { PacketBatch } from './batch.js';
import type { DpStats } from '../lib/dp-stats.js';
import { formatStatsLines } from '../lib/dp-stats.js';
import {
  C_EMC_HIT, C_HIT, C_MASK_LOOKUPS, C_MEGAFLOW_HIT, C_MISSED, C_UPCALL_LIMIT, C_UPCALL_LOST, C_UPCALL_QUEUE_FULL, COUNTERS,
  Counters,
} from './counters.js';
import { DpifServer, type DpifBackend } from './dpif-server.js';
import { DEFAULT_EMC_INSERT_INV_PROB, Emc } from './emc.js';
import { DEFAULT_FLOW_LIMIT, MegaflowTable } from './megaflow.js';
import { openNetdev, type NetdevType } from './netdev.js';
import { Pipeline } from './pipeline.js';
import { PortTable, type OpenNetdevFn, type Port, type PortOptions } from './ports.js';
import { UPCALL_MAX_BYTES, UPCALL_PORT_MAX_BYTES, UpcallQueue } from './upcall.js';

/** How often the megaflow subtables are re-ranked by hits (and the EMC switched). */
export const RERANK_INTERVAL_MS = 1000;
/** Average subtables per megaflow lookup from which the EMC is consulted. */
export const DEFAULT_EMC_MIN_PROBES = 3;

export interface DatapathOptions {
  /** Where datapath.sock is served (start() listens there). */
  socketPath: string;
  /** Datapath name reported in HELLO, dp_stats and dpif/show (default 'vswitch'). */
  name?: string;
  flowLimit?: number;
  /** Insert one megaflow hit in N into the exact-match cache (default 100; 1 = all, 0 = EMC off). */
  emcInsertInvProb?: number;
  /** Consult the EMC once megaflow lookups average this many subtable probes (0 = always). */
  emcMinProbes?: number;
  /** How ports are opened (default: openNetdev from netdev.ts; tests pass dummies). */
  openNetdev?: OpenNetdevFn;
  /** Bytes of upcalls allowed in flight to vswitchd (all ports) before misses are dropped. */
  upcallMaxBytes?: number;
  /** Bytes of upcalls one ingress port may have queued (default 256 KiB). */
  upcallPortMaxBytes?: number;
  log?: Logger;
}

export class Datapath implements DpifBackend {
  readonly name: string;
  readonly socketPath: string;
  readonly counters = new Counters();
  readonly batch = new PacketBatch();
  readonly ports: PortTable;
  /** The megaflow table (every installed flow). */
  readonly table: MegaflowTable;
  readonly emc: Emc;
  readonly actions: ActionRunner;
  readonly upcalls: UpcallQueue;
  readonly pipeline: Pipeline;
  readonly server: DpifServer;
  private readonly log: Logger | undefined;
  private readonly errLimit = new RateLimiter(5, 10000);
  private rankTimer: NodeJS.Timeout | null = null;
  /** See the header; set_config emc_min_probes. */
  emcMinProbes: number;
  private lastLookups = 0;
  private lastProbes = 0;

  constructor(opts: DatapathOptions) {
    this.name = opts.name ?? 'vswitch';
    this.socketPath = opts.socketPath;
    this.log = opts.log;
    this.ports = new PortTable(opts.openNetdev ?? ((name: string, type: NetdevType, o?: PortOptions) => openNetdev(name, type, { ...o, log: opts.log })));
    this.table = new MegaflowTable(opts.flowLimit ?? DEFAULT_FLOW_LIMIT);
    this.emc = new Emc(opts.emcInsertInvProb ?? DEFAULT_EMC_INSERT_INV_PROB);
    this.actions = new ActionRunner(this.batch, this.ports, this.counters);
    this.upcalls = new UpcallQueue(this.counters, opts.upcallMaxBytes ?? UPCALL_MAX_BYTES, opts.upcallPortMaxBytes ?? UPCALL_PORT_MAX_BYTES);
    this.pipeline = new Pipeline(this.batch, this.table, this.emc, this.actions, this.upcalls, this.counters);
    this.emcMinProbes = opts.emcMinProbes ?? DEFAULT_EMC_MIN_PROBES;
    this.pipeline.emcActive = this.emcMinProbes === 0;
    this.server = new DpifServer(this, opts.log);
  }

  /** The once-a-second housekeeping (see the header). Public for tests. */
  tick(): void {
    this.table.rerank();
    const v = this.counters.v;
    const lookups = v[C_MEGAFLOW_HIT] + v[C_MISSED];
    const probes = v[C_MASK_LOOKUPS];
    const dl = lookups - this.lastLookups;
    const dprobes = probes - this.lastProbes;
    this.lastLookups = lookups;
    this.lastProbes = probes;
    if (this.emcMinProbes === 0) this.pipeline.emcActive = true;
    else if (dl > 0) this.pipeline.emcActive = dprobes / dl >= this.emcMinProbes;
  }

  /** Starts serving datapath.sock and the once-a-second subtable ranking. */
  async start(): Promise<void> {
    await this.server.listen(this.socketPath);
    if (this.rankTimer === null) {
      this.rankTimer = setInterval(() => this.tick(), RERANK_INTERVAL_MS);
      this.rankTimer.unref();
    }
    this.log?.info({ socket: this.socketPath, flowLimit: this.table.limit, emcInsertInvProb: this.emc.insertInvProb }, 'datapath listening');
  }

  /** Stops the server and closes every port (tap and internal devices disappear). */
  async stop(): Promise<void> {
    if (this.rankTimer !== null) clearInterval(this.rankTimer);
    this.rankTimer = null;
    await this.server.close();
    this.ports.closeAll();
  }

  /** Adds a port (or returns the existing one of that name, type and options) and starts
   *  receiving. */
  addPort(name: string, type: NetdevType, portNo?: number, options?: PortOptions): Port {
    const { port, created } = this.ports.add(name, type, portNo, options);
    if (created) {
      port.netdev.start(() => this.onReadable(port));
      this.log?.info({ port: name, type, portNo: port.portNo }, 'port added');
    }
    return port;
  }

  delPort(portNo: number): void {
    const port = this.ports.del(portNo);
    this.log?.info({ port: port.name, portNo }, 'port deleted');
  }

  stats(): DpStats {
    const v = this.counters.v;
    const t = this.table;
    const u = this.upcalls;
    return {
      name: this.name,
      hit: v[C_HIT],
      missed: v[C_MISSED],
      lost: v[C_UPCALL_LOST] + v[C_UPCALL_QUEUE_FULL] + v[C_UPCALL_LIMIT],
      flows: t.count,
      flow_limit: t.limit,
      masks: { hit: v[C_MASK_LOOKUPS], total: t.nSubtables },
      emc: {
        active: this.pipeline.emcActive && this.emc.enabled, min_probes: this.emcMinProbes,
        hit: v[C_EMC_HIT], megaflow_hit: v[C_MEGAFLOW_HIT], inserted: this.emc.inserts,
        entries: this.emc.liveEntries(t.gen), size: this.emc.size, insert_inv_prob: this.emc.insertInvProb,
      },
      upcall: { queued_bytes: u.queuedBytes, unsent_bytes: u.unsentBytes, max_bytes: u.maxBytes, port_max_bytes: u.portMaxBytes },
      counters: this.counters.toObject(),
      drops: COUNTERS.filter((c) => c.drop).map((c) => c.name),
    };
  }

  /** Text for `appctl -t datapath dpif/show`, shaped like `ovs-dpctl show`. */
  show(): string {
    const lines = formatStatsLines(this.stats(), false);
    for (const p of this.ports.list()) lines.push(`  port ${p.portNo}: ${p.name} (${p.type})`);
    return lines.join('\n') + '\n';
  }

  /** Runs a wakeup of `port`; returns whether it may have queued asynchronous work (a socket
   *  write of upcalls, a receive error's log line): false lets the addon skip Node's tick and microtask queues
   *  after a forwarding-only wakeup (Netdev.start). */
  private onReadable(port: Port): boolean {
    const writes = this.upcalls.socketWrites;
    const stats = port.netdev.stats;
    const errors = stats.rxErrors;
    try {
      this.pipeline.runPort(port);
    } catch (e) {
      // A bug, not a packet problem: keep forwarding, say it (rate-limited).
      if (this.errLimit.allow()) this.log?.error({ err: (e as Error)?.stack ?? String(e), port: port.name }, 'pipeline failed');
      return true;
    }
    // A receive error may have logged and scheduled a recovery.
    return this.upcalls.socketWrites !== writes || stats.rxErrors !== errors;
  }
}
