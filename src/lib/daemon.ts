/*
 * Pidfiles and liveness for the three daemons, shared by the daemons themselves (write and
 * remove their pidfile) and by `vswitch start|stop|status` (read it, signal, wait). A pidfile
 * is written only once its daemon is ready to serve, so its presence with a live pid means
 * "up".
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { connect } from 'node:net';

export function writePidfile(file: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${process.pid}\n`);
}

export function removePidfile(file: string): void {
  try {
    const pid = readPid(file);
    if (pid === process.pid || pid === null) rmSync(file, { force: true });
  } catch {
    /* already gone */
  }
}

/** The pid in `file`, or null when there is no readable pidfile. */
export function readPid(file: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * True when `pid` is a live process. A zombie counts as dead: a daemon whose starter exited is
 * reparented, and where PID 1 does not reap, a killed daemon stays a zombie indefinitely.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z';
  } catch {
    return true;
  }
}

/** The pid of the daemon whose pidfile is `file` if it is running, else null. */
export function runningPid(file: string): number | null {
  const pid = readPid(file);
  return pid !== null && isAlive(pid) ? pid : null;
}

/** Resolves true when a Unix socket accepts a connection within `timeoutMs`. */
export function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const t = setTimeout(() => { s.destroy(); resolve(false); }, timeoutMs);
    s.once('connect', () => { clearTimeout(t); s.destroy(); resolve(true); });
    s.once('error', () => { clearTimeout(t); resolve(false); });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Parses the options every daemon takes; unknown options are returned for the caller. */
export interface DaemonArgs {
  pidfile?: string;
  logFile?: string;
  rest: string[];
}
export function parseDaemonArgs(argv: string[]): DaemonArgs {
  const out: DaemonArgs = { rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => inline ?? argv[++i];
    if (flag === '--pidfile') out.pidfile = value();
    else if (flag === '--log-file') out.logFile = value();
    else out.rest.push(a);
  }
  return out;
}
