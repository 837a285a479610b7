/*
 * dpctl: looks at and clears the datapath directly over its socket (datapath.sock, role
 * 'tool'), with no need for vswitchd, shaped like ovs-dpctl / ovs-appctl dpctl/*: `show [-s]`
 * (lookups, flows, masks, caches, ports, and with -s per-port counters, limits and every named
 * counter, drop reasons marked), `dump-flows [--names]` (one line per megaflow, wildcarded fields
 * left out as OVS does, src/lib/odp-format.ts; streamed page by page) and `del-flows`. Exports
 * main() and the pure formatters (for tests). Control path only.
 */
import { dpName, formatStatsLines, type DpStats } from '../src/lib/dp-stats.js';
import { DpifClient } from '../src/lib/dpif-client.js';
import { formatFlow } from '../src/lib/odp-format.js';
import { KEY_WORDS } from '../src/lib/flow-key.js';
import { paths } from '../src/lib/paths.js';
import { checkArgCount, errnoText, parseOptions, parseSeconds, runTool, stdio, ToolError, versionLine, type OptSpec, type ToolIo } from './common.js';

export interface DpPortStats {
  rx_packets?: number;
  rx_bytes?: number;
  tx_packets?: number;
  tx_bytes?: number;
  rx_dropped?: number;
  tx_dropped?: number;
  rx_errors?: number;
  tx_errors?: number;
  [other: string]: number | undefined;
}

export interface DpPort {
  port_no: number;
  name: string;
  type: string;
  mac?: string;
  stats?: DpPortStats;
}

export type { DpStats };
export { dpName };

export interface DpFlow {
  key: number[];
  /** Absent: an exact-match flow (printed with every field). */
  mask?: number[];
  actions: number[];
  packets: number;
  bytes: number;
  used: number;
  created?: number;
}

function stat(v: number | undefined): string {
  return typeof v === 'number' && Number.isFinite(v) ? String(v) : '?';
}

/** " (1.5 KiB)" after a byte count of at least 1024, as ovs-dpctl prints it. */
export function humanSize(v: number | undefined): string {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 1024) return '';
  const units: [number, string][] = [[1024 ** 4, 'TiB'], [1024 ** 3, 'GiB'], [1024 ** 2, 'MiB'], [1024, 'KiB']];
  for (const [size, unit] of units) if (v >= size) return ` (${(v / size).toFixed(1)} ${unit})`;
  return '';
}

