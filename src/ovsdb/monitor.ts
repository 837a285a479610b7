/*
 * One monitor: which tables, columns, rows (conditions) and kinds of change a client watches.
 * Builds the initial contents and the table updates for each committed change set, in the
 * three shapes clients ask for:
 *   "monitor" (RFC 7047 4.1.5), notification "update": insert {new: all monitored columns},
 *     delete {old: all}, modify {old: only the changed columns, new: all};
 *   "monitor_cond" (ovsdb-server(7) 4.1.12), notification "update2", and "monitor_cond_since"
 *     (4.1.15), notification "update3": {initial|insert: columns not at their default},
 *     {delete: null}, {modify: the diff of the changed columns} (scalar: new value; set:
 *     elements in only one of old/new; map: pairs whose key is in only one, plus changed keys
 *     with their new value). Their "where" selects rows: a row is in the monitor if any clause
 *     (a condition or true/false) holds; a row that moves in or out is sent as insert or delete.
 * server.ts owns the monitors of each connection and sends the notifications. Control path.
 */
import { conditionHolds, parseWhere, type Condition } from './condition.js';
import { canonical, datumEquals, datumToJson, defaultDatum, compareAtoms, type Atom, type Datum } from './datum.js';
import { syntaxError } from './error.js';
import { columnsOf, rowGet, rowToJson, type ChangeSet, type Database, type Row } from './database.js';
import { isScalarType, relaxedType, type ColumnSchema, type TableSchema } from './schema.js';

export type MonitorKind = 'monitor' | 'monitor_cond' | 'monitor_cond_since';

export interface MonitorSelect {
  initial: boolean;
  insert: boolean;
  delete: boolean;
  modify: boolean;
}

export type RowUpdate = { old?: Record<string, unknown>; new?: Record<string, unknown> };
export type RowUpdate2 = { initial?: Record<string, unknown>; insert?: Record<string, unknown>; delete?: null; modify?: Record<string, unknown> };
export type TableUpdatesJson = Record<string, Record<string, RowUpdate | RowUpdate2>>;

/** One clause of a monitor condition: a condition on the row, or a constant. */
type Clause = Condition | boolean;

interface TableMonitor {
  table: TableSchema;
  columns: ColumnSchema[];
  select: MonitorSelect;
  /** null: every row. Otherwise a row is selected if any clause holds. */
  where: Clause[] | null;
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

/** Parses a monitor "where": conditions and booleans; absent or [] means every row. */
function parseClauses(json: unknown, table: TableSchema): Clause[] | null {
  if (json === undefined) return null;
  if (!Array.isArray(json)) throw syntaxError('"where" must be an array of conditions');
  if (json.length === 0) return null;
  const out: Clause[] = [];
  for (const c of json) {
    if (typeof c === 'boolean') out.push(c);
    else out.push(...parseWhere([c], table));
  }
  return out.some((c) => c === true) ? null : out;
}

function matches(tm: TableMonitor, row: Row): boolean {
  if (tm.where === null) return true;
  for (const c of tm.where) if (c === true || (c !== false && conditionHolds(row, c))) return true;
  return false;
}

/** The update2 "modify" difference between two values of a column (see the header). */
export function datumDiff(old: Datum, cur: Datum, column: ColumnSchema): Datum {
  if (isScalarType(column.type)) return cur;
  const keys: Atom[] = [];
  const values: Atom[] | null = old.values ? [] : null;
  let i = 0;
  let j = 0;
  while (i < old.keys.length || j < cur.keys.length) {
    const c = i >= old.keys.length ? 1 : j >= cur.keys.length ? -1 : compareAtoms(old.keys[i], cur.keys[j]);
    if (c < 0) {
      keys.push(old.keys[i]);
      values?.push(old.values![i]);
      i++;
    } else if (c > 0) {
      keys.push(cur.keys[j]);
      values?.push(cur.values![j]);
      j++;
    } else {
      if (values && old.values![i] !== cur.values![j]) {
        keys.push(cur.keys[j]);
        values.push(cur.values![j]);
      }
      i++;
      j++;
    }
  }
  return canonical(keys, values);
}

export class Monitor {
  id: unknown;
  readonly kind: MonitorKind;
  private readonly tables = new Map<string, TableMonitor>();

