/*
 * vsctl's working copy of the database: every row of every table, read in one snapshot at
 * start. The commands of one invocation change this copy in order (so a command sees rows an
 * earlier one in the same "--" chain created), and toOps() turns the difference between the
 * copy and the snapshot into one RFC 7047 transaction. Also resolves table and column names
 * the way ovs-vsctl does (case-insensitive, "-" for "_", unique prefixes). Control path only.
 *
 * Ops emitted: "wait" on the old value of every reference column that changed (so a change
 * made meanwhile by someone else aborts the transaction and vsctl retries on a fresh copy,
 * like ovs-vsctl's verify), "insert" with a uuid-name for new rows (and "uuid" for rows
 * created with --id=UUID), "update" for changed columns, "mutate" delete/insert of keys for
 * changed maps (others' keys are left alone), and "delete" for removed rows of root tables.
 * Rows of non-root tables are never deleted explicitly: the server collects those that lose
 * their last strong reference, which gc() mirrors locally (as ovs-vsctl's IDL, a non-root row
 * destroyed while still referenced stays).
 */
import { randomUUID } from 'node:crypto';
import { atomToJson, canonical, datumEquals, datumFromJson, datumToJson, defaultDatum, findKey, type Atom, type Datum } from '../../src/ovsdb/datum.js';
import type { ColumnSchema, ColumnType, DbSchema, TableSchema } from '../../src/ovsdb/schema.js';
import { ToolError } from '../common.js';

export interface MRow {
  uuid: string;
  table: TableSchema;
  cols: Map<string, Datum>;
}

export type RowJson = Record<string, unknown>;

// ---- Datum helpers (datums are treated as immutable) ----------------------------------------

export function datumOf(...keys: Atom[]): Datum {
  return canonical(keys, null);
}

export function setWith(d: Datum, atom: Atom): Datum {
  return findKey(d, atom) >= 0 ? d : canonical([...d.keys, atom], null);
}

export function setWithout(d: Datum, atom: Atom): Datum {
  const i = findKey(d, atom);
  return i < 0 ? d : { keys: d.keys.filter((_, j) => j !== i), values: null };
}

export function mapWith(d: Datum, key: Atom, value: Atom): Datum {
  const i = findKey(d, key);
  const keys = i < 0 ? [...d.keys, key] : [...d.keys];
  const values = i < 0 ? [...(d.values ?? []), value] : (d.values ?? []).map((v, j) => (j === i ? value : v));
  return canonical(keys, values);
}

/** The string of a string column ("" when empty). */
export function str(d: Datum | undefined): string {
  return d && d.keys.length ? String(d.keys[0]) : '';
}

// ---- Name matching (ovs-vsctl's score_partial_match) ----------------------------------------

const fold = (s: string): string => s.toLowerCase().replace(/-/g, '_');

function score(name: string, s: string): number {
  if (name === s) return Number.MAX_SAFE_INTEGER;
  const a = fold(name);
  const b = fold(s);
  if (a === b) return Number.MAX_SAFE_INTEGER - 1;
  return a.startsWith(b) ? b.length : 0;
}

function bestMatches(names: string[], s: string): string[] {
  let best = 0;
  let out: string[] = [];
  for (const n of names) {
    const sc = score(n, s);
    if (sc > best) {
      best = sc;
      out = [n];
    } else if (sc === best && sc > 0) out.push(n);
  }
  return out.sort();
}

export function matchTable(schema: DbSchema, s: string): TableSchema {
  const m = bestMatches([...schema.tables.keys()], s);
  if (m.length === 0) throw new ToolError(`unknown table "${s}"`);
  if (m.length > 1) throw new ToolError(`"${s}" matches multiple table names: ${m.join(', ')}`);
  return schema.tables.get(m[0])!;
}

/** A user column of `table` by (abbreviated) name; "_uuid" is not one (get, list and find
 * handle it themselves). */
