/*
 * System netdev: ports of type `system` (and OVS's empty type), an existing device the switch
 * does not own (a veth end, a QEMU guest's tap, a NIC) reached through an AF_PACKET socket bound
 * to it. Created by openNetdev() (netdev.ts, control path); rxBurst/txBurst are hot: one
 * recvmmsg / sendmmsg per burst.
 *
 * The socket takes only frames arriving on the device (PACKET_IGNORE_OUTGOING), carries a
 * virtio-net header per frame (PACKET_VNET_HDR: the 64 KiB TCP frames and partial checksums a
 * veth peer sends with offloads on pass whole, both ways; the kernel finishes them only where a
 * device needs it) and gets back the VLAN tag the kernel stripped (PACKET_AUXDATA), which
 * rxBurst puts back in the frame from the slot's headroom.
 *
 * A device that disappears (veth deleted, guest stopped) is noticed within a second (a 1 s
 * check of its ifindex, and at once when a read fails): the port stays, reports link state
 * 'missing' and why (error()), and reopens when a device of that name exists again. No busy
 * loop: a failing read stops the poll until the next check.
 */
import { release } from 'node:os';
import { VswitchError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import {
  BATCH_MAX, RX_HEADROOM, SLOT_SIZE, V_CSUM_START, V_FLAGS_GSO, V_HDR_LEN, VIRTIO_NET_HDR_F_NEEDS_CSUM, VNET_HDR_LEN,
  VNET_WORDS, type PacketBatch,
} from './batch.js';
import {
  foldTxStats, IFF_RUNNING, IFF_UP, isNativeError, loadNative, TX_STATS_SLOTS, txDropCounters, type VswitchIo,
} from './native.js';
import { NetdevOpenError, NoSuchDeviceError, type LinkState, type Netdev, type NetdevOptions, type NetdevStats } from './netdev.js';
import { OFFLOAD_CSUM, OFFLOAD_TSO, OFFLOAD_UFO, OFFLOAD_USO } from './offload.js';

const CHECK_MS = 1000;
const VLAN_HLEN = 4;

/** True when the kernel takes UDP_L4 (USO) virtio headers from userspace (Linux 6.2 on). */
function kernelHasUso(): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release());
  return m !== null && (Number(m[1]) > 6 || (Number(m[1]) === 6 && Number(m[2]) >= 2));
}

/**
 * Puts back into frames 0..n-1 the VLAN tags the kernel stripped (batch.aux[i] = tpid << 16 |
 * tci, 0 for none) using the headroom in front of each frame, shifting a partial checksum's
 * start with it, and drops frames marked truncated (lens[i] < 0) by moving later ones down.
 * Returns the frames kept. Hot; exported for tests.
 */
export function restoreVlanTags(batch: PacketBatch, n: number): number {
  const buf = batch.buf;
  const offs = batch.offs;
  const lens = batch.lens;
  const aux = batch.aux;
  const vnet = batch.vnet;
  let k = 0;
  for (let i = 0; i < n; i++) {
    let off = offs[i];
    let len = lens[i];
    if (len < 0) continue;
    const tag = aux[i];
    if (tag !== 0 && len >= 12 && off - VLAN_HLEN >= i * SLOT_SIZE) {
      buf.copyWithin(off - VLAN_HLEN, off, off + 12);
      off -= VLAN_HLEN;
      len += VLAN_HLEN;
      buf[off + 12] = tag >>> 24;
      buf[off + 13] = (tag >>> 16) & 0xff;
      buf[off + 14] = (tag >>> 8) & 0xff;
      buf[off + 15] = tag & 0xff;
      const v = i * VNET_WORDS;
      if ((vnet[v + V_FLAGS_GSO] & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) vnet[v + V_CSUM_START] += VLAN_HLEN;
      if (vnet[v + V_HDR_LEN] !== 0) vnet[v + V_HDR_LEN] += VLAN_HLEN;
    }
    offs[k] = off;
    lens[k] = len;
    k++;
  }
  return k;
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
  readonly txStats: Float64Array;
  private readonly io: VswitchIo;
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

  /** Opens the port; throws NoSuchDeviceError (code NO_SUCH_DEVICE) if `name` does not exist
   *  and NetdevOpenError (NETDEV_OPEN) for any other failure. */
  static open(name: string, options: NetdevOptions = {}): SystemNetdev {
    const io = loadNative();
    if (io.ifIndex(name) < 0) throw new NoSuchDeviceError(name);
    return new SystemNetdev(name, io, options);
  }

  private constructor(name: string, io: VswitchIo, options: NetdevOptions) {
    this.name = name;
    this.io = io;
    this.log = options.log;
    this.stats = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, rxErrors: 0, txErrors: 0, rxDropped: 0, txDropped: 0 };
    this.txStats = new Float64Array(TX_STATS_SLOTS);
    this.wantVnet = options.vnetHdr !== false;
    this.vnetLen = 0;
    this.offloads = 0;
    this.fd = -1;
    this.ifindex = -1;
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
      fd = io.packetOpen(this.name, vnet);
    } catch (err) {
      if (!vnet || !isNativeError(err) || err.syscall !== 'PACKET_VNET_HDR') throw err;
      vnet = false;
      fd = io.packetOpen(this.name, false);
      this.log?.warn({ port: this.name }, 'packet socket without PACKET_VNET_HDR: offloads are finished in software');
    }
    this.fd = fd;
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

  start(onReadable: () => void): void {
    if (this.closed) throw new VswitchError('NETDEV_CLOSED', `port '${this.name}': cannot start a closed netdev`);
    this.onReadable = onReadable;
    this.stopPoll();
    if (this.fd < 0) return;
    // A poll error stops libuv's poll: drop ours too, and let the next check() restart it.
    this.pollHandle = this.io.pollStart(this.fd, (status?: number) => {
      onReadable();
      if (status !== undefined) this.stopPoll();
    });
  }

  rxBurst(batch: PacketBatch): number {
    if (this.fd < 0) {
      batch.count = 0;
      return 0;
    }
    const n = this.io.packetRecvBurst(this.fd, batch.buf, SLOT_SIZE, RX_HEADROOM, BATCH_MAX, batch.offs, batch.lens,
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
    if (this.fd < 0) {
      this.txNoDevice += count;
      s.txDropped += count;
      return 0;
    }
    const t = this.txStats;
    const sent = this.io.packetSendBurst(this.fd, buf, offs, lens, count, vnet, this.vnetLen, t);
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
    return {
      rx_error: this.rxErrorBursts,
      rx_truncated: this.rxTruncated,
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

  private stopPoll(): void {
    if (this.pollHandle !== 0) this.io.pollStop(this.pollHandle);
    this.pollHandle = 0;
  }

  private closeSocket(): void {
    this.stopPoll();
    const fd = this.fd;
    this.fd = -1;
    if (fd >= 0) this.io.fdClose(fd);
  }
}
