/**
 * Prometheus exposition (prom-client) for the services that serve `GET /metrics` (ingest, broker).
 *
 * Guarantees:
 * - One registry per service instance, never prom-client's global one: several services can run in
 *   one process (tests, `fleetpulse up`) without sharing or clashing over counters.
 * - Every scrape also carries the process's default metrics under their standard, unprefixed names
 *   (`process_cpu_seconds_total`, `process_resident_memory_bytes`, `nodejs_eventloop_lag_seconds`,
 *   `nodejs_gc_duration_seconds`, heap, handles …), as every Prometheus client names them; the
 *   scrape job tells the services apart. They are collected once per process and shared by every
 *   service in it: one event-loop monitor and one GC observer however many services run.
 * - Service metrics are read at scrape time from the counters a service keeps anyway: sources added
 *   with `addSource` write them through `ScrapeMetrics` (names relative to the service prefix), so
 *   the hot path increments a plain number and a scrape costs what it renders. A family a source
 *   does not write in a scrape (e.g. the dashboard's after it closed, a labelled counter without any
 *   sample yet) is absent from that scrape.
 * - Histograms are prom-client's (`createHistogram`), observed where the duration or size is
 *   measured, and carry their full name; a source hands them over with `histogram(h)`.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { codedError } from './errors.ts';

export type MetricLabels = Readonly<Record<string, string>>;
/** One value per label set, e.g. `[[{ reason: 'not_json' }, 3]]`. */
export type LabelledSamples = ReadonlyArray<readonly [MetricLabels, number]>;

/** What a metrics source writes at each scrape. Names are relative to the service prefix. */
export interface ScrapeMetrics {
  /** A counter the service keeps (it only grows): one value, or one per label set. */
  counter(name: string, help: string, samples: number | LabelledSamples): this;
  /** A value as it stands now. */
  gauge(name: string, help: string, value: number): this;
  /** A histogram made with `createHistogram` by whoever observes it. */
  histogram(histogram: Histogram): this;
}

export type MetricsSource = (m: ScrapeMetrics) => void;

/** The Content-Type of `ServiceMetrics.text()` (Prometheus text format 0.0.4). */
export const METRICS_CONTENT_TYPE: string = Registry.PROMETHEUS_CONTENT_TYPE;

/**
 * How often the event-loop delay monitor behind `nodejs_eventloop_lag_{min,max,mean,p50,p90,p99}_seconds`
 * samples, ms. prom-client's 10 ms kept an idle process at 2.8-4.0 ms of CPU per second (0.3-0.4 % of a
 * core, every service process, all the time); 100 ms costs 0.33-0.44 ms (bench/metrics-scrape.ts). A stall
 * of D ms still delays the next sample by at least D − 100 ms, so stalls worth an alert show in the
 * maximum and the upper quantiles; `nodejs_eventloop_lag_seconds` itself is measured at each scrape.
 */
const EVENT_LOOP_SAMPLE_MS = 100;

let processRegistry: Registry | undefined;

/** The process's default metrics, created on first use (they start the event-loop monitor). */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  }
  return processRegistry;
}

/**
 * A service's own families in its registry, written by the sources during one scrape: made on
 * first write, kept while written, dropped from the registry in a scrape that does not write them.
 */
class ScrapedFamilies implements ScrapeMetrics {
  readonly registry = new Registry();
  private readonly families = new Map<string, { shape: string; metric: Counter | Gauge | Histogram }>();
  private readonly written = new Set<string>();

  constructor(private readonly prefix: string) {}

  /** Runs the sources synchronously: nothing else writes between the first and the last. */
  scrape(sources: readonly MetricsSource[]): void {
    this.written.clear();
    for (const source of sources) source(this);
    for (const name of this.families.keys()) {
      if (this.written.has(name)) continue;
      this.registry.removeSingleMetric(name);
      this.families.delete(name);
    }
  }

  get size(): number {
    return this.families.size;
  }

  counter(name: string, help: string, samples: number | LabelledSamples): this {
    const full = this.claim(`${this.prefix}_${name}`);
    const labelled = typeof samples === 'number' ? undefined : samples;
    if (labelled?.length === 0) return this;
    const labelNames = labelled ? Object.keys(labelled[0]![0]) : [];
    const counter = this.family(full, `counter ${labelNames.join(',')}`, () => new Counter({ name: full, help, labelNames, registers: [] }));
    counter.reset();
    if (labelled) for (const [labels, value] of labelled) counter.inc(labels, value);
    else counter.inc(samples as number);
    return this;
  }

  gauge(name: string, help: string, value: number): this {
    const full = this.claim(`${this.prefix}_${name}`);
    this.family(full, 'gauge', () => new Gauge({ name: full, help, registers: [] })).set(value);
    return this;
  }

  histogram(histogram: Histogram): this {
    // prom-client keeps every metric's name in `name` (its registry reads it); the typings leave it out.
    const full = this.claim((histogram as unknown as { readonly name: string }).name);
    if (this.families.get(full)?.metric !== histogram) this.place(full, 'histogram', histogram);
    return this;
  }

  /** Marks `full` written; a family written twice in one scrape is a programming error. */
  private claim(full: string): string {
    if (this.written.has(full)) throw codedError('FP_METRIC_DUPLICATE', full);
    this.written.add(full);
    return full;
  }

  /** The family registered as `full` with this kind and label names, or a new one made by `create`. */
  private family<M extends Counter | Gauge>(full: string, shape: string, create: () => M): M {
    const known = this.families.get(full);
    return known?.shape === shape ? (known.metric as M) : this.place(full, shape, create());
  }

  private place<M extends Counter | Gauge | Histogram>(full: string, shape: string, metric: M): M {
    this.registry.removeSingleMetric(full);
    this.registry.registerMetric(metric);
    this.families.set(full, { shape, metric });
    return metric;
  }
}

export class ServiceMetrics {
  private readonly sources: MetricsSource[] = [];
  private readonly families: ScrapedFamilies;

  /** `prefix` is prepended with `_` to every counter and gauge name, e.g. `fleetpulse_ingest`. */
  constructor(prefix: string) {
    this.families = new ScrapedFamilies(prefix);
    processMetrics();
  }

  /** Adds a source, run on every scrape in the order added. */
  addSource(source: MetricsSource): void {
    this.sources.push(source);
  }

  /** Prometheus text: the service's metrics, then the process's. */
  async text(): Promise<string> {
    this.families.scrape(this.sources);
    const [own, process] = await Promise.all([this.families.registry.metrics(), processMetrics().metrics()]);
    return this.families.size > 0 ? `${own}\n${process}` : process;
  }
}

/**
 * A histogram to observe where the values arise and hand to a source's `histogram(h)`; `name` is
 * the full metric name, e.g. `fleetpulse_ingest_influx_write_seconds`.
 */
export function createHistogram(name: string, help: string, buckets: readonly number[]): Histogram {
  return new Histogram({ name, help, buckets: [...buckets], registers: [] });
}
