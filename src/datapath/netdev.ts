/*
 * The netdev provider interface: how the datapath receives and sends bursts of frames on a port,
 * whatever the port is (tap and internal: tap devices the switch creates; system: an existing
 * device reached through an AF_PACKET socket; stream: a Unix socket a VM connects to; dummy: in
 * memory for tests). The datapath calls openNetdev() when a port is added (control path) and
 * rxBurst / txBurst per batch (hot).
 * Providers never throw or allocate in rxBurst/txBurst; every dropped frame is counted under a
 * named reason. Each frame carries a virtio-net header (batch.ts) in and out; `offloads` says
 * what a port takes whole (offload.ts decides the rest).
 */
import { VswitchError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { isNativeError } from './native.js';
import type { PacketBatch } from './batch.js';
import { DummyNetdev } from './netdev-dummy.js';
import { StreamNetdev } from './netdev-stream.js';
import { SystemNetdev } from './netdev-system.js';
import { TapNetdev } from './netdev-tap.js';

export type NetdevType = 'tap' | 'internal' | 'system' | 'stream' | 'dummy';

/** What `port_list` says about a port's device: 'up' (admin up and carrier), 'down', or
 *  'missing' (a system port whose device is gone; it comes back when the device does). */
export type LinkState = 'up' | 'down' | 'missing';

/** Plain counters, updated in place by the provider (read them, never replace the object). */
export interface NetdevStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  rxErrors: number;
  txErrors: number;
  rxDropped: number;
  txDropped: number;
}

export interface Netdev {
  readonly name: string;
  readonly type: NetdevType;
  readonly stats: NetdevStats;
  /** OFFLOAD_* bits (offload.ts): frames needing only these are sent as they are, with their
   *  virtio header; others are finished in software first. */
  readonly offloads: number;
  /** Starts delivering readiness: onReadable() is called (on the event loop, never re-entrantly
   *  from rxBurst) when frames may be waiting; it keeps being called while frames remain.
   *  Calling start again replaces the callback. onReadable returns false when it queued no
   *  asynchronous work (no nextTick, no promise): a provider polling through pollStart passes
   *  that on, so Node's queues are not run after such a wakeup. Throws NETDEV_CLOSED after
   *  close(). */
  start(onReadable: () => boolean | void): void;
  /** Fills batch (frames 0..n-1: offs, lens, the slots' virtio headers, and batch.count = n)
   *  with up to BATCH_MAX frames; returns n, 0 if none ready or closed. Frame i lies in slot i.
   *  Never throws, never blocks. Updates rx stats. */
  rxBurst(batch: PacketBatch): number;
  /** Sends frames i<count at buf[offs[i]] length lens[i], each with the virtio header
   *  vnet[i*VNET_HDR_LEN ..] (ignored by a port that carries none); returns the number sent;
   *  failures are counted in stats.txDropped/txErrors and by reason. Never throws. */
  txBurst(buf: Uint8Array, offs: Int32Array, lens: Int32Array, count: number, vnet: Uint8Array): number;
  /** The device's state now (control path). */
  linkState(): LinkState;
  /** Why the port is not working ('' when it is), for Interface.error (control path). */
  error(): string;
  /** The device MAC ('' for dummy unless set). */
  mac(): string;
  /** Drop and error counters by reason, e.g. { tx_link_down: 3 } (control path; allocates). */
  dropCounters(): Record<string, number>;
  /** Idempotent; for tap/internal removes the device. */
  close(): void;
}

