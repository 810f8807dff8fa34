/**
 * The ingest side of vehicle health, as one pure step a stream can call per message: payload →
 * decoded event → history updated → what to write and what to announce. It returns what it wants
 * done (InfluxDB lines, alert messages, or a dead letter) and does none of it, so it can sit behind
 * whatever stream seam ingest has (no wiring here).
 *
 * Guarantees: never throws for a payload (a bad one is a dead letter with the contract's reason);
 * a redelivered event (HealthHistory: neither newer by seq nor by time) asks for nothing. The caller
 * keeps delivery exactly-once in effect by persisting `history.toState()` only once the lines of
 * the events it covers are stored (spooled): after a crash before that, a redelivered event is
 * applied again and gives the same lines (same keys) and the same alert ids.
 */
import type { AlertMessage } from '../../contracts/alerts.ts';
import type { DeadLetterReason } from '../../contracts/telemetry.ts';
import { decodeVehicleHealth, type VehicleHealthEvent } from '../../contracts/vehicle-health.ts';
import type { HealthChange, HealthHistory } from './dtc-history.ts';
import { healthAlerts } from './health-alerts.ts';
import { dtcLine, healthAlertLine, vehicleHealthLine } from './health-lines.ts';

export type HealthOutcome =
  | { kind: 'applied'; event: VehicleHealthEvent; change: HealthChange; lines: string; alerts: AlertMessage[] }
  | { kind: 'duplicate'; event: VehicleHealthEvent }
  | { kind: 'dead-letter'; reason: DeadLetterReason; detail: string };

export class HealthProcessor {
  constructor(readonly history: HealthHistory) {}

  /** One message from `topics.health(vehicle)`. */
  handle(topicVehicle: string, payload: Uint8Array, nowMs: number): HealthOutcome {
    const decoded = decodeVehicleHealth(payload, topicVehicle);
    if (!decoded.ok) return { kind: 'dead-letter', reason: decoded.reason, detail: decoded.detail };
    return this.apply(decoded.event, nowMs);
  }

  apply(event: VehicleHealthEvent, nowMs: number): HealthOutcome {
    const change = this.history.apply(event);
    if (change.status === 'duplicate') return { kind: 'duplicate', event };
    const alerts = healthAlerts(event, change, nowMs);
    let lines = vehicleHealthLine(event);
    for (const e of [...change.started, ...change.continued, ...change.ended]) lines += dtcLine(event.vehicle, e);
    for (const a of alerts) lines += healthAlertLine(a);
    return { kind: 'applied', event, change, lines, alerts };
  }
}
