/*
 * One connected switch, as the controller and its apps see it. Runs the handshake (hello,
 * features, port description, switch description, optional role request), keeps the switch's
 * features and ports up to date from port status messages, probes liveness with echo
 * requests, hands packet-ins, port status, flow-removed and error messages to the controller's
 * hooks. The API apps call (flow mods, packet-outs, statistics, roles) is its base class,
 * SwitchApi (switch-api.ts). Created by controller.ts per accepted FlowConnection. Control
 * path (a packet-in costs one decode and one hook call).
 *
 * Ordering: FlowConnection hands messages to us one at a time in arrival order; async messages
 * that arrive during the handshake wait until the switch is up (and the apps have seen it), so
 * an app never gets a packet-in from a switch it was not told about.
 */
import type { FlowConnection } from '../lib/flowproto/connection.js';
import { OFPBRC_BAD_TYPE, OFPET_BAD_REQUEST } from '../lib/flowproto/error-codes.js';
import { FlowProtoError, FlowRemoteError } from '../lib/flowproto/errors.js';
import { REPLY_BODIES, type FlowMessage } from '../lib/flowproto/messages.js';
import type { Logger } from '../lib/log.js';
import { RateLimiter } from '../lib/log.js';
import { OfpError } from '../vswitchd/ofp/errors.js';
import type { ControllerMetrics } from './controller-metrics.js';
import {
  flowRemovedFromWire, packetInFromWire, portFromWireDesc, portStatusFromWire, type FlowRemovedEvent, type PacketInEvent,
  type PortStatusEvent, type SwitchPort,
} from './events.js';
import { SwitchApi, type Role, type SwitchDescription } from './switch-api.js';
import { formatDpid } from './target.js';

export type { FlowModFailure, FlowModRequest, FlowSpec, PacketOutRequest, PortCounters, Role, SwitchDescription, TableCounters } from './switch-api.js';

/** Why a session ended (the `reason` label of vscontroller_switch_disconnects_total). */
export type DownReason = 'closed' | 'echo_timeout' | 'handshake_failed' | 'replaced' | 'shutdown';

/** What the controller does with a session's events (controller.ts implements it). */
export interface SessionHooks {
  up(sw: SwitchSession): void | Promise<void>;
  down(sw: SwitchSession, reason: DownReason): void;
  packetIn(sw: SwitchSession, ev: PacketInEvent): void | Promise<void>;
  portStatus(sw: SwitchSession, ev: PortStatusEvent): void | Promise<void>;
  flowRemoved(sw: SwitchSession, ev: FlowRemovedEvent): void | Promise<void>;
  /** An Error message the switch sent about one of our requests (`xid`) nobody waited for. */
  error(sw: SwitchSession, err: FlowRemoteError, xid: number): void;
}

export interface SessionOptions {
  log: Logger;
  metrics: ControllerMetrics;
  hooks: SessionHooks;
  /** Echo request period, and the time the switch has to answer (ms; 0: no probes). Default 5000. */
  probeIntervalMs?: number;
  /** Role to ask for once connected (none: leave the switch's default, EQUAL). */
  role?: Role;
  /** generation_id of MASTER/SLAVE requests (default: the time the controller started, in ms). */
  generationId?: bigint;
  /** Time for the whole handshake (ms). Default 10000. */
  handshakeTimeoutMs?: number;
}

const EMPTY = new Uint8Array(0);

export class SwitchSession extends SwitchApi {
  /** The peer address ("tcp:127.0.0.1:40112", "unix:/run/x.sock"). */
  readonly address: string;
  state: 'handshake' | 'up' | 'down' = 'handshake';
  nBuffers = 0;
  nTables = 0;
  capabilities = 0;
  desc: SwitchDescription | null = null;
  readonly connectedAt = Date.now();
  upAt = 0;
  /** Why the session ended, once it has. */
  downReason: DownReason | null = null;

