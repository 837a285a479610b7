/*
 * The datapath.sock server: speaks the dpif protocol (src/lib/dpif-proto.ts, docs/design.md)
 * with one vswitchd (the upcall receiver) and any number of tools (dpctl). Control requests
 * (HELLO, REQUEST → REPLY) are JSON; PUT_EXECUTE, FLOW_PUT, FLOW_DEL and EXECUTE are binary and
 * unanswered; DUMP is binary and answered with one DUMP_REPLY page. Control path, except
 * PUT_EXECUTE (vswitchd's answer to each miss): its actions are read once into scratch for
 * both the put and the execute, a put with the same actions as the last one shares its array,
 * and nothing else is allocated for it. Owned by the Datapath, which it drives through the DpifBackend interface. A
 * malformed message is counted (bad_dpif_message) and, for requests, answered with
 * BAD_REQUEST; a stream that cannot be split into frames closes that connection. Nothing a
 * peer sends can throw out of here.
 *
 * Dumps are paged so a table of 200k flows never stalls forwarding: each DUMP request encodes
 * at most one page (dump.ts: DUMP_MAX_PAGE flows or PAGE_BYTES), and the client asks for the
 * next page only after reading this one, so the event loop serves ports in between. A dump
 * walks flow ids in order from a per-dump cursor kept on the connection: a flow present for the
 * whole dump is reported exactly once; flows added or deleted meanwhile may or may not be.
 */
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { VswitchError } from '../lib/errors.js';
import { KEY_BYTES, KEY_WORDS } from '../lib/flow-key.js';
import type { DpStats } from '../lib/dp-stats.js';
import {
  DPIF_VERSION, DUMP_MAX_PAGE, FrameReader, FrameWriter, parseJsonBody, PE_EXECUTE, PE_PUT, readKeyInto, T_DUMP, T_EXECUTE,
  T_FLOW_DEL, T_FLOW_PUT, T_HELLO, T_PUT_EXECUTE, T_REPLY, T_REQUEST, validActions,
} from '../lib/dpif-proto.js';
import type { Logger } from '../lib/log.js';
import { STREAM_OPTION_KEYS } from '../lib/stream-options.js';
import type { ActionRunner } from './actions.js';
import {
  C_BAD_DPIF_MESSAGE, C_DUMP_PAGES, C_EXEC_BAD_ACTIONS, C_EXEC_TOO_LONG, C_EXECUTED, C_FLOW_DEL, C_FLOW_LIMIT,
  C_FLOW_MODIFY, C_FLOW_PUT, type Counters,
} from './counters.js';
import { writeDumpPage } from './dump.js';
import type { Emc } from './emc.js';
import type { MegaflowTable } from './megaflow.js';
import type { NetdevType } from './netdev.js';
import { BadRequestError, type Port, type PortOptions, type PortTable } from './ports.js';
import type { UpcallQueue } from './upcall.js';

/** What the server needs from the datapath (implemented by Datapath). */
export interface DpifBackend {
  readonly name: string;
  readonly counters: Counters;
  readonly table: MegaflowTable;
  readonly emc: Emc;
  readonly ports: PortTable;
  readonly actions: ActionRunner;
  readonly upcalls: UpcallQueue;
  emcMinProbes: number;
  /** Re-ranks subtables and re-decides the EMC now. */
  tick(): void;
  addPort(name: string, type: NetdevType, portNo?: number, options?: PortOptions): Port;
  delPort(portNo: number): void;
  stats(): DpStats;
}

export type { DpStats };

/** Thrown when a second vswitchd says HELLO while one is connected. */
export class BusyError extends VswitchError {
  constructor() {
    super('BUSY', 'another vswitchd is already connected to this datapath');
    this.name = 'BusyError';
  }
}

/** Thrown when the socket path is served by a live process. */
export class SocketInUseError extends VswitchError {
  constructor(path: string) {
    super('ADDRESS_IN_USE', `${path}: another datapath is already listening there`);
    this.name = 'SocketInUseError';
  }
}

const PORT_TYPES: readonly string[] = ['tap', 'internal', 'system', 'stream', 'dummy'];
/** Dumps a connection may have open; starting one more forgets its oldest. */
const MAX_DUMPS = 8;

