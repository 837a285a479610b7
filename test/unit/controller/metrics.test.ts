// The Prometheus text format: counters, gauges (with collect) and histograms with labels, value
// and label escaping, and every line of a full controller registry being valid exposition
// syntax (HELP, TYPE, samples), as a scraper parses it.
import { describe, expect, it } from 'vitest';
import { ControllerMetrics } from '../../../src/controller/controller-metrics.js';
import { escapeLabelValue, formatValue, Registry } from '../../../src/controller/metrics.js';

/** The exposition format's line grammar (text format 0.0.4). */
const SAMPLE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\["\\n])*",?)*\})? (-?[0-9.e+-]+|\+Inf|-Inf|NaN)$/;
const COMMENT = /^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped))$/;

function checkExposition(text: string): void {
  expect(text.endsWith('\n')).toBe(true);
  const typed = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('#')) {
      expect(line).toMatch(COMMENT);
      const m = /^# TYPE (\S+)/.exec(line);
      if (m) {
        expect(typed.has(m[1]), `TYPE ${m[1]} twice`).toBe(false);
        typed.add(m[1]);
      }
    } else {
      expect(line).toMatch(SAMPLE);
    }
  }
}

describe('metrics registry', () => {
  it('renders counters with labels in the text format', () => {
    const r = new Registry();
    const c = r.counter('x_events_total', 'Events.\nSecond line \\ here.', ['kind']);
    c.inc({ kind: 'a' });
    c.inc({ kind: 'a' }, 2);
    c.inc({ kind: 'b"\\\n' });
    expect(r.render()).toBe([
      '# HELP x_events_total Events.\\nSecond line \\\\ here.',
      '# TYPE x_events_total counter',
      'x_events_total{kind="a"} 3',
      'x_events_total{kind="b\\"\\\\\\n"} 1',
      '',
    ].join('\n'));
    expect(c.get({ kind: 'a' })).toBe(3);
    expect(c.total()).toBe(4);
    expect(() => c.inc({ kind: 'a' }, -1)).toThrow(RangeError);
    checkExposition(r.render());
  });

  it('shows an unlabelled family at 0 before its first event, and a labelled one without samples', () => {
    const r = new Registry();
    r.counter('a_total', 'A.');
    r.counter('b_total', 'B.', ['x']);
    expect(r.render()).toBe('# HELP a_total A.\n# TYPE a_total counter\na_total 0\n# HELP b_total B.\n# TYPE b_total counter\n');
  });

  it('collects gauges at render time, and renders histograms cumulatively', () => {
    const r = new Registry();
    let v = 1;
    r.gauge('g', 'G.', [], (g) => g.set(undefined, v));
    expect(r.render()).toContain('\ng 1\n');
    v = 2.5;
    expect(r.render()).toContain('\ng 2.5\n');
    const h = r.histogram('h_seconds', 'H.', [0.1, 1]);
    h.observe(0.05);
    h.observe(0.5);
    h.observe(5);
    expect(h.render()).toBe([
      '# HELP h_seconds H.', '# TYPE h_seconds histogram', 'h_seconds_bucket{le="0.1"} 1', 'h_seconds_bucket{le="1"} 2',
      'h_seconds_bucket{le="+Inf"} 3', 'h_seconds_sum 5.55', 'h_seconds_count 3', '',
    ].join('\n'));
    expect(h.quantileBound(0.5)).toBe(1);
    expect(h.quantileBound(0.99)).toBe(Infinity);
  });

  it('returns the family already registered under a name, refuses a kind change and bad names', () => {
    const r = new Registry();
    const a = r.counter('n_total', 'N.');
    expect(r.counter('n_total', 'other help')).toBe(a);
    expect(() => r.gauge('n_total', 'G.')).toThrow(/already registered as a counter/);
    expect(() => r.counter('bad-name', 'x')).toThrow(/bad metric name/);
    expect(() => r.counter('ok_total', 'x', ['__reserved'])).toThrow(/bad label name/);
  });

  it('formats values and label values as Prometheus does', () => {
    expect(formatValue(NaN)).toBe('NaN');
    expect(formatValue(Infinity)).toBe('+Inf');
    expect(formatValue(-Infinity)).toBe('-Inf');
    expect(formatValue(12)).toBe('12');
    expect(formatValue(1e21)).toBe('1e+21');
    expect(formatValue(2n ** 64n)).toBe('18446744073709551616');
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  });

  it('the controller registry is valid exposition text', () => {
    const m = new ControllerMetrics(new Registry(), () => 3);
    m.packetIns.inc({ dpid: '0000000000000001' });
    m.disconnects.inc({ reason: 'echo_timeout' });
    m.packetInSeconds.observe(0.0002);
    const text = m.registry.render();
    checkExposition(text);
    expect(text).toMatch(/^vscontroller_switches_connected 3$/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+$/m);
    expect(text).toMatch(/^vscontroller_packet_in_handling_seconds_bucket\{le="0.00025"\} 1$/m);
  });
});
