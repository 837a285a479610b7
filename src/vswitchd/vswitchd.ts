/*
 * The vswitchd daemon as an object: connects to vsdb (an Idl replica of Open_vSwitch, Bridge,
 * Port, Interface) and to the datapath (as its one upcall receiver), keeps them reconciled
 * (config.ts), answers upcalls (upcall-handler.ts), revalidates the flow cache (revalidator.ts)
 * and serves the control socket (appctl.ts) and each bridge's flow-protocol socket (ofmgmt.ts).
 * main.ts runs it as a process; tests run it in-process. Control path.
 *
 * Connections: at start both are retried until `connectTimeoutMs`, then start() fails. Later a
 * lost connection is retried with backoff (100 ms doubling to 5 s) while the other keeps
 * working: cached datapath flows forward the whole time. After a datapath reconnect, and at
 * start, the ports are re-synced by name, MACs are relearned from the cached flows and every
 * flow is revalidated, so a restarted vswitchd picks up where the last one stopped.
 */
import { dirname } from 'node:path';
import { DpifClient } from '../lib/dpif-client.js';
import { VswitchError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { mapOf } from '../ovsdb/datum.js';
import { Idl } from '../ovsdb/idl.js';
import { Appctl, packageVersion } from './appctl.js';
import { registerBridgeCommands } from './bridge-commands.js';
import { PortStatusWatch, reconcile, type ConfigDb, type Row } from './config.js';
import { ControllerManager } from './controllers.js';
import { OfMgmt } from './ofmgmt.js';
import { Revalidator } from './revalidator.js';
import { SwitchState } from './state.js';
import { UpcallHandler } from './upcall-handler.js';

export const DB_NAME = 'Open_vSwitch';
/** Tables and columns vswitchd replicates (null: every column). */
export const MONITORED: Record<string, string[] | null> = {
  Open_vSwitch: null,
  Bridge: null,
  Port: null,
  Interface: null,
  Controller: null,
};

export interface VswitchdOptions {
  dbSock: string;
  dpSock: string;
  /** Control socket path; omit to run without one (tests). */
  ctlSock?: string;
  /** Where the bridges' flow-protocol sockets (BRIDGE.mgmt) go; default: the ctl socket's
   *  directory (VSWITCH_RUNDIR); with neither, none. */
  mgmtDir?: string;
  log: Logger;
  /** How long start() keeps trying to reach vsdb and the datapath (default 10 s). */
  connectTimeoutMs?: number;
  /** Called when `appctl exit` asks the daemon to stop. */
  onExit?: () => void;
  revalidateIntervalMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Vswitchd {
  readonly state = new SwitchState();
  readonly log: Logger;
  readonly modules = new Map<string, Logger>();
  readonly upcalls: UpcallHandler;
  readonly revalidator: Revalidator;
  readonly appctl: Appctl;
  /** The bridges' flow-protocol sockets and connections (ofctl, controllers). */
  readonly ofmgmt: OfMgmt;
  /** The bridges' controller connections (controllers.ts). */
  readonly controllers: ControllerManager;
  /** Polls the datapath's ports for devices coming and going (config.ts). */
  private readonly portWatch: PortStatusWatch;
  private readonly opts: VswitchdOptions;
  private idl: Idl | null = null;
  private dp: DpifClient | null = null;
  private stopping = false;
  private cfgQueued: Promise<void> | null = null;
  private cfgChain: Promise<void> = Promise.resolve();
  private readonly cfgLog: Logger;

  private constructor(opts: VswitchdOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.modules.set('vswitchd', this.log);
    for (const m of ['config', 'upcall', 'revalidator', 'appctl', 'ofmgmt']) this.modules.set(m, this.log.child({ module: m }));
    this.cfgLog = this.modules.get('config')!;
    this.revalidator = new Revalidator(this.state, this.modules.get('revalidator')!);
    this.upcalls = new UpcallHandler(this.state, () => this.revalidator.trigger());
    this.appctl = new Appctl(this.modules.get('appctl')!, this.modules, () => (opts.onExit ? opts.onExit() : void this.stop()));
    registerBridgeCommands(this.appctl, this.state, () => this.dp, (br, key) => this.bridgeOtherConfig(br, key));
    this.ofmgmt = new OfMgmt({
      st: this.state,
      dp: () => this.dp,
      otherConfig: (br, key) => this.bridgeOtherConfig(br, key),
      portConfigChanged: () => {
        this.revalidator.trigger();
        void this.reconfigure(); // writes Interface.admin_state
      },
      log: this.modules.get('ofmgmt')!,
    }, opts.mgmtDir ?? (opts.ctlSock ? dirname(opts.ctlSock) : null));
    this.controllers = new ControllerManager({
      st: this.state,
      ofmgmt: this.ofmgmt,
      log: this.modules.get('ofmgmt')!,
      agent: `vswitchd ${packageVersion()}`,
      rows: (t) => (this.idl ? (this.idl.rows(t) as Map<string, Row>) : null),
      transact: (ops) => (this.idl ? this.idl.client.transact(DB_NAME, ops) : Promise.reject(new Error('no database connection'))),
    });
    this.portWatch = new PortStatusWatch(this.state, () => this.dp, () => (this.idl ? (this.idl.rows('Interface') as Map<string, Row>) : null), () => this.reconfigure());
  }

  /** Connects, reconciles once, relearns and revalidates, then listens on the ctl socket. */
  static async start(opts: VswitchdOptions): Promise<Vswitchd> {
    const d = new Vswitchd(opts);
    try {
      await d.init();
    } catch (e) {
      await d.stop();
      throw e;
    }
    return d;
  }

  /** The datapath connection (null while reconnecting). */
  get datapath(): DpifClient | null {
    return this.dp;
  }

  private async init(): Promise<void> {
    const timeout = this.opts.connectTimeoutMs ?? 10000;
    const deadline = Date.now() + timeout;
    this.attachIdl(await this.connectDb(deadline, timeout));
    this.attachDp(await this.connectDp(deadline, timeout));
    await this.reconfigure();
    await this.revalidator.run(true);
    this.revalidator.start(this.opts.revalidateIntervalMs);
    this.portWatch.start();
    if (this.opts.ctlSock) await this.appctl.listen(this.opts.ctlSock);
    this.log.info({ bridges: [...this.state.bridges.keys()] }, 'vswitchd started');
  }

  private async connectDb(deadline: number, timeout: number): Promise<Idl> {
    let last = '';
    for (;;) {
      try {
        return await Idl.open(this.opts.dbSock, DB_NAME, MONITORED, Math.max(500, deadline - Date.now()));
      } catch (e) {
        last = (e as Error).message;
      }
      if (this.stopping) throw new VswitchError('STOPPED', 'vswitchd is stopping');
      if (Date.now() >= deadline) {
        throw new VswitchError('DB_UNREACHABLE', `cannot reach vsdb at ${this.opts.dbSock} after ${timeout / 1000} s: ${last}`);
      }
      await sleep(200);
    }
  }

  private async connectDp(deadline: number, timeout: number): Promise<DpifClient> {
    let last = '';
    let busy: VswitchError | null = null;
    for (;;) {
      try {
        return await DpifClient.connect(this.opts.dpSock, 'vswitchd', Math.max(500, deadline - Date.now()));
      } catch (e) {
        // BUSY: another vswitchd holds the upcall channel; it may be one that is exiting.
        busy = e instanceof VswitchError && e.code === 'DPIF_BUSY' ? e : null;
        last = (e as Error).message;
      }
      if (this.stopping) throw new VswitchError('STOPPED', 'vswitchd is stopping');
      if (Date.now() >= deadline) {
        if (busy) throw busy;
        throw new VswitchError('DP_UNREACHABLE', `cannot reach the datapath at ${this.opts.dpSock} after ${timeout / 1000} s: ${last}`);
      }
      await sleep(200);
    }
  }

  private attachIdl(idl: Idl): void {
    this.idl = idl;
    idl.onChange(() => void this.reconfigure());
    idl.client.onClose(() => {
      if (this.idl !== idl || this.stopping) return;
      this.idl = null;
      this.log.warn('connection to vsdb lost; reconnecting');
      void this.reconnectDb();
    });
  }

  private attachDp(dp: DpifClient): void {
    this.dp = dp;
    this.state.ready = false;
    this.upcalls.attach(dp);
    this.revalidator.attach(dp);
    dp.onClose((why) => {
      if (this.dp !== dp || this.stopping) return;
      this.dp = null;
      this.state.ready = false;
      this.upcalls.detach();
      this.revalidator.detach();
      this.log.warn({ why }, 'connection to the datapath lost; reconnecting');
      void this.reconnectDp();
    });
  }

  private async reconnectDb(): Promise<void> {
    let delay = 100;
    while (!this.stopping) {
      await sleep(delay);
      if (this.stopping) return;
      try {
        const idl = await Idl.open(this.opts.dbSock, DB_NAME, MONITORED, 2000);
        if (this.stopping) {
          idl.close();
          return;
        }
        this.state.counters.db_reconnects++;
        this.attachIdl(idl);
        this.log.info('reconnected to vsdb');
        await this.reconfigure();
        return;
      } catch (e) {
        this.log.debug({ err: (e as Error).message }, 'vsdb reconnect failed');
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  private async reconnectDp(): Promise<void> {
    let delay = 100;
    while (!this.stopping) {
      await sleep(delay);
      if (this.stopping) return;
      try {
        const dp = await DpifClient.connect(this.opts.dpSock, 'vswitchd', 2000);
        if (this.stopping) {
          dp.close();
          return;
        }
        this.state.counters.dp_reconnects++;
        this.attachDp(dp);
        this.log.info('reconnected to the datapath');
        await this.reconfigure();
        this.revalidator.trigger(true);
        return;
      } catch (e) {
        this.log.debug({ err: (e as Error).message }, 'datapath reconnect failed');
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /** Reconciles with the database; calls are coalesced and run one at a time. Resolves when a
   * reconciliation that started after the call has finished. */
  reconfigure(): Promise<void> {
    if (this.cfgQueued) return this.cfgQueued;
    const p = this.cfgChain.then(() => {
      this.cfgQueued = null;
      return this.reconcileOnce();
    });
    this.cfgQueued = p;
    this.cfgChain = p.catch(() => undefined);
    return p;
  }

  private async reconcileOnce(): Promise<void> {
    const idl = this.idl;
    const dp = this.dp;
    if (!idl || !dp || this.stopping) return;
    const db: ConfigDb = {
      rows: (t) => idl.rows(t) as Map<string, Row>,
      get: (t, u) => idl.get(t, u) as Row | undefined,
      transact: (ops) => idl.client.transact(DB_NAME, ops),
    };
    try {
      await reconcile(this.state, db, dp, this.cfgLog, async () => {
        await this.ofmgmt.sync();
        this.controllers.sync();
      });
      if (this.dp === dp) this.state.ready = true;
    } catch (e) {
      this.cfgLog.warn({ err: (e as Error).message }, 'reconfiguration failed; will retry on the next change or reconnect');
      return;
    }
    this.revalidator.trigger();
  }

  private bridgeOtherConfig(bridge: string, key: string): string | undefined {
    const idl = this.idl;
    if (!idl) return undefined;
    for (const row of idl.rows('Bridge').values()) {
      if ((row as Row).name === bridge) {
        const v = mapOf((row as Row).other_config).get(key);
        return typeof v === 'string' ? v : undefined;
      }
    }
    return undefined;
  }

  /** Closes every connection and the ctl socket. Datapath ports and flows stay. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.revalidator.stop();
    this.portWatch.stop();
    await this.appctl.close().catch(() => undefined);
    await this.controllers.close().catch(() => undefined);
    await this.ofmgmt.close().catch(() => undefined);
    const dp = this.dp;
    this.dp = null;
    this.upcalls.detach();
    this.revalidator.detach();
    if (dp) dp.close();
    const idl = this.idl;
    this.idl = null;
    if (idl) idl.close();
    this.log.info('vswitchd stopped');
  }
}
