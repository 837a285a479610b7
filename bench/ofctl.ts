/*
 * Flow table management benchmark: `ofctl add-flows` of N flows (100k by default) from a file
 * and `ofctl dump-flows` of them, for vswitch and, in the same run, for Open vSwitch
 * (ovs-ofctl against a private ovs-vswitchd with a datapath_type=netdev bridge).
 *   node dist/bench/ofctl.js [--flows N] [--out DIR]
 * Each tool runs as its own process, as a user would run it; the figure is its wall time.
 * dump-flows writes to a file (`ofctl dump-flows BR > FILE`: no reader process competing for
 * the two CPUs) and runs DUMPS times in a row, each a new process: the figure is the median,
 * the first (a switch that has never dumped) is kept in the JSON.
 * Prints a table with the ratio vswitch/OVS (below 1: vswitch is faster) and writes
 * bench/results/ofctl.json. vswitch needs no root (its bridge port is a dummy); Open vSwitch
 * does (its bridge is a tap): without root or OVS the OVS column is n/a, with the reason.
 * Every instance lives in a temporary directory (OVS's ovs-vswitchd in a namespace of its own,
 * so its devices never meet the host's) and is stopped and removed at the end, also on errors.
 */
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ovsVersion } from './topo-ovs.js';
import { BenchCommandError, must, nsArgs, onTeardown, run, runAsync, runTeardowns, sleep, type CmdResult } from './sh.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

/** dump-flows runs per switch (the figure is their median). */
const DUMPS = 3;

interface Times {
  addS: number;
  /** Median of the DUMPS dump-flows runs, and each of them in order. */
  dumpS: number;
  dumpRuns: number[];
  /** Flow lines dump-flows printed (checks that every flow arrived). */
  dumped: number;
}

/** N distinct flows in ovs-ofctl syntax, one per line. */
export function flowFile(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) {
    s += `priority=${1000 + (i % 100)},tcp,nw_src=10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255},tp_dst=${80 + (i % 1000)},actions=output:${1 + (i % 2)}\n`;
  }
  return s;
}

/** Runs a command and returns its wall time in seconds and its output. */
async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ s: number; stdout: string }> {
  const t0 = process.hrtime.bigint();
  const r = await runAsync(cmd, args, { env, timeoutMs: 600000 });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new BenchCommandError(cmd, args, r);
  return { s, stdout: r.stdout };
}

function flowLines(out: string): number {
  let n = 0;
  for (const line of out.split('\n')) if (line.startsWith(' cookie=')) n++;
  return n;
}

/**
 * Runs dump-flows DUMPS times, standard output to `outFile` each time (as `> FILE`); the
 * median wall time, every run's, and the flow lines of the last output.
 */
async function timedDumps(cmd: string, args: string[], env: NodeJS.ProcessEnv, outFile: string): Promise<{ s: number; runs: number[]; dumped: number }> {
  const runs: number[] = [];
  for (let i = 0; i < DUMPS; i++) {
    const fd = openSync(outFile, 'w');
    const t0 = process.hrtime.bigint();
    let r: CmdResult;
    try {
      r = await runAsync(cmd, args, { env, timeoutMs: 600000, stdoutFd: fd });
    } finally {
      closeSync(fd);
    }
    runs.push(Number(process.hrtime.bigint() - t0) / 1e9);
    if (r.status !== 0) throw new BenchCommandError(cmd, args, r);
  }
  const sorted = [...runs].sort((a, b) => a - b);
  return { s: sorted[Math.floor(sorted.length / 2)], runs, dumped: flowLines(readFileSync(outFile, 'utf8')) };
}

async function measureVswitch(tmp: string, file: string, suffix: string): Promise<Times> {
  const dir = join(tmp, 'vswitch');
  const env: NodeJS.ProcessEnv = { ...process.env, VSWITCH_RUNDIR: join(dir, 'run'), VSWITCH_DBDIR: join(dir, 'db'), VSWITCH_LOGDIR: join(dir, 'log') };
  const bin = (tool: string): string => join(ROOT, 'bin', `${tool}.js`);
  mkdirSync(dir, { recursive: true });
  onTeardown(`vswitch instance in ${dir}`, () => {
    run(process.execPath, [bin('vswitch'), 'stop'], { env });
  });
  const started = await runAsync(process.execPath, [bin('vswitch'), 'start'], { env, timeoutMs: 60000 });
  if (started.status !== 0) throw new BenchCommandError('vswitch', ['start'], started);
  const br = `vbof${suffix}`;
  must(process.execPath, [bin('vsctl'), 'add-br', br, '--', 'set', 'Interface', br, 'type=dummy'], { env });
  const add = await timed(process.execPath, [bin('ofctl'), 'add-flows', br, file], env);
  const dump = await timedDumps(process.execPath, [bin('ofctl'), 'dump-flows', br], env, join(dir, 'dump.txt'));
  return { addS: add.s, dumpS: dump.s, dumpRuns: dump.runs, dumped: dump.dumped };
}

