/*
 * Flow dumps at scale and upcall fairness, against an in-process Datapath over its real socket:
 * a 200k-flow table paged out through DpifClient.dumpFlows while flows come and go and frames
 * keep being forwarded between pages; and per-port upcall queues that let a quiet port's miss
 * through ahead of a flooding port's backlog.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Datapath } from '../../../src/datapath/datapath.js';
import { extractKey } from '../../../src/datapath/extract.js';
import { DummyNetdev } from '../../../src/datapath/netdev-dummy.js';
import { DpifClient } from '../../../src/lib/dpif-client.js';
import { ACT_OUTPUT, DPIF_VERSION, FrameReader, FrameWriter, KEY_WORDS, T_HELLO, T_UPCALL } from '../../../src/lib/dpif-proto.js';
import { ETH_TYPE_IP, W_IN_PORT, W_NW_SRC, W_TYPE_TCI } from '../../../src/lib/flow-key.js';
import { FlowDumpPage } from '../../../src/lib/flow-dump.js';
import { exactMask } from '../../../src/lib/flow-mask.js';
import { ipv4Frame } from '../../../src/lib/packet.js';

let dir: string;
let dp: Datapath;
const devs = new Map<string, DummyNetdev>();

async function start(opts: { upcallPortMaxBytes?: number } = {}): Promise<void> {
  dp = new Datapath({
    socketPath: join(dir, 'datapath.sock'), name: 'dump', flowLimit: 300000, upcallPortMaxBytes: opts.upcallPortMaxBytes,
    openNetdev: (name) => {
      const d = new DummyNetdev(name);
      devs.set(name, d);
      return d;
    },
  });
  await dp.start();
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vswitch-dump-'));
  devs.clear();
});
afterEach(async () => {
  await dp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Flow n: in_port 1, IPv4 source n, under one of four masks. */
function flowKey(n: number): Uint32Array {
  const k = new Uint32Array(KEY_WORDS);
  k[W_IN_PORT] = 1;
  k[W_TYPE_TCI] = ETH_TYPE_IP << 16;
  k[W_NW_SRC] = n;
  return k;
}
const MASKS = [0, 1, 2, 3].map((i) => {
  const m = new Uint32Array(KEY_WORDS);
  m[W_IN_PORT] = 0xffffffff;
  m[W_TYPE_TCI] = 0xffff0000;
  m[W_NW_SRC] = 0xffffffff;
  m[20 + i] = 0xffffffff; // four distinct masks (the key has zeros there)
  return m;
});

describe('flow dump paging', () => {
  it('dumps 200k flows page by page: flows present throughout seen once, forwarding goes on between pages', async () => {
    await start();
    const p1 = dp.addPort('p1', 'dummy');
    const p2 = dp.addPort('p2', 'dummy');
    const N = 200000;
    for (let n = 0; n < N; n++) dp.table.put(flowKey(n + 1), MASKS[n & 3], Int32Array.from([ACT_OUTPUT, 2]), n);
    const frame = ipv4Frame({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, { src: '10.0.0.7', dst: '10.0.0.2' }, { udp: { src: 1, dst: 2 } });
    expect(dp.table.lookup(flowKeyOf(frame, p1.portNo), 0)).toBeLessThan(0); // frame's key has more fields
    dp.table.put(flowKeyOf(frame, p1.portNo), exactMask(), Int32Array.from([ACT_OUTPUT, p2.portNo]), 0);
    expect(dp.table.count).toBe(N + 1);
    expect(dp.table.nSubtables).toBe(5);

    const c = await DpifClient.connect(join(dir, 'datapath.sock'), 'tool');
    const seen = new Uint8Array(N + 400000);
    let pages = 0;
    let forwardedDuring = 0;
    const deleted = new Set<number>();
    const t0 = Date.now();
    const total = await c.dumpFlows(async (pg) => {
      pages++;
      expect(pg.n).toBeLessThanOrEqual(1024);
      for (let i = 0; i < pg.n; i++) {
        const n = pg.keys[i * KEY_WORDS + W_NW_SRC];
        if (pg.masks[i * KEY_WORDS + 20] === 0xffffffff && pg.masks[i * KEY_WORDS + 23] === 0xffffffff) continue; // the exact flow
        seen[n]++;
      }
      if (pages === 20) {
        // Delete flows the dump has not reached yet, and add new ones.
        for (let n = 150001; n <= 151000; n++) {
          expect(dp.table.del(flowKey(n), MASKS[(n - 1) & 3])).toBe(true);
          deleted.add(n);
        }
        for (let n = N + 1; n <= N + 500; n++) dp.table.put(flowKey(n), MASKS[0], Int32Array.from([ACT_OUTPUT, 2]), 0);
      }
      if (pages % 50 === 0) {
        // The datapath serves its ports while the dump is open.
        const before = devs.get('p2')!.sent.length;
        devs.get('p1')!.inject(frame);
        await until('forwarded mid-dump', () => devs.get('p2')!.sent.length === before + 1);
        forwardedDuring++;
      }
    }, 1024);
    const ms = Date.now() - t0;
    expect(pages).toBeGreaterThanOrEqual(Math.ceil((N - 1000) / 1024));
    expect(forwardedDuring).toBeGreaterThanOrEqual(3);
    for (let n = 1; n <= N; n++) {
      if (deleted.has(n)) expect(seen[n]).toBe(0);
      else if (seen[n] !== 1) throw new Error(`flow ${n} seen ${seen[n]} times`);
    }
    // New flows reuse the deleted ids (after the cursor), so they show up exactly once too.
    for (let n = N + 1; n <= N + 500; n++) expect(seen[n]).toBeLessThanOrEqual(1);
    expect(total).toBeGreaterThanOrEqual(N - 1000);
    expect(ms).toBeLessThan(20000);
    expect(dp.counters.get('dump_pages')).toBe(pages);
    c.close();
  }, 60000);

  it('answers NO_SUCH_DUMP for an unknown dump id and caps pages at DUMP_MAX_PAGE', async () => {
    await start();
    for (let n = 0; n < 10000; n++) dp.table.put(flowKey(n + 1), MASKS[0], Int32Array.from([]), 0);
    const c = await DpifClient.connect(join(dir, 'datapath.sock'), 'tool');
    const sizes: number[] = [];
    await c.dumpFlows((pg) => void sizes.push(pg.n), 100000);
    expect(sizes).toEqual([8192, 1808]);
    const bad = await (c as unknown as { dumpPage(p: FlowDumpPage, id: number, max: number): Promise<void> })
      .dumpPage(new FlowDumpPage(), 77, 10)
      .catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'NO_SUCH_DUMP' });
    c.close();
  });
});

