/*
 * Benchmark of vswitchd's OpenFlow classifier (src/vswitchd/ofp/classifier.ts): lookup time at
 * 1k and 100k rules over 1, 10 and 50 masks, with and without wildcard tracking, plus the
 * control-path work behind `ofctl add-flows` and `dump-flows` of 100k flows (parse, add to a
 * table, encode and decode as flow protocol messages, format). Plain timing, no daemons:
 * `npx tsc -p . && node dist/bench/classifier.js [--quick]`. Prints a table and writes
 * bench/results/classifier.json. Not a test: it only measures.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeMessage, encodeMessage } from '../src/lib/flowproto/codec.js';
import { encodeFrame, FrameDecoder } from '../src/lib/flowproto/framing.js';
import { ETH_TYPE_IP, IPPROTO_TCP, W_NW, W_NW_DST, W_NW_SRC, W_TP, W_TYPE_TCI } from '../src/lib/flow-key.js';
import { Classifier, ClsRule } from '../src/vswitchd/ofp/classifier.js';
import { formatFlowStats, parseFlow } from '../src/vswitchd/ofp/flow-syntax.js';
import { OF_WORDS, OFPTT_ALL } from '../src/vswitchd/ofp/layout.js';
import { Match } from '../src/vswitchd/ofp/match.js';
import { prefixMask32 } from '../src/vswitchd/ofp/prefix-trie.js';
import { OfTables } from '../src/vswitchd/ofp/tables.js';
import { flowModFromWire, flowModToWire, flowStatsFromWire, flowStatsToWire } from '../src/vswitchd/ofp/wire.js';

const quick = process.argv.includes('--quick');
let seed = 12345;
function rnd(): number {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed;
}

/** `n` distinct masks: ip plus in_port?, nw_src /0-/32, nw_dst /0-/32, tcp tp_dst? */
function masks(n: number): Uint32Array[] {
  const out: Uint32Array[] = [];
  const lens = [0, 8, 16, 24, 32];
  for (const dst of [32, 24, 16, 8, 0]) for (const src of lens) for (const port of [0, 1]) for (const inPort of [0, 1]) {
    if (out.length === n) return out;
    const m = new Uint32Array(OF_WORDS);
    m[W_TYPE_TCI] = 0xffff0000;
    m[0] = inPort ? 0xffff : 0;
    m[W_NW_SRC] = prefixMask32(src);
    m[W_NW_DST] = prefixMask32(dst);
    if (port) {
      m[W_NW] = 0xff000000;
      m[W_TP] = 0xffff;
    }
    out.push(m);
  }
  return out;
}

function randomFlow(): Uint32Array {
  const f = new Uint32Array(OF_WORDS);
  f[0] = 1 + (rnd() % 8);
  f[W_TYPE_TCI] = ETH_TYPE_IP << 16;
  f[W_NW_SRC] = 0x0a000000 | (rnd() & 0xffffff);
  f[W_NW_DST] = 0x0a000000 | (rnd() & 0xffffff);
  f[W_NW] = (IPPROTO_TCP << 24) | (64 << 8);
  f[W_TP] = ((rnd() & 0xffff) << 16) | (rnd() % 1024);
  return f;
}

function build(nRules: number, nMasks: number): { cls: Classifier; rules: ClsRule[]; insertNs: number } {
  const ms = masks(nMasks);
  const cls = new Classifier();
  const rules: ClsRule[] = [];
  const pending: ClsRule[] = [];
  while (pending.length < nRules) {
    const mask = ms[pending.length % ms.length];
    const f = randomFlow();
    const m = new Match(new Uint32Array(OF_WORDS), Uint32Array.from(mask));
    for (let i = 0; i < OF_WORDS; i++) m.value[i] = (f[i] & mask[i]) >>> 0;
    pending.push(new ClsRule(m, 1 + (rnd() % 1000)));
  }
  const t0 = process.hrtime.bigint();
  for (const r of pending) {
    if (cls.findExact(r.match, r.priority) !== null) continue;
    cls.insert(r);
    rules.push(r);
  }
  return { cls, rules, insertNs: Number(process.hrtime.bigint() - t0) / pending.length };
}

/** Flows to look up: half built to hit a rule, half random. */
function probes(rules: ClsRule[], n: number): Uint32Array[] {
  return Array.from({ length: n }, (_, i) => {
    const f = randomFlow();
    if (i % 2 === 0) {
      const r = rules[rnd() % rules.length];
      for (let w = 0; w < OF_WORDS; w++) f[w] = ((r.match.value[w] & r.match.mask[w]) | (f[w] & ~r.match.mask[w])) >>> 0;
    }
    return f;
  });
}

