/*
 * The flow-protocol side of one bridge: the connections attached to it (OfConn, ofconn.ts),
 * the role state they share (the newest generation id, one master), flow mods applied on
 * their behalf, and the asynchronous messages fanned out to them: packet_in and flow_removed
 * from the bridge's events, port_status when ports come, go or change, and flow monitor
 * updates from the bridge's tables (listened to only while some connection has a monitor).
 * Owned by OfMgmt (ofmgmt.ts), one per bridge; a controller connection would attach here too.
 * Control path (a packet_in costs one encode per connection that wants it).
 */
import type { DpifClient } from '../lib/dpif-client.js';
import type { FlowConnection } from '../lib/flowproto/connection.js';
import type { FlowUpdate, Input } from '../lib/flowproto/messages.js';
import type { Logger } from '../lib/log.js';
import type { Bridge, BridgePort, FlowRemovedEvent, PacketInEvent } from './bridge.js';
import { OfConn, ROLE_MASTER, ROLE_SLAVE, type FlowMonitor, type OfConnKind } from './ofconn.js';
import { bridgeDatapathId, portChanges, snapshotPorts, type DpPortInfo, type PortSnapshot } from './ofmgmt-ports.js';
import { actionsOutputTo, OFPR_ACTION } from './ofp/actions.js';
import { F_IN_PORT, F_METADATA, F_REG } from './ofp/fields.js';
import type { FlowMod } from './ofp/flow-syntax.js';
import { OFPRR_DELETE, type FlowEntry, type FlowModResult } from './ofp/flow-table.js';
import { OF_W_METADATA, OF_W_REG0, OFPP_ANY, OFPTT_ALL } from './ofp/layout.js';
import { Match } from './ofp/match.js';
import type { FlowEvent } from './ofp/tables.js';
import { flowRemovedToWire, instructionsToWire } from './ofp/wire.js';
import { matchToWire } from './ofp/wire-match.js';
import { portPacketIn } from './ofport-config.js';
import { packetInMaxLen } from './packet-in.js';
import { NO_BUFFER, PacketBuffers, packetInLimits } from './packet-in-limit.js';
import type { SwitchState } from './state.js';

/** What the flow-protocol side needs from vswitchd. */
export interface OfServices {
  readonly st: SwitchState;
  /** The datapath connection, null while reconnecting. */
  dp(): DpifClient | null;
  /** The bridge's other_config value for `key`. */
  otherConfig(bridge: string, key: string): string | undefined;
  /** A port's config bits changed (port mod): revalidate cached flows, write admin_state. */
  portConfigChanged(bridge: Bridge, port: BridgePort): void;
  readonly log: Logger;
}

/** FlowMonitorFlags bits. */
export const OFPFMF_INITIAL = 1;
export const OFPFMF_ADD = 2;
export const OFPFMF_REMOVED = 4;
export const OFPFMF_MODIFY = 8;
export const OFPFMF_INSTRUCTIONS = 16;
export const OFPFMF_ONLY_OWN = 64;
/** FlowUpdateEvent numbers. */
export const FME_INITIAL = 0;
export const FME_ADDED = 1;
export const FME_REMOVED = 2;
export const FME_MODIFIED = 3;

/** Most updates in one flow_monitor_update message. */
const UPDATES_PER_MESSAGE = 1000;

interface PendingRemoval {
  ev: FlowEvent;
  origin: OfConn | null;
}

/** A flow monitor update for `e` as `mon` asked for it. */
export function flowUpdate(e: FlowEntry, event: number, reason: number, mon: FlowMonitor): Input<FlowUpdate> {
  const u: Input<FlowUpdate> = {
    event, tableId: e.table, idleTimeout: e.idleTimeout, hardTimeout: e.hardTimeout, priority: e.priority, cookie: e.cookie,
    match: matchToWire(e.match),
  };
  if (event === FME_REMOVED) u.reason = reason;
  if ((mon.flags & OFPFMF_INSTRUCTIONS) !== 0 && event !== FME_REMOVED) u.instructions = instructionsToWire(e.actions);
  return u;
}

