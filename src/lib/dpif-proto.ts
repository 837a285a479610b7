/*
 * The datapath interface protocol: what vswitchd, dpctl and the datapath say to each other over
 * the datapath's Unix socket (VSWITCH_RUNDIR/datapath.sock). Shared by both ends.
 *
 * Every message is a frame: u32 length (bytes after this field), u16 type, u16 flags, u32 xid,
 * then the body; little-endian, since both ends are on one host. Control messages (HELLO,
 * REQUEST, REPLY) carry JSON bodies; the messages that carry packets and flows (UPCALL,
 * FLOW_PUT, EXECUTE, FLOW_DEL, DUMP, DUMP_REPLY) are binary so the datapath can write and read
 * them without building objects. FLOW_PUT, FLOW_DEL and EXECUTE get no reply; a bad one is
 * counted and dropped by the receiver. A flow is (key, mask): the key words under the mask's 1
 * bits must match, the rest are wildcarded (src/lib/flow-mask.ts); a flow's identity is its
 * masked key plus its mask. See docs/design.md for the conversation and flow-dump.ts for the
 * dump records.
 */
import { GrowBuffer } from './grow-buffer.js';
import { KEY_BYTES, KEY_WORDS } from './flow-key.js';

/** Version 2: megaflows (FLOW_PUT/FLOW_DEL carry a mask), binary paged DUMP replacing flow_dump.
 *  Version 3: header-rewrite actions (ACT_SET_*), ACT_USERSPACE and UPCALL_ACTION upcalls.
 *  Version 4: PUT_EXECUTE, the answer to a miss in one message (put and execute share the
 *  actions). */
export const DPIF_VERSION = 4;
export const HEADER_BYTES = 12;
/** True where typed arrays are little-endian, the wire's byte order (every host we run on). */
export const HOST_LE = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;
/** A frame larger than this is a protocol error (the connection is closed). */
export const MAX_FRAME = 16 * 1024 * 1024;

export const T_HELLO = 1;     // JSON {role: 'vswitchd' | 'tool', version}; reply REPLY {result:{version,name}}
export const T_REQUEST = 2;   // JSON {method, params}; reply REPLY with the same xid
export const T_REPLY = 3;     // JSON {result} or {error: {code, message}}
export const T_UPCALL = 10;   // dp -> vswitchd: key | u32 reason | u32 pktLen | packet [| UPCALL_ACTION extras]
export const T_FLOW_PUT = 11; // vswitchd -> dp: key | mask | u32 nActions | i32 actions[n]
export const T_EXECUTE = 12;  // vswitchd -> dp: u32 inPort | u32 nActions | i32 actions[n] | u32 pktLen | packet
export const T_FLOW_DEL = 13; // vswitchd -> dp: key | mask
export const T_DUMP = 14;     // client -> dp: u32 dumpId (0 = start a dump) | u32 maxFlows; reply DUMP_REPLY or REPLY {error}
export const T_DUMP_REPLY = 15; // dp -> client, same xid: u32 dumpId | u32 flags (DUMP_DONE) | u32 nFlows | records
/**
 * vswitchd -> dp, the answer to a miss: key | mask | u32 nActions | i32 actions[n] | u32 pktLen |
 * packet. Header flags say what to do: PE_PUT installs (key & mask, mask) -> actions as
 * FLOW_PUT does (refused at the datapath's flow limit, counted); PE_EXECUTE runs the actions on
 * the packet as EXECUTE does (in_port from the key). Either or both; no reply.
 */
export const T_PUT_EXECUTE = 16;
export const PE_PUT = 1;
export const PE_EXECUTE = 2;

export const UPCALL_MISS = 0;
/**
 * An ACT_USERSPACE action sent the packet up (a packet-in). The UPCALL body then goes on after
 * the packet: u32 totalLen (the packet's length before max_len cut it) | u32 n | i32 userdata[n].
 */
export const UPCALL_ACTION = 1;
/** DUMP_REPLY flag: this page is the last one; the dump id is no longer valid. */
export const DUMP_DONE = 1;
/** Most flows a DUMP_REPLY page carries, whatever maxFlows asks. */
export const DUMP_MAX_PAGE = 8192;

/*
 * Datapath actions ("odp actions"): a flat list of i32 words, opcode then operands. An empty
 * list drops. Formatted by src/lib/odp-format.ts the way ovs-dpctl prints them.
 *
 * Header rewrites are masked sets, one action per header, whose operands are the flow-key
 * words of that header (src/lib/flow-key.ts layout): first the values, then as many masks. Only
 * the bits set in a mask are written; the datapath finds the header in the frame itself
 * (skipping a VLAN tag, IPv4 options, IPv6 extension headers), does nothing when the frame
 * does not have it, and fixes every checksum the change touches: the IPv4 header checksum,
 * the TCP/UDP/ICMPv6 checksum over the pseudo-header, the ICMP checksum, SCTP's CRC32c (a UDP
 * checksum of 0 over IPv4 stays 0; a partial checksum, virtio NEEDS_CSUM, gets its
 * pseudo-header sum adjusted). vswitchd's translation writes only the bits the OpenFlow actions
 * changed, so one datapath flow serves packets that differ elsewhere in those headers.
 */
