/*
 * Upcall queues (hot on misses): frames that missed both flow caches go to vswitchd as UPCALL
 * messages (src/lib/dpif-proto.ts), and frames an ACT_USERSPACE action sends up (packet-ins,
 * UPCALL_ACTION). Called by the pipeline (miss, flush), the action runner (userspace) and the
 * dpif server (attach/detach the vswitchd connection). Owns one queue per ingress port and the
 * budget of bytes in flight to vswitchd.
 *
 * Fairness and bounds: a miss is written as a complete UPCALL frame into its ingress port's
 * queue (a byte buffer). pump() moves frames to the socket round-robin, one frame per port per
 * round, and only while the socket has less than SOCK_LOW_WATER bytes unsent; the rest waits in
 * the port queues and goes out on the socket's 'drain'. So a port flooding new flows (a scan,
 * random source ports) fills its own queue and has its own misses dropped (upcall_queue_full),
 * while another port's occasional miss still waits behind at most one frame per busy port.
 * Two bounds hold memory: each port queue holds at most portMaxBytes, and all queues plus the
 * socket's unsent bytes at most maxBytes (beyond: upcall_limit), except that a port with an
 * empty queue may always queue one frame, so a quiet port is never locked out by busy ones.
 * With no vswitchd connected misses are dropped as upcall_lost, as is anything still queued
 * when it goes away.
 *
 * Notes on performance: a miss costs the frame copy into its queue (one typed-array view for
 * the copy) and nothing else allocates, except a port's queue growing (doubling, up to
 * portMaxBytes) and the round-robin list growing past its high-water mark. One socket.write
 * per pump.
 */
import type { Socket } from 'node:net';
import { KEY_BYTES, KEY_WORDS } from '../lib/flow-key.js';
import { HEADER_BYTES, HOST_LE, T_UPCALL, UPCALL_ACTION, UPCALL_MISS, type FrameWriter } from '../lib/dpif-proto.js';
import { C_UPCALL_LIMIT, C_UPCALL_LOST, C_UPCALL_QUEUE_FULL, C_UPCALL_SENT, type Counters } from './counters.js';
import { extractKey } from './extract.js';

/** Default bound on all upcall bytes in flight (port queues + unsent on the socket). */
export const UPCALL_MAX_BYTES = 4 * 1024 * 1024;
/** Default bound on one ingress port's queue. */
export const UPCALL_PORT_MAX_BYTES = 256 * 1024;
/** pump() stops filling the socket once this much is unsent on it. */
export const SOCK_LOW_WATER = 256 * 1024;
const RING_MIN = 4096;
const UPCALL_OVERHEAD = HEADER_BYTES + KEY_BYTES + 8;
const NO_USER = new Int32Array(0);

/** One ingress port's queue: complete UPCALL frames in buf[head, tail). */
class PortQueue {
  buf: Buffer;
  head = 0;
  tail = 0;
  /** On the round-robin list. */
  listed = false;
  constructor() {
    this.buf = Buffer.allocUnsafe(RING_MIN);
  }
}

export class UpcallQueue {
  private sock: Socket | null = null;
  private writer: FrameWriter | null = null;
  private seq = 0;
  private readonly cv: Float64Array;
  /** Queue of datapath port p at queues[p]; created on the port's first miss. */
  private queues: (PortQueue | null)[] = [];
  /** Round-robin list of ports with queued frames: a circular queue of port numbers. */
  private rr = new Int32Array(64);
  private rrHead = 0;
  private rrCount = 0;
  /** socket.write calls so far (each may queue a nextTick: Datapath.onReadable reports it). */
  socketWrites = 0;
  /** Bytes in all port queues. */
  private queued = 0;
  private readonly onDrain: () => void;
  /** Key of a frame sent up by ACT_USERSPACE (extracted from its current bytes). */
  private readonly key = new Uint32Array(KEY_WORDS);
  /** The last keys array enqueue() copied from and a Buffer over its memory (no copy), so a
   *  key goes into the queue with one native copy. Replaced only when the caller's array is. */
  private keysSeen: Uint32Array | null = null;
  private keysBuf: Buffer = Buffer.alloc(0);
  /** Bound on one port's queue. */
  portMaxBytes: number;

