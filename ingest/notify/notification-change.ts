/**
 * What ingest tells about becomes a state change worth notifying: a vehicle alert (any kind), an
 * API threat (a block: raised only), an ingest health check, or a test. Each gets its idempotency
 * key here, derived only from what identifies the change, so the same change always gets the
 * same key: after a retry, a restart, or when ingest reports it again.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { AlertMessage } from '../../contracts/alerts.ts';
import { NOTIFICATION_SCHEMA, type Notification } from '../../contracts/notification.ts';
import type { ThreatEvent } from '../ingest-events.ts';

export type NotificationChange = Omit<Notification, 'schema' | 'rule'>;

/** Hex SHA-256 (128 bits) of the parts: opaque, fixed length, the same for the same parts. */
export function idempotencyKey(...parts: ReadonlyArray<string | number>): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${String(part).length}:${String(part)};`);
  return hash.digest('hex').slice(0, 32);
}

const words = (kind: string): string => kind.replace(/_/g, ' ');

/** An alert's state change; its key is the alert id, the state and the window that changed it. */
export function alertChange(alert: AlertMessage): NotificationChange {
  const what = `${words(alert.kind)} ${alert.state === 'raised' ? 'on' : 'cleared on'} ${alert.vehicle}`;
  return {
    id: idempotencyKey('alert', alert.alertId, alert.state, alert.windowStartMs),
    kind: `alert:${alert.kind}`,
    state: alert.state,
    subject: alert.vehicle,
    vehicle: alert.vehicle,
    summary: alert.explanation?.text ? `${what}: ${alert.explanation.text}` : what,
    changedAtMs: alert.emittedAtMs,
    alert,
  };
}

/** A detection and the block it caused; a threat has no `cleared` (its block simply ends). */
export function threatChange(event: ThreatEvent): NotificationChange {
  const { type: _type, ...threat } = event;
  return {
    id: idempotencyKey('api_threat', event.source, event.rule, event.subject, event.firstMs),
    kind: 'api_threat',
    state: 'raised',
    subject: event.subject,
    summary: `API client ${event.subject} blocked until ${new Date(event.blockUntilMs).toISOString()}: ${event.count} ${words(event.kind)} in ${Math.round(event.windowMs / 1000)} s (rule ${event.rule}, threshold ${event.threshold})`,
    changedAtMs: event.lastMs,
    threat,
  };
}

const CHECK_NAMES: Record<string, string> = { influxdb: 'InfluxDB', spool: 'the spool', broker: 'the broker connection' };

/** An ingest health check that failed since `sinceMs` (raised), or recovered from that failure (cleared). */
export function healthChange(check: string, state: 'raised' | 'cleared', sinceMs: number, detail: string, nowMs: number): NotificationChange {
  const name = CHECK_NAMES[check] ?? check;
  return {
    id: idempotencyKey('ingest_health', check, state, sinceMs),
    kind: `ingest_health:${check}`,
    state,
    subject: 'ingest',
    summary: state === 'raised' ? `ingest: ${name} failing: ${detail}` : `ingest: ${name} ok again`,
    changedAtMs: nowMs,
    health: { check, detail },
  };
}

/** `fleetpulse notify test`: a fresh key every time (nothing changed, so nothing to deduplicate). */
export function testChange(nowMs: number): NotificationChange {
  return { id: `test-${randomUUID()}`, kind: 'test', state: 'raised', subject: 'fleetpulse', summary: 'test notification from fleetpulse notify test: this channel works', changedAtMs: nowMs, test: true };
}

export function toNotification(change: NotificationChange, rule: string): Notification {
  return { schema: NOTIFICATION_SCHEMA, ...change, rule };
}
