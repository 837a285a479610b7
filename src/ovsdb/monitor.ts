/*
 * One "monitor" (RFC 7047 section 4.1.5): which tables and columns a client watches and which
 * kinds of change it wants (initial, insert, delete, modify). Builds the initial contents and the
 * <table-updates> for each committed change set. server.ts owns the monitors of each
 * connection and sends the "update" notifications. Control path.
 *
 * Update shape: insert -> {new: all monitored columns}; delete -> {old: all monitored columns};
 * modify -> {old: only the monitored columns that changed, new: all monitored columns}. A modify
 * that touches no monitored column sends nothing.
 */
import { datumEquals, datumToJson } from './datum.js';
import { syntaxError } from './error.js';
import { columnsOf, rowGet, rowToJson, type ChangeSet, type Database, type Row } from './database.js';
import type { ColumnSchema, TableSchema } from './schema.js';

export interface MonitorSelect {
  initial: boolean;
  insert: boolean;
  delete: boolean;
  modify: boolean;
}

export type RowUpdate = { old?: Record<string, unknown>; new?: Record<string, unknown> };
export type TableUpdatesJson = Record<string, Record<string, RowUpdate>>;

interface TableMonitor {
  table: TableSchema;
  columns: ColumnSchema[];
  select: MonitorSelect;
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function parseSelect(json: unknown): MonitorSelect {
  if (json === undefined) return { initial: true, insert: true, delete: true, modify: true };
  if (!isObj(json)) throw syntaxError('"select" must be an object');
  const flag = (k: string): boolean => {
    const v = json[k];
    if (v === undefined) return true;
    if (typeof v !== 'boolean') throw syntaxError(`"select" member "${k}" must be a boolean`);
    return v;
  };
  return { initial: flag('initial'), insert: flag('insert'), delete: flag('delete'), modify: flag('modify') };
}

export class Monitor {
  readonly id: unknown;
  private readonly tables = new Map<string, TableMonitor>();

  /** Parses <monitor-requests>: {table: <monitor-request> | [<monitor-request>...]}. Several
   * requests for one table are merged (union of columns and of select flags). */
  constructor(id: unknown, db: Database, requests: unknown) {
    this.id = id;
    if (!isObj(requests)) throw syntaxError('monitor requests must be an object mapping table names to requests');
    for (const [tname, reqs] of Object.entries(requests)) {
      const table = db.tableSchema(tname);
      const list = Array.isArray(reqs) ? reqs : [reqs];
      const columns = new Map<string, ColumnSchema>();
      const select: MonitorSelect = { initial: false, insert: false, delete: false, modify: false };
      for (const r of list) {
        if (!isObj(r)) throw syntaxError(`monitor request for "${tname}" must be an object`);
        for (const c of columnsOf(table, r.columns, false)) {
          if (c.name === '_uuid') continue;
          columns.set(c.name, c);
        }
        const s = parseSelect(r.select);
        select.initial ||= s.initial;
        select.insert ||= s.insert;
        select.delete ||= s.delete;
        select.modify ||= s.modify;
      }
      this.tables.set(tname, { table, columns: [...columns.values()], select });
    }
  }

  /** Current contents of every monitored table with select.initial, as {new: ...} updates. */
  initial(db: Database): TableUpdatesJson {
    const out: TableUpdatesJson = {};
    for (const [tname, tm] of this.tables) {
      if (!tm.select.initial) continue;
      const rows: Record<string, RowUpdate> = {};
      let any = false;
      for (const [uuid, row] of db.rows(tname)) {
        rows[uuid] = { new: rowToJson(row, tm.columns) };
        any = true;
      }
      if (any) out[tname] = rows;
    }
    return out;
  }

  /** The updates this monitor should see for a committed change set, or null if none. */
  update(changes: ChangeSet): TableUpdatesJson | null {
    let out: TableUpdatesJson | null = null;
    for (const [tname, rows] of changes) {
      const tm = this.tables.get(tname);
      if (!tm) continue;
      for (const [uuid, ch] of rows) {
        const u = this.rowUpdate(tm, ch.old, ch.new);
        if (!u) continue;
        out ??= {};
        (out[tname] ??= {})[uuid] = u;
      }
    }
    return out;
  }

  private rowUpdate(tm: TableMonitor, old: Row | null, cur: Row | null): RowUpdate | null {
    if (!old && cur) return tm.select.insert ? { new: rowToJson(cur, tm.columns) } : null;
    if (old && !cur) return tm.select.delete ? { old: rowToJson(old, tm.columns) } : null;
    if (!old || !cur || !tm.select.modify) return null;
    const changed: Record<string, unknown> = {};
    let any = false;
    for (const c of tm.columns) {
      const a = rowGet(old, c.name);
      if (datumEquals(a, rowGet(cur, c.name))) continue;
      changed[c.name] = datumToJson(a, c.type);
      any = true;
    }
    if (!any) return null;
    return { old: changed, new: rowToJson(cur, tm.columns) };
  }
}
