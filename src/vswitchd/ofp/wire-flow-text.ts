/*
 * dump-flows output straight from the bytes of a FlowStatsReply: each FlowStats is read field
 * by field into one reused view and match (no protobuf objects), and printed with the same
 * formatters as flowStatsFromWire + formatFlowStats, so the text is the same line for line.
 * Instructions other than plain outputs, and anything unusual in a match (the cases where
 * matchFromWire would complain), go through the schema codec and the object path for that
 * flow, errors included. Used by ofctl dump-flows; hot for 100k-flow dumps.
 */
import { endianness } from 'node:os';
import { PROTO_PACKAGE, schema } from '../../lib/flowproto/codec.js';
import type { FlowStats, Instruction } from '../../lib/flowproto/messages.js';
import { decodePlain } from '../../lib/flowproto/plain-codec.js';
import type protobuf from 'protobufjs';
import { formatActions } from './action-syntax.js';
import { F_NW_TOS, F_VLAN_PCP, fieldById } from './fields.js';
import { FLAG_NAMES, formatFlowStats, type FlowStatsView, type FormatFlowOptions } from './flow-syntax.js';
import { getBits, lowMask, OF_WORDS, OFPP_MAX, setBits } from './layout.js';
import { Match } from './match.js';
import { formatMatchInto } from './match-syntax.js';
import { TextWriter } from './text-writer.js';
import { formatPort } from './values.js';
import { flowStatsFromWire, instructionsFromWire } from './wire.js';

const TWO32 = 4294967296;
const LITTLE_ENDIAN = endianness() === 'LE';
const TWO32N = 4294967296n;
/** Most word indices readMatch records for clearing (a field spans a few words; a match has few fields). */
const MAX_DIRTY = 4 * OF_WORDS;

let flowStatsType: protobuf.Type | null = null;
let instructionType: protobuf.Type | null = null;

/** Prints the flows of FlowStatsReply bodies; one per dump (it keeps scratch state). */
export class FlowStatsPrinter {
  private buf: Uint8Array = new Uint8Array(0);
  private p = 0;
  /** High half of the last varint64() read. */
  private hi = 0;
  private readonly match = new Match(new Uint32Array(OF_WORDS), new Uint32Array(OF_WORDS));
  /** The match's words as bytes (their own buffers: offset 0). */
  private readonly value8 = new Uint8Array(this.match.value.buffer);
  private readonly mask8 = new Uint8Array(this.match.mask.buffer);
  private readonly view: FlowStatsView;
  /** The text of the flows printed so far by print(). */
  private readonly text = new TextWriter();
  /** Flows printed through the object path (slow()), for tests and diagnostics. */
  slowFlows = 0;
  /** Ports of the current flow's actions when they are outputs only (applyOutputs): the first portsN. */
  private readonly ports: number[] = [];
  private portsN = 0;
  /** Instruction bodies of the current flow: [start, end) pairs into buf, the first insN. */
  private readonly ins: number[] = [];
  private insN = 0;
  /** The current flow's cookie in two halves (a bigint is made only when it is printed and not 0). */
  private cookieLo = 0;
  private cookieHi = 0;
  /** Words of the match written since they were last cleared (readMatch clears only those). */
  private readonly dirty = new Int32Array(MAX_DIRTY);
  private dirtyN = 0;

  constructor(private readonly opts: FormatFlowOptions) {
    this.view = {
      table: 0, priority: 0, match: this.match, actions: [], cookie: 0n, durationMs: 0, packets: 0, bytes: 0, idleTimeout: 0,
      hardTimeout: 0, flags: 0, importance: 0, idleAge: 0, hardAge: 0,
    };
  }

  /** The dump-flows lines (each ending in "\n") of a FlowStatsReply body. Throws as the object path would. */
  print(body: Uint8Array): string {
    this.write(body, null, 0);
    return this.text.take();
  }

  /**
   * print()'s text as bytes (for a stream: no string made and encoded again), or as a string
   * when it is not all ASCII (a port name with --names may not be).
   */
  printBytes(body: Uint8Array): Buffer | string {
    this.write(body, null, 0);
    return this.text.takeAscii() ?? this.text.take();
  }

