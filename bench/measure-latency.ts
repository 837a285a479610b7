/*
 * Round-trip latency between the hosts, on an otherwise idle switch: ping (ICMP echo, 0.01 s
 * apart: mean, p50, p99) and udprr (UDP request/response, one at a time: mean, p50, p99). Called by
 * bench/run.ts; control path.
 *
 * Latency on this kind of machine drifts between levels over seconds (where the scheduler puts
 * the switch and the hosts, what the other CPU does), so measuring one setup after another
 * compares the setups' luck as much as the setups. bench/run.ts therefore builds every setup
 * first and measures in rounds (startLatency, then latencyRound once per setup per round, the
 * order rotated each round, then finishLatency): each setup's figures pool the samples of every
 * round, and the rounds' own means are kept in the JSON to show the spread. Every setup gets
 * the same uncounted warm-up first (PING_WARMUP pings 2 ms apart, RR_WARMUP exchanges) and a
 * short one at the start of each round, so the figures are a running switch's, not the first
 * frames through a freshly started one or one that sat idle while the others were measured.
 */
import type { ChildProcess } from 'node:child_process';
import type { Topology } from './topo.js';
import type { GenTools } from './gen/build.js';
import type { Measured } from './measure-tcp.js';
import { parsePing, parsePingTimes, parseUdprr, summarize } from './parse.js';
import { BenchCommandError, nsArgs, runAsync, start, waitForLine } from './sh.js';

const RR_PORT = '7777';
const RR_WARMUP = '100';
const PING_WARMUP = 500;
/** Uncounted pings (2 ms apart) at the start of each round. */
const ROUND_WARMUP = 50;

/** One setup's latency measurement in progress. */
export interface LatencySession {
  readonly topo: Topology;
  readonly server: ChildProcess;
  /** Every ping reply time and udprr sample so far, µs. */
  readonly pingUs: number[];
  readonly rrUs: number[];
  transmitted: number;
  received: number;
  rrLost: number;
  /** Per round: mean ping and udprr round trip, µs. */
  readonly rounds: { pingUs: number; rrUs: number }[];
}

/** The order of the setups in round r (0-based): rotated by r, so none is always first. */
export function roundOrder<T>(items: readonly T[], r: number): T[] {
  const n = items.length;
  if (n === 0) return [];
  const k = r % n;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** Warms the switch up and starts the udprr server on host 2. */
export async function startLatency(topo: Topology, tools: GenTools): Promise<LatencySession> {
  const [h1, h2] = topo.hosts;
  await runAsync('ip', nsArgs(h1.ns, 'ping', ['-q', '-c', String(PING_WARMUP), '-i', '0.002', '-W', '1', h2.ip]), { timeoutMs: PING_WARMUP * 20 + 10000 });
  const server = start('ip', nsArgs(h2.ns, tools.udprr, ['server', RR_PORT]));
  try {
    await waitForLine(server, (l) => l === 'ready', 5000, 'udprr server');
  } catch (e) {
    if (server.exitCode === null) server.kill('SIGKILL');
    throw e;
  }
  return { topo, server, pingUs: [], rrUs: [], transmitted: 0, received: 0, rrLost: 0, rounds: [] };
}

/** One round: a short warm-up, `pings` pings 0.01 s apart, `exchanges` udprr round trips. */
export async function latencyRound(s: LatencySession, tools: GenTools, pings: number, exchanges: number): Promise<void> {
  const [h1, h2] = s.topo.hosts;
  await runAsync('ip', nsArgs(h1.ns, 'ping', ['-q', '-c', String(ROUND_WARMUP), '-i', '0.002', '-W', '1', h2.ip]), { timeoutMs: ROUND_WARMUP * 20 + 10000 });
  const p = await runAsync('ip', nsArgs(h1.ns, 'ping', ['-c', String(pings), '-i', '0.01', '-W', '1', h2.ip]), { timeoutMs: pings * 50 + 10000 });
  const ping = parsePing(p.stdout + p.stderr);
  const times = parsePingTimes(p.stdout);
  s.transmitted += ping.transmitted;
  s.received += ping.received;
  s.pingUs.push(...times);

  const args = ['client', h2.ip, RR_PORT, String(exchanges), RR_WARMUP, '20'];
  const r = await runAsync('ip', nsArgs(h1.ns, tools.udprr, args), { timeoutMs: 40000 });
  if (r.status !== 0) throw new BenchCommandError('udprr', args, r);
  const rr = parseUdprr(r.stdout);
  if (rr.samplesUs.length === 0) throw new BenchCommandError('udprr', args, { ...r, stderr: `no answers (${rr.lost} lost)` });
  s.rrUs.push(...rr.samplesUs);
  s.rrLost += rr.lost;
  s.rounds.push({ pingUs: summarize(times).mean, rrUs: summarize(rr.samplesUs).mean });
}

/** Stops the udprr server; the figures over every round. */
export function finishLatency(s: LatencySession): Measured {
  if (s.server.exitCode === null) s.server.kill('SIGKILL');
  const ping = summarize(s.pingUs);
  const rr = summarize(s.rrUs);
  if (ping.count === 0) throw new BenchCommandError('ping', [], { status: 1, stdout: '', stderr: `no replies (${s.transmitted} sent)` });
  const round = (x: number): number => Math.round(x * 10) / 10;
  return {
    figures: {
      ping: { value: ping.mean },
      pingP50: { value: ping.p50 },
      pingP99: { value: ping.p99 },
      rrMean: { value: rr.mean }, rrP50: { value: rr.p50 }, rrP99: { value: rr.p99 },
    },
    details: {
      ping: { transmitted: s.transmitted, received: s.received, ...ping },
      udprr: { ...rr, lost: s.rrLost },
      latencyRounds: s.rounds.map((x) => ({ pingUs: round(x.pingUs), rrUs: round(x.rrUs) })),
    },
  };
}
