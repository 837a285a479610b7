/*
 * vsdb-server daemon entry:
 *   node dist/src/ovsdb/main.js [--db FILE] [--remote punix:PATH|ptcp:PORT[:IP]]... [--schema FILE]
 *        [--unixctl PATH] [--detach] [--pidfile [FILE]] [--log-file [FILE]] [--no-fsync]
 * Opens (or creates) the database file, serves RFC 7047 on each remote and appctl commands on the
 * control socket, writes the pidfile once listening, and shuts down cleanly on SIGTERM/SIGINT.
 * startVsdbServer() runs the same server in process (tests, `vswitch start`).
 */
import { fork } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, VswitchError } from '../lib/errors.js';
import { JsonRpcServer, RpcError } from '../lib/jsonrpc.js';
import { createLogger, type Logger } from '../lib/log.js';
import { paths } from '../lib/paths.js';
import { openDbFile } from './db-file.js';
import { VsdbService } from './server.js';

export interface VsdbServerConfig {
  dbFile: string;
  /** "punix:PATH" or "ptcp:PORT[:IP]". */
  remotes: string[];
  /** Used only when the database file does not exist yet. */
  schemaFile: string;
  unixctl: string;
  pidfile: string | null;
  /** false: never fdatasync, even for durable commits (tests, scratch databases). */
  fsync: boolean;
  log: Logger;
  /** Largest JSON-RPC message accepted from a client (default 64 MiB). */
  maxMessageBytes?: number;
}

export interface RunningVsdb {
  service: VsdbService;
  /** Stops listening, closes connections, flushes storage, removes socket and pidfile. */
  stop(): Promise<void>;
  /** Resolves when an appctl "exit" or stop() finished. */
  stopped: Promise<void>;
}

function findUp(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
    const up = dirname(dir);
    if (up === dir) return name;
    dir = up;
  }
}

/** The schema shipped with vswitch (src/ovsdb/vswitch.ovsschema, found from src or dist). */
export function defaultSchemaPath(): string {
  const here = fileURLToPath(new URL('./vswitch.ovsschema', import.meta.url));
  return existsSync(here) ? here : findUp('src/ovsdb/vswitch.ovsschema');
}

export function vswitchVersion(): string {
  try {
    return String(JSON.parse(readFileSync(findUp('package.json'), 'utf8')).version);
  } catch {
    return 'unknown';
  }
}

function checkPidfile(path: string): void {
  if (!existsSync(path)) return;
  const pid = Number(readFileSync(path, 'utf8').trim());
  if (pid > 0 && pid !== process.pid) {
    // A pid reused after kill -9 by some other program does not count as a running server.
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!/vsdb-server|ovsdb\/main\.js/.test(cmd)) return;
    } catch {
      /* no /proc entry: fall back to the signal test */
    }
    try {
      process.kill(pid, 0);
      throw new VswitchError('ALREADY_RUNNING', `vsdb-server already running as pid ${pid} (pidfile ${path})`);
    } catch (e) {
      if (e instanceof VswitchError) throw e;
    }
  }
}

