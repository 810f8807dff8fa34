/**
 * Prometheus text exposition (format 0.0.4) without a client library: ingest's metrics are
 * counters it already keeps, rendered on scrape, plus one latency histogram.
 */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(readonly buckets: readonly number[]) {
    this.counts = new Array(buckets.length).fill(0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count += 1;
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) this.counts[i]! += 1;
  }

  snapshot(): { buckets: ReadonlyArray<[number, number]>; sum: number; count: number } {
    return { buckets: this.buckets.map((b, i) => [b, this.counts[i]!]), sum: this.sum, count: this.count };
  }
}

type Labels = Readonly<Record<string, string>>;

function labelText(labels: Labels | undefined): string {
  if (!labels || Object.keys(labels).length === 0) return '';
  return `{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',')}}`;
}

function num(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

export class MetricsText {
  private readonly lines: string[] = [];

  constructor(private readonly prefix: string) {}

  private head(name: string, help: string, type: string): string {
    const full = `${this.prefix}_${name}`;
    this.lines.push(`# HELP ${full} ${help}`, `# TYPE ${full} ${type}`);
    return full;
  }

  counter(name: string, help: string, samples: number | ReadonlyArray<[Labels, number]>): this {
    const full = this.head(name, help, 'counter');
    for (const [labels, v] of typeof samples === 'number' ? [[{}, samples] as [Labels, number]] : samples) this.lines.push(`${full}${labelText(labels)} ${num(v)}`);
    return this;
  }

  gauge(name: string, help: string, value: number): this {
    const full = this.head(name, help, 'gauge');
    this.lines.push(`${full} ${num(value)}`);
    return this;
  }

  histogram(name: string, help: string, histogram: Histogram): this {
    const full = this.head(name, help, 'histogram');
    const { buckets, sum, count } = histogram.snapshot();
    for (const [le, c] of buckets) this.lines.push(`${full}_bucket{le="${num(le)}"} ${c}`);
    this.lines.push(`${full}_bucket{le="+Inf"} ${count}`, `${full}_sum ${num(sum)}`, `${full}_count ${count}`);
    return this;
  }

  toString(): string {
    return `${this.lines.join('\n')}\n`;
  }
}
