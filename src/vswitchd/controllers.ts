/*
 * vswitchd's controller connections. sync() runs after every reconciliation (vswitchd.ts) and
 * follows each bridge's Controller rows: tcp:/unix: targets are connected to and reconnected
 * with a doubling backoff (1 s up to max_backoff), ptcp:/punix: targets are listened on. Each
 * connection is served by the bridge's OfBridge (OfMgmt.attach, kind 'controller'), probed with
 * echo requests every inactivity_probe ms (no reply within that: disconnected) and paced by its
 * packet-in rate limit. A periodic tick writes is_connected, role and status back to the rows
 * (only when they changed; the packet-in counters in status are refreshed every statsMs) and
 * drives the bridge's fail mode (fail-mode.ts): it admits connections up for ADMIT_AFTER_MS,
 * and while a bridge is failed open with a controller connected but not admitted, sends that
 * controller a bogus packet-in (a RARP from a random MAC on LOCAL) every 2 s, as OVS does, to
 * draw an answer that admits it. An admitting message ends fail-open at once (OfBridge
 * onAdmitted), before the message itself is handled.
 * Owned by Vswitchd. Control path.
 */
import { FlowConnection } from '../lib/flowproto/connection.js';
import { FlowServer } from '../lib/flowproto/server.js';
import type { Logger } from '../lib/log.js';
import { scalar, set, uuid } from '../ovsdb/datum.js';
import type { Bridge } from './bridge.js';
import type { Row } from './config.js';
import {
  bridgeControllers, bridgeFailMode, controllerConfig, MIN_BACKOFF_MS, rowStatus, sameEndpoint, type ControllerConfig,
} from './controller-target.js';
import { BridgeFailMode, type FailMode } from './fail-mode.js';
import { ADMIT_AFTER_MS, ROLE_MASTER, ROLE_SLAVE, type OfConn } from './ofconn.js';
import { OFPR_NO_MATCH } from './ofp/actions.js';
import { newOfFlow, OFPP_LOCAL } from './ofp/layout.js';
import type { OfMgmt } from './ofmgmt.js';
import { PacketInLimiter, packetInLimits } from './packet-in-limit.js';
import type { SwitchState } from './state.js';

export interface ControllerHost {
  readonly st: SwitchState;
  readonly ofmgmt: OfMgmt;
  readonly log: Logger;
  /** Hello.agent. */
  readonly agent: string;
  /** The replica's rows of `table`, null while the database is away. */
  rows(table: string): Map<string, Row> | null;
  transact(ops: object[]): Promise<unknown>;
}

export interface ControllerManagerOptions {
  /** How often status is written back and fail-open is checked (default 1000 ms). */
  tickMs?: number;
  /** How often the packet-in counters in status are refreshed (default 5000 ms). */
  statsMs?: number;
}

/** Between two bogus packet-ins to a connected, not admitted controller of a failed-open bridge. */
export const BOGUS_PACKET_IN_MS = 2000;

/** A RARP request from a random locally administered Nicira-range MAC (42 bytes). */
export function bogusRarp(): Uint8Array {
  const f = new Uint8Array(42);
  const mac = [0x00, 0x23, 0x20, (Math.random() * 256) & 0x7f, (Math.random() * 256) & 0xff, (Math.random() * 256) & 0xff];
  f.fill(0xff, 0, 6);
  f.set(mac, 6);
  f.set([0x80, 0x35, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x03], 12);
  f.set(mac, 22);
  f.set(mac, 32);
  return f;
}

/** What the manager reports about one Controller row. */
export interface ControllerState {
  isConnected: boolean;
  role: 'other' | 'master' | 'slave' | null;
  status: Record<string, string>;
}

/** One Controller row of one bridge: a target connected to, or listened on. */
class Remote {
  readonly conns = new Map<FlowConnection, OfConn>();
  private state = 'VOID';
  private lastError = '';
  private backoff = 0;
  private timer: NodeJS.Timeout | null = null;
  private server: FlowServer | null = null;
  private boundPort = 0;
  private stopped = false;
  /** The packet-in counters last put in status, and when (ms). */
  private statsAt = 0;
  private sent = 0;
  private limited = 0;
  private readonly onMessage = (msg: Parameters<OfConn['handle']>[0], conn: FlowConnection): Promise<void> => this.ofConn(conn).handle(msg);

  constructor(readonly bc: BridgeControllers, public cfg: ControllerConfig) {}

  get log(): Logger {
    return this.bc.mgr.host.log;
  }

