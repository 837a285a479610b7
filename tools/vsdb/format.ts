/*
 * Output shapes of vsdb-client and vsdb-tool, as ovsdb-client prints them: datums as strings
 * (bare words where safe, JSON-quoted strings otherwise, [a, b] sets, {k=v} maps), tables with
 * a heading row and dashes (columns padded to their widest cell in bytes, one space between),
 * or JSON ({"caption", "data", "headings"}) or CSV. Also the row order of `dump` and schema
 * types in ovsdb-client's normalized JSON. Control path.
 */
import { compareAtoms, datumFromJson, type Atom, type Datum } from '../../src/ovsdb/datum.js';
import { relaxedType, type BaseType, type ColumnType } from '../../src/ovsdb/schema.js';

export type OutputFormat = 'table' | 'json' | 'csv' | 'list';
export type DataFormat = 'string' | 'bare' | 'json';

export interface FormatOptions {
  format: OutputFormat;
  data: DataFormat;
  headings: boolean;
  pretty: boolean;
}

export const DEFAULT_FORMAT: FormatOptions = { format: 'table', data: 'string', headings: true, pretty: false };

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** True when a string must be quoted to read back as the same string. */
export function stringNeedsQuotes(s: string): boolean {
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(s)) return true;
  return s === 'true' || s === 'false' || UUID_RE.test(s);
}

/** A real as C's "%.15g" prints it. */
export function formatReal(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return String(x);
  const exp = Math.floor(Math.log10(Math.abs(x)));
  if (exp < -4 || exp >= 15) {
    const [m, e] = x.toExponential(14).split('e');
    const mant = m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m;
    const n = Number(e);
    return `${mant}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  return String(Number(x.toPrecision(15)));
}

export function atomToString(a: Atom, base: BaseType): string {
  switch (base.type) {
    case 'string':
      return stringNeedsQuotes(a as string) ? JSON.stringify(a) : (a as string);
    case 'real':
      return formatReal(a as number);
    default:
      return String(a);
  }
}

/** A datum as ovsdb-client's "string" data format. */
export function datumToString(d: Datum, type: ColumnType): string {
  if (type.value) {
    const vt = type.value;
    return `{${d.keys.map((k, i) => `${atomToString(k, type.key)}=${atomToString(d.values![i], vt)}`).join(', ')}}`;
  }
  if (type.max > 1 || d.keys.length !== 1) return `[${d.keys.map((k) => atomToString(k, type.key)).join(', ')}]`;
  return atomToString(d.keys[0], type.key);
}

/** "bare" data format: atoms separated by spaces, maps as k=v. */
export function datumToBare(d: Datum, type: ColumnType): string {
  const atom = (a: Atom, b: BaseType) => (b.type === 'real' ? formatReal(a as number) : String(a));
  if (type.value) return d.keys.map((k, i) => `${atom(k, type.key)}=${atom(d.values![i], type.value!)}`).join(' ');
  return d.keys.map((k) => atom(k, type.key)).join(' ');
}

/** Parses a JSON datum leniently (any size: diffs and partial rows too). */
export function parseDatum(json: unknown, type: ColumnType): Datum {
  return datumFromJson(json, relaxedType(type));
}

/** Compares datums as ovsdb does: by size, then element by element. */
export function compareDatums(a: Datum, b: Datum): number {
  if (a.keys.length !== b.keys.length) return a.keys.length - b.keys.length;
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

/** One table cell: the datum's JSON and its string form. */
export interface Cell {
  json: unknown;
  text: string;
  bare: string;
}

export function cell(json: unknown, type: ColumnType | null): Cell {
  if (type === null) return { json, text: String(json ?? ''), bare: String(json ?? '') };
  const d = parseDatum(json, type);
  return { json, text: datumToString(d, type), bare: datumToBare(d, type) };
}

export const textCell = (s: string): Cell => ({ json: s, text: s, bare: s });

export interface OutTable {
  caption?: string;
  headings: string[];
  rows: Cell[][];
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Renders a table in the chosen format (each ends with a newline). */
export function renderTable(t: OutTable, o: FormatOptions): string {
  const pick = (c: Cell): string => (o.data === 'json' ? JSON.stringify(c.json) : o.data === 'bare' ? c.bare : c.text);
  if (o.format === 'json') {
    const out: Record<string, unknown> = {};
    if (t.caption !== undefined) out.caption = t.caption;
    out.data = t.rows.map((r) => r.map((c) => (o.data === 'string' ? c.json : pick(c))));
    if (o.headings) out.headings = t.headings;
    return `${o.pretty ? JSON.stringify(out, null, 4) : JSON.stringify(out)}\n`;
  }
  let s = t.caption !== undefined ? `${t.caption}\n` : '';
  if (o.format === 'csv') {
    if (o.headings) s += `${t.headings.map(csvField).join(',')}\n`;
    for (const r of t.rows) s += `${r.map((c) => csvField(pick(c))).join(',')}\n`;
    return s;
  }
  if (o.format === 'list') {
    s += t.rows.map((r) => r.map((c, i) => (o.headings ? `${t.headings[i].padEnd(20)}: ${pick(c)}` : pick(c))).join('\n')).join('\n\n');
    return t.rows.length ? `${s}\n` : s;
  }
  const texts = t.rows.map((r) => r.map(pick));
  const widths = t.headings.map((h, i) => Math.max(o.headings ? Buffer.byteLength(h) : 0, ...texts.map((r) => Buffer.byteLength(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i] - Buffer.byteLength(c)))).join(' ').replace(/ +$/, '');
  if (o.headings) {
    s += `${line(t.headings)}\n`;
    s += `${widths.map((w) => '-'.repeat(w)).join(' ')}\n`;
  }
  for (const r of texts) s += `${line(r)}\n`;
  return s;
}

// ---- Schema types as ovsdb-client prints them (normalized JSON, sorted keys) ----

function baseTypeJson(b: BaseType): unknown {
  const o: Record<string, unknown> = {};
  if (b.enum) o.enum = b.enum.length === 1 ? b.enum[0] : ['set', b.enum];
  if (b.type === 'integer') {
    if (b.maxInteger !== Infinity) o.maxInteger = b.maxInteger;
    if (b.minInteger !== -Infinity) o.minInteger = b.minInteger;
  }
  if (b.type === 'real') {
    if (b.maxReal !== Infinity) o.maxReal = b.maxReal;
    if (b.minReal !== -Infinity) o.minReal = b.minReal;
  }
  if (b.type === 'string') {
    if (b.maxLength !== Infinity) o.maxLength = b.maxLength;
    if (b.minLength !== 0) o.minLength = b.minLength;
  }
  if (b.refTable) {
    o.refTable = b.refTable;
    if (b.refType === 'weak') o.refType = 'weak';
  }
  if (Object.keys(o).length === 0) return b.type;
  o.type = b.type;
  return Object.fromEntries(Object.entries(o).sort(([a], [c]) => (a < c ? -1 : 1)));
}

export function columnTypeJson(t: ColumnType): unknown {
  const key = baseTypeJson(t.key);
  if (!t.value && t.min === 1 && t.max === 1) return key;
  const o: Record<string, unknown> = { key };
  if (t.max !== 1) o.max = t.max === Infinity ? 'unlimited' : t.max;
  if (t.min !== 1) o.min = t.min;
  if (t.value) o.value = baseTypeJson(t.value);
  return o;
}
