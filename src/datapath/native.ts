/*
 * Typed access to the vswitch_io Node-API addon (src/datapath/native/vswitch_io.c), built by
 * `npm run install` (node-gyp) into build/Release/. Called by the netdev providers; loaded lazily
 * on first use so modules that only need the dummy netdev work without the addon. The contracts
 * are written above each C function; they are summarised on the interface below.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VswitchError } from '../lib/errors.js';
import type { NetdevStats } from './netdev.js';

/** Slots of the txStats Float64Array that sendBurst adds to (see TX_STATS_SLOTS). */
export const TXS_BYTES = 0;
export const TXS_AGAIN = 1;
export const TXS_NOBUFS = 2;
export const TXS_DOWN = 3;
export const TXS_INVAL = 4;
export const TXS_MSGSIZE = 5;
export const TXS_OTHER = 6;
export const TX_STATS_SLOTS = 7;

/**
 * Folds the addon's in-place tx stats of a port into its NetdevStats after a send burst, so
 * every frame is either sent or counted under exactly one reason. `extraDrops` are frames the
 * netdev dropped itself before any syscall (device closed or missing).
 */
export function foldTxStats(s: NetdevStats, t: Float64Array, sent: number, extraDrops: number): void {
  s.txPackets += sent;
  s.txBytes = t[TXS_BYTES];
  s.txDropped = t[TXS_AGAIN] + t[TXS_NOBUFS] + t[TXS_DOWN] + extraDrops;
  s.txErrors = t[TXS_INVAL] + t[TXS_MSGSIZE] + t[TXS_OTHER];
}

/** The per-reason tx drop counters of a port's tx stats, named as dpctl show -s prints them. */
export function txDropCounters(t: Float64Array): Record<string, number> {
  return {
    tx_queue_full: t[TXS_AGAIN],
    tx_no_buffers: t[TXS_NOBUFS],
    tx_link_down: t[TXS_DOWN],
    tx_bad_frame: t[TXS_INVAL],
    tx_too_big: t[TXS_MSGSIZE],
    tx_other_error: t[TXS_OTHER],
  };
}

/** Slots of the rx state Int32Array of streamRecvBurst (stream.c). */
export const RS_HEAD = 0;
export const RS_TAIL = 1;
export const RS_STATUS = 2;
export const RS_MORE = 3;
export const RS_BADLEN = 4;
export const RS_SLOTS = 5;
/** RS_STATUS values besides 0 and -errno: the peer closed; a frame length was impossible. */
export const RS_EOF = 1;
export const RS_BAD = 2;
/** Slots of the tx state Int32Array of streamSendBurst (stream.c). */
export const PS_HEAD = 0;
export const PS_TAIL = 1;
export const PS_ERRNO = 2;
export const PS_SLOTS = 3;
/** pollStart / pollSetEvents event bits (libuv's UV_READABLE, UV_WRITABLE). */
export const POLL_READABLE = 1;
export const POLL_WRITABLE = 2;

/** TUNSETOFFLOAD flags (linux/if_tun.h): offloads the kernel may leave to a vnet-header tap. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
export const TUN_F_UFO = 0x10;
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;

/** Interface flags (linux/if.h) as linkFlags returns them. */
export const IFF_UP = 0x1;
export const IFF_RUNNING = 0x40;

/** Error thrown by the addon's control functions: `code` is the errno name, e.g. 'EBUSY'. */
export interface NativeError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