  /**
   * printBytes(), handed to `sink` in pieces of about `chunk` bytes as they are made: a reader
   * at the other end of a pipe (a pipe holds 64 KiB) works on one piece while the next is
   * printed, instead of waiting for a whole part.
   */
  printTo(body: Uint8Array, sink: (piece: Buffer | string) => void, chunk: number): void {
    this.write(body, sink, chunk);
    if (this.text.pos > 0) sink(this.text.takeAscii() ?? this.text.take());
  }

  private write(body: Uint8Array, sink: ((piece: Buffer | string) => void) | null, chunk: number): void {
    this.buf = body;
    this.p = 0;
    const t = this.text;
    while (this.p < body.length) {
      if (sink !== null && t.pos >= chunk) sink(t.takeAscii() ?? t.take());
      const key = this.varint();
      if (key !== ((1 << 3) | 2)) {
        this.skip(key & 7);
        continue;
      }
      const len = this.varint();
      const end = this.p + len;
      if (end > body.length) throw new RangeError('index out of range');
      this.flow(this.p, end);
      t.char(10);
      this.p = end;
    }
  }

  private flow(start: number, end: number): void {
    const v = this.view;
    v.table = 0; v.priority = 0; v.packets = 0; v.bytes = 0; v.idleTimeout = 0; v.hardTimeout = 0;
    v.flags = 0; v.importance = 0; v.idleAge = 0; v.hardAge = 0;
    let sec = 0;
    let nsec = 0;
    let mStart = -1;
    let mEnd = -1;
    this.insN = 0;
    this.cookieLo = 0;
    this.cookieHi = 0;
    while (this.p < end) {
      const key = this.varint();
      const wt = key & 7;
      const id = key >>> 3;
      if (wt === 0 && id <= 15 && id !== 12 && id !== 13) {
        if (id >= 9 && id <= 11) {
          const lo = this.varint64();
          if (id === 9) {
            this.cookieLo = lo;
            this.cookieHi = this.hi;
          } else if (id === 10) v.packets = this.hi * TWO32 + lo;
          else v.bytes = this.hi * TWO32 + lo;
          continue;
        }
        const x = this.varint();
        switch (id) {
          case 1: v.table = x; break;
          case 2: sec = x; break;
          case 3: nsec = x; break;
          case 4: v.priority = x; break;
          case 5: v.idleTimeout = x; break;
          case 6: v.hardTimeout = x; break;
          case 7: v.flags = x; break;
          case 8: v.importance = x; break;
          case 14: v.idleAge = x; break;
          case 15: v.hardAge = x; break;
          default: break;
        }
      } else if (wt === 2 && (id === 12 || id === 13)) {
        const len = this.varint();
        const e = this.p + len;
        if (e > end) throw new RangeError('index out of range');
        if (id === 12) {
          mStart = this.p; // the last one counts, as protobuf merges
          mEnd = e;
        } else {
          this.ins[this.insN++] = this.p;
          this.ins[this.insN++] = e;
        }
        this.p = e;
      } else {
        this.skip(wt);
      }
    }
    if (this.p !== end) throw new RangeError('index out of range');
    v.durationMs = sec * 1000 + Math.floor(nsec / 1e6);
    v.cookie = this.cookieLo === 0 && this.cookieHi === 0 ? 0n : this.cookieHi === 0 ? BigInt(this.cookieLo) : BigInt(this.cookieHi) * TWO32N + BigInt(this.cookieLo);
    const o = this.opts;
    const actions = this.outputsOnly(o);
    if (actions === null || !this.readMatch(mStart, mEnd)) {
      this.text.str(this.slow(start, end));
      return;
    }
    this.line(actions);
  }

