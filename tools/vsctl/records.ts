/*
 * What vsctl's database commands share: finding a record from the command line (by uuid or
 * unique uuid prefix, by name, through another table's reference such as a Controller by its
 * bridge's name, or "." for a table with one row), parsing COLUMN[:KEY][OP VALUE] arguments,
 * setting a column from one, and testing find/wait-until conditions with ovs-vsctl's
 * operators and semantics. Wording follows ovs-vsctl. Called by db-commands.ts and
 * commands.ts. Control path only.
 */
import { compareAtoms, findKey, isUuid, type Atom, type Datum } from '../../src/ovsdb/datum.js';
import type { ColumnSchema, ColumnType, TableSchema } from '../../src/ovsdb/schema.js';
import { ToolError } from '../common.js';
import { mapWith, matchColumn, type DbModel, type MRow } from './model.js';
import type { SymbolTable } from './symbols.js';
import { parseAtom, parseDatum, readToken } from './values.js';

// ---- Finding records ------------------------------------------------------------------------

/** How a table's records may be named: by a column of `table` (`name`), or by the name of a
 * row of `table` whose `via` column holds exactly one reference to the record. */
interface RowId {
  table: string;
  name: string;
  via?: string;
}

/** ovs-vsctl's table of record names (vsctl's ctl_table_class), for the tables we have. */
export const ROW_IDS: Record<string, RowId[]> = {
  Bridge: [{ table: 'Bridge', name: 'name' }],
  Controller: [{ table: 'Bridge', name: 'name', via: 'controller' }],
  Interface: [{ table: 'Interface', name: 'name' }],
  Mirror: [{ table: 'Mirror', name: 'name' }],
  Manager: [{ table: 'Manager', name: 'target' }],
  Port: [{ table: 'Port', name: 'name' }],
  QoS: [{ table: 'Port', name: 'name', via: 'qos' }],
};

const PARTIAL_UUID = /^[0-9a-f]{1,8}(-[0-9a-f]{0,4}(-[0-9a-f]{0,4}(-[0-9a-f]{0,4}(-[0-9a-f]{0,12})?)?)?)?$/i;

/** Does the name atom match the record id typed by the user (record_id_equals)? */
function nameMatches(atom: Atom, id: string): boolean {
  if (typeof atom !== 'string') return typeof atom === 'number' ? /^\d+$/.test(id) && atom === Number(id) : false;
  if (atom === id) return true;
  return id.length >= 4 && isUuid(atom) && atom.startsWith(id);
}

function findByRowId(m: DbModel, table: TableSchema, rid: RowId, id: string): MRow | undefined {
  if (!m.hasTable(rid.table)) return undefined;
  const col = m.table(rid.table).columns.get(rid.name);
  if (!col || (rid.via && !m.table(rid.table).columns.has(rid.via))) return undefined;
  let referrer: MRow | undefined;
  for (const r of m.rows(rid.table)) {
    const d = m.get(r, rid.name);
    if (d.keys.length !== 1 || !nameMatches(d.keys[0], id)) continue;
    if (referrer) throw new ToolError(`multiple rows in ${rid.table} match "${id}"`);
    referrer = r;
  }
  if (!referrer || !rid.via) return referrer;
  const refs = m.get(referrer, rid.via).keys;
  return refs.length === 1 ? m.row(table.name, String(refs[0])) : undefined;
}

/**
 * Finds a record as ovs-vsctl does (ctl_get_row): full uuid, ".", the table's names, then a
 * unique uuid prefix of at least 4 characters. Returns undefined only if `mustExist` is false.
 */
export function findRecord(m: DbModel, table: TableSchema, id: string, mustExist: boolean): MRow | undefined {
  const rows = m.rows(table.name);
  let row = isUuid(id) ? m.row(table.name, id.toLowerCase()) : undefined;
  if (!row && id === '.' && rows.length === 1) row = rows[0];
  for (const rid of row ? [] : ROW_IDS[table.name] ?? []) {
    row = findByRowId(m, table, rid, id);
    if (row) break;
  }
  if (!row && id.length >= 4 && PARTIAL_UUID.test(id)) {
    const prefix = id.toLowerCase();
    for (const r of rows) {
      if (!r.uuid.startsWith(prefix)) continue;
      if (row) throw new ToolError(`${table.name} contains 2 or more rows whose UUIDs begin with ${id}: at least ${row.uuid} and ${r.uuid}`);
      row = r;
    }
  }
  if (!row && mustExist) throw new ToolError(`no row "${id}" in table ${table.name}`);
  return row;
}

// ---- COLUMN[:KEY][OP VALUE] -----------------------------------------------------------------

export interface ColumnArg {
  column: ColumnSchema;
  key: string | undefined;
  /** Index of the operator in the allowed list (0 when only "=" is allowed). */
  op: number;
  value: string | undefined;
}

function missingOperator(arg: string, ops: readonly string[]): string {
  const q = ops.map((o) => `"${o}"`);
  const list = q.length === 1 ? q[0] : q.length === 2 ? `${q[0]} or ${q[1]}` : `${q.slice(0, -1).join(', ')}, or ${q[q.length - 1]}`;
  return `${arg}: argument does not end in ${list} followed by a value.`;
}

/**
 * Parses COLUMN[:KEY] and, when `ops` is given, an operator from it followed by a non-empty
 * value (parse_column_key_value; the longest operator that fits wins).
 */
