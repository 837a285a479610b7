/*
 * What an app can ask of a connected switch (the base of SwitchSession): flow mods from
 * ovs-ofctl flow strings (port names resolved with the switch's ports) or the OpenFlow model,
 * packet-outs, barriers, statistics, switch config and roles, each counted in the controller's
 * metrics. switch-session.ts adds the connection's life (handshake, messages, probes). Control
 * path.
 */
import type { FlowConnection } from '../lib/flowproto/connection.js';
import type { FlowRemoteError } from '../lib/flowproto/errors.js';
import type { BodyInput, FlowMod as WireFlowMod, Input, PortStats, TableStats } from '../lib/flowproto/messages.js';
import type { Logger } from '../lib/log.js';
import { parseActions } from '../vswitchd/ofp/action-syntax.js';
import type { OfAction } from '../vswitchd/ofp/actions.js';
import { formatFlowMod, parseFlow, type FlowCommand, type FlowMod, type FlowStatsView } from '../vswitchd/ofp/flow-syntax.js';
import { OFPP_CONTROLLER } from '../vswitchd/ofp/layout.js';
import type { PortNamer } from '../vswitchd/ofp/values.js';
import { actionsToWire, flowModToWire, flowStatsFromWire, statsRequestToWire } from '../vswitchd/ofp/wire.js';
import { portFromWire, portToWire } from '../vswitchd/ofp/wire-match.js';
import type { ControllerMetrics } from './controller-metrics.js';
import { NO_BUFFER, portFromWireDesc, type SwitchPort } from './events.js';

export type Role = 'equal' | 'master' | 'slave';
const ROLE_NUM: Record<Role, number> = { equal: 1, master: 2, slave: 3 };
const ROLE_NAME: Record<number, Role> = { 1: 'equal', 2: 'master', 3: 'slave' };

/** A flow as a string in ovs-ofctl syntax, or the OpenFlow model (parseFlow's result). */
export type FlowSpec = string | FlowMod;

export interface FlowModRequest {
  command?: FlowCommand;
  flow: FlowSpec;
  /** Apply the flow to this buffered packet too (only when the switch buffers). */
  bufferId?: number;
}

export interface FlowModFailure {
  index: number;
  /** The flow mod as an ovs-ofctl string (for messages). */
  flow: string;
  error: FlowRemoteError;
}

export interface PacketOutRequest {
  /** Ingress port to pretend (model number); default CONTROLLER (none). */
  inPort?: number;
  /** "output:2", "FLOOD", "mod_vlan_vid:10,output:3", or the model; empty: drop. */
  actions: string | readonly OfAction[];
  /** The frame (not with a buffered packet). */
  data?: Uint8Array;
  bufferId?: number;
}

/** Port counters with plain numbers (JSON-friendly). */
export interface PortCounters {
  portNo: number;
  rxPackets: number; txPackets: number; rxBytes: number; txBytes: number;
  rxDropped: number; txDropped: number; rxErrors: number; txErrors: number;
  durationSec: number;
}

export interface TableCounters { tableId: number; name: string; activeCount: number; lookupCount: number; matchedCount: number; maxEntries: number }

export interface SwitchDescription { mfr: string; hw: string; sw: string; serial: string; dp: string }

const EMPTY = new Uint8Array(0);
const CONTROLLER_START_MS = BigInt(Date.now());

export class SwitchApi {
  readonly conn: FlowConnection;
  dpid = 0n;
  /** dpid as 16 hex digits (OVS's spelling); '' until the features reply. */
  id = '';
  /** Ports by model port number. */
  readonly ports = new Map<number, SwitchPort>();
  role: Role = 'equal';
  generationId: bigint | null = null;
  /** Resolves port names of this switch in flow strings ("output:vm1"). */
  readonly names: PortNamer;
  protected readonly log: Logger;
  protected readonly metrics: ControllerMetrics;
  /** Default generation id of role requests. */
  protected readonly defaultGenerationId: bigint;

  constructor(conn: FlowConnection, log: Logger, metrics: ControllerMetrics, generationId?: bigint) {
    this.conn = conn;
    this.log = log;
    this.metrics = metrics;
    this.defaultGenerationId = generationId ?? CONTROLLER_START_MS;
    const ports = this.ports;
    this.names = {
      number(name: string): number | undefined {
        for (const p of ports.values()) if (p.name === name) return p.portNo;
        return undefined;
      },
      name(port: number): string | undefined {
        return ports.get(port)?.name;
      },
    };
  }