  constructor(counters: Counters, public maxBytes = UPCALL_MAX_BYTES, portMaxBytes = UPCALL_PORT_MAX_BYTES) {
    this.cv = counters.v;
    this.portMaxBytes = Math.min(portMaxBytes, maxBytes);
    this.onDrain = () => this.pump();
  }

  get connected(): boolean {
    return this.sock !== null;
  }

  /** Bytes waiting in the port queues (not yet handed to the socket). */
  get queuedBytes(): number {
    return this.queued;
  }

  /** Bytes handed to the socket and not yet written by the kernel. */
  get unsentBytes(): number {
    return this.sock === null ? 0 : this.sock.writableLength;
  }

  /** Makes `sock` (writing through `writer`) the upcall receiver. */
  attach(sock: Socket, writer: FrameWriter): void {
    if (this.sock !== null) this.detach(this.sock);
    this.sock = sock;
    this.writer = writer;
    sock.on('drain', this.onDrain);
  }

  detach(sock: Socket): void {
    if (this.sock !== sock) return;
    sock.removeListener('drain', this.onDrain);
    this.sock = null;
    this.writer = null;
    this.dropAll();
  }

  /** Queues an UPCALL for the frame buf[off, off+len) received on `inPort` with key keys[ko..]. Never throws. Hot. */
  miss(inPort: number, keys: Uint32Array, ko: number, buf: Uint8Array, off: number, len: number): void {
    this.enqueue(inPort, keys, ko, buf, off, len, UPCALL_MISS, len, NO_USER, 0, -1);
  }

  /**
   * Queues an UPCALL_ACTION for the frame buf[off, off+len) as the ACT_USERSPACE action at
   * acts[i] says (src/lib/dpif-proto.ts): reported on the port it names, with the key of the
   * frame as it is now, cut to its max_len, followed by its userdata. Same bounds as a miss.
   * Never throws. Per packet of a flow with a controller action.
   */
  userspace(acts: Int32Array, i: number, buf: Uint8Array, off: number, len: number): void {
    const inPort = acts[i + 2];
    if (inPort < 0 || inPort > 0xffff) {
      this.cv[C_UPCALL_LOST]++;
      return;
    }
    const maxLen = acts[i + 3];
    extractKey(buf, off, len, inPort, this.key, 0);
    this.enqueue(inPort, this.key, 0, buf, off, maxLen >= 0 && maxLen < len ? maxLen : len, UPCALL_ACTION, len, acts, i + 4, acts[i + 1] - 2);
  }

  /** Writes one UPCALL frame into `inPort`'s queue (nUser < 0: no UPCALL_ACTION extras). */
  private enqueue(
    inPort: number, keys: Uint32Array, ko: number, buf: Uint8Array, off: number, len: number, reason: number, totalLen: number,
    user: Int32Array, ui: number, nUser: number,
  ): void {
    const sock = this.sock;
    if (sock === null || !sock.writable) {
      this.cv[C_UPCALL_LOST]++;
      return;
    }
    const fl = UPCALL_OVERHEAD + len + (nUser >= 0 ? 8 + 4 * nUser : 0);
    let q = inPort < this.queues.length ? this.queues[inPort] : null;
    if (q === null) q = this.newQueue(inPort);
    const inQueue = q.tail - q.head;
    if (inQueue + fl > this.portMaxBytes) {
      this.cv[C_UPCALL_QUEUE_FULL]++;
      return;
    }
    if (inQueue !== 0 && this.queued + sock.writableLength + fl > this.maxBytes) {
      this.cv[C_UPCALL_LIMIT]++;
      return;
    }
    if (q.tail + fl > q.buf.length) this.makeRoom(q, fl);
    const b = q.buf;
    let p = q.tail;
    this.seq = (this.seq + 1) >>> 0;
    b.writeUInt32LE(fl - 4, p);
    b.writeUInt16LE(T_UPCALL, p + 4);
    b.writeUInt16LE(0, p + 6);
    b.writeUInt32LE(this.seq, p + 8);
    p += HEADER_BYTES;
    if (HOST_LE) {
      if (keys !== this.keysSeen) {
        this.keysSeen = keys;
        this.keysBuf = Buffer.from(keys.buffer, keys.byteOffset, keys.byteLength);
      }
      this.keysBuf.copy(b, p, ko * 4, ko * 4 + KEY_BYTES);
      p += KEY_BYTES;
    } else {
      for (let i = 0; i < KEY_WORDS; i++) {
        b.writeUInt32LE(keys[ko + i], p);
        p += 4;
      }
    }
    b.writeUInt32LE(reason, p);
    b.writeUInt32LE(len, p + 4);
    b.set(buf.subarray(off, off + len), p + 8);
    p += 8 + len;
    if (nUser >= 0) {
      b.writeUInt32LE(totalLen, p);
      b.writeUInt32LE(nUser, p + 4);
      p += 8;
      for (let k = 0; k < nUser; k++) {
        b.writeInt32LE(user[ui + k], p);
        p += 4;
      }
    }
    q.tail += fl;
    this.queued += fl;
    if (!q.listed) this.list(inPort, q);
  }

