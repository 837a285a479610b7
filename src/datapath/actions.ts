/*
 * Action execution (hot: once per frame that hit a flow, and per EXECUTE). Runs an odp action
 * list (src/lib/dpif-proto.ts) on a frame held in a slot of the datapath's one PacketBatch:
 * outputs are queued per egress port as (offset, length, virtio header) into that same buffer,
 * and flush() sends each port's queue with one txBurst. Called by the pipeline and the dpif
 * server; owns the dirty-port list, the "current version" bookkeeping for header changes and
 * the batch's scratch area.
 *
 * Header changes never disturb copies already queued. A frame's slot is SLOT_SIZE bytes and a
 * frame rarely fills it, so a VLAN push/pop that follows an output writes the new version into
 * the free tail of the same slot (bump allocation) and leaves the queued bytes alone; a change
 * with no output before it is done in place (push: 12 bytes moved into the headroom in front
 * of the frame, or the frame moved right; pop: a 12-byte move). Only when the tail is full
 * (frames near 64 KiB) are all queues flushed first, then the change is made in place. Every
 * queue refers to one buffer, so each port is still one native call.
 *
 * Offloads: each version carries its virtio header (`vm`; csum_start follows a pushed or
 * popped tag). An output to a port whose netdev takes the frame as it is (offloadFix, offload.ts)
 * queues it whole with that header: a 64 KiB GSO frame from one tap goes to another tap as one
 * write. Otherwise the datapath finishes the work: a partial checksum is completed (in place
 * if no queued copy shares the bytes, else in a scratch copy), a GSO frame is cut into
 * segments built in the scratch area behind the slots (flushing every queue first when it is
 * full). Counted per egress port (Port.offload).
 *
 * Header rewrites (ACT_SET_*) are done by set-field.ts on the current version, made a new
 * version first when a queue holds it; ACT_USERSPACE hands the current version to the upcall
 * queue (a packet-in for vswitchd).
 *
 * Notes on performance: run() and flush() allocate nothing (execute() makes one typed-array
 * view to copy an EXECUTE packet in, once per miss); ports are looked up by number in a dense
 * array; the dirty list is a preallocated array with a count; an unknown port costs one store.
 */
import { ACT_OUTPUT, ACT_POP_VLAN, ACT_PUSH_VLAN, ACT_SET_ARP, ACT_SET_ETH, ACT_USERSPACE } from '../lib/dpif-proto.js';
import {
  BATCH_MAX, RX_HEADROOM, SCRATCH_SIZE, SCRATCH_START, SLOT_SIZE, slotOf, V_CSUM_OFFSET, V_CSUM_START, V_FLAGS_GSO,
  V_HDR_LEN, VIRTIO_NET_HDR_F_NEEDS_CSUM, VNET_WORDS, type PacketBatch,
} from './batch.js';
import { C_ACTION_TOO_LONG, C_EXEC_BAD_ACTIONS, C_TX_FAILED, C_TX_NO_PORT, type Counters } from './counters.js';
import { completeCsum, FIX_CSUM, FIX_NONE, inferOffload, offloadFix, Segmenter } from './offload.js';
import { runSetAction } from './set-field.js';
import type { UpcallQueue } from './upcall.js';
import {
  PO_TX_GSO, PO_TX_OFFLOAD_BAD, PO_TX_SW_CSUM, PO_TX_SW_SEGMENTED, PO_TX_SW_SEGMENTS, TXQ_MAX, type Port, type PortTable,
} from './ports.js';

const VLAN_HLEN = 4;
/** Versions in a slot tail and scratch allocations start on this alignment. */
const ALIGN = 8;
const SCRATCH_END = SCRATCH_START + SCRATCH_SIZE;
/** Ports remembered in ActionRunner.sentTo. */
export const SENT_MAX = 4;