  /**
   * formatFlowStatsText (flow-syntax.ts) with formatMatch, written into the text buffer piece
   * by piece; `actionsText` '' means the outputs in this.ports. The common line (cookie 0, no
   * timeouts, flags or ages) stays in this function, small enough for its writes to inline;
   * the rest is in head().
   */
  private line(actionsText: string): void {
    const f = this.view;
    const o = this.opts;
    const t = this.text;
    if (!o.noStats && this.cookieLo === 0 && this.cookieHi === 0) {
      // Constant runs are written as one piece (most flows have cookie 0).
      t.ascii(' cookie=0x0, duration=');
      this.stats();
      if (f.idleTimeout !== 0 || f.hardTimeout !== 0 || f.flags !== 0 || f.importance !== 0 || o.ages === true) this.rest();
    } else {
      this.head();
    }
    const before = t.pos;
    formatMatchInto(t, this.match, f.priority, o.names);
    if (t.pos !== before) t.char(32); // a match never ends in a space
    t.ascii('actions=');
    if (actionsText !== '') {
      t.str(actionsText);
      return;
    }
    // Outputs only: as formatAction prints them ("output:2", "NORMAL", a name with --names).
    const ports = this.ports;
    const n = this.portsN;
    if (n === 0) t.ascii('drop');
    for (let i = 0; i < n; i++) {
      const port = ports[i];
      if (i > 0) t.char(44);
      if (port < 0xff00 && o.names === undefined) {
        t.ascii('output:');
        t.uint(port);
      } else {
        if (port < 0xff00) t.ascii('output:');
        t.str(formatPort(port, o.names));
      }
    }
  }

  /** The statistics after "duration=": "1.5s, table=0, n_packets=0, n_bytes=0, ". */
  private stats(): void {
    const f = this.view;
    const t = this.text;
    const ms = Math.max(0, Math.floor(f.durationMs));
    t.uint(Math.floor(ms / 1000));
    if (ms % 1000 !== 0) {
      t.char(46);
      t.pad3(ms % 1000);
    }
    t.ascii('s, table=');
    t.uint(f.table);
    t.ascii(', n_packets=');
    t.uint(f.packets);
    t.ascii(', n_bytes=');
    t.uint(f.bytes);
    t.char(44);
    t.char(32);
  }

  /** line()'s text before the match when the cookie is not 0 or without statistics. */
  private head(): void {
    const f = this.view;
    const t = this.text;
    const stats = !this.opts.noStats;
    const noCookie = this.cookieLo === 0 && this.cookieHi === 0;
    t.char(32);
    if (stats || !noCookie) {
      t.ascii('cookie=0x');
      if (noCookie) t.char(48);
      else t.ascii(f.cookie.toString(16));
      t.ascii(', ');
    }
    if (stats) {
      t.ascii('duration=');
      this.stats();
    } else if (f.table !== 0) {
      t.ascii('table=');
      t.uint(f.table);
      t.ascii(', ');
    }
    this.rest();
  }

  /** line()'s timeouts, flags, importance and ages (each only when set). */
  private rest(): void {
    const f = this.view;
    const o = this.opts;
    const t = this.text;
    const stats = !o.noStats;
    if (f.idleTimeout) {
      t.ascii('idle_timeout=');
      t.uint(f.idleTimeout);
      t.ascii(', ');
    }
    if (f.hardTimeout) {
      t.ascii('hard_timeout=');
      t.uint(f.hardTimeout);
      t.ascii(', ');
    }
    if (f.flags) {
      for (const [name, bit] of FLAG_NAMES) {
        if (f.flags & bit) {
          t.ascii(name);
          t.char(32);
        }
      }
    }
    if (f.importance) {
      t.ascii('importance=');
      t.uint(f.importance);
      t.ascii(', ');
    }
    if (stats && o.ages) {
      if (f.idleAge >= 0) {
        t.ascii('idle_age=');
        t.uint(f.idleAge);
        t.ascii(', ');
      }
      if (f.hardAge >= 0 && f.hardAge !== Math.floor(f.durationMs / 1000)) {
        t.ascii('hard_age=');
        t.uint(f.hardAge);
        t.ascii(', ');
      }
    }
  }

  /** The whole flow through the object path (rare forms, and the errors they raise). */
  private slow(start: number, end: number): string {
    this.slowFlows++;
    flowStatsType ??= schema().lookupType(`${PROTO_PACKAGE}.FlowStats`);
    const st = decodePlain(flowStatsType, this.buf.subarray(start, end)) as unknown as FlowStats;
    return formatFlowStats(flowStatsFromWire(st), this.opts);
  }