describe('upcall fairness', () => {
  it("a quiet port's miss overtakes a flooding port's queued misses", async () => {
    await start({ upcallPortMaxBytes: 64 * 1024 });
    dp.addPort('p1', 'dummy');
    dp.addPort('p2', 'dummy');
    // A vswitchd that says HELLO, then stops reading.
    const sock = net.createConnection(join(dir, 'datapath.sock'));
    await new Promise((r) => sock.once('connect', r));
    const order: number[] = [];
    let helloOk = false;
    const reader = new FrameReader((type, _f, _x, buf, off) => {
      if (type === T_UPCALL) order.push(buf.readUInt32LE(off + 4 * W_IN_PORT));
      else helloOk = true;
    });
    sock.on('data', (chunk: Buffer) => reader.push(chunk));
    const w = new FrameWriter();
    w.json(T_HELLO, 1, { role: 'vswitchd', version: DPIF_VERSION });
    sock.write(w.take());
    await until('hello', () => helloOk);
    sock.pause();

    const p1 = devs.get('p1')!;
    for (let i = 0; i < 6000; i++) {
      while (p1.pending() >= 512) await new Promise((r) => setImmediate(r));
      p1.inject(ipv4Frame({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, { src: '10.0.0.1', dst: '10.0.0.2' }, { udp: { src: 1 + (i % 60000), dst: 2 } }));
    }
    await until('p1 drained', () => p1.pending() === 0);
    const full = dp.counters.get('upcall_queue_full');
    expect(full).toBeGreaterThan(0);
    expect(dp.upcalls.queuedBytes).toBeGreaterThan(50 * 1024);
    expect(dp.upcalls.queuedBytes).toBeLessThanOrEqual(64 * 1024);

    devs.get('p2')!.inject(ipv4Frame({ src: '02:00:00:00:00:03', dst: '02:00:00:00:00:02' }, { src: '10.0.0.3', dst: '10.0.0.2' }, { udp: { src: 7, dst: 7 } }));
    await until('p2 handled', () => dp.counters.get('missed') === 6001);
    expect(dp.counters.get('upcall_queue_full')).toBe(full); // p2's miss was queued, not dropped

    sock.resume();
    await until('all upcalls', () => order.length === dp.counters.get('upcall_sent') && dp.upcalls.queuedBytes === 0 && order.includes(2), 10000);
    const at = order.indexOf(2);
    const after = order.length - at - 1;
    // Everything after p2's upcall came from p1's queue: p2 did not wait behind it.
    expect(after).toBeGreaterThan(250);
    expect(order.filter((p) => p === 2).length).toBe(1);
    sock.destroy();
  });
});

function flowKeyOf(frame: Uint8Array, port: number): Uint32Array {
  const k = new Uint32Array(KEY_WORDS);
  extractKey(frame, 0, frame.length, port, k, 0);
  return k;
}
