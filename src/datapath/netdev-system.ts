/*
 * System netdev: ports of type `system` (and OVS's empty type), an existing device the switch
 * does not own (a veth end, a QEMU guest's tap, a NIC) reached through an AF_PACKET socket bound
 * to it. Created by openNetdev() (netdev.ts, control path); rxBurst/txBurst are hot: one
 * native call per burst each way (frames come from a receive ring, or one recvmmsg where the
 * kernel refuses a ring: packet-io.ts; they go out with one sendmmsg on a second, send-only
 * socket, which nothing polls: on the receiving socket, every frame sent woke its poll's wait
 * queue when the receiver freed it, a lock round trip per frame).
 *
 * The socket takes only frames arriving on the device (PACKET_IGNORE_OUTGOING), carries a
 * virtio-net header per frame (PACKET_VNET_HDR: the 64 KiB TCP frames and partial checksums a
 * veth peer sends with offloads on pass whole, both ways; the kernel finishes them only where a
 * device needs it) and gets back the VLAN tag the kernel stripped (PACKET_AUXDATA), which
 * rxBurst puts back in the frame from the slot's headroom. Frames the kernel drops because the
 * ring or socket buffer is full are read from the socket's statistics every second
 * (rx_queue_full).
 *
 * A device that disappears (veth deleted, guest stopped) is noticed within a second (a 1 s
 * check of its ifindex, and at once when a read fails): the port stays, reports link state
 * 'missing' and why (error()), and reopens when a device of that name exists again. No busy
 * loop: a failing read stops the poll until the next check.
 *
 * Busy polling as on tap ports (netdev-tap.ts, vswitch_io.c pollSetBusy): after each wakeup the
 * event loop keeps polling for options.busyPollUs (default VSWITCH_BUSY_POLL_US or 50 µs)
 * before it sleeps; on veth ports it lifted one TCP stream by about 12%.
 */
import { release } from 'node:os';
import { VswitchError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { BATCH_MAX, RX_HEADROOM, SLOT_SIZE, V_FLAGS_GSO, VNET_HDR_LEN, VNET_WORDS, type PacketBatch } from './batch.js';
import {
  foldTxStats, IFF_RUNNING, IFF_UP, isNativeError, TX_STATS_SLOTS, txDropCounters, type VswitchIo, type VswitchIoBusy,
} from './native.js';
import { NetdevOpenError, NoSuchDeviceError, type LinkState, type Netdev, type NetdevOptions, type NetdevStats } from './netdev.js';
import { defaultBusyPollUs } from './netdev-tap.js';
import { OFFLOAD_CSUM, OFFLOAD_TSO, OFFLOAD_UFO, OFFLOAD_USO } from './offload.js';
import { loadPacketIo, packetRxMode, restoreVlanTags, RING_FRAME_SIZE, RING_FRAMES, type PacketIo } from './packet-io.js';

export { restoreVlanTags };

const CHECK_MS = 1000;
/** packetRingOpen failures that mean "no ring here" (fall back to recvmmsg), not "no device". */
const RING_REFUSED = new Set(['PACKET_VERSION', 'PACKET_COPY_THRESH', 'PACKET_RX_RING', 'mmap', 'packetRingOpen']);

/** True when the kernel takes UDP_L4 (USO) virtio headers from userspace (Linux 6.2 on). */
function kernelHasUso(): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release());
  return m !== null && (Number(m[1]) > 6 || (Number(m[1]) === 6 && Number(m[2]) >= 2));
}

export class SystemNetdev implements Netdev {
  readonly name: string;
  readonly type = 'system' as const;
  readonly stats: NetdevStats;
  offloads: number;
  /** The packet socket, -1 while the device is missing or after close(). */
  fd: number;
  /** ifindex the socket is bound to. */
  ifindex: number;
  /** The socket is read through its receive ring (else with recvmmsg). */
  ring: boolean;
  /** The send-only packet socket, -1 while the device is missing. */
  txFd: number;
  readonly txStats: Float64Array;
  private readonly io: VswitchIo & VswitchIoBusy & PacketIo;
  /** Busy-poll window after each wakeup, microseconds (0: sleep in epoll at once). */
  private readonly busyPollUs: number;
  private wantRing: boolean;
  private readonly log: Logger | undefined;
  private vnetLen: number;
  private readonly wantVnet: boolean;
  private pollHandle: number;
  private onReadable: (() => void) | null;
  private lastMac: string;
  private state: LinkState;
  private why: string;
  private closed: boolean;
  private readonly timer: NodeJS.Timeout;
  private rxErrorBursts: number;
  private rxTruncated: number;
  private rxVlanRestored: number;
  private rxGso: number;
  private txNoDevice: number;
  private rxQueueFull: number;

  /** Opens the port; throws NoSuchDeviceError (code NO_SUCH_DEVICE) if `name` does not exist
   *  and NetdevOpenError (NETDEV_OPEN) for any other failure. */
  static open(name: string, options: NetdevOptions = {}): SystemNetdev {
    const io = loadPacketIo();
    if (io.ifIndex(name) < 0) throw new NoSuchDeviceError(name);
    return new SystemNetdev(name, io, options);
  }