  start(): void {
    const ep = this.cfg.endpoint;
    if (ep.kind === 'active') {
      this.connect();
      return;
    }
    const server = new FlowServer((conn) => this.serve(conn), { agent: this.bc.mgr.host.agent, log: this.log, name: this.cfg.target });
    this.server = server;
    this.state = 'LISTENING';
    const listening = ep.kind === 'tcp-listen' ? server.listenTcp(ep.port, ep.host).then((p) => void (this.boundPort = p)) : server.listenUnix(ep.path);
    listening.then(() => {
      if (this.stopped) void server.close();
      else this.log.info({ bridge: this.bc.name, target: this.cfg.target }, 'listening for controllers');
    }, (e: Error) => {
      this.state = 'VOID';
      this.lastError = e.message;
      this.server = null;
      this.log.warn({ bridge: this.bc.name, target: this.cfg.target, err: e.message }, 'could not listen for controllers');
      this.bc.mgr.kick();
    });
  }

  private connect(): void {
    if (this.stopped) return;
    this.state = 'CONNECTING';
    const timeoutMs = this.cfg.probeMs > 0 ? Math.max(1000, this.cfg.probeMs) : 5000;
    FlowConnection.connect(this.cfg.endpoint.kind === 'active' ? this.cfg.endpoint.connect : '', {
      agent: this.bc.mgr.host.agent, log: this.log, name: this.cfg.target, onMessage: this.onMessage, timeoutMs,
    }).then((conn) => {
      if (this.stopped) {
        conn.close();
        return;
      }
      this.backoff = 0;
      this.serve(conn);
    }, (e: Error) => {
      if (this.stopped) return;
      if (e.message !== this.lastError) this.log.info({ bridge: this.bc.name, target: this.cfg.target, err: e.message }, 'could not connect to the controller');
      this.lastError = e.message;
      this.retry();
    });
  }

  private retry(): void {
    if (this.stopped) return;
    this.backoff = this.backoff === 0 ? MIN_BACKOFF_MS : Math.min(this.backoff * 2, this.cfg.maxBackoffMs);
    this.state = 'BACKOFF';
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, Math.min(this.backoff, this.cfg.maxBackoffMs));
    this.timer.unref();
    this.bc.mgr.kick();
  }

  /** The OfConn serving `conn`, attached on first use (messages can come before connect() resolves). */
  private ofConn(conn: FlowConnection): OfConn {
    let oc = this.conns.get(conn);
    if (oc === undefined) {
      oc = this.bc.mgr.host.ofmgmt.attach(this.bc.name, conn, 'controller');
      this.conns.set(conn, oc);
    }
    return oc;
  }

  private serve(conn: FlowConnection): void {
    if (this.stopped || conn.closed) {
      conn.close();
      if (this.cfg.endpoint.kind === 'active') this.retry();
      return;
    }
    try {
      this.ofConn(conn);
    } catch (e) {
      this.log.warn({ bridge: this.bc.name, err: (e as Error).message }, 'controller connection for a bridge that went away');
      conn.close();
      return;
    }
    if (this.cfg.rateLimit > 0) packetInLimits.set(conn, new PacketInLimiter(this.cfg.rateLimit, this.cfg.burstLimit));
    if (this.cfg.endpoint.kind === 'active') this.state = 'ACTIVE';
    this.log.info({ bridge: this.bc.name, target: this.cfg.target, peer: conn.peerAgent }, 'connected to a controller');
    let probing = false;
    const probe = this.cfg.probeMs > 0 ? setInterval(() => {
      if (probing || conn.closed) return;
      probing = true;
      conn.echo(new Uint8Array(0), this.cfg.probeMs).then(() => void (probing = false), () => {
        if (conn.closed) return;
        this.lastError = `no echo reply within ${this.cfg.probeMs} ms`;
        this.log.warn({ bridge: this.bc.name, target: this.cfg.target }, 'controller did not answer the inactivity probe: disconnecting');
        conn.close();
      });
    }, this.cfg.probeMs) : null;
    probe?.unref();
    conn.once('close', (err?: Error) => {
      if (probe !== null) clearInterval(probe);
      this.conns.delete(conn);
      if (this.stopped) return;
      if (err) this.lastError = err.message;
      this.log.info({ bridge: this.bc.name, target: this.cfg.target }, 'controller connection closed');
      if (this.cfg.endpoint.kind === 'active') this.retry();
      else this.bc.mgr.kick();
    });
    this.bc.mgr.kick();
  }

  /** Applies a new configuration of the same endpoint (limits, probe, backoff). */
  reconfigure(cfg: ControllerConfig): void {
    this.cfg = cfg;
    for (const conn of this.conns.keys()) {
      if (cfg.rateLimit > 0) packetInLimits.set(conn, new PacketInLimiter(cfg.rateLimit, cfg.burstLimit));
      else packetInLimits.delete(conn);
    }
  }

  report(now = Date.now()): ControllerState {
    const first = this.conns.values().next();
    const oc = first.done === true ? null : first.value;
    const status: Record<string, string> = { state: this.state };
    if (this.lastError !== '') status.last_error = this.lastError;
    if (this.boundPort !== 0) status.bound_port = String(this.boundPort);
    if (this.conns.size > 0 && this.cfg.endpoint.kind !== 'active') status.n_connections = String(this.conns.size);
    if (this.conns.size > 0) {
      if (now - this.statsAt >= this.bc.mgr.statsMs) {
        this.statsAt = now;
        this.sent = 0;
        this.limited = 0;
        for (const c of this.conns.values()) {
          this.sent += c.packetInsSent;
          this.limited += c.packetInsRateLimited;
        }
      }
      status.packet_in_sent = String(this.sent);
      status.packet_in_rate_limited = String(this.limited);
    } else {
      this.statsAt = 0;
    }
    return {
      isConnected: this.conns.size > 0,
      role: oc === null ? null : oc.role === ROLE_MASTER ? 'master' : oc.role === ROLE_SLAVE ? 'slave' : 'other',
      status,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const conn of [...this.conns.keys()]) conn.close();
    this.conns.clear();
    const server = this.server;
    this.server = null;
    if (server !== null) await server.close().catch(() => undefined);
  }
}

