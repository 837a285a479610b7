/*
 * The vsdb RFC 7047 service: list_dbs, get_schema, transact, cancel, monitor, monitor_cond,
 * monitor_cond_since, monitor_cond_change, monitor_cancel, lock, steal, unlock, get_server_id,
 * set_db_change_aware (echo is answered by the JSON-RPC layer) for every attached connection.
 * Owns the transaction queue, the monitors and locks of each connection. main.ts wires it to
 * sockets; tests and vsdb-tool use it in process.
 *
 * Commit path (synchronous, one transaction at a time): execute the ops against an overlay;
 * append the record to the log with one write(2) (a failed write fails the transaction and
 * nothing changes); apply it in memory; queue the monitor notifications and the reply. A
 * durable commit ("commit" op with durable true) also starts a group fdatasync, and the output
 * gate holds every notification and reply from that commit on until it is on disk (see
 * output-gate.ts). A client always gets the update for its own transaction before the reply.
 * A transaction blocked on a "wait" op with time left is parked and re-run after each commit
 * and at its deadline; "cancel" ends it with the error "canceled".
 */
import { DEFERRED, RpcError, type JsonRpcConnection } from '../lib/jsonrpc.js';
import type { Logger } from '../lib/log.js';
import { changesToRecord, newUuid, snapshotRecord, type ChangeSet, type Database } from './database.js';
import { ZERO_UUID } from './datum.js';
import { OvsdbError } from './error.js';
import { LockTable } from './locks.js';
import { Monitor, type MonitorKind } from './monitor.js';
import { OutputGate } from './output-gate.js';
import type { Storage } from './storage.js';
import { executeTransaction } from './transaction.js';

interface Job {
  session: Session | null;
  /** Request id (for cancel), or undefined for in-process calls. */
  key: string | undefined;
  ops: unknown[];
  received: number;
  respond: (results: unknown[]) => void;
  fail: (error: unknown) => void;
  timer: NodeJS.Timeout | null;
}

interface Session {
  conn: JsonRpcConnection;
  monitors: Map<string, Monitor>;
  /** Parked transactions by JSON request id, for "cancel". */
  parked: Map<string, Job>;
}

export interface VsdbStats {
  connections: number;
  monitors: number;
  commits: number;
  blocked: number;
  rows: number;
  locks: number;
  /** Outputs held until an fdatasync finishes. */
  held: number;
  fsyncs: number;
}

const LOCK_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Unsent bytes a monitoring client may fall behind by before it is disconnected. */
export const MAX_BACKLOG_BYTES = 64 * 1024 * 1024;

export class VsdbService {
  /** Identifies this server process (get_server_id). */
  readonly serverId = newUuid();
  private readonly sessions = new Map<JsonRpcConnection, Session>();
  private readonly blocked = new Set<Job>();
  private readonly runQueue: Job[] = [];
  private running = false;
  private readonly locks = new LockTable<Session>();
  private readonly gate: OutputGate;
  /** Sequence number of the last durable commit's record (0: none). */
  private durableSeq = 0;
  private commits = 0;
  private lastTxnId = ZERO_UUID;
  private compacting: Promise<void> | null = null;
  private closed = false;

  constructor(readonly db: Database, readonly storage: Storage | null, private readonly log: Logger) {
    this.gate = new OutputGate(storage);
  }

  /** Serves RFC 7047 requests on `conn` until it closes. */
  attach(conn: JsonRpcConnection): void {
    const session: Session = { conn, monitors: new Map(), parked: new Map() };
    this.sessions.set(conn, session);
    conn.once('close', () => this.detach(session));
    conn.onRequest((method, params, id) => this.handle(session, method, params, id));
    conn.onNotification((method, params) => {
      if (method === 'cancel') this.cancel(session, params[0]);
    });
  }

  private detach(s: Session): void {
    this.sessions.delete(s.conn);
    for (const job of s.parked.values()) this.dropBlocked(job);
    s.parked.clear();
    for (const [owner, name] of this.locks.releaseAll(s)) owner.conn.notify('locked', [name]);
  }

  stats(): VsdbStats {
    let monitors = 0;
    for (const s of this.sessions.values()) monitors += s.monitors.size;
    return {
      connections: this.sessions.size,
      monitors,
      commits: this.commits,
      blocked: this.blocked.size,
      rows: this.db.rowCount(),
      locks: this.locks.size,
      held: this.gate.waiting,
      fsyncs: this.storage?.syncCount ?? 0,
    };
  }

  private checkDb(name: unknown): void {
    if (name !== this.db.name) {
      throw new RpcError({ error: 'unknown database', details: `${JSON.stringify(name)} is not a database here (try "${this.db.name}")` });
    }
  }

