/*
 * Schema-driven encoding and decoding of flow protocol messages straight between plain objects
 * (the shapes of messages.ts) and protobuf bytes, without protobufjs's message instances and
 * fromObject/toObject passes; same values and presence rules as protobufjs 8. Per reflected Type
 * (from the .proto codec.ts loads; codec.ts is the only caller) it generates size, write and
 * read functions once; protobufjs's Reader does primitive reads. Control path, but hot for bulk
 * flow tables (100k flow mods or flow stats per command). A nested message may also travel as
 * a RawMessage, its bytes already encoded (vswitchd's flow stats) or kept undecoded (ofctl's
 * dump-flows, see setRawDecode), so bulk replies skip the object form altogether.
 */
import { createRequire } from 'node:module';
import type protobuf from 'protobufjs';

/** protobufjs, loaded on first use (a dump that fast-decode.ts reads whole never loads it). */
let pbLib: typeof protobuf | null = null;
export function protobufLib(): typeof protobuf {
  pbLib ??= createRequire(import.meta.url)('protobufjs') as typeof protobuf;
  return pbLib;
}

/**
 * A nested message as its encoded bytes (without the length prefix). Encoding writes the bytes
 * as the message's body; decoding yields one for the types named to setRawDecode (a view into
 * the decoded buffer).
 */
export class RawMessage {
  constructor(readonly bytes: Uint8Array) {}
}

/** Full names (".pkg.Type") of the types decoded as RawMessage while set. */
const rawTypes = new Set<string>();

/** Field kinds. */
const K_UINT32 = 0, K_INT32 = 1, K_BOOL = 2, K_STRING = 3, K_BYTES = 4, K_UINT64 = 5, K_INT64 = 6, K_MSG = 7, K_OTHER = 8;

interface FieldInfo {
  name: string;
  kind: number;
  repeated: boolean;
  packed: boolean;
  /** Name of the oneof (real or synthetic) this field belongs to, or null. */
  oneof: string | null;
  /** Other members of that oneof (cleared when this one is set: last one wins). */
  siblings: string[];
  /** proto3 implicit presence: the default value (0, false, '', empty) is not sent nor kept. */
  implicit: boolean;
  /** Field key (id << 3 | wire type) as written, and its varint length. */
  key: number;
  keyLen: number;
}

type Plain = Record<string, unknown>;

/** Per-type functions, generated from the schema so each property access site stays monomorphic. */
interface TypeInfo {
  /** Nested messages of this type decode to RawMessage (setRawDecode). */
  raw: boolean;
  fullName: string;
  size: (o: Plain) => number;
  put: (o: Plain) => void;
  decode: (r: protobuf.Reader, end: number) => Plain;
}

const infos = new Map<protobuf.Type, TypeInfo>();

function kindOf(f: protobuf.Field): number {
  const pb = protobufLib();
  if (f.resolvedType instanceof pb.Type) return K_MSG;
  if (f.resolvedType instanceof pb.Enum) return K_INT32;
  switch (f.type) {
    case 'uint32': return K_UINT32;
    case 'int32': return K_INT32;
    case 'bool': return K_BOOL;
    case 'string': return K_STRING;
    case 'bytes': return K_BYTES;
    case 'uint64': case 'fixed64': return K_UINT64;
    case 'int64': case 'sint64': case 'sfixed64': return K_INT64;
    default: return K_OTHER;
  }
}

const READ: Record<number, string> = {
  [K_UINT32]: 'r.uint32()', [K_INT32]: 'r.int32()', [K_BOOL]: 'r.bool()', [K_STRING]: 'r.string()', [K_BYTES]: 'r.bytes()',
  [K_UINT64]: 'h.rv64(r,false)', [K_INT64]: 'h.rv64(r,true)',
};

/**
 * The functions of `t`, each generated on its first call: a process that uses a few types
 * (ofctl dump-flows) does not pay for compiling the whole schema at its first message.
 */
function typeInfo(t: protobuf.Type): TypeInfo {
  let info = infos.get(t);
  if (info !== undefined) return info;
  const shell: TypeInfo = {
    raw: rawTypes.has(t.fullName),
    fullName: t.fullName,
    size: (o) => compile(t, shell).size(o),
    put: (o) => compile(t, shell).put(o),
    decode: (r, end) => compile(t, shell).decode(r, end),
  };
  infos.set(t, shell);
  return shell;
}

