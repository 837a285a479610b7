/*
 * Idl: an in-memory replica of chosen tables and columns of a vsdb database, kept current by a
 * monitor. vswitchd reads its configuration from it; tools use it to wait for changes. Rows are
 * plain objects of column -> JSON datum (RFC 7047 notation) plus _uuid; read them with the
 * helpers in datum.ts. Writes go through `idl.client.transact`. Control path.
 *
 * With `reconnect: true`, a lost connection (server restart) is retried with backoff; once a
 * new monitor is in place the replica is replaced by its contents and listeners get one call
 * with `{resync: true}` whose updates delete every row that is gone and carry every current row
 * as `new`. Without it (the default), the Idl stops at the first disconnect (client.onClose).
 */
import { VswitchError } from '../lib/errors.js';
import { VsdbClient, type TableUpdates } from './client.js';

export type Row = Record<string, unknown> & { _uuid: string };

export interface IdlChangeInfo {
  /** True when the replica was rebuilt from scratch after a reconnect. */
  resync: boolean;
}

export interface IdlOptions {
  /** Reconnect and re-monitor when the connection is lost (default false). */
  reconnect?: boolean;
  /** Longest wait between reconnect attempts (default 5000 ms; the first is 100 ms). */
  maxBackoffMs?: number;
}

type Listener = (updates: TableUpdates, info: IdlChangeInfo) => void;

export class Idl {
  private readonly tables = new Map<string, Map<string, Row>>();
  private readonly listeners: Listener[] = [];
  private readonly statusListeners: ((connected: boolean) => void)[] = [];
  private current: VsdbClient;
  private closed = false;
  private isConnected = true;
  /** Successful reconnects so far. */
  reconnects = 0;

  private constructor(
    client: VsdbClient,
    readonly db: string,
    private readonly sockPath: string,
    private readonly requests: Record<string, { columns?: string[] }>,
    private readonly timeoutMs: number | undefined,
    private readonly opts: IdlOptions,
  ) {
    this.current = client;
    for (const t of Object.keys(requests)) this.tables.set(t, new Map());
  }

  /** Connects, monitors `tables` (null: all columns) and resolves once the replica is loaded. */
  static async open(sockPath: string, db: string, tables: Record<string, string[] | null>, timeoutMs?: number, opts: IdlOptions = {}): Promise<Idl> {
    const requests: Record<string, { columns?: string[] }> = {};
    for (const [t, cols] of Object.entries(tables)) requests[t] = cols ? { columns: cols } : {};
    const client = await VsdbClient.connect(sockPath, timeoutMs);
    const idl = new Idl(client, db, sockPath, requests, timeoutMs, opts);
    try {
      const initial = await idl.startMonitor(client);
      idl.apply(initial, false);
    } catch (e) {
      client.close();
      throw e;
    }
    idl.watch(client);
    return idl;
  }

  /** The client of the current connection (a new one after each reconnect). */
  get client(): VsdbClient {
    return this.current;
  }

  /** False while reconnecting. */
  get connected(): boolean {
    return this.isConnected;
  }

  /** Current rows of a monitored table (the live map: do not modify). */
  rows(table: string): Map<string, Row> {
    const t = this.tables.get(table);
    if (!t) throw new VswitchError('IDL_TABLE', `table "${table}" is not monitored by this Idl`);
    return t;
  }

  get(table: string, uuid: string): Row | undefined {
    return this.tables.get(table)?.get(uuid);
  }

  /** Called after each update has been applied to the replica. */
  onChange(cb: Listener): void {
    this.listeners.push(cb);
  }

  /** Called with false when the connection is lost and true once re-monitored (reconnect only). */
  onStatus(cb: (connected: boolean) => void): void {
    this.statusListeners.push(cb);
  }

  close(): void {
    this.closed = true;
    this.current.close();
  }

  private startMonitor(client: VsdbClient): Promise<TableUpdates> {
    return client.monitor(this.db, ['idl', this.db], this.requests, (u) => {
      if (client === this.current) this.apply(u, false);
    });
  }

  private watch(client: VsdbClient): void {
    if (!this.opts.reconnect) return;
    client.onClose(() => {
      if (this.closed || client !== this.current) return;
      this.isConnected = false;
      for (const cb of this.statusListeners) cb(false);
      void this.reconnect();
    });
  }

  private async reconnect(): Promise<void> {
    let delay = 100;
    const max = this.opts.maxBackoffMs ?? 5000;
    while (!this.closed) {
      await new Promise((r) => setTimeout(r, delay));
      if (this.closed) return;
      let client: VsdbClient | null = null;
      try {
        client = await VsdbClient.connect(this.sockPath, this.timeoutMs);
        this.current = client;
        const initial = await this.startMonitor(client);
        if (this.closed) {
          client.close();
          return;
        }
        this.resync(initial);
        this.reconnects++;
        this.isConnected = true;
        this.watch(client);
        for (const cb of this.statusListeners) cb(true);
        return;
      } catch {
        client?.close();
        delay = Math.min(delay * 2, max);
      }
    }
  }

  /** Replaces the replica with `initial`; tells listeners what disappeared and what is there. */
  private resync(initial: TableUpdates): void {
    const updates: TableUpdates = {};
    for (const [tname, t] of this.tables) {
      const fresh = initial[tname] ?? {};
      const out: TableUpdates[string] = {};
      for (const [uuid, row] of t) {
        if (!fresh[uuid]) {
          const { _uuid: _, ...old } = row;
          out[uuid] = { old };
        }
      }
      t.clear();
      for (const [uuid, u] of Object.entries(fresh)) {
        if (!u.new) continue;
        t.set(uuid, { ...u.new, _uuid: uuid });
        out[uuid] = { new: u.new };
      }
      if (Object.keys(out).length) updates[tname] = out;
    }
    for (const cb of this.listeners) cb(updates, { resync: true });
  }

  private apply(updates: TableUpdates, resync: boolean): void {
    for (const [tname, rows] of Object.entries(updates)) {
      const t = this.tables.get(tname);
      if (!t) continue;
      for (const [uuid, u] of Object.entries(rows)) {
        if (!u.new) t.delete(uuid);
        else {
          const prev = t.get(uuid);
          t.set(uuid, { ...(prev ?? {}), ...u.new, _uuid: uuid });
        }
      }
    }
    for (const cb of this.listeners) cb(updates, { resync });
  }
}
