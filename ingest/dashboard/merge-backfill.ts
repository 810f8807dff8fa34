/**
 * A page's first picture: the live state merged with what InfluxDB holds. Live data wins where it
 * has something (it is newer: ingest saw it since it started); InfluxDB fills the rest — vehicles
 * and alerts from before an ingest restart, scores of vehicles not yet scored since, blocks still
 * in force, API traffic of closed windows.
 */
import type { FleetBackfill } from './backfill.ts';
import { colourOf, type AlertView, type CountryView, type LiveSnapshot, type LiveState, type ThreatView, type VehicleView } from './live-state.ts';

export interface PageSnapshot extends LiveSnapshot {
  backfill: { ok: boolean; error?: string; vehicles: number; alerts: number; threats: number };
  at: number;
}

export function mergeBackfill(state: LiveState, live: LiveSnapshot, influx: FleetBackfill, nowMs = Date.now()): PageSnapshot {
  const vehicles = new Map<string, VehicleView>(influx.vehicles.map((v) => [v.id, { ...v }]));
  for (const lv of live.vehicles) {
    const v: VehicleView = { ...(vehicles.get(lv.id) ?? { id: lv.id, state: 'unscored' }) };
    if (lv.t !== undefined && (v.t === undefined || lv.t >= v.t)) [v.t, v.values] = [lv.t, lv.values];
    if (lv.windowStartMs !== undefined && (v.windowStartMs === undefined || lv.windowStartMs >= v.windowStartMs)) {
      Object.assign(v, { score: lv.score, threshold: lv.threshold, anomalous: lv.anomalous, windowStartMs: lv.windowStartMs, modelVersion: lv.modelVersion, baseline: lv.baseline });
    }
    if (state.alertKnown(lv.id)) [v.alerting, v.alertId] = [lv.alerting, lv.alertId];
    if (lv.health && (!v.health || lv.health.t >= v.health.t)) v.health = lv.health;
    v.state = colourOf(v);
    vehicles.set(lv.id, v);
  }

  const alerts = new Map<string, AlertView>();
  for (const a of [...influx.alerts, ...live.alerts]) alerts.set(`${a.alertId}|${a.state}`, a);
  const alertList = [...alerts.values()].sort((a, b) => a.atMs - b.atMs).slice(-100);

  const countries = new Map<string, CountryView>(influx.countries.map((c) => [c.country, { ...c, ...state.countryPosition(c.country) }]));
  for (const c of live.countries) {
    const old = countries.get(c.country);
    countries.set(c.country, old && old.requests > c.requests ? { ...old, ...state.countryPosition(c.country) } : c);
  }

  const threats = new Map<string, ThreatView>();
  for (const t of [...influx.threats, ...live.threats]) if (t.blockUntilMs > nowMs) threats.set(t.key, t);

  return {
    ...live,
    vehicles: [...vehicles.values()].sort((a, b) => a.id.localeCompare(b.id)),
    alerts: alertList,
    countries: [...countries.values()],
    threats: [...threats.values()],
    backfill: { ok: influx.ok, ...(influx.error ? { error: influx.error } : {}), vehicles: influx.vehicles.length, alerts: influx.alerts.length, threats: influx.threats.length },
    at: nowMs,
  };
}