  private readonly hooks: SessionHooks;
  private readonly probeIntervalMs: number;
  private readonly opts: SessionOptions;
  private probeTimer: NodeJS.Timeout | null = null;
  private probing = false;
  private gateOpen!: () => void;
  private readonly gate: Promise<void>;
  private readonly badMsgLog = new RateLimiter(5, 10000);

  constructor(conn: FlowConnection, opts: SessionOptions) {
    super(conn, opts.log.child({ switch: conn.name }), opts.metrics, opts.generationId);
    this.address = conn.name;
    this.opts = opts;
    this.hooks = opts.hooks;
    this.probeIntervalMs = opts.probeIntervalMs ?? 5000;
    this.gate = new Promise((r) => (this.gateOpen = r));
    conn.onMessage((msg) => this.onMessage(msg));
    conn.once('close', () => this.onClose());
  }

  /** Runs the handshake; resolves true once the switch is up (and the hooks ran), false when it failed. */
  async start(): Promise<boolean> {
    const ms = this.opts.handshakeTimeoutMs ?? 10000;
    try {
      await this.handshake(ms);
    } catch (e) {
      if (this.state !== 'down') {
        this.log.warn({ err: (e as Error).message }, 'switch handshake failed');
        this.close('handshake_failed');
      }
      this.gateOpen();
      return false;
    }
    if (this.conn.closed) {
      this.gateOpen();
      return false;
    }
    this.state = 'up';
    this.upAt = Date.now();
    this.log.info({ dpid: this.id, agent: this.conn.peerAgent, ports: this.ports.size, role: this.role }, 'switch connected');
    try {
      await this.hooks.up(this);
    } finally {
      this.gateOpen();
    }
    this.startProbes();
    return this.state === 'up';
  }

  private async handshake(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    const left = (): number => Math.max(1, deadline - Date.now());
    await withTimeout(this.conn.ready, ms, 'hello');
    const f = (await this.conn.request({ featuresRequest: {} }, left())).featuresReply ?? {};
    this.dpid = f.datapathId ?? 0n;
    this.id = formatDpid(this.dpid);
    this.nBuffers = f.nBuffers ?? 0;
    this.nTables = f.nTables ?? 0;
    this.capabilities = f.capabilities ?? 0;
    for (const p of f.ports ?? []) this.setPort(portFromWireDesc(p));
    try {
      await this.refreshPorts(left());
    } catch (e) {
      if (!(e instanceof FlowRemoteError)) throw e; // a switch without port_desc: keep the features' ports
    }
    try {
      const parts = await this.conn.multipart({ desc: {} }, left());
      const d = parts[0]?.desc ?? {};
      this.desc = { mfr: d.mfrDesc ?? '', hw: d.hwDesc ?? '', sw: d.swDesc ?? '', serial: d.serialNum ?? '', dp: d.dpDesc ?? '' };
    } catch (e) {
      if (!(e instanceof FlowRemoteError)) throw e;
    }
    if (this.opts.role !== undefined) {
      try {
        await this.setRole(this.opts.role, this.opts.generationId, left());
      } catch (e) {
        if (!(e instanceof FlowRemoteError)) throw e;
        this.log.error({ err: e.message, role: this.opts.role }, 'the switch refused the role request; keeping the role it gave');
      }
    }
  }

  private setPort(p: SwitchPort): void {
    this.ports.set(p.portNo, p);
  }

  // ---- Incoming messages ------------------------------------------------------------------------