/** Generates `t`'s functions into its shell (nested types get their shells, not yet compiled). */
function compile(t: protobuf.Type, shell: TypeInfo): TypeInfo {
  t.resolveAll();
  const fields: FieldInfo[] = [];
  const subs: TypeInfo[] = [];
  const subOf: number[] = [];
  for (const f of [...t.fieldsArray].sort((x, y) => x.id - y.id)) {
    if (f.map) throw new Error(`map field ${t.name}.${f.name} not supported`);
    const o = f.partOf;
    const kind = kindOf(f);
    if (kind === K_OTHER) throw new Error(`field type ${f.type} of ${t.name}.${f.name} not supported`);
    const packed = f.repeated && kind !== K_MSG && kind !== K_STRING && kind !== K_BYTES && f.packed;
    const wt = kind === K_MSG || kind === K_STRING || kind === K_BYTES || packed ? 2 : 0;
    const key = ((f.id << 3) | wt) >>> 0;
    const real = o !== null && !o.isProto3Optional;
    fields.push({
      name: f.name, kind, repeated: f.repeated, packed, oneof: real ? o.name : null,
      siblings: real ? o.oneof.filter((n) => n !== f.name) : [], implicit: kind !== K_MSG && !f.repeated && !f.hasPresence,
      key, keyLen: varintLen(key),
    });
    subOf.push(kind === K_MSG ? subs.push(typeInfo(f.resolvedType as protobuf.Type)) - 1 : -1);
  }
  // Encoding walks the object's own keys (most fields are usually absent: a oneof has one member
  // set), in their order; protobuf readers accept fields in any order.
  let size = 'let n=0;\nfor(const k in o){const v=o[k];if(v==null)continue;switch(k){\n';
  let put = 'for(const k in o){const v=o[k];if(v==null)continue;switch(k){\n';
  let dec = 'const o={};\nwhile(r.pos<end){const t=r.uint32();switch(t>>>3){\n';
  fields.forEach((f, j) => {
    const p = `o[${JSON.stringify(f.name)}]`;
    const S = `S[${subOf[j]}]`;
    size += `case ${JSON.stringify(f.name)}:`;
    put += `case ${JSON.stringify(f.name)}:`;
    if (f.kind === K_MSG) {
      size += f.repeated ? `for(let i=0;i<v.length;i++)n+=${f.keyLen}+h.ml(v[i],${S});` : `n+=${f.keyLen}+h.ml(v,${S});`;
      put += f.repeated ? `for(let i=0;i<v.length;i++){h.pv(${f.key});h.pm(v[i],${S});}` : `h.pv(${f.key});h.pm(v,${S});`;
    } else if (f.packed) {
      size += `if(v.length){let m=0;for(let i=0;i<v.length;i++)m+=h.sl(${f.kind},v[i]);n+=${f.keyLen}+h.vl(m)+m;}`;
      put += `if(v.length){let m=0;for(let i=0;i<v.length;i++)m+=h.sl(${f.kind},v[i]);h.pv(${f.key});h.pv(m);for(let i=0;i<v.length;i++)h.ps(${f.kind},v[i]);}`;
    } else if (f.repeated) {
      size += `for(let i=0;i<v.length;i++)n+=${f.keyLen}+h.sl(${f.kind},v[i]);`;
      put += `for(let i=0;i<v.length;i++){h.pv(${f.key});h.ps(${f.kind},v[i]);}`;
    } else {
      const skip = !f.implicit ? '' : f.kind === K_STRING || f.kind === K_BYTES ? 'if(!v.length)break;' : 'if(!v)break;';
      size += `${skip}n+=${f.keyLen}+h.sl(${f.kind},v);`;
      put += `${skip}h.pv(${f.key});h.ps(${f.kind},v);`;
    }
    size += 'break;\n';
    put += 'break;\n';
    const read = f.kind === K_MSG ? `h.dm(r,end,${S})` : READ[f.kind];
    const wt = f.key & 7;
    dec += `case ${f.key >>> 3}:{`;
    // A field with an unexpected wire type is skipped as unknown (as protobufjs does).
    dec += f.packed ? 'if((t&7)!==2&&(t&7)!==0){r.skipType(t&7);break;}' : `if((t&7)!==${wt}){r.skipType(t&7);break;}`;
    if (f.repeated) {
      dec += `const a=${p}||(${p}=[]);`;
      dec += f.kind === K_MSG || f.kind === K_STRING || f.kind === K_BYTES ? `a.push(${read});`
        : `if((t&7)===2){const e=r.uint32()+r.pos;while(r.pos<e)a.push(${read});}else a.push(${read});`;
    } else if (f.implicit) {
      const isSet = f.kind === K_STRING || f.kind === K_BYTES ? 'v.length' : 'v';
      dec += `const v=${read};if(${isSet})${p}=v;else if(${p}!==undefined)delete ${p};`;
    } else {
      dec += `${p}=${read};`;
      if (f.oneof !== null) {
        for (const sib of f.siblings) dec += `if(o[${JSON.stringify(sib)}]!==undefined)delete o[${JSON.stringify(sib)}];`;
        dec += `o[${JSON.stringify(f.oneof)}]=${JSON.stringify(f.name)};`;
      }
    }
    dec += 'break;}\n';
  });
  size += '}}\nreturn n;';
  put += '}}';
  dec += 'default:r.skipType(t&7);}}\nif(r.pos!==end)throw new RangeError("index out of range");\nreturn o;';
  const make = (body: string, args: string): unknown => new Function('S', 'h', `return function(${args}){${body}};`)(subs, HELPERS);
  shell.size = make(size, 'o') as TypeInfo['size'];
  shell.put = make(put, 'o') as TypeInfo['put'];
  shell.decode = make(dec, 'r,end') as TypeInfo['decode'];
  return shell;
}

