/*
 * Database schemas in RFC 7047 form (section 3.2): parse, validate and describe column types.
 * Used by datum.ts (type checks), the transaction engine, storage (first record) and tools.
 * parseSchema collects every problem it finds and throws one SchemaError listing them all.
 * Not on any hot path.
 */
import { VswitchError } from '../lib/errors.js';
import { datumFromJson, type Atom } from './datum.js';

export type AtomicTypeName = 'integer' | 'real' | 'boolean' | 'string' | 'uuid';
const ATOMIC_TYPES: readonly string[] = ['integer', 'real', 'boolean', 'string', 'uuid'];

export interface BaseType {
  type: AtomicTypeName;
  /** Allowed atoms in canonical order, or null for any. */
  enum: Atom[] | null;
  minInteger: number;
  maxInteger: number;
  minReal: number;
  maxReal: number;
  minLength: number;
  maxLength: number;
  /** For uuid atoms: the table referred to, or null for a plain uuid. */
  refTable: string | null;
  refType: 'strong' | 'weak';
}

export interface ColumnType {
  key: BaseType;
  value: BaseType | null;
  min: number;
  /** Infinity for "unlimited". */
  max: number;
}

export interface ColumnSchema {
  name: string;
  type: ColumnType;
  ephemeral: boolean;
  mutable: boolean;
}

export interface TableSchema {
  name: string;
  /** User columns in schema order (not _uuid/_version). */
  columns: Map<string, ColumnSchema>;
  isRoot: boolean;
  maxRows: number;
  indexes: string[][];
}

export interface DbSchema {
  name: string;
  version: string;
  tables: Map<string, TableSchema>;
  /** The schema as given, returned verbatim by get_schema and stored as the first record. */
  json: Record<string, unknown>;
}

/** Thrown when a schema is malformed; the message lists every problem found. */
export class SchemaError extends VswitchError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super('SCHEMA', `invalid schema: ${problems.join('; ')}`);
    this.name = 'SchemaError';
    this.problems = problems;
  }
}

const ID_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const VERSION_RE = /^\d+\.\d+\.\d+$/;

export function baseType(type: AtomicTypeName, extra: Partial<BaseType> = {}): BaseType {
  return {
    type,
    enum: null,
    minInteger: -Infinity,
    maxInteger: Infinity,
    minReal: -Infinity,
    maxReal: Infinity,
    minLength: 0,
    maxLength: Infinity,
    refTable: null,
    refType: 'strong',
    ...extra,
  };
}

export const UUID_COLUMN_TYPE: ColumnType = { key: baseType('uuid'), value: null, min: 1, max: 1 };
const IMPLICIT: Record<string, ColumnSchema> = {
  _uuid: { name: '_uuid', type: UUID_COLUMN_TYPE, ephemeral: false, mutable: false },
  _version: { name: '_version', type: UUID_COLUMN_TYPE, ephemeral: false, mutable: false },
};

/** A column by name, including the implicit _uuid and _version. */
export function findColumn(table: TableSchema, name: string): ColumnSchema | undefined {
  return table.columns.get(name) ?? IMPLICIT[name];
}

export const isMapType = (t: ColumnType): boolean => t.value !== null;
export const isScalarType = (t: ColumnType): boolean => t.value === null && t.min === 1 && t.max === 1;
export const isOptionalType = (t: ColumnType): boolean => t.value === null && t.min === 0 && t.max === 1;

