/*
 * JIT warm-up of the per-frame code, run once by the daemon (main.ts) before it creates its
 * Datapath; control path: 2400 synthetic frames (some 60 ms) through private instances of the
 * pipeline's own classes (their methods share type feedback with the Datapath's: feedback lives
 * on the functions, not on the objects). Touches no device, socket or shared state.
 *
 * Why: V8 compiles a function with the types and branches it has seen. Before this existed,
 * the first seconds of a ping (two frame types, two flows) left extractKey, the megaflow
 * lookup and processBatch optimised for just those: the first ARP probe, flow miss or hash
 * value above 2^30 (small integers in V8 end there) then threw them back to the interpreter
 * ("insufficient type feedback", "not a Smi") for the next few thousand frames. Here every
 * frame type extractKey parses, random addresses (so hashes and key words span all 32 bits),
 * hits in the first, second and third subtable, misses (upcalls, lost here: no vswitchd) and
 * the exact-match cache all run before the first real frame does. Netdev code is not run: it
 * would teach the call sites a port class that real traffic never brings.
 */
import { ACT_OUTPUT } from '../lib/dpif-proto.js';
import {
  KEY_WORDS, W_ETH_DST_HI, W_ETH_MID, W_ETH_SRC_LO, W_IN_PORT, W_NW, W_NW_DST, W_NW_SRC, W_TP, W_TYPE_TCI,
} from '../lib/flow-key.js';
import { ActionRunner } from './actions.js';
import { BATCH_MAX, PacketBatch } from './batch.js';
import { Counters } from './counters.js';
import { Emc } from './emc.js';
import { extractKey } from './extract.js';
import { hashKey } from './hash.js';
import { MegaflowTable } from './megaflow.js';
import { NetdevOpenError } from './netdev.js';
import { Pipeline } from './pipeline.js';
import { PortTable } from './ports.js';
import { UpcallQueue } from './upcall.js';

/** Rounds of warm-up (each: every frame kind, batches of 1, 7 and 32 frames). */
export const WARMUP_ROUNDS = 20;

/** A small deterministic xorshift32 source of "random" bytes and words. */
class Rng {
  private readonly s = new Uint32Array([0x6b43a9b5]);
  word(): number {
    let x = this.s[0];
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s[0] = x;
    return this.s[0];
  }
  byte(): number {
    return this.word() & 0xff;
  }
}

/** Frame kinds written by writeFrame (each exercises a branch of extractKey). */
const KINDS = 16;

function put16(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 8;
  b[p + 1] = v & 0xff;
}

/** Writes a frame of kind `kind` with random addresses at b[o..]; returns its length. */
function writeFrame(b: Uint8Array, o: number, kind: number, rng: Rng): number {
  for (let i = 0; i < 12; i++) b[o + i] = rng.byte();
  b[o] &= 0xfe; // unicast destination
  let p = o + 12;
  if (kind === 9 || kind === 10) {
    put16(b, p, kind === 9 ? 0x8100 : 0x88a8); // tagged IPv4/UDP
    put16(b, p + 2, rng.word() & 0xefff);
    p += 4;
  }
  const ipv4 = (proto: number, l4: number, frag: number, ihl: number): number => {
    put16(b, p, 0x0800);
    const q = p + 2;
    b[q] = 0x40 | ihl;
    b[q + 1] = rng.byte() & 0xfc;
    const tot = ihl * 4 + l4;
    put16(b, q + 2, tot);
    put16(b, q + 6, frag);
    b[q + 8] = 64;
    b[q + 9] = proto;
    for (let i = 12; i < 20; i++) b[q + i] = rng.byte();
    const t = q + ihl * 4;
    for (let i = 0; i < l4; i++) b[t + i] = rng.byte();
    if (proto === 6) b[t + 12] = 0x50;
    return q + tot - o;
  };
  const ipv6 = (nh: number, l4: number, ext: number): number => {
    put16(b, p, 0x86dd);
    const q = p + 2;
    b[q] = 0x60;
    b[q + 1] = rng.byte() & 0x0f;
    put16(b, q + 4, l4 + ext);
    b[q + 6] = ext === 0 ? nh : ext === 8 && nh === 44 ? 44 : 0;
    b[q + 7] = 64;
    for (let i = 8; i < 40; i++) b[q + i] = rng.byte();
    let t = q + 40;
    if (ext !== 0) {
      b[q + 6] = nh === 44 ? 44 : 0;
      b[t] = nh === 44 ? 17 : nh;
      b[t + 1] = 0;
      for (let i = 2; i < 8; i++) b[t + i] = 0;
      t += 8;
    }
    for (let i = 0; i < l4; i++) b[t + i] = rng.byte();
    if (nh === 58) {
      b[t] = l4 === 32 ? 135 : 128;
      b[t + 1] = 0;
      if (l4 === 32) {
        b[t + 24] = 1; // source link-layer address option
        b[t + 25] = 1;
      }
    }
    if (nh === 6) b[t + 12] = 0x50;
    return t + l4 - o;
  };
  switch (kind) {
    case 0: // ARP request / reply
    case 1:
      put16(b, p, 0x0806);
      put16(b, p + 2, 1);
      put16(b, p + 4, 0x0800);
      b[p + 6] = 6;
      b[p + 7] = 4;
      put16(b, p + 8, kind + 1);
      for (let i = 10; i < 30; i++) b[p + i] = rng.byte();
      return 60;
    case 2: { // ICMP echo
      const n = ipv4(1, 64, 0x4000, 5);
      b[o + 34] = rng.byte() & 8;
      b[o + 35] = 0;
      return n;
    }
    case 3: return ipv4(6, 20, 0x4000, 5);
    case 4: return ipv4(17, 8 + (rng.byte() & 63), 0, 5);
    case 5: return ipv4(17, 40, 0x2000, 6); // first fragment, with options
    case 6: return ipv4(17, 40, 0x0010, 5); // later fragment
    case 7: return ipv6(58, 16, 0); // ICMPv6 echo
    case 8: return ipv6(58, 32, 0); // neighbour solicitation with an SLL option
    case 9:
    case 10: return ipv4(17, 16, 0, 5);
    case 11: return ipv6(6, 20, 8); // hop-by-hop options, then TCP
    case 12: return ipv6(44, 16, 8); // fragment header, then UDP
    case 13: // 802.3 with LLC/SNAP
      put16(b, p, 46);
      b[p + 2] = 0xaa;
      b[p + 3] = 0xaa;
      b[p + 4] = 0x03;
      b[p + 5] = b[p + 6] = b[p + 7] = 0;
      put16(b, p + 8, 0x88cc);
      return 60;
    case 14: // unknown EtherType (LLDP)
      put16(b, p, 0x88cc);
      return 60;
    default: // truncated IPv4 header: a bad header, still looked up
      put16(b, p, 0x0800);
      b[p + 2] = 0x45;
      return 24;
  }
}

