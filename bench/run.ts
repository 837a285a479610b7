/*
 * `npm run bench`: vswitch side by side with the Linux bridge and Open vSwitch's userspace
 * datapath, on one machine in one run. First it builds every setup (two hosts joined by the
 * switch, bench/topo-*.ts) and measures round-trip latency in interleaved rounds
 * (measure-latency.ts says why); then, for each setup in turn, alone, it builds it again and
 * measures TCP, 64-byte forwarding and the new-flow rate (bench/measure-*.ts). Everything is torn
 * down after each phase (also on failure and SIGINT); then it prints the table and writes
 * bench/results/latest.{json,md}. Needs root. Control path.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_HELP, BenchUsageError, SETUP_LABELS, parseBenchArgs, type BenchOptions, type SetupId } from './options.js';
import { FIGURES, formatMarkdown, formatText, type BenchResult, type FigureId, type SetupResult } from './report.js';
import { BenchInterrupted, checkpoint, interrupt, isInterrupted, run, runAsync, runTeardowns, sleep } from './sh.js';
import { SetupNotApplicable, makeNames, type BenchNames, type Topology } from './topo.js';
import { buildGenTools, type GenTools } from './gen/build.js';
import { buildVswitch } from './topo-vswitch.js';
import { buildLinuxBridge } from './topo-linux-bridge.js';
import { buildOvs, ovsVersion } from './topo-ovs.js';
import { finishLatency, latencyRound, roundOrder, startLatency, type LatencySession } from './measure-latency.js';
import { measureTcp, type Measured } from './measure-tcp.js';
import { measurePps } from './measure-pps.js';
import { measureNewFlows } from './measure-newflow.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Ctx { opts: BenchOptions; names: BenchNames; tools: GenTools; tmp: string }

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function build(id: SetupId, ctx: Ctx): Promise<Topology> {
  switch (id) {
    case 'a': return buildVswitch('tap', ctx.names, { root, tmp: ctx.tmp });
    case 'b': return buildVswitch('system', ctx.names, { root, tmp: ctx.tmp });
    case 'c': return buildLinuxBridge(ctx.names);
    case 'd0': return buildOvs(false, ctx.names, ctx.tmp);
    case 'dt': return buildOvs(true, ctx.names, ctx.tmp);
  }
}

interface Step { name: string; figures: FigureId[]; run: (t: Topology) => Promise<Measured> }

const LATENCY_FIGURES: FigureId[] = ['ping', 'pingP50', 'pingP99', 'rrMean', 'rrP50', 'rrP99'];

function steps(ctx: Ctx): Step[] {
  const o = ctx.opts;
  return [
    { name: 'TCP', figures: ['tcp'], run: (t) => measureTcp(t, o.seconds) },
    { name: '64-byte', figures: ['pps64'], run: (t) => measurePps(t, ctx.tools, o.seconds) },
    // Last: it installs a flow rule and may change the switch's caching.
    { name: 'new flows', figures: ['newflow'], run: (t) => measureNewFlows(t, ctx.tools, o.newflowSeconds) },
  ];
}

function shown(sr: SetupResult, figs: FigureId[]): string {
  return figs.map((id) => {
    const f = FIGURES.find((x) => x.id === id)!;
    const c = sr.figures[id];
    return `${f.label}: ${c === undefined ? '?' : 'value' in c ? `${c.value.toFixed(f.digits)} ${f.unit}` : `n/a (${c.na})`}`;
  }).join('; ');
}

/** Builds setup `id` and checks connectivity (which also teaches both MACs before anything is
 *  timed). Throws when it cannot be built or the hosts cannot reach each other. */
async function buildChecked(id: SetupId, ctx: Ctx): Promise<Topology> {
  const topo = await build(id, ctx);
  checkpoint();
  const [h1, h2] = topo.hosts;
  const ping = await runAsync('ip', ['netns', 'exec', h1.ns, 'ping', '-c', '3', '-i', '0.2', '-W', '2', h2.ip], { timeoutMs: 20000 });
  if (ping.status !== 0) throw new Error(`no connectivity between the hosts: ping ${h2.ip} from ${h1.ns} failed: ${(ping.stdout + ping.stderr).trim().split('\n').slice(-2).join(' ')}`);
  return topo;
}