export function matchColumn(table: TableSchema, s: string): ColumnSchema {
  const m = bestMatches([...table.columns.keys()], s);
  if (m.length === 0) throw new ToolError(`${table.name} does not contain a column whose name matches "${s}"`);
  if (m.length > 1) throw new ToolError(`${table.name} contains more than one column whose name matches "${s}": ${m.join(', ')}`);
  return table.columns.get(m[0])!;
}

const refsOf = (t: ColumnType): string[] => [t.key.refTable, t.value?.refTable].filter((x): x is string => !!x);

// ---- The model ------------------------------------------------------------------------------

export class DbModel {
  private readonly tables = new Map<string, Map<string, MRow>>();
  private readonly orig = new Map<string, Map<string, Map<string, Datum>>>();
  private readonly created = new Set<string>();
  /** New rows whose uuid was chosen by the user (--id=UUID): inserted with that uuid. */
  private readonly persisted = new Set<string>();
  /** Stored rows of non-root tables removed by delete(): gone for later commands, but still in
   * the database, so references to them are kept. */
  private readonly hidden = new Set<string>();

  constructor(readonly schema: DbSchema) {
    for (const name of schema.tables.keys()) {
      this.tables.set(name, new Map());
      this.orig.set(name, new Map());
    }
  }

  /** Builds a model from rows as "select" returns them ({_uuid: ["uuid", u], col: json...}). */
  static fromRows(schema: DbSchema, rows: Record<string, RowJson[]>): DbModel {
    const m = new DbModel(schema);
    for (const [tname, list] of Object.entries(rows)) {
      const table = schema.tables.get(tname);
      if (!table) continue;
      for (const rj of list) {
        const u = rj._uuid;
        const uuid = Array.isArray(u) ? String(u[1]) : String(u);
        const cols = new Map<string, Datum>();
        for (const [cname, col] of table.columns) {
          cols.set(cname, rj[cname] === undefined ? defaultDatum(col.type) : datumFromJson(rj[cname], col.type));
        }
        m.tables.get(tname)!.set(uuid, { uuid, table, cols });
        m.orig.get(tname)!.set(uuid, new Map(cols));
      }
    }
    return m;
  }

  table(name: string): TableSchema {
    const t = this.schema.tables.get(name);
    if (!t) throw new ToolError(`the database has no table ${name}`);
    return t;
  }

  hasTable(name: string): boolean {
    return this.schema.tables.has(name);
  }

  rows(table: string): MRow[] {
    return [...(this.tables.get(table)?.values() ?? [])];
  }

  row(table: string, uuid: string): MRow | undefined {
    return this.tables.get(table)?.get(uuid);
  }

  /** Rows of `refTable` referred to by column `col` of `row` (missing ones skipped). */
  refs(row: MRow, col: string): MRow[] {
    const c = row.table.columns.get(col);
    if (!c?.type.key.refTable) return [];
    const t = c.type.key.refTable;
    return this.get(row, col).keys.map((u) => this.row(t, String(u))).filter((r): r is MRow => !!r);
  }

  /** True if the row was created by this invocation (not yet in the database). */
  isNew(uuid: string): boolean {
    return this.created.has(uuid);
  }

  get(row: MRow, col: string): Datum {
    const c = row.table.columns.get(col);
    return row.cols.get(col) ?? (c ? defaultDatum(c.type) : { keys: [], values: null });
  }

  set(row: MRow, col: string, d: Datum): void {
    if (!row.table.columns.has(col)) throw new ToolError(`${row.table.name} does not contain a column whose name matches "${col}"`);
    row.cols.set(col, d);
  }