export function parseColumnArg(arg: string, table: TableSchema, ops: readonly string[] | null): ColumnArg {
  const c = readToken(arg, 0);
  if (c.token === '') throw new ToolError(`${arg}: missing column name`);
  const column = matchColumn(table, c.token);
  let p = c.end;
  let key: string | undefined;
  if (arg[p] === ':') {
    const k = readToken(arg, p + 1);
    key = k.token;
    p = k.end;
  }
  if (!ops) {
    if (p < arg.length) throw new ToolError(`${arg}: trailing garbage "${arg.slice(p)}" in argument`);
    return { column, key, op: 0, value: undefined };
  }
  let best = -1;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    if ((best < 0 || op.length > ops[best].length) && arg.startsWith(op, p) && p + op.length < arg.length) best = i;
  }
  if (best < 0) throw new ToolError(missingOperator(arg, ops));
  return { column, key, op: best, value: arg.slice(p + ops[best].length) };
}

/** Fails unless `column` of `row` may be written: immutable columns only on new rows. */
export function checkMutable(m: DbModel, row: MRow, column: ColumnSchema): void {
  if (!column.mutable && !m.isNew(row.uuid)) {
    throw new ToolError(`cannot modify read-only column ${column.name} in table ${row.table.name}`);
  }
}

/** Applies COLUMN[:KEY]=VALUE to `row` (set_column). */
export function setColumn(m: DbModel, row: MRow, arg: string, symbols: SymbolTable | undefined): void {
  const ca = parseColumnArg(arg, row.table, ['=']);
  checkMutable(m, row, ca.column);
  const t = ca.column.type;
  if (ca.key !== undefined) {
    if (!t.value) throw new ToolError(`cannot specify key to set for non-map column ${ca.column.name}`);
    const key = parseAtom(ca.key, t.key, symbols);
    const value = parseAtom(ca.value!, t.value, symbols);
    m.set(row, ca.column.name, mapWith(m.get(row, ca.column.name), key, value));
  } else {
    m.set(row, ca.column.name, parseDatum(ca.value!, t, symbols));
  }
}

/** Checks the column part of each COLUMN[:KEY]=VALUE (before any record is looked up, as
 * ovs-vsctl's pre-pass does), so a bad column is reported even when the record is missing. */
export function checkColumnArgs(table: TableSchema, args: readonly string[]): void {
  for (const a of args) {
    const c = readToken(a, 0);
    if (c.token === '') throw new ToolError(`${a}: missing column name`);
    matchColumn(table, c.token);
  }
}

// ---- Conditions (find, wait-until) ----------------------------------------------------------

export const RELOPS = ['=', '!=', '<', '>', '<=', '>=', '{=}', '{!=}', '{<}', '{>}', '{<=}', '{>=}', '{in}', '{not-in}'] as const;

/** ovsdb_datum_compare_3way: by size, then element by element (keys, then values). */
export function compareDatums(a: Datum, b: Datum): number {
  if (a.keys.length !== b.keys.length) return a.keys.length < b.keys.length ? -1 : 1;
  for (let i = 0; i < a.keys.length; i++) {
    const c = compareAtoms(a.keys[i], b.keys[i]);
    if (c) return c;
  }
  if (a.values && b.values) {
    for (let i = 0; i < a.values.length; i++) {
      const c = compareAtoms(a.values[i], b.values[i]);
      if (c) return c;
    }
  }
  return 0;
}

/** Is element i of `a` (key, and value unless `keysOnly`) in `b`? */
function hasElement(a: Datum, i: number, b: Datum): boolean {
  const j = findKey(b, a.keys[i]);
  return j >= 0 && (!a.values || !b.values || a.values[i] === b.values[j]);
}

const includesAll = (a: Datum, b: Datum): boolean => a.keys.length <= b.keys.length && a.keys.every((_, i) => hasElement(a, i, b));
const excludesAll = (a: Datum, b: Datum): boolean => a.keys.every((_, i) => !hasElement(a, i, b));

function evaluate(a: Datum, b: Datum, op: string): boolean {
  switch (op) {
    case '=':
    case '{=}':
      return compareDatums(a, b) === 0;
    case '!=':
    case '{!=}':
      return compareDatums(a, b) !== 0;
    case '<':
      return compareDatums(a, b) < 0;
    case '>':
      return compareDatums(a, b) > 0;
    case '<=':
      return compareDatums(a, b) <= 0;
    case '>=':
      return compareDatums(a, b) >= 0;
    case '{<}':
      return b.keys.length > a.keys.length && includesAll(a, b);
    case '{>}':
      return a.keys.length > b.keys.length && includesAll(b, a);
    case '{<=}':
    case '{in}':
      return includesAll(a, b);
    case '{>=}':
      return includesAll(b, a);
    default:
      return excludesAll(a, b);
  }
}

/** Does `row` satisfy the condition COLUMN[:KEY]OP VALUE (check_condition)? */
export function checkCondition(m: DbModel, row: MRow, arg: string, symbols: SymbolTable | undefined): boolean {
  const ca = parseColumnArg(arg, row.table, RELOPS);
  const op = RELOPS[ca.op];
  const t = ca.column.type;
  const have = m.get(row, ca.column.name);
  if (ca.key === undefined) return evaluate(have, parseDatum(ca.value!, t, symbols), op);
  if (!t.value) throw new ToolError(`cannot specify key to check for non-map column ${ca.column.name}`);
  const key = parseAtom(ca.key, t.key, symbols);
  const valueType: ColumnType = { key: t.value, value: null, min: t.min, max: Infinity };
  const want = parseDatum(ca.value!, valueType, symbols);
  const i = findKey(have, key);
  const isSetOp = op.startsWith('{');
  if (i < 0 && !isSetOp) return false;
  const a: Datum = i < 0 ? { keys: [], values: null } : { keys: [have.values![i]], values: null };
  return evaluate(a, want, op);
}
