/*
 * vsdb-tool: works on a vsdb database file directly while no server has it open, shaped like
 * ovsdb-tool: create, compact, show-log, query, transact, check (integrity), db-name,
 * db-version, schema-name, schema-version. Writers take the file's lock, so they refuse a file
 * a running vsdb-server owns. bin/vsdb-tool.js calls main(). Control path.
 */
import { existsSync, readFileSync } from 'node:fs';
import { paths } from '../src/lib/paths.js';
import { openDbFile, initialRecords } from '../src/ovsdb/db-file.js';
import { defaultSchemaPath } from '../src/ovsdb/main.js';
import { parseSchema, type DbSchema } from '../src/ovsdb/schema.js';
import { Storage } from '../src/ovsdb/storage.js';
import { decodeRecords } from '../src/ovsdb/log-record.js';
import { applyRecord, Database, snapshotRecord } from '../src/ovsdb/database.js';
import { VsdbService } from '../src/ovsdb/server.js';
import pino from 'pino';
import { parseOptions, runTool, stdio, ToolError, versionLine, type OptSpec, type ToolIo } from './common.js';
import { checkFile } from './vsdb/check.js';
import { showLog } from './vsdb/show-log.js';

const TOOL = 'vsdb-tool';

const OPTIONS: OptSpec[] = [
  { long: 'more', short: 'm', arg: 'none' },
  { long: 'help', short: 'h', arg: 'none' },
  { long: 'version', short: 'V', arg: 'none' },
];

export function vsdbToolHelp(env: NodeJS.ProcessEnv = process.env): string {
  return `${TOOL}: vsdb database management utility
usage: ${TOOL} [OPTIONS] COMMAND [ARG...]
  create [DB [SCHEMA]]    create DB with the given SCHEMA
  compact [DB [DST]]      compact DB in-place (or to DST)
  db-name [DB]            report name of schema used by DB
  db-version [DB]         report version of schema used by DB
  schema-name [SCHEMA]    report SCHEMA's name
  schema-version [SCHEMA] report SCHEMA's schema version
  query [DB] TRNS         execute read-only transaction on DB
  transact [DB] TRNS      execute read/write transaction on DB
  check [DB]              check DB's log records and integrity
  [-m]... show-log [DB]   print DB's log entries
The default DB is ${paths(env).dbFile}.
The default SCHEMA is ${defaultSchemaPath()}.

Other options:
  -m, --more                  increase show-log verbosity
  -h, --help                  display this help message
  -V, --version               display version information
`;
}

/** Storage warnings (a dropped torn tail) as "vsdb-tool: message" lines on stderr. */
const toolLog = (io: ToolIo) =>
  pino({ level: 'warn' }, { write: (line: string) => io.err(`${TOOL}: ${(JSON.parse(line) as { msg?: string }).msg ?? line.trim()}\n`) });

function readSchemaFile(path: string): DbSchema {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ToolError(`${path}: cannot read schema (${(e as Error).message})`);
  }
  return parseSchema(json);
}

/** The schema stored in a database file (its first record), read without taking the lock. */
function fileSchema(path: string): DbSchema {
  if (!existsSync(path)) throw new ToolError(`${path}: open failed (No such file or directory)`);
  const log = decodeRecords(readFileSync(path));
  if (!log.records.length) throw new ToolError(`${path}: not a vsdb database file (${log.error ?? 'empty'})`);
  return parseSchema(log.records[0]);
}