  /** A new row with default values overridden by `values`; `uuid` (if given) is the uuid it
   * has in this model (a row id's), `persist` asks the server to use it too. */
  insert(table: string, values: Record<string, Datum> = {}, uuid: string = randomUUID(), persist = false): MRow {
    const t = this.table(table);
    if (persist && this.findUuid(uuid)) {
      // What ovsdb-server answers to such an insert, as ovs-vsctl reports it.
      const error = { details: 'This UUID would duplicate a UUID already present within the table or deleted within the same transaction.', error: 'duplicate uuid', syntax: JSON.stringify(uuid) };
      throw new ToolError(`transaction error: ${JSON.stringify(error)}`);
    }
    const cols = new Map<string, Datum>();
    for (const [cname, col] of t.columns) cols.set(cname, values[cname] ?? defaultDatum(col.type));
    const row: MRow = { uuid, table: t, cols };
    this.tables.get(table)!.set(uuid, row);
    this.created.add(uuid);
    if (persist) this.persisted.add(uuid);
    return row;
  }

  private findUuid(uuid: string): MRow | undefined {
    for (const rows of this.tables.values()) {
      const r = rows.get(uuid);
      if (r) return r;
    }
    return undefined;
  }

  /** Removes a row from this model. A row of a root table is deleted at commit; a row of
   * another table is only hidden from later commands (see the header). */
  delete(row: MRow): void {
    this.tables.get(row.table.name)?.delete(row.uuid);
    if (!row.table.isRoot && !this.created.has(row.uuid)) this.hidden.add(row.uuid);
    this.created.delete(row.uuid);
    this.persisted.delete(row.uuid);
  }

  /**
   * Drops rows of non-root tables nobody refers to strongly, and weak references to rows that
   * are gone, as the server does at commit. Between commands (`final` false) rows created in
   * this invocation count as roots, since a later command may still refer to them ("@name"),
   * and only weak references to rows dropped here are removed.
   */
  gc(final = false): void {
    const reached = new Set<string>();
    const stack: MRow[] = [];
    for (const [name, rows] of this.tables) {
      const root = this.schema.tables.get(name)!.isRoot;
      for (const r of rows.values()) if (root || (!final && this.created.has(r.uuid))) stack.push(r);
    }
    while (stack.length) {
      const r = stack.pop()!;
      if (reached.has(r.uuid)) continue;
      reached.add(r.uuid);
      for (const [cname, col] of r.table.columns) {
        for (const base of [col.type.key, col.type.value]) {
          if (!base?.refTable || base.refType !== 'strong') continue;
          const d = r.cols.get(cname);
          const atoms = d ? (base === col.type.key ? d.keys : d.values ?? []) : [];
          for (const a of atoms) {
            const target = this.row(base.refTable, String(a));
            if (target && !reached.has(target.uuid)) stack.push(target);
          }
        }
      }
    }
    const dropped = new Set<string>();
    for (const rows of this.tables.values()) {
      for (const [u, r] of rows) {
        if (r.table.isRoot || reached.has(u)) continue;
        rows.delete(u);
        this.created.delete(u);
        dropped.add(u);
      }
    }
    for (const rows of this.tables.values()) {
      for (const r of rows.values()) {
        for (const [cname, col] of r.table.columns) {
          if (col.type.key.refType !== 'weak' || !col.type.key.refTable || col.type.value) continue;
          const d = r.cols.get(cname)!;
          const gone = (a: Atom): boolean => {
            const u = String(a);
            return !this.row(col.type.key.refTable!, u) && !this.hidden.has(u) && (final || dropped.has(u));
          };
          const kept = d.keys.filter((a) => !gone(a));
          if (kept.length !== d.keys.length && kept.length >= col.type.min) r.cols.set(cname, { keys: kept, values: null });
        }
      }
    }
  }

  /** True if toOps() would emit anything. */
  changed(): boolean {
    return this.toOps().length > 0;
  }

  /** Rows referred to by uuid-name in the transaction: new rows whose uuid is only ours. */
  private named(): Set<string> {
    return new Set([...this.created].filter((u) => !this.persisted.has(u)));
  }

  private json(d: Datum, type: ColumnType): unknown {
    return renameNew(datumToJson(d, type), this.named());
  }

