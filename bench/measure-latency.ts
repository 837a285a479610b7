/*
 * Round-trip latency between the hosts, on an otherwise idle switch: ping (ICMP echo, 0.01 s
 * apart: mean, p50, p99) and udprr (UDP request/response, one at a time: mean, p50, p99). Called by
 * bench/run.ts; control path. Every setup gets the same uncounted warm-up first (PING_WARMUP
 * pings 2 ms apart, RR_WARMUP exchanges), so the figures are a running switch's, not the first
 * frames through a freshly started one (a JIT still compiling, caches cold).
 */
import type { Topology } from './topo.js';
import type { GenTools } from './gen/build.js';
import type { Measured } from './measure-tcp.js';
import { parsePing, parsePingTimes, parseUdprr, summarize } from './parse.js';
import { BenchCommandError, nsArgs, runAsync, start, waitForLine } from './sh.js';

const RR_PORT = '7777';
const RR_WARMUP = '100';
const PING_WARMUP = 500;

export async function measureLatency(topo: Topology, tools: GenTools, pingCount: number, rrCount: number): Promise<Measured> {
  const [h1, h2] = topo.hosts;
  await runAsync('ip', nsArgs(h1.ns, 'ping', ['-q', '-c', String(PING_WARMUP), '-i', '0.002', '-W', '1', h2.ip]), { timeoutMs: PING_WARMUP * 20 + 10000 });
  const pingArgs = ['-c', String(pingCount), '-i', '0.01', '-W', '1', h2.ip];
  const p = await runAsync('ip', nsArgs(h1.ns, 'ping', pingArgs), { timeoutMs: pingCount * 50 + 10000 });
  const ping = parsePing(p.stdout + p.stderr);
  const pingTimes = summarize(parsePingTimes(p.stdout));

  const server = start('ip', nsArgs(h2.ns, tools.udprr, ['server', RR_PORT]));
  try {
    await waitForLine(server, (l) => l === 'ready', 5000, 'udprr server');
    const args = ['client', h2.ip, RR_PORT, String(rrCount), RR_WARMUP, '20'];
    const r = await runAsync('ip', nsArgs(h1.ns, tools.udprr, args), { timeoutMs: 40000 });
    if (r.status !== 0) throw new BenchCommandError('udprr', args, r);
    const rr = parseUdprr(r.stdout);
    const s = summarize(rr.samplesUs);
    if (s.count === 0) throw new BenchCommandError('udprr', args, { ...r, stderr: `no answers (${rr.lost} lost)` });
    return {
      figures: {
        ping: { value: ping.avgUs },
        pingP50: { value: pingTimes.p50 },
        pingP99: { value: pingTimes.p99 },
        rrMean: { value: s.mean }, rrP50: { value: s.p50 }, rrP99: { value: s.p99 },
      },
      details: { ping: { ...ping, p50Us: pingTimes.p50, p99Us: pingTimes.p99 }, udprr: { ...s, lost: rr.lost } },
    };
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
  }
}
