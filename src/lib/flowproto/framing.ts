/*
 * Framing of the flow protocol: each message is preceded by its length as a protobuf varint
 * (at most 5 bytes, a 32-bit value). FrameDecoder turns a byte stream, in chunks of any size,
 * into whole frames, handling a length prefix or a message split across chunks and several
 * messages in one chunk; an oversize length or a bad prefix stops it with a FlowProtoError
 * (the caller reports it and closes), never a throw from push(). Used by connection.ts.
 * Control path: allocation per message is fine here.
 */
import { FlowProtoError } from './errors.js';

/** Default largest message accepted (bytes, without the prefix). */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** The varint length prefix followed by `payload`, as one buffer. */
export function encodeFrame(payload: Uint8Array): Buffer {
  let n = payload.length;
  const head: number[] = [];
  while (n >= 0x80) {
    head.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  head.push(n);
  const out = Buffer.allocUnsafe(head.length + payload.length);
  for (let i = 0; i < head.length; i++) out[i] = head[i];
  out.set(payload, head.length);
  return out;
}

export class FrameDecoder {
  /** Bytes received but not yet delivered (a partial prefix or frame), and their total. */
  private parts: Buffer[] = [];
  private partsLen = 0;
  /** Bytes (prefix included) of the partial frame in `parts` when known, else 0. */
  private need = 0;
  /** Set once the stream is broken; push() then ignores everything. */
  error: FlowProtoError | null = null;

  /** `onFrame` gets each payload (a view valid until the callback returns; copy to keep it). */
  constructor(private readonly onFrame: (payload: Buffer) => void, readonly maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES) {}

  /**
   * Feeds bytes. Returns false (and sets `error`) when the stream is broken; frames before the
   * bad one were delivered. An exception thrown by onFrame propagates to the caller. A large
   * frame arriving in many chunks is joined once, when complete.
   */
  push(chunk: Buffer): boolean {
    if (this.error !== null) return false;
    this.parts.push(chunk);
    this.partsLen += chunk.length;
    if (this.need > 0 && this.partsLen < this.need) return true;
    const data = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.partsLen);
    this.parts = [];
    this.partsLen = 0;
    this.need = 0;
    let p = 0;
    while (p < data.length) {
      // Length prefix.
      let len = 0;
      let shift = 1;
      let q = p;
      let complete = false;
      for (let i = 0; i < 5 && q < data.length; i++) {
        const b = data[q++];
        len += (b & 0x7f) * shift;
        shift *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
        if (i === 4) {
          this.error = new FlowProtoError('BAD_LENGTH', 'bad message length prefix (a varint longer than 32 bits)');
          return false;
        }
      }
      if (!complete) break; // prefix split across chunks
      if (len > 0xffffffff) {
        this.error = new FlowProtoError('BAD_LENGTH', 'bad message length prefix (more than 32 bits)');
        return false;
      }
      if (len > this.maxMessageBytes) {
        this.error = new FlowProtoError('FRAME_TOO_LARGE', `message of ${len} bytes is larger than the maximum of ${this.maxMessageBytes}`);
        return false;
      }
      if (data.length - q < len) {
        this.need = q - p + len; // body split across chunks
        break;
      }
      this.onFrame(data.subarray(q, q + len));
      p = q + len;
    }
    if (p < data.length) {
      const rest = Buffer.from(data.subarray(p));
      this.parts.push(rest);
      this.partsLen = rest.length;
    }
    return true;
  }

  /** Bytes held back waiting for the rest of a frame. */
  get buffered(): number {
    return this.partsLen;
  }
}