export interface NetdevOptions {
  /** MAC to set on the device at open ('aa:bb:cc:dd:ee:ff'). */
  mac?: string;
  /** tap/internal/system: carry a virtio_net_hdr per frame (IFF_VNET_HDR / PACKET_VNET_HDR)
   *  so GSO frames and partial checksums pass whole (default true). */
  vnetHdr?: boolean;
  /** dummy: the OFFLOAD_* bits it claims (default 0: everything finished in software). */
  offloads?: number;
  /** stream: the Unix socket to listen on (absolute), its permission bits (octal string,
   *  default 0660) and group (name or number): the Interface's options path, mode, group. */
  path?: string;
  mode?: string;
  group?: string;
  /** tap, internal and system ports: busy-poll window after each wakeup in microseconds (vswitch_io.c
   *  pollSetBusy; default VSWITCH_BUSY_POLL_US or DEFAULT_BUSY_POLL_US of netdev-tap.ts). */
  busyPollUs?: number;
  /** Where a port reports its device coming and going. */
  log?: Logger;
}

/** Thrown when a port's device cannot be opened; the message names the port and the cause. */
export class NetdevOpenError extends VswitchError {
  constructor(message: string, cause?: unknown, code = 'NETDEV_OPEN') {
    super(code, message, { cause });
    this.name = 'NetdevOpenError';
  }
}

/** Thrown when a system port names a device that does not exist (code NO_SUCH_DEVICE). */
export class NoSuchDeviceError extends NetdevOpenError {
  constructor(name: string) {
    super(`could not open network device ${name} (No such device); to have the switch create it, use type=tap or type=internal`, undefined, 'NO_SUCH_DEVICE');
    this.name = 'NoSuchDeviceError';
  }
}

export function newNetdevStats(): NetdevStats {
  return { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, rxErrors: 0, txErrors: 0, rxDropped: 0, txDropped: 0 };
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** Why `name` cannot be a Linux interface name, or '' if it can. */
export function badIfName(name: string): string {
  if (name.length === 0) return 'the name is empty';
  if (Buffer.byteLength(name) > 15) return `the name is ${Buffer.byteLength(name)} bytes long; Linux allows at most 15`;
  if (name === '.' || name === '..' || /[/:%\s]/.test(name)) return "the name may not be '.', '..' or contain '/', ':', '%' or spaces";
  return '';
}

/** Opens port `name` of the given type. Throws NetdevOpenError (code NETDEV_OPEN). */
export function openNetdev(name: string, type: NetdevType, options: NetdevOptions = {}): Netdev {
  const bad = badIfName(name);
  if (bad && type !== 'dummy') throw new NetdevOpenError(`port '${name}': invalid device name: ${bad}`);
  if (options.mac !== undefined && !MAC_RE.test(options.mac))
    throw new NetdevOpenError(`port '${name}': invalid mac '${options.mac}'; expected aa:bb:cc:dd:ee:ff`);
  switch (type) {
    case 'dummy':
      return new DummyNetdev(name, options);
    case 'tap':
    case 'internal':
      try {
        return new TapNetdev(name, type, options);
      } catch (err) {
        throw new NetdevOpenError(`port '${name}': cannot create tap device: ${tapOpenReason(name, err)}`, err);
      }
    case 'system':
      return SystemNetdev.open(name, options);
    case 'stream':
      return StreamNetdev.open(name, options);
    default:
      throw new NetdevOpenError(`port '${name}': unknown interface type '${String(type)}'; expected tap, internal, system, stream or dummy`);
  }
}

function tapOpenReason(name: string, err: unknown): string {
  if (err instanceof VswitchError) return err.message;
  if (!isNativeError(err)) return err instanceof Error ? err.message : String(err);
  switch (err.code) {
    case 'EBUSY':
    case 'EEXIST':
      return `a device named ${name} already exists`;
    case 'EPERM':
    case 'EACCES':
      return 'permission denied (creating tap devices needs root or CAP_NET_ADMIN)';
    case 'ENOENT':
    case 'ENODEV':
      return err.syscall === 'open' ? '/dev/net/tun is missing (is the tun module loaded?)' : err.message;
    case 'EADDRNOTAVAIL':
      return `${err.message} (the mac must be a unicast address)`;
    default:
      return err.message;
  }
}
