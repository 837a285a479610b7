/*
 * Exposes vswitchd's and the datapath's counters in Prometheus format, next to the
 * controller's (`vscontroller --scrape-vswitch RUNDIR`, on GET /metrics). On each scrape it
 * asks both daemons' control sockets (RUNDIR/vswitchd.ctl, RUNDIR/datapath.ctl, JSON-RPC as
 * appctl speaks it) for `coverage/show` and turns the text into samples:
 *
 *   vswitch_datapath_events_total{event="hit",drop="false"} 123
 *   vswitch_vswitchd_counter{counter="upcalls",bridge=""} 17
 *   vswitch_vswitchd_counter{counter="mac_learned",bridge="br0"} 2
 *   vswitch_scrape_up{daemon="datapath"} 1
 *
 * vswitchd's figures mix counters and levels (flow_limit), so its family is untyped. A daemon
 * that does not answer within the timeout gives scrape_up 0 and no samples. Called by rest.ts;
 * control path.
 */
import { join } from 'node:path';
import { connectUnix } from '../lib/jsonrpc.js';
import { familyHeader, formatLabels, formatValue } from './metrics.js';

export interface CoverageSample {
  name: string;
  value: number;
  /** vswitchd: the bridge of a "BRIDGE.name" counter ('' otherwise). */
  bridge: string;
  /** datapath: whether the counter counts dropped frames. */
  drop: boolean;
}

/** Parses vswitchd's coverage/show ("Event counters:" then "name   value" lines). */
export function parseVswitchdCoverage(text: string): CoverageSample[] {
  const out: CoverageSample[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z0-9_.:-]+)\s+(-?\d+(?:\.\d+)?)\s*$/.exec(line);
    if (!m) continue;
    const full = m[1];
    const dot = full.indexOf('.');
    out.push({
      name: dot < 0 ? full : full.slice(dot + 1), bridge: dot < 0 ? '' : full.slice(0, dot), value: Number(m[2]), drop: false,
    });
  }
  return out;
}

/** Parses the datapath's coverage/show ("name   total: N (drop)" lines). */
export function parseDatapathCoverage(text: string): CoverageSample[] {
  const out: CoverageSample[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z0-9_.:-]+)\s+total:\s*(\d+)(\s+\(drop\))?\s*$/.exec(line);
    if (m) out.push({ name: m[1], value: Number(m[2]), bridge: '', drop: m[3] !== undefined });
  }
  return out;
}

/** The text of `command` from a daemon's control socket. */
async function ask(path: string, command: string, timeoutMs: number): Promise<string> {
  const conn = await connectUnix(path, timeoutMs);
  try {
    const r = await conn.request(command, [], timeoutMs);
    return typeof r === 'string' ? r : JSON.stringify(r);
  } finally {
    conn.close();
  }
}

export function renderDatapath(samples: readonly CoverageSample[]): string {
  let out = familyHeader('vswitch_datapath_events_total', 'Datapath event counters (appctl -t datapath coverage/show); drop="true" counts dropped frames.', 'counter');
  for (const s of samples) out += `vswitch_datapath_events_total${formatLabels(['event', 'drop'], [s.name, String(s.drop)])} ${formatValue(s.value)}\n`;
  return out;
}

export function renderVswitchd(samples: readonly CoverageSample[]): string {
  let out = familyHeader('vswitch_vswitchd_counter', 'vswitchd counters (appctl coverage/show), per bridge where they are.', 'untyped');
  for (const s of samples) out += `vswitch_vswitchd_counter${formatLabels(['counter', 'bridge'], [s.name, s.bridge])} ${formatValue(s.value)}\n`;
  return out;
}

/** Scrapes both daemons of the instance whose run directory is `rundir`. Never rejects. */
export async function scrapeVswitch(rundir: string, timeoutMs = 2000): Promise<string> {
  const targets = [
    { daemon: 'vswitchd', path: join(rundir, 'vswitchd.ctl'), parse: parseVswitchdCoverage, render: renderVswitchd },
    { daemon: 'datapath', path: join(rundir, 'datapath.ctl'), parse: parseDatapathCoverage, render: renderDatapath },
  ];
  const results = await Promise.all(targets.map(async (t) => {
    const t0 = performance.now();
    try {
      const text = await ask(t.path, 'coverage/show', timeoutMs);
      return { daemon: t.daemon, up: 1, seconds: (performance.now() - t0) / 1000, body: t.render(t.parse(text)) };
    } catch {
      return { daemon: t.daemon, up: 0, seconds: (performance.now() - t0) / 1000, body: '' };
    }
  }));
  let out = familyHeader('vswitch_scrape_up', 'Whether the daemon answered coverage/show on its control socket.', 'gauge');
  for (const r of results) out += `vswitch_scrape_up${formatLabels(['daemon'], [r.daemon])} ${r.up}\n`;
  out += familyHeader('vswitch_scrape_duration_seconds', 'Time the scrape of each daemon took.', 'gauge');
  for (const r of results) out += `vswitch_scrape_duration_seconds${formatLabels(['daemon'], [r.daemon])} ${formatValue(r.seconds)}\n`;
  for (const r of results) out += r.body;
  return out;
}
