/*
 * The commands of vsdb-client (tools/vsdb-client.ts parses the command line and calls these):
 * one function per command, each given a connected client, the database name and its
 * arguments, printing through ToolIo in ovsdb-client's shapes (format.ts). Control path.
 */
import { ToolError, type ToolIo } from '../common.js';
import type { VsdbClient, TableUpdates, TableUpdates2 } from '../../src/ovsdb/client.js';
import { parseSchema, findColumn, type DbSchema, type TableSchema, type ColumnSchema } from '../../src/ovsdb/schema.js';
import { applyRecord, Database, snapshotRecord } from '../../src/ovsdb/database.js';
import { decodeRecords, encodeRecord } from '../../src/ovsdb/log-record.js';
import { cell, columnTypeJson, compareDatums, parseDatum, renderTable, textCell, type Cell, type FormatOptions, type OutTable } from './format.js';

export interface ClientCtx {
  client: VsdbClient;
  db: string;
  io: ToolIo;
  fmt: FormatOptions;
  /** Reads all of standard input (restore). */
  readStdin: () => Promise<Buffer>;
  /** Writes raw bytes to standard output (backup). */
  writeRaw: (b: Buffer) => void;
}

async function schemaOf(ctx: ClientCtx): Promise<DbSchema> {
  return parseSchema(await ctx.client.getSchema(ctx.db));
}

function tableOf(schema: DbSchema, name: string): TableSchema {
  const t = schema.tables.get(name);
  if (!t) throw new ToolError(`${schema.name} does not contain table ${name}`);
  return t;
}

function columnOf(t: TableSchema, name: string): ColumnSchema {
  const c = findColumn(t, name);
  if (!c) throw new ToolError(`Table "${t.name}" has no column ${name}.`);
  return c;
}

export async function cmdListTables(ctx: ClientCtx): Promise<void> {
  const schema = await schemaOf(ctx);
  ctx.io.out(renderTable({ headings: ['Table'], rows: [...schema.tables.keys()].map((t) => [textCell(t)]) }, ctx.fmt));
}

export async function cmdListColumns(ctx: ClientCtx, table: string | undefined): Promise<void> {
  const schema = await schemaOf(ctx);
  const tables = table ? [tableOf(schema, table)] : [...schema.tables.values()];
  const rows: Cell[][] = [];
  for (const t of tables) {
    const cols = [columnOf(t, '_uuid'), columnOf(t, '_version'), ...t.columns.values()];
    for (const c of cols) {
      const type = textCell(JSON.stringify(columnTypeJson(c.type)));
      rows.push(table ? [textCell(c.name), type] : [textCell(t.name), textCell(c.name), type]);
    }
  }
  ctx.io.out(renderTable({ headings: table ? ['Column', 'Type'] : ['Table', 'Column', 'Type'], rows }, ctx.fmt));
}