  /** Parses an ovs-ofctl flow string for `command`, with this switch's port names. Throws FlowSyntaxError. */
  parseFlow(flow: string, command: FlowCommand | 'dump' = 'add'): FlowMod {
    return parseFlow(flow, { command, names: this.names });
  }

  private wireFlowMod(command: FlowCommand, flow: FlowSpec, bufferId?: number): Input<WireFlowMod> {
    let fm: FlowMod;
    if (typeof flow === 'string') {
      fm = this.parseFlow(flow, command);
    } else {
      fm = flow;
      if (fm.command !== command) fm = { ...fm, command };
    }
    const w = flowModToWire(fm);
    if (bufferId !== undefined && bufferId !== NO_BUFFER) w.bufferId = bufferId;
    return w;
  }

  /**
   * Sends one flow mod and returns its xid. Nothing comes back when it succeeds; a refusal
   * reaches the apps' onError with this xid (use flowMods() to wait for the outcome). Throws
   * FlowSyntaxError for a bad flow string (nothing is sent).
   */
  flowMod(command: FlowCommand, flow: FlowSpec, opts: { bufferId?: number } = {}): number {
    const xid = this.conn.send({ flowMod: this.wireFlowMod(command, flow, opts.bufferId) });
    this.metrics.flowMods.inc({ dpid: this.id });
    return xid;
  }

  /** flowMod('add', flow). */
  addFlow(flow: FlowSpec, opts: { bufferId?: number } = {}): number {
    return this.flowMod('add', flow, opts);
  }

  /** Deletes the flows `filter` selects ("" = every flow; "cookie=0x5/-1", "in_port=2", "out_port=3"). */
  deleteFlows(filter = '', opts: { strict?: boolean } = {}): number {
    return this.flowMod(opts.strict ? 'delete_strict' : 'delete', filter);
  }

  /**
   * Sends the flow mods, then a barrier; resolves once the switch has processed them all, with
   * the ones it refused. Every flow string is parsed before anything is sent (a FlowSyntaxError
   * sends nothing).
   */
  async flowMods(reqs: readonly FlowModRequest[], timeoutMs?: number): Promise<FlowModFailure[]> {
    const wires = reqs.map((r) => this.wireFlowMod(r.command ?? 'add', r.flow, r.bufferId));
    const errs = await this.conn.transact(wires.map((w) => ({ flowMod: w })), timeoutMs);
    this.metrics.flowMods.inc({ dpid: this.id }, wires.length);
    return errs.map(({ index, error }) => ({ index, error, flow: this.describeFlow(reqs[index]) }));
  }

  private describeFlow(r: FlowModRequest): string {
    if (typeof r.flow === 'string') return r.flow;
    return formatFlowMod(r.flow, this.names);
  }

  private packetOutBody(po: PacketOutRequest): BodyInput {
    const actions = typeof po.actions === 'string' ? (po.actions === '' ? [] : parseActions(po.actions, 0, po.actions.length, this.names)) : po.actions;
    const bufferId = po.bufferId ?? NO_BUFFER;
    return {
      packetOut: {
        bufferId, inPort: portToWire(po.inPort ?? OFPP_CONTROLLER), actions: actionsToWire(actions),
        data: bufferId === NO_BUFFER ? po.data ?? EMPTY : EMPTY,
      },
    };
  }

  /** Sends a packet-out; returns its xid. Throws FlowSyntaxError for a bad action string. */
  packetOut(po: PacketOutRequest): number {
    const xid = this.conn.send(this.packetOutBody(po));
    this.metrics.packetOuts.inc({ dpid: this.id });
    return xid;
  }

  /** Sends packet-outs, then a barrier; resolves with the switch's errors about them. */
  async packetOuts(pos: readonly PacketOutRequest[], timeoutMs?: number): Promise<FlowRemoteError[]> {
    const bodies = pos.map((po) => this.packetOutBody(po));
    const errs = await this.conn.transact(bodies, timeoutMs);
    this.metrics.packetOuts.inc({ dpid: this.id }, bodies.length);
    return errs.map((e) => e.error);
  }

  /** Resolves once the switch has processed everything sent before. */
  barrier(timeoutMs?: number): Promise<void> {
    return this.conn.barrier(timeoutMs);
  }

  /** Round trip of an echo (ms). */
  echo(timeoutMs?: number): Promise<number> {
    return this.conn.echo(EMPTY, timeoutMs);
  }

  /** Sets miss_send_len (bytes of a table-miss packet in packet-in) and the fragment flags. */
  setConfig(cfg: { missSendLen?: number; flags?: number }): number {
    return this.conn.send({ setConfig: { missSendLen: cfg.missSendLen ?? 128, flags: cfg.flags ?? 0 } });
  }

