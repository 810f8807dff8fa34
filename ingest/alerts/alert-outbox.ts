/**
 * Alerts on their way to MQTT `topics.alerts(vehicle)` (QoS 1): handed to the broker connection
 * when it is up, kept while it is away.
 *
 * Guarantees:
 * - Bounded: at most `maxAlerts` wait; at the bound the oldest is dropped and counted (`dropped`),
 *   because the alert is also stored (`alerts` point) and told to the observers, so the MQTT copy
 *   is the one that may go.
 * - In order per outbox; a publish whose connection ends before the PUBACK goes back to the front
 *   and is sent again on the next connection (at least once; readers deduplicate by `alertId` and
 *   `state`).
 * - `flush` is cheap when there is nothing to send: the owner calls it whenever it adds and on its
 *   ticks, so a broker that comes back gets the waiting alerts within a tick.
 */
import { encodeAlert, type AlertMessage } from '../../contracts/alerts.ts';
import { topics } from '../../contracts/topics.ts';
import type { BrokerLink } from '../streams/ingest-stream.ts';

export interface AlertOutboxStats {
  waiting: number;
  published: number;
  dropped: number;
  retried: number;
}

export class AlertOutbox {
  private readonly queue: Array<{ topic: string; payload: Buffer }> = [];
  /** Handed to the client, not yet acknowledged. */
  private inFlight = 0;
  private counters = { published: 0, dropped: 0, retried: 0 };

  constructor(private readonly maxAlerts = 10_000) {
    if (!(maxAlerts >= 1)) throw new RangeError('maxAlerts must be ≥ 1');
  }

  add(alert: AlertMessage): void {
    this.queue.push({ topic: topics.alerts(alert.vehicle), payload: encodeAlert(alert) });
    this.trim();
  }

  /** Hands what waits to `broker` while it is connected. */
  flush(broker: BrokerLink | undefined): void {
    while (broker?.connected && this.queue.length > 0) {
      const next = this.queue.shift()!;
      this.inFlight += 1;
      const sent = broker.publish(next.topic, next.payload, { qos: 1 }, (error) => {
        this.inFlight -= 1;
        if (!error) {
          this.counters.published += 1;
          return;
        }
        this.counters.retried += 1;
        this.queue.unshift(next);
        this.trim();
      });
      if (!sent) {
        this.inFlight -= 1;
        this.queue.unshift(next);
        return;
      }
    }
  }

  stats(): AlertOutboxStats {
    return { waiting: this.queue.length + this.inFlight, ...this.counters };
  }

  private trim(): void {
    while (this.queue.length > this.maxAlerts) {
      this.queue.shift();
      this.counters.dropped += 1;
    }
  }
}
