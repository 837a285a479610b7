/*
 * Megaflows end to end without root or vsdb: the real Datapath in-process (dummy ports), a real
 * DpifClient as vswitchd's connection, and vswitchd's upcall handler and revalidator on a
 * hand-built bridge. Checks that NORMAL's wildcards make one upcall serve many microflows, that
 * learning changes are revalidated into the megaflows, and that a flood of new flows keeps
 * memory bounded while an established flow keeps forwarding.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Datapath } from '../../../src/datapath/datapath.js';
import { DummyNetdev } from '../../../src/datapath/netdev-dummy.js';
import { SOCK_LOW_WATER } from '../../../src/datapath/upcall.js';
import { DpifClient } from '../../../src/lib/dpif-client.js';
import { ETH_TYPE_IP, W_IN_PORT, W_TYPE_TCI, newKey, setEth } from '../../../src/lib/flow-key.js';
import { Wildcards } from '../../../src/lib/flow-mask.js';
import { formatMaskedKey } from '../../../src/lib/odp-format.js';
import { ipv4Frame } from '../../../src/lib/packet.js';
import { Bridge, BridgePort, TRUNK_ALL } from '../../../src/vswitchd/bridge.js';
import { Revalidator } from '../../../src/vswitchd/revalidator.js';
import { SwitchState } from '../../../src/vswitchd/state.js';
import { udpifOf } from '../../../src/vswitchd/udpif.js';
import { UpcallHandler } from '../../../src/vswitchd/upcall-handler.js';

const log = pino({ level: 'silent' });
const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const C = '02:00:00:00:00:0c';

interface Rig {
  dir: string;
  dp: Datapath;
  client: DpifClient;
  st: SwitchState;
  br: Bridge;
  handler: UpcallHandler;
  rv: Revalidator;
  dev: (name: string) => DummyNetdev;
}

let rig: Rig | null = null;

async function setup(opts: { flowLimit?: number; upcallMaxBytes?: number; upcallPortMaxBytes?: number } = {}): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'vswitch-mf-'));
  const devs = new Map<string, DummyNetdev>();
  const dp = new Datapath({
    socketPath: join(dir, 'datapath.sock'), name: 'mf', log, flowLimit: opts.flowLimit,
    upcallMaxBytes: opts.upcallMaxBytes, upcallPortMaxBytes: opts.upcallPortMaxBytes,
    openNetdev: (name) => {
      const d = new DummyNetdev(name);
      devs.set(name, d);
      return d;
    },
  });
  await dp.start();
  const client = await DpifClient.connect(join(dir, 'datapath.sock'), 'vswitchd');
  const st = new SwitchState();
  st.flowLimit = opts.flowLimit;
  const br = new Bridge('br0', 'u');
  for (let i = 1; i <= 3; i++) {
    const port = dp.addPort(`p${i}`, 'dummy');
    br.portsByOfport.set(i, new BridgePort(br, `p${i}`, 'dummy', `p${i}`, i, port.portNo, TRUNK_ALL));
  }
  br.reindex();
  st.bridges.set('br0', br);
  st.reindexPorts();
  st.ready = true;
  const rv = new Revalidator(st, log);
  const handler = new UpcallHandler(st, () => rv.trigger());
  handler.attach(client);
  rv.attach(client);
  rig = { dir, dp, client, st, br, handler, rv, dev: (n) => devs.get(n)! };
  return rig;
}

afterEach(async () => {
  if (rig === null) return;
  rig.rv.stop();
  await rig.rv.whenIdle();
  rig.client.close();
  await rig.dp.stop();
  rmSync(rig.dir, { recursive: true, force: true });
  rig = null;
});

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function tcp(src: string, dst: string, nwSrc: string, sport: number, dport: number, tag = 0): Uint8Array {
  const payload = new Uint8Array(8);
  payload[0] = tag;
  return ipv4Frame({ src, dst }, { src: nwSrc, dst: '10.0.0.2' }, { tcp: { src: sport, dst: dport } }, payload);
}

describe('megaflows through NORMAL', () => {
  it('two microflows between the same MAC pair share one megaflow; a new source MAC misses', async () => {
    const r = await setup();
    r.dev('p1').inject(tcp(A, B, '10.0.0.1', 1000, 80));
    await until('first megaflow', () => r.dp.table.count === 1 && r.dev('p2').sent.length === 1);
    expect(r.st.counters.upcalls).toBe(1);
    // Other addresses and ports, same MACs and port: served by the datapath, no upcall.
    r.dev('p1').inject(tcp(A, B, '10.0.0.7', 2000, 443));
    r.dev('p1').inject(tcp(A, B, '10.9.9.9', 3000, 22));
    await until('cached microflows', () => r.dev('p2').sent.length === 3 && r.dev('p3').sent.length === 3);
    expect(r.st.counters.upcalls).toBe(1);
    expect(r.dp.counters.get('megaflow_hit') + r.dp.counters.get('emc_hit')).toBe(2);
    expect(r.dp.table.count).toBe(1);
    const [f] = await r.client.dumpAll();
    expect(formatMaskedKey(Uint32Array.from(f.key), Uint32Array.from(f.mask))).toBe(
      `recirc_id(0),in_port(1),eth(src=${A},dst=${B}),eth_type(0x0800),ipv4(frag=no)`,
    );
    expect(f.packets).toBe(2);
    // A new source MAC is a new megaflow (learning must see it).
    r.dev('p1').inject(tcp(C, B, '10.0.0.1', 1000, 80));
    await until('second megaflow', () => r.dp.table.count === 2);
    expect(r.st.counters.upcalls).toBe(2);
    expect(r.br.macs.lookup(0x02000000000c, 0)).toBe(1);
  });

  it('a learned destination is revalidated into the cached megaflow (flood → unicast)', async () => {
    const r = await setup();
    r.dev('p1').inject(tcp(A, B, '10.0.0.1', 1000, 80, 1));
    await until('flooding megaflow', () => r.dp.table.count === 1 && r.dev('p3').sent.length === 1);
    const [flood] = await r.client.dumpAll();
    expect(flood.actions).toEqual([1, 2, 1, 3]);
    // B answers from p2: B is learned, the revalidator is woken and fixes A→B.
    r.dev('p2').inject(tcp(B, A, '10.0.0.2', 80, 1000, 2));
    await until('B learned', () => r.br.macs.lookup(0x02000000000b, 0) === 2);
    await until('A→B revalidated', () => r.st.counters.flows_modified > 0);
    await r.rv.whenIdle();
    const flows = await r.client.dumpAll();
    const ab = flows.find((f) => f.key[0] === 1)!;
    expect(ab.actions).toEqual([1, 2]);
    for (const d of ['p1', 'p2', 'p3']) r.dev(d).takeSent();
    const upcalls = r.st.counters.upcalls;
    r.dev('p1').inject(tcp(A, B, '10.0.0.5', 5555, 8080, 3));
    await until('unicast', () => r.dev('p2').sent.length === 1);
    await new Promise((res) => setTimeout(res, 20));
    expect(r.dev('p3').sent.length).toBe(0);
    expect(r.st.counters.upcalls).toBe(upcalls);
  });

  it('a flood of 50k new flows from one port: an established flow keeps forwarding, memory stays bounded', async () => {
    const LIMIT = 2000;
    const MAX_BYTES = 1024 * 1024;
    const r = await setup({ flowLimit: LIMIT, upcallMaxBytes: MAX_BYTES, upcallPortMaxBytes: 128 * 1024 });
    r.rv.start(200);
    // Established: C (p3) ↔ B (p2).
    r.dev('p2').inject(tcp(B, C, '10.0.0.2', 80, 9000, 0));
    await until('B learned', () => r.br.macs.lookup(0x02000000000b, 0) === 2);
    r.dev('p3').inject(tcp(C, B, '10.0.0.3', 9000, 80, 0));
    await until('C→B cached', () => r.dp.table.count === 2);
    for (const d of ['p1', 'p2', 'p3']) r.dev(d).takeSent();

    let cSent = 0;
    let cGot = 0;
    let maxFlows = 0;
    let maxQueued = 0;
    let maxUnsent = 0;
    const sample = (): void => {
      maxFlows = Math.max(maxFlows, r.dp.table.count);
      maxQueued = Math.max(maxQueued, r.dp.upcalls.queuedBytes);
      maxUnsent = Math.max(maxUnsent, r.dp.upcalls.unsentBytes);
      for (const f of r.dev('p2').takeSent()) if (f[12 + 2 + 20 + 20] === 0xcc) cGot++;
    };
    const established = (): Uint8Array => tcp(C, B, '10.0.0.3', 9000, 80, 0xcc);
    const flood = async (frame: (i: number) => Uint8Array, at: (i: number) => void = () => undefined): Promise<void> => {
      for (let i = 0; i < 50000; i++) {
        at(i);
        while (r.dev('p1').pending() >= 512 || r.dev('p3').pending() >= 512) {
          sample();
          await tick();
        }
        r.dev('p1').inject(frame(i));
        if (i % 200 === 0) {
          r.dev('p3').inject(established());
          cSent++;
        }
      }
      await until('queues drained', () => r.dev('p1').pending() === 0 && r.dev('p3').pending() === 0, 30000);
    };

    // 1. A scan of 50k distinct 5-tuples between two known MACs: NORMAL does not look at L3/L4,
    //    so it is one megaflow, and nearly every frame is forwarded by the datapath alone.
    await flood((i) => tcp(A, B, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 1024 + (i % 60000), 1 + (i % 1000)));
    sample();
    expect(r.dp.table.count).toBeLessThanOrEqual(3);
    expect(r.st.counters.upcalls).toBeLessThan(2000);
    expect(r.dp.counters.get('hit')).toBeGreaterThan(48000);

    // 2. 50k new source MACs (a spoofing scan): every frame is a new megaflow. For the first
    //    20k vswitchd stalls (stops reading its socket), as a busy one would: upcalls back up
    //    to the socket's low-water mark, then p1's queue fills and its misses are dropped. The
    //    flow limit holds, and C→B, served from the caches, is untouched throughout.
    const vsock = (r.client as unknown as { sock: Socket }).sock;
    await flood(
      (i) => tcp(`02:99:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:01`, B, '10.0.0.1', 1000, 80),
      (i) => {
        if (i === 0) vsock.pause();
        if (i === 20000) {
          sample();
          vsock.resume();
        }
      },
    );
    await until('established frames delivered', () => {
      sample();
      return cGot === cSent;
    }, 10000);
    expect(cSent).toBe(500);
    expect(maxFlows).toBeLessThanOrEqual(LIMIT);
    expect(maxQueued).toBeLessThanOrEqual(MAX_BYTES);
    expect(maxUnsent).toBeLessThanOrEqual(SOCK_LOW_WATER + 64 * 1024);
    const c = r.dp.counters;
    const u = udpifOf(r.st);
    expect(c.get('upcall_queue_full')).toBeGreaterThan(10000); // shed while vswitchd stalled
    expect(maxQueued).toBeGreaterThan(64 * 1024); // ... after p1's queue had filled up
    expect(maxQueued).toBeLessThanOrEqual(128 * 1024);
    expect(maxUnsent).toBeGreaterThan(0);
    // Past the flow limit vswitchd executes without installing.
    expect(u.counters.upcall_flow_limit).toBeGreaterThan(0);
    expect(r.br.macs.size).toBeLessThanOrEqual(r.br.macs.maxEntries);
    const stats = r.dp.stats();
    expect(stats.lost).toBe(c.get('upcall_queue_full') + c.get('upcall_limit') + c.get('upcall_lost'));
  }, 120000);

  it('revalidates 200k megaflows: a full pass translates all, a quiet incremental pass only reads them', async () => {
    const r = await setup({ flowLimit: 300000 });
    const wc = new Wildcards();
    const acts = Int32Array.from([1, 2, 1, 3]); // flood from p1, as NORMAL would with nothing learned
    const now = Date.now();
    for (let n = 0; n < 200000; n++) {
      const k = newKey();
      k[W_IN_PORT] = 1;
      setEth(k, 0x020000000002, 0x021000000000 + n);
      k[W_TYPE_TCI] = ETH_TYPE_IP << 16;
      wc.initForKey(k);
      wc.vlanTci();
      wc.ethDst();
      wc.ethSrc();
      r.dp.table.put(k, wc.mask, acts, now);
    }
    r.br.macs.maxEntries = 300000;
    const u = udpifOf(r.st);
    let t0 = Date.now();
    await r.rv.run();
    const full = Date.now() - t0;
    expect(u.counters.flows_revalidated).toBeGreaterThanOrEqual(200000);
    expect(r.st.counters.flows_modified).toBe(0);
    expect(r.dp.table.count).toBe(200000);
    const before = u.counters.flows_revalidated;
    t0 = Date.now();
    r.rv.wake();
    await r.rv.whenIdle();
    const quiet = Date.now() - t0;
    expect(u.counters.flows_revalidated).toBe(before);
    expect(r.st.counters.flows_dumped).toBe(2 * 200000);
    expect(full).toBeLessThan(15000);
    expect(quiet).toBeLessThan(8000);
  }, 60000);
});
