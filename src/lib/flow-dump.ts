/*
 * Flow dump records: how the datapath describes its flows to vswitchd's revalidator and to
 * dpctl, in the binary DUMP_REPLY pages of the dpif protocol (src/lib/dpif-proto.ts). The
 * datapath writes records with writeFlowRecord (control path, a page at a time); clients decode
 * a page into a FlowDumpPage, whose typed arrays are reused from page to page so a dump of
 * 200k flows allocates per page at most, not per flow.
 *
 * A record, little-endian: u32 words (bit w set: mask word w is nonzero) | per set bit, in
 * order: u32 key word (already masked), u32 mask word | u32 nActions | i32 actions[n] |
 * f64 packets | f64 bytes | f64 used | f64 created (ms since the epoch; used 0 = never). A
 * megaflow's mask has few nonzero words, so a NORMAL flow takes about 90 bytes.
 */
import type { FrameWriter } from './dpif-proto.js';
import { KEY_WORDS } from './flow-key.js';

/** A dumped flow as plain data (tools, tests; the revalidator reads FlowDumpPage directly). */
export interface DumpedFlow {
  /** Masked key, KEY_WORDS words. */
  key: number[];
  /** KEY_WORDS words; all ones for an exact-match flow. */
  mask: number[];
  actions: number[];
  packets: number;
  bytes: number;
  /** ms since the epoch; 0 = never. */
  used: number;
  created: number;
}

/** Appends one record for a flow (control path). */
export function writeFlowRecord(
  w: FrameWriter, key: Uint32Array, ko: number, mask: Uint32Array, mo: number, acts: Int32Array,
  packets: number, bytes: number, used: number, created: number,
): void {
  let bits = 0;
  for (let i = 0; i < KEY_WORDS; i++) if (mask[mo + i] !== 0) bits |= 1 << i;
  w.u32(bits);
  for (let i = 0; i < KEY_WORDS; i++) {
    if (mask[mo + i] === 0) continue;
    w.u32(key[ko + i] & mask[mo + i]);
    w.u32(mask[mo + i]);
  }
  w.u32(acts.length);
  for (let i = 0; i < acts.length; i++) w.i32(acts[i]);
  w.f64(packets);
  w.f64(bytes);
  w.f64(used);
  w.f64(created);
}

/** One decoded DUMP_REPLY page; flow i's key and mask are at keys/masks[i*KEY_WORDS ..]. */
export class FlowDumpPage {
  /** Flows in this page. */
  n = 0;
  /** Id to ask for the next page with. */
  dumpId = 0;
  /** This was the last page. */
  done = false;
  keys: Uint32Array = new Uint32Array(0);
  masks: Uint32Array = new Uint32Array(0);
  /** Flow i's actions are acts[actOffs[i], actOffs[i+1]). */
  actOffs: Uint32Array = new Uint32Array(1);
  acts: Int32Array = new Int32Array(256);
  packets: Float64Array = new Float64Array(0);
  bytes: Float64Array = new Float64Array(0);
  used: Float64Array = new Float64Array(0);
  created: Float64Array = new Float64Array(0);

