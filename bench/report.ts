/*
 * The benchmark's result: which figures it measures, their ratios to Open vSwitch's userspace
 * datapath measured in the same run, the targets, and the result as a text table (stdout) and
 * a markdown table (bench/results/latest.md). Pure: no I/O; called by bench/run.ts and tests.
 * A ratio is always this setup's figure divided by OVS's, for latency too (lower is better).
 */
import { SETUP_IDS, type SetupId } from './options.js';

export type FigureId = 'tcp' | 'pps64' | 'ping' | 'pingP50' | 'pingP99' | 'rrMean' | 'rrP50' | 'rrP99' | 'newflow';

export interface FigureSpec {
  id: FigureId;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  digits: number;
  /** The goal for vswitch, as a ratio to OVS with TSO: at least (higher) or at most (lower). */
  target?: number;
}

export const FIGURES: readonly FigureSpec[] = [
  { id: 'tcp', label: 'TCP throughput, 1 stream', unit: 'Gbit/s', better: 'higher', digits: 2, target: 1.0 },
  { id: 'pps64', label: '64-byte frames forwarded', unit: 'kpps', better: 'higher', digits: 1, target: 0.8 },
  { id: 'ping', label: 'ping round trip, mean', unit: 'µs', better: 'lower', digits: 1, target: 1.2 },
  { id: 'pingP50', label: 'ping round trip, p50', unit: 'µs', better: 'lower', digits: 1, target: 1.2 },
  { id: 'pingP99', label: 'ping round trip, p99', unit: 'µs', better: 'lower', digits: 1 },
  { id: 'rrMean', label: 'UDP req/resp round trip, mean', unit: 'µs', better: 'lower', digits: 1, target: 1.2 },
  { id: 'rrP50', label: 'UDP req/resp round trip, p50', unit: 'µs', better: 'lower', digits: 1, target: 1.2 },
  { id: 'rrP99', label: 'UDP req/resp round trip, p99', unit: 'µs', better: 'lower', digits: 1 },
  { id: 'newflow', label: 'new flows through, first second', unit: 'k/s', better: 'higher', digits: 1 },
];

/** A measured figure, or why there is none ("needs ofctl add-flow", an error...). */
export type Cell = { value: number } | { na: string };

export interface SetupResult {
  id: SetupId;
  label: string;
  figures: Partial<Record<FigureId, Cell>>;
  /** Raw facts behind the figures (sent/received counts, retransmits, ...), for the JSON. */
  details: Record<string, unknown>;
}

export interface BenchResult {
  date: string;
  machine: Record<string, unknown>;
  options: Record<string, unknown>;
  setups: SetupResult[];
}

/** The reference setups: OVS with userspace TSO (the yardstick) and without. */
export const REF_TSO: SetupId = 'dt';
export const REF_PLAIN: SetupId = 'd0';

export function cellValue(c: Cell | undefined): number | null {
  return c !== undefined && 'value' in c && Number.isFinite(c.value) ? c.value : null;
}

/** value / reference, or null when either is missing or the reference is not positive. */
export function ratio(value: Cell | undefined, ref: Cell | undefined): number | null {
  const v = cellValue(value);
  const r = cellValue(ref);
  if (v === null || r === null || r <= 0) return null;
  return v / r;
}

function setupCell(res: BenchResult, id: SetupId, fig: FigureId): Cell | undefined {
  return res.setups.find((s) => s.id === id)?.figures[fig];
}

export interface TargetCheck { setup: SetupId; figure: FigureId; ratio: number | null; target: number; better: 'higher' | 'lower'; met: boolean | null }

/** For each vswitch setup (a, b) and each figure with a target: its ratio to OVS with TSO and
 *  whether it meets the target (null when either side is missing). */
export function targetChecks(res: BenchResult): TargetCheck[] {
  const out: TargetCheck[] = [];
  for (const s of res.setups) {
    if (s.id !== 'a' && s.id !== 'b') continue;
    for (const f of FIGURES) {
      if (f.target === undefined) continue;
      const r = ratio(s.figures[f.id], setupCell(res, REF_TSO, f.id));
      const met = r === null ? null : f.better === 'higher' ? r >= f.target : r <= f.target;
      out.push({ setup: s.id, figure: f.id, ratio: r, target: f.target, better: f.better, met });
    }
  }
  return out;
}