  /**
   * The actions text: '' when the instructions are one apply_actions of plain outputs to valid
   * ports (line() prints this.ports), "drop" when there are none; other instruction lists are
   * formatted from their decoded objects; null (they are invalid) sends the flow to slow().
   */
  private outputsOnly(o: FormatFlowOptions): string | null {
    const ins = this.ins;
    const n = this.insN;
    if (n === 0) return 'drop';
    if (n === 2) {
      if (this.applyOutputs(ins[0], ins[1])) return ''; // line() writes this.ports
    }
    instructionType ??= schema().lookupType(`${PROTO_PACKAGE}.Instruction`);
    const list: Instruction[] = [];
    for (let i = 0; i < n; i += 2) list.push(decodePlain(instructionType, this.buf.subarray(ins[i], ins[i + 1])) as unknown as Instruction);
    let actions;
    try {
      actions = instructionsFromWire(list);
    } catch {
      return null;
    }
    return formatActions(actions, o.names);
  }

  /**
   * Whether the Instruction in buf[start, end) is apply_actions of outputs to valid ports only;
   * if so, their model port numbers are in this.ports.
   */
  private applyOutputs(start: number, end: number): boolean {
    const b = this.buf;
    // Instruction { apply_actions (1, LEN) { actions (1, LEN) { output (1, LEN) { port (1, varint) } } ... } }
    this.p = start;
    if (this.p >= end || b[this.p++] !== 0x0a) return false;
    const aEnd = this.varint() + this.p;
    if (aEnd !== end) return false;
    const ports = this.ports;
    this.portsN = 0;
    while (this.p < aEnd) {
      if (b[this.p++] !== 0x0a) return false;
      const actEnd = this.varint() + this.p;
      if (actEnd > aEnd || this.p >= actEnd || b[this.p++] !== 0x0a) return false;
      const outEnd = this.varint() + this.p;
      if (outEnd !== actEnd) return false;
      let wire = 0;
      while (this.p < outEnd) {
        const key = this.varint();
        if (key !== 0x08) return false;
        wire = this.varint() >>> 0;
      }
      if (this.p !== outEnd) return false;
      // portFromWire's valid range (else the object path raises its error).
      const port = wire >= 0xffffff00 ? wire - 0xffff0000 : wire < OFPP_MAX ? wire : -1;
      if (port < 0) return false;
      ports[this.portsN++] = port;
    }
    return true;
  }