/** Why setup building failed, as shown in n/a figures. */
function failure(e: unknown): string {
  return e instanceof SetupNotApplicable ? e.message : `setup failed: ${(e as Error).message}`;
}

type LatencyOutcome = { figures: Partial<Record<FigureId, { value: number } | { na: string }>>; details: Record<string, unknown> };

/**
 * Latency of every setup, measured in interleaved rounds with all of them built at once (see
 * measure-latency.ts), then everything torn down. A setup that cannot be built or warmed up is
 * left out (its figures say why); one whose round fails keeps its error.
 */
async function latencyPhase(ctx: Ctx): Promise<Map<SetupId, LatencyOutcome>> {
  const o = ctx.opts;
  const out = new Map<SetupId, LatencyOutcome>();
  const na = (id: SetupId, why: string): void => {
    const figures: LatencyOutcome['figures'] = {};
    for (const f of LATENCY_FIGURES) figures[f] = { na: why };
    out.set(id, { figures, details: {} });
  };
  const live: { id: SetupId; s: LatencySession }[] = [];
  const pings = Math.ceil(o.pingCount / o.latencyRounds);
  const exchanges = Math.ceil(o.rrCount / o.latencyRounds);
  try {
    say(`latency: building ${o.only.join(', ')}; ${o.latencyRounds} rounds of ${pings} pings and ${exchanges} UDP exchanges each, setups in turn`);
    for (const id of o.only) {
      checkpoint();
      try {
        const topo = await buildChecked(id, ctx);
        live.push({ id, s: await startLatency(topo, ctx.tools) });
      } catch (e) {
        if (e instanceof BenchInterrupted || isInterrupted()) throw new BenchInterrupted();
        na(id, failure(e));
      }
    }
    const failed = new Map<SetupId, string>();
    for (let r = 0; r < o.latencyRounds; r++) {
      for (const { id, s } of roundOrder(live, r)) {
        checkpoint();
        if (failed.has(id)) continue;
        try {
          await latencyRound(s, ctx.tools, pings, exchanges);
        } catch (e) {
          if (e instanceof BenchInterrupted || isInterrupted()) throw new BenchInterrupted();
          failed.set(id, `latency failed: ${(e as Error).message}`);
        }
      }
      say(`latency: round ${r + 1}/${o.latencyRounds}: ${live.map(({ id, s }) => `${id} ${failed.has(id) ? 'failed' : `${s.rounds[s.rounds.length - 1]?.pingUs.toFixed(0)} µs`}`).join(', ')}`);
    }
    for (const { id, s } of live) {
      const why = failed.get(id);
      if (why) { na(id, why); continue; }
      try {
        out.set(id, finishLatency(s));
      } catch (e) {
        na(id, `latency failed: ${(e as Error).message}`);
      }
    }
  } finally {
    for (const { s } of live) if (s.server.exitCode === null) s.server.kill('SIGKILL');
    await runTeardowns();
  }
  return out;
}

async function runSetup(id: SetupId, ctx: Ctx, latency: LatencyOutcome | undefined): Promise<SetupResult> {
  const sr: SetupResult = { id, label: SETUP_LABELS[id], figures: {}, details: {} };
  const tag = `[${id}] ${sr.label}`;
  if (latency) {
    Object.assign(sr.figures, latency.figures);
    Object.assign(sr.details, latency.details);
    say(`${tag}: ${shown(sr, LATENCY_FIGURES)}`);
  }
  try {
    say(`${tag}: building`);
    const topo = await buildChecked(id, ctx);
    sr.details.setup = topo.info;
    for (const step of steps(ctx)) {
      checkpoint();
      try {
        const m = await step.run(topo);
        Object.assign(sr.figures, m.figures);
        Object.assign(sr.details, m.details);
      } catch (e) {
        if (isInterrupted()) throw new BenchInterrupted();
        for (const f of step.figures) sr.figures[f] = { na: `${step.name} failed: ${(e as Error).message}` };
      }
      say(`${tag}: ${shown(sr, step.figures)}`);
    }
    sr.details.switchStats = await topo.diagnostics();
  } catch (e) {
    if (e instanceof BenchInterrupted || isInterrupted()) throw new BenchInterrupted();
    const why = failure(e);
    say(`${tag}: n/a: ${why}`);
    for (const f of FIGURES) if (sr.figures[f.id] === undefined) sr.figures[f.id] = { na: why };
  } finally {
    await runTeardowns();
  }
  return sr;
}

