/*
 * OVSDB values (RFC 7047 section 5.1): atoms, sets and maps in JSON notation, parsed and checked
 * against a column type into a canonical in-memory Datum (keys sorted, no duplicates), and back.
 * Used by the transaction engine, storage and monitors; the helpers at the end (atoms, mapOf,
 * scalar, uuidStr, set, map, uuid, namedUuid) are for callers that read or build JSON datums.
 * uuid atoms are held as lowercase strings: the column type says which strings are uuids.
 */
import { OvsdbError, syntaxError } from './error.js';
import type { BaseType, ColumnType } from './schema.js';

export type Atom = number | boolean | string;

/** A canonical value: keys sorted ascending without duplicates; values parallel for maps. */
export interface Datum {
  keys: Atom[];
  values: Atom[] | null;
}

/** Resolves a ["named-uuid", name] to the uuid string it stands for in this transaction. */
export type NamedUuidResolver = (name: string) => string;

export const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function isUuid(s: unknown): s is string {
  return typeof s === 'string' && UUID_RE.test(s);
}

export function compareAtoms(a: Atom, b: Atom): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  const sa = String(a);
  const sb = String(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

function describe(json: unknown): string {
  const s = JSON.stringify(json) ?? String(json);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Parses one atom of `base`'s type and checks its constraints. */
export function atomFromJson(json: unknown, base: BaseType, named?: NamedUuidResolver): Atom {
  let atom: Atom;
  switch (base.type) {
    case 'integer':
      if (typeof json !== 'number' || !Number.isInteger(json)) throw syntaxError(`expected integer, got ${describe(json)}`);
      atom = json;
      break;
    case 'real':
      if (typeof json !== 'number' || !Number.isFinite(json)) throw syntaxError(`expected real, got ${describe(json)}`);
      atom = json;
      break;
    case 'boolean':
      if (typeof json !== 'boolean') throw syntaxError(`expected boolean, got ${describe(json)}`);
      atom = json;
      break;
    case 'string':
      if (typeof json !== 'string') throw syntaxError(`expected string, got ${describe(json)}`);
      atom = json;
      break;
    case 'uuid':
      atom = uuidFromJson(json, named);
      break;
  }
  checkAtom(atom, base);
  return atom;
}

function uuidFromJson(json: unknown, named?: NamedUuidResolver): string {
  if (Array.isArray(json) && json.length === 2 && typeof json[1] === 'string') {
    if (json[0] === 'uuid') {
      if (!isUuid(json[1])) throw syntaxError(`"${json[1]}" is not a valid UUID`);
      return json[1].toLowerCase();
    }
    if (json[0] === 'named-uuid') {
      if (!named) throw syntaxError(`named-uuid "${json[1]}" is not allowed here`);
      return named(json[1]);
    }
  }
  throw syntaxError(`expected ["uuid", ...] or ["named-uuid", ...], got ${describe(json)}`);
}

/** Checks enum and range constraints; throws "constraint violation". */
export function checkAtom(atom: Atom, base: BaseType): void {
  if (base.enum && !base.enum.some((e) => e === atom)) {
    throw new OvsdbError('constraint violation', `${describe(atom)} is not one of the allowed values (${base.enum.map((e) => describe(e)).join(', ')})`);
  }
  if (base.type === 'integer' && ((atom as number) < base.minInteger || (atom as number) > base.maxInteger)) {
    throw new OvsdbError('constraint violation', `${atom} is not in the range ${base.minInteger} to ${base.maxInteger}`);
  }
  if (base.type === 'real' && ((atom as number) < base.minReal || (atom as number) > base.maxReal)) {
    throw new OvsdbError('constraint violation', `${atom} is not in the range ${base.minReal} to ${base.maxReal}`);
  }
  if (base.type === 'string') {
    const n = [...(atom as string)].length;
    if (n < base.minLength || n > base.maxLength) {
      throw new OvsdbError('constraint violation', `"${atom}" length ${n} is not in the range ${base.minLength} to ${base.maxLength}`);
    }
  }
}

export function atomToJson(atom: Atom, base: BaseType): unknown {
  return base.type === 'uuid' ? ['uuid', atom] : atom;
}

/** Sorts keys (and values) into canonical order; throws on duplicate keys. */
export function canonical(keys: Atom[], values: Atom[] | null): Datum {
  const order = keys.map((_, i) => i).sort((a, b) => compareAtoms(keys[a], keys[b]));
  const k = order.map((i) => keys[i]);
  for (let i = 1; i < k.length; i++) {
    if (compareAtoms(k[i - 1], k[i]) === 0) {
      throw syntaxError(`${values ? 'map contains duplicate key' : 'set contains duplicate value'} ${describe(k[i])}`);
    }
  }
  return { keys: k, values: values ? order.map((i) => values[i]) : null };
}

/** Parses a datum in JSON notation against a column type, checking atoms and set size. */
export function datumFromJson(json: unknown, type: ColumnType, named?: NamedUuidResolver): Datum {
  const keys: Atom[] = [];
  let values: Atom[] | null = null;
  if (type.value) {
    values = [];
    const isEmptySet = Array.isArray(json) && json[0] === 'set' && Array.isArray(json[1]) && json[1].length === 0;
    if (!isEmptySet) {
      if (!Array.isArray(json) || json.length !== 2 || json[0] !== 'map' || !Array.isArray(json[1])) {
        throw syntaxError(`expected ["map", [[key, value], ...]], got ${describe(json)}`);
      }
      for (const pair of json[1]) {
        if (!Array.isArray(pair) || pair.length !== 2) throw syntaxError(`map element must be [key, value], got ${describe(pair)}`);
        keys.push(atomFromJson(pair[0], type.key, named));
        values.push(atomFromJson(pair[1], type.value, named));
      }
    }
  } else if (Array.isArray(json) && json[0] === 'set') {
    if (json.length !== 2 || !Array.isArray(json[1])) throw syntaxError(`expected ["set", [...]], got ${describe(json)}`);
    for (const a of json[1]) keys.push(atomFromJson(a, type.key, named));
  } else {
    keys.push(atomFromJson(json, type.key, named));
  }
  const d = canonical(keys, values);
  checkSize(d, type);
  return d;
}

export function checkSize(d: Datum, type: ColumnType): void {
  const n = d.keys.length;
  if (n < type.min || n > type.max) {
    const range = type.max === Infinity ? `at least ${type.min}` : type.min === type.max ? `exactly ${type.min}` : `${type.min} to ${type.max}`;
    throw new OvsdbError('constraint violation', `${n} element(s), but ${range} required`);
  }
}

export function datumToJson(d: Datum, type: ColumnType): unknown {
  if (type.value) {
    const vt = type.value;
    return ['map', d.keys.map((k, i) => [atomToJson(k, type.key), atomToJson(d.values![i], vt)])];
  }
  if (d.keys.length === 1) return atomToJson(d.keys[0], type.key);
  return ['set', d.keys.map((k) => atomToJson(k, type.key))];
}

function defaultAtom(base: BaseType): Atom {
  switch (base.type) {
    case 'integer':
    case 'real':
      return 0;
    case 'boolean':
      return false;
    case 'string':
      return '';
    case 'uuid':
      return ZERO_UUID;
  }
}

/** RFC 7047 default: empty if min is 0, else one default atom (0, false, "", zero uuid). */
export function defaultDatum(type: ColumnType): Datum {
  if (type.min === 0) return { keys: [], values: type.value ? [] : null };
  return { keys: [defaultAtom(type.key)], values: type.value ? [defaultAtom(type.value)] : null };
}

export function datumEquals(a: Datum, b: Datum): boolean {
  if (a.keys.length !== b.keys.length) return false;
  for (let i = 0; i < a.keys.length; i++) if (a.keys[i] !== b.keys[i]) return false;
  if (a.values && b.values) for (let i = 0; i < a.values.length; i++) if (a.values[i] !== b.values[i]) return false;
  return true;
}

/** A string equal for equal datums (for hashing into Maps). */
export function datumKey(d: Datum): string {
  return JSON.stringify(d.values ? [d.keys, d.values] : d.keys);
}

/** Index of `key` in a canonical datum, or -1 (binary search). */
export function findKey(d: Datum, key: Atom): number {
  let lo = 0;
  let hi = d.keys.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = compareAtoms(d.keys[mid], key);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** True if every element of `sub` (key, and value for maps) is in `sup`. */
export function datumIncludes(sup: Datum, sub: Datum): boolean {
  for (let i = 0; i < sub.keys.length; i++) {
    const j = findKey(sup, sub.keys[i]);
    if (j < 0) return false;
    if (sub.values && sup.values && sup.values[j] !== sub.values[i]) return false;
  }
  return true;
}

// ---- Helpers for callers working with JSON datums (clients, vsctl, vswitchd) ----

function tagged(d: unknown, tag: string): d is [string, unknown] {
  return Array.isArray(d) && d.length === 2 && d[0] === tag;
}

/** Elements of a set datum (a bare atom counts as a one-element set); keys of a map. */
export function atoms(datum: unknown): unknown[] {
  if (tagged(datum, 'set') && Array.isArray(datum[1])) return datum[1];
  if (tagged(datum, 'map') && Array.isArray(datum[1])) return (datum[1] as unknown[][]).map((p) => p[0]);
  if (datum === undefined || datum === null) return [];
  return [datum];
}

/** A map datum as a Map; keys become strings (uuid keys by their uuid). Empty for ["set", []]. */
export function mapOf(datum: unknown): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (tagged(datum, 'map') && Array.isArray(datum[1])) {
    for (const pair of datum[1] as unknown[][]) {
      const k = pair[0];
      out.set(tagged(k, 'uuid') ? String(k[1]) : String(k), pair[1]);
    }
  }
  return out;
}

/** The single atom of a datum; undefined for an empty set; the first atom of a larger set. */
export function scalar(datum: unknown): unknown {
  return atoms(datum)[0];
}

/** The uuid string of ["uuid", s] or ["named-uuid", s]; a bare string is returned as is. */
export function uuidStr(atom: unknown): string {
  if (Array.isArray(atom) && atom.length === 2 && (atom[0] === 'uuid' || atom[0] === 'named-uuid')) return String(atom[1]);
  if (typeof atom === 'string') return atom;
  throw syntaxError(`expected a uuid atom, got ${describe(atom)}`);
}

export function set(items: unknown[]): ['set', unknown[]] {
  return ['set', items];
}

export function map(entries: Record<string, unknown> | Map<unknown, unknown>): ['map', [unknown, unknown][]] {
  const pairs = entries instanceof Map ? [...entries.entries()] : Object.entries(entries);
  return ['map', pairs];
}

export function uuid(str: string): ['uuid', string] {
  return ['uuid', str];
}

export function namedUuid(name: string): ['named-uuid', string] {
  return ['named-uuid', name];
}