export interface VswitchIo {
  /** Creates (or attaches to) tap `name`, IFF_TAP|IFF_NO_PI[|IFF_VNET_HDR][|IFF_TUN_EXCL];
   *  non-blocking, close-on-exec; closing the fd removes a device it created. Returns the fd. */
  tapOpen(name: string, vnetHdr: boolean, exclusive?: boolean): number;
  /** Stops polls on fd, then closes it. Throws EBADF if not open. */
  fdClose(fd: number): void;
  /** Sets/clears IFF_UP in the current netns. */
  linkSetUp(name: string, up: boolean): void;
  /** 'aa:bb:cc:dd:ee:ff' */
  linkGetMac(name: string): string;
  linkSetMac(name: string, mac: string): void;
  /** ifindex in the current netns, -1 if missing. */
  ifIndex(name: string): number;
  /** Hot. Reads up to maxFrames frames into buf[i*slotSize], lengths in lens[i]. Returns the
   *  count, 0 if none ready, -errno on error. Never throws on I/O errors. */
  recvBurst(fd: number, buf: Uint8Array, slotSize: number, maxFrames: number, lens: Int32Array): number;
  /** Hot. Writes frames i<count at buf[offs[i]], lens[i] bytes; returns how many were accepted.
   *  Refused frames are skipped; EAGAIN drops the rest. txStats (>= TX_STATS_SLOTS doubles) is
   *  added to: bytes accepted and frames dropped per reason. Never throws on I/O errors. */
  sendBurst(fd: number, buf: Uint8Array, offs: Int32Array, lens: Int32Array, count: number, txStats?: Float64Array): number;
  /** errno of the first refused frame of the last sendBurst, 0 if none. */
  lastSendErrno(): number;
  /** Sets the vnet header size (10) and TUNSETOFFLOAD flags on a vnetHdr tap fd; USO4/USO6 are
   *  dropped if the kernel refuses them. Returns the flags in force. */
  tapSetOffload(fd: number, flags: number): number;
  /** SIOCGIFFLAGS of `name` in the current netns, -1 if missing. */
  linkFlags(name: string): number;
  /** AF_PACKET socket bound to `name` (ETH_P_ALL, AUXDATA, IGNORE_OUTGOING[, VNET_HDR]).
   *  Throws ENODEV if missing; syscall 'PACKET_VNET_HDR' if that option is refused. */
  packetOpen(name: string, vnetHdr: boolean): number;
  /** Hot. readv() up to maxFrames frames of a tap: frame i at offs[i] = i*slotSize+headroom,
   *  lens[i]; its virtio_net_hdr in vnet[i*10..] (zeroed when vnetLen is 0). Returns the count,
   *  0 if none ready, -errno on error. */
  tapRecvBurst(fd: number, buf: Uint8Array, slotSize: number, headroom: number, maxFrames: number,
    offs: Int32Array, lens: Int32Array, vnet: Uint8Array, vnetLen: number): number;
  /** Hot. recvmmsg() on an AF_PACKET socket, laid out as tapRecvBurst; aux[i] = tpid<<16|tci
   *  of a tag the kernel stripped (0: none); lens[i] = -1 for a truncated frame. */
  packetRecvBurst(fd: number, buf: Uint8Array, slotSize: number, headroom: number, maxFrames: number,
    offs: Int32Array, lens: Int32Array, vnet: Uint8Array, vnetLen: number, aux: Uint32Array): number;
  /** Hot. writev() frames i<count to a tap, each after its header vnet[i*10..] when vnetLen
   *  is 10. Accounting as sendBurst. */
  tapSendBurst(fd: number, buf: Uint8Array, offs: Int32Array, lens: Int32Array, count: number,
    vnet: Uint8Array, vnetLen: number, txStats: Float64Array): number;
  /** Hot. sendmmsg() frames i<count on an AF_PACKET socket (header iovec when vnetLen is 10). */
  packetSendBurst(fd: number, buf: Uint8Array, offs: Int32Array, lens: Int32Array, count: number,
    vnet: Uint8Array, vnetLen: number, txStats: Float64Array): number;
  /** Calls cb on the event loop whenever fd is readable; returns a handle id. On a poll error
   *  the poll stops and cb gets the (negative) status once. With `events` (POLL_READABLE |
   *  POLL_WRITABLE) it watches those and cb gets (undefined, events fired) each time. Node's
   *  nextTick queue and promise jobs run after cb unless it returns false, which it may do
   *  only when it queued neither (a forwarding-only wakeup; vswitch_io.c on_poll). */
  pollStart(fd: number, cb: (status?: number, events?: number) => boolean | void, events?: number): number;
  /** Stops a poll; unknown or already-stopped handles are ignored. */
  pollStop(handle: number): void;
  /** Changes the events a poll watches (1, 2 or 3); unknown handles are ignored. */
  pollSetEvents(handle: number, events: number): void;
  /** A non-blocking Unix stream socket listening on `path` (file mode `mode` and group `gid`,
   *  unless -1, set before it listens); a stale socket file is replaced. Throws EADDRINUSE
   *  (live listener), EEXIST (not a socket), ENOENT, EACCES, EPERM (chown), ENAMETOOLONG ... */
  unixListen(path: string, mode: number, gid?: number): number;
  /** accept4() one connection: its fd (non-blocking), -EAGAIN if none waits, or -errno. */
  unixAccept(fd: number): number;
  /** True when the peer closed its end of the connection or the socket failed. */
  streamPeerGone(fd: number): boolean;
  /** Hot. Delivers up to maxFrames length-prefixed frames into the slots (laid out as
   *  tapRecvBurst) from ring[rs[RS_HEAD]..rs[RS_TAIL]) and, when it holds no complete frame,
   *  from a read() into the ring. Updates rs (RS_*). Returns the frames delivered. */
  streamRecvBurst(fd: number, ring: Uint8Array, rs: Int32Array, buf: Uint8Array, slotSize: number, headroom: number,
    maxFrames: number, offs: Int32Array, lens: Int32Array): number;
  /** Hot. Sends frames i<count, each behind a 4-byte big-endian length, after the bytes still
   *  pending in pend[ps[PS_HEAD]..ps[PS_TAIL]); what the socket does not take is queued in pend
   *  while it fits, the rest dropped (txStats TXS_AGAIN). A dead peer: rest dropped as TXS_DOWN,
   *  ps[PS_ERRNO] set. Returns the frames accepted. */
  streamSendBurst(fd: number, buf: Uint8Array, offs: Int32Array, lens: Int32Array, count: number,
    pend: Uint8Array, ps: Int32Array, txStats: Float64Array): number;
}

