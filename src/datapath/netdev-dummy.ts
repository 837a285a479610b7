/*
 * Dummy netdev: an in-memory port for tests (no kernel device, no root). Tests inject() frames to
 * be received and read what the switch sent from `sent` / takeSent(). It follows the tap
 * provider's contract: readiness is level-triggered (onReadable keeps firing on the event loop
 * while frames are queued), runts are refused, every drop has a named counter. Not on a real
 * hot path, so it may allocate (it copies frames in and out).
 */
import { VswitchError } from '../lib/errors.js';
import { BATCH_MAX, SLOT_SIZE, type PacketBatch } from './batch.js';
import type { Netdev, NetdevOptions, NetdevStats } from './netdev.js';

/** Frames waiting to be received before inject() starts dropping (like a device's rx ring). */
export const DUMMY_RX_QUEUE_MAX = 1024;
const ETH_HLEN = 14;

export class DummyNetdev implements Netdev {
  readonly name: string;
  readonly type = 'dummy' as const;
  readonly stats: NetdevStats;
  /** Copies of every frame transmitted, oldest first. */
  sent: Uint8Array[];
  /** Carrier: while false, txBurst drops frames as tx_link_down (like a tap that is down). */
  linkUp: boolean;
  private readonly macAddr: string;
  private queue: Uint8Array[];
  private head: number;
  private onReadable: (() => void) | null;
  private wakePending: boolean;
  private closed: boolean;
  private readonly wakeFn: () => void;
  private readonly drops: { rx_queue_full: number; rx_too_big: number; rx_closed: number; tx_bad_frame: number; tx_link_down: number; tx_closed: number };

  constructor(name: string, options: NetdevOptions = {}) {
    this.name = name;
    this.stats = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, rxErrors: 0, txErrors: 0, rxDropped: 0, txDropped: 0 };
    this.sent = [];
    this.linkUp = true;
    this.macAddr = options.mac?.toLowerCase() ?? '';
    this.queue = [];
    this.head = 0;
    this.onReadable = null;
    this.wakePending = false;
    this.closed = false;
    this.wakeFn = () => this.wake();
    this.drops = { rx_queue_full: 0, rx_too_big: 0, rx_closed: 0, tx_bad_frame: 0, tx_link_down: 0, tx_closed: 0 };
  }

  /** Queues a copy of `frame` to be received; returns false (and counts a drop) if the port is
   *  closed, the queue is full or the frame is larger than a batch slot. */
  inject(frame: Uint8Array): boolean {
    let reason: 'rx_closed' | 'rx_queue_full' | 'rx_too_big' | '' = '';
    if (this.closed) reason = 'rx_closed';
    else if (this.queue.length - this.head >= DUMMY_RX_QUEUE_MAX) reason = 'rx_queue_full';
    else if (frame.length > SLOT_SIZE) reason = 'rx_too_big';
    if (reason) {
      this.drops[reason]++;
      this.stats.rxDropped++;
      return false;
    }
    this.queue.push(frame.slice());
    this.scheduleWake();
    return true;
  }

  /** Number of injected frames not yet received. */
  pending(): number {
    return this.queue.length - this.head;
  }

  /** Returns the frames sent so far and forgets them. */
  takeSent(): Uint8Array[] {
    const out = this.sent;
    this.sent = [];
    return out;
  }

  start(onReadable: () => void): void {
    if (this.closed) throw new VswitchError('NETDEV_CLOSED', `port '${this.name}': cannot start a closed netdev`);
    this.onReadable = onReadable;
    this.scheduleWake();
  }

  rxBurst(batch: PacketBatch): number {
    let n = 0;
    let bytes = 0;
    while (n < BATCH_MAX && this.head < this.queue.length) {
      const frame = this.queue[this.head++];
      batch.buf.set(frame, batch.offs[n]);
      batch.lens[n] = frame.length;
      bytes += frame.length;
      n++;
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    }
    batch.count = n;
    this.stats.rxPackets += n;
    this.stats.rxBytes += bytes;
    return n;
  }

  txBurst(buf: Uint8Array, offs: Int32Array, lens: Int32Array, count: number): number {
    const s = this.stats;
    if (this.closed || !this.linkUp) {
      this.drops[this.closed ? 'tx_closed' : 'tx_link_down'] += count;
      s.txDropped += count;
      return 0;
    }
    let sent = 0;
    for (let i = 0; i < count; i++) {
      const off = offs[i];
      const len = lens[i];
      if (len < ETH_HLEN || off < 0 || off + len > buf.length) {
        this.drops.tx_bad_frame++;
        s.txErrors++;
        continue;
      }
      this.sent.push(buf.slice(off, off + len));
      s.txPackets++;
      s.txBytes += len;
      sent++;
    }
    return sent;
  }

  mac(): string {
    return this.macAddr;
  }

  dropCounters(): Record<string, number> {
    return { ...this.drops };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onReadable = null;
    this.queue = [];
    this.head = 0;
  }

  private scheduleWake(): void {
    if (this.wakePending || this.onReadable === null || this.head === this.queue.length) return;
    this.wakePending = true;
    setImmediate(this.wakeFn);
  }

  private wake(): void {
    this.wakePending = false;
    const cb = this.onReadable;
    if (cb === null || this.head === this.queue.length) return;
    cb();
    this.scheduleWake(); // level-triggered: fire again while frames remain
  }
}