  /** Decodes a DUMP_REPLY body; false if it is malformed. */
  decode(buf: Buffer, off: number, len: number): boolean {
    const end = off + len;
    if (len < 12) return false;
    this.dumpId = buf.readUInt32LE(off);
    this.done = (buf.readUInt32LE(off + 4) & 1) !== 0;
    const n = buf.readUInt32LE(off + 8);
    if (n > len) return false;
    this.reserve(n);
    this.n = 0;
    let p = off + 12;
    let na = 0;
    for (let i = 0; i < n; i++) {
      if (end - p < 4) return false;
      const bits = buf.readUInt32LE(p);
      p += 4;
      const b = i * KEY_WORDS;
      for (let w = 0; w < KEY_WORDS; w++) {
        if ((bits & (1 << w)) === 0) {
          this.keys[b + w] = 0;
          this.masks[b + w] = 0;
          continue;
        }
        if (end - p < 8) return false;
        this.keys[b + w] = buf.readUInt32LE(p);
        this.masks[b + w] = buf.readUInt32LE(p + 4);
        p += 8;
      }
      if (end - p < 4) return false;
      const nActs = buf.readUInt32LE(p);
      p += 4;
      if (nActs > (end - p) / 4 || end - p - 4 * nActs < 32) return false;
      if (this.acts.length < na + nActs) this.acts = grow(this.acts, na + nActs);
      for (let k = 0; k < nActs; k++) this.acts[na + k] = buf.readInt32LE(p + 4 * k);
      p += 4 * nActs;
      this.actOffs[i] = na;
      na += nActs;
      this.actOffs[i + 1] = na;
      this.packets[i] = buf.readDoubleLE(p);
      this.bytes[i] = buf.readDoubleLE(p + 8);
      this.used[i] = buf.readDoubleLE(p + 16);
      this.created[i] = buf.readDoubleLE(p + 24);
      p += 32;
    }
    this.n = n;
    return p === end;
  }

  /** Number of action words of flow i. */
  nActions(i: number): number {
    return this.actOffs[i + 1] - this.actOffs[i];
  }

  /** Flow i's actions (a view, valid until the next decode). */
  actionsOf(i: number): Int32Array {
    return this.acts.subarray(this.actOffs[i], this.actOffs[i + 1]);
  }

  /** The page as plain objects (control path: tools, tests). */
  toFlows(): DumpedFlow[] {
    const out: DumpedFlow[] = [];
    for (let i = 0; i < this.n; i++) {
      const b = i * KEY_WORDS;
      out.push({
        key: Array.from(this.keys.subarray(b, b + KEY_WORDS)),
        mask: Array.from(this.masks.subarray(b, b + KEY_WORDS)),
        actions: Array.from(this.actionsOf(i)),
        packets: this.packets[i], bytes: this.bytes[i], used: this.used[i], created: this.created[i],
      });
    }
    return out;
  }

  /** A page holding `flows` (tests and in-memory datapaths). Keys are masked on the way in. */
  static fromFlows(flows: readonly DumpedFlow[], done = true, dumpId = 0): FlowDumpPage {
    const pg = new FlowDumpPage();
    pg.reserve(flows.length);
    let na = 0;
    flows.forEach((f, i) => {
      const b = i * KEY_WORDS;
      for (let w = 0; w < KEY_WORDS; w++) {
        const m = (f.mask[w] ?? 0xffffffff) >>> 0;
        pg.masks[b + w] = m;
        pg.keys[b + w] = ((f.key[w] ?? 0) & m) >>> 0;
      }
      if (pg.acts.length < na + f.actions.length) pg.acts = grow(pg.acts, na + f.actions.length);
      pg.acts.set(f.actions, na);
      pg.actOffs[i] = na;
      na += f.actions.length;
      pg.actOffs[i + 1] = na;
      pg.packets[i] = f.packets;
      pg.bytes[i] = f.bytes;
      pg.used[i] = f.used;
      pg.created[i] = f.created;
    });
    pg.n = flows.length;
    pg.done = done;
    pg.dumpId = dumpId;
    return pg;
  }

  private reserve(n: number): void {
    if (this.packets.length >= n) return;
    const cap = Math.max(n, this.packets.length * 2, 16);
    this.keys = new Uint32Array(cap * KEY_WORDS);
    this.masks = new Uint32Array(cap * KEY_WORDS);
    this.actOffs = new Uint32Array(cap + 1);
    this.packets = new Float64Array(cap);
    this.bytes = new Float64Array(cap);
    this.used = new Float64Array(cap);
    this.created = new Float64Array(cap);
  }
}

function grow(a: Int32Array, min: number): Int32Array {
  let size = Math.max(a.length * 2, 256);
  while (size < min) size *= 2;
  const b = new Int32Array(size);
  b.set(a);
  return b;
}
