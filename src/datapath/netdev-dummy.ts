/*
 * Dummy netdev: an in-memory port for tests (no kernel device, no root). Tests inject() frames to
 * be received and read what the switch sent from `sent` / takeSent(). It follows the tap
 * provider's contract: readiness is level-triggered (onReadable keeps firing on the event loop
 * while frames are queued), runts are refused, every drop has a named counter. Not on a real
 * hot path, so it may allocate (it copies frames in and out). A frame may be injected with a
 * virtio-net header, and a dummy may claim offloads (options.offloads): then what it is sent
 * keeps its header too (sentVnet), so tests see what a tap or packet socket would get.
 */
import { VswitchError } from '../lib/errors.js';
import { BATCH_MAX, RX_HEADROOM, SLOT_SIZE, VNET_WORDS, type PacketBatch } from './batch.js';
import type { LinkState, Netdev, NetdevOptions, NetdevStats } from './netdev.js';

/** Frames waiting to be received before inject() starts dropping (like a device's rx ring). */
export const DUMMY_RX_QUEUE_MAX = 1024;
const ETH_HLEN = 14;

export class DummyNetdev implements Netdev {
  readonly name: string;
  readonly type = 'dummy' as const;
  readonly stats: NetdevStats;
  readonly offloads: number;
  /** Copies of every frame transmitted, oldest first. */
  sent: Uint8Array[];
  /** The virtio header (VNET_WORDS words) each of `sent` went out with. */
  sentVnet: Uint16Array[];
  /** Carrier: while false, txBurst drops frames as tx_link_down (like a tap that is down). */
  linkUp: boolean;
  private readonly macAddr: string;
  private queue: Uint8Array[];
  private queueVnet: (Uint16Array | null)[];
  private head: number;
  private onReadable: (() => boolean | void) | null;
  private wakePending: boolean;
  private closed: boolean;
  private readonly wakeFn: () => void;
  private readonly drops: { rx_queue_full: number; rx_too_big: number; rx_closed: number; tx_bad_frame: number; tx_link_down: number; tx_closed: number };

  constructor(name: string, options: NetdevOptions = {}) {
    this.name = name;
    this.stats = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, rxErrors: 0, txErrors: 0, rxDropped: 0, txDropped: 0 };
    this.offloads = options.offloads ?? 0;
    this.sent = [];
    this.sentVnet = [];
    this.linkUp = true;
    this.macAddr = options.mac?.toLowerCase() ?? '';
    this.queue = [];
    this.queueVnet = [];
    this.head = 0;
    this.onReadable = null;
    this.wakePending = false;
    this.closed = false;
    this.wakeFn = () => this.wake();
    this.drops = { rx_queue_full: 0, rx_too_big: 0, rx_closed: 0, tx_bad_frame: 0, tx_link_down: 0, tx_closed: 0 };
  }

  /** Queues a copy of `frame` (with virtio header `vnet`, VNET_WORDS words, if given) to be
   *  received; returns false (and counts a drop) if the port is closed, the queue is full or
   *  the frame is larger than a batch slot. */
  inject(frame: Uint8Array, vnet?: ArrayLike<number>): boolean {
    let reason: 'rx_closed' | 'rx_queue_full' | 'rx_too_big' | '' = '';
    if (this.closed) reason = 'rx_closed';
    else if (this.queue.length - this.head >= DUMMY_RX_QUEUE_MAX) reason = 'rx_queue_full';
    else if (frame.length > SLOT_SIZE - RX_HEADROOM) reason = 'rx_too_big';
    if (reason) {
      this.drops[reason]++;
      this.stats.rxDropped++;
      return false;
    }
    this.queue.push(frame.slice());
    this.queueVnet.push(vnet ? Uint16Array.from(vnet) : null);
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
    this.sentVnet = [];
    return out;
  }

  start(onReadable: () => boolean | void): void {
    if (this.closed) throw new VswitchError('NETDEV_CLOSED', `port '${this.name}': cannot start a closed netdev`);
    this.onReadable = onReadable;
    this.scheduleWake();
  }

  rxBurst(batch: PacketBatch): number {
    let n = 0;
    let bytes = 0;
    while (n < BATCH_MAX && this.head < this.queue.length) {
      const vnet = this.queueVnet[this.head];
      const frame = this.queue[this.head++];
      batch.offs[n] = n * SLOT_SIZE + RX_HEADROOM;
      batch.buf.set(frame, batch.offs[n]);
      batch.lens[n] = frame.length;
      for (let w = 0; w < VNET_WORDS; w++) batch.vnet[n * VNET_WORDS + w] = vnet ? vnet[w] : 0;
      bytes += frame.length;
      n++;
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.queueVnet.length = 0;
      this.head = 0;
    }
    batch.count = n;
    this.stats.rxPackets += n;
    this.stats.rxBytes += bytes;
    return n;
  }

  txBurst(buf: Uint8Array, offs: Int32Array, lens: Int32Array, count: number, vnet?: Uint8Array): number {
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
      const h = new Uint16Array(VNET_WORDS);
      if (vnet && this.offloads !== 0) h.set(new Uint16Array(vnet.buffer, vnet.byteOffset + i * 2 * VNET_WORDS, VNET_WORDS));
      this.sentVnet.push(h);
      s.txPackets++;
      s.txBytes += len;
      sent++;
    }
    return sent;
  }

  mac(): string {
    return this.macAddr;
  }

  linkState(): LinkState {
    return this.closed || !this.linkUp ? 'down' : 'up';
  }

  error(): string {
    return '';
  }

  dropCounters(): Record<string, number> {
    return { ...this.drops };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onReadable = null;
    this.queue = [];
    this.queueVnet = [];
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
