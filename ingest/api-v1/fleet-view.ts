/**
 * The API's picture of a vehicle, from the dashboard's merged picture (live state + InfluxDB,
 * merge-backfill.ts) and the MIL of the newest health event: one rule for the state, so the API,
 * the page and Grafana agree on what "anomalous" means.
 *
 * State: `offline` when no sample arrived for `offlineAfterMs` (or none is known), else
 * `anomalous` (alerting or latest window anomalous), `healthy` (scored against a learned
 * baseline), `learning` (baseline still learning, or not scored yet).
 */
import type { AlertView, VehicleView } from '../dashboard/live-state.ts';
import type { ApiVehicle } from './api-schemas.ts';

/** Ids of alerts whose latest change (in `alerts`, oldest first) is `raised`, per vehicle. */
export function openAlertsByVehicle(alerts: readonly AlertView[]): Map<string, string[]> {
  const latest = new Map<string, AlertView>();
  for (const alert of alerts) latest.set(alert.alertId, alert);
  const out = new Map<string, string[]>();
  for (const alert of latest.values()) {
    if (alert.state !== 'raised') continue;
    const list = out.get(alert.vehicle) ?? [];
    list.push(alert.alertId);
    out.set(alert.vehicle, list);
  }
  return out;
}

export function apiVehicle(v: VehicleView, context: { nowMs: number; offlineAfterMs: number; mil: ReadonlyMap<string, boolean>; openAlerts: ReadonlyMap<string, string[]> }): ApiVehicle {
  const open = [...(context.openAlerts.get(v.id) ?? [])];
  if (v.alerting && v.alertId && !open.includes(v.alertId)) open.push(v.alertId);
  const offline = v.t === undefined || context.nowMs - v.t > context.offlineAfterMs;
  const state = offline ? 'offline' : v.state === 'anomalous' ? 'anomalous' : v.state === 'healthy' ? 'healthy' : 'learning';
  return {
    id: v.id,
    state,
    lastSeenMs: v.t ?? null,
    score: v.score ?? null,
    threshold: v.threshold ?? null,
    baseline: v.baseline ?? null,
    mil: context.mil.get(v.id) ?? null,
    openAlerts: open,
  };
}
