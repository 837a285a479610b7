import { describe, expect, it } from 'vitest';
import {
  BenchParseError, parseDpStats, parseIperf3, parseLinkStats, parsePing, parsePingTimes, parsePktgen, parseUdprr, percentile, summarize,
} from '../../../bench/parse.js';

describe('tool output parsing', () => {
  it('reads the received throughput and retransmits from iperf3 -J', () => {
    const doc = { start: {}, end: { sum_sent: { bits_per_second: 8.2e9, retransmits: 7 }, sum_received: { bits_per_second: 8.1e9 } } };
    expect(parseIperf3(JSON.stringify(doc))).toEqual({ gbps: 8.1, retransmits: 7 });
    expect(() => parseIperf3(JSON.stringify({ error: 'unable to connect to server' }))).toThrow(/unable to connect/);
    expect(() => parseIperf3('iperf3: error')).toThrow(BenchParseError);
  });

  it('reads ping -q summaries in microseconds, and says when nothing answered', () => {
    const out = `PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.

--- 10.0.0.2 ping statistics ---
200 packets transmitted, 198 received, 1% packet loss, time 2010ms
rtt min/avg/max/mdev = 0.031/0.693/19.012/1.904 ms, pipe 2
`;
    const p = parsePing(out);
    expect(p.transmitted).toBe(200);
    expect(p.received).toBe(198);
    expect(p.avgUs).toBeCloseTo(693, 6);
    expect(p.maxUs).toBeCloseTo(19012, 6);
    expect(() => parsePing('3 packets transmitted, 0 received, 100% packet loss, time 2030ms\n')).toThrow(/no answer/);
    expect(() => parsePing('ping: connect: Network is unreachable')).toThrow(BenchParseError);
  });

  it("reads ping's per-reply times", () => {
    const out = '64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.620 ms\n64 bytes from 10.0.0.2: icmp_seq=2 ttl=64 time=0.25 ms\n';
    expect(parsePingTimes(out)).toEqual([620, 250]);
    expect(parsePingTimes('no replies')).toEqual([]);
  });

  it('reads 64-bit link counters from ip -j -s link', () => {
    const json = JSON.stringify([{ ifname: 't1', stats64: { rx: { packets: 10, dropped: 1 }, tx: { packets: 20, dropped: 3 } } }]);
    expect(parseLinkStats(json)).toEqual({ rxPackets: 10, txPackets: 20, rxDropped: 1, txDropped: 3 });
    expect(() => parseLinkStats('[]')).toThrow(/stats64/);
  });

  it("reads pktgen's result line after its start line", () => {
    expect(parsePktgen('started\n{"sent":544070,"errors":12,"seconds":3.000001}\n')).toEqual({ sent: 544070, errors: 12, seconds: 3.000001 });
    expect(() => parsePktgen('started\n')).toThrow(/no result line/);
    expect(() => parsePktgen('{"sent":1,"errors":0,"seconds":0}')).toThrow(BenchParseError);
  });

  it('reads udprr samples and its lost count, refusing anything else', () => {
    expect(parseUdprr('12.5\n30.000\nlost 2\n')).toEqual({ samplesUs: [12.5, 30], lost: 2 });
    expect(() => parseUdprr('12.5\n')).toThrow(/lost/);
    expect(() => parseUdprr('12.5\nudprr: connect: refused\nlost 0\n')).toThrow(/unexpected line/);
  });

  it('reads the lookups and flow count of dpctl show from either switch', () => {
    const ovs = 'netdev@ovs-netdev:\n  lookups: hit:1136197 missed:27821 lost:65424\n  flows: 4067\n  port 0: ovs-netdev (tap)\n';
    expect(parseDpStats(ovs)).toEqual({ flows: 4067, hit: 1136197, missed: 27821, lost: 65424 });
    expect(parseDpStats('netdev@vswitch:\n  lookups: hit:0 missed:2 lost:0\n  flows: 0\n')).toEqual({ flows: 0, hit: 0, missed: 2, lost: 0 });
    expect(parseDpStats('  flows: 3\n')).toBeNull();
    expect(parseDpStats('no such thing')).toBeNull();
  });
});

describe('latency summaries', () => {
  it('uses nearest-rank percentiles', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('summarizes unsorted samples without changing them', () => {
    const samples = [40, 10, 30, 20, 1000];
    const s = summarize(samples);
    expect(s).toEqual({ count: 5, mean: 220, p50: 30, p99: 1000, min: 10, max: 1000 });
    expect(samples).toEqual([40, 10, 30, 20, 1000]);
    expect(summarize([]).count).toBe(0);
  });
});