  /** Sends what the socket can take now (called once per batch and on 'drain'). */
  flush(): void {
    this.pump();
  }

  /**
   * Moves queued frames to the socket, one per port per round, until the socket holds
   * SOCK_LOW_WATER unsent bytes or the queues are empty; then one socket.write.
   */
  pump(): void {
    const sock = this.sock;
    const w = this.writer;
    if (sock === null || w === null) return;
    if (!sock.writable) {
      this.dropAll();
      return;
    }
    let budget = SOCK_LOW_WATER - sock.writableLength - w.pos;
    while (budget > 0 && this.rrCount > 0) {
      const port = this.rr[this.rrHead];
      this.rrHead = (this.rrHead + 1) & (this.rr.length - 1);
      this.rrCount--;
      const q = this.queues[port] as PortQueue;
      const fl = q.buf.readUInt32LE(q.head) + 4;
      w.bytes(q.buf, q.head, fl);
      q.head += fl;
      this.queued -= fl;
      budget -= fl;
      this.cv[C_UPCALL_SENT]++;
      if (q.head === q.tail) {
        q.head = 0;
        q.tail = 0;
        q.listed = false;
      } else {
        this.rr[(this.rrHead + this.rrCount) & (this.rr.length - 1)] = port;
        this.rrCount++;
      }
    }
    if (w.pos > 0) {
      sock.write(w.take());
      this.socketWrites++;
    }
  }

  private newQueue(port: number): PortQueue {
    while (this.queues.length <= port) this.queues.push(null);
    const q = new PortQueue();
    this.queues[port] = q;
    return q;
  }

  private list(port: number, q: PortQueue): void {
    if (this.rrCount === this.rr.length) {
      const n = new Int32Array(this.rr.length * 2);
      for (let i = 0; i < this.rrCount; i++) n[i] = this.rr[(this.rrHead + i) & (this.rr.length - 1)];
      this.rr = n;
      this.rrHead = 0;
    }
    this.rr[(this.rrHead + this.rrCount) & (this.rr.length - 1)] = port;
    this.rrCount++;
    q.listed = true;
  }

  /** Compacts the queue to its start, growing it (doubling) if that is not enough. */
  private makeRoom(q: PortQueue, fl: number): void {
    const used = q.tail - q.head;
    if (q.head > 0) {
      q.buf.copy(q.buf, 0, q.head, q.tail);
      q.head = 0;
      q.tail = used;
    }
    if (used + fl <= q.buf.length) return;
    let size = q.buf.length * 2;
    while (size < used + fl) size *= 2;
    const nb = Buffer.allocUnsafe(size);
    q.buf.copy(nb, 0, 0, used);
    q.buf = nb;
  }

  private dropAll(): void {
    for (const q of this.queues) {
      if (q === null || q.tail === q.head) continue;
      for (let p = q.head; p < q.tail; p += q.buf.readUInt32LE(p) + 4) this.cv[C_UPCALL_LOST]++;
      q.head = 0;
      q.tail = 0;
      q.listed = false;
    }
    this.queued = 0;
    this.rrHead = 0;
    this.rrCount = 0;
  }
}
