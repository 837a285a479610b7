/*
 * Controller benchmarks: `npm run bench:controller` (node dist/bench/controller.js [--quick]
 * [--unix] [--only fake|real]). Three figures, measured twice:
 *  - real: through a real running vswitch (controller-real.ts: vsdb-server, datapath, vswitchd
 *    in private directories, two namespaces on tap ports, `vsctl set-controller` to a controller
 *    in this process). Needs root; skipped with a reason otherwise.
 *  - fake: vscontroller's Controller against an in-process fake switch (controller-fake.ts):
 *    the controller and protocol cost alone.
 * Prints a table and writes bench/results/controller.json. Run it under `flock
 * /work/bench.lock` on a shared machine. Control path; not a test, it only measures.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchFakeSwitch, type FakeSwitchFigures } from './controller-fake.js';
import { benchRealSwitch, type RealSwitchFigures } from './controller-real.js';
import { interrupt, runTeardowns } from './sh.js';

const quick = process.argv.includes('--quick');
const useUnix = process.argv.includes('--unix');
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt >= 0 ? process.argv[onlyAt + 1] ?? '' : 'real,fake';
const here = dirname(fileURLToPath(import.meta.url));
const root = here.endsWith(join('dist', 'bench')) ? join(here, '..', '..') : join(here, '..');

const say = (s: string): void => void process.stdout.write(`${s}\n`);
const us = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');

function table(real: RealSwitchFigures | { na: string } | null, fake: FakeSwitchFigures | null): string {
  const rows: [string, string, string][] = [];
  const r = real !== null && !('na' in real) ? real : null;
  const na = real !== null && 'na' in real ? `n/a (${real.na})` : '—';
  rows.push(['flow mods/s, batches of 1000 + barrier', r ? String(r.flow_mods_per_sec.batch1000_barrier_each) : na, fake ? String(fake.flow_mods_per_sec.model_batch1000) : '—']);
  rows.push(['flow mods/s, batches of 100 + barrier', r ? String(r.flow_mods_per_sec.batch100_barrier_each) : na, fake ? String(fake.flow_mods_per_sec.model_batch100) : '—']);
  rows.push(['flow mods/s, pipelined, one barrier', r ? String(r.flow_mods_per_sec.pipelined_one_barrier) : na, '—']);
  if (r) {
    const p = r.packet_in_rtt_us;
    rows.push(['UDP round trip via controller p50/p99 µs', `${us(p.via_controller.p50)} / ${us(p.via_controller.p99)}`, '—']);
    rows.push(['UDP round trip via flows p50/p99 µs', `${us(p.via_flows.p50)} / ${us(p.via_flows.p99)}`, '—']);
  }
  rows.push(['packet-in → packet-out µs (p50)', r ? `${us(r.packet_in_rtt_us.added_per_trip_p50)} added per trip` : na, fake ? us(fake.packet_in_rtt_us.p50) : '—']);
  rows.push(['new flows/s decided by the controller', r ? String(r.new_flows_per_sec.perSec) : na, fake ? String(fake.new_flows_per_sec.perSec) : '—']);
  if (r) rows.push(['  flows set up/s until the backlog drained', `${r.new_flows_per_sec.flowsSetUpPerSec} (${r.new_flows_per_sec.setupSeconds.toFixed(1)} s)`, '—']);
  const w = [Math.max(...rows.map((x) => x[0].length)), Math.max(12, ...rows.map((x) => x[1].length)), 20];
  const line = (a: string, b: string, c: string): string => `  ${a.padEnd(w[0])}  ${b.padStart(w[1])}  ${c.padStart(w[2])}`;
  return [line('', 'real vswitchd', 'in-process fake'), ...rows.map((x) => line(...x))].join('\n');
}

async function main(): Promise<number> {
  const tmp = mkdtempSync(join(tmpdir(), 'vsbench-ctl-'));
  let real: RealSwitchFigures | { na: string } | null = null;
  let fake: FakeSwitchFigures | null = null;
  const onSignal = (): void => {
    interrupt();
    void runTeardowns().then(() => {
      rmSync(tmp, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const load0 = loadavg().map((l) => l.toFixed(2)).join(' ');
  try {
    say(`controller benchmarks${quick ? ' (quick)' : ''}`);
    if (only.includes('real')) {
      if (typeof process.getuid === 'function' && process.getuid() !== 0) {
        real = { na: 'needs root (namespaces, taps)' };
      } else {
        try {
          real = await benchRealSwitch(root, tmp, { quick });
        } catch (e) {
          real = { na: (e as Error).message.split('\n')[0] };
          process.stderr.write(`bench/controller: real switch: ${(e as Error).stack ?? String(e)}\n`);
        } finally {
          await runTeardowns();
        }
      }
    }
    if (only.includes('fake')) fake = await benchFakeSwitch(tmp, { quick, unix: useUnix });
  } finally {
    await runTeardowns();
    rmSync(tmp, { recursive: true, force: true });
  }
  say(table(real, fake));
  const outDir = join(root, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, 'controller.json');
  writeFileSync(file, `${JSON.stringify({
    date: new Date().toISOString(), node: process.version, quick, load_average: { start: load0, end: loadavg().map((l) => l.toFixed(2)).join(' ') },
    real_switch: real, fake_switch: fake,
  }, null, 2)}\n`);
  say(`wrote ${file}`);
  return real !== null && 'na' in real ? 1 : 0;
}

void main().then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`bench/controller: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
