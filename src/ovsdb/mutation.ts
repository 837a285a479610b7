/*
 * The "mutate" operation's mutations (RFC 7047 section 5.1 <mutation>): parse
 * [column, mutator, value] and compute a column's new value. Used by transaction.ts.
 * Arithmetic (+= -= *= /= %=) applies to every element of an integer or real set; insert and
 * delete work on sets and maps. Errors: "domain error" (division by zero), "range error"
 * (integer overflow), "constraint violation" (result out of the column's range or size).
 */
import { baseType, findColumn, relaxedType, type ColumnSchema, type TableSchema } from './schema.js';
import { canonical, checkAtom, checkSize, datumFromJson, findKey, type Atom, type Datum, type NamedUuidResolver } from './datum.js';
import { OvsdbError, syntaxError } from './error.js';

export type Mutator = '+=' | '-=' | '*=' | '/=' | '%=' | 'insert' | 'delete';
const ARITH = new Set(['+=', '-=', '*=', '/=', '%=']);

export interface Mutation {
  column: ColumnSchema;
  mutator: Mutator;
  arg: Datum;
}

export function parseMutations(json: unknown, table: TableSchema, named?: NamedUuidResolver): Mutation[] {
  if (!Array.isArray(json)) throw syntaxError('"mutations" must be an array');
  return json.map((m) => parseMutation(m, table, named));
}

function parseMutation(json: unknown, table: TableSchema, named?: NamedUuidResolver): Mutation {
  if (!Array.isArray(json) || json.length !== 3 || typeof json[0] !== 'string' || typeof json[1] !== 'string') {
    throw syntaxError(`mutation must be [column, mutator, value], got ${JSON.stringify(json)}`);
  }
  const [cname, mutator, value] = json as [string, string, unknown];
  const column = findColumn(table, cname);
  if (!column) throw syntaxError(`no column "${cname}" in table "${table.name}"`);
  if (cname.startsWith('_') || !column.mutable) {
    throw new OvsdbError('constraint violation', `cannot mutate immutable column "${cname}" in table "${table.name}"`);
  }
  const t = column.type;
  let arg: Datum;
  try {
    if (ARITH.has(mutator)) {
      if ((t.key.type !== 'integer' && t.key.type !== 'real') || t.value) {
        throw syntaxError(`"${mutator}" needs an integer or real set column; "${cname}" is not`);
      }
      if (mutator === '%=' && t.key.type !== 'integer') throw syntaxError(`"%=" needs an integer column`);
      arg = datumFromJson(value, { key: baseType(t.key.type), value: null, min: 1, max: 1 }, named);
    } else if (mutator === 'insert') {
      arg = datumFromJson(value, relaxedType(t), named);
    } else if (mutator === 'delete') {
      const isMapArg = Array.isArray(value) && value[0] === 'map';
      arg = datumFromJson(value, t.value && isMapArg ? relaxedType(t) : { key: t.key, value: null, min: 0, max: Infinity }, named);
    } else {
      throw syntaxError(`unknown mutator "${mutator}"`);
    }
  } catch (e) {
    if (e instanceof OvsdbError) throw new OvsdbError(e.tag, `mutation of "${cname}": ${e.details}`);
    throw e;
  }
  return { column, mutator: mutator as Mutator, arg };
}

function arith(mutator: Mutator, a: number, b: number, integer: boolean): number {
  if ((mutator === '/=' || mutator === '%=') && b === 0) throw new OvsdbError('domain error', 'division by zero');
  let r: number;
  switch (mutator) {
    case '+=': r = a + b; break;
    case '-=': r = a - b; break;
    case '*=': r = a * b; break;
    case '/=': r = integer ? Math.trunc(a / b) : a / b; break;
    default: r = a % b;
  }
  if (integer ? !Number.isSafeInteger(r) : !Number.isFinite(r)) throw new OvsdbError('range error', `${a} ${mutator} ${b} overflows`);
  return r;
}

/** The column's value after one mutation; throws OvsdbError. */
export function applyMutation(d: Datum, m: Mutation): Datum {
  const t = m.column.type;
  let keys: Atom[];
  let values: Atom[] | null = d.values ? [...d.values] : null;
  if (ARITH.has(m.mutator)) {
    const b = m.arg.keys[0] as number;
    keys = d.keys.map((a) => arith(m.mutator, a as number, b, t.key.type === 'integer'));
    for (const k of keys) checkAtom(k, t.key);
  } else if (m.mutator === 'insert') {
    keys = [...d.keys];
    for (let i = 0; i < m.arg.keys.length; i++) {
      if (findKey(d, m.arg.keys[i]) >= 0) continue;
      keys.push(m.arg.keys[i]);
      if (values) values.push(m.arg.values![i]);
    }
  } else {
    keys = [];
    const kept: Atom[] = [];
    for (let i = 0; i < d.keys.length; i++) {
      const j = findKey(m.arg, d.keys[i]);
      const drop = j >= 0 && (!m.arg.values || m.arg.values[j] === d.values![i]);
      if (drop) continue;
      keys.push(d.keys[i]);
      if (values) kept.push(values[i]);
    }
    if (values) values = kept;
  }
  let out: Datum;
  try {
    out = canonical(keys, values);
  } catch (e) {
    if (e instanceof OvsdbError) throw new OvsdbError('constraint violation', e.details);
    throw e;
  }
  checkSize(out, t);
  return out;
}
