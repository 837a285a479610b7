/*
 * The datapath daemon: `node dist/src/datapath/main.js [--pidfile FILE] [--log-file FILE]
 * [--socket PATH] [--flow-limit N]`. Serves datapath.sock (paths().dpSock unless --socket) and
 * the appctl socket datapath.ctl (JSON-RPC: exit, version, coverage/show, dpif/show). Writes
 * its pidfile once both listen; on SIGTERM, SIGINT or `exit` closes every port (removing the tap
 * devices), removes the sockets and the pidfile and exits 0. Started detached by `vswitch start`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { parseDaemonArgs, removePidfile, writePidfile } from '../lib/daemon.js';
import { DPIF_VERSION } from '../lib/dpif-proto.js';
import { JsonRpcServer, RpcError } from '../lib/jsonrpc.js';
import { createLogger, type Logger } from '../lib/log.js';
import { paths } from '../lib/paths.js';
import { Datapath } from './datapath.js';
import { packageRoot } from './native.js';
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

/**
 * V8's tier-up budget for this process, in bytes of bytecode run per profiler tick (V8's default
 * is 66 KiB). The per-frame functions run once per wakeup, not in long loops: with the default
 * a ping (two wakeups per round trip) reaches optimised code only after about a thousand round
 * trips, and again after every deoptimisation. 8 KiB gets there eight times sooner; the cost is
 * optimising some control-path functions that would otherwise stay interpreted.
 */
const JIT_INTERRUPT_BUDGET = 8192;

/** Sets the tier-up budget, then VSWITCH_DATAPATH_V8_FLAGS (diagnostics, e.g. '--trace-deopt
 *  --redirect-code-traces --redirect-code-traces-to=FILE': the daemon gets no node flags). */
function tuneJit(env: NodeJS.ProcessEnv): void {
  setFlagsFromString(`--interrupt-budget=${JIT_INTERRUPT_BUDGET}`);
  const extra = env.VSWITCH_DATAPATH_V8_FLAGS;
  if (extra) setFlagsFromString(extra);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  tuneJit(process.env);
  // Before the Datapath exists: its objects are then made with the maps the warm-up settled.
  warmUpPipeline();
  const log: Logger = createLogger('datapath', opts.logFile);
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
  log.info({ socket: opts.socket, ctl: ctlPath, pid: process.pid, version: ver }, 'datapath ready');
}

void main();
