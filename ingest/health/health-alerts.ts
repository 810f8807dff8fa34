/**
 * Alert decisions from the car's own diagnosis, in the shape of contracts/alerts.ts:
 * - `dtc`: raised by the event in which a code became confirmed (a new confirmed episode), cleared
 *   by the event in which it is no longer confirmed (04, or the ECU's own erasing). Pending and
 *   permanent codes raise nothing: a pending code is not yet the ECU's verdict, a permanent one
 *   without a confirmed one is a cleared code waiting for its monitor.
 * - `mil`: raised when the MIL comes on, cleared when it goes off; an unknown MIL changes nothing.
 * Both at once, from the event that showed the change: no hysteresis, no delay. The alert id is
 * stable for the episode (`<vehicle>:dtc:<code>:<first confirmed ms>`, `<vehicle>:mil:<on since ms>`),
 * so the clear repeats the raise's id, and a redelivered event (a duplicate in HealthHistory)
 * decides nothing.
 */
import { ALERT_SCHEMA, type AlertMessage } from '../../contracts/alerts.ts';
import type { VehicleHealthEvent } from '../../contracts/vehicle-health.ts';
import { describeDtc } from './dtc-descriptions.ts';
import type { DtcEpisode, HealthChange } from './dtc-history.ts';

function base(event: VehicleHealthEvent, nowMs: number): Omit<AlertMessage, 'alertId' | 'state' | 'kind'> {
  // Not a model's alert: its model fields are fixed, its window is the event's time.
  return { schema: ALERT_SCHEMA, vehicle: event.vehicle, windowStartMs: event.t, windowEndMs: event.t, modelVersion: 0, score: 1, threshold: 1, windows: 1, topFeatures: [], emittedAtMs: nowMs };
}

const describe = (code: string): string => `${code} ${describeDtc(code).text}`;

function dtcAlert(event: VehicleHealthEvent, e: DtcEpisode, state: 'raised' | 'cleared', nowMs: number): AlertMessage {
  const text =
    state === 'raised'
      ? `Trouble code ${describe(e.code)}: confirmed by the engine control unit${event.mil ? ', check-engine light on' : ''}`
      : `Trouble code ${e.code} no longer confirmed (cleared)${event.permanent?.includes(e.code) ? '; still stored as permanent until its monitor passes' : ''}`;
  return {
    ...base(event, nowMs),
    alertId: `${event.vehicle}:dtc:${e.code}:${e.firstSeenMs}`,
    state,
    kind: 'dtc',
    explanation: { text, signals: [] },
    diagnosis: { codes: [e.code], descriptions: [describeDtc(e.code).text], mil: event.mil, eventSeq: event.seq, freezeFrame: e.freezeFrame ?? null },
  };
}

/** The alert state changes an applied event causes (none for a duplicate). */
export function healthAlerts(event: VehicleHealthEvent, change: HealthChange, nowMs: number): AlertMessage[] {
  if (change.status !== 'applied') return [];
  const alerts: AlertMessage[] = [];
  for (const e of change.started) if (e.kind === 'confirmed') alerts.push(dtcAlert(event, e, 'raised', nowMs));
  for (const e of change.ended) if (e.kind === 'confirmed') alerts.push(dtcAlert(event, e, 'cleared', nowMs));
  const { before, after, onSinceMs } = change.mil;
  if (after !== null && after !== before && (after || before === true) && onSinceMs !== undefined) {
    const codes = event.confirmed ?? [];
    alerts.push({
      ...base(event, nowMs),
      alertId: `${event.vehicle}:mil:${onSinceMs}`,
      state: after ? 'raised' : 'cleared',
      kind: 'mil',
      explanation: { text: after ? `Check-engine light on${codes.length ? `: ${codes.map(describe).join('; ')}` : ''}` : 'Check-engine light off', signals: [] },
      diagnosis: { codes: [...codes], descriptions: codes.map((c) => describeDtc(c).text), mil: after, eventSeq: event.seq, freezeFrame: event.freezeFrame },
    });
  }
  return alerts;
}
