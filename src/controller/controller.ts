/*
 * The controller: listens for switches (ptcp:/punix: targets, one FlowServer), runs a
 * SwitchSession per connection, keeps the switches that are up by datapath id, and passes
 * their events to the apps in the order they were given. Owns the apps, the sessions and the
 * metric registry; main.ts builds one from the command line, rest.ts serves it, tests drive
 * it directly. Control path.
 *
 * A switch that reconnects while its old connection still looks alive replaces it (the old
 * one is closed, the apps see it go down, then the new one come up). An app that throws is
 * logged (rate-limited) and counted; the other apps and the switch carry on.
 */
import type { FlowConnection } from '../lib/flowproto/connection.js';
import { FlowServer } from '../lib/flowproto/server.js';
import type { FlowRemoteError } from '../lib/flowproto/errors.js';
import type { Logger } from '../lib/log.js';
import { RateLimiter } from '../lib/log.js';
import type { App, AppContext, AppCounter } from './app.js';
import { ControllerMetrics } from './controller-metrics.js';
import { ControllerError } from './errors.js';
import type { FlowRemovedEvent, PacketInEvent, PortStatusEvent } from './events.js';
import type { Gauge, Registry } from './metrics.js';
import { SwitchSession, type DownReason, type Role, type SessionHooks } from './switch-session.js';
import { formatDpid, formatListenTarget, parseDpid, type ListenTarget } from './target.js';

export interface ControllerOptions {
  targets: readonly ListenTarget[];
  /** Apps with their ARG, in the order their hooks run. */
  apps?: readonly { app: App; arg?: string }[];
  log: Logger;
  /** Echo probe period and deadline, ms (0: none). Default 5000. */
  probeIntervalMs?: number;
  role?: Role;
  generationId?: bigint;
  /** Largest message accepted from a switch (default 4 MiB). */
  maxMessageBytes?: number;
  handshakeTimeoutMs?: number;
  /** Hello.agent; default "vscontroller". */
  agent?: string;
  registry?: Registry;
}

