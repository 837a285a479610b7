/*
 * VsdbClient: RFC 7047 client for vsdb over JSON-RPC, used by vswitchd (through idl.ts), vsctl
 * and the other tools. Thin: one method per RPC, transaction errors raised as TransactError,
 * "update" notifications routed to the monitor that asked for them. Control path.
 */
import { VswitchError } from '../lib/errors.js';
import { connectTarget, type JsonRpcConnection } from '../lib/jsonrpc.js';

export type RowUpdate = { old?: Record<string, unknown>; new?: Record<string, unknown> };
export type TableUpdates = Record<string, Record<string, RowUpdate>>;

export interface MonitorRequest {
  columns?: string[];
  select?: { initial?: boolean; insert?: boolean; delete?: boolean; modify?: boolean };
}

/** Thrown by transact() when an operation or the commit failed; `.results` holds the raw
 * per-op results, `.index` the position of the first error (ops.length for a commit error). */
export class TransactError extends VswitchError {
  readonly results: unknown[];
  readonly index: number;
  readonly error: string;
  readonly details: string;
  constructor(results: unknown[], index: number) {
    const r = results[index] as { error?: unknown; details?: unknown };
    const error = String(r.error);
    const details = typeof r.details === 'string' ? r.details : '';
    super('TRANSACT', details ? `${error}: ${details}` : error);
    this.name = 'TransactError';
    this.results = results;
    this.index = index;
    this.error = error;
    this.details = details;
  }
}

export class VsdbClient {
  /** Per monitor id: its callback, and updates held back until the initial reply is delivered. */
  private readonly monitors = new Map<string, { cb: (u: TableUpdates) => void; held: TableUpdates[] | null }>();
  /** Timeout for every request (0: wait forever). */
  requestTimeoutMs = 0;

  private constructor(readonly conn: JsonRpcConnection) {
    conn.onNotification((method, params) => {
      if (method !== 'update' || params.length < 2) return;
      const m = this.monitors.get(JSON.stringify(params[0]));
      if (!m) return;
      if (m.held) m.held.push(params[1] as TableUpdates);
      else m.cb(params[1] as TableUpdates);
    });
  }

  /** Connects to a vsdb socket ("/path", "unix:/path" or "tcp:host:port"); ConnectError if it cannot. */
  static async connect(sockPath: string, timeoutMs = 5000): Promise<VsdbClient> {
    return new VsdbClient(await connectTarget(sockPath, timeoutMs));
  }

  private call(method: string, params: unknown[]): Promise<unknown> {
    return this.conn.request(method, params, this.requestTimeoutMs);
  }

  async listDbs(): Promise<string[]> {
    return (await this.call('list_dbs', [])) as string[];
  }

  async getSchema(db: string): Promise<any> {
    return this.call('get_schema', [db]);
  }

  /** Runs a transaction; resolves with the per-op results, throws TransactError if any failed. */
  async transact(db: string, ops: object[]): Promise<any[]> {
    const results = await this.call('transact', [db, ...ops]);
    if (!Array.isArray(results)) throw new VswitchError('TRANSACT', `transact: malformed reply ${JSON.stringify(results)}`);
    const bad = results.findIndex((r) => r !== null && typeof r === 'object' && 'error' in r);
    if (bad >= 0) throw new TransactError(results, bad);
    return results;
  }

  /** Starts a monitor; resolves with the initial contents, then calls onUpdate per change.
   * Updates that arrive with the reply are held until after the caller's continuation ran, so
   * the caller always sees the initial contents first. */
  async monitor(db: string, id: unknown, requests: Record<string, MonitorRequest>, onUpdate: (u: TableUpdates) => void): Promise<TableUpdates> {
    const key = JSON.stringify(id);
    const m = { cb: onUpdate, held: [] as TableUpdates[] | null };
    this.monitors.set(key, m);
    let initial: TableUpdates;
    try {
      initial = (await this.call('monitor', [db, id, requests])) as TableUpdates;
    } catch (e) {
      if (this.monitors.get(key) === m) this.monitors.delete(key);
      throw e;
    }
    setImmediate(() => {
      const held = m.held ?? [];
      m.held = null;
      for (const u of held) m.cb(u);
    });
    return initial;
  }

  async monitorCancel(id: unknown): Promise<void> {
    await this.call('monitor_cancel', [id]);
    this.monitors.delete(JSON.stringify(id));
  }

  async echo(): Promise<void> {
    await this.call('echo', []);
  }

  close(): void {
    this.conn.close();
  }

  onClose(cb: () => void): void {
    if (this.conn.isClosed) queueMicrotask(cb);
    else this.conn.once('close', cb);
  }
}