  private async onMessage(msg: FlowMessage): Promise<void> {
    switch (msg.body) {
      case 'packetIn': {
        if (this.state === 'handshake') await this.gate;
        if (this.state !== 'up') return;
        this.metrics.packetIns.inc({ dpid: this.id });
        let ev: PacketInEvent;
        try {
          ev = packetInFromWire(msg.packetIn ?? {});
        } catch (e) {
          if (this.badMsgLog.allow()) this.log.warn({ err: (e as Error).message }, 'packet-in with a bad match: ignored');
          return;
        }
        await this.hooks.packetIn(this, ev);
        return;
      }
      case 'portStatus': {
        if (this.state === 'handshake') await this.gate;
        if (this.state !== 'up') return;
        this.metrics.portStatus.inc({ dpid: this.id });
        const ev = portStatusFromWire(msg.portStatus ?? {});
        if (ev.reasonName === 'delete') this.ports.delete(ev.port.portNo);
        else this.setPort(ev.port);
        this.log.info({ port: ev.port.name, portNo: ev.port.portNo, reason: ev.reasonName }, 'port status');
        await this.hooks.portStatus(this, ev);
        return;
      }
      case 'flowRemoved': {
        if (this.state === 'handshake') await this.gate;
        if (this.state !== 'up') return;
        this.metrics.flowRemoved.inc({ dpid: this.id });
        let ev: FlowRemovedEvent;
        try {
          ev = flowRemovedFromWire(msg.flowRemoved ?? {});
        } catch (e) {
          if (this.badMsgLog.allow()) this.log.warn({ err: (e as Error).message }, 'flow-removed with a bad match: ignored');
          return;
        }
        await this.hooks.flowRemoved(this, ev);
        return;
      }
      case 'error': {
        const e = msg.error ?? {};
        const err = new FlowRemoteError(e.type ?? 0, e.code ?? 0, e.detail ?? '', e.data ?? EMPTY);
        this.metrics.switchErrors.inc({ error: err.code });
        if (this.badMsgLog.allow()) this.log.warn({ xid: msg.xid, error: err.code, detail: err.detail }, 'the switch reported an error');
        this.hooks.error(this, err, msg.xid);
        return;
      }
      case 'flowMonitorUpdate':
        return;
      default:
        if (msg.body !== undefined && REPLY_BODIES.has(msg.body)) return; // a reply that came after its request timed out
        throw new OfpError(OFPET_BAD_REQUEST, OFPBRC_BAD_TYPE, `${msg.body ?? 'a message without a body'} is not something a controller handles`);
    }
  }

  private onClose(): void {
    const was = this.state;
    this.state = 'down';
    this.downReason ??= 'closed';
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = null;
    this.gateOpen();
    this.metrics.disconnects.inc({ reason: this.downReason });
    if (was === 'up') {
      this.log.info({ dpid: this.id, reason: this.downReason }, 'switch disconnected');
      this.hooks.down(this, this.downReason);
    }
  }

  private startProbes(): void {
    if (this.probeIntervalMs <= 0 || this.state !== 'up') return;
    this.probeTimer = setInterval(() => {
      if (this.probing || this.state !== 'up') return;
      this.probing = true;
      this.conn.echo(EMPTY, this.probeIntervalMs).then(() => {
        this.probing = false;
      }, (e: unknown) => {
        this.probing = false;
        if (e instanceof FlowProtoError && e.code === 'TIMEOUT' && this.state === 'up') {
          this.metrics.echoTimeouts.inc();
          this.log.warn({ dpid: this.id, ms: this.probeIntervalMs }, 'no echo reply in time: disconnecting');
          this.close('echo_timeout');
        }
      });
    }, this.probeIntervalMs);
    this.probeTimer.unref();
  }

  /** Ends the session (the switch will reconnect as it is configured to). */
  close(reason: DownReason = 'closed'): void {
    if (this.state === 'down' && this.conn.closed) return;
    this.downReason ??= reason;
    this.conn.close();
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  /** A summary for logs and the REST API. */
  summary(): Record<string, unknown> {
    return {
      dpid: this.id, address: this.address, agent: this.conn.peerAgent, role: this.role, n_tables: this.nTables,
      n_buffers: this.nBuffers, capabilities: this.capabilities, n_ports: this.ports.size,
      connected_since: new Date(this.upAt || this.connectedAt).toISOString(), desc: this.desc,
    };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new FlowProtoError('TIMEOUT', `no ${what} within ${ms} ms`)), ms);
    p.then((v) => {
      clearTimeout(t);
      resolve(v);
    }, (e: unknown) => {
      clearTimeout(t);
      reject(e);
    });
  });
}
