/*
 * Holds back what clients would see until the durable commits it may depend on are on disk.
 * server.ts passes every transact reply, monitor reply and monitor notification through emit()
 * with the sequence number of the last durable commit written so far; the gate sends it at once
 * if that record is synced and nothing is queued, else queues it and sends it, in order, once
 * storage.sync() has covered it. So no client sees a durable commit, or anything that followed
 * it, before it is on stable storage, and everything is delivered in commit order. Control path.
 */
import type { Storage } from './storage.js';

interface Held {
  seq: number;
  send: (err: Error | null) => void;
}

export class OutputGate {
  private readonly queue: Held[] = [];
  private head = 0;
  /** Set when an fdatasync failed: outputs that waited for it get the error. */
  private error: Error | null = null;
  private errorSeq = 0;

  constructor(private readonly storage: Storage | null) {}

  /** Outputs waiting for a sync. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  /** Sends now or after record `seq` (0: none) is synced; `send` gets the sync error if any. */
  emit(seq: number, send: (err: Error | null) => void): void {
    if (this.waiting === 0 && (seq === 0 || !this.storage || this.storage.isSynced(seq))) {
      send(null);
      return;
    }
    this.queue.push({ seq, send });
  }

  /** Call when storage.sync() resolved or rejected: sends what is now allowed. */
  release(err: Error | null = null, seq = 0): void {
    if (err && seq > this.errorSeq) {
      this.error = err;
      this.errorSeq = seq;
    }
    while (this.head < this.queue.length) {
      const h = this.queue[this.head];
      const failed = this.error !== null && h.seq !== 0 && h.seq <= this.errorSeq;
      if (!failed && h.seq !== 0 && this.storage && !this.storage.isSynced(h.seq)) break;
      this.head++;
      h.send(failed ? this.error : null);
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    }
  }
}