export function formatRatio(r: number | null): string {
  if (r === null) return '—';
  return r < 0.005 ? '<0.01×' : `${r.toFixed(2)}×`;
}

function targetText(f: FigureSpec): string {
  return f.target === undefined ? '' : `${f.better === 'higher' ? '≥' : '≤'} ${f.target.toFixed(1)}×`;
}

interface Row { figure: string; setup: string; value: string; vsTso: string; vsPlain: string; target: string }

/** The table's rows (one per figure and setup) and the n/a reasons they point to. */
export function tableRows(res: BenchResult): { rows: Row[]; notes: string[] } {
  const notes: string[] = [];
  const note = (why: string): string => {
    let i = notes.indexOf(why);
    if (i < 0) i = notes.push(why) - 1;
    return `n/a [${i + 1}]`;
  };
  const rows: Row[] = [];
  const setups = SETUP_IDS.map((id) => res.setups.find((s) => s.id === id)).filter((s): s is SetupResult => s !== undefined);
  const checks = targetChecks(res);
  for (const f of FIGURES) {
    setups.forEach((s, i) => {
      const c = s.figures[f.id] ?? { na: 'not measured' };
      const value = 'value' in c ? `${c.value.toFixed(f.digits)} ${f.unit}` : note(c.na);
      const check = checks.find((k) => k.setup === s.id && k.figure === f.id);
      const target = check === undefined ? '' : `${targetText(f)} ${check.met === null ? '?' : check.met ? 'met' : 'MISSED'}`;
      rows.push({
        figure: i === 0 ? f.label : '',
        setup: `${s.id.padEnd(2)} ${s.label}`,
        value,
        vsTso: formatRatio(ratio(c, setupCell(res, REF_TSO, f.id))),
        vsPlain: formatRatio(ratio(c, setupCell(res, REF_PLAIN, f.id))),
        target,
      });
    });
  }
  return { rows, notes };
}

const HEAD: Row = { figure: 'figure', setup: 'setup', value: 'value', vsTso: '× OVS+TSO', vsPlain: '× OVS', target: 'target (vs OVS+TSO)' };

/** Fixed-width text table for the terminal, n/a reasons listed underneath. */
export function formatText(res: BenchResult): string {
  const { rows, notes } = tableRows(res);
  const all = [HEAD, ...rows];
  const keys: (keyof Row)[] = ['figure', 'setup', 'value', 'vsTso', 'vsPlain', 'target'];
  const width = (k: keyof Row): number => Math.max(...all.map((r) => r[k].length));
  const widths = keys.map(width);
  const right = new Set<keyof Row>(['value', 'vsTso', 'vsPlain']);
  const line = (r: Row): string =>
    keys.map((k, i) => (right.has(k) ? r[k].padStart(widths[i]) : r[k].padEnd(widths[i]))).join('  ').trimEnd();
  const out = [line(HEAD), widths.map((w) => '-'.repeat(w)).join('  ')];
  let last = '';
  for (const r of rows) {
    if (r.figure !== '' && last !== '') out.push('');
    out.push(line(r));
    last = r.figure || last;
  }
  if (notes.length) {
    out.push('');
    notes.forEach((n, i) => out.push(`[${i + 1}] ${n.trim().replace(/\n/g, '\n    ')}`));
  }
  return out.join('\n') + '\n';
}

function mdEscape(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The markdown report: a header with the machine and options, the table, the notes. */
export function formatMarkdown(res: BenchResult): string {
  const { rows, notes } = tableRows(res);
  const out: string[] = [`# vswitch benchmark, ${res.date}`, ''];
  for (const [k, v] of Object.entries(res.machine)) out.push(`- ${k}: ${mdEscape(String(v))}`);
  out.push(`- options: ${mdEscape(JSON.stringify(res.options))}`, '');
  out.push(`| ${HEAD.figure} | ${HEAD.setup} | ${HEAD.value} | ${HEAD.vsTso} | ${HEAD.vsPlain} | ${HEAD.target} |`);
  out.push('|---|---|--:|--:|--:|---|');
  for (const r of rows) out.push(`| ${mdEscape(r.figure)} | ${mdEscape(r.setup)} | ${r.value} | ${r.vsTso} | ${r.vsPlain} | ${r.target} |`);
  if (notes.length) {
    out.push('');
    notes.forEach((n, i) => out.push(`${i + 1}. ${mdEscape(n)}`));
  }
  return out.join('\n') + '\n';
}
