/*
 * Packet-in pacing and buffering for controller connections. PacketInLimiter is a token bucket
 * (Controller controller_rate_limit packets per second, controller_burst_limit above that);
 * the connection manager (controllers.ts) registers one per connection in `packetInLimits`,
 * and OfBridge's packet_in fan-out (ofmgmt-bridge.ts) asks it before each send. PacketBuffers
 * keeps the whole frame of packet-ins that were cut to miss_send_len so a packet out or flow
 * mod can name it by buffer id: a fixed number of slots reused round-robin, ids carrying a
 * generation so a stale id is refused. Per packet-in, control path.
 */
import type { FlowConnection } from '../lib/flowproto/connection.js';

export class PacketInLimiter {
  private tokens: number;
  private last: number;
  /** Packet-ins not sent because the rate limit was reached. */
  dropped = 0;

  constructor(readonly rate: number, readonly burst: number, now = Date.now()) {
    this.tokens = Math.max(1, burst);
    this.last = now;
  }

  /** Takes a token; false (and counted) when there is none. */
  take(now = Date.now()): boolean {
    const cap = Math.max(1, this.burst);
    this.tokens = Math.min(cap, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.dropped++;
    return false;
  }
}

/** The limiter of each controller connection that has a rate limit. */
export const packetInLimits = new WeakMap<FlowConnection, PacketInLimiter>();

/** Buffer slots per bridge (features reply n_buffers). */
export const N_BUFFERS = 256;
export const NO_BUFFER = 0xffffffff;
/** A buffered packet is kept at most this long. */
export const BUFFER_TTL_MS = 5000;

export interface BufferedPacket {
  packet: Uint8Array;
  inPort: number;
}

export class PacketBuffers {
  private readonly packets: (Uint8Array | null)[] = new Array<Uint8Array | null>(N_BUFFERS).fill(null);
  private readonly inPorts = new Int32Array(N_BUFFERS);
  private readonly ids = new Uint32Array(N_BUFFERS);
  private readonly times = new Float64Array(N_BUFFERS);
  private next = 0;
  private gen = 0;

  /** Keeps `packet` (not copied: the caller hands it over); returns its buffer id. */
  store(packet: Uint8Array, inPort: number, now = Date.now()): number {
    const slot = this.next;
    this.next = (slot + 1) % N_BUFFERS;
    if (slot === 0) this.gen = (this.gen + 1) & 0xffff;
    const id = ((this.gen << 8) | slot) >>> 0;
    this.packets[slot] = packet;
    this.inPorts[slot] = inPort;
    this.ids[slot] = id;
    this.times[slot] = now;
    return id;
  }

  /** Takes the packet of buffer `id` out (each id works once); null when unknown or stale. */
  take(id: number, now = Date.now()): BufferedPacket | null {
    const slot = id & 0xff;
    const packet = this.packets[slot];
    if (packet === null || this.ids[slot] !== id >>> 0 || now - this.times[slot] > BUFFER_TTL_MS) return null;
    this.packets[slot] = null;
    return { packet, inPort: this.inPorts[slot] };
  }
}
