/*
 * Decoding of the two messages a dump streams, without the schema: Hello and a MultipartReply
 * whose flow stats stay bytes (setRawDecode). codec.ts's decodeMessage tries this first, so
 * `ofctl dump-flows` reads its whole reply without loading protobufjs (tens of ms per run).
 * Anything else, or anything unusual in these two (unknown or repeated fields, a long varint,
 * a non-ASCII agent), returns null and goes through the schema codec, which stays the
 * reference: test/unit/lib/flowproto/fast-decode.test.ts checks both give equal objects.
 * Control path, hot for 100k-flow dumps (once per 2048 flows).
 */
import type { FlowMessage } from './messages.js';
import { isRawDecoded, RawMessage } from './plain-codec.js';

const FLOW_STATS_REPLY = '.vswitch.flow.v1.FlowStatsReply';

/** Keys (field << 3 | wire type) read here. */
const K_VERSION = (1 << 3) | 0;
const K_XID = (2 << 3) | 0;
const K_HELLO = (10 << 3) | 2;
const K_MULTIPART_REPLY = (26 << 3) | 2;
const K_MORE = (1 << 3) | 0;
const K_FLOW = (11 << 3) | 2;
const K_VERSIONS_PACKED = (1 << 3) | 2;
const K_VERSIONS = (1 << 3) | 0;
const K_AGENT = (2 << 3) | 2;

/** Read position, shared by the readers below (one decode at a time; nothing here yields). */
let pos = 0;

/** A varint of at most 5 bytes as a uint32, or -1 (too long or past `end`: the caller gives up). */
function varint(b: Uint8Array, end: number): number {
  let x = 0;
  for (let i = 0; i < 5; i++) {
    if (pos >= end) return -1;
    const c = b[pos++];
    x += (c & 127) * 2 ** (7 * i);
    if (c < 128) return i === 4 && c > 15 ? -1 : x;
  }
  return -1;
}

/**
 * The message in `b`, as decodeMessage's schema path would give it, when it is a Hello or a
 * MultipartReply carrying raw flow stats; null for anything else.
 */
export function decodeCommon(b: Uint8Array): FlowMessage | null {
  pos = 0;
  const end = b.length;
  let version = 0;
  let xid = 0;
  let msg: FlowMessage | null = null;
  while (pos < end) {
    const key = varint(b, end);
    if (key === K_VERSION || key === K_XID) {
      const v = varint(b, end);
      if (v < 0) return null;
      if (key === K_VERSION) version = v;
      else xid = v;
    } else if ((key === K_HELLO || key === K_MULTIPART_REPLY) && msg === null) {
      const len = varint(b, end);
      if (len < 0 || pos + len > end) return null;
      const bodyEnd = pos + len;
      msg = key === K_HELLO ? hello(b, bodyEnd) : multipartReply(b, bodyEnd);
      if (msg === null || pos !== bodyEnd) return null;
    } else {
      return null;
    }
  }
  if (msg === null) return null;
  msg.version = version;
  msg.xid = xid;
  return msg;
}

function multipartReply(b: Uint8Array, end: number): FlowMessage | null {
  if (!isRawDecoded(FLOW_STATS_REPLY)) return null;
  let more = false;
  let flow: RawMessage | null = null;
  while (pos < end) {
    const key = varint(b, end);
    if (key === K_MORE) {
      const v = varint(b, end);
      if (v < 0) return null;
      more = v !== 0;
    } else if (key === K_FLOW && flow === null) {
      const len = varint(b, end);
      if (len < 0 || pos + len > end) return null;
      flow = new RawMessage(b.subarray(pos, pos + len));
      pos += len;
    } else {
      return null;
    }
  }
  if (flow === null) return null;
  const reply = (more ? { more: true, flow, body: 'flow' } : { flow, body: 'flow' }) as unknown as FlowMessage['multipartReply'];
  return { multipartReply: reply, body: 'multipartReply' } as FlowMessage;
}

function hello(b: Uint8Array, end: number): FlowMessage | null {
  const versions: number[] = [];
  let agent = '';
  let agentSeen = false;
  while (pos < end) {
    const key = varint(b, end);
    if (key === K_VERSIONS) {
      const v = varint(b, end);
      if (v < 0) return null;
      versions.push(v);
    } else if (key === K_VERSIONS_PACKED) {
      const len = varint(b, end);
      if (len < 0 || pos + len > end) return null;
      const e = pos + len;
      while (pos < e) {
        const v = varint(b, e);
        if (v < 0) return null;
        versions.push(v);
      }
    } else if (key === K_AGENT && !agentSeen) {
      const len = varint(b, end);
      if (len < 0 || pos + len > end) return null;
      for (let i = pos; i < pos + len; i++) {
        if (b[i] >= 128) return null;
        agent += String.fromCharCode(b[i]);
      }
      agentSeen = true;
      pos += len;
    } else {
      return null;
    }
  }
  if (versions.length === 0) return null;
  const h = agent === '' ? { versions } : { versions, agent };
  return { hello: h, body: 'hello' } as FlowMessage;
}