class DpifConn {
  role: '' | 'vswitchd' | 'tool' = '';
  /** Open dumps: id → next flow id to report. */
  readonly dumps = new Map<number, number>();
  nextDumpId = 1;
  readonly writer = new FrameWriter(16 * 1024);
  readonly reader: FrameReader;
  constructor(readonly sock: net.Socket, onFrame: (c: DpifConn, t: number, f: number, x: number, b: Buffer, o: number, l: number) => void) {
    this.reader = new FrameReader((t, f, x, b, o, l) => onFrame(this, t, f, x, b, o, l));
  }
  flush(): void {
    if (this.writer.pos === 0) return;
    if (this.sock.writable) this.sock.write(this.writer.take());
    else this.writer.pos = 0;
  }
}

export class DpifServer {
  private server: net.Server | null = null;
  private path = '';
  private readonly conns = new Set<DpifConn>();
  private vswitchd: DpifConn | null = null;
  private readonly cv: Float64Array;
  private readonly key = new Uint32Array(KEY_WORDS);
  private readonly mask = new Uint32Array(KEY_WORDS);
  private readonly keyBytes = new Uint8Array(this.key.buffer);
  private readonly maskBytes = new Uint8Array(this.mask.buffer);
  private execActs = new Int32Array(64);
  /** Actions of the last flow put: the next put with the same actions shares the array (a
   *  burst of misses mostly installs flows with one action list; the table never writes it). */
  private lastActs = new Int32Array(0);
  /** Time (ms) of the chunk being handled: the creation time of the flows it puts. */
  private now = 0;

  constructor(private readonly dp: DpifBackend, private readonly log?: Logger) {
    this.cv = dp.counters.v;
    dp.actions.upcalls = dp.upcalls; // ACT_USERSPACE: packet-ins go up with the misses
  }

