/*
 * The per-wakeup fast path: a readable port's frames go rx → extract → EMC → megaflow →
 * actions (hits) or upcall (misses) → tx. Called by each port's onReadable callback (set up by
 * the Datapath); owns the batch-wide scratch (keys, hashes, flow ids). Hot.
 *
 * Each wakeup reads at most MAX_BURSTS bursts from the port. Readiness is level-triggered, so
 * a port with more waiting is called again on the next turn of the event loop, after the other
 * ports and the sockets have had theirs: one busy port cannot starve the others or vswitchd.
 * A burst is classified first, then acted on, then the tx queues are flushed (one txBurst per
 * egress port) and the upcall queues pumped (one socket.write); all of that finishes before the
 * next rxBurst reuses the batch buffer.
 *
 * Reply pickup: a wakeup that received at most PICKUP_MAX frames then reads once more (up to
 * MAX_BURSTS bursts) from each port those frames went out to, if that port's kernel side may
 * have answered inside the write (Port.pickup): a ping's echo reply, an ACK. It is handled now,
 * warm, instead of on the next turn of the event loop after a cold start; an empty look costs
 * one read. One level only, at most SENT_MAX ports (ActionRunner.sentTo).
 *
 * Classification, per frame: extract the key; while the EMC is active, hash it (hashKey over the
 * whole key) and look it up in the exact-match cache (emc.ts); on an EMC miss (or with the EMC
 * inactive), search the megaflow table (megaflow.ts: one masked hash per subtable tried) and,
 * on a hit with the EMC active, offer the key to the EMC (inserted with probability
 * 1/emc_insert_inv_prob); on a megaflow miss, upcall. The Datapath switches the EMC on and off
 * (`emcActive`) once a second by what the megaflow search costs (see datapath.ts).
 *
 * Notes on performance: nothing here allocates per frame or per batch except what the upcall
 * queue does per miss (see upcall.ts). The table's arrays are read through locals once per
 * batch (they are replaced only when the table grows, between batches); `now` is read once per
 * batch, as OVS does. Frames are never copied on a hit.
 */
import { KEY_WORDS } from '../lib/flow-key.js';
import type { ActionRunner } from './actions.js';
import { BATCH_MAX, type PacketBatch } from './batch.js';
import {
  C_EMC_HIT, C_FLOW_DROP, C_HIT, C_MASK_LOOKUPS, C_MEGAFLOW_HIT, C_MISSED, C_RX_BAD_HEADER, C_RX_PICKUP, C_RX_PICKUP_TRIES, C_RX_RUNT, type Counters,
} from './counters.js';
import type { Emc } from './emc.js';
import { EXTRACT_BAD_HEADER, EXTRACT_RUNT, extractKey } from './extract.js';
import { hashKey } from './hash.js';
import type { MegaflowTable } from './megaflow.js';
import type { Port } from './ports.js';
import type { UpcallQueue } from './upcall.js';

/** Bursts read from one port per wakeup. */
export const MAX_BURSTS = 4;
/** A wakeup that received at most this many frames looks for replies on the ports they went
 *  to (see the header). */
export const PICKUP_MAX = 4;
const DROP = -2;
const MISS = -1;

export class Pipeline {
  /** Keys of the current batch: frame i at keys[i*KEY_WORDS ..]. */
  readonly keys = new Uint32Array(BATCH_MAX * KEY_WORDS);
  /** Flow id of frame i, MISS or DROP. */
  private readonly flowIds = new Int32Array(BATCH_MAX);
  private readonly cv: Float64Array;
  /** Consult the EMC (set by the Datapath from the measured megaflow search cost). */
  emcActive = false;
  private readonly pick: (Port | null)[] = [null, null, null, null];

  constructor(
    private readonly batch: PacketBatch,
    private readonly table: MegaflowTable,
    private readonly emc: Emc,
    private readonly actions: ActionRunner,
    private readonly upcalls: UpcallQueue,
    counters: Counters,
  ) {
    this.cv = counters.v;
  }