const TWO32 = 4294967296n;

function readVarint64(r: protobuf.Reader, signed: boolean): bigint {
  const buf = r.buf;
  let lo = 0, hi = 0, shift = 0, pos = r.pos, b = 0;
  // low 28 bits, then bits 28..34 split across halves, then the high part
  for (; shift < 28; shift += 7) {
    if (pos >= r.len) throw new RangeError('index out of range');
    b = buf[pos++];
    lo |= (b & 127) << shift;
    if (b < 128) { r.pos = pos; return toBig(lo >>> 0, 0, signed); }
  }
  if (pos >= r.len) throw new RangeError('index out of range');
  b = buf[pos++];
  lo |= (b & 127) << 28;
  hi = (b & 127) >> 4;
  if (b < 128) { r.pos = pos; return toBig(lo >>> 0, hi, signed); }
  for (shift = 3; shift < 32; shift += 7) {
    if (pos >= r.len) throw new RangeError('index out of range');
    b = buf[pos++];
    hi |= (b & 127) << shift;
    if (b < 128) { r.pos = pos; return toBig(lo >>> 0, hi >>> 0, signed); }
  }
  throw new Error('invalid varint encoding');
}

function toBig(lo: number, hi: number, signed: boolean): bigint {
  if (hi === 0) return BigInt(lo);
  const v = BigInt(hi) * TWO32 + BigInt(lo);
  return signed ? BigInt.asIntN(64, v) : v;
}

/** A nested message: its length, then its fields (within the enclosing message's end). */
function decodeNested(r: protobuf.Reader, end: number, sub: TypeInfo): Plain {
  const len = r.uint32();
  const e = r.pos + len;
  if (e > end) throw new RangeError('index out of range');
  if (sub.raw) {
    r.pos = e;
    return new RawMessage(r.buf.subarray(e - len, e)) as unknown as Plain;
  }
  return sub.decode(r, e);
}

/**
 * While `on`, nested messages of type `fullName` (".vswitch.flow.v1.FlowStatsReply") decode to
 * a RawMessage holding their bytes instead of an object: a caller that reads them itself (ofctl
 * dump-flows printing 100k flows) skips the object form. Process-wide: turn it off after use.
 */
export function setRawDecode(fullName: string, on: boolean): void {
  if (on) rawTypes.add(fullName);
  else rawTypes.delete(fullName);
  for (const info of infos.values()) if (info.fullName === fullName) info.raw = on;
}

/** Whether nested messages of type `fullName` decode to RawMessage now (setRawDecode). */
export function isRawDecoded(fullName: string): boolean {
  return rawTypes.has(fullName);
}

/** Decodes `buf` as a `t` into a plain object (uint64 as bigint, bytes as views into buf). */
export function decodePlain(t: protobuf.Type, buf: Uint8Array): Record<string, unknown> {
  const r = protobufLib().Reader.create(buf);
  return typeInfo(t).decode(r, r.len);
}

// ---- Encoding: a size pass (nested message lengths kept in preorder), then one write pass ----

const MAX_SAFE = 0x1fffffffffffff;
const MASK32 = 0xffffffffn;
const TWO32N = 4294967296;