export const ACT_OUTPUT = 1;    // port_no
export const ACT_PUSH_VLAN = 2; // tci (with VLAN_CFI set); TPID 0x8100
export const ACT_POP_VLAN = 3;  // (no operand)
/** Ethernet addresses: key words W_ETH_DST_HI, W_ETH_MID, W_ETH_SRC_LO, then their 3 masks. */
export const ACT_SET_ETH = 4;
/** IPv4: key words W_NW_SRC, W_NW_DST, W_NW (only the tos and ttl bits, 0x00ffff00, are
 *  writable), then their 3 masks. */
export const ACT_SET_IPV4 = 5;
/** IPv6: key words W_NW_SRC..+3, W_NW_DST..+3, W_NW (tclass and hop limit bits, 0x00ffff00),
 *  W_IPV6_LABEL (20 bits), then their 10 masks. */
export const ACT_SET_IPV6 = 6;
/** Transport: IP protocol (6 TCP, 17 UDP, 132 SCTP, 1 ICMP, 58 ICMPv6; the frame must carry
 *  it), key word W_TP (ports, or ICMP type << 16 | code), its mask. */
export const ACT_SET_L4 = 7;
/** ARP (Ethernet/IPv4): key words W_NW_SRC (spa), W_NW_DST (tpa), W_NW (op in the high byte,
 *  0xff000000), W_ARP_SHA_HI, W_ARP_MID, W_ARP_THA_LO, then their 6 masks. */
export const ACT_SET_ARP = 8;
/**
 * Send the frame as it is now up to vswitchd (a packet-in): n, then n words: datapath port the
 * upcall is reported on (its key's in_port), max_len (bytes of the frame sent; the rest is
 * cut), then n-2 words of userdata handed back verbatim (UPCALL_ACTION above).
 */
export const ACT_USERSPACE = 9;

/** Operand words of each set action (values and masks). */
export const SET_ETH_WORDS = 6;
export const SET_IPV4_WORDS = 6;
export const SET_IPV6_WORDS = 20;
export const SET_L4_WORDS = 3;
export const SET_ARP_WORDS = 12;

/**
 * Number of words (opcode included) of the action starting with `op`, or 0 if unknown.
 * ACT_USERSPACE's length is in its first operand: pass it as `next` (0 when not given).
 */
export function actionLength(op: number, next?: number): number {
  switch (op) {
    case ACT_OUTPUT: return 2;
    case ACT_PUSH_VLAN: return 2;
    case ACT_POP_VLAN: return 1;
    case ACT_SET_ETH: return 1 + SET_ETH_WORDS;
    case ACT_SET_IPV4: return 1 + SET_IPV4_WORDS;
    case ACT_SET_IPV6: return 1 + SET_IPV6_WORDS;
    case ACT_SET_L4: return 1 + SET_L4_WORDS;
    case ACT_SET_ARP: return 1 + SET_ARP_WORDS;
    case ACT_USERSPACE: return next !== undefined && next >= 2 && next <= 4096 ? 2 + next : 0;
    default: return 0;
  }
}

/** Checks an action list is well formed (known opcodes, complete operands). Control path. */
export function validActions(acts: ArrayLike<number>, n = acts.length): boolean {
  let i = 0;
  while (i < n) {
    const len = actionLength(acts[i], i + 1 < n ? acts[i + 1] : undefined);
    if (len === 0 || i + len > n) return false;
    i += len;
  }
  return true;
}

/**
 * Builds frames into one growing buffer; `take()` hands back a copy of what was built and
 * resets. The datapath keeps one per connection and flushes once per batch.
 */
