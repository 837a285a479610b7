/*
 * The vsdb RFC 7047 service: answers list_dbs, get_schema, transact, monitor, monitor_cancel
 * (echo is answered by the JSON-RPC layer) for every attached connection. Owns the commit queue
 * and the monitors of each connection. main.ts wires it to sockets; tests use it in process.
 *
 * Commits are serial: a transaction is executed, its record appended to storage (reply only
 * after the write completed), then applied in memory, then every monitor gets its "update"
 * notification, then the transact reply is sent. So a client always sees the update for its own
 * transaction before the reply. A transaction blocked on a "wait" op with time left is parked
 * and re-run after each commit and at its deadline.
 */
import { RpcError, type JsonRpcConnection } from '../lib/jsonrpc.js';
import type { Logger } from '../lib/log.js';
import { changesToRecord, snapshotRecord, type ChangeSet, type Database } from './database.js';
import { OvsdbError } from './error.js';
import { Monitor } from './monitor.js';
import type { Storage } from './storage.js';
import { executeTransaction } from './transaction.js';

interface Job {
  conn: JsonRpcConnection | null;
  ops: unknown[];
  received: number;
  resolve: (results: unknown[]) => void;
  timer: NodeJS.Timeout | null;
}

interface Session {
  monitors: Map<string, Monitor>;
}

export interface VsdbStats {
  connections: number;
  monitors: number;
  commits: number;
  blocked: number;
  rows: number;
}

export class VsdbService {
  private readonly sessions = new Map<JsonRpcConnection, Session>();
  private readonly blocked = new Set<Job>();
  private queue: Promise<void> = Promise.resolve();
  private commits = 0;
  private closed = false;

  constructor(readonly db: Database, readonly storage: Storage | null, private readonly log: Logger) {}

  /** Serves RFC 7047 requests on `conn` until it closes. */
  attach(conn: JsonRpcConnection): void {
    const session: Session = { monitors: new Map() };
    this.sessions.set(conn, session);
    conn.once('close', () => this.sessions.delete(conn));
    conn.onRequest((method, params) => this.handle(conn, session, method, params));
  }

  stats(): VsdbStats {
    let monitors = 0;
    for (const s of this.sessions.values()) monitors += s.monitors.size;
    return { connections: this.sessions.size, monitors, commits: this.commits, blocked: this.blocked.size, rows: this.db.rowCount() };
  }

  private checkDb(name: unknown): void {
    if (name !== this.db.name) {
      throw new RpcError({ error: 'unknown database', details: `${JSON.stringify(name)} is not a database here (try "${this.db.name}")` });
    }
  }

  private handle(conn: JsonRpcConnection, session: Session, method: string, params: unknown[]): unknown {
    switch (method) {
      case 'list_dbs':
        return [this.db.name];
      case 'get_schema':
        this.checkDb(params[0]);
        return this.db.schema.json;
      case 'transact':
        this.checkDb(params[0]);
        return this.transact(params.slice(1), conn);
      case 'monitor':
        return this.monitor(session, params);
      case 'monitor_cancel': {
        const key = JSON.stringify(params[0]);
        if (!session.monitors.delete(key)) throw new RpcError({ error: 'unknown monitor', details: `no monitor with id ${key}` });
        return {};
      }
      default:
        throw RpcError.unknownMethod(method);
    }
  }

  private monitor(session: Session, params: unknown[]): unknown {
    this.checkDb(params[0]);
    if (params.length !== 3) throw new RpcError({ error: 'syntax error', details: 'monitor takes [db-name, monitor-id, monitor-requests]' });
    const key = JSON.stringify(params[1]);
    if (session.monitors.has(key)) throw new RpcError({ error: 'duplicate monitor ID', details: `monitor ${key} already exists` });
    let m: Monitor;
    try {
      m = new Monitor(params[1], this.db, params[2]);
    } catch (e) {
      if (e instanceof OvsdbError) throw new RpcError(e.toJson());
      throw e;
    }
    // Synchronous with respect to commits: no change can fall between initial and registration.
    session.monitors.set(key, m);
    return m.initial(this.db);
  }

  /** Runs a transaction through the commit queue (also usable in process, conn null). */
  transact(ops: unknown[], conn: JsonRpcConnection | null = null): Promise<unknown[]> {
    if (this.closed) return Promise.reject(new RpcError({ error: 'not supported', details: 'server is shutting down' }));
    return new Promise((resolve) => {
      this.enqueue({ conn, ops, received: Date.now(), resolve, timer: null });
    });
  }

  private enqueue(job: Job): void {
    this.queue = this.queue
      .then(() => this.run(job))
      .catch((e) => {
        this.log.error({ err: (e as Error).stack }, 'transaction failed unexpectedly');
        job.resolve([{ error: 'internal error', details: (e as Error).message }]);
      });
  }

  private async run(job: Job): Promise<void> {
    const out = executeTransaction(this.db, job.ops, { elapsedMs: Date.now() - job.received });
    if (out.blockedMs !== null) {
      this.blocked.add(job);
      if (out.blockedMs !== Infinity) job.timer = setTimeout(() => this.unblock(job), out.blockedMs + 1);
      return;
    }
    if (out.changes) {
      const committed = await this.commit(out.changes, out.comments);
      if (committed) {
        out.results.push(committed);
        job.resolve(out.results);
        return;
      }
    }
    job.resolve(out.results);
  }

  /** Makes changes durable then current; returns an error result if the write failed. */
  private async commit(changes: ChangeSet, comments: string[]): Promise<object | null> {
    const rec = changesToRecord(this.db.schema, changes);
    if (rec && this.storage) {
      rec._date = Date.now();
      if (comments.length) rec._comment = comments.join('\n');
      try {
        await this.storage.append(rec);
      } catch (e) {
        this.log.error({ err: (e as Error).message }, 'commit not written; transaction failed');
        return { error: 'I/O error', details: (e as Error).message };
      }
    }
    this.db.apply(changes);
    this.commits++;
    this.broadcast(changes);
    for (const job of [...this.blocked]) this.unblock(job);
    if (this.storage?.needsCompaction()) void this.compact();
    return null;
  }

  private unblock(job: Job): void {
    if (!this.blocked.delete(job)) return;
    if (job.timer) clearTimeout(job.timer);
    job.timer = null;
    // A parked transaction whose client went away is dropped, not retried.
    if (!job.conn?.isClosed) this.enqueue(job);
  }

  private broadcast(changes: ChangeSet): void {
    for (const [conn, s] of this.sessions) {
      for (const m of s.monitors.values()) {
        const u = m.update(changes);
        if (u) conn.notify('update', [m.id, u]);
      }
    }
  }

  /** Rewrites the database file as one snapshot (through the commit queue). */
  compact(): Promise<void> {
    const storage = this.storage;
    if (!storage) return Promise.resolve();
    const p = this.queue.then(async () => {
      const before = storage.size;
      await storage.compact(this.db.schema.json, snapshotRecord(this.db));
      this.log.info({ before, after: storage.size }, 'compacted database');
    });
    this.queue = p.catch((e) => this.log.error({ err: (e as Error).message }, 'compaction failed'));
    return p;
  }

  /** Stops taking transactions, fails parked ones, waits for the queue, closes storage. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of [...this.blocked]) {
      this.blocked.delete(job);
      if (job.timer) clearTimeout(job.timer);
      job.resolve([{ error: 'timed out', details: 'server is shutting down' }, ...job.ops.slice(1).map(() => null)]);
    }
    await this.queue.catch(() => undefined);
    await this.storage?.close();
  }
}
