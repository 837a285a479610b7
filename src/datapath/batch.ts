/*
 * PacketBatch: the unit of work of the datapath (hot). A batch owns one preallocated buffer of
 * BATCH_MAX fixed-size slots plus a scratch area; frame i lives at buf[offs[i]] with length
 * lens[i], inside slot floor(offs[i] / SLOT_SIZE). Netdev rxBurst fills it, the pipeline stages
 * read it and txBurst sends from it. Nothing is allocated after construction: stages move
 * offsets and lengths, never bytes into new arrays.
 *
 * A slot holds the largest frame a tap or packet socket hands over (a 64 KiB GSO frame) behind
 * RX_HEADROOM bytes (room to restore a VLAN tag the kernel stripped, or push one, without
 * moving the frame), plus room at the end for new versions of the frame (actions.ts). Each
 * slot has a virtio-net header (`vnet`, VNET_WORDS u16 per slot, the raw little-endian layout
 * of struct virtio_net_hdr): how the frame's checksum and segmentation were left by the sender
 * (GSO type and size, partial checksum start/offset). It travels with the frame to the egress
 * port, which either takes it as is or has the datapath finish the work (offload.ts).
 */

/** Frames per burst (one native call per burst). */
export const BATCH_MAX = 32;
/** Bytes per slot: a 64 KiB frame plus 256 bytes for headroom and headers pushed in place. */
export const SLOT_SIZE = 65536 + 256;
/** Bytes before a received frame in its slot (a restored or pushed VLAN tag goes there). */
export const RX_HEADROOM = 8;
/** Scratch bytes after the slots: software-segmented frames are built there (actions.ts). */
export const SCRATCH_SIZE = 4 * SLOT_SIZE;
/** Offset of the scratch area in PacketBatch.buf. */
export const SCRATCH_START = BATCH_MAX * SLOT_SIZE;

/** virtio_net_hdr as u16 words (little-endian hosts): flags | gso_type << 8, hdr_len,
 *  gso_size, csum_start, csum_offset. */
export const VNET_WORDS = 5;
export const VNET_HDR_LEN = 10;
export const V_FLAGS_GSO = 0;
export const V_HDR_LEN = 1;
export const V_GSO_SIZE = 2;
export const V_CSUM_START = 3;
export const V_CSUM_OFFSET = 4;

/** virtio_net_hdr flags: the checksum at csum_start/csum_offset is left to do (holds the
 *  pseudo-header sum); the checksum was verified. */
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
/** virtio_net_hdr gso_type values, and the ECN bit that may be or-ed in. */
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

/** The virtio header layout above is the host's memory order: true on every Linux this runs on
 *  (x86-64, arm64); a big-endian host would need byte swaps in the netdevs. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

export class PacketBatch {
  /** BATCH_MAX slots of SLOT_SIZE bytes, then SCRATCH_SIZE bytes of scratch. */
  readonly buf: Uint8Array;
  /** Length of frame i (valid for i < count). */
  readonly lens: Int32Array;
  /** Start of frame i (i * SLOT_SIZE + RX_HEADROOM as received; may move by a VLAN tag). */
  readonly offs: Int32Array;
  /** Virtio-net header of the frame in slot s: vnet[s * VNET_WORDS + V_*]. */
  readonly vnet: Uint16Array;
  /** The same memory as bytes (what the native calls read and write). */
  readonly vnetBytes: Uint8Array;
  /** Per-frame VLAN tag the kernel stripped (tpid << 16 | tci, 0 = none), from packet sockets. */
  readonly aux: Uint32Array;
  /** Number of valid frames, 0..count-1. */
  count: number;

  constructor() {
    this.buf = new Uint8Array(BATCH_MAX * SLOT_SIZE + SCRATCH_SIZE);
    this.lens = new Int32Array(BATCH_MAX);
    this.offs = new Int32Array(BATCH_MAX);
    for (let i = 0; i < BATCH_MAX; i++) this.offs[i] = i * SLOT_SIZE + RX_HEADROOM;
    this.vnet = new Uint16Array(BATCH_MAX * VNET_WORDS);
    this.vnetBytes = new Uint8Array(this.vnet.buffer);
    this.aux = new Uint32Array(BATCH_MAX);
    this.count = 0;
  }

  /** Copies `frame` into the next free slot (after the headroom) with virtio header `vnet`
   *  (VNET_WORDS words; zero if omitted); returns false (and copies nothing) when the batch is
   *  full or the frame does not fit a slot. Control path and tests: callers check the result. */
  push(frame: Uint8Array, vnet?: ArrayLike<number>): boolean {
    if (this.count >= BATCH_MAX || frame.length > SLOT_SIZE - RX_HEADROOM) return false;
    const i = this.count++;
    this.offs[i] = i * SLOT_SIZE + RX_HEADROOM;
    this.buf.set(frame, this.offs[i]);
    this.lens[i] = frame.length;
    for (let w = 0; w < VNET_WORDS; w++) this.vnet[i * VNET_WORDS + w] = vnet ? vnet[w] : 0;
    return true;
  }

  /** A copy of frame i (allocates: tests, tracing and the control path only). */
  copyFrame(i: number): Uint8Array {
    if (i < 0 || i >= this.count) throw new RangeError(`frame ${i} out of range (count ${this.count})`);
    return this.buf.slice(this.offs[i], this.offs[i] + this.lens[i]);
  }
}

/** The slot holding buffer offset `off`. Hot. */
export function slotOf(off: number): number {
  return (off / SLOT_SIZE) | 0;
}