  private constructor(name: string, io: VswitchIo & VswitchIoBusy & PacketIo, options: NetdevOptions) {
    this.name = name;
    this.io = io;
    this.log = options.log;
    this.stats = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, rxErrors: 0, txErrors: 0, rxDropped: 0, txDropped: 0 };
    this.txStats = new Float64Array(TX_STATS_SLOTS);
    this.wantVnet = options.vnetHdr !== false;
    this.busyPollUs = options.busyPollUs ?? defaultBusyPollUs();
    this.vnetLen = 0;
    this.offloads = 0;
    this.fd = -1;
    this.ifindex = -1;
    this.ring = false;
    this.txFd = -1;
    this.wantRing = packetRxMode() === 'ring';
    this.pollHandle = 0;
    this.onReadable = null;
    this.lastMac = '';
    this.state = 'down';
    this.why = '';
    this.closed = false;
    this.rxErrorBursts = 0;
    this.rxTruncated = 0;
    this.rxVlanRestored = 0;
    this.rxGso = 0;
    this.txNoDevice = 0;
    this.rxQueueFull = 0;
    try {
      this.openSocket();
    } catch (err) {
      if (isNativeError(err) && (err.code === 'ENODEV' || err.code === 'ENXIO')) throw new NoSuchDeviceError(name);
      const msg = err instanceof Error ? err.message : String(err);
      throw new NetdevOpenError(`could not open network device ${name} (${msg})`, err);
    }
    this.timer = setInterval(() => this.check(), CHECK_MS);
    this.timer.unref();
  }

  /** Opens and binds the socket (with a virtio header if the kernel allows). Throws. */
  private openSocket(): void {
    const io = this.io;
    let fd: number;
    let vnet = this.wantVnet;
    try {
      fd = this.openFd(vnet);
    } catch (err) {
      if (!vnet || !isNativeError(err) || err.syscall !== 'PACKET_VNET_HDR') throw err;
      vnet = false;
      fd = this.openFd(false);
      this.log?.warn({ port: this.name }, 'packet socket without PACKET_VNET_HDR: offloads are finished in software');
    }
    this.fd = fd;
    try {
      this.txFd = io.packetTxOpen(this.name, vnet);
    } catch (err) {
      this.closeSocket();
      throw err;
    }
    this.ifindex = io.ifIndex(this.name);
    this.vnetLen = vnet ? VNET_HDR_LEN : 0;
    this.offloads = vnet ? OFFLOAD_CSUM | OFFLOAD_TSO | OFFLOAD_UFO | (kernelHasUso() ? OFFLOAD_USO : 0) : 0;
    try {
      this.lastMac = io.linkGetMac(this.name);
    } catch {
      // a device without a hardware address: keep ''
    }
    this.why = '';
    this.state = this.linkUp() ? 'up' : 'down';
  }

  /** Opens the socket with a receive ring, or for recvmmsg if the kernel refuses the ring
   *  (then for good: later reopens do not try again). Throws as packetOpen does. */
  private openFd(vnet: boolean): number {
    const io = this.io;
    if (this.wantRing) {
      try {
        const fd = io.packetRingOpen(this.name, vnet, RING_FRAMES, RING_FRAME_SIZE);
        this.ring = true;
        return fd;
      } catch (err) {
        if (!isNativeError(err) || !RING_REFUSED.has(err.syscall)) throw err;
        this.wantRing = false;
        this.log?.warn({ port: this.name, err: err.message }, 'no receive ring on the packet socket: reading with recvmmsg');
      }
    }
    this.ring = false;
    return io.packetOpen(this.name, vnet);
  }

  start(onReadable: () => boolean | void): void {
    if (this.closed) throw new VswitchError('NETDEV_CLOSED', `port '${this.name}': cannot start a closed netdev`);
    this.onReadable = onReadable;
    this.stopPoll();
    if (this.fd < 0) return;
    // A poll error stops libuv's poll: drop ours too, and let the next check() restart it.
    this.pollHandle = this.io.pollStart(this.fd, (status?: number) => {
      const queued = onReadable();
      if (status === undefined) return queued;
      this.stopPoll();
      return true;
    });
    if (this.busyPollUs > 0) this.io.pollSetBusy(this.pollHandle, this.busyPollUs);
  }

  rxBurst(batch: PacketBatch): number {
    if (this.fd < 0) {
      batch.count = 0;
      return 0;
    }
    const n = this.ring
      ? this.io.packetRingRecvBurst(this.fd, batch.buf, SLOT_SIZE, RX_HEADROOM, BATCH_MAX, batch.offs, batch.lens,
        batch.vnetBytes, this.vnetLen, batch.aux)
      : this.io.packetRecvBurst(this.fd, batch.buf, SLOT_SIZE, RX_HEADROOM, BATCH_MAX, batch.offs, batch.lens,
        batch.vnetBytes, this.vnetLen, batch.aux);
    if (n <= 0) {
      if (n < 0) this.rxFailed();
      batch.count = 0;
      return 0;
    }
    const aux = batch.aux;
    const vnet = batch.vnet;
    for (let i = 0; i < n; i++) {
      if (aux[i] !== 0) this.rxVlanRestored++;
      if (vnet[i * VNET_WORDS + V_FLAGS_GSO] >>> 8 !== 0) this.rxGso++;
    }
    const kept = restoreVlanTags(batch, n);
    if (kept < n) {
      this.rxTruncated += n - kept;
      this.stats.rxDropped += n - kept;
    }
    const lens = batch.lens;
    let bytes = 0;
    for (let i = 0; i < kept; i++) bytes += lens[i];
    batch.count = kept;
    this.stats.rxPackets += kept;
    this.stats.rxBytes += bytes;
    return kept;
  }

  txBurst(buf: Uint8Array, offs: Int32Array, lens: Int32Array, count: number, vnet: Uint8Array): number {
    const s = this.stats;
    if (this.txFd < 0) {
      this.txNoDevice += count;
      s.txDropped += count;
      return 0;
    }
    const t = this.txStats;
    const sent = this.io.packetSendBurst(this.txFd, buf, offs, lens, count, vnet, this.vnetLen, t);
    foldTxStats(s, t, sent, this.txNoDevice);
    return sent;
  }

  mac(): string {
    if (this.fd >= 0) {
      try {
        this.lastMac = this.io.linkGetMac(this.name);
      } catch {
        // gone since the last check: keep the last known value
      }
    }
    return this.lastMac;
  }

  linkState(): LinkState {
    return this.state;
  }

  error(): string {
    return this.why;
  }

  dropCounters(): Record<string, number> {
    const t = this.txStats;
    this.readSocketDrops();
    return {
      rx_error: this.rxErrorBursts,
      rx_truncated: this.rxTruncated,
      rx_queue_full: this.rxQueueFull,
      rx_vlan_restored: this.rxVlanRestored,
      rx_gso: this.rxGso,
      ...txDropCounters(t),
      tx_no_device: this.txNoDevice,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.onReadable = null;
    this.closeSocket();
  }

  /** Runs the device check now (tests; the timer runs it every second). */
  check(): void {
    if (this.closed) return;
    const idx = this.io.ifIndex(this.name);
    if (idx < 0) {
      if (this.state !== 'missing') {
        this.closeSocket();
        this.state = 'missing';
        this.why = `network device ${this.name} disappeared (No such device); the port resumes when a device of that name returns`;
        this.log?.warn({ port: this.name }, 'network device disappeared; waiting for it to return');
      }
      return;
    }
    if (this.fd < 0 || idx !== this.ifindex) {
      const back = this.state === 'missing';
      this.closeSocket();
      try {
        this.openSocket();
      } catch (err) {
        this.state = 'missing';
        this.why = `could not open network device ${this.name} (${err instanceof Error ? err.message : String(err)})`;
        return;
      }
      if (back) this.log?.info({ port: this.name, ifindex: this.ifindex }, 'network device returned; port resumed');
      if (this.onReadable !== null) this.start(this.onReadable);
      return;
    }
    if (this.pollHandle === 0 && this.onReadable !== null) this.start(this.onReadable);
    this.readSocketDrops();
    const up = this.linkUp();
    const state: LinkState = up ? 'up' : 'down';
    if (state !== this.state) this.log?.info({ port: this.name, link: state }, 'link state changed');
    this.state = state;
  }

  private linkUp(): boolean {
    const f = this.io.linkFlags(this.name);
    return f >= 0 && (f & IFF_UP) !== 0 && (f & IFF_RUNNING) !== 0;
  }

  /** A read failed (device down or removed): stop polling until the next check. */
  private rxFailed(): void {
    this.stats.rxErrors++;
    this.rxErrorBursts++;
    this.stopPoll();
  }

  /** Adds the frames the kernel dropped on the socket (ring or buffer full) since the last
   *  read to rx_queue_full and rxDropped. */
  private readSocketDrops(): void {
    if (this.fd < 0) return;
    const d = this.io.packetDrops(this.fd);
    if (d > 0) {
      this.rxQueueFull += d;
      this.stats.rxDropped += d;
    }
  }

  private stopPoll(): void {
    if (this.pollHandle !== 0) this.io.pollStop(this.pollHandle);
    this.pollHandle = 0;
  }

  private closeSocket(): void {
    this.stopPoll();
    this.readSocketDrops();
    const fd = this.fd;
    const txFd = this.txFd;
    this.fd = -1;
    this.txFd = -1;
    if (txFd >= 0) this.io.fdClose(txFd);
    if (fd < 0) return;
    if (this.ring) this.io.packetRingUnmap(fd);
    this.ring = false;
    this.io.fdClose(fd);
  }
}
