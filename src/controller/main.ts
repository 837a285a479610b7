/*
 * vscontroller's command line and process life (tools/vscontroller.ts and bin/vscontroller.js
 * call runController): parses the options, loads the apps, starts the Controller, the REST
 * API and the vswitch scraper, writes the pidfile once everything listens, reloads the apps on
 * SIGHUP, and on SIGTERM or SIGINT closes the switch connections and the REST server, stops
 * the apps, removes the pidfile and returns 0. Runs in the foreground, logging (pino, JSON
 * lines) to stdout or --log-file; --detach starts a copy in the background. Control path.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readPid, removePidfile, sleep, writePidfile } from '../lib/daemon.js';
import { UsageError } from '../lib/errors.js';
import { createLogger, type Logger } from '../lib/log.js';
import { paths } from '../lib/paths.js';
import { builtinApps, loadApp, parseAppSpec, type App } from './app.js';
import { Controller } from './controller.js';
import { insecureRest, startRest, type RestServer } from './rest.js';
import type { Role } from './switch-session.js';
import { isLoopback, parseHostPort, parseListenTarget, type ListenTarget } from './target.js';
import { scrapeVswitch } from './vswitch-scrape.js';

export interface ControllerConfig {
  targets: ListenTarget[];
  /** --app values, in order. */
  apps: string[];
  rest: { host: string; port: number } | null;
  restToken: string | undefined;
  restTokenFile: string | undefined;
  scrapeRundir: string | null;
  role: Role | undefined;
  generationId: bigint | undefined;
  probeIntervalMs: number;
  pidfile: string | undefined;
  logFile: string | undefined;
  logLevel: string | undefined;
  detach: boolean;
  help: boolean;
  version: boolean;
}

export const HELP = `vscontroller: a flow protocol controller for vswitch bridges
usage: vscontroller [OPTIONS] TARGET...

TARGET is where switches connect (at least one):
  ptcp:[PORT][:IP]     TCP, default port 6653, every address unless IP is given
  punix:PATH           a Unix socket

Apps (run in the order given; see docs/controller.md):
  --app NAME[:ARG]     a built-in app: ${builtinApps().map((a) => a.name).join(', ')}
  --app FILE.js[:ARG]  an app module (default export: a factory (arg) => app)
                       l2-learning:idle_timeout=60,priority=100,match_src=yes
                       static:FLOWS.yaml (or .json)

REST API and metrics:
  --rest [HOST:]PORT   serve the REST API and /metrics (HOST default 127.0.0.1)
  --rest-token-file F  require "Authorization: Bearer TOKEN" (TOKEN read from F);
                       needed to listen beyond loopback
  --rest-token TOKEN   the same, given on the command line
  --scrape-vswitch DIR add vswitchd's and the datapath's counters (from the
                       control sockets in run directory DIR) to /metrics

Switch connections:
  --role ROLE          ask every switch for role equal, master or slave
  --generation-id N    generation id of master/slave requests (default: start time, ms)
  --probe-interval S   echo probe period and deadline in seconds (default 5; 0: off)

Process:
  --pidfile FILE       write the pid to FILE once listening (removed on exit)
  --log-file FILE      log to FILE instead of stdout
  --log-level LEVEL    trace, debug, info (default), warn, error
  --detach             run in the background (pidfile and log file default to
                       VSWITCH_RUNDIR/vscontroller.pid and VSWITCH_LOGDIR/vscontroller.log)
  -h, --help           show this help
  -V, --version        show the version

Signals: SIGHUP re-reads app configuration (static flow files); SIGTERM, SIGINT exit.
`;

