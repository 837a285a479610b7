/*
 * vsctl's database commands, with ovs-vsctl's semantics and wording: list and find (a table
 * of records, printed in the chosen --format), get, set, add, remove, clear, create (prints
 * the new row's uuid; --id=@name names it for the other commands), destroy (rows of root
 * tables only are really deleted; others go when nothing refers to them, so for them it is
 * ignored, as ovs-vsctl documents), wait-until and comment. As in ovs-vsctl, table and column
 * names are checked before the record is looked up. Called through commands.ts. Control path.
 */
import { canonical, findKey, isUuid, type Datum } from '../../src/ovsdb/datum.js';
import { UUID_COLUMN_TYPE, type ColumnSchema, type ColumnType, type TableSchema } from '../../src/ovsdb/schema.js';
import { ToolError } from '../common.js';
import { has, type CommandContext, type Handler } from './context.js';
import { datumOf, matchColumn, matchTable, type MRow } from './model.js';
import { checkColumnArgs, checkCondition, checkMutable, findRecord, parseColumnArg, setColumn } from './records.js';
import type { Cell, OutTable } from './table.js';
import { formatAtom, formatDatum, parseAtom, parseDatum } from './values.js';

const isUuidName = (s: string): boolean => s.toLowerCase() === '_uuid' || s.toLowerCase() === '-uuid';

// ---- list and find --------------------------------------------------------------------------

/** --columns=a,b (commas or spaces), "_uuid" included; all columns ("_uuid" first, then by
 * name) when absent. null stands for _uuid. */
function listColumns(table: TableSchema, opt: string | undefined): (ColumnSchema | null)[] {
  if (opt === undefined) return [null, ...[...table.columns.keys()].sort().map((c) => table.columns.get(c)!)];
  const names = opt.split(/[, ]/).filter((n) => n);
  if (!names.length) throw new ToolError('must specify at least one column name');
  return names.map((n) => (n.toLowerCase() === '_uuid' ? null : matchColumn(table, n)));
}

function listTable(ctx: CommandContext, columns: (ColumnSchema | null)[], rows: MRow[]): OutTable {
  return {
    headings: columns.map((c) => c?.name ?? '_uuid'),
    rows: rows.map((r) =>
      columns.map((c): Cell => (c ? { datum: ctx.model.get(r, c.name), type: c.type } : { datum: datumOf(r.uuid), type: UUID_COLUMN_TYPE })),
    ),
  };
}

// ---- Datum arithmetic for add and remove ------------------------------------------------------

/** Adds b's elements to a; a key already in a keeps its value (ovsdb_datum_union). */
function union(a: Datum, b: Datum): Datum {
  const keys = [...a.keys];
  const values = a.values ? [...a.values] : null;
  b.keys.forEach((k, i) => {
    if (findKey(a, k) >= 0) return;
    keys.push(k);
    values?.push(b.values![i]);
  });
  return canonical(keys, values);
}

/** Removes from a the elements of b: pairs that match key and value when b is a map, keys
 * when b is a set of keys (ovsdb_datum_subtract). */
function subtract(a: Datum, b: Datum): Datum {
  const drop = new Set<number>();
  b.keys.forEach((k, i) => {
    const j = findKey(a, k);
    if (j >= 0 && (!b.values || a.values![j] === b.values[i])) drop.add(j);
  });
  return { keys: a.keys.filter((_, j) => !drop.has(j)), values: a.values ? a.values.filter((_, j) => !drop.has(j)) : null };
}

/** The column's type relaxed to "one or more" elements, as add and remove read values. */
const oneOrMore = (t: ColumnType): ColumnType => ({ ...t, min: 1, max: Infinity });

function countWord(t: ColumnType): string {
  return t.value ? 'pairs' : 'values';
}

/** Table, column and record of add/remove/clear-like commands, checked in ovs-vsctl's order. */
function target(ctx: CommandContext): { table: TableSchema; column: ColumnSchema; row: MRow | undefined } {
  const [tname, record, cname] = ctx.cmd.args;
  const table = matchTable(ctx.model.schema, tname);
  const column = matchColumn(table, cname);
  const row = findRecord(ctx.model, table, record, !has(ctx, '--if-exists'));
  if (row) checkMutable(ctx.model, row, column);
  return { table, column, row };
}

// ---- Commands ---------------------------------------------------------------------------------

