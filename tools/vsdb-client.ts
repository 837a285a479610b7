/*
 * vsdb-client: command-line RFC 7047 client, shaped like ovsdb-client (same commands, argument
 * order, output formats and options): list-dbs, get-schema, get-schema-version, list-tables,
 * list-columns, transact, query, dump, monitor, monitor-cond, lock, steal, unlock, backup,
 * restore. bin/vsdb-client.js calls main(). Works against vsdb-server and ovsdb-server alike.
 */
import { paths } from '../src/lib/paths.js';
import { VsdbClient } from '../src/ovsdb/client.js';
import { parseOptions, parseSeconds, runTool, stdio, ToolError, versionLine, errnoText, type OptSpec, type ToolIo } from './common.js';
import { cmdBackup, cmdDump, cmdListColumns, cmdListTables, cmdLock, cmdMonitor, cmdRestore, cmdTransact, type ClientCtx } from './vsdb/client-commands.js';
import { DEFAULT_FORMAT, type DataFormat, type FormatOptions, type OutputFormat } from './vsdb/format.js';

const TOOL = 'vsdb-client';

const OPTIONS: OptSpec[] = [
  { long: 'format', short: 'f', arg: 'required' },
  { long: 'data', short: 'd', arg: 'required' },
  { long: 'no-headings', arg: 'none' },
  { long: 'pretty', arg: 'none' },
  { long: 'bare', arg: 'none' },
  { long: 'timeout', short: 't', arg: 'required' },
  { long: 'force', arg: 'none' },
  { long: 'help', short: 'h', arg: 'none' },
  { long: 'version', short: 'V', arg: 'none' },
];

export function vsdbClientHelp(env: NodeJS.ProcessEnv = process.env): string {
  return `${TOOL}: vsdb (RFC 7047) database JSON-RPC client
usage: ${TOOL} [OPTIONS] COMMAND [ARG...]

Valid commands are:

  list-dbs [SERVER]
    list databases available on SERVER

  get-schema [SERVER] [DATABASE]
    retrieve schema for DATABASE from SERVER

  get-schema-version [SERVER] [DATABASE]
    retrieve schema for DATABASE from SERVER and report only its
    version number on stdout

  list-tables [SERVER] [DATABASE]
    list tables for DATABASE on SERVER

  list-columns [SERVER] [DATABASE] [TABLE]
    list columns in TABLE (or all tables) in DATABASE on SERVER

  transact [SERVER] TRANSACTION
    run TRANSACTION (params for "transact" request) on SERVER
    and print the results as JSON on stdout

  query [SERVER] TRANSACTION
    run TRANSACTION (params for "transact" request) on SERVER,
    as read-only, and print the results as JSON on stdout

  monitor [SERVER] [DATABASE] TABLE [COLUMN,...]...
    monitor contents of COLUMNs in TABLE in DATABASE on SERVER.
    COLUMNs may include !initial, !insert, !delete, !modify
    to avoid seeing the specified kinds of changes.

  monitor-cond [SERVER] [DATABASE] CONDITION TABLE [COLUMN,...]...
    monitor contents that match CONDITION of COLUMNs in TABLE in
    DATABASE on SERVER.

  monitor [SERVER] [DATABASE] ALL
    monitor all changes to all columns in all tables

  dump [SERVER] [DATABASE] [TABLE [COLUMN]...]
    dump contents of DATABASE on SERVER to stdout

  backup [SERVER] [DATABASE] > SNAPSHOT
    dump database contents in the form of a database file

  [--force] restore [SERVER] [DATABASE] < SNAPSHOT
    restore database contents from a database file

  lock [SERVER] LOCK
    create or wait for LOCK in SERVER

  steal [SERVER] LOCK
    steal LOCK from SERVER

  unlock [SERVER] LOCK
    unlock LOCK from SERVER

The default SERVER is unix:${paths(env).dbSock}.
The default DATABASE is Open_vSwitch.

Active SERVER connection methods:
  tcp:HOST:PORT           PORT at remote HOST
  unix:FILE               Unix domain socket named FILE

Output formatting options:
  -f, --format=FORMAT         set output formatting to FORMAT
                              ("table", "list", "csv", or "json")
  -d, --data=FORMAT           set table cell output formatting to
                              FORMAT ("string", "bare", or "json")
  --no-headings               omit table heading row
  --pretty                    pretty-print JSON in output
  --bare                      equivalent to "--format=list --data=bare --no-headings"

Other options:
  -t, --timeout=SECS          give up after SECS seconds (0: never)
  -h, --help                  display this help message
  -V, --version               display version information
`;
}

const isServer = (s: string | undefined): s is string => !!s && /^(unix|tcp):/.test(s);