  /** The flows `filter` selects (dump-flows syntax: "table=0,in_port=1"; "" = all), in the switch's order. */
  async flowStats(filter = '', timeoutMs?: number): Promise<FlowStatsView[]> {
    const fm = this.parseFlow(filter, 'dump');
    const parts = await this.conn.multipart({ flow: statsRequestToWire(fm) }, timeoutMs);
    const out: FlowStatsView[] = [];
    for (const p of parts) for (const s of p.flow?.stats ?? []) out.push(flowStatsFromWire(s));
    return out;
  }

  /** Packet, byte and flow counts of the flows `filter` selects. */
  async aggregateStats(filter = '', timeoutMs?: number): Promise<{ packets: number; bytes: number; flows: number }> {
    const fm = this.parseFlow(filter, 'dump');
    const parts = await this.conn.multipart({ aggregate: statsRequestToWire(fm) }, timeoutMs);
    const a = parts[parts.length - 1]?.aggregate ?? {};
    return { packets: Number(a.packetCount ?? 0n), bytes: Number(a.byteCount ?? 0n), flows: a.flowCount ?? 0 };
  }

  /** Counters of one port (model number) or of every port. */
  async portStats(portNo?: number, timeoutMs?: number): Promise<PortCounters[]> {
    const req = portNo === undefined ? {} : { portNo: portToWire(portNo) };
    const parts = await this.conn.multipart({ portStats: req }, timeoutMs);
    const out: PortCounters[] = [];
    for (const p of parts) for (const s of p.portStats?.stats ?? []) out.push(portCounters(s));
    return out;
  }

  async tableStats(timeoutMs?: number): Promise<TableCounters[]> {
    const parts = await this.conn.multipart({ table: {} }, timeoutMs);
    const out: TableCounters[] = [];
    for (const p of parts) for (const t of p.table?.stats ?? []) out.push(tableCounters(t));
    return out;
  }

  /** Asks the switch for its ports again (port_desc) and replaces the table. */
  async refreshPorts(timeoutMs?: number): Promise<SwitchPort[]> {
    const parts = await this.conn.multipart({ portDesc: {} }, timeoutMs);
    this.ports.clear();
    for (const p of parts) for (const d of p.portDesc?.ports ?? []) {
      const port = portFromWireDesc(d);
      this.ports.set(port.portNo, port);
    }
    return [...this.ports.values()];
  }

  /**
   * Asks for a role (OpenFlow 1.3 role request). MASTER and SLAVE carry a generation id: by
   * default the controller's start time in ms, so a restarted controller outranks its previous
   * run. Rejects with FlowRemoteError (OFPRRFC_STALE) when the switch saw a newer one.
   */
  async setRole(role: Role, generationId?: bigint, timeoutMs?: number): Promise<{ role: Role; generationId: bigint }> {
    const gen = generationId ?? this.defaultGenerationId;
    const r = await this.conn.request({ roleRequest: { role: ROLE_NUM[role], generationId: role === 'equal' ? 0n : gen } }, timeoutMs);
    const got = r.roleReply ?? {};
    this.role = ROLE_NAME[got.role ?? 0] ?? role;
    this.generationId = got.generationId ?? gen;
    this.log.info({ dpid: this.id, role: this.role, generationId: String(this.generationId) }, 'role set');
    return { role: this.role, generationId: this.generationId };
  }
}

function n(v: bigint | undefined): number {
  return Number(v ?? 0n);
}

function portCounters(s: PortStats): PortCounters {
  let portNo = s.portNo ?? 0;
  try {
    portNo = portFromWire(portNo); // reserved numbers (LOCAL) in the model's 16-bit form
  } catch {
    /* beyond the model's range: shown as sent */
  }
  return {
    portNo, rxPackets: n(s.rxPackets), txPackets: n(s.txPackets), rxBytes: n(s.rxBytes), txBytes: n(s.txBytes),
    rxDropped: n(s.rxDropped), txDropped: n(s.txDropped), rxErrors: n(s.rxErrors), txErrors: n(s.txErrors), durationSec: s.durationSec ?? 0,
  };
}

function tableCounters(t: TableStats): TableCounters {
  return {
    tableId: t.tableId ?? 0, name: t.name ?? '', activeCount: t.activeCount ?? 0, lookupCount: n(t.lookupCount),
    matchedCount: n(t.matchedCount), maxEntries: t.maxEntries ?? 0,
  };
}