/** Whether monitor `mon` selects entry `e` (table, non-strict match, out_port). */
export function monitorSelects(mon: FlowMonitor, e: FlowEntry): boolean {
  if (mon.table !== OFPTT_ALL && mon.table !== e.table) return false;
  if (!mon.match.covers(e.match)) return false;
  return mon.outPort === OFPP_ANY || actionsOutputTo(e.actions, mon.outPort);
}

export class OfBridge {
  readonly conns = new Set<OfConn>();
  /** Newest generation id seen in a MASTER or SLAVE role request (null: none yet). */
  maxGenerationId: bigint | null = null;
  /** Whole frames of packet_ins cut to miss_send_len, for packet outs and flow mods by buffer id. */
  readonly buffers = new PacketBuffers();
  /** packet_ins not sent because a controller connection's rate limit was reached. */
  packetInsRateLimited = 0;
  private ports: PortSnapshot = new Map();
  private readonly portSeen = new WeakMap<BridgePort, number>();
  /** The connection whose flow mod is being applied (for ONLY_OWN monitors). */
  private origin: OfConn | null = null;
  private unlistenTables: (() => void) | null = null;
  private pendingRemovals: PendingRemoval[] = [];
  private readonly pendingUpdates = new Map<OfConn, Map<number, Input<FlowUpdate>[]>>();
  private flushScheduled = false;
  /** Called when a controller connection is admitted (controllers.ts: leaves fail-open). */
  onAdmitted: ((c: OfConn) => void) | null = null;
  private readonly onPacketIn = (ev: PacketInEvent): void => this.packetIn(ev);
  private readonly onFlowRemoved = (ev: FlowRemovedEvent): void => this.flowRemoved(ev);

  constructor(readonly bridge: Bridge, readonly services: OfServices) {
    bridge.events.on('packet_in', this.onPacketIn);
    bridge.events.on('flow_removed', this.onFlowRemoved);
    this.ports = snapshotPorts(bridge, this.dpPorts());
    this.notePorts();
  }

  get st(): SwitchState {
    return this.services.st;
  }

  get log(): Logger {
    return this.services.log;
  }

  /** The datapath ports as of the last reconciliation (MACs, link states). */
  dpPorts(): DpPortInfo[] {
    return this.services.st.dpPorts as DpPortInfo[];
  }

  datapathId(): bigint {
    return bridgeDatapathId(this.bridge, this.dpPorts(), (k) => this.services.otherConfig(this.bridge.name, k));
  }

  /** When the port joined the bridge, as far as vswitchd saw it (ms). */
  portSince(p: BridgePort): number {
    return this.portSeen.get(p) ?? Date.now();
  }

  /** Serves `conn` (hello already sent) for this bridge. */
  attach(conn: FlowConnection, kind: OfConnKind): OfConn {
    const c = new OfConn(this, conn, kind);
    this.conns.add(c);
    conn.once('close', () => {
      this.conns.delete(c);
      this.pendingUpdates.delete(c);
      this.updateTableListener();
    });
    return c;
  }

  /** Makes every other master a slave (a new master was chosen). */
  demoteMasters(except: OfConn): void {
    for (const c of this.conns) if (c !== except && c.role === ROLE_MASTER) c.setRole(ROLE_SLAVE);
  }

  /** Applies a flow mod for `origin`. Throws OfpError (nothing changed). */
  applyFlowMod(fm: FlowMod, origin: OfConn | null): FlowModResult {
    this.origin = origin;
    try {
      return this.bridge.tables.apply(fm);
    } finally {
      this.origin = null;
    }
  }

  /** A port's config changed through a port mod. */
  portConfigChanged(port: BridgePort): void {
    this.services.portConfigChanged(this.bridge, port);
    this.syncPorts();
  }

