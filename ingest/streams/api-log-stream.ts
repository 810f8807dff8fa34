/**
 * API access logs (`apilogs/{source}`, from the log shipper) as an ingest stream: ApiLogProcessor
 * (apilogs/api-log-processor.ts) turns a batch into `api_requests` / `api_threats` lines, stored
 * as derived records and acknowledged like telemetry, plus traffic and threat events.
 *
 * - Malformed batches are dead letters (kind `apilogs`); lines with an implausible time are left
 *   out and become one `clock_skew` dead letter per batch, with the lines as its payload.
 * - Windows of quiet sources close on `tick` (processing time, which stands still while
 *   acknowledgements are held).
 * - Clean restart: at `stop` the open windows are written as they are (provisional points) and
 *   saved beside the spool (ApiLogStateFile); `start` resumes them before the first batch, and when
 *   they close their points overwrite the provisional ones (same key).
 * - The blocklist publisher holds the broker connection (not a client), so it publishes on
 *   whichever client is up; it is attached at `start`.
 * - `apilogs/#` is subscribed on every connect: a session persisted before API logs were enabled lacks it.
 */
import { isApiLogsTopic, topics } from '../../contracts/topics.ts';
import { errorMessage } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import type { ScrapeMetrics } from '../../common/metrics.ts';
import type { ApiLogProcessor } from '../apilogs/api-log-processor.ts';
import type { ApiLogStateFile } from '../apilogs/api-log-state-file.ts';
import type { IngestStream, StreamContext, StreamResult } from './ingest-stream.ts';

export class ApiLogStream implements IngestStream {
  readonly name = 'apilogs';

  constructor(
    private readonly processor: ApiLogProcessor,
    /** API-log windows open at a clean stop, for the next start. */
    private readonly state: ApiLogStateFile,
    private readonly log: Logger,
  ) {}

  filters(): string[] {
    return [topics.apiLogsFilter()];
  }

  accepts(topic: string): boolean {
    return isApiLogsTopic(topic);
  }

  handle(topic: string, payload: Buffer, ctx: StreamContext): StreamResult {
    const result = this.processor.handle(topic, payload, Date.now(), ctx.readingNow());
    if (!result.ok) return { deadLetters: [{ reason: result.reason, detail: result.detail, payload }] };
    const skew = result.clockSkew;
    return {
      deadLetters: skew ? [{ reason: 'clock_skew', detail: skew.detail, payload: Buffer.from(skew.payload) }] : undefined,
      records: result.lines ? [{ type: 'f', body: result.lines }] : undefined,
      events: result.events,
    };
  }

  tick(ctx: StreamContext): StreamResult | undefined {
    const lines = this.processor.tick(Date.now(), ctx.readingNow());
    return lines ? { records: [{ type: 'f', body: lines }] } : undefined;
  }

  /** Resumes the windows saved at the last clean stop, before any batch arrives; attaches the blocklist. */
  start(ctx: StreamContext): void {
    const state = this.state.take();
    if (state) {
      const cells = this.processor.restoreState(state, ctx.readingNow());
      this.log.info('resumed the API-log windows open at the last stop', { cells, requestIds: state.ids.length });
    }
    const broker = ctx.broker();
    if (broker) this.processor.attach(broker);
  }

  /** Writes what the open windows hold (provisional points) and saves them for the next start. */
  stop(): StreamResult | undefined {
    const lines = this.processor.openWindowLines();
    try {
      this.state.write(this.processor.saveState());
    } catch (error) {
      this.log.error('API-log windows not saved: those open now restart empty', { path: this.state.path, error: errorMessage(error) });
    }
    return lines ? { records: [{ type: 'f', body: lines }] } : undefined;
  }

  metrics(m: ScrapeMetrics): void {
    const api = this.processor.stats();
    m.counter('api_log_lines_total', 'API access-log lines received', api.lines)
      .counter('api_requests_total', 'API requests aggregated (after dedup)', api.requests)
      .counter('api_duplicate_lines_total', 'API log lines dropped as already seen (request id)', api.duplicates)
      .counter('api_malformed_lines_total', 'API log lines that did not parse', api.malformedLines)
      .counter('api_forgotten_ids_total', 'Request ids evicted from the dedup set at its bound', api.forgottenIds)
      .counter('api_late_requests_total', 'API requests later than their window (not aggregated)', api.windows.lateRequests)
      .counter('api_clock_skewed_lines_total', 'API log lines refused for a time too far ahead of or behind their arrival (clock_skew dead letters)', api.clockSkewedLines)
      .counter('api_clock_jumps_followed_total', 'Forward clock jumps of a log source followed after a confirming run of lines', api.windows.clockJumpsFollowed)
      .counter('api_clock_jump_requests_discarded_total', 'API requests of unconfirmed forward clock jumps not aggregated', api.windows.clockJumpRequestsDiscarded)
      .counter('api_forced_window_closes_total', 'API windows closed early at the open-cell bound', api.windows.forcedCloses)
      .gauge('api_open_cells', 'Open API window cells', api.windows.openCells)
      .counter('api_detections_total', 'Abuse detections', api.detections)
      .gauge('api_blocklist_entries', 'Entries on the API blocklist', api.blocklist.entries)
      .counter('api_blocklist_evicted_total', 'Blocklist entries dropped at its bound', api.blocklist.evicted);
  }
}
