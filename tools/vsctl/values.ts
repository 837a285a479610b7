/*
 * vsctl's text form of database values, as ovs-vsctl reads and prints them: atoms (bare or
 * "quoted" strings, integers, integer ranges such as 1-3, booleans, uuids, "@name" row ids),
 * sets "[a, b]" or "a,b", maps "{k=v, ...}" or "k=v,...". Parsing checks the column's
 * constraints and reports problems in ovsdb's wording; printing quotes a string only when it
 * could not be read back bare ("string" data format), or never ("bare"). Used by the vsctl
 * commands and by show/list/get output. Control path only.
 */
import { canonical, isUuid, type Atom, type Datum } from '../../src/ovsdb/datum.js';
import type { BaseType, ColumnType } from '../../src/ovsdb/schema.js';
import { ToolError } from '../common.js';
import type { SymbolTable } from './symbols.js';

// ---- Printing -------------------------------------------------------------------------------

const BARE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** True if `s` must be printed in quotes to read back as the same string. */
export function stringNeedsQuotes(s: string): boolean {
  return !BARE.test(s) || s === 'true' || s === 'false' || isUuid(s);
}

export function formatString(s: string): string {
  return stringNeedsQuotes(s) ? JSON.stringify(s) : s;
}

/** printf("%.15g"), the way ovsdb prints reals. */
export function formatReal(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const exp = Number(x.toExponential(14).split('e')[1]);
  const strip = (m: string): string => (m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m);
  if (exp < -4 || exp >= 15) {
    const [m, e] = x.toExponential(14).split('e');
    const n = Number(e);
    return `${strip(m)}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  return strip(x.toFixed(Math.max(0, 14 - exp)));
}

export function formatAtom(atom: Atom, base: BaseType): string {
  switch (base.type) {
    case 'string':
      return formatString(atom as string);
    case 'real':
      return formatReal(atom as number);
    default:
      return String(atom);
  }
}

/** A value as ovs-vsctl prints it: atom, "[a, b]" for sets (and empty optionals), "{k=v}". */
export function formatDatum(d: Datum, type: ColumnType): string {
  if (type.value) {
    const vt = type.value;
    return `{${d.keys.map((k, i) => `${formatAtom(k, type.key)}=${formatAtom(d.values![i], vt)}`).join(', ')}}`;
  }
  if (type.max > 1 || d.keys.length === 0) return `[${d.keys.map((k) => formatAtom(k, type.key)).join(', ')}]`;
  return formatAtom(d.keys[0], type.key);
}

/** The "bare" data format (ovsdb_datum_to_bare): elements separated by spaces, maps as k=v,
 * strings never quoted. */
export function formatBare(d: Datum, type: ColumnType): string {
  const atom = (a: Atom, b: BaseType): string => (b.type === 'string' ? (a as string) : formatAtom(a, b));
  if (type.value) return d.keys.map((k, i) => `${atom(k, type.key)}=${atom(d.values![i], type.value!)}`).join(' ');
  return d.keys.map((k) => atom(k, type.key)).join(' ');
}

// ---- Parsing --------------------------------------------------------------------------------

const DELIMS = ':=, []{}!<>';

export function isDelim(c: string | undefined): boolean {
  return c !== undefined && c !== '' && DELIMS.includes(c);
}

/**
 * Reads one token from `s` at `pos`: up to the next delimiter outside double quotes. Quotes and
 * backslashes inside quotes are kept (parseAtom unescapes them); outside quotes a backslash
 * takes the next character literally.
 */
export function readToken(s: string, pos: number): { token: string; end: number } {
  let out = '';
  let inQuotes = false;
  let p = pos;
  while (p < s.length) {
    const c = s[p++];
    if (c === '\\') {
      if (p >= s.length) throw new ToolError(`${s.slice(pos)}: backslash at end of argument`);
      if (inQuotes) out += '\\';
      out += s[p++];
    } else if (!inQuotes && DELIMS.includes(c)) {
      p--;
      break;
    } else {
      out += c;
      if (c === '"') inQuotes = !inQuotes;
    }
  }
  if (inQuotes) throw new ToolError(`${s.slice(pos)}: quoted string extends past end of argument`);
  return { token: out, end: p };
}

const INT_RE = /^\s*[+-]?\d+$/;

function parseInteger(s: string, allowRange: boolean): number[] {
  const what = allowRange ? 'integer or range' : 'integer';
  if (INT_RE.test(s)) return [checkSafe(Number(s), s, what)];
  const m = allowRange ? /^\s*([+-]?\d+)-([+-]?\d+)$/.exec(s) : null;
  if (!m) throw new ToolError(`"${s}" is not a valid ${what}`);
  const a = checkSafe(Number(m[1]), s, what);
  const b = checkSafe(Number(m[2]), s, what);
  if (b < a) throw new ToolError(`"${s}" is not a valid range. Range end cannot be before start.`);
  if (b - a >= 4096) throw new ToolError(`"${s}" is not a valid range. Range size cannot exceed 4096.`);
  const out: number[] = [];
  for (let i = a; i <= b; i++) out.push(i);
  return out;
}

function checkSafe(n: number, s: string, what: string): number {
  if (!Number.isSafeInteger(n)) throw new ToolError(`"${s}" is not a valid ${what}`);
  return n;
}

/**
 * Parses one atom of type `base` (ovsdb_atom_from_string): a string may be bare or a quoted
 * JSON string. Integers may be ranges "a-b" when `allowRange` (in sets). Checks constraints.
 */
export function parseAtoms(s: string, base: BaseType, allowRange = false, symbols?: SymbolTable): Atom[] {
  let atoms: Atom[];
  switch (base.type) {
    case 'integer':
      atoms = parseInteger(s, allowRange);
      break;
    case 'real': {
      const t = s.trim();
      const n = t === '' ? NaN : Number(t);
      if (!Number.isFinite(n)) throw new ToolError(`"${s}" is not a valid real number`);
      atoms = [n];
      break;
    }
    case 'boolean':
      if (TRUE_WORDS.includes(s)) atoms = [true];
      else if (FALSE_WORDS.includes(s)) atoms = [false];
      else throw new ToolError(`"${s}" is not a valid boolean (use "true" or "false")`);
      break;
    case 'string':
      atoms = [parseStringAtom(s)];
      break;
    case 'uuid':
      if (s.startsWith('@') && symbols) atoms = [symbols.reference(s, base)];
      else if (!isUuid(s)) throw new ToolError(`"${s}" is not a valid UUID`);
      else atoms = [s.toLowerCase()];
      break;
  }
  for (const a of atoms) checkConstraints(a, base);
  return atoms;
}

const TRUE_WORDS = ['true', 'yes', 'on', '1'];
const FALSE_WORDS = ['false', 'no', 'off', '0'];

/** One atom (no ranges). */
export function parseAtom(s: string, base: BaseType, symbols?: SymbolTable): Atom {
  return parseAtoms(s, base, false, symbols)[0];
}

function parseStringAtom(s: string): string {
  if (s === '') throw new ToolError('An empty string is not valid as input; use "" to represent the empty string');
  if (s[0] !== '"') return s;
  if (s.length < 2 || s[s.length - 1] !== '"') throw new ToolError(`${s}: missing quote at end of quoted string`);
  try {
    const v: unknown = JSON.parse(s);
    if (typeof v === 'string') return v;
  } catch (e) {
    throw new ToolError(`${s}: ${(e as Error).message}`);
  }
  throw new ToolError(`${s}: not a string`);
}

/** ovsdb's constraint checks, with its wording ("constraint violation: ..."). */
export function checkConstraints(atom: Atom, base: BaseType): void {
  if (base.enum && !base.enum.some((e) => e === atom)) {
    const list = base.enum.map((e) => formatAtom(e, base)).join(', ');
    throw new ToolError(`constraint violation: ${formatAtom(atom, base)} is not one of the allowed values ([${list}])`);
  }
  if (base.type === 'integer' || base.type === 'real') {
    const n = atom as number;
    const [lo, hi] = base.type === 'integer' ? [base.minInteger, base.maxInteger] : [base.minReal, base.maxReal];
    const f = (x: number): string => (base.type === 'real' ? formatReal(x) : String(x));
    if (n >= lo && n <= hi) return;
    if (lo !== -Infinity && hi !== Infinity) {
      throw new ToolError(`constraint violation: ${f(n)} is not in the valid range ${f(lo)} to ${f(hi)} (inclusive)`);
    }
    if (n < lo) throw new ToolError(`constraint violation: ${f(n)} is less than minimum allowed value ${f(lo)}`);
    throw new ToolError(`constraint violation: ${f(n)} is greater than maximum allowed value ${f(hi)}`);
  }
  if (base.type === 'string') {
    const len = [...(atom as string)].length;
    if (len < base.minLength) {
      throw new ToolError(`constraint violation: "${atom}" length ${len} is less than minimum allowed length ${base.minLength}`);
    }
    if (len > base.maxLength) {
      throw new ToolError(`constraint violation: "${atom}" length ${len} is greater than maximum allowed length ${base.maxLength}`);
    }
  }
}

/** ovsdb_type_to_english: "integer", "set of up to 1 integers", "map of (string, string) pairs". */
export function typeToEnglish(t: ColumnType): string {
  if (!t.value && t.min === 1 && t.max === 1) return t.key.type;
  let s = t.value ? 'map' : 'set';
  if (t.max === Infinity) s += t.min ? ` of ${t.min} or more` : ' of';
  else s += t.min ? ` of ${t.min} to ${t.max}` : ` of up to ${t.max}`;
  return t.value ? `${s} (${t.key.type}, ${t.value.type}) pairs` : `${s} ${t.key.type}s`;
}

function skipSpaces(s: string, p: number): number {
  while (p < s.length && /\s/.test(s[p])) p++;
  return p;
}

/**
 * Parses a whole column value (ovsdb_datum_from_string): "[a, b]", "a,b", "{k=v, ...}",
 * "k=v,...", "[]" or "{}". Checks atoms, the number of elements and duplicates. "@name" uuids
 * are resolved (and recorded as referenced) through `symbols`.
 */
export function parseDatum(s: string, type: ColumnType, symbols?: SymbolTable): Datum {
  const isMap = type.value !== null;
  let p = skipSpaces(s, 0);
  let endDelim = '';
  if (s[p] === (isMap ? '{' : '[')) {
    endDelim = isMap ? '}' : ']';
    p = skipSpaces(s, p + 1);
  } else if (p >= s.length) {
    throw new ToolError(isMap ? 'use "{}" to specify the empty map' : 'use "[]" to specify the empty set');
  }
  const keys: Atom[] = [];
  const values: Atom[] | null = isMap ? [] : null;
  while (p < s.length && s[p] !== endDelim) {
    if (isDelim(s[p])) throw new ToolError(`${s}: unexpected "${s[p]}" parsing ${typeToEnglish(type)}`);
    const start = p;
    const k = readToken(s, p);
    p = k.end;
    const ks = parseAtoms(k.token, type.key, !isMap, symbols);
    if (isMap) {
      p = skipSpaces(s, p);
      // ovs-vsctl prints the offending character with %c: at the end of input that is a NUL,
      // which ends its message right there.
      if (s[p] !== '=') throw new ToolError(`${s.slice(start)}: syntax error at "${p < s.length ? `${s[p]}" expecting "="` : ''}`);
      p = skipSpaces(s, p + 1);
      const v = readToken(s, p);
      p = v.end;
      keys.push(ks[0]);
      values!.push(parseAtom(v.token, type.value!, symbols));
    } else keys.push(...ks);
    p = skipSpaces(s, p);
    if (s[p] === ',') p = skipSpaces(s, p + 1);
  }
  if ((s[p] ?? '') !== endDelim) throw new ToolError(`${s}: missing "${endDelim}" at end of data`);
  if (endDelim) {
    p = skipSpaces(s, p + 1);
    if (p < s.length) throw new ToolError(`${s}: trailing garbage after "${endDelim}"`);
  }
  const what = isMap ? 'pair(s)' : 'value(s)';
  if (keys.length < type.min) throw new ToolError(`${s}: ${keys.length} ${what} specified but the minimum number is ${type.min}`);
  if (keys.length > type.max) throw new ToolError(`${s}: ${keys.length} ${what} specified but the maximum number is ${type.max}`);
  try {
    return canonical(keys, values);
  } catch {
    throw new ToolError(`${s}: ${isMap ? 'map contains duplicate key' : 'set contains duplicate value'}`);
  }
}