/** ["db", op...] from the command line: the database must be named in it. */
function parseTransaction(text: string): { db: string; ops: object[] } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ToolError(`transaction is not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(json) || typeof json[0] !== 'string') throw new ToolError('transaction must be a JSON array whose first element is the database name');
  return { db: json[0], ops: json.slice(1) as object[] };
}

export async function cmdTransact(ctx: ClientCtx, text: string, readOnly: boolean): Promise<number> {
  const { db, ops } = parseTransaction(text);
  const all = readOnly ? [...ops, { op: 'abort' }] : ops;
  let results = (await ctx.client.conn.request('transact', [db, ...all])) as unknown[];
  if (readOnly && Array.isArray(results)) results = results.slice(0, ops.length);
  ctx.io.out(`${ctx.fmt.pretty ? JSON.stringify(results, null, 4) : JSON.stringify(results)}\n`);
  return 0;
}

/** Rows of `table` sorted as ovsdb-client dump sorts them: by the displayed columns in order,
 * uuid-keyed columns (random values) only after all the others. */
function dumpTable(t: TableSchema, rows: Record<string, unknown>[], columns: ColumnSchema[]): OutTable {
  const parsed = rows.map((r) => columns.map((c) => parseDatum(r[c.name], c.type)));
  const order = parsed.map((_, i) => i);
  const idx = columns.map((c, i) => [c, i] as const);
  const keyOrder = [...idx.filter(([c]) => c.type.key.type !== 'uuid'), ...idx.filter(([c]) => c.type.key.type === 'uuid')].map(([, i]) => i);
  order.sort((a, b) => {
    for (const i of keyOrder) {
      const c = compareDatums(parsed[a][i], parsed[b][i]);
      if (c) return c;
    }
    return 0;
  });
  return {
    caption: `${t.name} table`,
    headings: columns.map((c) => c.name),
    rows: order.map((i) => columns.map((c) => cell(rows[i][c.name], c.type))),
  };
}

export async function cmdDump(ctx: ClientCtx, args: string[]): Promise<void> {
  const schema = await schemaOf(ctx);
  const tables = args.length ? [tableOf(schema, args[0])] : [...schema.tables.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  const ops = tables.map((t) => ({ op: 'select', table: t.name, where: [] }));
  const results = await ctx.client.transact(ctx.db, ops);
  const out: string[] = [];
  tables.forEach((t, i) => {
    const columns = args.length > 1 ? args.slice(1).map((c) => columnOf(t, c)) : [columnOf(t, '_uuid'), ...[...t.columns.values()].sort((a, b) => (a.name < b.name ? -1 : 1))];
    out.push(renderTable(dumpTable(t, results[i].rows, columns), ctx.fmt));
  });
  ctx.io.out(ctx.fmt.format === 'table' || ctx.fmt.format === 'list' ? out.join('\n') : out.join(''));
}

interface MonitorSpec {
  table: TableSchema;
  columns: ColumnSchema[];
  select: Record<string, boolean>;
}

/** TABLE [COLUMN,...] pairs (or ALL) as ovsdb-client monitor takes them. */
function parseMonitorArgs(schema: DbSchema, args: string[]): MonitorSpec[] {
  if (args.length === 1 && args[0] === 'ALL') {
    return [...schema.tables.values()].map((t) => ({ table: t, columns: [...t.columns.values()], select: {} }));
  }
  const specs: MonitorSpec[] = [];
  for (let i = 0; i < args.length; i++) {
    const table = tableOf(schema, args[i]);
    const spec: MonitorSpec = { table, columns: [], select: {} };
    if (i + 1 < args.length && !schema.tables.has(args[i + 1])) {
      for (const name of args[++i].split(',').filter(Boolean)) {
        if (name.startsWith('!')) {
          if (!['initial', 'insert', 'delete', 'modify'].includes(name.slice(1))) throw new ToolError(`unknown monitor select flag ${name}`);
          spec.select[name.slice(1)] = false;
        } else spec.columns.push(columnOf(table, name));
      }
    }
    if (spec.columns.length === 0) spec.columns = [...table.columns.values()];
    specs.push(spec);
  }
  if (!specs.length) throw new ToolError('monitor needs at least one table');
  return specs;
}

/** Prints one update (v1 or v2 shape) as ovsdb-client does: "row action col..." per table. */
function printUpdate(ctx: ClientCtx, specs: MonitorSpec[], updates: TableUpdates | TableUpdates2, initial: boolean): void {
  for (const spec of specs) {
    const rows = updates[spec.table.name];
    if (!rows) continue;
    const out: Cell[][] = [];
    for (const [uuid, u] of Object.entries(rows) as [string, Record<string, any>][]) {
      const line = (who: string, action: string, data: Record<string, unknown> | undefined) =>
        out.push([textCell(who), textCell(action), ...spec.columns.map((c) => (data && c.name in data ? cell(data[c.name], c.type) : textCell('')))]);
      if ('initial' in u) line(uuid, 'initial', u.initial);
      else if ('insert' in u) line(uuid, 'insert', u.insert);
      else if ('delete' in u) line(uuid, 'delete', undefined);
      else if ('modify' in u) line(uuid, 'modify', u.modify);
      else if (u.new && !u.old) line(uuid, initial ? 'initial' : 'insert', u.new);
      else if (u.old && !u.new) line(uuid, 'delete', u.old);
      else {
        line(uuid, 'old', u.old);
        line('', 'new', u.new);
      }
    }
    const caption = specs.length > 1 ? spec.table.name : undefined;
    ctx.io.out(renderTable({ caption, headings: ['row', 'action', ...spec.columns.map((c) => c.name)], rows: out }, ctx.fmt));
    if (ctx.fmt.format === 'table') ctx.io.out('\n');
  }
}

/** monitor / monitor-cond: prints the initial contents, then every update until the connection closes. */
export async function cmdMonitor(ctx: ClientCtx, args: string[], condition: string | null): Promise<number> {
  const schema = await schemaOf(ctx);
  let where: unknown[] | undefined;
  if (condition !== null) {
    try {
      where = JSON.parse(condition);
    } catch (e) {
      throw new ToolError(`condition is not valid JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(where)) throw new ToolError('condition must be a JSON array of conditions');
  }
  const specs = parseMonitorArgs(schema, args);
  const requests: Record<string, object> = {};
  for (const s of specs) requests[s.table.name] = { columns: s.columns.map((c) => c.name), select: s.select, ...(where ? { where } : {}) };
  const closed = new Promise<void>((r) => ctx.client.onClose(r));
  const initial = where
    ? await ctx.client.monitorCond(ctx.db, null, requests, (u) => printUpdate(ctx, specs, u, false))
    : await ctx.client.monitor(ctx.db, null, requests, (u) => printUpdate(ctx, specs, u, false));
  printUpdate(ctx, specs, initial, true);
  await closed;
  return 0;
}

