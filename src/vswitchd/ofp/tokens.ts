/*
 * Splitting ovs-ofctl flow strings into items while remembering where each came from, so a
 * parse error can point at its token. A flow is "k=v" / "k:v" / "k(v)" / "k" items separated
 * by commas or spaces, then "actions=" and the rest; actions and learn specs are items
 * separated by commas outside parentheses. Used by match-syntax.ts, action-syntax.ts and
 * learn.ts. Control path.
 */
import { FlowSyntaxError } from './errors.js';

/** A slice [off, end) of the input. */
export interface Seg {
  off: number;
  end: number;
}

/** One item: key, and the value (null when the item is a bare word) with its offset. */
export interface Item {
  key: string;
  keyOff: number;
  value: string | null;
  valOff: number;
  /** How the value was attached: '=', ':' or '(' (value is the inside of the parentheses). */
  form: string;
  off: number;
  end: number;
}

/**
 * Splits s[start, end) at commas (and, with `spaces`, whitespace) that are outside parentheses,
 * brackets and double quotes. Empty pieces are dropped.
 */
export function splitTop(s: string, start: number, end: number, spaces: boolean): Seg[] {
  const out: Seg[] = [];
  let depth = 0;
  let quoted = false;
  let from = start;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (quoted) {
      if (c === 34) quoted = false;
      continue;
    }
    if (c === 34) quoted = true;
    else if (c === 40 || c === 91) depth++;
    else if ((c === 41 || c === 93) && depth > 0) depth--;
    else if (depth === 0 && (c === 44 || (spaces && (c === 32 || c === 9 || c === 10 || c === 13)))) {
      if (i > from) pushTrimmed(s, from, i, out);
      from = i + 1;
    }
  }
  if (end > from) pushTrimmed(s, from, end, out);
  return out;
}

function pushTrimmed(s: string, a: number, b: number, out: Seg[]): void {
  while (a < b && /\s/.test(s[a])) a++;
  while (b > a && /\s/.test(s[b - 1])) b--;
  if (b > a) out.push({ off: a, end: b });
}

/** Splits one segment into key and value at the first '=', ':' or '('. */
export function keyValue(s: string, seg: Seg): Item {
  let i = seg.off;
  while (i < seg.end) {
    const c = s[i];
    if (c === '=' || c === ':' || c === '(') break;
    i++;
  }
  const key = s.slice(seg.off, i).trim();
  if (i === seg.end) return { key, keyOff: seg.off, value: null, valOff: seg.end, form: '', off: seg.off, end: seg.end };
  const form = s[i];
  if (form === '(') {
    if (s[seg.end - 1] !== ')') throw new FlowSyntaxError(`${s.slice(seg.off, seg.end)}: missing ')'`, s, seg.off, seg.end - seg.off);
    return { key, keyOff: seg.off, value: s.slice(i + 1, seg.end - 1), valOff: i + 1, form, off: seg.off, end: seg.end };
  }
  let v = s.slice(i + 1, seg.end);
  let valOff = i + 1;
  if (v.length >= 2 && v[0] === '"' && v[v.length - 1] === '"') {
    v = v.slice(1, -1);
    valOff++;
  }
  return { key, keyOff: seg.off, value: v, valOff, form, off: seg.off, end: seg.end };
}

/** Where "actions=" (or "action=" / "actions:") starts in s, outside quotes; -1 if absent. */
export function findActions(s: string): { at: number; body: number } {
  const re = /(^|[\s,])(actions?)\s*[=:]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    const at = m.index + m[1].length;
    let quotes = 0;
    for (let i = 0; i < at; i++) if (s.charCodeAt(i) === 34) quotes++;
    if (quotes % 2 === 0) return { at, body: m.index + m[0].length };
  }
  return { at: -1, body: -1 };
}

/** A FlowSyntaxError pointing at s[off, off+len). */
export function syntaxError(message: string, s: string, off: number, len: number, ofType = -1, ofCode = -1): FlowSyntaxError {
  return new FlowSyntaxError(message, s, off, len, ofType, ofCode);
}