export class ActionRunner {
  private readonly buf: Uint8Array;
  private readonly vnet: Uint16Array;
  private readonly cv: Float64Array;
  /** Virtio header of the version being run (copied from the slot, then adjusted). */
  private readonly vm: Uint16Array;
  /** Header of a copy whose checksum was finished (and of finished segments: all zero). */
  private readonly vmDone: Uint16Array;
  private readonly vmZero: Uint16Array;
  private readonly seg: Segmenter;
  /** Next free byte of the scratch area; reset when every queue has been flushed. */
  private scratchPos: number;
  private dirty: (Port | null)[];
  private nDirty = 0;
  /** Next free slot for EXECUTE packets (slots are free between pipeline runs). */
  private execSlot = 0;
  /** The first SENT_MAX distinct ports a txBurst went to since clearSent() (Pipeline.runPort
   *  reads them to pick up replies: sentTo[0..nSent)). */
  readonly sentTo: (Port | null)[];
  nSent = 0;
  /** Where ACT_USERSPACE sends frames (set by the dpif server); null: they are not sent. */
  upcalls: UpcallQueue | null = null;

  constructor(batch: PacketBatch, private readonly ports: PortTable, counters: Counters) {
    this.buf = batch.buf;
    this.vnet = batch.vnet;
    this.cv = counters.v;
    this.vm = new Uint16Array(VNET_WORDS);
    this.vmDone = new Uint16Array(VNET_WORDS);
    this.vmZero = new Uint16Array(VNET_WORDS);
    this.seg = new Segmenter();
    this.scratchPos = SCRATCH_START;
    this.dirty = [];
    for (let i = 0; i < 64; i++) this.dirty.push(null);
    this.sentTo = [];
    for (let i = 0; i < SENT_MAX; i++) this.sentTo.push(null);
  }

  /** Forgets the ports recorded in sentTo. */
  clearSent(): void {
    const sentTo = this.sentTo;
    for (let k = 0; k < this.nSent; k++) sentTo[k] = null;
    this.nSent = 0;
  }

  /**
   * Runs acts[0..n) on the frame buf[off, off+len) of the batch; its slot (and virtio header)
   * is the one `off` lies in (`slotStart` is any offset in that slot, kept for callers). May
   * rewrite bytes of that slot outside the frame. Never throws.
   */
  run(acts: Int32Array, n: number, slotStart: number, off: number, len: number): void {
    const buf = this.buf;
    const slot = slotOf(off >= 0 ? off : slotStart);
    const slotLo = slot * SLOT_SIZE;
    const slotEnd = slotLo + SLOT_SIZE;
    const vm = this.vm;
    const vi = slot * VNET_WORDS;
    for (let w = 0; w < VNET_WORDS; w++) vm[w] = this.vnet[vi + w];
    let cur = off; // current version of the frame
    let clen = len;
    let tail = off + len; // first free byte of the slot after every version
    let low = slotLo; // bytes [low, cur) are free (headroom)
    let queued = false; // current version referenced by a tx queue
    let i = 0;
    while (i < n) {
      const op = acts[i];
      if (op === ACT_OUTPUT) {
        if (i + 1 >= n) break;
        if (this.output(acts[i + 1], cur, clen, queued)) queued = true;
        i += 2;
      } else if (op === ACT_PUSH_VLAN) {
        if (i + 1 >= n) break;
        const tci = acts[i + 1] & 0xefff; // CFI marks "tag present" in keys; it is 0 on the wire
        const nlen = clen + VLAN_HLEN;
        const np = (tail + ALIGN - 1) & ~(ALIGN - 1);
        if (!queued && cur - VLAN_HLEN >= low) {
          buf.copyWithin(cur - VLAN_HLEN, cur, cur + 12); // into the headroom: 12 bytes move
          cur -= VLAN_HLEN;
        } else if (!queued && cur + nlen <= slotEnd) {
          buf.copyWithin(cur + 12 + VLAN_HLEN, cur + 12, cur + clen); // in place
        } else if (np + nlen <= slotEnd) {
          buf.copyWithin(np, cur, cur + 12); // new version in the slot tail
          buf.copyWithin(np + 12 + VLAN_HLEN, cur + 12, cur + clen);
          cur = np;
          low = np;
        } else {
          // Tail full: send what is queued, then rebuild from the slot start.
          this.flushQueues();
          if (slotLo + nlen > slotEnd) {
            this.cv[C_ACTION_TOO_LONG]++;
            return;
          }
          buf.copyWithin(slotLo, cur, cur + clen);
          cur = slotLo;
          tail = cur;
          low = slotLo;
          buf.copyWithin(cur + 12 + VLAN_HLEN, cur + 12, cur + clen);
        }
        buf[cur + 12] = 0x81;
        buf[cur + 13] = 0x00;
        buf[cur + 14] = tci >>> 8;
        buf[cur + 15] = tci & 0xff;
        clen = nlen;
        if (cur + clen > tail) tail = cur + clen;
        queued = false;
        this.shiftL4(VLAN_HLEN);
        i += 2;
      } else if (op === ACT_POP_VLAN) {
        i += 1;
        if (clen < 12 + VLAN_HLEN + 2) continue;
        const tpid = (buf[cur + 12] << 8) | buf[cur + 13];
        if (tpid !== 0x8100 && tpid !== 0x88a8) continue; // untagged: nothing to pop
        if (!queued) {
          buf.copyWithin(cur + VLAN_HLEN, cur, cur + 12);
          cur += VLAN_HLEN;
        } else {
          const np = (tail + ALIGN - 1) & ~(ALIGN - 1);
          if (np + clen - VLAN_HLEN > slotEnd) {
            this.flushQueues();
            buf.copyWithin(cur + VLAN_HLEN, cur, cur + 12);
            cur += VLAN_HLEN;
          } else {
            buf.copyWithin(np, cur, cur + 12);
            buf.copyWithin(np + 12, cur + 12 + VLAN_HLEN, cur + clen);
            cur = np;
            low = np;
            tail = np + clen - VLAN_HLEN;
          }
        }
        clen -= VLAN_HLEN;
        queued = false;
        this.shiftL4(-VLAN_HLEN);
      } else if (op === ACT_USERSPACE) {
        if (i + 1 >= n || i + 2 + acts[i + 1] > n || acts[i + 1] < 2) break;
        if (this.upcalls !== null) this.upcalls.userspace(acts, i, buf, cur, clen);
        i += 2 + acts[i + 1];
      } else if (op >= ACT_SET_ETH && op <= ACT_SET_ARP) {
        // Header rewrite (set-field.ts): queued copies keep their bytes, so a new version first.
        if (queued) {
          const np = (tail + ALIGN - 1) & ~(ALIGN - 1);
          if (np + clen > slotEnd) this.flushQueues();
          else {
            buf.copyWithin(np, cur, cur + clen);
            cur = low = np;
            tail = np + clen;
          }
          queued = false;
        }
        i = runSetAction(buf, cur, clen, this.vm, acts, i, n);
        if (i < 0) break;
      } else {
        this.cv[C_EXEC_BAD_ACTIONS]++;
        return;
      }
    }
    if (i < n) this.cv[C_EXEC_BAD_ACTIONS]++;
  }