function machine(): Record<string, unknown> {
  const first = (cmd: string, args: string[]): string => (run(cmd, args).stdout.trim().split('\n')[0] ?? '').trim();
  const ovs = ovsVersion();
  return {
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    kernel: release(),
    node: process.version,
    iperf3: first('iperf3', ['--version']),
    openvswitch: 'version' in ovs ? ovs.version : 'not installed',
    commit: first('git', ['-C', root, 'rev-parse', '--short', 'HEAD']) || 'unknown',
    'load average at start': loadavg().map((l) => l.toFixed(2)).join(' '),
  };
}

function preconditions(): string | null {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'the benchmark needs root (it creates network namespaces, taps and bridges)';
  const missing = ['ip', 'iperf3', 'ping', 'gcc', 'ss'].filter((t) => run('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length) return `missing ${missing.join(', ')} (scripts/setup.sh installs them)`;
  if (!existsSync(join(root, 'dist', 'tools', 'vswitch.js'))) return 'vswitch is not built; run npm run build (npm run bench does)';
  return null;
}

export async function main(argv: string[]): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseBenchArgs(argv);
  } catch (e) {
    if (e instanceof BenchUsageError) { process.stderr.write(`bench: ${e.message}\n`); return 2; }
    throw e;
  }
  if (opts.help) { process.stdout.write(BENCH_HELP); return 0; }
  const bad = preconditions();
  if (bad) { process.stderr.write(`bench: ${bad}\n`); return 1; }

  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      process.stderr.write(`\nbench: ${sig}: stopping and cleaning up (again to force)\n`);
      interrupt();
    } else void runTeardowns().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const tmp = mkdtempSync(join(tmpdir(), 'vswitch-bench-'));
  const started = Date.now();
  const res: BenchResult = { date: new Date().toISOString(), machine: machine(), options: { ...opts }, setups: [] };
  try {
    const tools = buildGenTools(root, tmp);
    const ctx: Ctx = { opts, names: makeNames(), tools, tmp };
    say(`bench: setups ${opts.only.join(', ')}; ${opts.seconds} s TCP and 64-byte runs; names end in -${ctx.names.suffix}`);
    const latency = await latencyPhase(ctx);
    await sleep(500);
    for (const id of opts.only) {
      checkpoint();
      res.setups.push(await runSetup(id, ctx, latency.get(id)));
      await sleep(500);
    }
  } catch (e) {
    if (!(e instanceof BenchInterrupted)) throw e;
  } finally {
    await runTeardowns();
    rmSync(tmp, { recursive: true, force: true });
  }
  res.machine['load average at end'] = loadavg().map((l) => l.toFixed(2)).join(' ');
  res.machine['run time'] = `${Math.round((Date.now() - started) / 1000)} s`;
  if (res.setups.length) process.stdout.write(`\n${formatText(res)}`);
  if (isInterrupted()) {
    process.stderr.write('bench: interrupted; results not written\n');
    return 130;
  }
  const out = opts.outDir ?? join(root, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const json = `${JSON.stringify(res, null, 2)}\n`;
  writeFileSync(join(out, 'latest.json'), json);
  writeFileSync(join(out, `bench-${res.date.replace(/[:.]/g, '-')}.json`), json);
  writeFileSync(join(out, 'latest.md'), formatMarkdown(res));
  say(`\nbench: wrote ${join(out, 'latest.json')} and latest.md (${res.machine['run time']})`);
  return 0;
}

// Run when executed directly (node dist/bench/run.js), not when imported.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e: Error) => { process.stderr.write(`bench: ${e.stack ?? e.message}\n`); process.exitCode = 1; },
  );
}
