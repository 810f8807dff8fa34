/**
 * The API-log side of ingest: one `apilogs/{source}` batch in, line protocol out (to the spool,
 * acknowledged like telemetry), plus blocklist updates over MQTT.
 *
 *   batch ─▶ parse line ─▶ dedup (nginx request id) ─▶ client IP (trusted proxies) ─▶ geo (mmdb)
 *         ─▶ customer (dimension table) ─┬─▶ ApiWindows (10 s, 1 min) ─▶ api_requests
 *                                        └─▶ AbuseDetector ─▶ api_threats + Blocklist publish
 *
 * Deduplication: a batch can arrive twice (QoS 1, shipper restarts), so every request id seen is
 * remembered (bounded LRU of `maxRememberedIds`, evictions counted). A duplicate older than that
 * falls into a closed window and is dropped as late, so counts stay exact either way.
 *
 * Clean restart: `saveState()` keeps the open windows and the ids of the requests in them;
 * `restoreState()` resumes both, so lines arriving after a restart add to the windows that were
 * open at the stop, and a batch sent again across the restart still counts once.
 * Malformed lines are counted and skipped; a malformed batch is a dead letter. Lines whose time is
 * not plausible for when they arrived (ingest/windows/clock-sanity.ts) are left out of everything
 * (windows, abuse rules, dedup) and reported as `clockSkew`, for one `clock_skew` dead letter per
 * batch; a source's forward clock jump is followed once confirmed (ApiWindows).
 */
import { z } from 'zod';
import { apiLogBatchSchema, API_LOG_BATCH_MAX_BYTES } from '../../contracts/api-logs.ts';
import type { TrustedProxies } from '../../api/client-ip.ts';
import { UNKNOWN_CUSTOMER, type CustomerTable } from '../../api/customer-table.ts';
import type { Logger } from '../../common/logger.ts';
import { silentLogger } from '../../common/logger.ts';
import { parseAccessLogLine, endpointOf, statusClass } from './access-log-record.ts';
import { AbuseDetector, type AbuseThresholds } from './abuse-detector.ts';
import { apiRequestLine, apiThreatLine } from './api-lines.ts';
import { ApiWindows, apiWindowsSnapshotSchema, type ApiWindowOptions, type ClosedCell } from './api-windows.ts';
import { BlocklistPublisher, type BlocklistClient } from './blocklist-publisher.ts';
import type { GeoLookup } from './geo-lookup.ts';
import { describeClockSkew, outsideClockBounds } from '../windows/clock-sanity.ts';
import { DEFAULT_CLOCK_SANITY, type ClockSanityOptions } from '../windows/clock-options.ts';
import type { ApiTrafficEvent, IngestEvent } from '../ingest-events.ts';

export interface ApiLogProcessorOptions {
  geo: GeoLookup;
  customers: CustomerTable;
  trustedProxies: TrustedProxies;
  windows: ApiWindowOptions;
  thresholds: AbuseThresholds;
  blockMs: number;
  maxBlocklistEntries: number;
  maxRememberedIds: number;
  knownEndpoints?: readonly string[];
  /** Clock bounds and forward-jump confirmation for log lines (default DEFAULT_CLOCK_SANITY). */
  clock?: ClockSanityOptions;
  logger?: Logger;
}

export const apiLogStateSchema = z.object({
  windows: apiWindowsSnapshotSchema,
  /** Request ids with their event times. */
  ids: z.array(z.tuple([z.string(), z.number()])),
});
export type ApiLogState = z.infer<typeof apiLogStateSchema>;

/** Lines of a batch left out because their time is not plausible: for a `clock_skew` dead letter. */
export interface ApiClockSkew {
  lines: number;
  detail: string;
  /** The lines themselves, one per line. */
  payload: string;
}

/** `events` (traffic by country, detections) are for ingest's observers, to emit once `lines` are spooled. */
export type ApiLogResult = { ok: true; lines: string; events: IngestEvent[]; clockSkew?: ApiClockSkew } | { ok: false; reason: 'too_large' | 'not_json' | 'schema' | 'topic_mismatch'; detail: string };

