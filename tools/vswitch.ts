/*
 * `vswitch`: starts, stops and reports the three daemons (vsdb-server, datapath, vswitchd) of
 * one instance, and runs the demo. An instance is defined by VSWITCH_RUNDIR / VSWITCH_DBDIR /
 * VSWITCH_LOGDIR, so several run side by side. Each daemon is spawned detached with its pidfile
 * and log file; `start` returns once each one has written its pidfile and answers on its socket.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { paths, type DaemonName, type Paths } from '../src/lib/paths.js';
import { isAlive, runningPid, sleep, socketAnswers, removePidfile } from '../src/lib/daemon.js';
import { runDemo } from './vswitch-demo.js';

const HELP = `vswitch: start, stop and inspect a vswitch instance
usage: vswitch COMMAND [OPTIONS]

Commands:
  start              start vsdb-server, datapath and vswitchd in the background and
                     return once all three are ready (creates the database on first start)
  stop               stop the daemons; the datapath removes the tap devices it created
  status             say which daemons are running (exit 0 only if all three are)
  demo [--time S]    as root: start a private instance, attach two network namespaces to
                     bridge br0 through tap ports, ping and run iperf3 (S seconds, default 5)
                     between them, show vsctl show / dpctl dump-flows / appctl fdb/show br0,
                     then remove everything it created

Options:
  --timeout=SECS     how long start waits for each daemon (default 20)
  -h, --help         show this help
  -V, --version      show the version

Environment:
  VSWITCH_RUNDIR     sockets and pidfiles (default /run/vswitch)
  VSWITCH_DBDIR      the database file conf.db (default /var/lib/vswitch)
  VSWITCH_LOGDIR     daemon logs (default /var/log/vswitch)
`;

interface DaemonSpec {
  name: DaemonName;
  bin: string;
  socket: (p: Paths) => string;
}

const binDir = fileURLToPath(new URL('../../bin/', import.meta.url));

/** In start order; stopped in reverse. */
export const DAEMONS: DaemonSpec[] = [
  { name: 'vsdb-server', bin: 'vsdb-server.js', socket: (p) => p.dbSock },
  { name: 'datapath', bin: 'vswitch-datapath.js', socket: (p) => p.dpSock },
  { name: 'vswitchd', bin: 'vswitchd.js', socket: (p) => p.ctlSock('vswitchd') },
];

export function binPath(name: string): string {
  return binDir + name;
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function startOne(d: DaemonSpec, p: Paths, timeoutMs: number): Promise<void> {
  const pidfile = p.pidFile(d.name);
  const already = runningPid(pidfile);
  if (already !== null) {
    console.log(`${d.name} is already running with pid ${already}`);
    return;
  }
  removePidfile(pidfile);
  const log = p.logFile(d.name);
  const out = openSync(log, 'a');
  const child = spawn(process.execPath, [binPath(d.bin), '--pidfile', pidfile, '--log-file', log], {
    detached: true,
    stdio: ['ignore', out, out],
    env: process.env,
  });
  closeSync(out);
  let exited: number | null = null;
  child.once('exit', (code, sig) => { exited = code ?? (sig ? 128 : 1); });
  child.unref();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited !== null) throw new Error(`${d.name} exited with status ${exited} while starting; its log ${log} ends with:\n${tail(log)}`);
    if (runningPid(pidfile) === child.pid && (await socketAnswers(d.socket(p), 500))) {
      console.log(`Starting ${d.name} (pid ${child.pid}) ... done`);
      return;
    }
    await sleep(50);
  }
  try { process.kill(child.pid!, 'SIGKILL'); } catch { /* gone */ }
  throw new Error(`${d.name} did not become ready in ${timeoutMs} ms; its log ${log} ends with:\n${tail(log)}`);
}

export async function start(p: Paths, timeoutMs = 20000): Promise<void> {
  for (const dir of [p.rundir, p.dbdir, p.logdir]) mkdirSync(dir, { recursive: true });
  const started: DaemonSpec[] = [];
  try {
    for (const d of DAEMONS) {
      const wasRunning = runningPid(p.pidFile(d.name)) !== null;
      await startOne(d, p, timeoutMs);
      if (!wasRunning) started.push(d);
    }
  } catch (e) {
    for (const d of started.reverse()) await stopOne(d, p, true);
    throw e;
  }
}

async function stopOne(d: DaemonSpec, p: Paths, quiet = false): Promise<void> {
  const pidfile = p.pidFile(d.name);
  const pid = runningPid(pidfile);
  if (pid === null) {
    removePidfile(pidfile);
    return;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10000;
  while (isAlive(pid) && Date.now() < deadline) await sleep(50);
  let how = 'done';
  if (isAlive(pid)) {
    process.kill(pid, 'SIGKILL');
    how = 'killed';
    while (isAlive(pid)) await sleep(20);
  }
  // A daemon killed before it could clean up leaves its pidfile behind.
  try { if (runningPid(pidfile) === null) removePidfile(pidfile); } catch { /* ignore */ }
  if (!quiet) console.log(`Stopping ${d.name} (pid ${pid}) ... ${how}`);
}

export async function stop(p: Paths): Promise<void> {
  for (const d of [...DAEMONS].reverse()) await stopOne(d, p);
}

export function status(p: Paths): number {
  let up = 0;
  for (const d of DAEMONS) {
    const pid = runningPid(p.pidFile(d.name));
    if (pid !== null) {
      up++;
      console.log(`${d.name} is running with pid ${pid}`);
    } else console.log(`${d.name} is not running`);
  }
  return up === DAEMONS.length ? 0 : 3;
}

export async function main(argv: string[]): Promise<number> {
  let timeout = 20;
  let time = 5;
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') { process.stdout.write(HELP); return 0; }
    if (a === '-V' || a === '--version') {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
      console.log(`vswitch ${pkg.version}`);
      return 0;
    }
    if (a.startsWith('--timeout=')) timeout = Number(a.slice(10));
    else if (a === '--time') time = Number(argv[++i]);
    else if (a.startsWith('--time=')) time = Number(a.slice(7));
    else if (a.startsWith('-')) { console.error(`vswitch: unknown option '${a}'; use --help for help`); return 1; }
    else args.push(a);
  }
  if (!(timeout > 0) || !(time > 0)) { console.error('vswitch: --timeout and --time take a positive number of seconds'); return 1; }
  const p = paths();
  try {
    switch (args[0]) {
      case 'start': await start(p, timeout * 1000); return 0;
      case 'stop': await stop(p); return 0;
      case 'status': return status(p);
      case 'demo': return await runDemo(time);
      case undefined: console.error('vswitch: missing command; use --help for help'); return 1;
      default: console.error(`vswitch: unknown command '${args[0]}'; use --help for help`); return 1;
    }
  } catch (e) {
    console.error(`vswitch: ${(e as Error).message}`);
    return 1;
  }
}