  get vswitchdConnected(): boolean {
    return this.vswitchd !== null;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  /** Listens on `path`; a stale socket file is replaced, a live one is refused. */
  async listen(path: string): Promise<void> {
    if (existsSync(path)) {
      if (!lstatSync(path).isSocket() || (await answers(path))) throw new SocketInUseError(path);
      unlinkSync(path);
    }
    const server = net.createServer((sock) => this.accept(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.removeListener('error', reject);
        server.on('error', (err) => this.log?.error({ err: err.message }, 'datapath socket error'));
        resolve();
      });
    });
    this.server = server;
    this.path = path;
  }

  /** Stops listening, drops every connection and removes the socket file. */
  async close(): Promise<void> {
    for (const c of this.conns) c.sock.destroy();
    this.conns.clear();
    if (this.vswitchd) this.dp.upcalls.detach(this.vswitchd.sock);
    this.vswitchd = null;
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.path) {
      try {
        unlinkSync(this.path);
      } catch {
        /* already gone */
      }
    }
  }

  private accept(sock: net.Socket): void {
    const conn = new DpifConn(sock, (c, t, f, x, b, o, l) => this.onFrame(c, t, f, x, b, o, l));
    this.conns.add(conn);
    sock.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    sock.on('error', (err) => this.log?.debug({ err: err.message }, 'dpif connection error'));
    sock.on('close', () => this.onClose(conn));
  }

  private onData(conn: DpifConn, chunk: Buffer): void {
    this.now = Date.now();
    if (!conn.reader.push(chunk)) {
      this.cv[C_BAD_DPIF_MESSAGE]++;
      this.log?.warn({ role: conn.role || 'none', why: conn.reader.error }, 'closing dpif connection: unparseable stream');
      conn.flush();
      conn.sock.destroy();
    }
    this.dp.actions.flush(); // EXECUTEs of this chunk go out now, before any pipeline run
    this.dp.upcalls.flush(); // and the packet-ins (ACT_USERSPACE) they made go up
    conn.flush();
  }

  private onClose(conn: DpifConn): void {
    this.conns.delete(conn);
    if (this.vswitchd === conn) {
      this.vswitchd = null;
      this.dp.upcalls.detach(conn.sock);
      this.log?.info('vswitchd disconnected; misses are dropped (upcall_lost) until it returns');
    }
  }

  private onFrame(conn: DpifConn, type: number, flags: number, xid: number, buf: Buffer, off: number, len: number): void {
    try {
      switch (type) {
        case T_HELLO:
          this.onHello(conn, xid, parseJsonBody(buf, off, len));
          return;
        case T_REQUEST:
          this.onRequest(conn, xid, parseJsonBody(buf, off, len));
          return;
        case T_DUMP:
          if (conn.role === '') this.badRequest(conn, xid, 'send HELLO first');
          else this.onDump(conn, xid, buf, off, len);
          return;
        case T_PUT_EXECUTE:
          if (conn.role === '') this.cv[C_BAD_DPIF_MESSAGE]++;
          else this.onPutExecute(flags, buf, off, len);
          return;
        case T_FLOW_PUT:
        case T_FLOW_DEL:
        case T_EXECUTE:
          if (conn.role === '') this.cv[C_BAD_DPIF_MESSAGE]++;
          else if (type === T_FLOW_PUT) this.onFlowPut(buf, off, len);
          else if (type === T_FLOW_DEL) this.onFlowDel(buf, off, len);
          else this.onExecute(buf, off, len);
          return;
        default:
          this.cv[C_BAD_DPIF_MESSAGE]++;
      }
    } catch (e) {
      this.cv[C_BAD_DPIF_MESSAGE]++;
      this.log?.error({ err: (e as Error)?.stack ?? String(e), type }, 'dpif message handler failed');
    }
  }

  private reply(conn: DpifConn, xid: number, result: unknown): void {
    conn.writer.json(T_REPLY, xid, { result });
  }

  private replyError(conn: DpifConn, xid: number, code: string, message: string): void {
    conn.writer.json(T_REPLY, xid, { error: { code, message } });
  }

  private onHello(conn: DpifConn, xid: number, body: unknown): void {
    const b = body as { role?: unknown; version?: unknown } | undefined;
    if (!b || typeof b !== 'object') return this.badRequest(conn, xid, 'HELLO body must be a JSON object {role, version}');
    if (conn.role !== '') return this.badRequest(conn, xid, 'HELLO was already received on this connection');
    if (b.version !== DPIF_VERSION) return this.badRequest(conn, xid, `dpif protocol version ${String(b.version)} is not supported (this datapath speaks ${DPIF_VERSION})`);
    if (b.role === 'vswitchd') {
      if (this.vswitchd !== null) {
        const e = new BusyError();
        this.replyError(conn, xid, e.code, e.message);
        conn.flush();
        conn.sock.end();
        return;
      }
      this.vswitchd = conn;
      this.dp.upcalls.attach(conn.sock, conn.writer);
      this.log?.info('vswitchd connected');
    } else if (b.role !== 'tool') {
      return this.badRequest(conn, xid, `unknown role '${String(b.role)}'; expected 'vswitchd' or 'tool'`);
    }
    conn.role = b.role;
    this.reply(conn, xid, { version: DPIF_VERSION, name: this.dp.name });
  }

  private badRequest(conn: DpifConn, xid: number, message: string): void {
    this.cv[C_BAD_DPIF_MESSAGE]++;
    this.replyError(conn, xid, 'BAD_REQUEST', message);
  }

  private onRequest(conn: DpifConn, xid: number, body: unknown): void {
    const b = body as { method?: unknown; params?: unknown } | undefined;
    if (!b || typeof b !== 'object' || typeof b.method !== 'string') return this.badRequest(conn, xid, 'REQUEST body must be a JSON object {method, params}');
    if (conn.role === '') return this.badRequest(conn, xid, 'send HELLO first');
    let result: unknown;
    try {
      result = this.call(b.method, b.params ?? {});
    } catch (e) {
      if (e instanceof VswitchError) {
        if (e.code === 'BAD_REQUEST') this.cv[C_BAD_DPIF_MESSAGE]++;
        this.replyError(conn, xid, e.code, e.message);
      } else {
        this.log?.error({ err: (e as Error)?.stack ?? String(e), method: b.method }, 'dpif request failed');
        this.replyError(conn, xid, 'INTERNAL', (e as Error)?.message ?? String(e));
      }
      return;
    }
    this.reply(conn, xid, result);
  }

  /** Runs one control method; throws VswitchError for a bad request. */
  private call(method: string, params: unknown): unknown {
    const p = (params && typeof params === 'object' ? params : {}) as Record<string, unknown>;
    const dp = this.dp;
    switch (method) {
      case 'port_add': {
        if (typeof p.name !== 'string' || p.name === '') throw new BadRequestError('port_add: params.name must be a non-empty string');
        if (typeof p.type !== 'string' || !PORT_TYPES.includes(p.type)) throw new BadRequestError(`port_add: params.type must be one of ${PORT_TYPES.join(', ')}`);
        if (p.port_no !== undefined && p.port_no !== null && typeof p.port_no !== 'number') throw new BadRequestError('port_add: params.port_no must be a number');
        const options = portOptions(p.options);
        const port = dp.addPort(p.name, p.type as NetdevType, (p.port_no ?? undefined) as number | undefined, options);
        return { port_no: port.portNo };
      }
      case 'port_del':
        if (typeof p.port_no !== 'number') throw new BadRequestError('port_del: params.port_no must be a number');
        dp.delPort(p.port_no);
        return {};
      case 'port_list':
        return dp.ports.list().map((port) => {
          const s = port.netdev.stats;
          return {
            port_no: port.portNo, name: port.name, type: port.type, options: port.options, mac: port.netdev.mac(),
            link_state: port.netdev.linkState(), error: port.netdev.error(), counters: port.counters(),
            stats: {
              rx_packets: s.rxPackets, rx_bytes: s.rxBytes, tx_packets: s.txPackets, tx_bytes: s.txBytes,
              rx_dropped: s.rxDropped, tx_dropped: s.txDropped, rx_errors: s.rxErrors, tx_errors: s.txErrors,
            },
          };
        });
      case 'flow_dump':
        throw new BadRequestError('flow_dump: use the binary DUMP message (dpif protocol 2); it pages through the flows');
      case 'flow_flush': {
        const deleted = dp.table.flush();
        dp.emc.clear();
        return { deleted };
      }
      case 'dp_stats':
        return dp.stats();
      case 'set_config':
        if (p.flow_limit !== undefined) {
          if (typeof p.flow_limit !== 'number' || !Number.isInteger(p.flow_limit) || p.flow_limit < 1) throw new BadRequestError('set_config: flow_limit must be a positive integer');
          dp.table.limit = p.flow_limit;
        }
        if (p.emc_insert_inv_prob !== undefined) {
          const n = p.emc_insert_inv_prob;
          if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new BadRequestError('set_config: emc_insert_inv_prob must be a non-negative integer (0 turns the EMC off, 1 inserts every flow)');
          dp.emc.setInsertInvProb(n);
        }
        if (p.emc_min_probes !== undefined) {
          const n = p.emc_min_probes;
          if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new BadRequestError('set_config: emc_min_probes must be a number >= 0 (0 keeps the EMC on)');
          dp.emcMinProbes = n;
          dp.tick();
        }
        return {};
      default:
        throw new BadRequestError(`unknown method '${method}'`);
    }
  }

  /** FLOW_PUT: key | mask | u32 n | i32 actions[n]. */
  private onFlowPut(buf: Buffer, off: number, len: number): void {
    const head = 2 * KEY_BYTES;
    if (len < head + 4) { this.cv[C_BAD_DPIF_MESSAGE]++; return; }
    const n = buf.readUInt32LE(off + head);
    if (len !== head + 4 + 4 * n) { this.cv[C_BAD_DPIF_MESSAGE]++; return; }
    const acts = this.readActions(buf, off + head + 4, n);
    if (!validActions(acts, n)) { this.cv[C_BAD_DPIF_MESSAGE]++; return; }
    this.put(buf, off, acts, n);
  }

  /** PUT_EXECUTE: key | mask | u32 n | i32 actions[n] | u32 pktLen | packet; flags PE_*. */
  private onPutExecute(flags: number, buf: Buffer, off: number, len: number): void {
    const head = 2 * KEY_BYTES;
    if (len < head + 8) { this.cv[C_BAD_DPIF_MESSAGE]++; return; }
    const n = buf.readUInt32LE(off + head);
    if (n > (len - head - 8) / 4) { this.cv[C_BAD_DPIF_MESSAGE]++; return; }
    const p = off + head + 4 + 4 * n;
    const pktLen = buf.readUInt32LE(p);
    const exec = (flags & PE_EXECUTE) !== 0;
    if (p + 4 + pktLen !== off + len || (exec && pktLen < 14)) { this.cv[C_BAD_DPIF_MESSAGE]++; return; }
    const acts = this.readActions(buf, off + head + 4, n);
    if (!validActions(acts, n)) { this.cv[exec ? C_EXEC_BAD_ACTIONS : C_BAD_DPIF_MESSAGE]++; return; }
    if ((flags & PE_PUT) !== 0) this.put(buf, off, acts, n);
    if (!exec) return;
    if (!this.dp.actions.execute(acts, n, buf, p + 4, pktLen)) { this.cv[C_EXEC_TOO_LONG]++; return; }
    this.cv[C_EXECUTED]++;
  }

  /** Reads n action words at buf[p..] into the reused scratch array (valid until the next call). */
  private readActions(buf: Buffer, p: number, n: number): Int32Array {
    if (this.execActs.length < n) this.execActs = new Int32Array(Math.max(n, this.execActs.length * 2));
    const acts = this.execActs;
    for (let i = 0; i < n; i++) acts[i] = buf.readInt32LE(p + 4 * i);
    return acts;
  }

  /** Installs (key & mask) -> acts[0..n) from the key and mask at buf[off..] and counts it. */
  private put(buf: Buffer, off: number, acts: Int32Array, n: number): void {
    let keep = this.lastActs;
    let same = keep.length === n;
    for (let i = 0; same && i < n; i++) if (keep[i] !== acts[i]) same = false;
    if (!same) {
      keep = acts.slice(0, n);
      this.lastActs = keep;
    }
    readKeyInto(buf, off, this.keyBytes, this.key);
    readKeyInto(buf, off + KEY_BYTES, this.maskBytes, this.mask);
    const t = this.dp.table;
    if (t.put(this.key, this.mask, keep, this.now) < 0) this.cv[C_FLOW_LIMIT]++;
    else if (t.putCreated) this.cv[C_FLOW_PUT]++;
    else this.cv[C_FLOW_MODIFY]++;
  }

  /** FLOW_DEL: key | mask. */
  private onFlowDel(buf: Buffer, off: number, len: number): void {
    if (len !== 2 * KEY_BYTES) { this.cv[C_BAD_DPIF_MESSAGE]++; return; }
    readKeyInto(buf, off, this.keyBytes, this.key);
    readKeyInto(buf, off + KEY_BYTES, this.maskBytes, this.mask);
    if (this.dp.table.del(this.key, this.mask)) this.cv[C_FLOW_DEL]++;
  }

  /** DUMP: u32 dumpId (0 = new) | u32 maxFlows → DUMP_REPLY with the next page. */
  private onDump(conn: DpifConn, xid: number, buf: Buffer, off: number, len: number): void {
    if (len !== 8) return this.badRequest(conn, xid, 'DUMP body must be u32 dumpId | u32 maxFlows');
    let id = buf.readUInt32LE(off);
    const max = Math.max(1, Math.min(buf.readUInt32LE(off + 4), DUMP_MAX_PAGE));
    let cursor: number;
    if (id === 0) {
      id = conn.nextDumpId;
      conn.nextDumpId = conn.nextDumpId >= 0xffffffff ? 1 : conn.nextDumpId + 1;
      if (conn.dumps.size >= MAX_DUMPS) conn.dumps.delete(conn.dumps.keys().next().value as number);
      cursor = 0;
    } else {
      const c = conn.dumps.get(id);
      if (c === undefined) return this.replyError(conn, xid, 'NO_SUCH_DUMP', `dump ${id} is not open on this connection (finished, or forgotten after ${MAX_DUMPS} newer dumps)`);
      cursor = c;
    }
    const next = writeDumpPage(conn.writer, xid, id, this.dp.table, cursor, max);
    if (next < 0) conn.dumps.delete(id);
    else conn.dumps.set(id, next);
    this.cv[C_DUMP_PAGES]++;
  }

  /** EXECUTE: u32 inPort | u32 n | i32 actions[n] | u32 pktLen | packet. */
  private onExecute(buf: Buffer, off: number, len: number): void {
    if (len < 12) { this.cv[C_BAD_DPIF_MESSAGE]++; return; }
    const n = buf.readUInt32LE(off + 4);
    if (n > (len - 12) / 4) { this.cv[C_BAD_DPIF_MESSAGE]++; return; }
    const p = off + 8 + 4 * n;
    const pktLen = buf.readUInt32LE(p);
    if (p + 4 + pktLen !== off + len || pktLen < 14) { this.cv[C_BAD_DPIF_MESSAGE]++; return; }
    const acts = this.readActions(buf, off + 8, n);
    if (!validActions(acts, n)) { this.cv[C_EXEC_BAD_ACTIONS]++; return; }
    if (!this.dp.actions.execute(acts, n, buf, p + 4, pktLen)) { this.cv[C_EXEC_TOO_LONG]++; return; }
    this.cv[C_EXECUTED]++;
  }
}

/** port_add's params.options: an object of strings, keys among STREAM_OPTION_KEYS. */
function portOptions(o: unknown): PortOptions {
  const out: PortOptions = {};
  if (o === undefined || o === null) return out;
  const bad = new BadRequestError(`port_add: params.options must be an object of strings with keys ${STREAM_OPTION_KEYS.join(', ')}`);
  if (typeof o !== 'object' || Array.isArray(o)) throw bad;
  for (const [k, v] of Object.entries(o)) {
    if (!(STREAM_OPTION_KEYS as readonly string[]).includes(k) || typeof v !== 'string') throw bad;
    out[k as keyof PortOptions] = v;
  }
  return out;
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}
