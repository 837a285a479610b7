/*
 * Action execution (hot: once per frame that hit a flow, and per EXECUTE). Runs an odp action
 * list (src/lib/dpif-proto.ts) on a frame held in a slot of the datapath's one PacketBatch:
 * outputs are queued per egress port as (offset, length) into that same buffer, and flush()
 * sends each port's queue with one txBurst. Called by the pipeline and the dpif server; owns
 * the dirty-port list and the "current version" bookkeeping for header changes.
 *
 * Header changes never disturb copies already queued. A frame's slot is SLOT_SIZE bytes and a
 * frame rarely fills it, so a VLAN push/pop that follows an output writes the new version into
 * the free tail of the same slot (bump allocation) and leaves the queued bytes alone; a change
 * with no output before it is done in place (pop: a 12-byte move; push: one copyWithin). Only
 * when the tail is full (frames near 64 KiB) are all queues flushed first, then the change is
 * made in place. Every queue refers to one buffer, so each port is still one native call.
 *
 * Notes on performance: run() and flush() allocate nothing (execute() makes one typed-array
 * view to copy an EXECUTE packet in, once per miss); ports are looked up by number in a dense
 * array; the dirty list is a preallocated array with a count; an unknown port costs one store.
 */
import { ACT_OUTPUT, ACT_POP_VLAN, ACT_PUSH_VLAN } from '../lib/dpif-proto.js';
import { BATCH_MAX, SLOT_SIZE, type PacketBatch } from './batch.js';
import { C_ACTION_TOO_LONG, C_EXEC_BAD_ACTIONS, C_TX_FAILED, C_TX_NO_PORT, type Counters } from './counters.js';
import { TXQ_MAX, type Port, type PortTable } from './ports.js';

const VLAN_HLEN = 4;
/** Versions in a slot tail start on this alignment. */
const ALIGN = 8;

export class ActionRunner {
  private readonly buf: Uint8Array;
  private readonly cv: Float64Array;
  private dirty: (Port | null)[];
  private nDirty = 0;
  /** Next free slot for EXECUTE packets (slots are free between pipeline runs). */
  private execSlot = 0;

  constructor(private readonly batch: PacketBatch, private readonly ports: PortTable, counters: Counters) {
    this.buf = batch.buf;
    this.cv = counters.v;
    this.dirty = [];
    for (let i = 0; i < 64; i++) this.dirty.push(null);
  }

  /**
   * Runs acts[0..n) on the frame buf[off, off+len) that lives in the slot starting at
   * `slotStart`. May rewrite bytes of that slot beyond the frame. Never throws.
   */
  run(acts: Int32Array, n: number, slotStart: number, off: number, len: number): void {
    const buf = this.buf;
    const slotEnd = slotStart + SLOT_SIZE;
    let cur = off; // current version of the frame
    let clen = len;
    let tail = off + len; // first free byte of the slot
    let queued = false; // current version referenced by a tx queue
    let i = 0;
    while (i < n) {
      const op = acts[i];
      if (op === ACT_OUTPUT) {
        if (i + 1 >= n) break;
        this.enqueue(acts[i + 1], cur, clen);
        queued = true;
        i += 2;
      } else if (op === ACT_PUSH_VLAN) {
        if (i + 1 >= n) break;
        const tci = acts[i + 1] & 0xefff; // CFI marks "tag present" in keys; it is 0 on the wire
        const nlen = clen + VLAN_HLEN;
        const np = (tail + ALIGN - 1) & ~(ALIGN - 1);
        if (!queued && cur + nlen <= slotEnd) {
          buf.copyWithin(cur + 12 + VLAN_HLEN, cur + 12, cur + clen); // in place
        } else if (np + nlen <= slotEnd) {
          buf.copyWithin(np, cur, cur + 12); // new version in the slot tail
          buf.copyWithin(np + 12 + VLAN_HLEN, cur + 12, cur + clen);
          cur = np;
        } else {
          // Tail full: send what is queued, then rebuild from the slot start.
          this.flushQueues();
          if (slotStart + nlen > slotEnd) {
            this.cv[C_ACTION_TOO_LONG]++;
            return;
          }
          buf.copyWithin(slotStart, cur, cur + clen);
          cur = slotStart;
          tail = cur;
          buf.copyWithin(cur + 12 + VLAN_HLEN, cur + 12, cur + clen);
        }
        buf[cur + 12] = 0x81;
        buf[cur + 13] = 0x00;
        buf[cur + 14] = tci >>> 8;
        buf[cur + 15] = tci & 0xff;
        clen = nlen;
        if (cur + clen > tail) tail = cur + clen;
        queued = false;
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
            tail = np + clen - VLAN_HLEN;
          }
        }
        clen -= VLAN_HLEN;
        queued = false;
      } else {
        this.cv[C_EXEC_BAD_ACTIONS]++;
        return;
      }
    }
    if (i < n) this.cv[C_EXEC_BAD_ACTIONS]++;
  }

  /**
   * Runs actions on a packet that is not in the batch (EXECUTE): copies it into a free slot
   * first. Returns false if it does not fit a slot. The caller calls flush() when done with a
   * group of executes (at the latest before the next pipeline run).
   */
  execute(acts: Int32Array, n: number, src: Uint8Array, off: number, len: number): boolean {
    if (len > SLOT_SIZE) return false;
    if (this.execSlot === BATCH_MAX) this.flush();
    const slot = this.batch.offs[this.execSlot++];
    this.buf.set(src.subarray(off, off + len), slot);
    this.run(acts, n, slot, slot, len);
    return true;
  }

  private enqueue(portNo: number, off: number, len: number): void {
    const port = this.ports.get(portNo);
    if (port === null) {
      this.cv[C_TX_NO_PORT]++;
      return;
    }
    if (port.txCount === TXQ_MAX) this.flushPort(port);
    const c = port.txCount++;
    port.txOffs[c] = off;
    port.txLens[c] = len;
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
    const sent = port.netdev.txBurst(this.buf, port.txOffs, port.txLens, count);
    if (sent < count) this.cv[C_TX_FAILED] += count - sent;
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
  }
}