  /** Parses <monitor-requests> or <monitor-cond-requests>: {table: request | [request...]}.
   * Several requests for one table are merged (union of columns, select flags and clauses). */
  constructor(id: unknown, db: Database, requests: unknown, kind: MonitorKind = 'monitor') {
    this.id = id;
    this.kind = kind;
    if (!isObj(requests)) throw syntaxError('monitor requests must be an object mapping table names to requests');
    for (const [tname, reqs] of Object.entries(requests)) {
      const table = db.tableSchema(tname);
      const list = Array.isArray(reqs) ? reqs : [reqs];
      const columns = new Map<string, ColumnSchema>();
      const select: MonitorSelect = { initial: false, insert: false, delete: false, modify: false };
      let where: Clause[] | null = [];
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
        if (r.where !== undefined && kind === 'monitor') throw syntaxError('"where" needs monitor_cond');
        const w = parseClauses(r.where, table);
        where = where === null || w === null ? null : [...where, ...w];
      }
      if (list.length === 0) where = null;
      this.tables.set(tname, { table, columns: [...columns.values()], select, where });
    }
  }

  /** The notification method for this monitor's updates. */
  get method(): 'update' | 'update2' | 'update3' {
    return this.kind === 'monitor' ? 'update' : this.kind === 'monitor_cond' ? 'update2' : 'update3';
  }

  /** Current contents of every monitored table with select.initial (and matching rows). */
  initial(db: Database): TableUpdatesJson {
    const out: TableUpdatesJson = {};
    for (const [tname, tm] of this.tables) {
      if (!tm.select.initial) continue;
      const rows: Record<string, RowUpdate | RowUpdate2> = {};
      let any = false;
      for (const [uuid, row] of db.rows(tname)) {
        if (!matches(tm, row)) continue;
        rows[uuid] = this.kind === 'monitor' ? { new: rowToJson(row, tm.columns) } : { initial: this.sparseRow(tm, row) };
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
        const u = this.kind === 'monitor' ? this.rowUpdate(tm, ch.old, ch.new) : this.rowUpdate2(tm, ch.old, ch.new);
        if (!u) continue;
        out ??= {};
        (out[tname] ??= {})[uuid] = u;
      }
    }
    return out;
  }

  /** monitor_cond_change: installs new clauses for the named tables and returns the inserts and
   * deletes that follow from them, or null. */
  changeConditions(db: Database, requests: unknown): TableUpdatesJson | null {
    if (this.kind === 'monitor') throw syntaxError('monitor_cond_change needs a monitor created by monitor_cond');
    if (!isObj(requests)) throw syntaxError('monitor_cond_change requests must be an object');
    const next = new Map<string, Clause[] | null>();
    for (const [tname, reqs] of Object.entries(requests)) {
      const tm = this.tables.get(tname);
      if (!tm) throw syntaxError(`table "${tname}" is not monitored`);
      let where: Clause[] | null = [];
      for (const r of Array.isArray(reqs) ? reqs : [reqs]) {
        if (!isObj(r)) throw syntaxError(`condition change for "${tname}" must be an object`);
        const w = parseClauses(r.where, tm.table);
        where = where === null || w === null ? null : [...where, ...w];
      }
      next.set(tname, where);
    }
    let out: TableUpdatesJson | null = null;
    for (const [tname, where] of next) {
      const tm = this.tables.get(tname)!;
      const before: TableMonitor = { ...tm };
      tm.where = where;
      for (const [uuid, row] of db.rows(tname)) {
        const was = matches(before, row);
        const is = matches(tm, row);
        let u: RowUpdate2 | null = null;
        if (is && !was && tm.select.insert) u = { insert: this.sparseRow(tm, row) };
        else if (was && !is && tm.select.delete) u = { delete: null };
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

  private rowUpdate2(tm: TableMonitor, old: Row | null, cur: Row | null): RowUpdate2 | null {
    const was = old !== null && matches(tm, old);
    const is = cur !== null && matches(tm, cur);
    if (is && !was) return tm.select.insert ? { insert: this.sparseRow(tm, cur!) } : null;
    if (was && !is) return tm.select.delete ? { delete: null } : null;
    if (!was || !is || !tm.select.modify) return null;
    const diff: Record<string, unknown> = {};
    let any = false;
    for (const c of tm.columns) {
      const a = rowGet(old!, c.name);
      const b = rowGet(cur!, c.name);
      if (datumEquals(a, b)) continue;
      diff[c.name] = datumToJson(datumDiff(a, b, c), relaxedType(c.type));
      any = true;
    }
    return any ? { modify: diff } : null;
  }

  /** A row's monitored columns that are not at their type's default (update2 initial/insert). */
  private sparseRow(tm: TableMonitor, row: Row): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const c of tm.columns) {
      const d = rowGet(row, c.name);
      if (c.name !== '_version' && datumEquals(d, defaultDatum(c.type))) continue;
      out[c.name] = datumToJson(d, c.type);
    }
    return out;
  }
}