  /**
   * Runs actions on a packet that is not in the batch (EXECUTE): copies it into a free slot
   * first, working out from its bytes what its virtio header was (a miss goes up without one:
   * inferOffload). Returns false if it does not fit a slot. The caller calls flush() when done
   * with a group of executes (at the latest before the next pipeline run).
   */
  execute(acts: Int32Array, n: number, src: Uint8Array, off: number, len: number): boolean {
    if (len > SLOT_SIZE - RX_HEADROOM) return false;
    if (this.execSlot === BATCH_MAX) this.flush();
    const slot = this.execSlot++;
    const start = slot * SLOT_SIZE + RX_HEADROOM;
    this.buf.set(src.subarray(off, off + len), start);
    inferOffload(this.buf, start, len, this.vnet, slot * VNET_WORDS);
    this.run(acts, n, start, start, len);
    return true;
  }

  /** A pushed (+4) or popped (-4) tag moves the transport header: so do the header's offsets. */
  private shiftL4(d: number): void {
    const vm = this.vm;
    if ((vm[V_FLAGS_GSO] & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) vm[V_CSUM_START] += d;
    if (vm[V_HDR_LEN] !== 0) vm[V_HDR_LEN] += d;
  }

  /** Output of the current version (cur, clen, header this.vm) to port `portNo`. Returns true
   *  if a queue now refers to the version's bytes. */
  private output(portNo: number, cur: number, clen: number, queued: boolean): boolean {
    const port = this.ports.get(portNo);
    if (port === null) {
      this.cv[C_TX_NO_PORT]++;
      return false;
    }
    const vm = this.vm;
    const fix = offloadFix(vm[V_FLAGS_GSO], port.netdev.offloads);
    if (fix === FIX_NONE) {
      if (vm[V_FLAGS_GSO] >>> 8 !== 0) port.offload[PO_TX_GSO]++;
      this.enqueue(port, cur, clen, vm);
      return true;
    }
    const buf = this.buf;
    if (fix === FIX_CSUM) {
      if (!queued) {
        // Nobody else holds these bytes: finish the checksum in place, for every later output too.
        if (!completeCsum(buf, cur, clen, vm[V_CSUM_START], vm[V_CSUM_OFFSET])) {
          port.offload[PO_TX_OFFLOAD_BAD]++;
          return false;
        }
        vm[V_FLAGS_GSO] &= ~VIRTIO_NET_HDR_F_NEEDS_CSUM;
        port.offload[PO_TX_SW_CSUM]++;
        this.enqueue(port, cur, clen, vm);
        return true;
      }
      const at = this.scratch(clen);
      buf.copyWithin(at, cur, cur + clen);
      if (!completeCsum(buf, at, clen, vm[V_CSUM_START], vm[V_CSUM_OFFSET])) {
        port.offload[PO_TX_OFFLOAD_BAD]++;
        return false;
      }
      const done = this.vmDone;
      for (let w = 0; w < VNET_WORDS; w++) done[w] = vm[w];
      done[V_FLAGS_GSO] &= ~VIRTIO_NET_HDR_F_NEEDS_CSUM;
      port.offload[PO_TX_SW_CSUM]++;
      this.enqueue(port, at, clen, done);
      return false;
    }
    // FIX_SEGMENT: the port cannot take this GSO frame whole.
    const seg = this.seg;
    const nseg = seg.begin(buf, cur, clen, vm, 0);
    if (nseg === 0) {
      port.offload[PO_TX_OFFLOAD_BAD]++;
      return false;
    }
    const max = seg.segMax;
    for (let k = 0; k < nseg; k++) {
      const at = this.scratch(max);
      this.enqueue(port, at, seg.emit(k, buf, at), this.vmZero);
    }
    port.offload[PO_TX_SW_SEGMENTED]++;
    port.offload[PO_TX_SW_SEGMENTS] += nseg;
    return false;
  }

  /** `n` bytes of scratch; when the area is full every queue is flushed and it starts over. */
  private scratch(n: number): number {
    if (this.scratchPos + n > SCRATCH_END) this.flushQueues();
    const at = this.scratchPos;
    this.scratchPos = (at + n + ALIGN - 1) & ~(ALIGN - 1);
    return at;
  }

  private enqueue(port: Port, off: number, len: number, vm: Uint16Array): void {
    if (port.txCount === TXQ_MAX) this.flushPort(port);
    const c = port.txCount++;
    port.txOffs[c] = off;
    port.txLens[c] = len;
    const tv = port.txVnet;
    const b = c * VNET_WORDS;
    tv[b] = vm[0];
    tv[b + 1] = vm[1];
    tv[b + 2] = vm[2];
    tv[b + 3] = vm[3];
    tv[b + 4] = vm[4];
    if (!port.dirty) {
      port.dirty = true;
      if (this.nDirty === this.dirty.length) this.dirty.push(null); // grows once per new high-water mark
      this.dirty[this.nDirty++] = port;
    }
  }

  private flushPort(port: Port): void {
    const count = port.txCount;
    port.txCount = 0;
    if (count === 0) return;
    this.noteSent(port);
    const sent = port.netdev.txBurst(this.buf, port.txOffs, port.txLens, count, port.txVnetBytes);
    if (sent < count) this.cv[C_TX_FAILED] += count - sent;
  }

  private noteSent(port: Port): void {
    const n = this.nSent;
    if (n === SENT_MAX) return;
    const sentTo = this.sentTo;
    for (let k = 0; k < n; k++) if (sentTo[k] === port) return;
    sentTo[n] = port;
    this.nSent = n + 1;
  }

  /** Sends every queued frame (one txBurst per port with frames queued) and frees the slots
   *  used by execute(). Call after each batch and after each group of executes. */
  flush(): void {
    this.flushQueues();
    this.execSlot = 0;
  }

  private flushQueues(): void {
    const dirty = this.dirty;
    for (let k = 0; k < this.nDirty; k++) {
      const port = dirty[k] as Port;
      dirty[k] = null;
      port.dirty = false;
      this.flushPort(port);
    }
    this.nDirty = 0;
    this.scratchPos = SCRATCH_START;
  }
}
