/*
 * vswitchd process entry (bin/vswitchd.js imports it):
 *   node dist/src/vswitchd/main.js [--pidfile FILE] [--log-file FILE] [--db-sock PATH] [--dp-sock PATH]
 * Warms up the upcall path (warmup.ts), runs a Vswitchd (vswitchd.ts), writes the pidfile once it is ready, and on SIGTERM, SIGINT or
 * `appctl exit` closes its connections, removes the pidfile and the ctl socket and exits 0,
 * leaving the datapath's ports and flows in place so traffic keeps flowing.
 */
import { parseDaemonArgs, removePidfile, writePidfile } from '../lib/daemon.js';
import { createLogger } from '../lib/log.js';
import { paths } from '../lib/paths.js';
import { packageVersion } from './appctl.js';
import { Vswitchd } from './vswitchd.js';
import { warmUpUpcalls } from './warmup.js';

const HELP = `vswitchd: the vswitch daemon (bridges, MAC learning, datapath flow setup)
usage: vswitchd [OPTIONS]

Options:
  --pidfile FILE     write the pid to FILE once ready (removed on exit)
  --log-file FILE    log to FILE instead of stdout
  --db-sock PATH     vsdb socket (default VSWITCH_RUNDIR/db.sock)
  --dp-sock PATH     datapath socket (default VSWITCH_RUNDIR/datapath.sock)
  -h, --help         show this help
  -V, --version      show the version
`;

async function main(argv: string[]): Promise<number> {
  const args = parseDaemonArgs(argv);
  const p = paths();
  let dbSock = p.dbSock;
  let dpSock = p.dpSock;
  for (let i = 0; i < args.rest.length; i++) {
    const a = args.rest[i];
    const eq = a.indexOf('=');
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      const v = eq > 0 ? a.slice(eq + 1) : args.rest[++i];
      if (v === undefined) throw new Error(`option ${flag} needs a value`);
      return v;
    };
    if (flag === '--db-sock') dbSock = value();
    else if (flag === '--dp-sock') dpSock = value();
    else if (flag === '-h' || flag === '--help') {
      process.stdout.write(HELP);
      return 0;
    } else if (flag === '-V' || flag === '--version') {
      process.stdout.write(`vswitchd (vswitch) ${packageVersion()}\n`);
      return 0;
    } else {
      process.stderr.write(`vswitchd: unknown option '${a}' (use --help)\n`);
      return 1;
    }
  }
  const log = createLogger('vswitchd', args.logFile);
  let d: Vswitchd | null = null;
  let exiting = false;
  const shutdown = async (why: string): Promise<void> => {
    if (exiting) return;
    exiting = true;
    log.info({ why }, 'exiting');
    if (d) await d.stop();
    if (args.pidfile) removePidfile(args.pidfile);
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  // Before any connection: the upcall path is compiled while nothing else waits (warmup.ts).
  const t0 = Date.now();
  const warmed = await warmUpUpcalls();
  log.info({ ...warmed, ms: Date.now() - t0 }, 'upcall path warmed up');
  try {
    d = await Vswitchd.start({ dbSock, dpSock, ctlSock: p.ctlSock('vswitchd'), log, onExit: () => void shutdown('appctl exit') });
  } catch (e) {
    const msg = (e as Error).message;
    log.error({ err: msg }, 'vswitchd could not start');
    process.stderr.write(`vswitchd: ${msg}\n`);
    return 1;
  }
  if (exiting) return 0;
  if (args.pidfile) writePidfile(args.pidfile);
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e: unknown) => {
    process.stderr.write(`vswitchd: ${(e as Error)?.message ?? e}\n`);
    process.exit(1);
  },
);
