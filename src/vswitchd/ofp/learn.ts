/*
 * The learn action: a flow whose action adds (or refreshes) a flow built from the packet, as
 * Open vSwitch's NXAST_LEARN. The MAC-learning form
 *   learn(table=10,hard_timeout=300,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],
 *         load:NXM_OF_IN_PORT[]->NXM_NX_REG0[0..15])
 * learns "frames to this packet's source MAC on its VLAN: reg0 = its in_port". Parsing and
 * printing in ovs-ofctl's syntax, and learnFlow(), which the translation calls with the
 * packet's OpenFlow flow to get the flow to add. Control path (learning is per upcall).
 */
import type { OfAction } from './actions.js';
import { refPos, type FieldRef } from './fields.js';
import { getBig, onesBig, setBig } from './layout.js';
import { Match } from './match.js';
import { formatFieldRef, isFieldRef, parseFieldRef, sameRef } from './subfield.js';
import { keyValue, splitTop, syntaxError } from './tokens.js';
import { formatFieldValue, hexAlt, parseFieldValue, parseUint, ValueError, type PortNamer } from './values.js';

export type LearnItem =
  /** Learned flow matches `dst` = the packet's `src` bits, or `value` when `src` is null. */
  | { kind: 'match'; dst: FieldRef; src: FieldRef | null; value: bigint }
  /** Learned flow's actions get load:(packet's src bits, or value)->dst. */
  | { kind: 'load'; dst: FieldRef; src: FieldRef | null; value: bigint }
  /** Learned flow's actions get output to the port in the packet's src bits. */
  | { kind: 'output'; src: FieldRef; dst: null; value: 0n };

export interface LearnSpec {
  table: number;
  priority: number;
  idleTimeout: number;
  hardTimeout: number;
  finIdleTimeout: number;
  finHardTimeout: number;
  cookie: bigint;
  sendFlowRem: boolean;
  deleteLearned: boolean;
  /** Most flows this action may have learned at once (0 = no limit). */
  limit: number;
  items: LearnItem[];
}

export function newLearnSpec(): LearnSpec {
  return {
    table: 1, priority: 32768, idleTimeout: 0, hardTimeout: 0, finIdleTimeout: 0, finHardTimeout: 0,
    cookie: 0n, sendFlowRem: false, deleteLearned: false, limit: 0, items: [],
  };
}

const INT_ARGS: Record<string, [keyof LearnSpec, number]> = {
  table: ['table', 254], priority: ['priority', 65535], idle_timeout: ['idleTimeout', 65535],
  hard_timeout: ['hardTimeout', 65535], fin_idle_timeout: ['finIdleTimeout', 65535],
  fin_hard_timeout: ['finHardTimeout', 65535], limit: ['limit', 0xffffffff],
};

/** Parses the inside of learn(...) found at s[off, end). Throws FlowSyntaxError. */
export function parseLearn(s: string, off: number, end: number, names?: PortNamer): LearnSpec {
  const spec = newLearnSpec();
  for (const seg of splitTop(s, off, end, false)) {
    const text = s.slice(seg.off, seg.end);
    const bad = (msg: string): never => {
      throw syntaxError(`learn: ${msg}`, s, seg.off, seg.end - seg.off);
    };
    try {
      const it = keyValue(s, seg);
      const key = it.key.toLowerCase();
      if (key in INT_ARGS && it.value !== null) {
        const [prop, max] = INT_ARGS[key];
        const v = parseUint(it.value);
        if (v === null || v > BigInt(max)) bad(`invalid ${key} "${it.value}"`);
        (spec as unknown as Record<string, number>)[prop] = Number(v);
      } else if (key === 'cookie' && it.value !== null) {
        const v = parseUint(it.value);
        if (v === null || v > onesBig(64)) bad(`invalid cookie "${it.value}"`);
        spec.cookie = v as bigint;
      } else if (key === 'send_flow_rem' && it.value === null) {
        spec.sendFlowRem = true;
      } else if (key === 'delete_learned' && it.value === null) {
        spec.deleteLearned = true;
      } else if (key === 'load' && it.form === ':') {
        const arrow = text.lastIndexOf('->');
        if (arrow < 0) bad(`${text}: missing "->"`);
        const srcText = text.slice(5, arrow);
        const dst = parseFieldRef(text.slice(arrow + 2));
        if (isFieldRef(srcText)) {
          const src = parseFieldRef(srcText);
          if (src.nbits !== dst.nbits) bad(`${text}: source is ${src.nbits} bits wide but destination is ${dst.nbits} bits wide`);
          spec.items.push({ kind: 'load', dst, src, value: 0n });
        } else {
          spec.items.push({ kind: 'load', dst, src: null, value: immediate(srcText, dst, names) });
        }
      } else if (key === 'output' && it.form === ':') {
        spec.items.push({ kind: 'output', src: parseFieldRef(it.value ?? ''), dst: null, value: 0n });
      } else {
        // FIELD[range], FIELD[range]=SRC[range] or FIELD[range]=VALUE
        const eq = text.indexOf('=');
        const dst = parseFieldRef(eq < 0 ? text : text.slice(0, eq));
        if (eq < 0) {
          spec.items.push({ kind: 'match', dst, src: dst, value: 0n });
        } else {
          const rhs = text.slice(eq + 1);
          if (isFieldRef(rhs)) {
            const src = parseFieldRef(rhs);
            if (src.nbits !== dst.nbits) bad(`${text}: ${formatFieldRef(dst)} is ${dst.nbits} bits wide but ${formatFieldRef(src)} is ${src.nbits}`);
            spec.items.push({ kind: 'match', dst, src, value: 0n });
          } else {
            spec.items.push({ kind: 'match', dst, src: null, value: immediate(rhs, dst, names) });
          }
        }
      }
    } catch (e) {
      if (e instanceof ValueError) bad(e.message);
      throw e;
    }
  }
  return spec;
}

