/*
 * The vsdb benchmark's measurements, run the same way against either server through the same
 * client (VsdbClient over the server's Unix socket): insert rates (one client sequential, or
 * several clients at once; durable or not), monitor update latency seen by N monitoring
 * clients, and the time from process start to the first answered query on a large database.
 * Called by bench/vsdb.ts. Bounded in count and time; nothing leaves this machine.
 */
import { performance } from 'node:perf_hooks';
import { VsdbClient } from '../src/ovsdb/client.js';
import { startServer, type ServerKind } from './vsdb-servers.js';

const DB = 'Bench';

function insertOp(tag: string, i: number): object {
  return { op: 'insert', table: 'Item', row: { name: `${tag}-${i}`, n: i, tags: ['map', [['k', 'v']]] } };
}

/** Transactions per second for `total` single-row inserts spread over `clients` connections. */
export async function insertRate(sock: string, total: number, clients: number, durable: boolean, tag: string): Promise<number> {
  const conns = await Promise.all(Array.from({ length: clients }, () => VsdbClient.connect(sock, 5000)));
  try {
    const per = Math.ceil(total / clients);
    const start = performance.now();
    await Promise.all(
      conns.map(async (c, ci) => {
        for (let i = 0; i < per; i++) {
          const ops = [insertOp(`${tag}${ci}`, i)];
          if (durable) ops.push({ op: 'commit', durable: true });
          await c.transact(DB, ops);
        }
      }),
    );
    return (per * clients) / ((performance.now() - start) / 1000);
  } finally {
    for (const c of conns) c.close();
  }
}

export interface Latency {
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Time from sending an update until each of `watchers` monitoring clients has it (ms). */
export async function monitorLatency(sock: string, watchers: number, updates: number): Promise<Latency> {
  const writer = await VsdbClient.connect(sock, 5000);
  const ins = await writer.transact(DB, [insertOp('mon', 0)]);
  const uuid = ins[0].uuid[1] as string;
  const clients = await Promise.all(Array.from({ length: watchers }, () => VsdbClient.connect(sock, 5000)));
  const samples: number[] = [];
  let sentAt = 0;
  let waiting = 0;
  let wake: () => void = () => undefined;
  try {
    await Promise.all(
      clients.map((c, i) =>
        c.monitor(DB, `m${i}`, { Item: { columns: ['n'], select: { initial: false, insert: false, delete: false, modify: true } } }, () => {
          samples.push(performance.now() - sentAt);
          if (--waiting === 0) wake();
        }),
      ),
    );
    for (let k = 1; k <= updates; k++) {
      const all = new Promise<void>((r) => (wake = r));
      waiting = watchers;
      sentAt = performance.now();
      await writer.transact(DB, [{ op: 'update', table: 'Item', where: [['_uuid', '==', ['uuid', uuid]]], row: { n: k } }]);
      await all;
    }
  } finally {
    for (const c of clients) c.close();
    writer.close();
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), max: samples[samples.length - 1], samples: samples.length };
}

/** Milliseconds from spawning `kind` on `dbFile` until it has answered a query for one row. */
export async function openTime(kind: ServerKind, dir: string, dbFile: string, expectRows: number): Promise<number> {
  const start = performance.now();
  const srv = await startServer(kind, dir, dbFile);
  try {
    const c = await VsdbClient.connect(srv.sock, 5000);
    const r = await c.transact(DB, [{ op: 'select', table: 'Item', where: [['name', '==', `item${expectRows - 1}`]], columns: ['n'] }]);
    const ms = performance.now() - start;
    c.close();
    if (r[0].rows.length !== 1) throw new Error(`${kind}: the last row is missing after open`);
    return ms;
  } finally {
    await srv.stop();
  }
}