/** Masks shaped like what vswitchd installs: L2 only, L2 + IPv4 addresses, up to L4 ports. */
function makeMasks(): Uint32Array[] {
  const l2 = [W_IN_PORT, W_ETH_DST_HI, W_ETH_MID, W_ETH_SRC_LO, W_TYPE_TCI];
  const l3 = [...l2, W_NW_SRC, W_NW_DST, W_NW];
  const l4 = [...l3, W_TP];
  return [l2, l3, l4].map((words) => {
    const m = new Uint32Array(KEY_WORDS);
    for (const w of words) m[w] = 0xffffffff;
    return m;
  });
}

/**
 * Runs the per-frame code (extractKey, the hashes, megaflow and exact-match lookups and
 * inserts, processBatch with hits, drops, outputs to absent ports and misses) over synthetic
 * frames `rounds` times, counting into `counters`. Returns the frames run through processBatch.
 */
export function warmUpPipeline(rounds = WARMUP_ROUNDS, counters = new Counters()): number {
  const rng = new Rng();
  const batch = new PacketBatch();
  const ports = new PortTable(() => {
    throw new NetdevOpenError('warm-up opens no ports');
  });
  const table = new MegaflowTable(4096);
  const emc = new Emc(1);
  const actions = new ActionRunner(batch, ports, counters);
  const upcalls = new UpcallQueue(counters);
  const pipeline = new Pipeline(batch, table, emc, actions, upcalls, counters);
  const masks = makeMasks();
  const keys = pipeline.keys;
  const drop = new Int32Array(0);
  const toAbsentPort = Int32Array.of(ACT_OUTPUT, 4000);
  let frames = 0;
  for (let r = 0; r < rounds; r++) {
    for (const size of [1, 7, BATCH_MAX]) {
      batch.count = 0;
      for (let i = 0; i < size; i++) {
        const off = batch.offs[i];
        batch.lens[i] = writeFrame(batch.buf, off, (r * 7 + i) % KINDS, rng);
        batch.count++;
      }
      const inPort = 1 + (rng.word() & 7);
      // Round 0 runs on an empty table (as the first real frames do); later rounds install
      // flows for about half of the frames, each under one of the three masks, so that
      // processBatch sees hits in each subtable as well as misses.
      for (let i = 0; i < size && r > 0; i++) {
        if ((rng.word() & 1) === 0) continue;
        extractKey(batch.buf, batch.offs[i], batch.lens[i], inPort, keys, i * KEY_WORDS);
        const acts = (i & 1) === 0 ? drop : toAbsentPort;
        table.put(keys, masks[rng.word() % 3], acts, Date.now(), i * KEY_WORDS, 0);
      }
      // Once with the exact-match cache off, twice with it on (the second pass hits it).
      for (let pass = 0; pass < 3; pass++) {
        pipeline.emcActive = pass !== 0;
        pipeline.processBatch(inPort, size);
        frames += size;
      }
      for (let i = 0; i < size; i++) hashKey(keys, i * KEY_WORDS);
    }
    if (table.count > 2048) table.flush();
    if ((r & 7) === 7) table.rerank();
  }
  return frames;
}
