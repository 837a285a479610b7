/*
 * TCP throughput: one iperf3 stream from host 1 to host 2 for the given time; the figure is
 * what the receiver got. Also defines Measured, what every bench/measure-*.ts returns.
 * Called by bench/run.ts; control path.
 */
import type { Topology } from './topo.js';
import type { Cell, FigureId } from './report.js';
import { parseIperf3 } from './parse.js';
import { BenchCommandError, nsArgs, run, runAsync, sleep, start } from './sh.js';

export interface Measured {
  figures: Partial<Record<FigureId, Cell>>;
  details: Record<string, unknown>;
}

const PORT = '5201';

async function waitListening(ns: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (run('ip', nsArgs(ns, 'ss', ['-Hltn', `sport = :${PORT}`])).stdout.includes(PORT)) return;
    await sleep(50);
  }
  throw new BenchCommandError('iperf3', ['-s'], { status: -1, stdout: '', stderr: `not listening on port ${PORT} after 5 s` });
}

export async function measureTcp(topo: Topology, seconds: number): Promise<Measured> {
  const [h1, h2] = topo.hosts;
  const server = start('ip', nsArgs(h2.ns, 'iperf3', ['-s', '-1', '-p', PORT]));
  try {
    await waitListening(h2.ns);
    const args = ['-c', h2.ip, '-p', PORT, '-t', String(seconds), '-J'];
    const r = await runAsync('ip', nsArgs(h1.ns, 'iperf3', args), { timeoutMs: seconds * 1000 + 30000 });
    if (r.status !== 0 && !r.stdout.includes('"end"')) throw new BenchCommandError('iperf3', args, { ...r, stderr: r.stderr || r.stdout });
    const t = parseIperf3(r.stdout);
    return { figures: { tcp: { value: t.gbps } }, details: { tcp: { seconds, gbps: t.gbps, retransmits: t.retransmits } } };
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
  }
}