export async function startVsdbServer(cfg: VsdbServerConfig): Promise<RunningVsdb> {
  const { log } = cfg;
  if (cfg.pidfile) checkPidfile(cfg.pidfile);
  const schemaJson = existsSync(cfg.dbFile) ? undefined : JSON.parse(readFileSync(cfg.schemaFile, 'utf8'));
  const { db, storage } = await openDbFile(cfg.dbFile, { schemaJson, fsync: cfg.fsync, log });
  const service = new VsdbService(db, storage, log);
  const rpc = new JsonRpcServer((conn) => service.attach(conn), { log, maxMessageBytes: cfg.maxMessageBytes });
  let stopping: Promise<void> | null = null;
  let onStopped: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (onStopped = r));
  const ctl = new JsonRpcServer((conn) => conn.onRequest((m, p) => control(m, p)), { log });
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      log.info('vsdb-server stopping');
      await rpc.close();
      await ctl.close();
      await service.close();
      if (cfg.pidfile) {
        try {
          unlinkSync(cfg.pidfile);
        } catch {
          /* already gone */
        }
      }
      onStopped();
    })());
  const control = async (method: string, params: unknown[]): Promise<string> => {
    switch (method) {
      case 'exit':
        setImmediate(() => void stop());
        return '';
      case 'version':
        return `vsdb-server (vswitch) ${vswitchVersion()}`;
      case 'list-commands':
        return ['exit', 'version', 'list-commands', 'memory/show', 'ovsdb-server/compact', 'vlog/list', 'vlog/set LEVEL'].join('\n');
      case 'memory/show': {
        const s = service.stats();
        return `connections:${s.connections} monitors:${s.monitors} rows:${s.rows} commits:${s.commits} blocked-transactions:${s.blocked} locks:${s.locks} held-outputs:${s.held} fsyncs:${s.fsyncs} file-bytes:${storage.size}`;
      }
      case 'ovsdb-server/compact':
        await service.compact();
        return `compacted to ${storage.size} bytes`;
      case 'vlog/list':
        return `level: ${log.level}`;
      case 'vlog/set': {
        const level = String(params[0] ?? '').replace(/^.*:/, '');
        if (!(level in log.levels.values)) throw new RpcError(`unknown level "${level}" (use one of ${Object.keys(log.levels.values).join(', ')})`);
        log.level = level;
        return '';
      }
      default:
        throw new RpcError(`"${method}" is not a valid command (use list-commands)`);
    }
  };
  try {
    for (const r of cfg.remotes) {
      if (r.startsWith('ptcp:')) {
        const rest = r.slice(5);
        const colon = rest.indexOf(':');
        const port = Number(colon < 0 ? rest : rest.slice(0, colon));
        const host = colon < 0 ? '0.0.0.0' : rest.slice(colon + 1).replace(/^\[|\]$/g, '');
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`${r}: bad port (use ptcp:PORT[:IP])`);
        await rpc.listenTcp(port, host);
      } else {
        const path = r.startsWith('punix:') ? r.slice(6) : r;
        mkdirSync(dirname(path), { recursive: true });
        await rpc.listenUnix(path);
      }
    }
    mkdirSync(dirname(cfg.unixctl), { recursive: true });
    await ctl.listenUnix(cfg.unixctl);
  } catch (e) {
    await rpc.close();
    await ctl.close();
    await service.close();
    throw e;
  }
  if (cfg.pidfile) {
    mkdirSync(dirname(cfg.pidfile), { recursive: true });
    writeFileSync(`${cfg.pidfile}.tmp`, `${process.pid}\n`);
    renameSync(`${cfg.pidfile}.tmp`, cfg.pidfile);
  }
  log.info({ db: cfg.dbFile, remotes: cfg.remotes, unixctl: cfg.unixctl }, 'vsdb-server listening');
  return { service, stop, stopped };
}

export const USAGE = `vsdb-server: the vswitch configuration database server (RFC 7047)
usage: vsdb-server [OPTIONS]

Options:
  --db FILE                 database file (default $VSWITCH_DBDIR/conf.db; created if missing)
  --remote punix:PATH|ptcp:PORT[:IP]
                            serve clients there; repeatable (default punix:$VSWITCH_RUNDIR/db.sock)
  --schema FILE             schema for a new database (default: the package's vswitch.ovsschema)
  --unixctl PATH            appctl control socket (default $VSWITCH_RUNDIR/vsdb-server.ctl)
  --pidfile [FILE]          write the pid once listening (removed on exit)
  --log-file [FILE]         log there instead of stdout
  --detach                  run in the background once listening
  --no-fsync                never fdatasync, even for durable commits (scratch databases)
  --max-message-bytes N     largest JSON-RPC message accepted (default 64 MiB)
  -h, --help                show this help
`;