  private handle(s: Session, method: string, params: unknown[], id: unknown): unknown {
    switch (method) {
      case 'list_dbs':
        return [this.db.name];
      case 'get_schema':
        this.checkDb(params[0]);
        return this.db.schema.json;
      case 'transact':
        this.checkDb(params[0]);
        this.enqueue({
          session: s,
          key: JSON.stringify(id),
          ops: params.slice(1),
          received: Date.now(),
          respond: (r) => s.conn.respond(id, r),
          fail: (e) => s.conn.respondError(id, e),
          timer: null,
        });
        return DEFERRED;
      case 'monitor':
      case 'monitor_cond':
      case 'monitor_cond_since':
        return this.monitor(s, method, params, id);
      case 'monitor_cond_change':
        return this.monitorCondChange(s, params, id);
      case 'monitor_cancel': {
        const key = JSON.stringify(params[0]);
        if (!s.monitors.delete(key)) throw new RpcError({ error: 'unknown monitor', details: `no monitor with id ${key}` });
        return {};
      }
      case 'lock':
      case 'steal':
      case 'unlock':
        return this.lockMethod(s, method, params);
      case 'get_server_id':
        return this.serverId;
      case 'set_db_change_aware':
        return {};
      default:
        throw RpcError.unknownMethod(method);
    }
  }

  private monitor(s: Session, kind: MonitorKind, params: unknown[], id: unknown): unknown {
    this.checkDb(params[0]);
    const n = kind === 'monitor_cond_since' ? 4 : 3;
    if (params.length < 3 || params.length > n) {
      throw new RpcError({ error: 'syntax error', details: `${kind} takes [db-name, monitor-id, monitor-requests${n === 4 ? ', last-txn-id' : ''}]` });
    }
    const key = JSON.stringify(params[1]);
    if (s.monitors.has(key)) throw new RpcError({ error: 'duplicate monitor ID', details: `monitor ${key} already exists` });
    const m = asRpc(() => new Monitor(params[1], this.db, params[2], kind));
    // Registered before any later commit, and the reply goes through the gate ahead of that
    // commit's notifications: the client sees the initial contents first.
    s.monitors.set(key, m);
    const initial = m.initial(this.db);
    // No history is kept: monitor_cond_since always answers "not found" with everything.
    const result = kind === 'monitor_cond_since' ? [false, this.lastTxnId, initial] : initial;
    this.gate.emit(this.durableSeq, () => s.conn.respond(id, result));
    return DEFERRED;
  }

  private monitorCondChange(s: Session, params: unknown[], id: unknown): unknown {
    if (params.length !== 3) throw new RpcError({ error: 'syntax error', details: 'monitor_cond_change takes [monitor-id, new-monitor-id, requests]' });
    const oldKey = JSON.stringify(params[0]);
    const newKey = JSON.stringify(params[1]);
    const m = s.monitors.get(oldKey);
    if (!m) throw new RpcError({ error: 'unknown monitor', details: `no monitor with id ${oldKey}` });
    if (newKey !== oldKey && s.monitors.has(newKey)) throw new RpcError({ error: 'duplicate monitor ID', details: `monitor ${newKey} already exists` });
    const updates = asRpc(() => m.changeConditions(this.db, params[2]));
    s.monitors.delete(oldKey);
    m.id = params[1];
    s.monitors.set(newKey, m);
    this.gate.emit(this.durableSeq, () => {
      if (updates) s.conn.notify(m.method, m.method === 'update3' ? [m.id, this.lastTxnId, updates] : [m.id, updates]);
      s.conn.respond(id, {});
    });
    return DEFERRED;
  }

  private lockMethod(s: Session, method: 'lock' | 'steal' | 'unlock', params: unknown[]): unknown {
    const name = params[0];
    if (params.length !== 1 || typeof name !== 'string' || !LOCK_NAME_RE.test(name)) {
      throw new RpcError({ error: 'syntax error', details: `${method} takes [lock-name] (an identifier)` });
    }
    if (method === 'unlock') {
      if (!this.locks.holdsOrWaits(s, name)) throw new RpcError({ error: 'syntax error', details: `"unlock" of "${name}" without "lock" or "steal"` });
      const next = this.locks.unlock(s, name);
      if (next) next.conn.notify('locked', [name]);
      return {};
    }
    if (this.locks.holdsOrWaits(s, name) && !(method === 'steal' && !this.locks.owns(s, name))) {
      throw new RpcError({ error: 'duplicate lock', details: `this session already owns or waits for lock "${name}"` });
    }
    if (method === 'steal') {
      const victim = this.locks.steal(s, name);
      if (victim) victim.conn.notify('stolen', [name]);
      return { locked: true };
    }
    return { locked: this.locks.lock(s, name) };
  }

  private cancel(s: Session, id: unknown): void {
    const job = s.parked.get(JSON.stringify(id));
    if (!job) return; // already answered, or never a parked transact
    this.dropBlocked(job);
    job.fail('canceled');
  }

