/*
 * The datapath daemon proper, loaded by main.ts once the process's V8 flags are set: parses the
 * options, warms the per-frame code up, runs the Datapath and its appctl socket (datapath.ctl),
 * writes the pidfile, and stops cleanly on SIGTERM, SIGINT or `exit`. Control path.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDaemonArgs, removePidfile, writePidfile } from '../lib/daemon.js';
import { DPIF_VERSION } from '../lib/dpif-proto.js';
import { JsonRpcServer, RpcError } from '../lib/jsonrpc.js';
import { createLogger, type Logger } from '../lib/log.js';
import { paths } from '../lib/paths.js';
import { Datapath } from './datapath.js';
import { packageRoot } from './native.js';
import { raiseDatapathPriority } from './priority.js';
import { warmUpPipeline } from './warmup.js';

const USAGE = `usage: vswitch-datapath [--pidfile FILE] [--log-file FILE] [--socket PATH] [--flow-limit N]
  --pidfile FILE     write the pid here once listening
  --log-file FILE    log here (default: stdout)
  --socket PATH      datapath socket (default: $VSWITCH_RUNDIR/datapath.sock)
  --flow-limit N     most flows the table holds (default 200000)
environment:
  VSWITCH_BUSY_POLL_US   busy-poll window after a wakeup under load, µs (default 50, 0: off)
  VSWITCH_PACKET_RX      mmsg: read system ports with recvmmsg instead of a receive ring
  VSWITCH_DATAPATH_V8_FLAGS  V8 flags set at start, for diagnostics (e.g. --trace-deopt)
  VSWITCH_DATAPATH_NICE  nice level of the forwarding thread (default -10; needs CAP_SYS_NICE)
`;

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

interface Options {
  pidfile?: string;
  logFile?: string;
  socket: string;
  flowLimit?: number;
}

function parseArgs(argv: string[]): Options {
  const d = parseDaemonArgs(argv);
  const out: Options = { pidfile: d.pidfile, logFile: d.logFile, socket: paths().dpSock };
  for (let i = 0; i < d.rest.length; i++) {
    const a = d.rest[i];
    const eq = a.indexOf('=');
    const flag = eq >= 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      const v = eq >= 0 ? a.slice(eq + 1) : d.rest[++i];
      if (v === undefined) fail(`${flag} needs a value`);
      return v;
    };
    if (flag === '--socket') out.socket = value();
    else if (flag === '--flow-limit') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) fail('--flow-limit must be a positive integer');
      out.flowLimit = n;
    } else if (flag === '--help' || flag === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else fail(`unknown option '${a}'`);
  }
  return out;
}

function fail(msg: string): never {
  process.stderr.write(`vswitch-datapath: ${msg}\n${USAGE}`);
  process.exit(2);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  // Before the Datapath exists: its objects are then made with the maps the warm-up settled.
  warmUpPipeline();
  const log: Logger = createLogger('datapath', opts.logFile);
  const prio = raiseDatapathPriority(process.env);
  if (prio.error !== null) log.warn({ nice: prio.nice }, prio.error);
  const dp = new Datapath({ socketPath: opts.socket, flowLimit: opts.flowLimit, log });
  const ctlPath = paths().ctlSock('datapath');
  const ver = version();

  let stopping = false;
  const ctl = new JsonRpcServer((conn) => {
    conn.onRequest((method) => {
      switch (method) {
        case 'exit':
          setImmediate(() => void shutdown('exit requested'));
          return '';
        case 'version':
          return `vswitch-datapath ${ver} (dpif protocol ${DPIF_VERSION})\n`;
        case 'coverage/show':
          return dp.counters.coverage();
        case 'dpif/show':
          return dp.show();
        default:
          throw RpcError.unknownMethod(method);
      }
    });
  }, { log });

  async function shutdown(why: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    log.info({ why }, 'datapath stopping');
    try {
      await ctl.close();
      await dp.stop();
    } catch (e) {
      log.error({ err: (e as Error).message }, 'error while stopping');
    }
    if (opts.pidfile) removePidfile(opts.pidfile);
    log.flush?.();
    process.exit(0);
  }

  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  try {
    await dp.start();
    await ctl.listenUnix(ctlPath);
  } catch (e) {
    log.fatal({ err: (e as Error).message }, 'datapath cannot start');
    process.stderr.write(`vswitch-datapath: ${(e as Error).message}\n`);
    await dp.stop().catch(() => undefined);
    process.exit(1);
  }
  if (opts.pidfile) writePidfile(opts.pidfile);
  log.info({ socket: opts.socket, ctl: ctlPath, pid: process.pid, version: ver, nice: prio.error === null ? prio.nice : null }, 'datapath ready');
}

void main();