export class FrameWriter extends GrowBuffer {
  private start = 0;
  constructor(initial = 64 * 1024) {
    super(initial);
  }
  begin(type: number, flags: number, xid: number): void {
    this.ensure(HEADER_BYTES);
    this.start = this.pos;
    this.buf.writeUInt16LE(type, this.pos + 4);
    this.buf.writeUInt16LE(flags, this.pos + 6);
    this.buf.writeUInt32LE(xid >>> 0, this.pos + 8);
    this.pos += HEADER_BYTES;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }
  i32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(v | 0, this.pos);
    this.pos += 4;
  }
  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
  /** Appends `n` words of `words` starting at `off`. */
  words(words: Uint32Array | Int32Array, off: number, n: number): void {
    this.ensure(n * 4);
    if (HOST_LE && n >= 8) {
      // One view and one native copy beat n separate writes from about 8 words on.
      this.buf.set(new Uint8Array(words.buffer, words.byteOffset + off * 4, n * 4), this.pos);
      this.pos += n * 4;
      return;
    }
    for (let i = 0; i < n; i++) {
      this.buf.writeUInt32LE(words[off + i] >>> 0, this.pos);
      this.pos += 4;
    }
  }
  bytes(src: Uint8Array, off: number, len: number): void {
    this.ensure(len);
    this.buf.set(src.subarray(off, off + len), this.pos);
    this.pos += len;
  }
  end(): void {
    this.buf.writeUInt32LE(this.pos - this.start - 4, this.start);
  }
  json(type: number, xid: number, body: unknown): void {
    const s = Buffer.from(JSON.stringify(body));
    this.begin(type, 0, xid);
    this.bytes(s, 0, s.length);
    this.end();
  }
  /** Returns the frames built so far (a copy, safe to hand to socket.write) and resets. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    this.pos = 0;
    return out;
  }
}

export type FrameHandler = (type: number, flags: number, xid: number, buf: Buffer, off: number, len: number) => void;

/**
 * Splits a byte stream into frames and calls `onFrame` for each; body bytes are buf[off, off+len)
 * and are only valid during the call. `push()` returns false (and stops) on a protocol error:
 * a frame over MAX_FRAME or shorter than its header; the caller closes the connection.
 * A frame that arrives in many chunks is kept as a list of chunks and joined once, when its
 * last byte is in: assembling a large frame costs its size, not its size times its chunks.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes (length field included) of the frame being assembled; 0 while its length is unknown. */
  private need = 0;
  error = '';
  constructor(private readonly onFrame: FrameHandler, private readonly maxFrame = MAX_FRAME) {}

  push(chunk: Buffer): boolean {
    if (this.buffered === 0) return this.parse(chunk);
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.need === 0) {
      if (this.buffered < 4) return true;
      const len = this.peekLength();
      if (!this.validLength(len)) return false;
      this.need = len + 4;
    }
    if (this.buffered < this.need) return true;
    const data = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [];
    this.buffered = 0;
    this.need = 0;
    return this.parse(data);
  }

  private parse(data: Buffer): boolean {
    let p = 0;
    while (data.length - p >= 4) {
      const len = data.readUInt32LE(p);
      if (!this.validLength(len)) return false;
      if (data.length - p - 4 < len) break;
      const type = data.readUInt16LE(p + 4);
      const flags = data.readUInt16LE(p + 6);
      const xid = data.readUInt32LE(p + 8);
      this.onFrame(type, flags, xid, data, p + HEADER_BYTES, len + 4 - HEADER_BYTES);
      p += len + 4;
    }
    if (p < data.length) {
      const rest = data.subarray(p);
      this.chunks = [rest];
      this.buffered = rest.length;
      this.need = rest.length >= 4 ? rest.readUInt32LE(0) + 4 : 0;
    }
    return true;
  }

  private validLength(len: number): boolean {
    if (len >= HEADER_BYTES - 4 && len <= this.maxFrame) return true;
    this.error = `bad frame length ${len}`;
    return false;
  }

  /** The u32 length at the start of the buffered chunks (at least 4 bytes are buffered). */
  private peekLength(): number {
    let v = 0;
    let got = 0;
    for (const c of this.chunks) {
      for (let i = 0; i < c.length && got < 4; i++, got++) v += c[i] * 2 ** (8 * got);
      if (got === 4) break;
    }
    return v;
  }
}

/** Parses a JSON body; returns undefined when it is not JSON (the caller answers with an error). */
export function parseJsonBody(buf: Buffer, off: number, len: number): unknown {
  try {
    return JSON.parse(buf.toString('utf8', off, off + len));
  } catch {
    return undefined;
  }
}

/** Reads a key from a binary body into `out` (at word offset `o`). */
export function readKey(buf: Buffer, off: number, out: Uint32Array, o = 0): void {
  for (let i = 0; i < KEY_WORDS; i++) out[o + i] = buf.readUInt32LE(off + i * 4);
}

/**
 * Copies a key from a binary body into `outBytes`, a byte view over a KEY_WORDS Uint32Array
 * made once by the caller: one native copy instead of KEY_WORDS reads. Per upcall.
 */
export function readKeyInto(buf: Buffer, off: number, outBytes: Uint8Array, out: Uint32Array): void {
  if (HOST_LE) buf.copy(outBytes, 0, off, off + KEY_BYTES);
  else readKey(buf, off, out);
}

export { KEY_BYTES, KEY_WORDS };
