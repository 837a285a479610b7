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

/** monitor_cond updates: {initial|insert: row, delete: null, modify: diff}. */
export type RowUpdate2 = { initial?: Record<string, unknown>; insert?: Record<string, unknown>; delete?: null; modify?: Record<string, unknown> };
export type TableUpdates2 = Record<string, Record<string, RowUpdate2>>;

export interface MonitorCondRequest extends MonitorRequest {
  /** Conditions ([column, function, value]) and booleans; a row is monitored if any holds. */
  where?: unknown[];
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
  private readonly monitors = new Map<string, { cb: (u: any) => void; held: unknown[] | null }>();
  private readonly lockListeners: ((event: 'locked' | 'stolen', name: string) => void)[] = [];
  /** Timeout for every request (0: wait forever). */
  requestTimeoutMs = 0;

  private constructor(readonly conn: JsonRpcConnection) {
    conn.onNotification((method, params) => {
      if ((method === 'locked' || method === 'stolen') && typeof params[0] === 'string') {
        for (const cb of this.lockListeners) cb(method, params[0]);
        return;
      }
      if (method !== 'update' && method !== 'update2' && method !== 'update3') return;
      const m = this.monitors.get(JSON.stringify(params[0]));
      const u = method === 'update3' ? params[2] : params[1];
      if (!m || u === undefined) return;
      if (m.held) m.held.push(u);
      else m.cb(u);
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
  monitor(db: string, id: unknown, requests: Record<string, MonitorRequest>, onUpdate: (u: TableUpdates) => void): Promise<TableUpdates> {
    return this.startMonitor('monitor', [db, id, requests], onUpdate) as Promise<TableUpdates>;
  }

  /** Starts a monitor_cond (update2 notifications); resolves with the initial rows. */
  monitorCond(db: string, id: unknown, requests: Record<string, MonitorCondRequest>, onUpdate: (u: TableUpdates2) => void): Promise<TableUpdates2> {
    return this.startMonitor('monitor_cond', [db, id, requests], onUpdate) as Promise<TableUpdates2>;
  }

  /** Changes the conditions of a monitor_cond monitor (its id becomes `newId`). */
  async monitorCondChange(id: unknown, newId: unknown, requests: Record<string, { where?: unknown[] }>): Promise<void> {
    const m = this.monitors.get(JSON.stringify(id));
    if (m) this.monitors.set(JSON.stringify(newId), m);
    try {
      await this.call('monitor_cond_change', [id, newId, requests]);
    } catch (e) {
      if (JSON.stringify(id) !== JSON.stringify(newId)) this.monitors.delete(JSON.stringify(newId));
      throw e;
    }
    if (JSON.stringify(id) !== JSON.stringify(newId)) this.monitors.delete(JSON.stringify(id));
  }

  private async startMonitor(method: string, params: unknown[], onUpdate: (u: any) => void): Promise<unknown> {
    const key = JSON.stringify(params[1]);
    const m = { cb: onUpdate, held: [] as unknown[] | null };
    this.monitors.set(key, m);
    let initial: unknown;
    try {
      initial = await this.call(method, params);
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

  /** Asks for lock `name`: true if owned now; else a "locked" event follows when granted. */
  async lock(name: string): Promise<boolean> {
    return ((await this.call('lock', [name])) as { locked: boolean }).locked;
  }

  /** Takes lock `name` from its owner (who gets a "stolen" event). */
  async steal(name: string): Promise<void> {
    await this.call('steal', [name]);
  }

  async unlock(name: string): Promise<void> {
    await this.call('unlock', [name]);
  }

  /** Called on the server's "locked" and "stolen" notifications. */
  onLock(cb: (event: 'locked' | 'stolen', name: string) => void): void {
    this.lockListeners.push(cb);
  }

  async getServerId(): Promise<string> {
    return (await this.call('get_server_id', [])) as string;
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
