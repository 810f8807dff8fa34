/**
 * Keeps the current blocklist and publishes it, retained, to `topics.apiBlocklist()` whenever it
 * changes (coalesced: at most one publish per `minIntervalMs`). Retained + complete list means a
 * privacy API that (re)connects gets the whole current state at once.
 *
 * Bound: `maxEntries`; at the bound the entry expiring soonest is dropped (counted).
 * The list is held in memory: after an ingest restart it starts empty and the next publish
 * replaces the retained one (blocks then re-arise from new detections).
 */
import type { BlockEntry, ApiBlocklist } from '../../contracts/api-logs.ts';
import { topics } from '../../contracts/topics.ts';
import { errorMessage } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';

export interface BlocklistClient {
  readonly connected: boolean;
  publish(topic: string, payload: string, options: { qos: 1; retain: true }, callback: (error?: Error) => void): unknown;
}

export class BlocklistPublisher {
  private readonly entries = new Map<string, BlockEntry>();
  private client: BlocklistClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;
  private counters = { published: 0, publishFailures: 0, evicted: 0, added: 0 };

  constructor(
    private readonly maxEntries: number,
    private readonly log: Logger,
    private readonly minIntervalMs = 100,
  ) {}

  attach(client: BlocklistClient): void {
    this.client = client;
    this.schedule();
  }

  add(entry: BlockEntry): void {
    const key = `${entry.kind}:${entry.value}`;
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      let soonest: string | undefined;
      let soonestUntil = Infinity;
      for (const [k, e] of this.entries) if (e.untilMs < soonestUntil) [soonest, soonestUntil] = [k, e.untilMs];
      if (soonest) this.entries.delete(soonest);
      this.counters.evicted += 1;
    }
    this.entries.set(key, entry);
    this.counters.added += 1;
    this.schedule();
  }

  expire(nowMs: number): void {
    let changed = false;
    for (const [k, e] of this.entries) {
      if (e.untilMs <= nowMs) {
        this.entries.delete(k);
        changed = true;
      }
    }
    if (changed) this.schedule();
  }

  current(nowMs = Date.now()): ApiBlocklist {
    return { v: 1, updatedMs: nowMs, entries: [...this.entries.values()] };
  }

  stats(): { entries: number; published: number; publishFailures: number; evicted: number; added: number } {
    return { entries: this.entries.size, ...this.counters };
  }

  private schedule(): void {
    this.dirty = true;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.publish();
    }, this.minIntervalMs);
    this.timer.unref();
  }

  private publish(): void {
    const client = this.client;
    if (!this.dirty || !client) return;
    if (!client.connected) {
      // Try again shortly; the broker holds the last retained list meanwhile.
      this.schedule();
      return;
    }
    this.dirty = false;
    client.publish(topics.apiBlocklist(), JSON.stringify(this.current()), { qos: 1, retain: true }, (error) => {
      if (error) {
        this.counters.publishFailures += 1;
        this.log.warn('blocklist publish failed; retrying', { error: errorMessage(error) });
        this.schedule();
      } else this.counters.published += 1;
    });
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