function sanitize(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

export class Controller implements SessionHooks {
  readonly metrics: ControllerMetrics;
  readonly apps: App[];
  /** Listening addresses, as targets ("ptcp:6653:127.0.0.1" with the bound port). */
  readonly listening: string[] = [];
  /** Bound TCP ports, in target order (useful with ptcp:0). */
  readonly tcpPorts: number[] = [];
  private readonly sessions = new Map<string, SwitchSession>();
  private readonly all = new Set<SwitchSession>();
  private readonly server: FlowServer;
  private readonly log: Logger;
  private readonly opts: ControllerOptions;
  private readonly appArgs = new Map<App, string | undefined>();
  private readonly appLogs = new Map<App, Logger>();
  private readonly appErrLimit = new Map<App, RateLimiter>();
  private readonly gaugeReaders = new Map<string, Map<string, () => number>>();
  private stopping = false;
  private started = false;

  constructor(opts: ControllerOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.apps = (opts.apps ?? []).map((a) => a.app);
    for (const a of opts.apps ?? []) this.appArgs.set(a.app, a.arg);
    const seen = new Set<string>();
    for (const a of this.apps) {
      if (seen.has(a.name)) throw new ControllerError('APP_LOAD', `two apps are named "${a.name}"; each app may run once`);
      seen.add(a.name);
    }
    this.metrics = new ControllerMetrics(opts.registry, () => this.sessions.size);
    this.server = new FlowServer((conn) => this.accept(conn), {
      agent: opts.agent ?? 'vscontroller', log: opts.log, maxMessageBytes: opts.maxMessageBytes,
    });
  }

  /** Starts the apps, then listens on every target. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const app of this.apps) {
      const log = this.log.child({ app: app.name });
      this.appLogs.set(app, log);
      this.appErrLimit.set(app, new RateLimiter(5, 10000));
      await app.start?.(this.context(app, log));
    }
    for (const t of this.opts.targets) {
      if (t.kind === 'unix') {
        await this.server.listenUnix(t.path);
        this.listening.push(formatListenTarget(t));
      } else {
        const port = await this.server.listenTcp(t.port, t.host);
        this.tcpPorts.push(port);
        this.listening.push(formatListenTarget(t, port));
      }
    }
    this.log.info({ listening: this.listening, apps: this.apps.map((a) => a.name) }, 'controller listening');
  }

  /** Closes every switch connection and the listeners, then stops the apps. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const s of [...this.all]) s.close('shutdown');
    await this.server.close();
    for (const app of [...this.apps].reverse()) {
      try {
        await app.stop?.();
      } catch (e) {
        this.appFailed(app, 'stop', e);
      }
    }
  }

  /** Asks every app to re-read its configuration (SIGHUP). */
  async reload(): Promise<void> {
    for (const app of this.apps) {
      try {
        await app.reload?.();
      } catch (e) {
        this.appFailed(app, 'reload', e);
      }
    }
  }

  /** Switches that are up, in connection order. */
  switches(): SwitchSession[] {
    return [...this.sessions.values()];
  }

  /** A switch that is up, by datapath id (bigint or any form parseDpid takes). */
  switch(dpid: bigint | string): SwitchSession | undefined {
    const id = typeof dpid === 'bigint' ? formatDpid(dpid) : formatDpid(parseDpid(dpid));
    return this.sessions.get(id);
  }

  app(name: string): App | undefined {
    return this.apps.find((a) => a.name === name);
  }

  /** Sessions still in their handshake or up (tests). */
  get connectionCount(): number {
    return this.all.size;
  }

  private accept(conn: FlowConnection): void {
    if (this.stopping) {
      conn.close();
      return;
    }
    this.metrics.connections.inc();
    const s = new SwitchSession(conn, {
      log: this.log, metrics: this.metrics, hooks: this, probeIntervalMs: this.opts.probeIntervalMs, role: this.opts.role,
      generationId: this.opts.generationId, handshakeTimeoutMs: this.opts.handshakeTimeoutMs,
    });
    this.all.add(s);
    conn.once('close', () => this.all.delete(s));
    void s.start();
  }

  private context(app: App, log: Logger): AppContext {
    const registry = this.metrics.registry;
    const label = { app: app.name };
    return {
      log,
      arg: this.appArgs.get(app),
      switches: () => this.switches(),
      switch: (dpid) => this.switch(dpid),
      counter: (name: string, help: string): AppCounter => {
        const fam = registry.counter(`vscontroller_app_${sanitize(name)}_total`, help, ['app']);
        return {
          inc: (n = 1) => fam.inc(label, n),
          get value() {
            return fam.get(label);
          },
        };
      },
      gauge: (name: string, help: string, read: () => number): Gauge => {
        const full = `vscontroller_app_${sanitize(name)}`;
        let readers = this.gaugeReaders.get(full);
        if (readers === undefined) {
          const rs = new Map<string, () => number>();
          readers = rs;
          this.gaugeReaders.set(full, rs);
          registry.gauge(full, help, ['app'], (g) => {
            for (const [a, r] of rs) {
              try {
                g.set({ app: a }, r());
              } catch {
                g.set({ app: a }, NaN);
              }
            }
          });
        }
        readers.set(app.name, read);
        return registry.find(full) as Gauge;
      },
    };
  }

  private appFailed(app: App, hook: string, e: unknown): void {
    this.metrics.appErrors.inc({ app: app.name });
    if (this.appErrLimit.get(app)?.allow() ?? true) {
      (this.appLogs.get(app) ?? this.log).error({ hook, err: (e as Error)?.message ?? String(e), stack: (e as Error)?.stack }, 'app hook failed');
    }
  }

  // ---- SessionHooks ---------------------------------------------------------------------------

  async up(sw: SwitchSession): Promise<void> {
    const old = this.sessions.get(sw.id);
    if (old !== undefined && old !== sw) {
      this.log.info({ dpid: sw.id, old: old.address, new: sw.address }, 'switch reconnected: closing its previous connection');
      old.close('replaced');
    }
    this.sessions.set(sw.id, sw);
    for (const app of this.apps) {
      if (!app.onSwitchUp) continue;
      try {
        await app.onSwitchUp(sw);
      } catch (e) {
        this.appFailed(app, 'onSwitchUp', e);
      }
      if (!sw.isUp) return;
    }
  }

  down(sw: SwitchSession, reason: DownReason): void {
    if (this.sessions.get(sw.id) === sw) this.sessions.delete(sw.id);
    for (const app of this.apps) {
      if (!app.onSwitchDown) continue;
      try {
        app.onSwitchDown(sw, reason);
      } catch (e) {
        this.appFailed(app, 'onSwitchDown', e);
      }
    }
  }

  packetIn(sw: SwitchSession, ev: PacketInEvent): void | Promise<void> {
    const t0 = performance.now();
    return this.packetInFrom(0, sw, ev, t0);
  }

  /** Runs the apps from index `i`; stays synchronous until an app returns a promise. */
  private packetInFrom(i: number, sw: SwitchSession, ev: PacketInEvent, t0: number): void | Promise<void> {
    const apps = this.apps;
    for (; i < apps.length; i++) {
      const app = apps[i];
      if (!app.onPacketIn) continue;
      let r: unknown;
      try {
        r = app.onPacketIn(sw, ev);
      } catch (e) {
        this.appFailed(app, 'onPacketIn', e);
        continue;
      }
      if (r === 'stop') break;
      if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') {
        const next = i + 1;
        return (r as Promise<unknown>).then((v) => {
          if (v === 'stop') return this.packetInDone(t0);
          return this.packetInFrom(next, sw, ev, t0);
        }, (e: unknown) => {
          this.appFailed(app, 'onPacketIn', e);
          return this.packetInFrom(next, sw, ev, t0);
        });
      }
    }
    this.packetInDone(t0);
  }

  private packetInDone(t0: number): void {
    this.metrics.packetInSeconds.observe((performance.now() - t0) / 1000);
  }

  async portStatus(sw: SwitchSession, ev: PortStatusEvent): Promise<void> {
    for (const app of this.apps) {
      if (!app.onPortStatus) continue;
      try {
        await app.onPortStatus(sw, ev);
      } catch (e) {
        this.appFailed(app, 'onPortStatus', e);
      }
    }
  }

  async flowRemoved(sw: SwitchSession, ev: FlowRemovedEvent): Promise<void> {
    for (const app of this.apps) {
      if (!app.onFlowRemoved) continue;
      try {
        await app.onFlowRemoved(sw, ev);
      } catch (e) {
        this.appFailed(app, 'onFlowRemoved', e);
      }
    }
  }

  error(sw: SwitchSession, err: FlowRemoteError, xid: number): void {
    for (const app of this.apps) {
      if (!app.onError) continue;
      try {
        app.onError(sw, err, xid);
      } catch (e) {
        this.appFailed(app, 'onError', e);
      }
    }
  }
}
