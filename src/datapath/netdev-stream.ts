/*
 * Stream netdev: ports of type `stream`, a Unix stream socket the datapath listens on
 * (options:path) for one peer, typically QEMU's `-netdev stream,server=off,addr.type=unix,
 * addr.path=PATH`: no tap, and no privileges on the VM's side. Each frame travels as a 4-byte
 * big-endian length followed by the frame. Created by openNetdev() (netdev.ts, control path);
 * rxBurst/txBurst are hot: one native call per burst.
 *
 * Peers: one at a time. While none is connected the link is down and frames sent to the port
 * are dropped (tx_link_down). When the peer closes (the VM shut down or was killed) the link
 * goes down and the port listens for the next one, so a restarted VM connects again; a second
 * connection while the peer is alive is refused (connects_refused). A frame length below 14 or
 * above a batch slot cannot be resynchronised: counted (rx_bad_frame) and the connection reset.
 * The socket file gets options:mode (default 0660) and options:group (so a VM that does not
 * run as root can connect) before it listens; it replaces a socket file a dead process left,
 * is re-created within a second if someone deletes it, and is removed when the port goes.
 *
 * Notes on performance: reads go through the addon (streamRecvBurst) into a ring owned by the
 * port, not through net.Socket: the ring outlives a burst (a frame split across reads, or more
 * frames than a batch takes, waits there), and copying each frame from it into its batch slot
 * needs a memcpy, which JavaScript cannot do between two buffers without a view object per
 * frame (net.Socket's `onread` avoids a buffer per read, but pushes data at its own pace
 * into one buffer that its next read overwrites, while rxBurst pulls). Writes are one sendmsg per burst straight from the batch; what the
 * socket does not take (a slow peer) is queued in a fixed buffer, and frames that do not fit
 * there are dropped and counted (tx_queue_full): never an unbounded queue. The port takes no
 * virtio header (offloads 0): GSO frames and partial checksums from taps are finished in
 * software before they reach it (offload.ts), as QEMU's stream netdev expects. Allocation on
 * the hot path happens only at rare edges: a setImmediate when frames are left in the ring
 * (at most once per turn of the event loop), and the close and log when a connection ends.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname } from 'node:path';
import { VswitchError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { parseStreamMode, resolveGroup, streamOptionsError } from '../lib/stream-options.js';
import { BATCH_MAX, RX_HEADROOM, SLOT_SIZE, VNET_WORDS, type PacketBatch } from './batch.js';
import {
  isNativeError, loadNative, POLL_READABLE, POLL_WRITABLE, PS_ERRNO, PS_HEAD, PS_SLOTS, PS_TAIL, RS_BAD, RS_BADLEN,
  RS_EOF, RS_HEAD, RS_MORE, RS_SLOTS, RS_STATUS, RS_TAIL, TX_STATS_SLOTS, TXS_AGAIN, TXS_BYTES, TXS_DOWN, TXS_INVAL,
  type VswitchIo,
} from './native.js';
import { NetdevOpenError, type LinkState, type Netdev, type NetdevOptions, type NetdevStats } from './netdev.js';

/** Bytes of received data a port holds (a frame split across reads, frames beyond a burst). */
export const STREAM_RING_BYTES = 256 * 1024;
/** Bytes a port queues for a peer that is slower than the switch; beyond them frames drop. */
export const STREAM_TX_PENDING_BYTES = 256 * 1024;
const CHECK_MS = 1000;
const EAGAIN = osConstants.errno.EAGAIN;

export class StreamNetdev implements Netdev {
  readonly name: string;
  readonly type = 'stream' as const;
  readonly stats: NetdevStats;
  readonly offloads = 0;
  /** The socket file peers connect to, its permission bits and group (-1: the datapath's). */
  readonly path: string;
  readonly mode: number;
  readonly gid: number;
  /** The listening socket, -1 after close() or while it cannot be re-created. */
  listenFd: number;
  /** The peer's connection, -1 while none is connected. */
  connFd: number;
  readonly txStats: Float64Array;
  private readonly io: VswitchIo;
  private readonly log: Logger | undefined;
  /** Received bytes not yet delivered: ring[rs[RS_HEAD] .. rs[RS_TAIL]). */
  private readonly ring: Uint8Array;
  private readonly rs: Int32Array;
  /** Accepted bytes the socket has not taken yet: pend[ps[PS_HEAD] .. ps[PS_TAIL]). */
  private readonly pend: Uint8Array;
  private readonly ps: Int32Array;
  private readonly noFrames: Int32Array;
  private readonly connCb: (status?: number, events?: number) => void;
  private readonly listenCb: (status?: number) => void;
  private readonly wakeFn: () => void;
  private readonly timer: NodeJS.Timeout;
  private onReadable: (() => boolean | void) | null;
  private listenPoll: number;
  private connPoll: number;
  private wantWrite: boolean;
  private wakePending: boolean;
  private closed: boolean;
  /** Identity of the socket file this port made (to re-create it, or remove only our own). */
  private fileIno: number;
  private why: string;
  private rxBadFrame: number;
  private rxTruncated: number;
  private rxError: number;
  private txLinkDown: number;
  private connects: number;
  private disconnects: number;
  private connectsRefused: number;

