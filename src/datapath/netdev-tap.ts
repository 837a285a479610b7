/*
 * Tap netdev: ports of type `tap` and `internal`, both tap devices the switch creates (exclusively)
 * and owns through an fd; closing the fd removes the device. `tap` is set admin-up on the host
 * side so it works once moved into a namespace or handed to a guest; `internal` is the bridge's
 * host interface and is left admin-down, like OVS, for the user to bring up. Created by
 * openNetdev() (netdev.ts, control path); rxBurst/txBurst are hot: one native call per burst.
 */
import { VswitchError } from '../lib/errors.js';
import { BATCH_MAX, SLOT_SIZE, type PacketBatch } from './batch.js';
import {
  loadNative, TX_STATS_SLOTS, TXS_AGAIN, TXS_BYTES, TXS_DOWN, TXS_INVAL, TXS_MSGSIZE, TXS_NOBUFS, TXS_OTHER,
  type VswitchIo,
} from './native.js';
import type { Netdev, NetdevOptions, NetdevStats } from './netdev.js';

export class TapNetdev implements Netdev {
  readonly name: string;
  readonly type: 'tap' | 'internal';
  readonly stats: NetdevStats;
  /** The tap fd, -1 once closed. */
  fd: number;
  /** Accumulated by the addon's sendBurst: bytes sent and frames dropped per errno class. */
  readonly txStats: Float64Array;
  private readonly io: VswitchIo;
  private pollHandle: number;
  private lastMac: string;
  /** rxBurst calls that failed with an errno (the fd or device went bad). */
  private rxErrorBursts: number;
  /** Frames handed to txBurst after close(). */
  private txClosed: number;

  /** Throws the addon's errno error (code 'EBUSY', 'EPERM', ...); openNetdev turns it into a
   *  NetdevOpenError with a message for the user. */
  constructor(name: string, type: 'tap' | 'internal', options: NetdevOptions = {}) {
    this.name = name;
    this.type = type;
    this.stats = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, rxErrors: 0, txErrors: 0, rxDropped: 0, txDropped: 0 };
    this.txStats = new Float64Array(TX_STATS_SLOTS);
    this.io = loadNative();
    this.pollHandle = 0;
    this.rxErrorBursts = 0;
    this.txClosed = 0;
    this.fd = this.io.tapOpen(name, options.vnetHdr === true, true);
    try {
      if (options.mac !== undefined) this.io.linkSetMac(name, options.mac);
      if (type === 'tap') this.io.linkSetUp(name, true);
      this.lastMac = this.io.linkGetMac(name);
    } catch (err) {
      this.io.fdClose(this.fd);
      this.fd = -1;
      throw err;
    }
  }

  start(onReadable: () => void): void {
    if (this.fd < 0) throw new VswitchError('NETDEV_CLOSED', `port '${this.name}': cannot start a closed netdev`);
    if (this.pollHandle !== 0) this.io.pollStop(this.pollHandle);
    this.pollHandle = this.io.pollStart(this.fd, onReadable);
  }

  rxBurst(batch: PacketBatch): number {
    if (this.fd < 0) {
      batch.count = 0;
      return 0;
    }
    const n = this.io.recvBurst(this.fd, batch.buf, SLOT_SIZE, BATCH_MAX, batch.lens);
    if (n <= 0) {
      if (n < 0) {
        this.stats.rxErrors++;
        this.rxErrorBursts++;
      }
      batch.count = 0;
      return 0;
    }
    const lens = batch.lens;
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += lens[i];
    batch.count = n;
    this.stats.rxPackets += n;
    this.stats.rxBytes += bytes;
    return n;
  }

  txBurst(buf: Uint8Array, offs: Int32Array, lens: Int32Array, count: number): number {
    const s = this.stats;
    if (this.fd < 0) {
      this.txClosed += count;
      s.txDropped += count;
      return 0;
    }
    // The addon adds to txStats in place; counters are derived from it so that every frame is
    // either sent or counted under exactly one reason.
    const t = this.txStats;
    const sent = this.io.sendBurst(this.fd, buf, offs, lens, count, t);
    s.txPackets += sent;
    s.txBytes = t[TXS_BYTES];
    s.txDropped = t[TXS_AGAIN] + t[TXS_NOBUFS] + t[TXS_DOWN] + this.txClosed;
    s.txErrors = t[TXS_INVAL] + t[TXS_MSGSIZE] + t[TXS_OTHER];
    return sent;
  }

  mac(): string {
    // The device may have been moved into another namespace: then the last MAC seen is kept.
    if (this.fd >= 0 && this.io.ifIndex(this.name) >= 0) {
      try {
        this.lastMac = this.io.linkGetMac(this.name);
      } catch {
        // raced with a move or removal: keep the last known value
      }
    }
    return this.lastMac;
  }

  dropCounters(): Record<string, number> {
    const t = this.txStats;
    return {
      rx_error: this.rxErrorBursts,
      tx_queue_full: t[TXS_AGAIN],
      tx_no_buffers: t[TXS_NOBUFS],
      tx_link_down: t[TXS_DOWN],
      tx_bad_frame: t[TXS_INVAL],
      tx_too_big: t[TXS_MSGSIZE],
      tx_other_error: t[TXS_OTHER],
      tx_closed: this.txClosed,
    };
  }

  close(): void {
    if (this.fd < 0) return;
    if (this.pollHandle !== 0) this.io.pollStop(this.pollHandle);
    this.pollHandle = 0;
    const fd = this.fd;
    this.fd = -1;
    this.io.fdClose(fd);
  }
}
