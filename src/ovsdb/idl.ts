/*
 * Idl: an in-memory replica of chosen tables and columns of a vsdb database, kept current by a
 * monitor. vswitchd reads its configuration from it; tools use it to wait for changes. Rows are
 * plain objects of column -> JSON datum (RFC 7047 notation) plus _uuid; read them with the
 * helpers in datum.ts. Writes go through `idl.client.transact`. Control path.
 */
import { VswitchError } from '../lib/errors.js';
import { VsdbClient, type TableUpdates } from './client.js';

export type Row = Record<string, unknown> & { _uuid: string };

export class Idl {
  private readonly tables = new Map<string, Map<string, Row>>();
  private readonly listeners: ((u: TableUpdates) => void)[] = [];

  private constructor(readonly client: VsdbClient, readonly db: string, tableNames: string[]) {
    for (const t of tableNames) this.tables.set(t, new Map());
  }

  /** Connects, monitors `tables` (null: all columns) and resolves once the replica is loaded. */
  static async open(sockPath: string, db: string, tables: Record<string, string[] | null>, timeoutMs?: number): Promise<Idl> {
    const client = await VsdbClient.connect(sockPath, timeoutMs);
    const idl = new Idl(client, db, Object.keys(tables));
    const requests: Record<string, { columns?: string[] }> = {};
    for (const [t, cols] of Object.entries(tables)) requests[t] = cols ? { columns: cols } : {};
    try {
      const initial = await client.monitor(db, ['idl', db], requests, (u) => idl.apply(u));
      idl.apply(initial);
    } catch (e) {
      client.close();
      throw e;
    }
    return idl;
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
  onChange(cb: (updates: TableUpdates) => void): void {
    this.listeners.push(cb);
  }

  close(): void {
    this.client.close();
  }

  private apply(updates: TableUpdates): void {
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
    for (const cb of this.listeners) cb(updates);
  }
}
