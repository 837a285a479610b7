import { describe, expect, it } from 'vitest';
import {
  FIGURES, formatMarkdown, formatRatio, formatText, ratio, tableRows, targetChecks, type BenchResult, type SetupResult,
} from '../../../bench/report.js';

function setup(id: SetupResult['id'], figures: SetupResult['figures']): SetupResult {
  return { id, label: `label ${id}`, figures, details: {} };
}

function rr(mean: number): SetupResult['figures'] {
  return {
    pingP50: { value: mean + 10 }, pingP99: { value: mean * 4 },
    rrMean: { value: mean }, rrP50: { value: mean - 5 }, rrP99: { value: mean * 3 },
  };
}

function result(): BenchResult {
  return {
    date: '2026-01-01T00:00:00.000Z',
    machine: { cpus: '2 × test' },
    options: { quick: true },
    setups: [
      setup('dt', { tcp: { value: 8 }, pps64: { value: 200 }, ping: { value: 50 }, ...rr(40), newflow: { value: 100 } }),
      setup('a', { tcp: { value: 10 }, pps64: { value: 150 }, ping: { value: 70 }, ...rr(40), newflow: { na: 'needs ofctl add-flow' } }),
      setup('d0', { tcp: { value: 4 }, pps64: { value: 250 }, ping: { value: 45 }, ...rr(44), newflow: { value: 50 } }),
      setup('b', Object.fromEntries(FIGURES.map((f) => [f.id, { na: 'system ports not supported' }]))),
    ],
  };
}

describe('ratios', () => {
  it('divides by the reference and gives null when either side is missing or zero', () => {
    expect(ratio({ value: 6 }, { value: 8 })).toBe(0.75);
    expect(ratio({ na: 'x' }, { value: 8 })).toBeNull();
    expect(ratio({ value: 6 }, undefined)).toBeNull();
    expect(ratio({ value: 6 }, { value: 0 })).toBeNull();
    expect(ratio({ value: NaN }, { value: 1 })).toBeNull();
    expect(formatRatio(0.7512)).toBe('0.75×');
    expect(formatRatio(null)).toBe('—');
    expect(formatRatio(0.001)).toBe('<0.01×');
    expect(formatRatio(0.005)).toBe('0.01×');
  });

  it('checks the targets of the vswitch setups against OVS with TSO, lower-is-better for latency', () => {
    const checks = targetChecks(result());
    const a = (fig: string) => checks.find((c) => c.setup === 'a' && c.figure === fig)!;
    expect(a('tcp')).toMatchObject({ ratio: 1.25, target: 1.0, met: true });
    expect(a('pps64')).toMatchObject({ ratio: 0.75, target: 0.8, met: false });
    expect(a('ping')).toMatchObject({ ratio: 1.4, target: 1.2, met: false });
    expect(a('rrMean')).toMatchObject({ ratio: 1, met: true });
    expect(checks.find((c) => c.setup === 'b' && c.figure === 'tcp')).toMatchObject({ ratio: null, met: null });
    expect(checks.some((c) => c.setup === 'dt' || c.setup === 'd0')).toBe(false);
    expect(a('rrP50')).toMatchObject({ ratio: 1, met: true });
    expect(a('pingP50')).toMatchObject({ ratio: 1, met: true });
    expect(checks.some((c) => c.figure === 'newflow' || c.figure === 'rrP99')).toBe(false);
  });
});

describe('tables', () => {
  it('has one row per figure and setup in setup order, ratios to both OVS variants', () => {
    const { rows, notes } = tableRows(result());
    expect(rows).toHaveLength(FIGURES.length * 4);
    const tcp = rows.slice(0, 4);
    expect(tcp.map((r) => r.setup.slice(0, 2).trim())).toEqual(['a', 'b', 'd0', 'dt']);
    expect(tcp[0]).toMatchObject({ figure: 'TCP throughput, 1 stream', value: '10.00 Gbit/s', vsTso: '1.25×', vsPlain: '2.50×', target: '≥ 1.0× met' });
    expect(tcp[1]).toMatchObject({ figure: '', value: 'n/a [1]', vsTso: '—', target: '≥ 1.0× ?' });
    expect(tcp[3]).toMatchObject({ vsTso: '1.00×', vsPlain: '2.00×', target: '' });
    expect(notes).toEqual(['system ports not supported', 'needs ofctl add-flow']);
    const pps = rows[4];
    expect(pps).toMatchObject({ value: '150.0 kpps', target: '≥ 0.8× MISSED' });
  });

  it('marks figures a setup did not report', () => {
    const r = result();
    r.setups = [setup('c', { tcp: { value: 17 } })];
    const { rows, notes } = tableRows(r);
    expect(rows[0]).toMatchObject({ value: '17.00 Gbit/s', vsTso: '—', vsPlain: '—' });
    expect(rows[1].value).toBe('n/a [1]');
    expect(notes).toEqual(['not measured']);
  });

  it('prints an aligned text table with the notes under it', () => {
    const text = formatText(result());
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^figure\s+setup\s+value\s+× OVS\+TSO\s+× OVS\s+target/);
    const row = lines.find((l) => l.includes('10.00 Gbit/s'))!;
    const head = lines[0];
    // Right-aligned columns end where their headings end.
    expect(row.indexOf('10.00 Gbit/s') + '10.00 Gbit/s'.length).toBe(head.indexOf('value') + 'value'.length);
    expect(row.indexOf('1.25×') + '1.25×'.length).toBe(head.indexOf('× OVS+TSO') + '× OVS+TSO'.length);
    expect(text).toContain('[1] system ports not supported');
    expect(text).toContain('[2] needs ofctl add-flow');
  });

  it('writes markdown with the machine, the table and escaped notes', () => {
    const r = result();
    r.setups[1].figures.newflow = { na: 'a | b\nc' };
    const md = formatMarkdown(r);
    expect(md).toContain('# vswitch benchmark, 2026-01-01T00:00:00.000Z');
    expect(md).toContain('- cpus: 2 × test');
    expect(md).toContain('| TCP throughput, 1 stream | a  label a | 10.00 Gbit/s | 1.25× | 2.50× | ≥ 1.0× met |');
    expect(md).toContain('2. a \\| b c');
    const tableLines = md.split('\n').filter((l) => l.startsWith('|'));
    expect(tableLines).toHaveLength(2 + FIGURES.length * 4);
  });
});