  /** Handles a wakeup of `port`: up to MAX_BURSTS bursts, then, when they were few frames,
   *  one more round on each port they went out to (see the header). Returns the frames
   *  received on `port`. */
  runPort(port: Port): number {
    const actions = this.actions;
    actions.clearSent();
    const total = this.runBursts(port);
    if (total === 0 || total > PICKUP_MAX || actions.nSent === 0) return total;
    const sentTo = actions.sentTo;
    const pick = this.pick;
    const np = actions.nSent;
    const cv = this.cv;
    for (let k = 0; k < np; k++) pick[k] = sentTo[k];
    for (let k = 0; k < np; k++) {
      const p = pick[k] as Port;
      pick[k] = null;
      if (p !== port && !p.closed && p.pickup) {
        cv[C_RX_PICKUP_TRIES]++;
        cv[C_RX_PICKUP] += this.runBursts(p);
      }
    }
    return total;
  }

  private runBursts(port: Port): number {
    let total = 0;
    for (let b = 0; b < MAX_BURSTS && !port.closed; b++) {
      const n = port.netdev.rxBurst(this.batch);
      if (n <= 0) break;
      this.processBatch(port.portNo, n);
      total += n;
      if (n < BATCH_MAX) break;
    }
    return total;
  }

  /** Runs frames 0..n-1 of the batch, received on port `inPort`, through the pipeline. */
  processBatch(inPort: number, n: number): void {
    const batch = this.batch;
    const buf = batch.buf;
    const offs = batch.offs;
    const lens = batch.lens;
    const keys = this.keys;
    const flowIds = this.flowIds;
    const table = this.table;
    const emc = this.emc;
    const useEmc = this.emcActive && emc.enabled;
    const gen = table.gen;
    const cv = this.cv;
    let emcHits = 0;
    let mfHits = 0;
    let probes = 0;

    // Classify: key, hash, EMC, megaflow.
    for (let i = 0; i < n; i++) {
      const ko = i * KEY_WORDS;
      const r = extractKey(buf, offs[i], lens[i], inPort, keys, ko);
      if (r !== 0) {
        if (r === EXTRACT_RUNT) {
          cv[C_RX_RUNT]++;
          flowIds[i] = DROP;
          continue;
        }
        if (r === EXTRACT_BAD_HEADER) cv[C_RX_BAD_HEADER]++;
      }
      if (useEmc) {
        const h = hashKey(keys, ko);
        let f = emc.lookup(keys, ko, h, gen);
        if (f >= 0) {
          emcHits++;
        } else {
          f = table.lookup(keys, ko);
          probes += table.lastProbes;
          if (f >= 0) {
            mfHits++;
            emc.insert(keys, ko, h, f, gen[f], gen);
          }
        }
        flowIds[i] = f;
      } else {
        const f = table.lookup(keys, ko);
        probes += table.lastProbes;
        if (f >= 0) mfHits++;
        flowIds[i] = f;
      }
    }
    cv[C_EMC_HIT] += emcHits;
    cv[C_MEGAFLOW_HIT] += mfHits;
    cv[C_HIT] += emcHits + mfHits;
    cv[C_MASK_LOOKUPS] += probes;

    // Act: hits run their actions, misses go up.
    const now = Date.now();
    const packets = table.packets;
    const bytes = table.bytes;
    const used = table.used;
    const flowActs = table.actions;
    const actions = this.actions;
    const upcalls = this.upcalls;
    for (let i = 0; i < n; i++) {
      const f = flowIds[i];
      if (f >= 0) {
        const len = lens[i];
        packets[f]++;
        bytes[f] += len;
        used[f] = now;
        const acts = flowActs[f] as Int32Array;
        if (acts.length === 0) cv[C_FLOW_DROP]++;
        else actions.run(acts, acts.length, offs[i], offs[i], len);
      } else if (f === MISS) {
        cv[C_MISSED]++;
        upcalls.miss(inPort, keys, i * KEY_WORDS, buf, offs[i], lens[i]);
      }
    }

    actions.flush();
    upcalls.flush();
  }
}