/** `dpctl show [-s]` output. */
export function formatShow(stats: DpStats, ports: DpPort[], withStats: boolean): string {
  const lines = formatStatsLines(stats, withStats);
  for (const p of [...ports].sort((a, b) => a.port_no - b.port_no)) {
    lines.push(`  port ${p.port_no}: ${p.name}${p.type && p.type !== 'system' ? ` (${p.type})` : ''}`);
    if (!withStats) continue;
    const s = p.stats ?? {};
    lines.push(
      `    RX packets:${stat(s.rx_packets)} errors:${stat(s.rx_errors)} dropped:${stat(s.rx_dropped)} overruns:${stat(s.rx_over_errors)} frame:${stat(s.rx_frame_errors)}`,
      `    TX packets:${stat(s.tx_packets)} errors:${stat(s.tx_errors)} dropped:${stat(s.tx_dropped)} aborted:${stat(s.tx_aborted_errors)} carrier:${stat(s.tx_carrier_errors)}`,
      `    collisions:${stat(s.collisions)}`,
      `    RX bytes:${stat(s.rx_bytes)}${humanSize(s.rx_bytes)}  TX bytes:${stat(s.tx_bytes)}${humanSize(s.tx_bytes)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** `dpctl dump-flows` output: one line per flow; port numbers become names if `names`. */
export function formatFlows(flows: DpFlow[], ports: DpPort[] | null, now = Date.now()): string {
  const names = ports ? new Map(ports.map((p) => [p.port_no, p.name])) : undefined;
  const key = new Uint32Array(KEY_WORDS);
  const mask = new Uint32Array(KEY_WORDS);
  let out = '';
  for (const f of flows) {
    key.fill(0);
    key.set(f.key.slice(0, KEY_WORDS));
    if (f.mask) {
      mask.fill(0);
      mask.set(f.mask.slice(0, KEY_WORDS));
    }
    out += `${formatFlow(key, f.actions, { packets: f.packets, bytes: f.bytes, used: f.used }, { names, now, mask: f.mask ? mask : null })}\n`;
  }
  return out;
}

const HELP = (dpSock: string): string => `dpctl: vswitch datapath management utility
usage: dpctl [OPTIONS] COMMAND [ARG...]
  show [DP]                show basic info on the datapath
  dump-dps                 display the name of the datapath
  dump-flows [DP]          display flows in DP (megaflows: wildcarded fields left out)
  del-flows [DP]           delete all flows from DP
There is one datapath (netdev@vswitch); DP may name it or be left out.

Options for show:
  -s,  --statistics           print statistics for ports, limits and every datapath counter
                              (drop reasons marked "(drop)")

Options for dump-flows:
  -m, --more                  increase verbosity of output (accepted; no extra fields yet)
  --names                     use port names in output
  --no-names                  use port numbers in output (default)

Other options:
  --dp-sock=PATH              the datapath's socket
                              (default: ${dpSock}, from VSWITCH_RUNDIR)
  -t, --timeout=SECS          give up after SECS seconds
  -h, --help                  display this help message
  -V, --version               display version information
`;

const SPECS: OptSpec[] = [
  { long: 'statistics', short: 's', arg: 'none' },
  { long: 'more', short: 'm', arg: 'none' },
  { long: 'names', arg: 'none' },
  { long: 'no-names', arg: 'none' },
  { long: 'dp-sock', arg: 'required' },
  { long: 'timeout', short: 't', arg: 'required' },
  { long: 'help', short: 'h', arg: 'none' },
  { long: 'version', short: 'V', arg: 'none' },
];

const COMMANDS: Record<string, [number, number]> = { show: [0, 1], 'dump-dps': [0, 0], 'dump-flows': [0, 1], 'del-flows': [0, 1] };

export async function main(argv: string[], io: ToolIo = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runTool('dpctl', io, async () => {
    const { opts, rest } = parseOptions(argv, SPECS, true);
    let dpSock = paths(env).dpSock;
    let withStats = false;
    let names = false;
    let timeout = 0;
    for (const o of opts) {
      if (o.name === 'help') {
        io.out(HELP(paths(env).dpSock));
        return 0;
      }
      if (o.name === 'version') {
        io.out(versionLine('dpctl'));
        return 0;
      }
      if (o.name === 'statistics') withStats = true;
      else if (o.name === 'names') names = true;
      else if (o.name === 'no-names') names = false;
      else if (o.name === 'dp-sock') dpSock = o.value!;
      else if (o.name === 'timeout') timeout = parseSeconds(o.value);
    }
    const [cmd, ...args] = rest;
    if (cmd === undefined) throw new ToolError('missing command name; use --help for help');
    const range = COMMANDS[cmd];
    if (!range) throw new ToolError(`unknown command '${cmd}'; use --help for help`);
    checkArgCount(cmd, args.length, range[0], range[1]);
    let dp: DpifClient;
    try {
      dp = await DpifClient.connect(dpSock, 'tool', timeout > 0 ? Math.min(timeout * 1000, 5000) : 5000);
    } catch (e) {
      throw new ToolError(`cannot connect to the datapath at "${dpSock}" (${errnoText(e)}); is it running?`);
    }
    if (timeout > 0) dp.requestTimeoutMs = timeout * 1000;
    try {
      const stats = (await dp.request('dp_stats')) as DpStats;
      const name = dpName(stats);
      if (args[0] !== undefined && args[0] !== name && `netdev@${args[0]}` !== name) {
        throw new ToolError(`opening datapath ${args[0]} failed (No such device)`);
      }
      switch (cmd) {
        case 'show':
          io.out(formatShow(stats, (await dp.request('port_list')) as DpPort[], withStats));
          break;
        case 'dump-dps':
          io.out(`${name}\n`);
          break;
        case 'dump-flows': {
          const ports = names ? ((await dp.request('port_list')) as DpPort[]) : null;
          await dp.dumpFlows((pg) => {
            const text = formatFlows(pg.toFlows(), ports);
            if (text) io.out(text);
          });
          break;
        }
        case 'del-flows':
          await dp.request('flow_flush');
          break;
      }
      return 0;
    } finally {
      dp.close();
    }
  });
}
