/*
 * Where every daemon and tool finds its sockets, pidfiles, database and logs. All come from the
 * environment (VSWITCH_RUNDIR, VSWITCH_DBDIR, VSWITCH_LOGDIR) with Open vSwitch-like defaults,
 * so two instances with different directories run side by side on one machine.
 */
import { join } from 'node:path';

export interface Paths {
  rundir: string;
  dbdir: string;
  logdir: string;
  /** vsdb JSON-RPC socket (RFC 7047). */
  dbSock: string;
  /** The database file. */
  dbFile: string;
  /** The datapath's control and upcall socket (datapath <-> vswitchd, dpctl). */
  dpSock: string;
  /** Control socket (JSON-RPC, appctl) of a daemon. */
  ctlSock(daemon: DaemonName): string;
  pidFile(daemon: DaemonName): string;
  logFile(daemon: DaemonName): string;
}

export type DaemonName = 'vsdb-server' | 'vswitchd' | 'datapath';

export function paths(env: NodeJS.ProcessEnv = process.env): Paths {
  const rundir = env.VSWITCH_RUNDIR || '/run/vswitch';
  const dbdir = env.VSWITCH_DBDIR || '/var/lib/vswitch';
  const logdir = env.VSWITCH_LOGDIR || '/var/log/vswitch';
  return {
    rundir,
    dbdir,
    logdir,
    dbSock: join(rundir, 'db.sock'),
    dbFile: join(dbdir, 'conf.db'),
    dpSock: join(rundir, 'datapath.sock'),
    ctlSock: (d) => join(rundir, `${d}.ctl`),
    pidFile: (d) => join(rundir, `${d}.pid`),
    logFile: (d) => join(logdir, `${d}.log`),
  };
}
