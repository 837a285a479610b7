/*
 * list and find output in ovs-vsctl's shapes (OVS lib/table.c): "list" (column : value),
 * "table" (headings, dashes, columns as wide as their widest cell in bytes), "csv", "html",
 * "json" ({"data","headings"}, RFC 7047 cells; --pretty as OVS indents); cells as "string",
 * "bare" or "json" (-d). Each table after an invocation's first follows a blank line (not
 * JSON). Pure; called by tools/vsctl.ts. Control path only.
 */
import { datumToJson, isUuid, type Datum } from '../../src/ovsdb/datum.js';
import type { ColumnType } from '../../src/ovsdb/schema.js';
import { ToolError } from '../common.js';
import { formatBare, formatDatum, formatReal } from './values.js';

export type TableFormat = 'list' | 'table' | 'csv' | 'html' | 'json';
export type CellFormat = 'string' | 'bare' | 'json';

export interface TableStyle {
  format: TableFormat;
  cells: CellFormat;
  headings: boolean;
  pretty: boolean;
  /** 0: no limit (table format only). */
  maxColumnWidth: number;
}

export const DEFAULT_STYLE: TableStyle = { format: 'list', cells: 'string', headings: true, pretty: false, maxColumnWidth: 0 };

export function parseTableFormat(s: string): TableFormat {
  if (s === 'list' || s === 'table' || s === 'csv' || s === 'html' || s === 'json') return s;
  throw new ToolError(`unknown output format "${s}"`);
}

export function parseCellFormat(s: string): CellFormat {
  if (s === 'string' || s === 'bare' || s === 'json') return s;
  throw new ToolError(`unknown data format "${s}"`);
}

export interface Cell {
  datum: Datum;
  type: ColumnType;
}

export interface OutTable {
  headings: string[];
  rows: Cell[][];
}

// ---- JSON as OVS writes it (json_to_ds) ------------------------------------------------------

function jsonNumber(n: number): string {
  return Number.isSafeInteger(n) ? String(n) : formatReal(n);
}

/** Serializes JSON like OVS: compact, or with `pretty` each element on its own line indented
 * two spaces, closing brackets on the last element's line; object keys sorted. */
export function ovsJson(v: unknown, pretty: boolean, depth = 0): string {
  const nl = (d: number): string => (pretty ? `\n${'  '.repeat(d)}` : '');
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number') return jsonNumber(v);
  if (typeof v === 'string' || typeof v === 'boolean') return JSON.stringify(v);
  if (Array.isArray(v)) {
    if (!v.length) return '[]';
    return `[${nl(depth + 1)}${v.map((x) => ovsJson(x, pretty, depth + 1)).join(`,${nl(depth + 1)}`)}]`;
  }
  const keys = Object.keys(v as object).sort();
  const sep = pretty ? ': ' : ':';
  const members = keys.map((k) => `${JSON.stringify(k)}${sep}${ovsJson((v as Record<string, unknown>)[k], pretty, depth + 1)}`);
  return `{${nl(depth + 1)}${members.join(`,${nl(depth + 1)}`)}}`;
}

// ---- Cells ------------------------------------------------------------------------------------

export function cellJson(c: Cell): unknown {
  return datumToJson(c.datum, c.type);
}

export function cellText(c: Cell, style: TableStyle): string {
  if (style.cells === 'json') return ovsJson(cellJson(c), false);
  return style.cells === 'bare' ? formatBare(c.datum, c.type) : formatDatum(c.datum, c.type);
}

// ---- Formats ----------------------------------------------------------------------------------

const bytes = (s: string): number => Buffer.byteLength(s);

/** `s` cut to `n` bytes (printf's "%.*s"). */
function cutBytes(s: string, n: number): string {
  const b = Buffer.from(s);
  return b.length <= n ? s : b.subarray(0, n).toString();
}

function padBytes(s: string, n: number): string {
  return s + ' '.repeat(Math.max(0, n - bytes(s)));
}

function formatTable(t: OutTable, style: TableStyle): string {
  const texts = t.rows.map((r) => r.map((c) => cellText(c, style)));
  const widths = t.headings.map((h, x) => {
    let w = Math.max(0, ...texts.map((r) => bytes(r[x])));
    if (style.maxColumnWidth > 0 && w > style.maxColumnWidth) w = style.maxColumnWidth;
    return style.headings ? Math.max(w, bytes(h)) : w;
  });
  const line = (cells: string[]): string => `${cells.join(' ').replace(/ +$/, '')}\n`;
  let s = '';
  if (style.headings) {
    s += line(t.headings.map((h, x) => padBytes(h, widths[x])));
    s += line(widths.map((w) => '-'.repeat(w)));
  }
  for (const r of texts) s += line(r.map((c, x) => padBytes(cutBytes(c, widths[x]), widths[x])));
  return s;
}

function formatList(t: OutTable, style: TableStyle): string {
  return t.rows
    .map((r) => r.map((c, x) => `${style.headings ? `${t.headings[x].padEnd(20)}: ` : ''}${cellText(c, style)}\n`).join(''))
    .join('\n');
}

function csvCell(s: string): string {
  return /[\n",]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function formatCsv(t: OutTable, style: TableStyle): string {
  let s = style.headings ? `${t.headings.map(csvCell).join(',')}\n` : '';
  for (const r of t.rows) s += `${r.map((c) => csvCell(cellText(c, style))).join(',')}\n`;
  return s;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** An HTML cell: uuids inside become links to the row ("#uuid", showing its first 8 digits). */
function htmlCell(element: string, content: string): string {
  let s = '';
  for (let p = 0; p < content.length; ) {
    const u = content.slice(p, p + 36);
    if (isUuid(u)) {
      s += `<a href="#${u}">${u.slice(0, 8)}</a>`;
      p += 36;
    } else s += escapeHtml(content[p++]);
  }
  return `    <${element}>${s}</${element}>\n`;
}

function formatHtml(t: OutTable, style: TableStyle): string {
  let s = '<table border=1>\n';
  if (style.headings) s += `  <tr>\n${t.headings.map((h) => htmlCell('th', h)).join('')}  </tr>\n`;
  for (const r of t.rows) {
    s += '  <tr>\n';
    r.forEach((c, x) => {
      const text = cellText(c, style);
      s += t.headings[x] === '_uuid' ? `    <td><a name="${escapeHtml(text)}">${escapeHtml(text.slice(0, 8))}</a></td>\n` : htmlCell('td', text);
    });
    s += '  </tr>\n';
  }
  return `${s}</table>\n`;
}

function formatJson(t: OutTable, style: TableStyle): string {
  return `${ovsJson({ headings: t.headings, data: t.rows.map((r) => r.map(cellJson)) }, style.pretty)}\n`;
}

/**
 * Prints the tables of one invocation in order: returns a function that formats the next
 * table (with the blank line that separates it from an earlier one).
 */
export function tablePrinter(style: TableStyle): (t: OutTable) => string {
  let first = true;
  return (t) => {
    if (style.format === 'json') return formatJson(t, style);
    if (style.format === 'html') return formatHtml(t, style);
    const sep = first ? '' : '\n';
    first = false;
    if (style.format === 'table') return sep + formatTable(t, style);
    if (style.format === 'csv') return sep + formatCsv(t, style);
    return sep + formatList(t, style);
  };
}
