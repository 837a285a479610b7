/*
 * Micro benchmarks of the datapath's per-packet stages, run with benny: flow key extraction,
 * an exact-match cache hit, a megaflow lookup with 1, 10 and 100 masks at 1k and 100k flows,
 * and action execution (output, and VLAN push + output) into a sink port. `npm run bench:micro`
 * (node dist/bench/micro.js); prints a table and writes bench/results/micro.json. Every case
 * processes a burst of BATCH_MAX frames per operation and reports ns per frame, so the numbers
 * compare directly with each other and with the per-frame budget of the pipeline. Not a test:
 * it only measures. Keeps to about a minute.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import b from 'benny';
import { ActionRunner } from '../src/datapath/actions.js';
import { BATCH_MAX, PacketBatch } from '../src/datapath/batch.js';
import { Counters } from '../src/datapath/counters.js';
import { Emc } from '../src/datapath/emc.js';
import { extractKey } from '../src/datapath/extract.js';
import { hashKey } from '../src/datapath/hash.js';
import { MegaflowTable } from '../src/datapath/megaflow.js';
import type { Netdev } from '../src/datapath/netdev.js';
import { PortTable } from '../src/datapath/ports.js';
import { ACT_OUTPUT, ACT_PUSH_VLAN } from '../src/lib/dpif-proto.js';
import { ETH_TYPE_IP, KEY_WORDS, VLAN_CFI, W_IN_PORT, W_NW, W_NW_DST, W_NW_SRC, W_TP, W_TYPE_TCI } from '../src/lib/flow-key.js';
import { Wildcards } from '../src/lib/flow-mask.js';
import { ipv4Frame } from '../src/lib/packet.js';

const CASE_OPTS = { minTime: 0.5, maxTime: 2 };
let sink = 0; // results fold in here so V8 cannot drop the work

/** BATCH_MAX keys (in_port 1, IPv4/TCP) with addresses and ports from `seed`. */
function batchKeys(count: number, seed: number): Uint32Array {
  const keys = new Uint32Array(count * KEY_WORDS);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const o = i * KEY_WORDS;
    keys[o + W_IN_PORT] = 1;
    keys[o + 1] = 0x02000000;
    keys[o + 2] = 0x00020200;
    keys[o + 3] = 0x00000001;
    keys[o + W_TYPE_TCI] = ETH_TYPE_IP << 16;
    keys[o + W_NW_SRC] = 0x0a000000 | (s & 0xffffff);
    keys[o + W_NW_DST] = 0x0a010000 | (s >>> 16);
    keys[o + W_NW] = (6 << 24) | (64 << 8);
    keys[o + W_TP] = s;
  }
  return keys;
}

/**
 * A megaflow table with `nFlows` flows spread over `nMasks` masks (each mask: the NORMAL fields
 * plus different prefixes of nw_src, tp_dst, nw_dst, tp_src), and BATCH_MAX keys that all hit,
 * key i only in the subtable of mask floor(i * nMasks / BATCH_MAX) (its in_port is its own), so
 * a lookup searches on average half the subtables, in creation order (no ranking).
 */
function megaflows(nMasks: number, nFlows: number): { t: MegaflowTable; keys: Uint32Array } {
  const t = new MegaflowTable(nFlows + 1);
  const wc = new Wildcards();
  const keys = batchKeys(BATCH_MAX, 99);
  const masks: Uint32Array[] = [];
  for (let m = 0; m < nMasks; m++) {
    wc.initForKey(keys, 0);
    wc.vlanTci();
    wc.ethDst();
    wc.ethSrc();
    wc.nwSrc(m === 0 ? 0 : (0xffffffff << (32 - Math.min(32, m))) >>> 0);
    if (m >= 32) wc.tpDst((0xffff << (16 - Math.min(16, m - 32))) & 0xffff);
    if (m >= 48) wc.nwDst((0xffffffff << (32 - Math.min(32, m - 47))) >>> 0);
    if (m >= 80) wc.tpSrc((0xffff << (16 - Math.min(16, m - 79))) & 0xffff);
    masks.push(wc.mask.slice());
  }
  const acts = Int32Array.from([ACT_OUTPUT, 2]);
  // One filler flow per mask first, so the subtables are searched in mask order; then the
  // batch's own keys; then filler flows (other in_ports) up to nFlows.
  const filler = batchKeys(1, 7);
  let n = 0;
  const putFiller = (): void => {
    filler[W_IN_PORT] = 2 + n; // in_port is exact in every mask: each filler is its own flow
    filler[W_NW_SRC] = n;
    t.put(filler, masks[n % nMasks], acts, 0);
    n++;
  };
  while (n < nMasks) putFiller();
  for (let i = 0; i < BATCH_MAX; i++) {
    keys[i * KEY_WORDS + W_IN_PORT] = 0x10000000 + i;
    t.put(keys, masks[Math.floor((i * nMasks) / BATCH_MAX)], acts, 0, i * KEY_WORDS);
  }
  while (t.count < nFlows) putFiller();
  return { t, keys };
}