export interface ApiLogStats {
  batches: number;
  lines: number;
  requests: number;
  duplicates: number;
  malformedLines: number;
  forgottenIds: number;
  detections: number;
  /** Lines left out because their time was not plausible when they arrived. */
  clockSkewedLines: number;
  windows: ReturnType<ApiWindows['stats']>;
  blocklist: ReturnType<BlocklistPublisher['stats']>;
}

export class ApiLogProcessor {
  private readonly windows: ApiWindows;
  private readonly detector: AbuseDetector;
  readonly blocklist: BlocklistPublisher;
  /** Request id → its event time (the time decides which ids a saved state must keep). */
  private readonly seen = new Map<string, number>();
  private readonly known: ReadonlySet<string>;
  private readonly log: Logger;
  private counters = { batches: 0, lines: 0, requests: 0, duplicates: 0, malformedLines: 0, forgottenIds: 0, detections: 0, clockSkewedLines: 0 };
  private readonly clock: ClockSanityOptions;

  constructor(private readonly options: ApiLogProcessorOptions) {
    this.log = options.logger ?? silentLogger;
    this.clock = options.clock ?? DEFAULT_CLOCK_SANITY;
    this.windows = new ApiWindows({ ...options.windows, jump: options.windows.jump ?? this.clock });
    this.detector = new AbuseDetector(options.thresholds, options.blockMs);
    this.blocklist = new BlocklistPublisher(options.maxBlocklistEntries, this.log.child('blocklist'));
    this.known = new Set(options.knownEndpoints ?? ['/v1/blur', '/openapi.json', '/healthz']);
  }

  /** Where blocklist updates go (the ingest worker's MQTT client, once connected). */
  attach(client: BlocklistClient): void {
    this.blocklist.attach(client);
  }