export const DB_HANDLERS: Record<string, Handler> = {
  comment() {},

  list(ctx) {
    const { model: m, cmd } = ctx;
    const table = matchTable(m.schema, cmd.args[0]);
    const columns = listColumns(table, cmd.options.get('--columns'));
    const rows =
      cmd.args.length > 1
        ? cmd.args.slice(1).flatMap((id) => findRecord(m, table, id, !has(ctx, '--if-exists')) ?? [])
        : m.rows(table.name);
    ctx.table = listTable(ctx, columns, rows);
  },

  find(ctx) {
    const { model: m, cmd } = ctx;
    const table = matchTable(m.schema, cmd.args[0]);
    const columns = listColumns(table, cmd.options.get('--columns'));
    const conditions = cmd.args.slice(1);
    checkColumnArgs(table, conditions);
    const rows = m.rows(table.name).filter((r) => conditions.every((c) => checkCondition(m, r, c, ctx.symbols)));
    ctx.table = listTable(ctx, columns, rows);
  },

  get(ctx) {
    const { model: m, cmd } = ctx;
    const id = cmd.options.get('--id');
    const mustExist = !has(ctx, '--if-exists');
    if (id !== undefined && !mustExist) throw new ToolError('--if-exists and --id may not be specified together');
    const [tname, record, ...cols] = cmd.args;
    const table = matchTable(m.schema, tname);
    checkColumnArgs(table, cols.filter((c) => !isUuidName(c)));
    const row = findRecord(m, table, record, mustExist);
    if (!row) return;
    if (id !== undefined) {
      const { symbol, isNew } = ctx.symbols.define(id);
      if (!isNew) throw new ToolError(`row id "${id}" specified on "get" command was used before it was defined`);
      symbol.uuid = row.uuid;
      symbol.strongRef = true;
    }
    for (const arg of cols) {
      if (isUuidName(arg)) {
        ctx.out.push(row.uuid);
        continue;
      }
      const ca = parseColumnArg(arg, table, null);
      const t = ca.column.type;
      const d = m.get(row, ca.column.name);
      if (ca.key === undefined) {
        ctx.out.push(formatDatum(d, t));
        continue;
      }
      if (!t.value) throw new ToolError(`cannot specify key to get for non-map column ${ca.column.name}`);
      const i = findKey(d, parseAtom(ca.key, t.key, ctx.symbols));
      if (i < 0 && mustExist) throw new ToolError(`no key "${ca.key}" in ${table.name} record "${record}" column ${ca.column.name}`);
      ctx.out.push(i < 0 ? '' : formatAtom(d.values![i], t.value));
    }
  },

  set(ctx) {
    const { model: m, cmd } = ctx;
    const [tname, record, ...settings] = cmd.args;
    const table = matchTable(m.schema, tname);
    checkColumnArgs(table, settings);
    const row = findRecord(m, table, record, !has(ctx, '--if-exists'));
    if (!row) return;
    for (const a of settings) setColumn(m, row, a, ctx.symbols);
  },

  add(ctx) {
    const { table, column, row } = target(ctx);
    if (!row) return;
    const t = column.type;
    let d = ctx.model.get(row, column.name);
    for (const v of ctx.cmd.args.slice(3)) d = union(d, parseDatum(v, oneOrMore(t), ctx.symbols));
    if (d.keys.length > t.max) {
      throw new ToolError(`"add" operation would put ${d.keys.length} ${countWord(t)} in column ${column.name} of table ${table.name} but the maximum number is ${t.max}`);
    }
    ctx.model.set(row, column.name, d);
  },

  remove(ctx) {
    const { table, column, row } = target(ctx);
    if (!row) return;
    const t = column.type;
    let d = ctx.model.get(row, column.name);
    for (const v of ctx.cmd.args.slice(3)) {
      let rm: Datum;
      try {
        rm = parseDatum(v, oneOrMore(t), ctx.symbols);
      } catch (e) {
        if (!t.value) throw e;
        // A map's elements may also be given as bare keys.
        rm = parseDatum(v, { key: t.key, value: null, min: 1, max: Infinity }, ctx.symbols);
      }
      d = subtract(d, rm);
    }
    if (d.keys.length < t.min) {
      throw new ToolError(`"remove" operation would put ${d.keys.length} ${countWord(t)} in column ${column.name} of table ${table.name} but the minimum number is ${t.min}`);
    }
    ctx.model.set(row, column.name, d);
  },

  clear(ctx) {
    const { model: m, cmd } = ctx;
    const [tname, record, ...cnames] = cmd.args;
    const table = matchTable(m.schema, tname);
    const columns = cnames.map((c) => matchColumn(table, c));
    const row = findRecord(m, table, record, !has(ctx, '--if-exists'));
    if (!row) return;
    for (const c of columns) {
      checkMutable(m, row, c);
      if (c.type.min > 0) {
        throw new ToolError(`"clear" operation cannot be applied to column ${c.name} of table ${table.name}, which is not allowed to be empty`);
      }
      m.set(row, c.name, { keys: [], values: c.type.value ? [] : null });
    }
  },

  create(ctx) {
    const { model: m, cmd } = ctx;
    const id = cmd.options.get('--id');
    const [tname, ...settings] = cmd.args;
    const table = matchTable(m.schema, tname);
    if (id === undefined && !table.isRoot) {
      ctx.warn('db_ctl_base', `applying "create" command to table ${table.name} without --id option will have no effect`);
    }
    let row: MRow;
    if (id !== undefined && isUuid(id)) row = m.insert(table.name, {}, id.toLowerCase(), true);
    else if (id !== undefined) {
      const { symbol } = ctx.symbols.define(id);
      if (table.isRoot) symbol.strongRef = true;
      row = m.insert(table.name, {}, symbol.uuid);
    } else row = m.insert(table.name);
    for (const a of settings) setColumn(m, row, a, ctx.symbols);
    ctx.createdUuid = row.uuid;
    ctx.out.push(row.uuid);
  },

  destroy(ctx) {
    const { model: m, cmd } = ctx;
    const all = has(ctx, '--all');
    const mustExist = !has(ctx, '--if-exists');
    const table = matchTable(m.schema, cmd.args[0]);
    if (all && cmd.args.length > 1) throw new ToolError('--all and records argument should not be specified together');
    if (all && !mustExist) throw new ToolError('--all and --if-exists should not be specified together');
    if (!all && cmd.args.length === 1) {
      ctx.warn('db_ctl_base', 'either --all or records argument should be specified');
      return;
    }
    const rows = all ? m.rows(table.name) : cmd.args.slice(1).flatMap((id) => findRecord(m, table, id, mustExist) ?? []);
    for (const r of rows) m.delete(r);
  },

  'wait-until'(ctx) {
    const { model: m, cmd } = ctx;
    const [tname, record, ...conditions] = cmd.args;
    const table = matchTable(m.schema, tname);
    checkColumnArgs(table, conditions);
    const row = findRecord(m, table, record, false);
    if (!row || !conditions.every((c) => checkCondition(m, row, c, ctx.symbols))) ctx.tryAgain = true;
  },
};