let sink = 0;
function timeLookups(cls: Classifier, flows: Uint32Array[], withWc: boolean): number {
  const wc = new Uint32Array(OF_WORDS);
  const minMs = quick ? 200 : 1000;
  let n = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  do {
    for (let i = 0; i < flows.length; i++) {
      if (withWc) wc.fill(0);
      const r = cls.lookup(flows[i], withWc ? wc : null);
      if (r !== null) sink += r.priority;
    }
    n += flows.length;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e6;
  } while (elapsed < minMs);
  return (elapsed * 1e6) / n;
}

interface LookupRow { rules: number; masks: number; subtables: number; insertNs: number; lookupNs: number; lookupWcNs: number; hitRate: number }

function lookupCases(): LookupRow[] {
  const rows: LookupRow[] = [];
  for (const nRules of [1000, 100000]) {
    for (const nMasks of [1, 10, 50]) {
      const { cls, rules, insertNs } = build(nRules, nMasks);
      const flows = probes(rules, 4096);
      let hits = 0;
      for (const f of flows) if (cls.lookup(f, null) !== null) hits++;
      timeLookups(cls, flows, true); // warm up
      rows.push({
        rules: rules.length, masks: nMasks, subtables: cls.subtableCount, insertNs,
        lookupNs: timeLookups(cls, flows, false), lookupWcNs: timeLookups(cls, flows, true), hitRate: hits / flows.length,
      });
    }
  }
  return rows;
}

/** The ofctl add-flows / dump-flows path for `n` flows, stage by stage (ms). */
function flowPath(n: number): Record<string, number> {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(`priority=${1 + (i % 1000)},tcp,in_port=${1 + (i % 8)},nw_src=10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255},tp_dst=${i % 65536},actions=output:${1 + (i % 4)}`);
  }
  const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;
  let t = process.hrtime.bigint();
  const mods = lines.map((l) => parseFlow(l));
  const parse = ms(t);
  t = process.hrtime.bigint();
  const frames = mods.map((fm, i) => encodeFrame(encodeMessage(1, i + 1, { flowMod: flowModToWire(fm) })));
  const stream = Buffer.concat(frames);
  const encode = ms(t);
  t = process.hrtime.bigint();
  const received: ReturnType<typeof flowModFromWire>[] = [];
  const dec = new FrameDecoder((p) => received.push(flowModFromWire(decodeMessage(p).flowMod!)), 64 * 1024 * 1024);
  for (let p = 0; p < stream.length; p += 65536) dec.push(stream.subarray(p, p + 65536));
  const decode = ms(t);
  const tables = new OfTables(true);
  t = process.hrtime.bigint();
  for (const fm of received) tables.apply(fm);
  const add = ms(t);
  t = process.hrtime.bigint();
  const now = Date.now();
  const entries = tables.select({ table: OFPTT_ALL });
  const stats = entries.map((e) => flowStatsToWire(e, now));
  const replies: Uint8Array[] = [];
  for (let i = 0; i < stats.length; i += 1000) replies.push(encodeMessage(1, 7, { multipartReply: { more: true, flow: { stats: stats.slice(i, i + 1000) } } }));
  const dumpEncode = ms(t);
  t = process.hrtime.bigint();
  let bytes = 0;
  for (const r of replies) {
    for (const s of decodeMessage(r).multipartReply!.flow!.stats ?? []) bytes += formatFlowStats(flowStatsFromWire(s)).length;
  }
  const dumpFormat = ms(t);
  sink += bytes;
  return {
    parse, encode, decode, add, dumpEncode, dumpFormat,
    addFlowsTotal: parse + encode + decode + add, dumpFlowsTotal: dumpEncode + dumpFormat, flows: tables.count,
  };
}

function main(): void {
  const rows = lookupCases();
  console.log('Classifier lookup (half the probes hit a rule; "+wc" tracks un-wildcarded bits)');
  console.log('   rules  masks  subtables   insert ns   lookup ns   +wc ns   hit rate');
  for (const r of rows) {
    console.log(`${String(r.rules).padStart(8)} ${String(r.masks).padStart(6)} ${String(r.subtables).padStart(10)} ${r.insertNs.toFixed(0).padStart(11)} ${r.lookupNs.toFixed(0).padStart(11)} ${r.lookupWcNs.toFixed(0).padStart(8)} ${(r.hitRate * 100).toFixed(0).padStart(9)}%`);
  }
  const n = quick ? 20000 : 100000;
  const path = flowPath(n);
  console.log(`\nofctl add-flows / dump-flows path, ${n} flows (ms; no sockets or processes)`);
  for (const [k, v] of Object.entries(path)) console.log(`  ${k.padEnd(16)} ${typeof v === 'number' ? v.toFixed(0) : v}`);
  console.log('  (Open vSwitch 3.1 on this machine: add-flows of 100k in 5.6 s, dump-flows in 0.6 s, end to end)');
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'classifier.json'), `${JSON.stringify({ when: new Date().toISOString(), quick, lookups: rows, flowPath: path, sink: sink % 10 }, null, 2)}\n`);
  console.log(`\nwrote ${join(out, 'classifier.json')}`);
}

main();
