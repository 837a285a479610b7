/*
 * Tap netdev: ports of type `tap` and `internal`, both tap devices the switch creates (exclusively)
 * and owns through an fd; closing the fd removes the device. `tap` is set admin-up on the host
 * side so it works once moved into a namespace or handed to a guest; `internal` is the bridge's
 * host interface and is left admin-down, like OVS, for the user to bring up. Created by
 * openNetdev() (netdev.ts, control path); rxBurst/txBurst are hot: one native call per burst.
 *
 * Offloads: the tap is opened with IFF_VNET_HDR and TUNSETOFFLOAD(CSUM, TSO4, TSO6, TSO_ECN and
 * USO4/6 where the kernel has them), so the stack behind it hands over 64 KiB TCP frames with
 * partial checksums, and frames written to it may be the same (the kernel takes any virtio GSO
 * type from userspace). If the device is deleted behind the switch's back (`ip link del`, or
 * its namespace removed), the port says so (error()) and recreates it every second until it can.
 *
 * Busy polling: after each wakeup of a tap port the event loop keeps polling, yielding the CPU
 * on every turn, for DEFAULT_BUSY_POLL_US (or VSWITCH_BUSY_POLL_US; 0 = off) before it sleeps
 * in epoll again (vswitch_io.c pollSetBusy). A stream of frames then costs no thread wakeups,
 * and the scheduler stops pulling the switch onto the sender's CPU; an idle switch sleeps.
 */
import { VswitchError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { BATCH_MAX, RX_HEADROOM, SLOT_SIZE, V_FLAGS_GSO, VNET_HDR_LEN, VNET_WORDS, type PacketBatch } from './batch.js';
import {
  IFF_RUNNING, IFF_UP, loadNativeBusy, TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN, TUN_F_USO4, TUN_F_USO6,
  foldTxStats, TX_STATS_SLOTS, txDropCounters, type VswitchIo, type VswitchIoBusy,
} from './native.js';
import type { LinkState, Netdev, NetdevOptions, NetdevStats } from './netdev.js';
import { OFFLOAD_CSUM, OFFLOAD_TSO, OFFLOAD_UFO, OFFLOAD_USO } from './offload.js';

const EBADFD = 77;

/** Busy-poll window of tap ports, microseconds (see the header). */
export const DEFAULT_BUSY_POLL_US = 50;

/** VSWITCH_BUSY_POLL_US when it is an integer in 0..100000, else DEFAULT_BUSY_POLL_US. */
export function defaultBusyPollUs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.VSWITCH_BUSY_POLL_US;
  const v = raw === undefined || raw.trim() === '' ? NaN : Number(raw);
  return Number.isInteger(v) && v >= 0 && v <= 100000 ? v : DEFAULT_BUSY_POLL_US;
}
const RECOVER_MS = 1000;

export class TapNetdev implements Netdev {
  readonly name: string;
  readonly type: 'tap' | 'internal';
  readonly stats: NetdevStats;
  offloads: number;
  /** The tap fd, -1 once closed or while the device is gone. */
  fd: number;
  /** Accumulated by the addon's sendBurst: bytes sent and frames dropped per errno class. */
  readonly txStats: Float64Array;
  private readonly io: VswitchIo & VswitchIoBusy;
  /** Busy-poll window after each wakeup, microseconds (0: sleep in epoll at once). */
  private readonly busyPollUs: number;
  private readonly vnetLen: number;
  private readonly options: NetdevOptions;
  private readonly log: Logger | undefined;
  private pollHandle: number;
  private onReadable: (() => void) | null;
  private lastMac: string;
  private closed: boolean;
  /** Set while the device is gone and being recreated. */
  private lost: string;
  private recoverTimer: NodeJS.Timeout | null;
  /** rxBurst calls that failed with an errno (the fd or device went bad). */
  private rxErrorBursts: number;
  /** Frames handed to txBurst after close() or while the device was gone. */
  private txClosed: number;
  /** Frames received as GSO (more than one wire frame's worth). */
  private rxGso: number;

