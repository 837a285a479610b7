/*
 * vsdb benchmark: vsdb-server beside Debian's ovsdb-server, same machine, same client, one run.
 *   node dist/bench/vsdb.js [--quick] [--out DIR]
 * Figures: small-insert transactions per second (1 client not durable; 1 client durable;
 * 10 clients durable, where group commit shows), monitor update latency with 10 monitoring
 * clients (p50, p99), and the time to open a 100k-row database (process start to the first
 * answered query). Prints a table with the ratio vsdb/ovsdb-server and writes the figures as
 * JSON to bench/results/vsdb-<time>.json. Sized to finish in about a minute on 2 cores.
 * Each server runs on its own temp directory and socket and is stopped at the end.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { insertRate, monitorLatency, openTime } from './vsdb-measure.js';
import { ovsdbServerAvailable, startServer, writeDbFile, type ServerKind } from './vsdb-servers.js';

interface Figure {
  name: string;
  unit: string;
  higherIsBetter: boolean;
  vsdb: number | null;
  ovsdb: number | null;
}

interface Sizes {
  inserts: number;
  durableInserts: number;
  watchers: number;
  updates: number;
  openRows: number;
}

const FULL: Sizes = { inserts: 3000, durableInserts: 300, watchers: 10, updates: 300, openRows: 100_000 };
const QUICK: Sizes = { inserts: 300, durableInserts: 40, watchers: 10, updates: 40, openRows: 5_000 };

async function measure(kind: ServerKind, dir: string, z: Sizes): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const db = join(dir, `${kind}-small.db`);
  writeDbFile(kind, db, 0);
  const srv = await startServer(kind, dir, db);
  try {
    await insertRate(srv.sock, 3000, 1, false, 'warm'); // JIT and page cache warm-up, not counted
    out.insert1 = await insertRate(srv.sock, z.inserts, 1, false, 'a');
    out.insert1d = await insertRate(srv.sock, z.durableInserts, 1, true, 'b');
    out.insert10d = await insertRate(srv.sock, z.durableInserts, 10, true, 'c');
    const lat = await monitorLatency(srv.sock, z.watchers, z.updates);
    out.monP50 = lat.p50;
    out.monP99 = lat.p99;
  } finally {
    await srv.stop();
  }
  const big = join(dir, `${kind}-big.db`);
  writeDbFile(kind, big, z.openRows);
  out.open = await openTime(kind, dir, big, z.openRows);
  return out;
}

function fmt(x: number | null): string {
  if (x === null) return 'n/a';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

export async function main(argv: string[]): Promise<number> {
  const quick = argv.includes('--quick');
  const outIdx = argv.indexOf('--out');
  const here = fileURLToPath(new URL('.', import.meta.url));
  const outDir = outIdx >= 0 ? argv[outIdx + 1] : resolve(here, here.includes('/dist/') ? '../../bench/results' : 'results');
  const z = quick ? QUICK : FULL;
  const dir = mkdtempSync(join(tmpdir(), 'vsdb-bench-'));
  const haveOvs = ovsdbServerAvailable();
  try {
    const ours = await measure('vsdb', dir, z);
    const theirs = haveOvs ? await measure('ovsdb-server', dir, z) : null;
    const row = (key: string, name: string, unit: string, higherIsBetter: boolean): Figure => ({
      name,
      unit,
      higherIsBetter,
      vsdb: ours[key],
      ovsdb: theirs ? theirs[key] : null,
    });
    const figures = [
      row('insert1', 'small inserts, 1 client, not durable', 'txn/s', true),
      row('insert1d', 'small inserts, 1 client, durable', 'txn/s', true),
      row('insert10d', 'small inserts, 10 clients, durable', 'txn/s', true),
      row('monP50', `monitor update latency, ${z.watchers} clients, p50`, 'ms', false),
      row('monP99', `monitor update latency, ${z.watchers} clients, p99`, 'ms', false),
      row('open', `open a ${z.openRows}-row database`, 'ms', false),
    ];
    const w = Math.max(...figures.map((f) => f.name.length + f.unit.length + 3));
    let s = `${'figure'.padEnd(w)} ${'vsdb'.padStart(10)} ${'ovsdb-server'.padStart(12)} ${'vsdb/ovs'.padStart(9)}  better\n`;
    for (const f of figures) {
      const ratio = f.vsdb !== null && f.ovsdb ? f.vsdb / f.ovsdb : null;
      const better = ratio === null ? '' : (f.higherIsBetter ? ratio >= 1 : ratio <= 1) ? 'vsdb' : 'ovsdb-server';
      s += `${`${f.name} (${f.unit})`.padEnd(w)} ${fmt(f.vsdb).padStart(10)} ${fmt(f.ovsdb).padStart(12)} ${(ratio === null ? 'n/a' : ratio.toFixed(2)).padStart(9)}  ${better}\n`;
    }
    process.stdout.write(s);
    if (!haveOvs) process.stdout.write('ovsdb-server not installed (apt-get install openvswitch-switch): its column is n/a\n');
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, `vsdb-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), quick, sizes: z, figures }, null, 2)}\n`);
    process.stdout.write(`wrote ${file}\n`);
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const invoked = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invoked) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`vsdb bench: ${(e as Error).stack ?? e}\n`);
      process.exit(1);
    },
  );
}