/** The controllers of one bridge. */
class BridgeControllers {
  readonly remotes = new Map<string, Remote>();
  readonly fail: BridgeFailMode;

  /** When the next bogus packet-in may go (ms; 0: none scheduled). */
  nextBogus = 0;

  constructor(readonly mgr: ControllerManager, readonly name: string, readonly br: Bridge) {
    this.fail = new BridgeFailMode(br);
    const ofb = mgr.host.ofmgmt.bridge(name);
    if (ofb !== undefined) ofb.onAdmitted = () => mgr.updateFailMode(this);
  }

  configure(cfgs: ControllerConfig[], mode: FailMode): void {
    const wanted = new Map(cfgs.map((c) => [c.uuid, c]));
    for (const [id, r] of [...this.remotes]) {
      const c = wanted.get(id);
      if (c === undefined || !sameEndpoint(c, r.cfg)) {
        this.remotes.delete(id);
        void r.stop();
      }
    }
    if (this.fail.configure(cfgs.length > 0, mode)) this.mgr.host.log.info({ bridge: this.name, controllers: cfgs.length, fail_mode: mode }, 'flows flushed for the new controller configuration');
    for (const c of cfgs) {
      const r = this.remotes.get(c.uuid);
      if (r !== undefined) {
        r.reconfigure(c);
        continue;
      }
      const nr = new Remote(this, c);
      this.remotes.set(c.uuid, nr);
      nr.start();
    }
  }

  connected(): boolean {
    for (const r of this.remotes.values()) if (r.conns.size > 0) return true;
    return false;
  }

  /** Whether some connection is admitted; admits those up for ADMIT_AFTER_MS first. */
  admitted(now: number): boolean {
    let any = false;
    for (const r of this.remotes.values()) {
      for (const oc of r.conns.values()) {
        if (!oc.admitted && now - oc.connectedAt >= ADMIT_AFTER_MS) oc.admitted = true;
        if (oc.admitted) any = true;
      }
    }
    return any;
  }

  /** Whether some target is active (tcp:, unix:): only those make a bridge fail open. */
  hasActive(): boolean {
    for (const r of this.remotes.values()) if (r.cfg.endpoint.kind === 'active') return true;
    return false;
  }

  probeMs(): number {
    let ms = 0;
    for (const r of this.remotes.values()) ms = Math.max(ms, r.cfg.probeMs);
    return ms;
  }

  async stop(): Promise<void> {
    for (const r of this.remotes.values()) await r.stop();
    this.remotes.clear();
  }
}

function str(v: unknown): string {
  const s = scalar(v);
  return typeof s === 'string' ? s : '';
}

export class ControllerManager {
  private readonly bridges = new Map<string, BridgeControllers>();
  private readonly timer: NodeJS.Timeout;
  /** How often the packet-in counters in status are refreshed (ms; tests lower it). */
  statsMs: number;
  private kicked = false;
  private writing = false;
  private again = false;
  private closed = false;

  constructor(readonly host: ControllerHost, opts: ControllerManagerOptions = {}) {
    this.statsMs = opts.statsMs ?? 5000;
    this.timer = setInterval(() => this.tick(), opts.tickMs ?? 1000);
    this.timer.unref();
  }

