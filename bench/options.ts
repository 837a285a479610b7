/*
 * Command-line options of the side-by-side benchmark (`npm run bench -- [OPTIONS]`) and the
 * setups it knows. Pure: parsing only, no I/O; called by bench/run.ts and the unit tests.
 */
import { VswitchError } from '../src/lib/errors.js';

/** a: vswitch, tap ports; b: vswitch, system (veth) ports; c: Linux bridge (veth);
 *  d0: Open vSwitch netdev datapath, tap ports; dt: the same with userspace TSO. */
export type SetupId = 'a' | 'b' | 'c' | 'd0' | 'dt';

export const SETUP_IDS: readonly SetupId[] = ['a', 'b', 'c', 'd0', 'dt'];

export const SETUP_LABELS: Record<SetupId, string> = {
  a: 'vswitch, tap ports',
  b: 'vswitch, system ports (veth)',
  c: 'Linux bridge (veth)',
  d0: 'OVS netdev, tap',
  dt: 'OVS netdev, tap, TSO',
};

export interface BenchOptions {
  /** Setups to run, in SETUP_IDS order. */
  only: SetupId[];
  /** Length of the TCP run and of the 64-byte run, seconds. */
  seconds: number;
  /** Length of the new-flow flood, seconds. */
  newflowSeconds: number;
  /** ping round trips (0.01 s apart) per setup, over all latency rounds. */
  pingCount: number;
  /** UDP request/response round trips per setup, over all latency rounds. */
  rrCount: number;
  /** Latency rounds: each measures every setup in turn (bench/measure-latency.ts). */
  latencyRounds: number;
  quick: boolean;
  /** Where latest.json and latest.md go; null = bench/results in the checkout. */
  outDir: string | null;
  help: boolean;
}

export const BENCH_HELP = `bench: vswitch side by side with the Linux bridge and Open vSwitch's userspace datapath
usage: npm run bench -- [OPTIONS]        (or: node dist/bench/run.js [OPTIONS], as root)

Builds two network namespaces joined by each setup and measures round-trip latency (ping and
UDP request/response; every setup built at once, measured in interleaved rounds), then, each
setup alone, TCP throughput (iperf3, one stream), the 64-byte frame forwarding rate and the
new-flow rate; prints each figure with its ratio to OVS and writes bench/results/latest.json
and latest.md.

Setups:
  a    vswitch, tap ports              c    Linux bridge, veth ports
  b    vswitch, system ports (veth)    d    Open vSwitch, datapath_type=netdev, tap ports,
                                            without (d0) and with (dt) userspace TSO
Options:
  --only LIST    run only these setups, e.g. --only a,c,d (d = d0 and dt)
  --quick        2-second runs and fewer round trips (about 1.5 minutes in all)
  --time S       length of the TCP and 64-byte runs in seconds (default 10, 2 with --quick)
  --out DIR      write latest.json and latest.md to DIR instead of bench/results
  -h, --help     show this help
`;

/** Thrown when the benchmark's command line is malformed; the message says what was expected. */
export class BenchUsageError extends VswitchError {
  constructor(message: string) {
    super('BENCH_USAGE', message);
    this.name = 'BenchUsageError';
  }
}

function parseOnly(list: string): SetupId[] {
  const want = new Set<SetupId>();
  for (const raw of list.split(',')) {
    const s = raw.trim().toLowerCase();
    if (s === '') continue;
    if (s === 'all') SETUP_IDS.forEach((id) => want.add(id));
    else if (s === 'd') { want.add('d0'); want.add('dt'); }
    else if ((SETUP_IDS as readonly string[]).includes(s)) want.add(s as SetupId);
    else throw new BenchUsageError(`--only: unknown setup '${raw.trim()}' (known: a, b, c, d, d0, dt, all)`);
  }
  if (want.size === 0) throw new BenchUsageError('--only needs a list of setups, e.g. --only a,c,d');
  return SETUP_IDS.filter((id) => want.has(id));
}

function positive(name: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || v === '' || !Number.isFinite(n) || n <= 0) throw new BenchUsageError(`${name} takes a positive number of seconds`);
  return n;
}

/** Parses the benchmark's arguments (without node and the script). Throws BenchUsageError. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  let only: SetupId[] = [...SETUP_IDS];
  let time: number | null = null;
  let quick = false;
  let outDir: string | null = null;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const inline = a.startsWith('--') && eq > 0 ? a.slice(eq + 1) : undefined;
    const value = (): string | undefined => (inline !== undefined ? inline : argv[++i]);
    switch (name) {
      case '-h': case '--help': help = true; break;
      case '--quick': quick = true; break;
      case '--only': {
        const v = value();
        if (v === undefined) throw new BenchUsageError('--only needs a list of setups, e.g. --only a,c,d');
        only = parseOnly(v);
        break;
      }
      case '--time': time = positive('--time', value()); break;
      case '--out': {
        const v = value();
        if (!v) throw new BenchUsageError('--out needs a directory');
        outDir = v;
        break;
      }
      default: throw new BenchUsageError(`unknown argument '${a}'; use --help for help`);
    }
  }
  return {
    only,
    seconds: time ?? (quick ? 2 : 10),
    newflowSeconds: 1,
    pingCount: quick ? 200 : 1000,
    rrCount: quick ? 1000 : 3000,
    latencyRounds: quick ? 2 : 5,
    quick,
    outDir,
    help,
  };
}