  /** The transaction that turns the snapshot into this model (see the header). Collects
   * garbage first, so rows created and then left unreferenced are not inserted. */
  toOps(): Record<string, unknown>[] {
    this.gc(true);
    const waits: Record<string, unknown>[] = [];
    const inserts: Record<string, unknown>[] = [];
    const changes: Record<string, unknown>[] = [];
    const deletes: Record<string, unknown>[] = [];
    for (const [tname, rows] of this.tables) {
      const orig = this.orig.get(tname)!;
      for (const r of rows.values()) {
        if (this.created.has(r.uuid)) {
          const row: RowJson = {};
          for (const [cname, col] of r.table.columns) {
            const d = r.cols.get(cname)!;
            if (!datumEquals(d, defaultDatum(col.type))) row[cname] = this.json(d, col.type);
          }
          const op: Record<string, unknown> = { op: 'insert', table: tname, 'uuid-name': uuidName(r.uuid), row };
          if (this.persisted.has(r.uuid)) op.uuid = r.uuid;
          inserts.push(op);
          continue;
        }
        const before = orig.get(r.uuid);
        if (!before) continue;
        const where = [['_uuid', '==', ['uuid', r.uuid]]];
        const update: RowJson = {};
        const mutations: unknown[] = [];
        for (const [cname, col] of r.table.columns) {
          const now = r.cols.get(cname)!;
          const was = before.get(cname)!;
          if (datumEquals(now, was)) continue;
          if (refsOf(col.type).length) {
            waits.push({ op: 'wait', table: tname, where, columns: [cname], until: '==', rows: [{ [cname]: this.json(was, col.type) }], timeout: 0 });
            update[cname] = this.json(now, col.type);
          } else if (col.type.value) {
            const { del, ins } = mapDiff(was, now);
            if (del.length) mutations.push([cname, 'delete', ['set', del.map((k) => renameNew(atomToJson(k, col.type.key), this.named()))]]);
            if (ins.keys.length) mutations.push([cname, 'insert', this.json(ins, col.type)]);
          } else update[cname] = this.json(now, col.type);
        }
        if (Object.keys(update).length) changes.push({ op: 'update', table: tname, where, row: update });
        if (mutations.length) changes.push({ op: 'mutate', table: tname, where, mutations });
      }
      if (this.schema.tables.get(tname)!.isRoot) {
        for (const u of orig.keys()) if (!rows.has(u)) deletes.push({ op: 'delete', table: tname, where: [['_uuid', '==', ['uuid', u]]] });
      }
    }
    return [...waits, ...inserts, ...changes, ...deletes];
  }
}

/** Keys to delete (gone or changed) and pairs to insert (new or changed) to turn a into b. */
function mapDiff(a: Datum, b: Datum): { del: Atom[]; ins: Datum } {
  const del: Atom[] = [];
  const insK: Atom[] = [];
  const insV: Atom[] = [];
  for (let i = 0; i < a.keys.length; i++) {
    const j = findKey(b, a.keys[i]);
    if (j < 0 || b.values![j] !== a.values![i]) del.push(a.keys[i]);
  }
  for (let i = 0; i < b.keys.length; i++) {
    const j = findKey(a, b.keys[i]);
    if (j < 0 || a.values![j] !== b.values![i]) {
      insK.push(b.keys[i]);
      insV.push(b.values![i]);
    }
  }
  return { del, ins: { keys: insK, values: insV } };
}

/** The uuid-name a new row gets in the transaction. */
export function uuidName(uuid: string): string {
  return `row${uuid.replace(/-/g, '_')}`;
}

/** The model uuid of a new row, from its uuid-name. */
export function modelUuid(name: string): string {
  return name.slice(3).replace(/_/g, '-');
}

/** Replaces ["uuid", u] of rows created in this invocation by ["named-uuid", name]. */
function renameNew(json: unknown, created: Set<string>): unknown {
  if (!Array.isArray(json)) return json;
  if (json.length === 2 && json[0] === 'uuid' && typeof json[1] === 'string') {
    return created.has(json[1]) ? ['named-uuid', uuidName(json[1])] : json;
  }
  return json.map((x) => renameNew(x, created));
}