let lo = 0;
let hi = 0;
/** Splits a uint64/int64 value (bigint or number) into lo/hi (two's complement). */
function split64(v: unknown): void {
  if (typeof v === 'number' && v >= 0 && v <= MAX_SAFE) {
    lo = v >>> 0;
    hi = Math.floor(v / TWO32N) >>> 0;
    return;
  }
  const u = BigInt.asUintN(64, typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v))));
  lo = Number(u & MASK32);
  hi = Number(u >> 32n);
}

function varintLen(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

function varint64Len(l: number, h: number): number {
  if (h === 0) return varintLen(l);
  let n = 1;
  while (h !== 0 || l > 127) {
    l = ((l >>> 7) | (h << 25)) >>> 0;
    h >>>= 7;
    n++;
  }
  return n;
}

let sizes: number[] = [];
let si = 0;
let out: Buffer = Buffer.alloc(0);
let pos = 0;

function scalarLen(kind: number, v: unknown): number {
  switch (kind) {
    case K_UINT32: return varintLen((v as number) >>> 0);
    case K_INT32: return (v as number) < 0 ? 10 : varintLen((v as number) | 0);
    case K_BOOL: return 1;
    case K_STRING: { const n = Buffer.byteLength(v as string); return varintLen(n) + n; }
    case K_BYTES: { const n = (v as Uint8Array).length; return varintLen(n) + n; }
    default: split64(v); return varint64Len(lo, hi);
  }
}

/** Length prefix + body of a nested message; records the body length for the write pass. */
function msgLen(o: Plain, info: TypeInfo): number {
  if (o instanceof RawMessage) return varintLen(o.bytes.length) + o.bytes.length;
  if (typeof o !== 'object' || o === null) throw new TypeError(`expected an object for a nested message, got ${typeof o}`);
  const slot = sizes.length;
  sizes.push(0);
  const n = info.size(o);
  sizes[slot] = n;
  return varintLen(n) + n;
}

function putVarint(v: number): void {
  while (v > 127) {
    out[pos++] = (v & 127) | 128;
    v >>>= 7;
  }
  out[pos++] = v;
}

function putVarint64(l: number, h: number): void {
  while (h !== 0 || l > 127) {
    out[pos++] = (l & 127) | 128;
    l = ((l >>> 7) | (h << 25)) >>> 0;
    h >>>= 7;
  }
  out[pos++] = l;
}

function putScalar(kind: number, v: unknown): void {
  switch (kind) {
    case K_UINT32: putVarint((v as number) >>> 0); return;
    case K_INT32: if ((v as number) < 0) putVarint64((v as number) >>> 0, 0xffffffff); else putVarint((v as number) | 0); return;
    case K_BOOL: out[pos++] = v ? 1 : 0; return;
    case K_STRING: {
      const s = v as string;
      const n = Buffer.byteLength(s);
      putVarint(n);
      pos += out.write(s, pos, n, 'utf8');
      return;
    }
    case K_BYTES: {
      const b = v as Uint8Array;
      putVarint(b.length);
      out.set(b, pos);
      pos += b.length;
      return;
    }
    default: split64(v); putVarint64(lo, hi);
  }
}

/** A nested message: the length found by the size pass, then its fields. */
function putNested(o: Plain, info: TypeInfo): void {
  if (o instanceof RawMessage) {
    putVarint(o.bytes.length);
    out.set(o.bytes, pos);
    pos += o.bytes.length;
    return;
  }
  putVarint(sizes[si++]);
  info.put(o);
}

/** What the generated functions call. */
const HELPERS = { sl: scalarLen, vl: varintLen, ml: msgLen, pv: putVarint, ps: putScalar, pm: putNested, rv64: readVarint64, dm: decodeNested };

/**
 * Encodes a plain object as a `t`. Values must have the types of messages.ts: enums as numbers,
 * uint64 as bigint or number, bytes as Uint8Array, nested messages as objects (else TypeError).
 */
export function encodePlain(t: protobuf.Type, obj: Record<string, unknown>): Uint8Array {
  const info = typeInfo(t);
  sizes = [];
  const n = info.size(obj);
  out = Buffer.allocUnsafe(n);
  pos = 0;
  si = 0;
  try {
    info.put(obj);
  } finally {
    sizes = [];
  }
  if (pos !== n) throw new Error(`encoded ${pos} bytes, expected ${n}`);
  const r = out;
  out = Buffer.alloc(0);
  return r;
}
