/*
 * The committed contents of one database: rows per table, keyed by uuid. Rows are immutable
 * once committed (a transaction builds new Row objects and apply() swaps them in), so monitors
 * and storage can hold old rows safely. Also converts rows and change sets to JSON: rows for
 * select/monitor replies, change sets to storage records and back. Used by transaction.ts,
 * server.ts and storage loading. Control path.
 */
import { randomUUID } from 'node:crypto';
import { datumEquals, datumFromJson, datumToJson, defaultDatum, type Datum } from './datum.js';
import { OvsdbError, syntaxError } from './error.js';
import { findColumn, UUID_COLUMN_TYPE, type ColumnSchema, type DbSchema, type TableSchema } from './schema.js';

export interface Row {
  readonly uuid: string;
  readonly version: string;
  /** Every user column of the table has an entry. */
  readonly cols: Map<string, Datum>;
}

/** old null: inserted; new null: deleted; both: modified. */
export interface RowChange {
  old: Row | null;
  new: Row | null;
}

/** table name -> row uuid -> change. */
export type ChangeSet = Map<string, Map<string, RowChange>>;

export const newUuid = (): string => randomUUID();

export class Database {
  readonly schema: DbSchema;
  private readonly tables = new Map<string, Map<string, Row>>();

  constructor(schema: DbSchema) {
    this.schema = schema;
    for (const name of schema.tables.keys()) this.tables.set(name, new Map());
  }

  get name(): string {
    return this.schema.name;
  }

  /** Committed rows of a table (read only: change them through a transaction). */
  rows(table: string): ReadonlyMap<string, Row> {
    const t = this.tables.get(table);
    if (!t) throw syntaxError(`no table named "${table}"`);
    return t;
  }

  tableSchema(table: string): TableSchema {
    const t = this.schema.tables.get(table);
    if (!t) throw syntaxError(`no table named "${table}"`);
    return t;
  }

  rowCount(): number {
    let n = 0;
    for (const t of this.tables.values()) n += t.size;
    return n;
  }

  /** Makes a committed change set current. */
  apply(changes: ChangeSet): void {
    for (const [table, rows] of changes) {
      const t = this.tables.get(table)!;
      for (const [uuid, ch] of rows) {
        if (ch.new) t.set(uuid, ch.new);
        else t.delete(uuid);
      }
    }
  }
}

/** A row with every column at its default value. */
export function defaultRow(table: TableSchema, uuid: string): Row {
  const cols = new Map<string, Datum>();
  for (const c of table.columns.values()) cols.set(c.name, defaultDatum(c.type));
  return { uuid, version: newUuid(), cols };
}

export function rowGet(row: Row, column: string): Datum {
  if (column === '_uuid') return { keys: [row.uuid], values: null };
  if (column === '_version') return { keys: [row.version], values: null };
  const d = row.cols.get(column);
  if (!d) throw syntaxError(`no column "${column}"`);
  return d;
}

/** Resolves column names for a "columns" member; absent means every user column. */
export function columnsOf(table: TableSchema, names: unknown, withImplicit: boolean): ColumnSchema[] {
  if (names === undefined) {
    const all = [...table.columns.values()];
    return withImplicit ? [findColumn(table, '_uuid')!, findColumn(table, '_version')!, ...all] : all;
  }
  if (!Array.isArray(names)) throw syntaxError('"columns" must be an array of column names');
  return names.map((n) => {
    const c = typeof n === 'string' ? findColumn(table, n) : undefined;
    if (!c) throw syntaxError(`no column ${JSON.stringify(n)} in table "${table.name}"`);
    return c;
  });
}

export function rowToJson(row: Row, columns: ColumnSchema[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of columns) out[c.name] = datumToJson(rowGet(row, c.name), c.type);
  return out;
}

// ---- Storage records: {"<table>": {"<uuid>": null | {<changed persistent columns>}}, "_date": ms} ----

/** The durable part of a change set, or null if only ephemeral columns changed. */
export function changesToRecord(schema: DbSchema, changes: ChangeSet): Record<string, unknown> | null {
  const rec: Record<string, Record<string, unknown>> = {};
  let any = false;
  for (const [tname, rows] of changes) {
    const ts = schema.tables.get(tname)!;
    for (const [uuid, ch] of rows) {
      let out: Record<string, unknown> | null = null;
      if (!ch.new) out = null;
      else {
        out = {};
        let changed = ch.old === null;
        for (const c of ts.columns.values()) {
          if (c.ephemeral) continue;
          const nd = ch.new.cols.get(c.name)!;
          const base = ch.old ? ch.old.cols.get(c.name)! : defaultDatum(c.type);
          if (!datumEquals(nd, base)) {
            out[c.name] = datumToJson(nd, c.type);
            changed = true;
          }
        }
        if (!changed) continue;
      }
      (rec[tname] ??= {})[uuid] = out;
      any = true;
    }
  }
  return any ? rec : null;
}

/** Replays one storage record into `db` (inserting, merging or deleting rows). */
export function applyRecord(db: Database, record: unknown): void {
  if (!record || typeof record !== 'object' || Array.isArray(record)) throw syntaxError('record must be an object');
  const changes: ChangeSet = new Map();
  for (const [tname, rows] of Object.entries(record)) {
    if (tname.startsWith('_')) continue;
    const ts = db.tableSchema(tname);
    if (!rows || typeof rows !== 'object') throw syntaxError(`record table "${tname}" must be an object`);
    const tch = new Map<string, RowChange>();
    changes.set(tname, tch);
    for (const [uuid, rjson] of Object.entries(rows as Record<string, unknown>)) {
      datumFromJson(['uuid', uuid], UUID_COLUMN_TYPE);
      const old = db.rows(tname).get(uuid) ?? null;
      if (rjson === null) {
        if (!old) throw new OvsdbError('referential integrity violation', `record deletes unknown ${tname} row ${uuid}`);
        tch.set(uuid, { old, new: null });
        continue;
      }
      const base = old ?? defaultRow(ts, uuid);
      const cols = new Map(base.cols);
      for (const [cname, v] of Object.entries(rjson as Record<string, unknown>)) {
        const c = ts.columns.get(cname);
        if (!c) throw syntaxError(`record names unknown column ${tname}.${cname}`);
        cols.set(cname, datumFromJson(v, c.type));
      }
      tch.set(uuid, { old, new: { uuid, version: newUuid(), cols } });
    }
  }
  db.apply(changes);
}

/** The whole database as one record (for compaction). */
export function snapshotRecord(db: Database): Record<string, unknown> {
  const changes: ChangeSet = new Map();
  for (const tname of db.schema.tables.keys()) {
    const m = new Map<string, RowChange>();
    for (const [uuid, row] of db.rows(tname)) m.set(uuid, { old: null, new: row });
    changes.set(tname, m);
  }
  return changesToRecord(db.schema, changes) ?? {};
}
