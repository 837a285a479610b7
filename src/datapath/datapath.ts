/*
 * The datapath, assembled: one PacketBatch (the buffer every frame passes through), the port
 * registry, the flow table, the action runner, the upcall queue, the pipeline and the
 * datapath.sock server. Used by the daemon (main.ts) and by tests, which run a whole datapath
 * in-process with dummy ports and a socket in a temporary directory. Control path; the hot
 * path is Pipeline.runPort, wired here to each port's readiness callback.
 */
import type { Logger } from '../lib/log.js';
import { RateLimiter } from '../lib/log.js';
import { ActionRunner } from './actions.js';
import { PacketBatch } from './batch.js';
import { C_HIT, C_MISSED, C_UPCALL_LOST, C_UPCALL_QUEUE_FULL, Counters } from './counters.js';
import { DpifServer, type DpifBackend, type DpStats } from './dpif-server.js';
import { DEFAULT_FLOW_LIMIT, FlowTable } from './flow-table.js';
import { openNetdev, type NetdevType } from './netdev.js';
import { Pipeline } from './pipeline.js';
import { PortTable, type OpenNetdevFn, type Port } from './ports.js';
import { UPCALL_MAX_BYTES, UpcallQueue } from './upcall.js';

export interface DatapathOptions {
  /** Where datapath.sock is served (start() listens there). */
  socketPath: string;
  /** Datapath name reported in HELLO, dp_stats and dpif/show (default 'vswitch'). */
  name?: string;
  flowLimit?: number;
  /** How ports are opened (default: openNetdev from netdev.ts; tests pass dummies). */
  openNetdev?: OpenNetdevFn;
  /** Bytes of upcalls allowed in flight to vswitchd before misses are dropped. */
  upcallMaxBytes?: number;
  log?: Logger;
}

export class Datapath implements DpifBackend {
  readonly name: string;
  readonly socketPath: string;
  readonly counters = new Counters();
  readonly batch = new PacketBatch();
  readonly ports: PortTable;
  readonly table: FlowTable;
  readonly actions: ActionRunner;
  readonly upcalls: UpcallQueue;
  readonly pipeline: Pipeline;
  readonly server: DpifServer;
  private readonly log: Logger | undefined;
  private readonly errLimit = new RateLimiter(5, 10000);

  constructor(opts: DatapathOptions) {
    this.name = opts.name ?? 'vswitch';
    this.socketPath = opts.socketPath;
    this.log = opts.log;
    this.ports = new PortTable(opts.openNetdev ?? ((name: string, type: NetdevType) => openNetdev(name, type)));
    this.table = new FlowTable(opts.flowLimit ?? DEFAULT_FLOW_LIMIT);
    this.actions = new ActionRunner(this.batch, this.ports, this.counters);
    this.upcalls = new UpcallQueue(this.counters, opts.upcallMaxBytes ?? UPCALL_MAX_BYTES);
    this.pipeline = new Pipeline(this.batch, this.table, this.actions, this.upcalls, this.counters);
    this.server = new DpifServer(this, opts.log);
  }

  /** Starts serving datapath.sock. */
  async start(): Promise<void> {
    await this.server.listen(this.socketPath);
    this.log?.info({ socket: this.socketPath, flowLimit: this.table.limit }, 'datapath listening');
  }

  /** Stops the server and closes every port (tap and internal devices disappear). */
  async stop(): Promise<void> {
    await this.server.close();
    this.ports.closeAll();
  }

  /** Adds a port (or returns the existing one of that name and type) and starts receiving. */
  addPort(name: string, type: NetdevType, portNo?: number): Port {
    const { port, created } = this.ports.add(name, type, portNo);
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
    return {
      name: this.name,
      hit: v[C_HIT],
      missed: v[C_MISSED],
      lost: v[C_UPCALL_LOST] + v[C_UPCALL_QUEUE_FULL],
      flows: this.table.count,
      counters: this.counters.toObject(),
    };
  }

  /** Text for `appctl -t datapath dpif/show`, shaped like `ovs-dpctl show`. */
  show(): string {
    const s = this.stats();
    const lines = [
      `netdev@${this.name}:`,
      `  lookups: hit:${s.hit} missed:${s.missed} lost:${s.lost}`,
      `  flows: ${s.flows}`,
    ];
    for (const p of this.ports.list()) lines.push(`  port ${p.portNo}: ${p.name} (${p.type})`);
    return lines.join('\n') + '\n';
  }

  private onReadable(port: Port): void {
    try {
      this.pipeline.runPort(port);
    } catch (e) {
      // A bug, not a packet problem: keep forwarding, say it (rate-limited).
      if (this.errLimit.allow()) this.log?.error({ err: (e as Error)?.stack ?? String(e), port: port.name }, 'pipeline failed');
    }
  }
}