  /** Runs a transaction in process (no session: "assert" always fails). */
  transact(ops: unknown[]): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      this.enqueue({ session: null, key: undefined, ops, received: Date.now(), respond: resolve, fail: (e) => reject(new RpcError(e)), timer: null });
    });
  }

  private enqueue(job: Job): void {
    if (this.closed) {
      job.fail({ error: 'not supported', details: 'server is shutting down' });
      return;
    }
    this.runQueue.push(job);
    if (this.running) return;
    this.running = true;
    try {
      for (let j = this.runQueue.shift(); j; j = this.runQueue.shift()) {
        try {
          this.run(j);
        } catch (e) {
          this.log.error({ err: (e as Error).stack }, 'transaction failed unexpectedly');
          j.respond([{ error: 'internal error', details: (e as Error).message }]);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private run(job: Job): void {
    const s = job.session;
    const out = executeTransaction(this.db, job.ops, {
      elapsedMs: Date.now() - job.received,
      ownsLock: s ? (name) => this.locks.owns(s, name) : undefined,
    });
    if (out.blockedMs !== null) {
      this.blocked.add(job);
      if (s && job.key !== undefined) s.parked.set(job.key, job);
      if (out.blockedMs !== Infinity) job.timer = setTimeout(() => this.unblock(job), out.blockedMs + 1);
      return;
    }
    let seq = 0;
    if (out.changes) {
      const rec = changesToRecord(this.db.schema, out.changes);
      if (rec && this.storage) {
        rec._date = Date.now();
        if (out.comments.length) rec._comment = out.comments.join('\n');
        try {
          seq = this.storage.appendSync(rec);
        } catch (e) {
          this.log.error({ err: (e as Error).message }, 'commit not written; transaction failed');
          const results = [...out.results, { error: 'I/O error', details: (e as Error).message }];
          this.gate.emit(this.durableSeq, () => job.respond(results));
          return;
        }
      }
      if (out.durable && seq) this.startSync(seq);
      this.apply(out.changes);
    }
    const results = out.results;
    const durable = out.durable && seq !== 0;
    this.gate.emit(this.durableSeq, (err) => {
      if (err && durable) job.respond([...results, { error: 'I/O error', details: `commit written but not synced: ${err.message}` }]);
      else job.respond(results);
    });
    if (out.changes) this.afterCommit();
  }

  private startSync(seq: number): void {
    this.durableSeq = seq;
    this.storage!.sync(seq).then(
      () => this.gate.release(),
      (e: Error) => this.gate.release(e, seq),
    );
  }

  /** Makes a written change set current and tells the monitors. */
  private apply(changes: ChangeSet): void {
    this.db.apply(changes);
    this.commits++;
    this.lastTxnId = newUuid();
    const txnId = this.lastTxnId;
    for (const s of this.sessions.values()) {
      for (const m of s.monitors.values()) {
        const u = m.update(changes);
        if (!u) continue;
        const params = m.method === 'update3' ? [m.id, txnId, u] : [m.id, u];
        this.gate.emit(this.durableSeq, () => this.notify(s, m.method, params));
      }
    }
  }

  /** Sends a monitor notification; a client that has stopped reading (its unsent backlog is
   * over MAX_BACKLOG_BYTES) is disconnected rather than buffered without bound. */
  private notify(s: Session, method: string, params: unknown[]): void {
    if (s.conn.isClosed) return;
    if (s.conn.pendingBytes > MAX_BACKLOG_BYTES) {
      this.log.warn({ peer: s.conn.name, backlog: s.conn.pendingBytes }, 'client is not reading its monitor updates; disconnecting it');
      s.conn.socket.destroy();
      return;
    }
    s.conn.notify(method, params);
  }

  private afterCommit(): void {
    for (const job of [...this.blocked]) this.unblock(job);
    if (this.storage?.needsCompaction() && !this.compacting) void this.compact().catch(() => undefined);
  }

  private dropBlocked(job: Job): boolean {
    if (!this.blocked.delete(job)) return false;
    if (job.timer) clearTimeout(job.timer);
    job.timer = null;
    if (job.session && job.key !== undefined) job.session.parked.delete(job.key);
    return true;
  }

  private unblock(job: Job): void {
    if (!this.dropBlocked(job)) return;
    // A parked transaction whose client went away is dropped, not retried.
    if (!job.session?.conn.isClosed) this.enqueue(job);
  }

  /** Rewrites the database file as one snapshot, online (commits go on meanwhile). */
  compact(): Promise<void> {
    const storage = this.storage;
    if (!storage) return Promise.resolve();
    if (this.compacting) return this.compacting;
    const before = storage.size;
    const p = storage
      .compact(this.db.schema.json, snapshotRecord(this.db))
      .then(() => this.log.info({ before, after: storage.size }, 'compacted database'))
      .catch((e) => {
        this.log.error({ err: (e as Error).message }, 'compaction failed');
        throw e;
      })
      .finally(() => (this.compacting = null));
    this.compacting = p;
    return p;
  }

  /** Stops taking transactions, fails parked ones, waits for syncs, closes storage. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of [...this.blocked]) {
      this.dropBlocked(job);
      job.respond([{ error: 'timed out', details: 'server is shutting down' }, ...job.ops.slice(1).map(() => null)]);
    }
    if (this.compacting) await this.compacting.catch(() => undefined);
    if (this.storage) {
      await this.storage.sync().then(
        () => this.gate.release(),
        (e: Error) => this.gate.release(e, this.durableSeq),
      );
      await this.storage.close();
    }
  }
}

function asRpc<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof OvsdbError) throw new RpcError(e.toJson());
    throw e;
  }
}
