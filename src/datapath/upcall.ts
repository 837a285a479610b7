/*
 * Upcall queue (hot on misses): frames that missed the flow table go to vswitchd as UPCALL
 * messages (src/lib/dpif-proto.ts) written into the vswitchd connection's FrameWriter and sent
 * with one socket.write per batch. Called by the pipeline (miss, flush) and the dpif server
 * (attach/detach the vswitchd connection). Bounded: when what the socket has not yet written
 * plus what is queued exceeds maxBytes, misses are dropped and counted (upcall_queue_full);
 * with no vswitchd connected they are dropped as upcall_lost.
 */
import type { Socket } from 'node:net';
import { KEY_WORDS } from '../lib/flow-key.js';
import { T_UPCALL, UPCALL_MISS, type FrameWriter } from '../lib/dpif-proto.js';
import { C_UPCALL_LOST, C_UPCALL_QUEUE_FULL, C_UPCALL_SENT, type Counters } from './counters.js';

export const UPCALL_MAX_BYTES = 4 * 1024 * 1024;

export class UpcallQueue {
  private sock: Socket | null = null;
  private writer: FrameWriter | null = null;
  private seq = 0;
  private readonly cv: Float64Array;

  constructor(counters: Counters, public maxBytes = UPCALL_MAX_BYTES) {
    this.cv = counters.v;
  }

  get connected(): boolean {
    return this.sock !== null;
  }

  /** Makes `sock` (writing through `writer`) the upcall receiver. */
  attach(sock: Socket, writer: FrameWriter): void {
    this.sock = sock;
    this.writer = writer;
  }

  detach(sock: Socket): void {
    if (this.sock !== sock) return;
    this.sock = null;
    this.writer = null;
  }

  /** Queues an UPCALL for the frame buf[off, off+len) with key keys[ko..]. Never throws. */
  miss(keys: Uint32Array, ko: number, buf: Uint8Array, off: number, len: number): void {
    const sock = this.sock;
    const w = this.writer;
    if (sock === null || w === null || !sock.writable) {
      this.cv[C_UPCALL_LOST]++;
      return;
    }
    if (sock.writableLength + w.pos + len > this.maxBytes) {
      this.cv[C_UPCALL_QUEUE_FULL]++;
      return;
    }
    this.seq = (this.seq + 1) >>> 0;
    w.begin(T_UPCALL, 0, this.seq);
    w.words(keys, ko, KEY_WORDS);
    w.u32(UPCALL_MISS);
    w.u32(len);
    w.bytes(buf, off, len);
    w.end();
    this.cv[C_UPCALL_SENT]++;
  }

  /** Writes what was queued (one socket.write). Called once per batch. */
  flush(): void {
    const sock = this.sock;
    const w = this.writer;
    if (sock === null || w === null || w.pos === 0) return;
    if (!sock.writable) {
      w.pos = 0;
      return;
    }
    sock.write(w.take());
  }
}