  /**
   * Reads the Match in buf[start, end) into the scratch match as matchFromWire would; false
   * when it is a case matchFromWire treats specially or refuses (the caller then uses it).
   */
  private readMatch(start: number, end: number): boolean {
    const val = this.match.value;
    const msk = this.match.mask;
    // Only the words the last match wrote are not zero.
    const dirty = this.dirty;
    for (let i = 0; i < this.dirtyN; i++) {
      const w = dirty[i];
      val[w] = 0;
      msk[w] = 0;
    }
    this.dirtyN = 0;
    if (start < 0) return true;
    const b = this.buf;
    // Every key, length and id in a match the switch sends is one varint byte (fields under 128
    // bytes, ids under 128): anything longer is left to matchFromWire (return false).
    let p = start;
    while (p < end) {
      if (b[p] !== ((1 << 3) | 2) || p + 1 >= end) return false;
      const fLen = b[p + 1];
      p += 2;
      const fEnd = p + fLen;
      if (fLen >= 128 || fEnd > end) return false;
      let id = 0;
      let vs = -1;
      let vl = 0;
      let ms = -1;
      let ml = 0;
      while (p < fEnd) {
        const k = b[p];
        if (p + 1 >= fEnd) return false;
        const x = b[p + 1];
        if (x >= 128) return false;
        p += 2;
        if (k === 0x08) id = x;
        else if (k === 0x12) { vs = p; vl = x; p += x; }
        else if (k === 0x1a) { ms = p; ml = x; p += x; }
        else return false;
      }
      if (p !== fEnd) return false;
      const f = fieldById(id);
      if (f === undefined || id === 0 || id === F_NW_TOS.id || id === F_VLAN_PCP.id) return false;
      const first = f.pos >>> 5;
      const last = (f.pos + f.width - 1) >>> 5;
      if (this.dirtyN + last - first + 1 > MAX_DIRTY) return false; // more fields than a match has
      for (let i = first; i <= last; i++) dirty[this.dirtyN++] = i;
      const n = (f.width + 7) >> 3;
      if (vl !== n || (ml !== 0 && ml !== n)) return false;
      const head = f.width - (n - 1) * 8;
      const hm = lowMask(head);
      if (b[vs] > hm || (ml !== 0 && b[ms] > hm)) return false;
      if (head === 8 && (f.pos & 7) === 0 && LITTLE_ENDIAN) {
        // Whole bytes: stream byte i is byte (i ^ 3) of the little-endian words.
        const mb8 = this.mask8;
        const vb8 = this.value8;
        const at = f.pos >>> 3;
        for (let i = 0; i < n; i++) if (mb8[(at + i) ^ 3] !== 0) return false; // DUP_FIELD
        let ones = true;
        for (let i = 0; i < n; i++) {
          vb8[(at + i) ^ 3] = b[vs + i];
          const mb = ml === 0 ? 0xff : b[ms + i];
          if (mb !== 0xff) ones = false;
          mb8[(at + i) ^ 3] = mb;
        }
        if (!f.maskable && !ones) return false;
      } else if (n > 1 && ((f.pos + head) & 7) === 0 && LITTLE_ENDIAN) {
        // Whole bytes after the head: stream byte i is byte (i ^ 3) of the little-endian words.
        const mb8 = this.mask8;
        const vb8 = this.value8;
        if (getBits(msk, f.pos, head) !== 0) return false;
        let at = (f.pos + head) >>> 3;
        for (let i = 1; i < n; i++) if (mb8[(at + i - 1) ^ 3] !== 0) return false; // DUP_FIELD
        let ones = ml === 0 || b[ms] === hm;
        setBits(val, f.pos, head, b[vs]);
        setBits(msk, f.pos, head, ml === 0 ? hm : b[ms]);
        for (let i = 1; i < n; i++, at++) {
          vb8[at ^ 3] = b[vs + i];
          const mb = ml === 0 ? 0xff : b[ms + i];
          if (mb !== 0xff) ones = false;
          mb8[at ^ 3] = mb;
        }
        if (!f.maskable && !ones) return false;
      } else {
        for (let i = 0; i < n; i++) if (getBits(msk, f.pos + (i === 0 ? 0 : head + (i - 1) * 8), i === 0 ? head : 8) !== 0) return false;
        let ones = true;
        for (let i = 0; i < n; i++) {
          const pos = f.pos + (i === 0 ? 0 : head + (i - 1) * 8);
          const width = i === 0 ? head : 8;
          setBits(val, pos, width, b[vs + i]);
          const mb = ml === 0 ? lowMask(width) : b[ms + i];
          if (mb !== lowMask(width)) ones = false;
          setBits(msk, pos, width, mb);
        }
        if (!f.maskable && !ones) return false;
      }
      for (let i = first; i <= last; i++) val[i] = (val[i] & msk[i]) >>> 0;
    }
    return p === end;
  }

  private varint(): number {
    const b = this.buf;
    const p = this.p;
    if (p < b.length) {
      const c = b[p];
      if (c < 128) {
        this.p = p + 1;
        return c;
      }
    }
    return this.varintLong();
  }

  /** varint() past its one-byte case. */
  private varintLong(): number {
    const b = this.buf;
    let x = 0;
    let shift = 0;
    for (;;) {
      if (this.p >= b.length) throw new RangeError('index out of range');
      const c = b[this.p++];
      if (shift < 28) x |= (c & 127) << shift;
      else if (shift === 28) x |= (c & 15) << 28;
      if (c < 128) return x >>> 0;
      shift += 7;
      if (shift > 63) throw new Error('invalid varint encoding');
    }
  }

  /** A 64-bit varint: the low half returned, the high half in this.hi. */
  private varint64(): number {
    const b = this.buf;
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (;;) {
      if (this.p >= b.length) throw new RangeError('index out of range');
      const c = b[this.p++];
      if (shift < 28) lo |= (c & 127) << shift;
      else if (shift === 28) {
        lo |= (c & 15) << 28;
        hi = (c & 127) >> 4;
      } else if (shift < 64) hi |= (c & 127) << (shift - 32);
      if (c < 128) break;
      shift += 7;
      if (shift > 63) throw new Error('invalid varint encoding');
    }
    this.hi = hi >>> 0;
    return lo >>> 0;
  }

  private skip(wt: number): void {
    switch (wt) {
      case 0: this.varint(); return;
      case 1: this.p += 8; return;
      case 2: { const n = this.varint(); this.p += n; return; }
      case 5: this.p += 4; return;
      default: throw new Error(`invalid wire type ${wt}`);
    }
  }
}
