/*
 * How a system port's packet socket is read: through a TPACKET_V2 receive ring (ring.c: no
 * syscall per burst while frames wait) or, where the kernel refuses a ring or
 * VSWITCH_PACKET_RX=mmsg says so, with one recvmmsg per burst (burst.c). Typed access to the
 * addon's ring and statistics functions, the ring geometry and that choice (control path), and
 * restoreVlanTags, which puts back the tags the kernel stripped (hot). Used by
 * netdev-system.ts.
 */
import {
  SLOT_SIZE, V_CSUM_START, V_FLAGS_GSO, V_HDR_LEN, VIRTIO_NET_HDR_F_NEEDS_CSUM, VNET_WORDS, type PacketBatch,
} from './batch.js';
import { loadNative, type VswitchIo, type VswitchIoBusy } from './native.js';

const VLAN_HLEN = 4;

/** Addon functions of packet sockets beyond VswitchIo (contracts in ring.c and link.c). */
export interface PacketIo {
  /** A packet socket on `name` set up as packetOpen does, with a TPACKET_V2 receive ring of
   *  `frames` frames of `frameSize` bytes (power of two, 2048..65536) mapped before it is
   *  bound. Returns the fd; packetRingUnmap(fd) must precede fdClose(fd). Throws ENODEV,
   *  EPERM, or the errno of syscall 'PACKET_VNET_HDR', 'PACKET_VERSION', 'PACKET_RX_RING',
   *  'mmap', 'bind'. */
  packetRingOpen(name: string, vnetHdr: boolean, frames: number, frameSize: number): number;
  /** Unmaps the ring of fd (fd stays open); fds without a ring are ignored. */
  packetRingUnmap(fd: number): void;
  /** Hot. As packetRecvBurst, from the ring of fd: count, 0 when empty, -errno for a pending
   *  socket error (ENETDOWN: device gone), -EBADF without a ring. */
  packetRingRecvBurst(fd: number, buf: Uint8Array, slotSize: number, headroom: number, maxFrames: number,
    offs: Int32Array, lens: Int32Array, vnet: Uint8Array, vnetLen: number, aux: Uint32Array): number;
  /** A packet socket that only sends on `name` (bound with protocol 0: nothing is queued to
   *  it and nothing waits on it), PACKET_VNET_HDR when vnetHdr, PACKET_QDISC_BYPASS when
   *  qdiscBypass. Throws as packetOpen does. */
  packetTxOpen(name: string, vnetHdr: boolean, qdiscBypass?: boolean): number;
  /** Frames the kernel dropped on the socket (buffer or ring full) since the last call;
   *  -errno if unreadable. */
  packetDrops(fd: number): number;
}

/** Receive ring geometry: frames of RING_FRAME_SIZE bytes hold a standard-MTU frame with its
 *  headers (larger frames are read whole with one recvmsg each); RING_FRAMES of them (4 MiB,
 *  like the socket buffer recvmmsg uses) absorb about 2000 frames of burst per port. */
export const RING_FRAMES = 2048;
export const RING_FRAME_SIZE = 2048;

/** 'ring' unless VSWITCH_PACKET_RX=mmsg asks for recvmmsg (comparisons, old kernels). */
export function packetRxMode(env: NodeJS.ProcessEnv = process.env): 'ring' | 'mmsg' {
  return env.VSWITCH_PACKET_RX === 'mmsg' ? 'mmsg' : 'ring';
}

/** loadNative() with the packet socket functions typed. Throws NativeLoadError. */
export function loadPacketIo(): VswitchIo & VswitchIoBusy & PacketIo {
  return loadNative() as VswitchIo & VswitchIoBusy & PacketIo;
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