  /** Follows the Bridge and Controller rows (after a reconciliation and OfMgmt.sync()). */
  sync(): void {
    if (this.closed) return;
    const bridges = this.host.rows('Bridge');
    const ctls = this.host.rows('Controller');
    if (bridges === null) return;
    const seen = new Set<string>();
    for (const row of bridges.values()) {
      const name = str(row.name);
      const br = this.host.st.bridges.get(name);
      if (br === undefined || this.host.ofmgmt.bridge(name) === undefined) continue;
      seen.add(name);
      let bc = this.bridges.get(name);
      if (bc !== undefined && bc.br !== br) {
        void bc.stop();
        bc = undefined;
      }
      if (bc === undefined) this.bridges.set(name, (bc = new BridgeControllers(this, name, br)));
      const cfgs: ControllerConfig[] = [];
      for (const id of bridgeControllers(row)) {
        const crow = ctls?.get(id);
        if (crow === undefined) continue;
        try {
          cfgs.push(controllerConfig(crow));
        } catch (e) {
          this.host.log.warn({ bridge: name, err: (e as Error).message }, 'ignoring a controller');
        }
      }
      bc.configure(cfgs, bridgeFailMode(row));
    }
    for (const [name, bc] of [...this.bridges]) {
      if (seen.has(name)) continue;
      this.bridges.delete(name);
      void bc.stop();
    }
    this.kick();
  }

  /** What the manager reports for Controller row `id` (tests, appctl). */
  state(id: string): ControllerState | undefined {
    for (const bc of this.bridges.values()) {
      const r = bc.remotes.get(id);
      if (r !== undefined) return r.report();
    }
    return undefined;
  }

  /** Runs a tick soon (a connection came or went). */
  kick(): void {
    if (this.kicked || this.closed) return;
    this.kicked = true;
    setImmediate(() => {
      this.kicked = false;
      this.tick();
    });
  }

  /** Follows the bridge's fail mode now (a tick, or a connection was just admitted). */
  updateFailMode(bc: BridgeControllers, now = Date.now()): void {
    if (bc.fail.update(bc.admitted(now), bc.hasActive(), bc.probeMs(), now)) {
      this.host.log.info({ bridge: bc.name, fail_open: bc.br.failOpen }, bc.br.failOpen
        ? 'no controller admitted this switch: failing open to NORMAL switching (flows flushed)'
        : 'a controller admitted this switch: leaving fail-open');
    }
  }

  private tick(): void {
    if (this.closed) return;
    const now = Date.now();
    for (const bc of this.bridges.values()) {
      this.updateFailMode(bc, now);
      if (!bc.br.failOpen || !bc.connected()) {
        bc.nextBogus = 0;
      } else if (now >= bc.nextBogus) {
        if (bc.nextBogus !== 0) this.sendBogusPacketIn(bc);
        bc.nextBogus = now + BOGUS_PACKET_IN_MS;
      }
    }
    void this.writeStatus();
  }

  private sendBogusPacketIn(bc: BridgeControllers): void {
    const ofb = this.host.ofmgmt.bridge(bc.name);
    if (ofb === undefined) return;
    const packet = bogusRarp();
    ofb.packetIn({
      reason: OFPR_NO_MATCH, table: 0, cookie: 0xffffffffffffffffn, controllerId: 0, userdata: null, inPort: OFPP_LOCAL, flow: newOfFlow(),
      packet, totalLen: packet.length,
    });
  }

  private async writeStatus(): Promise<void> {
    if (this.writing) {
      this.again = true;
      return;
    }
    const rows = this.host.rows('Controller');
    if (rows === null) return;
    const ops: object[] = [];
    for (const bc of this.bridges.values()) {
      for (const [id, r] of bc.remotes) {
        const row = rows.get(id);
        if (row === undefined) continue;
        const s = r.report();
        const upd: Record<string, unknown> = {};
        if (scalar(row.is_connected) !== s.isConnected) upd.is_connected = s.isConnected;
        if ((scalar(row.role) ?? null) !== s.role) upd.role = s.role ?? set([]);
        if (JSON.stringify(Object.entries(rowStatus(row)).sort()) !== JSON.stringify(Object.entries(s.status).sort())) {
          upd.status = ['map', Object.entries(s.status)];
        }
        if (Object.keys(upd).length > 0) ops.push({ op: 'update', table: 'Controller', where: [['_uuid', '==', uuid(id)]], row: upd });
      }
    }
    if (ops.length === 0) return;
    this.writing = true;
    try {
      await this.host.transact(ops);
    } catch (e) {
      this.host.log.debug({ err: (e as Error).message }, 'could not write controller status');
    } finally {
      this.writing = false;
    }
    if (this.again) {
      this.again = false;
      this.kick();
    }
  }

  /** Closes every controller connection and listener. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const bc of this.bridges.values()) await bc.stop();
    this.bridges.clear();
  }
}