/** Which commands take [DATABASE], and their argument counts after it (min, max). */
const COMMANDS: Record<string, { db: boolean; min: number; max: number }> = {
  'list-dbs': { db: false, min: 0, max: 0 },
  'get-schema': { db: true, min: 0, max: 0 },
  'get-schema-version': { db: true, min: 0, max: 0 },
  'list-tables': { db: true, min: 0, max: 0 },
  'list-columns': { db: true, min: 0, max: 1 },
  transact: { db: false, min: 1, max: 1 },
  query: { db: false, min: 1, max: 1 },
  monitor: { db: true, min: 1, max: Infinity },
  'monitor-cond': { db: true, min: 2, max: Infinity },
  dump: { db: true, min: 0, max: Infinity },
  backup: { db: true, min: 0, max: 0 },
  restore: { db: true, min: 0, max: 0 },
  lock: { db: false, min: 1, max: 1 },
  steal: { db: false, min: 1, max: 1 },
  unlock: { db: false, min: 1, max: 1 },
};

export interface ClientIo extends ToolIo {
  readStdin?: () => Promise<Buffer>;
  writeRaw?: (b: Buffer) => void;
}

function readAllStdin(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    process.stdin.on('data', (d: Buffer) => parts.push(d));
    process.stdin.once('end', () => resolve(Buffer.concat(parts)));
    process.stdin.once('error', reject);
  });
}

/** Runs vsdb-client with `argv`; resolves with the exit status. */
export function run(argv: string[], io: ClientIo = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runTool(TOOL, io, async () => {
    const { opts, rest } = parseOptions(argv, OPTIONS, true);
    const fmt: FormatOptions = { ...DEFAULT_FORMAT };
    let timeout = 0;
    let force = false;
    for (const o of opts) {
      switch (o.name) {
        case 'help':
          io.out(vsdbClientHelp(env));
          return 0;
        case 'version':
          io.out(versionLine(TOOL));
          return 0;
        case 'format':
          if (!['table', 'list', 'csv', 'json'].includes(o.value!)) throw new ToolError(`unknown output format "${o.value}"`);
          fmt.format = o.value as OutputFormat;
          break;
        case 'data':
          if (!['string', 'bare', 'json'].includes(o.value!)) throw new ToolError(`unknown data format "${o.value}"`);
          fmt.data = o.value as DataFormat;
          break;
        case 'no-headings': fmt.headings = false; break;
        case 'pretty': fmt.pretty = true; break;
        case 'bare': Object.assign(fmt, { format: 'list', data: 'bare', headings: false }); break;
        case 'timeout': timeout = parseSeconds(o.value); break;
        case 'force': force = true; break;
      }
    }
    const [command, ...args] = rest;
    if (!command) throw new ToolError(`missing command name; use --help for help`);
    const spec = COMMANDS[command];
    if (!spec) throw new ToolError(`unknown command '${command}'; use --help for help`);
    const server = isServer(args[0]) ? args.shift()! : `unix:${paths(env).dbSock}`;
    let client: VsdbClient;
    try {
      client = await VsdbClient.connect(server, timeout ? timeout * 1000 : 5000);
    } catch (e) {
      throw new ToolError(`failed to connect to "${server}" (${errnoText(e)})`);
    }
    const timer = timeout ? setTimeout(() => {
      io.err(`${TOOL}: timeout after ${timeout} seconds\n`);
      client.close();
    }, timeout * 1000) : null;
    try {
      let db = 'Open_vSwitch';
      if (spec.db) {
        const dbs = await client.listDbs();
        if (args.length > 0 && dbs.includes(args[0])) db = args.shift()!;
        else if (!dbs.includes(db)) throw new ToolError(`${server}: no database named ${db}`);
      }
      if (args.length < spec.min) throw new ToolError(`'${command}' command requires at least ${spec.min} arguments`);
      if (args.length > spec.max) throw new ToolError(`'${command}' command takes at most ${spec.max} arguments`);
      const ctx: ClientCtx = {
        client, db, io, fmt,
        readStdin: io.readStdin ?? readAllStdin,
        writeRaw: io.writeRaw ?? ((b) => void process.stdout.write(b)),
      };
      switch (command) {
        case 'list-dbs':
          // Plain names whatever the format, as ovsdb-client prints them.
          io.out((await client.listDbs()).map((d) => `${d}\n`).join(''));
          return 0;
        case 'get-schema': {
          const s = await client.getSchema(db);
          io.out(`${fmt.pretty ? JSON.stringify(s, null, 4) : JSON.stringify(s)}\n`);
          return 0;
        }
        case 'get-schema-version':
          io.out(`${(await client.getSchema(db)).version}\n`);
          return 0;
        case 'list-tables': await cmdListTables(ctx); return 0;
        case 'list-columns': await cmdListColumns(ctx, args[0]); return 0;
        case 'transact': return await cmdTransact(ctx, args[0], false);
        case 'query': return await cmdTransact(ctx, args[0], true);
        case 'dump': await cmdDump(ctx, args); return 0;
        case 'monitor': return await cmdMonitor(ctx, args, null);
        case 'monitor-cond': return await cmdMonitor(ctx, args.slice(1), args[0]);
        case 'backup': await cmdBackup(ctx); return 0;
        case 'restore': await cmdRestore(ctx, force); return 0;
        default: return await cmdLock(ctx, command as 'lock' | 'steal' | 'unlock', args[0]);
      }
    } finally {
      if (timer) clearTimeout(timer);
      client.close();
    }
  });
}

/** Entry point for bin/vsdb-client.js. */
export function main(argv: string[]): Promise<number> {
  return run(argv);
}
