/*
 * Packet-ins: the userdata a `controller` (or dec_ttl) action leaves in the datapath's
 * ACT_USERSPACE action, and turning the UPCALL_ACTION upcall that brings the packet back
 * into a PacketInEvent on the bridge (Bridge.events 'packet_in'). The translation encodes,
 * the upcall handler decodes. Per packet-in, control path.
 *
 * Userdata words (after the datapath's in_port and max_len operands):
 *   0: reason | table << 8 | controller id << 16
 *   1, 2: rule cookie, high and low 32 bits
 *   3: OpenFlow in_port of the packet | the action's max_len << 16 (65535: the whole frame)
 *   4: k, then k pairs (flow word index, value): the non-zero metadata and register words
 *   then: userdata byte length L, then ceil(L/4) words of bytes (big-endian within a word).
 * Everything in it is fixed by the datapath flow's masked key (registers come from constants
 * or from un-wildcarded fields), so it is right for every packet the flow matches.
 *
 * max_len travels in the userdata so the datapath can send the whole frame up (its own max_len
 * operand 65535) and the flow-protocol side cuts it per connection, keeping the whole frame in
 * a buffer for packet-out by buffer id (ofmgmt-bridge.ts). A translation that leaves max_len
 * out (65535) and has the datapath cut instead gets cut packet-ins with no buffer.
 */
import { OF_W_METADATA, OF_WORDS } from './ofp/layout.js';
import type { PacketInEvent } from './bridge.js';

export interface PacketInSpec {
  reason: number;
  table: number;
  cookie: bigint;
  controllerId: number;
  ofInPort: number;
  userdata: Uint8Array | null;
  /** The action's max_len (bytes of the packet to send; 65535, the default: all, never buffered). */
  maxLen?: number;
}

/** A PacketInEvent that knows its action's max_len (decodePacketIn's result). */
export type PacketInWithMaxLen = PacketInEvent & { maxLen?: number };

/** The max_len of the action that sent `ev` (65535 when it did not say: the frame is as sent). */
export function packetInMaxLen(ev: PacketInEvent): number {
  const m = (ev as PacketInWithMaxLen).maxLen;
  return m === undefined ? 0xffff : m;
}

/** Appends the userdata words for a packet-in to `out` (cleared first). */
export function encodePacketIn(spec: PacketInSpec, flow: Uint32Array, out: number[]): void {
  out.length = 0;
  out.push(((spec.reason & 0xff) | ((spec.table & 0xff) << 8) | ((spec.controllerId & 0xffff) << 16)) | 0);
  out.push(Number((spec.cookie >> 32n) & 0xffffffffn) | 0, Number(spec.cookie & 0xffffffffn) | 0);
  out.push(((spec.ofInPort & 0xffff) | (((spec.maxLen ?? 0xffff) & 0xffff) << 16)) | 0);
  const at = out.length;
  out.push(0);
  let k = 0;
  for (let w = OF_W_METADATA; w < OF_WORDS; w++) {
    if (flow[w] === 0) continue;
    out.push(w, flow[w] | 0);
    k++;
  }
  out[at] = k;
  const u = spec.userdata;
  const len = u === null ? 0 : u.length;
  out.push(u === null ? -1 : len);
  for (let i = 0; i < len; i += 4) {
    let v = 0;
    for (let j = 0; j < 4; j++) v = (v << 8) | (i + j < len ? (u as Uint8Array)[i + j] : 0);
    out.push(v | 0);
  }
}

/**
 * The packet-in carried by an UPCALL_ACTION upcall: `user` are the userdata words, `packet`
 * the (cut) packet, `totalLen` its full length. Null when the userdata is malformed.
 */
export function decodePacketIn(user: Int32Array, packet: Uint8Array, totalLen: number): PacketInWithMaxLen | null {
  if (user.length < 6) return null;
  const w0 = user[0] >>> 0;
  const cookie = (BigInt(user[1] >>> 0) << 32n) | BigInt(user[2] >>> 0);
  const inPort = user[3] & 0xffff;
  const maxLen = user[3] >>> 16;
  const k = user[4];
  let p = 5;
  if (k < 0 || p + 2 * k + 1 > user.length) return null;
  const flow = new Uint32Array(OF_WORDS);
  for (let i = 0; i < k; i++, p += 2) {
    const w = user[p];
    if (w < OF_W_METADATA || w >= OF_WORDS) return null;
    flow[w] = user[p + 1] >>> 0;
  }
  flow[0] = inPort & 0xffff;
  const len = user[p++];
  let userdata: Uint8Array | null = null;
  if (len >= 0) {
    if (p + ((len + 3) >> 2) > user.length) return null;
    userdata = new Uint8Array(len);
    for (let i = 0; i < len; i++) userdata[i] = (user[p + (i >> 2)] >>> (24 - 8 * (i & 3))) & 0xff;
  }
  return {
    reason: w0 & 0xff, table: (w0 >>> 8) & 0xff, controllerId: w0 >>> 16, cookie, userdata, inPort, flow,
    packet: Uint8Array.from(packet), totalLen, maxLen,
  };
}