  /**
   * Processes one batch; returns the line protocol to spool (possibly empty) or why it is a dead
   * letter. `readingMs` is the processing clock idle timeouts use (ingest stops it while it holds
   * acknowledgements); `nowMs` is the wall clock.
   */
  handle(topic: string, payload: Buffer, nowMs = Date.now(), readingMs = nowMs): ApiLogResult {
    if (payload.length > API_LOG_BATCH_MAX_BYTES) return { ok: false, reason: 'too_large', detail: `${payload.length} bytes` };
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      return { ok: false, reason: 'not_json', detail: 'batch is not JSON' };
    }
    const parsed = apiLogBatchSchema.safeParse(json);
    if (!parsed.success) return { ok: false, reason: 'schema', detail: parsed.error.issues[0]?.message ?? 'schema' };
    const batch = parsed.data;
    if (topic !== `apilogs/${batch.source}`) return { ok: false, reason: 'topic_mismatch', detail: `source ${batch.source} on ${topic}` };
    this.counters.batches += 1;
    let out = '';
    const events: IngestEvent[] = [];
    const byCountry = new Map<string, { country: string; requests: number; errors: number; lat: number | undefined; lon: number | undefined }>();
    let lastMs = 0;
    const skewed: string[] = [];
    let worstOffsetMs = 0;
    for (const line of batch.lines) {
      this.counters.lines += 1;
      const result = parseAccessLogLine(line);
      if (!result.ok) {
        this.counters.malformedLines += 1;
        continue;
      }
      const r = result.record;
      if (outsideClockBounds(r.timeMs, nowMs, this.clock)) {
        skewed.push(line);
        if (Math.abs(r.timeMs - nowMs) > Math.abs(worstOffsetMs)) worstOffsetMs = r.timeMs - nowMs;
        continue;
      }
      if (r.requestId) {
        if (this.seen.has(r.requestId)) {
          this.counters.duplicates += 1;
          continue;
        }
        this.remember(r.requestId, r.timeMs);
      }
      this.counters.requests += 1;
      const clientIp = this.options.trustedProxies.clientIp(r.remoteAddr, r.forwardedFor);
      const geo = this.options.geo.lookup(clientIp);
      const customer = this.options.customers.lookupPrefix(r.keyPrefix);
      const c = byCountry.get(geo.country) ?? { country: geo.country, requests: 0, errors: 0, lat: undefined, lon: undefined };
      c.requests += 1;
      if (r.status >= 400) c.errors += 1;
      if (geo.lat !== undefined && geo.lon !== undefined) [c.lat, c.lon] = [geo.lat, geo.lon];
      byCountry.set(geo.country, c);
      lastMs = Math.max(lastMs, r.timeMs);
      const closed = this.windows.add(
        batch.source,
        {
          timeMs: r.timeMs,
          endpoint: endpointOf(r.path, this.known),
          statusClass: statusClass(r.status),
          country: geo.country,
          customer: customer.customer,
          plan: customer.plan,
          status: r.status,
          bytesIn: r.bytesIn,
          bytesOut: r.bytesOut,
          latencyUs: Math.round(r.requestTime * 1_000_000),
        },
        readingMs,
      );
      out += this.cellLines(closed);
      for (const d of this.detector.observe({ timeMs: r.timeMs, clientIp, status: r.status, path: r.path, requestId: r.requestId, keyPrefix: r.keyPrefix, knownKey: customer.customer !== UNKNOWN_CUSTOMER && customer.plan !== '_none', country: geo.country })) {
        this.counters.detections += 1;
        // Blocks run on the wall clock (the API enforces them now), from detection on.
        const untilMs = nowMs + this.options.blockMs;
        out += apiThreatLine(batch.source, d, untilMs);
        events.push({ type: 'threat', source: batch.source, rule: d.rule, kind: d.kind, subject: d.subject, count: d.count, threshold: d.threshold, windowMs: d.windowMs, firstMs: d.firstMs, lastMs: d.lastMs, blockUntilMs: untilMs });
        this.blocklist.add({ kind: d.kind, value: d.subject, reason: d.rule, sinceMs: nowMs, untilMs });
        this.log.warn('abuse detected', { rule: d.rule, subject: d.subject, count: d.count, source: batch.source });
      }
    }
    if (byCountry.size > 0) events.unshift({ type: 'api_traffic', source: batch.source, lastMs, countries: [...byCountry.values()] } satisfies ApiTrafficEvent);
    if (skewed.length === 0) return { ok: true, lines: out, events };
    this.counters.clockSkewedLines += skewed.length;
    const detail = describeClockSkew(skewed.length, batch.lines.length, 'lines', worstOffsetMs, this.clock);
    return { ok: true, lines: out, events, clockSkew: { lines: skewed.length, detail, payload: skewed.join('\n') } };
  }

  /** Periodic: closes idle sources' windows, expires blocklist entries. Returns lines to spool. */
  tick(nowMs = Date.now(), readingMs = nowMs): string {
    this.blocklist.expire(nowMs);
    return this.cellLines(this.windows.closeIdle(nowMs, readingMs));
  }

  /** Line protocol of what the open windows hold so far (provisional points at a stop; see ApiWindows). */
  openWindowLines(): string {
    return this.cellLines(this.windows.openCellsSoFar());
  }

  /** Open windows and the ids of requests that could still repeat into them, for a restart. */
  saveState(): ApiLogState {
    const oldest = this.windows.oldestOpenMs();
    const ids: Array<[string, number]> = [];
    for (const [id, timeMs] of this.seen) if (timeMs >= oldest) ids.push([id, timeMs]);
    return { windows: this.windows.snapshot(), ids };
  }

  /** Resumes a saved state (at start, before any batch); returns the cells resumed. */
  restoreState(state: ApiLogState, readingMs = Date.now()): number {
    for (const [id, timeMs] of state.ids) this.remember(id, timeMs);
    return this.windows.restore(state.windows, readingMs);
  }

  /** Closes every open window (benchmarks and tests that end a run). */
  closeAll(): string {
    return this.cellLines(this.windows.closeAll());
  }

  stats(): ApiLogStats {
    return { ...this.counters, windows: this.windows.stats(), blocklist: this.blocklist.stats() };
  }

  private remember(requestId: string, timeMs: number): void {
    this.seen.set(requestId, timeMs);
    if (this.seen.size > this.options.maxRememberedIds) {
      this.seen.delete(this.seen.keys().next().value!);
      this.counters.forgottenIds += 1;
    }
  }

  private cellLines(cells: readonly ClosedCell[]): string {
    let out = '';
    for (const c of cells) out += apiRequestLine(c);
    return out;
  }
}