  /** Opens the port: checks options path, mode and group and listens. Throws NetdevOpenError
   *  (NETDEV_OPEN) with a message that names the port and what to change. */
  static open(name: string, options: NetdevOptions = {}): StreamNetdev {
    const bad = streamOptionsError(name, options);
    if (bad) throw new NetdevOpenError(bad);
    const gid = options.group === undefined ? -1 : resolveGroup(options.group);
    if (gid < 0 && options.group !== undefined) throw new NetdevOpenError(`stream port ${name}: options:group: no group named '${options.group}'`);
    return new StreamNetdev(name, options.path!, parseStreamMode(options.mode), gid, loadNative(), options);
  }

  private constructor(name: string, path: string, mode: number, gid: number, io: VswitchIo, options: NetdevOptions) {
    this.name = name;
    this.path = path;
    this.mode = mode;
    this.gid = gid;
    this.io = io;
    this.log = options.log;
    this.stats = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, rxErrors: 0, txErrors: 0, rxDropped: 0, txDropped: 0 };
    this.txStats = new Float64Array(TX_STATS_SLOTS);
    this.ring = new Uint8Array(STREAM_RING_BYTES);
    this.rs = new Int32Array(RS_SLOTS);
    this.pend = new Uint8Array(STREAM_TX_PENDING_BYTES);
    this.ps = new Int32Array(PS_SLOTS);
    this.noFrames = new Int32Array(1);
    this.connCb = (status?: number, events?: number) => this.onConnEvents(status, events ?? 0);
    this.listenCb = (status?: number) => this.onListenReadable(status);
    this.wakeFn = () => this.wake();
    this.onReadable = null;
    this.listenFd = -1;
    this.connFd = -1;
    this.listenPoll = 0;
    this.connPoll = 0;
    this.wantWrite = false;
    this.wakePending = false;
    this.closed = false;
    this.fileIno = -1;
    this.why = '';
    this.rxBadFrame = 0;
    this.rxTruncated = 0;
    this.rxError = 0;
    this.txLinkDown = 0;
    this.connects = 0;
    this.disconnects = 0;
    this.connectsRefused = 0;
    this.listen();
    this.timer = setInterval(() => this.check(), CHECK_MS);
    this.timer.unref();
  }

  /** Creates the socket file and listens on it; throws NetdevOpenError. */
  private listen(): void {
    let fd: number;
    try {
      fd = this.io.unixListen(this.path, this.mode, this.gid);
    } catch (err) {
      throw new NetdevOpenError(`stream port ${this.name}: cannot listen on ${this.path}: ${this.listenReason(err)}`, err);
    }
    this.listenFd = fd;
    try {
      this.fileIno = lstatSync(this.path).ino;
    } catch {
      this.fileIno = -1;
    }
    this.listenPoll = this.io.pollStart(fd, this.listenCb);
    this.why = '';
  }

  private listenReason(err: unknown): string {
    if (!isNativeError(err)) return err instanceof Error ? err.message : String(err);
    switch (err.code) {
      case 'EADDRINUSE': return 'another process is listening there';
      case 'EEXIST': return 'a file that is not a socket is in the way';
      case 'ENOENT': return `directory ${dirname(this.path)} does not exist`;
      case 'ENOTDIR': return `a component of ${dirname(this.path)} is not a directory`;
      case 'EACCES': return 'permission denied';
      case 'EPERM': return err.syscall === 'chown' ? `not allowed to give the socket group ${this.gid}` : 'permission denied';
      default: return err.message;
    }
  }

  start(onReadable: () => boolean | void): void {
    if (this.closed) throw new VswitchError('NETDEV_CLOSED', `port '${this.name}': cannot start a closed netdev`);
    this.onReadable = onReadable;
    if (this.connFd >= 0 && this.connPoll === 0) this.startConnPoll();
    if (this.rs[RS_MORE] !== 0) this.scheduleWake();
  }

  rxBurst(batch: PacketBatch): number {
    const fd = this.connFd;
    if (fd < 0) {
      batch.count = 0;
      return 0;
    }
    const rs = this.rs;
    const n = this.io.streamRecvBurst(fd, this.ring, rs, batch.buf, SLOT_SIZE, RX_HEADROOM, BATCH_MAX, batch.offs, batch.lens);
    batch.vnet.fill(0, 0, n * VNET_WORDS); // no virtio header on this port
    const lens = batch.lens;
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += lens[i];
    batch.count = n;
    this.stats.rxPackets += n;
    this.stats.rxBytes += bytes;
    if (rs[RS_STATUS] !== 0) this.rxEnded(rs[RS_STATUS]);
    else if (rs[RS_MORE] !== 0) this.scheduleWake();
    return n;
  }

  txBurst(buf: Uint8Array, offs: Int32Array, lens: Int32Array, count: number, _vnet: Uint8Array): number {
    const s = this.stats;
    if (this.connFd < 0) {
      this.txLinkDown += count;
      s.txDropped += count;
      return 0;
    }
    const t = this.txStats;
    const ps = this.ps;
    const accepted = this.io.streamSendBurst(this.connFd, buf, offs, lens, count, this.pend, ps, t);
    s.txPackets += accepted;
    s.txBytes = t[TXS_BYTES];
    s.txDropped = t[TXS_AGAIN] + t[TXS_DOWN] + this.txLinkDown;
    s.txErrors = t[TXS_INVAL];
    if (ps[PS_ERRNO] !== 0) this.txFailed();
    else if (ps[PS_TAIL] > ps[PS_HEAD] && !this.wantWrite) this.watchWritable(true);
    return accepted;
  }

  mac(): string {
    return '';
  }

  linkState(): LinkState {
    return this.connFd >= 0 ? 'up' : 'down';
  }

  error(): string {
    return this.why;
  }

  /** True while a peer is connected. */
  get connected(): boolean {
    return this.connFd >= 0;
  }

  /** Bytes accepted for the peer that its socket has not taken yet. */
  get pendingBytes(): number {
    return this.ps[PS_TAIL] - this.ps[PS_HEAD];
  }

  dropCounters(): Record<string, number> {
    const t = this.txStats;
    return {
      rx_bad_frame: this.rxBadFrame,
      rx_truncated: this.rxTruncated,
      rx_error: this.rxError,
      tx_queue_full: t[TXS_AGAIN],
      tx_link_down: t[TXS_DOWN] + this.txLinkDown,
      tx_bad_frame: t[TXS_INVAL],
      connects: this.connects,
      disconnects: this.disconnects,
      connects_refused: this.connectsRefused,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.onReadable = null;
    this.closeConn('');
    this.closeListen();
  }

  /** The once-a-second check (public for tests): re-creates the socket file if it was removed
   *  or replaced behind the port's back, so a VM started later can still connect. */
  check(): void {
    if (this.closed) return;
    let ino = -1;
    try {
      ino = lstatSync(this.path).ino;
    } catch {
      // gone
    }
    if (this.listenFd >= 0 && ino === this.fileIno && ino !== -1) return;
    this.closeListen();
    try {
      this.listen();
      this.log?.warn({ port: this.name, path: this.path }, 'socket file was removed or replaced; listening again');
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== this.why) this.log?.warn({ port: this.name, err: msg }, 'cannot listen again');
      this.why = msg;
    }
  }

  private onListenReadable(status?: number): void {
    if (status !== undefined) {
      // The poll stopped on an error: the next check() listens again.
      this.closeListen();
      this.why = `stream port ${this.name}: the listening socket failed (status ${status}); re-creating it`;
      return;
    }
    for (;;) {
      const fd = this.io.unixAccept(this.listenFd);
      if (fd < 0) {
        if (fd !== -EAGAIN) this.log?.warn({ port: this.name, errno: -fd }, 'accept failed');
        return;
      }
      if (this.connFd >= 0 && !this.io.streamPeerGone(this.connFd)) {
        this.io.fdClose(fd);
        this.connectsRefused++;
        this.log?.warn({ port: this.name, path: this.path }, 'refused a second connection: the port has a peer');
        continue;
      }
      if (this.connFd >= 0) this.closeConn('the peer is gone; a new one connected');
      this.adopt(fd);
    }
  }

  private adopt(fd: number): void {
    this.connFd = fd;
    this.rs.fill(0);
    this.ps.fill(0);
    this.wantWrite = false;
    this.connects++;
    if (this.onReadable !== null) this.startConnPoll();
    this.log?.info({ port: this.name, path: this.path }, 'peer connected; link up');
  }

  private startConnPoll(): void {
    this.connPoll = this.io.pollStart(this.connFd, this.connCb, this.wantWrite ? POLL_READABLE | POLL_WRITABLE : POLL_READABLE);
  }

  private onConnEvents(status: number | undefined, events: number): void {
    if (status !== undefined) {
      // The poll stopped on a socket error: let a read report it, then make sure it is closed.
      this.onReadable?.();
      if (this.connFd >= 0) this.closeConn(`socket error (status ${status})`);
      return;
    }
    if ((events & POLL_WRITABLE) !== 0) this.flushPending();
    if ((events & POLL_READABLE) !== 0 && this.onReadable !== null) this.onReadable();
  }

  /** The socket can take more: send what is pending; stop watching once it is all gone. */
  private flushPending(): void {
    if (this.connFd < 0) return;
    const z = this.noFrames;
    this.io.streamSendBurst(this.connFd, this.pend, z, z, 0, this.pend, this.ps, this.txStats);
    if (this.ps[PS_ERRNO] !== 0) this.txFailed();
    else if (this.ps[PS_TAIL] === this.ps[PS_HEAD]) this.watchWritable(false);
  }

  private watchWritable(on: boolean): void {
    this.wantWrite = on;
    if (this.connPoll !== 0) this.io.pollSetEvents(this.connPoll, on ? POLL_READABLE | POLL_WRITABLE : POLL_READABLE);
  }

  /** rxBurst saw the end of the connection (status RS_EOF, RS_BAD or -errno). Rare. */
  private rxEnded(status: number): void {
    if (status === RS_BAD) {
      this.rxBadFrame++;
      this.stats.rxErrors++;
      this.closeConn(`bad frame length ${this.rs[RS_BADLEN]} (a frame must be 14 to ${SLOT_SIZE - RX_HEADROOM} bytes); connection reset`);
    } else if (status === RS_EOF) {
      if (this.rs[RS_TAIL] > this.rs[RS_HEAD]) {
        this.rxTruncated++;
        this.stats.rxDropped++;
      }
      this.closeConn('the peer closed the connection');
    } else {
      this.rxError++;
      this.stats.rxErrors++;
      this.closeConn(`read failed (errno ${-status})`);
    }
  }

  private txFailed(): void {
    this.closeConn(`send failed (errno ${this.ps[PS_ERRNO]})`);
  }

  private closeConn(why: string): void {
    const fd = this.connFd;
    if (fd < 0) return;
    if (this.connPoll !== 0) this.io.pollStop(this.connPoll);
    this.connPoll = 0;
    this.connFd = -1;
    this.io.fdClose(fd);
    this.rs.fill(0);
    this.ps.fill(0);
    this.wantWrite = false;
    this.disconnects++;
    if (why) this.log?.info({ port: this.name, why }, 'peer disconnected; link down, waiting for the next connection');
  }

  private closeListen(): void {
    if (this.listenPoll !== 0) this.io.pollStop(this.listenPoll);
    this.listenPoll = 0;
    const fd = this.listenFd;
    this.listenFd = -1;
    if (fd < 0) return;
    this.io.fdClose(fd);
    try {
      if (lstatSync(this.path).ino === this.fileIno) unlinkSync(this.path);
    } catch {
      // already gone
    }
  }

  private scheduleWake(): void {
    if (this.wakePending || this.onReadable === null) return;
    this.wakePending = true;
    setImmediate(this.wakeFn);
  }

  /** Frames are left in the ring and nothing polls readable for them: deliver them now. */
  private wake(): void {
    this.wakePending = false;
    if (this.onReadable !== null && this.connFd >= 0 && this.rs[RS_MORE] !== 0) this.onReadable();
  }
}
