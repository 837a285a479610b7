/*
 * "where" clauses (RFC 7047 section 5.1 <condition>): parse [column, function, value] triples
 * against a table and test rows. Used by select/update/mutate/delete/wait in transaction.ts.
 * Functions: < <= > >= (integer/real columns holding at most one value), == != includes excludes.
 */
import { datumEquals, datumFromJson, findKey, datumIncludes, type Datum, type NamedUuidResolver } from './datum.js';
import { OvsdbError, syntaxError } from './error.js';
import { rowGet, type Row } from './database.js';
import { findColumn, relaxedType, type TableSchema } from './schema.js';

export type ConditionFn = '<' | '<=' | '>' | '>=' | '==' | '!=' | 'includes' | 'excludes';
const ORDERED = new Set(['<', '<=', '>', '>=']);
const ALL = new Set([...ORDERED, '==', '!=', 'includes', 'excludes']);

export interface Condition {
  column: string;
  fn: ConditionFn;
  arg: Datum;
}

export function parseWhere(json: unknown, table: TableSchema, named?: NamedUuidResolver): Condition[] {
  if (json === undefined) return [];
  if (!Array.isArray(json)) throw syntaxError('"where" must be an array of conditions');
  return json.map((c) => parseCondition(c, table, named));
}

function parseCondition(json: unknown, table: TableSchema, named?: NamedUuidResolver): Condition {
  if (!Array.isArray(json) || json.length !== 3 || typeof json[0] !== 'string' || typeof json[1] !== 'string') {
    throw syntaxError(`condition must be [column, function, value], got ${JSON.stringify(json)}`);
  }
  const [cname, fn, value] = json as [string, string, unknown];
  const col = findColumn(table, cname);
  if (!col) throw syntaxError(`no column "${cname}" in table "${table.name}"`);
  if (!ALL.has(fn)) throw syntaxError(`unknown condition function "${fn}"`);
  if (ORDERED.has(fn)) {
    const t = col.type;
    if ((t.key.type !== 'integer' && t.key.type !== 'real') || t.value || t.max !== 1) {
      throw syntaxError(`"${fn}" needs an integer or real column with at most one value; "${cname}" is not`);
    }
  }
  let arg: Datum;
  try {
    arg = datumFromJson(value, relaxedType(col.type), named);
  } catch (e) {
    if (e instanceof OvsdbError) throw new OvsdbError(e.tag, `condition on "${cname}": ${e.details}`);
    throw e;
  }
  if (ORDERED.has(fn) && arg.keys.length !== 1) throw syntaxError(`"${fn}" on "${cname}" needs exactly one value`);
  return { column: cname, fn: fn as ConditionFn, arg };
}

function excludes(d: Datum, arg: Datum): boolean {
  for (let i = 0; i < arg.keys.length; i++) {
    const j = findKey(d, arg.keys[i]);
    if (j >= 0 && (!arg.values || d.values![j] === arg.values[i])) return false;
  }
  return true;
}

export function conditionHolds(row: Row, c: Condition): boolean {
  const d = rowGet(row, c.column);
  switch (c.fn) {
    case '==':
      return datumEquals(d, c.arg);
    case '!=':
      return !datumEquals(d, c.arg);
    case 'includes':
      return datumIncludes(d, c.arg);
    case 'excludes':
      return excludes(d, c.arg);
    default: {
      if (d.keys.length === 0) return false;
      const a = d.keys[0] as number;
      const b = c.arg.keys[0] as number;
      return c.fn === '<' ? a < b : c.fn === '<=' ? a <= b : c.fn === '>' ? a > b : a >= b;
    }
  }
}

export function rowMatches(row: Row, conds: Condition[]): boolean {
  for (const c of conds) if (!conditionHolds(row, c)) return false;
  return true;
}

/** If the conditions pin _uuid with "==", that uuid (lets callers skip a table scan). */
export function uuidOf(conds: Condition[]): string | null {
  for (const c of conds) if (c.column === '_uuid' && c.fn === '==' && c.arg.keys.length === 1) return c.arg.keys[0] as string;
  return null;
}