  /** Sends port_status for every port that came, went or changed since the last call. */
  syncPorts(): void {
    const next = snapshotPorts(this.bridge, this.dpPorts());
    const changes = portChanges(this.ports, next);
    this.ports = next;
    this.notePorts();
    for (const ch of changes) {
      for (const c of this.conns) {
        if (((c.async.portStatus >>> ch.reason) & 1) === 0) continue;
        c.conn.send({ portStatus: { reason: ch.reason, desc: ch.desc } }, 0);
      }
    }
  }

  private notePorts(): void {
    const now = Date.now();
    for (const p of this.bridge.ordered) if (!this.portSeen.has(p)) this.portSeen.set(p, now);
  }

  // ---- packet_in and flow_removed ---------------------------------------------------------------

  /**
   * Sends `ev` to every connection that wants it. How much of the frame goes: the action's
   * max_len, and for a table miss or an invalid TTL (reason other than ACTION) at most the
   * connection's miss_send_len too (a management connection's only once set_config set it).
   * 65535 means the whole frame, never buffered. A controller connection that gets less than
   * the whole frame gets a buffer id for it (one buffer per packet-in, shared by the
   * connections), so a packet out or flow mod can name it. Rate-limited connections that are
   * out of tokens skip it (counted per connection and in coverage packet_in_rate_limited).
   */
  packetIn(ev: PacketInEvent): void {
    if (this.conns.size === 0) return;
    const inPort = this.bridge.port(ev.inPort);
    if (inPort !== undefined && !portPacketIn(inPort)) return;
    const actionMax = packetInMaxLen(ev);
    const whole = ev.packet.length === ev.totalLen;
    let match: ReturnType<typeof matchToWire> | null = null;
    let buffered = NO_BUFFER;
    for (const c of this.conns) {
      if (((c.async.packetIn >>> ev.reason) & 1) === 0 || c.controllerId !== ev.controllerId) continue;
      const limit = c.kind === 'controller' ? packetInLimits.get(c.conn) : undefined;
      if (limit !== undefined && !limit.take()) {
        c.packetInsRateLimited++;
        this.packetInsRateLimited++;
        this.st.counters.packet_in_rate_limited++;
        continue;
      }
      match ??= matchToWire(packetInMatch(ev));
      let cut = actionMax;
      if (ev.reason !== OFPR_ACTION && (c.missSendLenSet || c.kind === 'controller')) cut = Math.min(cut, c.missSendLen);
      let data = ev.packet;
      let bufferId = NO_BUFFER;
      if (cut < 0xffff && data.length > cut) {
        if (c.kind === 'controller' && whole) {
          if (buffered === NO_BUFFER) buffered = this.buffers.store(ev.packet, ev.inPort);
          bufferId = buffered;
        }
        data = data.subarray(0, cut);
      }
      c.packetInsSent++;
      c.conn.send({
        packetIn: {
          bufferId, totalLen: ev.totalLen, reason: ev.reason, tableId: ev.table, cookie: ev.cookie, match, data,
          userdata: ev.userdata ?? new Uint8Array(0),
        },
      }, 0);
    }
  }

  private flowRemoved(ev: FlowRemovedEvent): void {
    let msg: ReturnType<typeof flowRemovedToWire> | null = null;
    for (const c of this.conns) {
      if (((c.async.flowRemoved >>> ev.reason) & 1) === 0) continue;
      msg ??= flowRemovedToWire(ev.entry, ev.reason, ev.at);
      c.conn.send({ flowRemoved: msg }, 0);
    }
  }

  // ---- Flow monitors -------------------------------------------------------------------------

  /** Listens to the tables while some connection has a monitor. */
  updateTableListener(): void {
    let any = false;
    for (const c of this.conns) if (c.monitors.size > 0) any = true;
    if (any && this.unlistenTables === null) {
      this.unlistenTables = this.bridge.tables.listen((ev) => this.onFlowEvent(ev));
    } else if (!any && this.unlistenTables !== null) {
      this.unlistenTables();
      this.unlistenTables = null;
    }
  }