function sinkNetdev(): Netdev {
  const stats = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, rxErrors: 0, txErrors: 0, rxDropped: 0, txDropped: 0 };
  return {
    name: 'sink', type: 'dummy', stats, offloads: 0xffff,
    start: () => undefined, rxBurst: () => 0,
    txBurst: (_buf: Uint8Array, _offs: Int32Array, _lens: Int32Array, count: number) => {
      stats.txPackets += count;
      return count;
    },
    linkState: () => 'up', error: () => '', mac: () => '', dropCounters: () => ({}), close: () => undefined,
  } as unknown as Netdev;
}

interface Row {
  name: string;
  opsPerSec: number;
  nsPerFrame: number;
  marginPct: number;
  samples: number;
}

async function main(): Promise<void> {
  const cases: ReturnType<typeof b.add>[] = [];

  // Key extraction: a burst of TCP frames.
  const batch = new PacketBatch();
  const frame = ipv4Frame({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, { src: '10.0.0.1', dst: '10.0.0.2' }, { tcp: { src: 1234, dst: 80 } }, new Uint8Array(64));
  for (let i = 0; i < BATCH_MAX; i++) batch.push(frame);
  const xkeys = new Uint32Array(BATCH_MAX * KEY_WORDS);
  cases.push(b.add('extract key', () => {
    for (let i = 0; i < BATCH_MAX; i++) sink += extractKey(batch.buf, batch.offs[i], batch.lens[i], 1, xkeys, i * KEY_WORDS);
  }, CASE_OPTS));

  // EMC hit (hash + 2-way lookup + key compare), 1k keys cached.
  {
    const { t, keys } = megaflows(1, 1000);
    const emc = new Emc(1);
    const hashes = new Uint32Array(BATCH_MAX);
    for (let i = 0; i < BATCH_MAX; i++) {
      hashes[i] = hashKey(keys, i * KEY_WORDS);
      const f = t.lookup(keys, i * KEY_WORDS);
      emc.insert(keys, i * KEY_WORDS, hashes[i], f, t.gen[f], t.gen);
    }
    const gen = t.gen;
    cases.push(b.add('emc hit (hash + lookup)', () => {
      for (let i = 0; i < BATCH_MAX; i++) sink += emc.lookup(keys, i * KEY_WORDS, hashKey(keys, i * KEY_WORDS), gen);
    }, CASE_OPTS));
  }

  // Megaflow lookups.
  for (const nFlows of [1000, 100000]) {
    for (const nMasks of [1, 10, 100]) {
      const { t, keys } = megaflows(nMasks, nFlows);
      for (let i = 0; i < BATCH_MAX; i++) if (t.lookup(keys, i * KEY_WORDS) < 0) throw new Error('bench setup: key does not hit');
      cases.push(b.add(`megaflow ${nMasks} mask${nMasks > 1 ? 's' : ''}, ${nFlows / 1000}k flows`, () => {
        for (let i = 0; i < BATCH_MAX; i++) sink += t.lookup(keys, i * KEY_WORDS);
      }, CASE_OPTS));
    }
  }

  // Action execution into a sink port (no syscalls): output, and push_vlan + output.
  {
    const ports = new PortTable(() => sinkNetdev());
    ports.add('p1', 'dummy');
    ports.add('p2', 'dummy');
    const runner = new ActionRunner(batch, ports, new Counters());
    const out = Int32Array.from([ACT_OUTPUT, 2]);
    const push = Int32Array.from([ACT_PUSH_VLAN, VLAN_CFI | 10, ACT_OUTPUT, 2]);
    const lens = Int32Array.from(batch.lens);
    const offs = Int32Array.from(batch.offs);
    cases.push(b.add('actions: output', () => {
      for (let i = 0; i < BATCH_MAX; i++) runner.run(out, out.length, offs[i], offs[i], lens[i]);
      runner.flush();
    }, CASE_OPTS));
    cases.push(b.add('actions: push_vlan + output', () => {
      for (let i = 0; i < BATCH_MAX; i++) {
        batch.buf.set(frame, offs[i]); // the push moves bytes: start from the original each time
        runner.run(push, push.length, offs[i], offs[i], lens[i]);
      }
      runner.flush();
    }, CASE_OPTS));
  }

  const rows: Row[] = [];
  await b.suite(
    'datapath micro benchmarks',
    ...cases,
    b.cycle((r) => {
      const row = { name: r.name, opsPerSec: r.ops, nsPerFrame: 1e9 / (r.ops * BATCH_MAX), marginPct: r.margin, samples: r.samples };
      rows.push(row);
      process.stdout.write(`  ${row.name.padEnd(34)} ${row.nsPerFrame.toFixed(1).padStart(8)} ns/frame  ±${row.marginPct.toFixed(1)}%\n`);
      return false;
    }),
  );

  process.stdout.write('\n| case | ns/frame | Mframes/s | ±% |\n|---|---:|---:|---:|\n');
  for (const r of rows) process.stdout.write(`| ${r.name} | ${r.nsPerFrame.toFixed(1)} | ${(1000 / r.nsPerFrame).toFixed(2)} | ${r.marginPct.toFixed(1)} |\n`);
  const here = dirname(fileURLToPath(import.meta.url));
  const root = here.endsWith(join('dist', 'bench')) ? join(here, '..', '..') : join(here, '..');
  const outDir = join(root, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, 'micro.json');
  writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, batch: BATCH_MAX, unit: 'ns per frame', cases: rows }, null, 2)}\n`);
  process.stdout.write(`\nwrote ${file} (sink ${sink & 1})\n`);
}

void main();