interface Args {
  cfg: Omit<VsdbServerConfig, 'log'>;
  help?: boolean;
  detach: boolean;
  logFile: string | null;
}

export function parseArgs(argv: string[]): Args {
  const p = paths();
  const a: Args = {
    cfg: { dbFile: p.dbFile, remotes: [], schemaFile: defaultSchemaPath(), unixctl: p.ctlSock('vsdb-server'), pidfile: null, fsync: true },
    detach: false,
    logFile: null,
  };
  for (let i = 0; i < argv.length; i++) {
    let [flag, val] = argv[i].split(/=(.*)/s, 2) as [string, string | undefined];
    const optional = (): string | undefined => {
      if (val === undefined && i + 1 < argv.length && !argv[i + 1].startsWith('--')) val = argv[++i];
      return val;
    };
    const need = (): string => {
      const v = optional();
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--db': a.cfg.dbFile = need(); break;
      case '--remote': a.cfg.remotes.push(need()); break;
      case '--schema': a.cfg.schemaFile = need(); break;
      case '--unixctl': a.cfg.unixctl = need(); break;
      case '--pidfile': a.cfg.pidfile = optional() ?? p.pidFile('vsdb-server'); break;
      case '--log-file': a.logFile = optional() ?? p.logFile('vsdb-server'); break;
      case '--detach': a.detach = true; break;
      case '--no-fsync': a.cfg.fsync = false; break;
      case '--max-message-bytes': a.cfg.maxMessageBytes = Number(need()); break;
      case '-h': case '--help': a.help = true; break;
      default: throw new UsageError(`unknown option "${argv[i]}"; use --help for help`);
    }
  }
  if (a.cfg.remotes.length === 0) a.cfg.remotes.push(`punix:${p.dbSock}`);
  return a;
}

/** --detach: re-run ourselves in a new session and return once the child is listening. */
function detach(argv: string[]): Promise<number> {
  const args = argv.filter((x) => x !== '--detach');
  if (!args.some((x) => x.startsWith('--log-file'))) args.push('--log-file');
  const child = fork(fileURLToPath(import.meta.url), args, {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { ...process.env, VSWITCH_VSDB_DETACHED: '1' },
  });
  return new Promise((resolve) => {
    child.once('message', () => {
      child.disconnect();
      child.unref();
      resolve(0);
    });
    child.once('exit', (code) => {
      process.stderr.write(`vsdb-server: failed to start (exit ${code}); see its log file\n`);
      resolve(1);
    });
  });
}

/** The daemon: parse argv, start, run until stopped, exit. bin/vsdb-server.js may call this. */
export async function main(argv: string[]): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`vsdb-server: ${(e as Error).message}\n`);
    process.exit(2);
  }
  if (args.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (args.detach && !process.env.VSWITCH_VSDB_DETACHED) process.exit(await detach(argv));
  const log = createLogger('vsdb-server', args.logFile ?? undefined);
  process.on('uncaughtException', (e) => {
    log.fatal({ err: e.stack }, 'uncaught exception');
    process.exit(1);
  });
  let running: RunningVsdb;
  try {
    running = await startVsdbServer({ ...args.cfg, log });
  } catch (e) {
    log.error({ err: (e as Error).message }, 'cannot start');
    process.stderr.write(`vsdb-server: ${(e as Error).message}\n`);
    process.exit(1);
  }
  const shutdown = (sig: string) => {
    log.info({ signal: sig }, 'signal received');
    void running.stop();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  if (process.send) {
    process.send({ ready: true });
    process.disconnect();
  }
  await running.stopped;
  log.info('vsdb-server exiting');
  process.exit(0);
}

/** True when this module is the program: run as main.js, or imported by bin/vsdb-server.js. */
function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  if (/^vsdb-server(\.js)?$/.test(basename(script))) return true;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) void main(process.argv.slice(2));