  /**
   * An add that replaces an entry comes as its 'removed' (DELETE) and then the successor's
   * 'added'; monitors see that pair as one MODIFIED. So DELETE removals wait for the end of
   * the flow mod (a microtask) to see whether a successor came.
   */
  private onFlowEvent(ev: FlowEvent): void {
    const origin = this.origin;
    if (ev.event === 'removed' && ev.reason === OFPRR_DELETE) {
      this.pendingRemovals.push({ ev, origin });
      this.scheduleFlush();
      return;
    }
    if (ev.event === 'added' && this.pendingRemovals.length > 0) {
      const e = ev.entry;
      const i = this.pendingRemovals.findIndex((r) => r.ev.entry.table === e.table && r.ev.entry.priority === e.priority && r.ev.entry.match.equals(e.match));
      if (i >= 0) {
        this.pendingRemovals.splice(i, 1);
        this.report(e, FME_MODIFIED, -1, origin);
        return;
      }
    }
    this.report(ev.entry, ev.event === 'added' ? FME_ADDED : ev.event === 'modified' ? FME_MODIFIED : FME_REMOVED, ev.reason, origin);
  }

  private report(e: FlowEntry, event: number, reason: number, origin: OfConn | null): void {
    const flag = event === FME_ADDED ? OFPFMF_ADD : event === FME_REMOVED ? OFPFMF_REMOVED : OFPFMF_MODIFY;
    for (const c of this.conns) {
      for (const mon of c.monitors.values()) {
        if ((mon.flags & flag) === 0) continue;
        if ((mon.flags & OFPFMF_ONLY_OWN) !== 0 && origin !== c) continue;
        if (!monitorSelects(mon, e)) continue;
        let byMon = this.pendingUpdates.get(c);
        if (byMon === undefined) this.pendingUpdates.set(c, (byMon = new Map()));
        let list = byMon.get(mon.id);
        if (list === undefined) byMon.set(mon.id, (list = []));
        list.push(flowUpdate(e, event, reason, mon));
        this.scheduleFlush();
      }
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flushUpdates());
  }

  private flushUpdates(): void {
    // flushScheduled stays set while the removals are reported, so they queue no new flush.
    const removals = this.pendingRemovals;
    this.pendingRemovals = [];
    for (const r of removals) this.report(r.ev.entry, FME_REMOVED, r.ev.reason, r.origin);
    this.flushScheduled = false;
    for (const [c, byMon] of this.pendingUpdates) {
      for (const [id, list] of byMon) {
        for (let i = 0; i < list.length; i += UPDATES_PER_MESSAGE) {
          c.conn.send({ flowMonitorUpdate: { monitorId: id, updates: list.slice(i, i + UPDATES_PER_MESSAGE) } }, 0);
        }
      }
    }
    this.pendingUpdates.clear();
  }

  /** Closes every connection and stops listening to the bridge. */
  close(): void {
    this.bridge.events.off('packet_in', this.onPacketIn);
    this.bridge.events.off('flow_removed', this.onFlowRemoved);
    if (this.unlistenTables !== null) this.unlistenTables();
    this.unlistenTables = null;
    for (const c of [...this.conns]) c.conn.close();
    this.conns.clear();
  }
}

/** A packet_in's match: in_port, and metadata and registers when not zero (as OVS sends them). */
function packetInMatch(ev: PacketInEvent): Match {
  const m = new Match();
  m.setFieldNum(F_IN_PORT, ev.inPort);
  const f = ev.flow;
  if (f.length > OF_W_METADATA + 1 && (f[OF_W_METADATA] !== 0 || f[OF_W_METADATA + 1] !== 0)) {
    m.setField(F_METADATA, (BigInt(f[OF_W_METADATA]) << 32n) | BigInt(f[OF_W_METADATA + 1]));
  }
  for (let i = 0; i < F_REG.length; i++) {
    const w = f[OF_W_REG0 + i];
    if (w !== undefined && w !== 0) m.setFieldNum(F_REG[i], w);
  }
  return m;
}
