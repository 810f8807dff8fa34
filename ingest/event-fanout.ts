/**
 * Hands IngestEvents (ingest-events.ts) to every observer added with
 * `IngestService.addEventListener`: in order, synchronously, and only once the spool append
 * behind them has resolved. A throwing observer is logged and counted; the others still get the
 * event, and ingest goes on.
 */
import { errorMessage } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { IngestEvent, IngestEventListener } from './ingest-events.ts';

export class EventFanout {
  private readonly listeners: IngestEventListener[] = [];
  private failureCount = 0;

  constructor(private readonly log: Logger) {}

  add(listener: IngestEventListener): void {
    this.listeners.push(listener);
  }

  /** Observers added so far (none: events need not be built). */
  get size(): number {
    return this.listeners.length;
  }

  /** Observers that threw. */
  get failures(): number {
    return this.failureCount;
  }

  /** Emits `events` now, or once `after` resolves (never, if it rejects). */
  emit(events: readonly IngestEvent[], after?: Promise<void>): void {
    if (this.listeners.length === 0 || events.length === 0) return;
    const emit = () => {
      for (const event of events) {
        for (const listener of this.listeners) {
          try {
            listener(event);
          } catch (error) {
            this.failureCount += 1;
            this.log.error('ingest event listener failed', { type: event.type, error: errorMessage(error) });
          }
        }
      }
    };
    if (after) void after.then(emit, () => undefined);
    else emit();
  }
}