const WITH_VALUE = new Set([
  'app', 'rest', 'rest-token', 'rest-token-file', 'scrape-vswitch', 'role', 'generation-id', 'probe-interval', 'pidfile', 'log-file', 'log-level',
]);
const FLAGS = new Set(['detach', 'help', 'version']);
const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/** Parses the command line. Throws UsageError (or ControllerError for a bad target). */
export function parseControllerArgs(argv: readonly string[]): ControllerConfig {
  const c: ControllerConfig = {
    targets: [], apps: [], rest: null, restToken: undefined, restTokenFile: undefined, scrapeRundir: null, role: undefined,
    generationId: undefined, probeIntervalMs: 5000, pidfile: undefined, logFile: undefined, logLevel: undefined, detach: false,
    help: false, version: false,
  };
  let onlyTargets = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (onlyTargets || !a.startsWith('-') || a === '-') {
      c.targets.push(parseListenTarget(a));
      continue;
    }
    if (a === '--') {
      onlyTargets = true;
      continue;
    }
    if (a === '-h') {
      c.help = true;
      continue;
    }
    if (a === '-V') {
      c.version = true;
      continue;
    }
    if (!a.startsWith('--')) throw new UsageError(`invalid option -- '${a.slice(1)}' (use --help)`);
    const eq = a.indexOf('=');
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    if (FLAGS.has(name)) {
      if (eq >= 0) throw new UsageError(`option '--${name}' doesn't allow an argument`);
      if (name === 'detach') c.detach = true;
      else if (name === 'help') c.help = true;
      else c.version = true;
      continue;
    }
    if (!WITH_VALUE.has(name)) throw new UsageError(`unrecognized option '--${name}' (use --help)`);
    let v: string;
    if (eq >= 0) v = a.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new UsageError(`option '--${name}' requires an argument`);
      v = argv[++i];
    }
    switch (name) {
      case 'app': c.apps.push(v); parseAppSpec(v); break;
      case 'rest': c.rest = parseHostPort(v); break;
      case 'rest-token': c.restToken = v; break;
      case 'rest-token-file': c.restTokenFile = v; break;
      case 'scrape-vswitch': c.scrapeRundir = v; break;
      case 'role':
        if (v !== 'equal' && v !== 'master' && v !== 'slave') throw new UsageError(`--role ${v}: expected equal, master or slave`);
        c.role = v;
        break;
      case 'generation-id':
        if (!/^(0[xX][0-9a-fA-F]{1,16}|\d{1,20})$/.test(v) || BigInt(v) >= 1n << 64n) throw new UsageError(`--generation-id ${v}: expected a 64-bit number`);
        c.generationId = BigInt(v);
        break;
      case 'probe-interval': {
        const s = Number(v);
        if (!/^\d+(\.\d+)?$/.test(v) || !Number.isFinite(s)) throw new UsageError(`--probe-interval ${v}: expected seconds (0: off)`);
        c.probeIntervalMs = Math.round(s * 1000);
        break;
      }
      case 'pidfile': c.pidfile = v; break;
      case 'log-file': c.logFile = v; break;
      case 'log-level':
        if (!LEVELS.has(v)) throw new UsageError(`--log-level ${v}: expected one of ${[...LEVELS].join(', ')}`);
        c.logLevel = v;
        break;
    }
  }
  if (!c.help && !c.version && c.targets.length === 0) throw new UsageError('at least one target is needed: ptcp:PORT[:IP] or punix:PATH (use --help)');
  return c;
}