/** Runs TRNS (a JSON array: [db-name, op...]) against the file; prints the results. */
async function transactFile(path: string, text: string, readOnly: boolean, io: ToolIo): Promise<number> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ToolError(`transaction is not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(json) || typeof json[0] !== 'string') throw new ToolError('transaction must be a JSON array whose first element is the database name');
  const log = toolLog(io);
  // query reads the file without the lock and without repairing it (a server may own it).
  const opened = readOnly ? { db: replayFile(path), storage: null } : await openDbFile(path, { log });
  const { db, storage } = opened;
  if (json[0] !== db.name) {
    await storage?.close();
    throw new ToolError(`${path}: database is "${db.name}", not "${json[0]}"`);
  }
  const svc = new VsdbService(db, storage, log);
  try {
    const ops = readOnly ? [...json.slice(1), { op: 'abort' }] : json.slice(1);
    let results = await svc.transact(ops);
    if (readOnly) results = results.slice(0, json.length - 1);
    io.out(`${JSON.stringify(results)}\n`);
    return 0;
  } finally {
    await svc.close();
  }
}

/** The database a file holds, replayed in memory (a damaged tail is ignored, not cut off). */
function replayFile(path: string): Database {
  const schema = fileSchema(path);
  const db = new Database(schema);
  for (const r of decodeRecords(readFileSync(path)).records.slice(1)) applyRecord(db, r);
  return db;
}

/** Runs vsdb-tool with `argv`; resolves with the exit status. */
export function run(argv: string[], io: ToolIo = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runTool(TOOL, io, async () => {
    const { opts, rest } = parseOptions(argv, OPTIONS, true);
    let more = 0;
    for (const o of opts) {
      if (o.name === 'help') {
        io.out(vsdbToolHelp(env));
        return 0;
      }
      if (o.name === 'version') {
        io.out(versionLine(TOOL));
        return 0;
      }
      if (o.name === 'more') more++;
    }
    const [command, ...args] = rest;
    if (!command) throw new ToolError('missing command name; use --help for help');
    const dbDefault = paths(env).dbFile;
    const max = (n: number) => {
      if (args.length > n) throw new ToolError(`'${command}' command takes at most ${n} arguments`);
    };
    switch (command) {
      case 'create': {
        max(2);
        const path = args[0] ?? dbDefault;
        const schema = readSchemaFile(args[1] ?? defaultSchemaPath());
        if (existsSync(path)) throw new ToolError(`${path}: database file exists (remove it first to create a new one)`);
        const s = await Storage.create(path, schema.json, initialRecords(schema));
        await s.close();
        return 0;
      }
      case 'compact': {
        max(2);
        const path = args[0] ?? dbDefault;
        const log = toolLog(io);
        const { db, storage } = await openDbFile(path, { log });
        const svc = new VsdbService(db, storage, log);
        try {
          if (args[1]) {
            const copy = await Storage.create(args[1], db.schema.json, [{ ...snapshotRecord(db), _date: Date.now(), _compacted: true }]);
            await copy.close();
          } else await svc.compact();
        } finally {
          await svc.close();
        }
        return 0;
      }
      case 'db-name':
      case 'db-version': {
        max(1);
        const s = fileSchema(args[0] ?? dbDefault);
        io.out(`${command === 'db-name' ? s.name : s.version}\n`);
        return 0;
      }
      case 'schema-name':
      case 'schema-version': {
        max(1);
        const s = readSchemaFile(args[0] ?? defaultSchemaPath());
        io.out(`${command === 'schema-name' ? s.name : s.version}\n`);
        return 0;
      }
      case 'query':
      case 'transact': {
        if (args.length < 1) throw new ToolError(`'${command}' command requires at least 1 arguments`);
        max(2);
        return transactFile(args.length === 2 ? args[0] : dbDefault, args[args.length - 1], command === 'query', io);
      }
      case 'show-log':
        max(1);
        io.out(showLog(readFileSync(args[0] ?? dbDefault), more));
        return 0;
      case 'check': {
        max(1);
        const path = args[0] ?? dbDefault;
        if (!existsSync(path)) throw new ToolError(`${path}: open failed (No such file or directory)`);
        const r = checkFile(readFileSync(path));
        for (const p of r.problems) io.err(`${path}: ${p}\n`);
        io.out(`${path}: ${r.problems.length ? 'FAILED' : 'ok'}: ${r.records} records, ${r.rows} rows${r.tornBytes ? `, ${r.tornBytes} bytes of damaged tail (dropped on next open)` : ''}\n`);
        return r.problems.length ? 1 : 0;
      }
      default:
        throw new ToolError(`unknown command '${command}'; use --help for help`);
    }
  });
}

/** Entry point for bin/vsdb-tool.js. */
export function main(argv: string[]): Promise<number> {
  return run(argv);
}
