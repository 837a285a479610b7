/*
 * Prometheus metrics in the text exposition format (version 0.0.4), without a client library:
 * a Registry of counter, gauge and histogram families with labels, rendered on each scrape of
 * GET /metrics. controller.ts defines the controller's families (ControllerMetrics); apps add
 * their own counters through their context; vswitch-scrape.ts renders vswitchd's and the
 * datapath's counters with the helpers here. Control path: updates are a Map lookup by the
 * joined label values, no allocation when the series exists.
 */

export type Labels = Record<string, string>;
type Kind = 'counter' | 'gauge' | 'histogram' | 'untyped';

/** Metric and label names Prometheus accepts. */
const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A sample value as Prometheus writes it (+Inf, -Inf, NaN, integers without exponent). */
export function formatValue(v: number | bigint): string {
  if (typeof v === 'bigint') return v.toString();
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return Number.isInteger(v) && Math.abs(v) < 1e21 ? v.toFixed(0) : String(v);
}

/** `{a="1",b="x"}`, or '' without labels. */
export function formatLabels(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return '';
  let s = '{';
  for (let i = 0; i < names.length; i++) s += `${i ? ',' : ''}${names[i]}="${escapeLabelValue(values[i] ?? '')}"`;
  return `${s}}`;
}

/** The HELP and TYPE lines of a family. */
export function familyHeader(name: string, help: string, kind: Kind): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${kind}\n`;
}

abstract class Family {
  protected readonly series = new Map<string, { values: string[]; v: number }>();
  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly string[], readonly kind: Kind) {
    if (!NAME_RE.test(name)) throw new TypeError(`bad metric name ${name}`);
    for (const l of labelNames) if (!LABEL_RE.test(l) || l.startsWith('__')) throw new TypeError(`bad label name ${l}`);
  }

  protected slot(labels: Labels | undefined): { values: string[]; v: number } {
    let key = '';
    if (this.labelNames.length) for (const n of this.labelNames) key += `${labels?.[n] ?? ''}\u0000`;
    let s = this.series.get(key);
    if (s === undefined) {
      s = { values: this.labelNames.map((n) => labels?.[n] ?? ''), v: 0 };
      this.series.set(key, s);
    }
    return s;
  }

  /** The value of one series (tests, REST summaries); 0 when it was never set. */
  get(labels?: Labels): number {
    let key = '';
    if (this.labelNames.length) for (const n of this.labelNames) key += `${labels?.[n] ?? ''}\u0000`;
    return this.series.get(key)?.v ?? 0;
  }

  /** Sum over every series. */
  total(): number {
    let t = 0;
    for (const s of this.series.values()) t += s.v;
    return t;
  }

  render(): string {
    let out = familyHeader(this.name, this.help, this.kind);
    if (this.series.size === 0 && this.labelNames.length === 0) return `${out}${this.name} 0\n`;
    for (const s of this.series.values()) out += `${this.name}${formatLabels(this.labelNames, s.values)} ${formatValue(s.v)}\n`;
    return out;
  }
}

export class Counter extends Family {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, labelNames, 'counter');
  }
  inc(labels?: Labels, n = 1): void {
    if (n < 0) throw new RangeError('a counter only goes up');
    this.slot(labels).v += n;
  }
}

export class Gauge extends Family {
  /** `collect` (optional) refreshes the series before each render. */
  constructor(name: string, help: string, labelNames: readonly string[] = [], private readonly collect?: (g: Gauge) => void) {
    super(name, help, labelNames, 'gauge');
  }
  set(labels: Labels | undefined, v: number): void {
    this.slot(labels).v = v;
  }
  inc(labels?: Labels, n = 1): void {
    this.slot(labels).v += n;
  }
  /** Forgets every series (before a collect that sets the current ones). */
  reset(): void {
    this.series.clear();
  }
  override render(): string {
    this.collect?.(this);
    return super.render();
  }
}

/** Default buckets for durations in seconds: 50 us to 10 s. */
export const SECONDS_BUCKETS: readonly number[] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 10];

export class Histogram {
  readonly kind = 'histogram';
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[] = SECONDS_BUCKETS) {
    if (!NAME_RE.test(name)) throw new TypeError(`bad metric name ${name}`);
    this.counts = new Float64Array(buckets.length);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) this.counts[i]++;
  }
  get observations(): number {
    return this.count;
  }
  /** The smallest bucket bound holding at least fraction `q` of the observations (a rough quantile). */
  quantileBound(q: number): number {
    const want = q * this.count;
    for (let i = 0; i < this.buckets.length; i++) if (this.counts[i] >= want) return this.buckets[i];
    return Infinity;
  }
  render(): string {
    let out = familyHeader(this.name, this.help, 'histogram');
    for (let i = 0; i < this.buckets.length; i++) out += `${this.name}_bucket{le="${formatValue(this.buckets[i])}"} ${formatValue(this.counts[i])}\n`;
    out += `${this.name}_bucket{le="+Inf"} ${formatValue(this.count)}\n`;
    out += `${this.name}_sum ${formatValue(this.sum)}\n${this.name}_count ${formatValue(this.count)}\n`;
    return out;
  }
}

type AnyFamily = Counter | Gauge | Histogram;

/** The metrics of one process, in registration order. */
export class Registry {
  private readonly families = new Map<string, AnyFamily>();

  private add<T extends AnyFamily>(f: T): T {
    const had = this.families.get(f.name);
    if (had !== undefined) {
      if (had.kind !== f.kind) throw new TypeError(`metric ${f.name} already registered as a ${had.kind}`);
      return had as T;
    }
    this.families.set(f.name, f);
    return f;
  }

  /** A counter family; registering a name again returns the first one. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }
  gauge(name: string, help: string, labelNames: readonly string[] = [], collect?: (g: Gauge) => void): Gauge {
    return this.add(new Gauge(name, help, labelNames, collect));
  }
  histogram(name: string, help: string, buckets?: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }
  find(name: string): AnyFamily | undefined {
    return this.families.get(name);
  }

  render(): string {
    let out = '';
    for (const f of this.families.values()) out += f.render();
    return out;
  }
}

/** Content type of the text format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