function immediate(text: string, dst: FieldRef, names?: PortNamer): bigint {
  if (dst.ofs === 0 && dst.nbits === dst.field.width) return parseFieldValue(dst.field, text, names).value;
  const v = parseUint(text);
  if (v === null) throw new ValueError(`${text}: invalid value`);
  if (v > onesBig(dst.nbits)) throw new ValueError(`${text}->${formatFieldRef(dst)}: value ${text} does not fit into ${dst.nbits} bits`);
  return v;
}

/** The learn action as ovs-ofctl prints it: "learn(table=10,...)". */
export function formatLearn(spec: LearnSpec, names?: PortNamer): string {
  const p: string[] = [`table=${spec.table}`];
  if (spec.idleTimeout) p.push(`idle_timeout=${spec.idleTimeout}`);
  if (spec.hardTimeout) p.push(`hard_timeout=${spec.hardTimeout}`);
  if (spec.finIdleTimeout) p.push(`fin_idle_timeout=${spec.finIdleTimeout}`);
  if (spec.finHardTimeout) p.push(`fin_hard_timeout=${spec.finHardTimeout}`);
  if (spec.priority !== 32768) p.push(`priority=${spec.priority}`);
  if (spec.sendFlowRem) p.push('send_flow_rem');
  if (spec.deleteLearned) p.push('delete_learned');
  if (spec.cookie) p.push(`cookie=${hexAlt(spec.cookie)}`);
  if (spec.limit) p.push(`limit=${spec.limit}`);
  for (const it of spec.items) {
    if (it.kind === 'output') {
      p.push(`output:${formatFieldRef(it.src)}`);
    } else if (it.kind === 'load') {
      p.push(`load:${it.src ? formatFieldRef(it.src) : hexAlt(it.value)}->${formatFieldRef(it.dst)}`);
    } else if (it.src !== null) {
      p.push(sameRef(it.src, it.dst) ? formatFieldRef(it.dst) : `${formatFieldRef(it.dst)}=${formatFieldRef(it.src)}`);
    } else if (it.dst.ofs === 0 && it.dst.nbits === it.dst.field.width) {
      p.push(`${it.dst.field.name}=${formatFieldValue(it.dst.field, it.value, undefined, names)}`);
    } else {
      p.push(`${formatFieldRef(it.dst)}=${hexAlt(it.value)}`);
    }
  }
  return `learn(${p.join(',')})`;
}

/** What learnFlow() produces: an add to `table` (send_flow_rem = flags bit 0). */
export interface LearnedFlow {
  table: number;
  priority: number;
  match: Match;
  actions: OfAction[];
  idleTimeout: number;
  hardTimeout: number;
  cookie: bigint;
  sendFlowRem: boolean;
}

/** The flow `spec` learns from the packet whose OpenFlow flow is `flow` (OF_WORDS). */
export function learnFlow(spec: LearnSpec, flow: Uint32Array): LearnedFlow {
  const match = new Match();
  const actions: OfAction[] = [];
  for (const it of spec.items) {
    const v = it.src !== null ? getBig(flow, refPos(it.src), it.src.nbits) : it.value;
    if (it.kind === 'match') {
      const pos = refPos(it.dst);
      setBig(match.mask, pos, it.dst.nbits, onesBig(it.dst.nbits));
      setBig(match.value, pos, it.dst.nbits, v);
    } else if (it.kind === 'load') {
      actions.push({ type: 'load', dst: it.dst, value: v });
    } else {
      actions.push({ type: 'output', port: Number(v & 0xffffn) });
    }
  }
  return {
    table: spec.table, priority: spec.priority, match, actions, idleTimeout: spec.idleTimeout,
    hardTimeout: spec.hardTimeout, cookie: spec.cookie, sendFlowRem: spec.sendFlowRem,
  };
}