/** Thrown when build/Release/vswitch_io.node is missing or cannot be loaded. */
export class NativeLoadError extends VswitchError {
  constructor(path: string, cause: unknown) {
    const why = cause instanceof Error ? `: ${cause.message}` : '';
    super('NATIVE_LOAD', `cannot load the native addon ${path}${why} (build it with 'npm run install')`, { cause });
    this.name = 'NativeLoadError';
  }
}

/** The directory holding vswitch's package.json, found by walking up from this module
 *  (src/datapath/ when run from source, dist/src/datapath/ when compiled). */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'vswitch') return dir;
      } catch {
        // not ours or unreadable: keep walking up
      }
    }
    if (dirname(dir) === dir) throw new NativeLoadError(join(from, 'build/Release/vswitch_io.node'), new Error('package root not found'));
  }
}

let cached: VswitchIo | undefined;

/** Loads the addon once and returns it. Throws NativeLoadError (code NATIVE_LOAD). */
export function loadNative(): VswitchIo {
  if (cached) return cached;
  const path = join(packageRoot(), 'build', 'Release', 'vswitch_io.node');
  try {
    cached = createRequire(import.meta.url)(path) as VswitchIo;
  } catch (err) {
    throw new NativeLoadError(path, err);
  }
  return cached;
}

/** True for errors thrown by the addon (they carry an errno name as `code`). */
export function isNativeError(err: unknown): err is NativeError {
  return err instanceof Error && typeof (err as NativeError).errno === 'number' && typeof (err as NativeError).code === 'string';
}

/** Addon functions beyond VswitchIo (vswitch_io.c has their contracts). */
export interface VswitchIoBusy {
  /** Busy polling for a poll started by pollStart: once its wakeups come close together (3
   *  within 4 windows), the event loop polls without sleeping for `us` microseconds after
   *  each, yielding the CPU on every turn (0..100000; 0 = off). Unknown handles are ignored. */
  pollSetBusy(handle: number, us: number): void;
}

/** loadNative(), typed with the functions of VswitchIoBusy too. Throws NativeLoadError. */
export function loadNativeBusy(): VswitchIo & VswitchIoBusy {
  return loadNative() as VswitchIo & VswitchIoBusy;
}