async function killPidfile(pidfile: string): Promise<void> {
  let pid = 0;
  try {
    pid = Number.parseInt(readFileSync(pidfile, 'utf8'), 10);
  } catch {
    return;
  }
  if (!(pid > 0)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch { /* gone */ }
}

async function measureOvs(tmp: string, file: string, suffix: string): Promise<Times> {
  const dir = join(tmp, 'ovs');
  const env: NodeJS.ProcessEnv = { ...process.env, OVS_RUNDIR: dir, OVS_DBDIR: dir, OVS_LOGDIR: dir, OVS_SYSCONFDIR: dir };
  const f = (name: string): string => join(dir, name);
  const ns = `vbof-${suffix}`;
  mkdirSync(dir, { recursive: true });
  must('ip', ['netns', 'add', ns]);
  onTeardown(`namespace ${ns}`, () => { run('ip', ['netns', 'del', ns]); });
  onTeardown(`Open vSwitch in ${dir}`, async () => {
    await killPidfile(f('ovs-vswitchd.pid'));
    await killPidfile(f('ovsdb-server.pid'));
  });
  must('ovsdb-tool', ['create', f('conf.db'), SCHEMA], { env });
  must('ovsdb-server', [f('conf.db'), `--remote=punix:${f('db.sock')}`, `--pidfile=${f('ovsdb-server.pid')}`, '--detach',
    `--log-file=${f('ovsdb-server.log')}`, `--unixctl=${f('ovsdb-server.ctl')}`], { env });
  const vsctl = (...args: string[]): string => must('ovs-vsctl', [`--db=unix:${f('db.sock')}`, '--timeout=20', ...args], { env });
  vsctl('--no-wait', 'init');
  must('ip', nsArgs(ns, 'ovs-vswitchd', [`unix:${f('db.sock')}`, `--pidfile=${f('ovs-vswitchd.pid')}`, '--detach',
    `--log-file=${f('ovs-vswitchd.log')}`, `--unixctl=${f('ovs-vswitchd.ctl')}`]), { env });
  const br = `vbof${suffix}`;
  vsctl('add-br', br, '--', 'set', 'Bridge', br, 'datapath_type=netdev');
  const add = await timed('ovs-ofctl', ['add-flows', br, file], env);
  const dump = await timedDumps('ovs-ofctl', ['dump-flows', br], env, f('dump.txt'));
  return { addS: add.s, dumpS: dump.s, dumpRuns: dump.runs, dumped: dump.dumped };
}

function fmt(v: number | null, digits = 2): string {
  return v === null ? 'n/a' : v.toFixed(digits);
}

async function main(argv: string[]): Promise<number> {
  let flows = 100_000;
  let outDir = join(ROOT, 'bench', 'results');
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--flows') flows = Number(argv[++i]);
    else if (argv[i] === '--out') outDir = argv[++i];
    else if (argv[i] === '-h' || argv[i] === '--help') {
      process.stdout.write('usage: node dist/bench/ofctl.js [--flows N] [--out DIR]\n');
      return 0;
    } else {
      process.stderr.write(`bench/ofctl: unknown argument ${argv[i]}\n`);
      return 1;
    }
  }
  if (!Number.isInteger(flows) || flows <= 0) throw new Error('--flows needs a positive integer');
  const suffix = Math.random().toString(36).slice(2, 8);
  const tmp = mkdtempSync(join(tmpdir(), 'vswitch-bench-ofctl-'));
  onTeardown(`temporary directory ${tmp}`, () => rmSync(tmp, { recursive: true, force: true }));
  const onSignal = (): void => void runTeardowns().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const file = join(tmp, 'flows.txt');
    writeFileSync(file, flowFile(flows));
    process.stdout.write(`ofctl benchmark: ${flows} flows (suffix ${suffix})\n`);
    const vs = await measureVswitch(tmp, file, suffix);
    let ovs: Times | null = null;
    let ovsWhy = '';
    const v = ovsVersion();
    if ('missing' in v) ovsWhy = v.missing;
    else if (process.getuid?.() !== 0) ovsWhy = 'Open vSwitch needs root here (its bridge is a tap device)';
    else if (!existsSync(SCHEMA)) ovsWhy = `${SCHEMA} is missing`;
    else ovs = await measureOvs(tmp, file, suffix);
    const rows: [string, number, number | null][] = [
      [`add-flows ${flows} (s)`, vs.addS, ovs ? ovs.addS : null],
      [`dump-flows ${flows} (s)`, vs.dumpS, ovs ? ovs.dumpS : null],
      [`  first dump (s)`, vs.dumpRuns[0], ovs ? ovs.dumpRuns[0] : null],
    ];
    process.stdout.write(`${'figure'.padEnd(26)} ${'vswitch'.padStart(8)} ${'OVS'.padStart(8)} ${'ratio'.padStart(7)}\n`);
    for (const [name, a, b] of rows) {
      process.stdout.write(`${name.padEnd(26)} ${fmt(a).padStart(8)} ${fmt(b).padStart(8)} ${(b ? fmt(a / b) : 'n/a').padStart(7)}\n`);
    }
    process.stdout.write(`flows dumped: vswitch ${vs.dumped}, OVS ${ovs ? ovs.dumped : 'n/a'} (each also has its table-miss flow)\n`);
    if (!ovs) process.stdout.write(`OVS: n/a (${ovsWhy})\n`);
    const result = {
      date: new Date().toISOString(), flows, ovs_version: 'version' in v ? v.version : null, ovs_missing: ovs ? null : ovsWhy,
      vswitch: { add_flows_s: vs.addS, dump_flows_s: vs.dumpS, dump_flows_runs_s: vs.dumpRuns, flows_dumped: vs.dumped },
      ovs: ovs ? { add_flows_s: ovs.addS, dump_flows_s: ovs.dumpS, dump_flows_runs_s: ovs.dumpRuns, flows_dumped: ovs.dumped } : null,
      ratio: ovs ? { add_flows: vs.addS / ovs.addS, dump_flows: vs.dumpS / ovs.dumpS } : null,
    };
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'ofctl.json'), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`wrote ${join(outDir, 'ofctl.json')}\n`);
    return 0;
  } finally {
    await runTeardowns();
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e: unknown) => {
  process.stderr.write(`bench/ofctl: ${(e as Error)?.message ?? e}\n`);
  void runTeardowns().finally(() => process.exit(1));
});