export async function cmdLock(ctx: ClientCtx, method: 'lock' | 'steal' | 'unlock', name: string): Promise<number> {
  ctx.client.onLock((event, lock) => ctx.io.out(`${event}\n${JSON.stringify([lock])}\n`));
  const result = await ctx.client.conn.request(method, [name]);
  ctx.io.out(`${JSON.stringify(result)}\n`);
  if (method === 'unlock') return 0;
  await new Promise<void>((r) => ctx.client.onClose(r));
  return 0;
}

/** backup: the database as a vsdb database file (schema + one snapshot record) on stdout. */
export async function cmdBackup(ctx: ClientCtx): Promise<void> {
  const schemaJson = await ctx.client.getSchema(ctx.db);
  const schema = parseSchema(schemaJson);
  const names = [...schema.tables.keys()];
  const results = await ctx.client.transact(ctx.db, names.map((t) => ({ op: 'select', table: t, where: [] })));
  const db = new Database(schema);
  const rec: Record<string, Record<string, unknown>> = {};
  names.forEach((t, i) => {
    const rows: Record<string, unknown> = {};
    for (const r of results[i].rows) {
      const { _uuid, _version, ...cols } = r as Record<string, unknown>;
      void _version;
      rows[(_uuid as [string, string])[1]] = cols;
    }
    rec[t] = rows;
  });
  applyRecord(db, rec);
  const snap = { ...snapshotRecord(db), _date: Date.now(), _comment: 'vsdb-client backup', _compacted: true };
  ctx.writeRaw(Buffer.concat([encodeRecord(schemaJson), encodeRecord(snap)]));
}

/** restore: replaces every row with those of a database file read from stdin, keeping uuids. */
export async function cmdRestore(ctx: ClientCtx, force: boolean): Promise<void> {
  const buf = await ctx.readStdin();
  const log = decodeRecords(buf);
  if (log.error || log.records.length === 0) throw new ToolError(`restore: input is not a whole vsdb database file (${log.error ?? 'empty'})`);
  const fileSchema = parseSchema(log.records[0]);
  const live = parseSchema(await ctx.client.getSchema(ctx.db));
  if (fileSchema.name !== live.name) throw new ToolError(`restore: database name in snapshot ("${fileSchema.name}") does not match server ("${live.name}")`);
  if (fileSchema.version !== live.version && !force) {
    throw new ToolError(`restore: schema version in snapshot (${fileSchema.version}) differs from server's (${live.version}); use --force to restore anyway`);
  }
  const db = new Database(fileSchema);
  for (const r of log.records.slice(1)) applyRecord(db, r);
  const ops: object[] = [];
  for (const t of live.tables.keys()) ops.push({ op: 'delete', table: t, where: [] });
  const snap = snapshotRecord(db) as Record<string, Record<string, Record<string, unknown>>>;
  for (const [t, rows] of Object.entries(snap)) {
    if (!live.tables.has(t)) continue;
    for (const [uuid, row] of Object.entries(rows)) ops.push({ op: 'insert', table: t, uuid: ['uuid', uuid], row });
  }
  ops.push({ op: 'comment', comment: 'vsdb-client restore' });
  await ctx.client.transact(ctx.db, ops);
}
