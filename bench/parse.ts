/*
 * Reads what the measuring tools print (iperf3 -J, ping -q, `ip -j -s link`, the bench's own
 * pktgen and udprr) into numbers, and summarizes latency samples. Pure; called by the
 * bench/measure-*.ts modules and the unit tests. Each parser throws BenchParseError when the
 * output does not have the expected shape, quoting the start of what it got.
 */
import { VswitchError } from '../src/lib/errors.js';

/** Thrown when a tool's output cannot be read; the message quotes what it printed. */
export class BenchParseError extends VswitchError {
  constructor(tool: string, what: string, output: string) {
    const shown = output.trim().slice(0, 300);
    super('BENCH_PARSE', `${tool}: ${what}; it printed: ${shown === '' ? '(nothing)' : shown}`);
    this.name = 'BenchParseError';
  }
}

export interface IperfResult { gbps: number; retransmits: number | null }

/** iperf3 -J from the client: received throughput of the whole run. */
export function parseIperf3(json: string): IperfResult {
  let doc: { error?: string; end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } } };
  try {
    doc = JSON.parse(json);
  } catch {
    throw new BenchParseError('iperf3', 'no JSON output', json);
  }
  if (doc.error) throw new BenchParseError('iperf3', `failed: ${doc.error}`, '');
  const bps = doc.end?.sum_received?.bits_per_second;
  if (typeof bps !== 'number') throw new BenchParseError('iperf3', 'no end.sum_received.bits_per_second', json);
  const r = doc.end?.sum_sent?.retransmits;
  return { gbps: bps / 1e9, retransmits: typeof r === 'number' ? r : null };
}

export interface PingResult { transmitted: number; received: number; minUs: number; avgUs: number; maxUs: number; mdevUs: number }

/** `ping -q` summary lines. */
export function parsePing(text: string): PingResult {
  const counts = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(text);
  if (!counts) throw new BenchParseError('ping', 'no "packets transmitted" line', text);
  const transmitted = Number(counts[1]);
  const received = Number(counts[2]);
  const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(text);
  if (!rtt) {
    if (received === 0) throw new BenchParseError('ping', 'no answer to any request', text);
    throw new BenchParseError('ping', 'no rtt line', text);
  }
  const us = (s: string): number => Number(s) * 1000;
  return { transmitted, received, minUs: us(rtt[1]), avgUs: us(rtt[2]), maxUs: us(rtt[3]), mdevUs: us(rtt[4]) };
}

/** The per-reply round trips of ping (without -q), in microseconds. */
export function parsePingTimes(text: string): number[] {
  const out: number[] = [];
  for (const m of text.matchAll(/ time=([\d.]+) ms/g)) out.push(Number(m[1]) * 1000);
  return out;
}

export interface LinkStats { rxPackets: number; txPackets: number; rxDropped: number; txDropped: number }

/** `ip -j -s link show dev X`: the device's 64-bit counters. */
export function parseLinkStats(json: string): LinkStats {
  let doc: { stats64?: { rx?: { packets?: number; dropped?: number }; tx?: { packets?: number; dropped?: number } } }[];
  try {
    doc = JSON.parse(json);
  } catch {
    throw new BenchParseError('ip -s link', 'no JSON output', json);
  }
  const s = Array.isArray(doc) ? doc[0]?.stats64 : undefined;
  if (!s || typeof s.rx?.packets !== 'number' || typeof s.tx?.packets !== 'number') {
    throw new BenchParseError('ip -s link', 'no stats64 counters', json);
  }
  return { rxPackets: s.rx.packets, txPackets: s.tx.packets, rxDropped: s.rx.dropped ?? 0, txDropped: s.tx.dropped ?? 0 };
}

export interface PktgenResult { sent: number; errors: number; seconds: number }

/** pktgen's last line: {"sent":N,"errors":E,"seconds":S}. */
export function parsePktgen(text: string): PktgenResult {
  const line = text.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (line !== undefined) {
    try {
      const o = JSON.parse(line) as Partial<PktgenResult>;
      if (typeof o.sent === 'number' && typeof o.errors === 'number' && typeof o.seconds === 'number' && o.seconds > 0) {
        return { sent: o.sent, errors: o.errors, seconds: o.seconds };
      }
    } catch { /* reported below */ }
  }
  throw new BenchParseError('pktgen', 'no result line', text);
}

export interface UdprrResult { samplesUs: number[]; lost: number }

/** udprr client: one round trip per line (µs), then "lost N". */
export function parseUdprr(text: string): UdprrResult {
  const samplesUs: number[] = [];
  let lost: number | null = null;
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    const m = /^lost (\d+)$/.exec(t);
    if (m) lost = Number(m[1]);
    else if (/^\d+(\.\d+)?$/.test(t)) samplesUs.push(Number(t));
    else throw new BenchParseError('udprr', `unexpected line '${t.slice(0, 40)}'`, text);
  }
  if (lost === null) throw new BenchParseError('udprr', 'no "lost" line (did it finish?)', text);
  return { samplesUs, lost };
}

export interface Summary { count: number; mean: number; p50: number; p99: number; min: number; max: number }

/** Nearest-rank percentile (p in 0..100) of ascending `sorted`; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Mean, median, 99th percentile, min and max of `samples` (any order). */
export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((x, y) => x - y);
  const n = sorted.length;
  if (n === 0) return { count: 0, mean: NaN, p50: NaN, p99: NaN, min: NaN, max: NaN };
  let sum = 0;
  for (const v of sorted) sum += v;
  return { count: n, mean: sum / n, p50: percentile(sorted, 50), p99: percentile(sorted, 99), min: sorted[0], max: sorted[n - 1] };
}

export interface DpStats { flows: number; hit: number; missed: number; lost: number }

/** The "lookups: hit:H missed:M lost:L" and "flows: N" lines of `dpctl show` (vswitch) or
 *  `ovs-appctl dpctl/show` (OVS); null when either is absent. */
export function parseDpStats(text: string): DpStats | null {
  const f = /^\s*flows\s*:\s*(\d+)\s*$/m.exec(text);
  const l = /^\s*lookups:\s*hit:(\d+)\s+missed:(\d+)\s+lost:(\d+)/m.exec(text);
  if (!f || !l) return null;
  return { flows: Number(f[1]), hit: Number(l[1]), missed: Number(l[2]), lost: Number(l[3]) };
}