/** The same type with set-size limits removed (for condition and mutation arguments). */
export function relaxedType(t: ColumnType): ColumnType {
  return { ...t, min: 0, max: Infinity };
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function parseBaseType(json: unknown, where: string, problems: string[]): BaseType | null {
  if (typeof json === 'string') {
    if (!ATOMIC_TYPES.includes(json)) {
      problems.push(`${where}: unknown atomic type "${json}"`);
      return null;
    }
    return baseType(json as AtomicTypeName);
  }
  if (!isObj(json) || typeof json.type !== 'string' || !ATOMIC_TYPES.includes(json.type)) {
    problems.push(`${where}: expected an atomic type or {"type": ...}`);
    return null;
  }
  const bt = baseType(json.type as AtomicTypeName);
  const num = (k: string, integer: boolean): number | undefined => {
    const v = json[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || (integer && !Number.isInteger(v))) {
      problems.push(`${where}: ${k} must be ${integer ? 'an integer' : 'a number'}`);
      return undefined;
    }
    return v;
  };
  bt.minInteger = num('minInteger', true) ?? bt.minInteger;
  bt.maxInteger = num('maxInteger', true) ?? bt.maxInteger;
  bt.minReal = num('minReal', false) ?? bt.minReal;
  bt.maxReal = num('maxReal', false) ?? bt.maxReal;
  bt.minLength = num('minLength', true) ?? bt.minLength;
  bt.maxLength = num('maxLength', true) ?? bt.maxLength;
  if (bt.minInteger > bt.maxInteger || bt.minReal > bt.maxReal || bt.minLength > bt.maxLength) {
    problems.push(`${where}: minimum exceeds maximum`);
  }
  if (json.refTable !== undefined) {
    if (bt.type !== 'uuid' || typeof json.refTable !== 'string') problems.push(`${where}: refTable needs type uuid and a table name`);
    else bt.refTable = json.refTable;
  }
  if (json.refType !== undefined) {
    if (json.refType !== 'strong' && json.refType !== 'weak') problems.push(`${where}: refType must be "strong" or "weak"`);
    else bt.refType = json.refType;
  }
  if (json.enum !== undefined) {
    try {
      const d = datumFromJson(json.enum, { key: baseType(bt.type), value: null, min: 1, max: Infinity });
      bt.enum = d.keys;
    } catch (e) {
      problems.push(`${where}: bad enum: ${(e as Error).message}`);
    }
  }
  return bt;
}

/** Parses an RFC 7047 <type>. Problems are appended to `problems`; returns null if unusable. */
export function parseColumnType(json: unknown, where: string, problems: string[]): ColumnType | null {
  if (typeof json === 'string') {
    const key = parseBaseType(json, where, problems);
    return key && { key, value: null, min: 1, max: 1 };
  }
  if (!isObj(json)) {
    problems.push(`${where}: type must be a string or an object`);
    return null;
  }
  const key = parseBaseType(json.key, `${where} key`, problems);
  const value = json.value === undefined ? null : parseBaseType(json.value, `${where} value`, problems);
  const min = json.min ?? 1;
  const max = json.max === 'unlimited' ? Infinity : json.max ?? 1;
  if (min !== 0 && min !== 1) problems.push(`${where}: min must be 0 or 1`);
  if (typeof max !== 'number' || !(max >= 1) || (max !== Infinity && !Number.isInteger(max))) {
    problems.push(`${where}: max must be a positive integer or "unlimited"`);
  }
  if (!key || (json.value !== undefined && !value)) return null;
  return { key, value, min: min as number, max: max as number };
}

/** Parses and validates a whole schema; throws SchemaError with every problem found. */
export function parseSchema(json: unknown): DbSchema {
  const problems: string[] = [];
  if (!isObj(json)) throw new SchemaError(['schema must be a JSON object']);
  if (typeof json.name !== 'string' || !ID_RE.test(json.name)) problems.push('"name" must be an identifier');
  if (typeof json.version !== 'string' || !VERSION_RE.test(json.version)) problems.push('"version" must look like "x.y.z"');
  if (!isObj(json.tables)) throw new SchemaError([...problems, '"tables" must be an object']);
  const tables = new Map<string, TableSchema>();
  let anyRoot = false;
  for (const [tname, tjson] of Object.entries(json.tables)) {
    if (!ID_RE.test(tname) || tname.startsWith('_')) problems.push(`table "${tname}": bad table name`);
    if (!isObj(tjson) || !isObj(tjson.columns)) {
      problems.push(`table "${tname}": needs a "columns" object`);
      continue;
    }
    const columns = new Map<string, ColumnSchema>();
    for (const [cname, cjson] of Object.entries(tjson.columns)) {
      const where = `${tname}.${cname}`;
      if (!ID_RE.test(cname) || cname.startsWith('_')) problems.push(`${where}: bad column name`);
      if (!isObj(cjson)) {
        problems.push(`${where}: column must be an object`);
        continue;
      }
      const type = parseColumnType(cjson.type, where, problems);
      if (!type) continue;
      columns.set(cname, { name: cname, type, ephemeral: cjson.ephemeral === true, mutable: cjson.mutable !== false });
    }
    const maxRows = tjson.maxRows === undefined ? Infinity : tjson.maxRows;
    if (typeof maxRows !== 'number' || !(maxRows >= 1)) problems.push(`table "${tname}": maxRows must be a positive integer`);
    const indexes: string[][] = [];
    if (tjson.indexes !== undefined) {
      if (!Array.isArray(tjson.indexes)) problems.push(`table "${tname}": indexes must be an array`);
      else {
        for (const idx of tjson.indexes) {
          if (!Array.isArray(idx) || idx.length === 0 || !idx.every((c) => typeof c === 'string' && columns.has(c))) {
            problems.push(`table "${tname}": index ${JSON.stringify(idx)} must list existing columns`);
          } else indexes.push(idx as string[]);
        }
      }
    }
    if (tjson.isRoot === true) anyRoot = true;
    tables.set(tname, { name: tname, columns, isRoot: tjson.isRoot === true, maxRows: maxRows as number, indexes });
  }
  // RFC 7047: a schema that marks no table as root treats every table as root.
  if (!anyRoot) for (const t of tables.values()) t.isRoot = true;
  for (const t of tables.values()) {
    for (const c of t.columns.values()) {
      for (const b of [c.type.key, c.type.value]) {
        if (b?.refTable && !tables.has(b.refTable)) problems.push(`${t.name}.${c.name}: refTable "${b.refTable}" is not a table`);
      }
    }
  }
  if (problems.length) throw new SchemaError(problems);
  return { name: json.name as string, version: json.version as string, tables, json };
}