  /** Throws the addon's errno error (code 'EBUSY', 'EPERM', ...); openNetdev turns it into a
   *  NetdevOpenError with a message for the user. */
  constructor(name: string, type: 'tap' | 'internal', options: NetdevOptions = {}) {
    this.name = name;
    this.type = type;
    this.stats = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, rxErrors: 0, txErrors: 0, rxDropped: 0, txDropped: 0 };
    this.txStats = new Float64Array(TX_STATS_SLOTS);
    this.io = loadNativeBusy();
    this.busyPollUs = options.busyPollUs ?? defaultBusyPollUs();
    this.vnetLen = options.vnetHdr === false ? 0 : VNET_HDR_LEN;
    this.options = options;
    this.log = options.log;
    this.pollHandle = 0;
    this.onReadable = null;
    this.closed = false;
    this.lost = '';
    this.recoverTimer = null;
    this.rxErrorBursts = 0;
    this.txClosed = 0;
    this.rxGso = 0;
    this.offloads = 0;
    this.lastMac = '';
    this.fd = -1;
    this.openDevice();
  }

  /** Creates the tap device and configures it; throws the addon's error (nothing left open). */
  private openDevice(): void {
    const io = this.io;
    const fd = io.tapOpen(this.name, this.vnetLen !== 0, true);
    try {
      let offloads = 0;
      if (this.vnetLen !== 0) {
        const f = io.tapSetOffload(fd, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_USO4 | TUN_F_USO6);
        offloads = OFFLOAD_CSUM | OFFLOAD_TSO | OFFLOAD_UFO | ((f & TUN_F_USO4) !== 0 ? OFFLOAD_USO : 0);
      }
      if (this.options.mac !== undefined) io.linkSetMac(this.name, this.options.mac);
      if (this.type === 'tap') io.linkSetUp(this.name, true);
      this.lastMac = io.linkGetMac(this.name);
      this.offloads = offloads;
    } catch (err) {
      io.fdClose(fd);
      throw err;
    }
    this.fd = fd;
  }

  start(onReadable: () => boolean | void): void {
    if (this.closed) throw new VswitchError('NETDEV_CLOSED', `port '${this.name}': cannot start a closed netdev`);
    this.onReadable = onReadable;
    if (this.pollHandle !== 0) this.io.pollStop(this.pollHandle);
    this.pollHandle = 0;
    if (this.fd < 0) return;
    // A poll error stops libuv's poll: if the read did not already explain it, retry later.
    this.pollHandle = this.io.pollStart(this.fd, (status?: number) => {
      const queued = onReadable();
      if (status === undefined) return queued;
      if (this.pollHandle !== 0) this.rxFailed(0);
      return true;
    });
    if (this.busyPollUs > 0) this.io.pollSetBusy(this.pollHandle, this.busyPollUs);
  }

  rxBurst(batch: PacketBatch): number {
    if (this.fd < 0) {
      batch.count = 0;
      return 0;
    }
    const n = this.io.tapRecvBurst(this.fd, batch.buf, SLOT_SIZE, RX_HEADROOM, BATCH_MAX, batch.offs, batch.lens, batch.vnetBytes, this.vnetLen);
    if (n <= 0) {
      if (n < 0) this.rxFailed(-n);
      batch.count = 0;
      return 0;
    }
    const lens = batch.lens;
    const vnet = batch.vnet;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      bytes += lens[i];
      if (vnet[i * VNET_WORDS + V_FLAGS_GSO] >>> 8 !== 0) this.rxGso++;
    }
    batch.count = n;
    this.stats.rxPackets += n;
    this.stats.rxBytes += bytes;
    return n;
  }

  txBurst(buf: Uint8Array, offs: Int32Array, lens: Int32Array, count: number, vnet: Uint8Array): number {
    const s = this.stats;
    if (this.fd < 0) {
      this.txClosed += count;
      s.txDropped += count;
      return 0;
    }
    // The addon adds to txStats in place; counters are derived from it so that every frame is
    // either sent or counted under exactly one reason.
    const t = this.txStats;
    const sent = this.io.tapSendBurst(this.fd, buf, offs, lens, count, vnet, this.vnetLen, t);
    foldTxStats(s, t, sent, this.txClosed);
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

  linkState(): LinkState {
    if (this.fd < 0) return 'down';
    const f = this.io.linkFlags(this.name);
    if (f < 0) return 'up'; // moved into another namespace: attached, so carrier is on
    return (f & IFF_UP) !== 0 && (f & IFF_RUNNING) !== 0 ? 'up' : 'down';
  }

  error(): string {
    return this.lost;
  }

  dropCounters(): Record<string, number> {
    const t = this.txStats;
    return {
      rx_error: this.rxErrorBursts,
      ...txDropCounters(t),
      tx_closed: this.txClosed,
      rx_gso: this.rxGso,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onReadable = null;
    if (this.recoverTimer !== null) clearInterval(this.recoverTimer);
    this.recoverTimer = null;
    this.closeFd();
  }

  private closeFd(): void {
    if (this.pollHandle !== 0) this.io.pollStop(this.pollHandle);
    this.pollHandle = 0;
    const fd = this.fd;
    this.fd = -1;
    if (fd >= 0) this.io.fdClose(fd);
  }

  /** A read failed: EBADFD means the device was deleted (the fd is detached); anything else
   *  stops the poll (libuv stops it on a poll error anyway) and retries a second later. Either
   *  way nothing spins. */
  private rxFailed(errno: number): void {
    this.stats.rxErrors++;
    this.rxErrorBursts++;
    if (this.recoverTimer !== null) return;
    if (errno === EBADFD) {
      this.lost = `tap device ${this.name} was removed; the switch recreates it`;
      this.log?.warn({ port: this.name }, 'tap device removed; recreating it');
      this.closeFd();
    } else if (this.pollHandle !== 0) {
      this.io.pollStop(this.pollHandle);
      this.pollHandle = 0;
    }
    this.recoverTimer = setInterval(() => this.recover(), RECOVER_MS);
    this.recoverTimer.unref();
  }

  private recover(): void {
    if (this.closed) return;
    if (this.fd < 0) {
      try {
        this.openDevice();
      } catch {
        return; // still in use or not allowed yet: try again next time
      }
      this.log?.info({ port: this.name }, 'tap device recreated');
      this.lost = '';
    }
    if (this.recoverTimer !== null) clearInterval(this.recoverTimer);
    this.recoverTimer = null;
    if (this.onReadable !== null) this.start(this.onReadable);
  }
}