/** The package version from the nearest package.json. */
export function controllerVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const f = join(dir, 'package.json');
    if (existsSync(f)) {
      try {
        return String((JSON.parse(readFileSync(f, 'utf8')) as { version?: string }).version ?? 'unknown');
      } catch {
        return 'unknown';
      }
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

/** A running controller: what runController waits on, and what tests drive. */
export interface RunningController {
  controller: Controller;
  rest: RestServer | null;
  log: Logger;
  stop(): Promise<void>;
}

function readToken(cfg: ControllerConfig, env: NodeJS.ProcessEnv): string | undefined {
  if (cfg.restTokenFile) {
    let t: string;
    try {
      t = readFileSync(cfg.restTokenFile, 'utf8').trim();
    } catch (e) {
      throw new UsageError(`--rest-token-file ${cfg.restTokenFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (!t) throw new UsageError(`--rest-token-file ${cfg.restTokenFile}: the file is empty`);
    return t;
  }
  return cfg.restToken ?? (env.VSCONTROLLER_REST_TOKEN || undefined);
}

/** Starts everything the configuration asks for (no signals, no pidfile). */
export async function startController(cfg: ControllerConfig, env: NodeJS.ProcessEnv = process.env, log?: Logger): Promise<RunningController> {
  const token = readToken(cfg, env);
  if (cfg.rest && !isLoopback(cfg.rest.host) && !token) throw insecureRest(cfg.rest.host);
  const logger = log ?? createLogger('vscontroller', cfg.logFile, cfg.logLevel ?? env.VSWITCH_LOG_LEVEL ?? 'info');
  const apps: { app: App; arg?: string }[] = [];
  for (const spec of cfg.apps) apps.push({ app: await loadApp(spec), arg: parseAppSpec(spec).arg });
  if (apps.length === 0) logger.warn('no apps: switches connect, but nothing programs them (try --app l2-learning)');
  const controller = new Controller({
    targets: cfg.targets, apps, log: logger, probeIntervalMs: cfg.probeIntervalMs, role: cfg.role, generationId: cfg.generationId,
    agent: `vscontroller ${controllerVersion()}`,
  });
  let rest: RestServer | null = null;
  try {
    await controller.start();
    if (cfg.rest) {
      const rundir = cfg.scrapeRundir;
      rest = await startRest({
        controller, log: logger.child({ module: 'rest' }), token, version: controllerVersion(), host: cfg.rest.host, port: cfg.rest.port,
        extraMetrics: rundir === null ? undefined : () => scrapeVswitch(rundir),
      });
      logger.info({ url: rest.url, auth: token ? 'token' : 'none' }, 'REST API listening');
    } else if (cfg.scrapeRundir !== null) {
      logger.warn('--scrape-vswitch has no effect without --rest (metrics are served on the REST port)');
    }
  } catch (e) {
    await rest?.close();
    await controller.stop();
    throw e;
  }
  const r = rest;
  return {
    controller, rest, log: logger,
    async stop() {
      await r?.close();
      await controller.stop();
    },
  };
}

/** bin/vscontroller.js: the path of the entry point to run a detached copy. */
function binPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const f = join(dir, 'bin', 'vscontroller.js');
    if (existsSync(f)) return f;
    const up = dirname(dir);
    if (up === dir) throw new Error('bin/vscontroller.js not found');
    dir = up;
  }
}

async function detach(argv: readonly string[], cfg: ControllerConfig, env: NodeJS.ProcessEnv): Promise<number> {
  const p = paths(env);
  const pidfile = resolve(cfg.pidfile ?? join(p.rundir, 'vscontroller.pid'));
  const logFile = resolve(cfg.logFile ?? join(p.logdir, 'vscontroller.log'));
  const args = argv.filter((a) => a !== '--detach');
  if (!cfg.pidfile) args.unshift('--pidfile', pidfile);
  if (!cfg.logFile) args.unshift('--log-file', logFile);
  removePidfile(pidfile);
  const child = spawn(process.execPath, [binPath(), ...args], { detached: true, stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? 1));
  for (let waited = 0; waited < 15000; waited += 50) {
    if (readPid(pidfile) === child.pid) {
      child.stderr!.destroy();
      child.unref();
      return 0;
    }
    if (exited !== null) throw new UsageError(stderr.trim().replace(/^vscontroller: /, '') || `the background vscontroller exited with status ${exited}`);
    await sleep(50);
  }
  child.kill('SIGTERM');
  throw new UsageError(`the background vscontroller did not write ${pidfile} within 15 s (see ${logFile})`);
}

export interface RunIo {
  out(text: string): void;
  err(text: string): void;
}

/**
 * Runs vscontroller until SIGTERM or SIGINT; resolves with the exit status. Startup errors
 * are thrown (the tool prints them as "vscontroller: message" and exits 1).
 */
export async function runController(argv: readonly string[], io: RunIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const cfg = parseControllerArgs(argv);
  if (cfg.help) {
    io.out(HELP);
    return 0;
  }
  if (cfg.version) {
    io.out(`vscontroller (vswitch) ${controllerVersion()}\n`);
    return 0;
  }
  if (cfg.detach) return detach(argv, cfg, env);
  const running = await startController(cfg, env);
  const log = running.log;
  if (cfg.pidfile) writePidfile(cfg.pidfile);
  log.info({ pid: process.pid }, 'vscontroller ready');
  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const onHup = (): void => {
      log.info('SIGHUP: reloading app configuration');
      void running.controller.reload();
    };
    const shutdown = (why: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ why }, 'vscontroller exiting');
      process.removeListener('SIGHUP', onHup);
      running.stop().catch((e: unknown) => log.error({ err: (e as Error).message }, 'error while stopping')).finally(() => {
        process.removeListener('SIGTERM', onTerm);
        process.removeListener('SIGINT', onInt);
        if (cfg.pidfile) removePidfile(cfg.pidfile);
        log.flush?.();
        resolveExit(0);
      });
    };
    const onTerm = (): void => shutdown('SIGTERM');
    const onInt = (): void => shutdown('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    process.on('SIGHUP', onHup);
  });
}
