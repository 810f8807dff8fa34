/**
 * The live dashboard's memory: what ingest's events say about the fleet and the API right now,
 * kept bounded, and handed out either whole (`snapshot`) or as what changed since the last call
 * (`takeDelta`, called by the event stream at most 4 times a second).
 *
 * Bounds (each counted when it bites):
 * - vehicles: `maxVehicles` (least recently updated forgotten first, `vehiclesEvicted`);
 * - samples waiting for the next delta: `samplesPerVehicle` per vehicle (oldest dropped; the chart
 *   then shows fewer points, history comes from InfluxDB anyway);
 * - alerts: a ring of the last `maxAlerts` changes;
 * - API traffic: per country one-second buckets over `apiWindowMs` by arrival time, at most
 *   `maxCountries` countries (ISO codes: 250 exist);
 * - threats: `maxThreats` active blocks (the one expiring soonest dropped, `threatsDropped`);
 *   a threat leaves the state when its block ends.
 */
import type { AlertMessage } from '../../contracts/alerts.ts';
import type { IngestEvent, ListedCode, ThreatEvent } from '../ingest-events.ts';

/** Signals the dashboard charts, in the order of a sample tuple after its time. */
export const LIVE_SIGNALS = ['RPM', 'SPEED', 'COOLANT_TEMP', 'ENGINE_LOAD', 'SHORT_FUEL_TRIM_1', 'LONG_FUEL_TRIM_1'] as const;

/** [event time ms, ...LIVE_SIGNALS values (null when the sample lacks one)]. */
export type SampleTuple = [number, ...Array<number | null>];

export type VehicleColour = 'anomalous' | 'healthy' | 'learning' | 'unscored';

export interface VehicleView {
  id: string;
  /** Event time of the newest sample, ms, and its values (LIVE_SIGNALS order). */
  t?: number;
  values?: Array<number | null>;
  /** Latest scored window. */
  score?: number;
  threshold?: number;
  anomalous?: boolean;
  windowStartMs?: number;
  modelVersion?: number;
  /** The vehicle's own baseline at its latest scored window: learning (judged on fleet evidence) or learned. */
  baseline?: { status: 'learning' | 'learned'; progress: number };
  /** Alert state, when known (an alert event or InfluxDB's last alert row said so). */
  alerting?: boolean;
  alertId?: string;
  /**
   * Red when alerting or the latest window is anomalous (also while learning); blue when scored
   * normal against a learned baseline; grey "learning" when scored normal while the baseline
   * learns; grey before the first score.
   */
  state: VehicleColour;
  /**
   * The car's own diagnosis (vehicle health events): the check-engine light and the codes it lists
   * now, with description, first seen and freeze frame. Absent until a health event arrived.
   */
  health?: { mil: boolean | null; milOnSinceMs?: number; t: number; codes: readonly ListedCode[] };
  /** Samples since the previous delta (deltas only). */
  samples?: SampleTuple[];
}

export interface AlertView {
  alertId: string;
  vehicle: string;
  state: 'raised' | 'cleared';
  /** `engine_anomaly` (the model), `dtc` or `mil` (the car's own diagnosis). */
  kind: AlertMessage['kind'];
  score: number;
  threshold: number;
  windowStartMs: number;
  /** Processing time of the change (InfluxDB rows: the window start). */
  atMs: number;
  topFeatures: string[];
  /** What moved, in words ("coolant 11 °C above this car's normal at speed once warm"). */
  text?: string;
}

export interface CountryView {
  country: string;
  requests: number;
  errors: number;
  lat?: number;
  lon?: number;
}

/** A threat as the page shows it: the event, keyed by rule and subject. */
export type ThreatView = Omit<ThreatEvent, 'type'> & { key: string };

export interface LiveSnapshot {
  signals: readonly string[];
  apiWindowMs: number;
  vehicles: VehicleView[];
  alerts: AlertView[];
  countries: CountryView[];
  threats: ThreatView[];
}

export interface LiveDelta {
  vehicles?: VehicleView[];
  removedVehicles?: string[];
  alerts?: AlertView[];
  countries?: CountryView[];
  threats?: ThreatView[];
  expiredThreats?: string[];
}

export interface LiveStateOptions {
  maxVehicles?: number;
  samplesPerVehicle?: number;
  maxAlerts?: number;
  apiWindowMs?: number;
  maxCountries?: number;
  maxThreats?: number;
}

interface VehicleEntry {
  view: VehicleView;
  pending: SampleTuple[];
  /** Whether an alert event was seen live (then it wins over InfluxDB's history). */
  alertKnown: boolean;
}

interface CountryEntry {
  lat?: number;
  lon?: number;
  secs: Float64Array;
  requests: Float64Array;
  errors: Float64Array;
  /** Totals last sent in a delta. */
  sentRequests: number;
  sentErrors: number;
}

export function colourOf(v: Pick<VehicleView, 'alerting' | 'anomalous' | 'score' | 'baseline'>): VehicleColour {
  if (v.alerting || v.anomalous) return 'anomalous';
  if (v.score === undefined) return 'unscored';
  return v.baseline?.status === 'learning' ? 'learning' : 'healthy';
}

export function alertView(alert: AlertMessage): AlertView {
  return {
    alertId: alert.alertId,
    vehicle: alert.vehicle,
    state: alert.state,
    kind: alert.kind,
    score: alert.score,
    threshold: alert.threshold,
    windowStartMs: alert.windowStartMs,
    atMs: alert.emittedAtMs,
    topFeatures: alert.topFeatures.map((f) => f.name),
    ...(alert.explanation ? { text: alert.explanation.text } : {}),
  };
}

export class LiveState {
  readonly apiWindowMs: number;
  private readonly vehicles = new Map<string, VehicleEntry>();
  private readonly changed = new Set<string>();
  private removed: string[] = [];
  private readonly alerts: AlertView[] = [];
  private newAlerts: AlertView[] = [];
  private readonly countries = new Map<string, CountryEntry>();
  private readonly threats = new Map<string, ThreatView>();
  private newThreats: ThreatView[] = [];
  private readonly o: Required<LiveStateOptions>;
  private readonly buckets: number;
  private counters = { events: 0, vehiclesEvicted: 0, samplesDropped: 0, threatsDropped: 0, countriesDropped: 0 };

  constructor(options: LiveStateOptions = {}) {
    this.o = { maxVehicles: 5000, samplesPerVehicle: 60, maxAlerts: 100, apiWindowMs: 5 * 60_000, maxCountries: 300, maxThreats: 500, ...options };
    this.apiWindowMs = this.o.apiWindowMs;
    this.buckets = Math.max(1, Math.ceil(this.o.apiWindowMs / 1000));
  }

  /** Takes one ingest event in (cheap: it runs on ingest's message path). */
  apply(event: IngestEvent, nowMs = Date.now()): void {
    this.counters.events += 1;
    switch (event.type) {
      case 'samples': {
        const entry = this.vehicle(event.vehicle);
        for (const s of event.samples) {
          const tuple: SampleTuple = [s.t, ...LIVE_SIGNALS.map((k) => (typeof s[k] === 'number' ? s[k] : null))];
          entry.pending.push(tuple);
          if (entry.view.t === undefined || s.t >= entry.view.t) {
            entry.view.t = s.t;
            entry.view.values = tuple.slice(1) as Array<number | null>;
          }
        }
        const excess = entry.pending.length - this.o.samplesPerVehicle;
        if (excess > 0) {
          entry.pending.splice(0, excess);
          this.counters.samplesDropped += excess;
        }
        break;
      }
      case 'score': {
        const entry = this.vehicle(event.vehicle);
        const v = entry.view;
        if (v.windowStartMs !== undefined && event.startMs < v.windowStartMs) break;
        Object.assign(v, { score: event.score, threshold: event.threshold, anomalous: event.anomalous, windowStartMs: event.startMs, modelVersion: event.modelVersion, baseline: event.baseline });
        if (!event.baseline) delete v.baseline;
        v.state = colourOf(v);
        break;
      }
      case 'alert': {
        const entry = this.vehicle(event.alert.vehicle);
        // The tile's alert state is the model's; the car's own (dtc, mil) shows as its health badge.
        if (event.alert.kind === 'engine_anomaly') {
          entry.alertKnown = true;
          entry.view.alerting = event.alert.state === 'raised';
          entry.view.alertId = event.alert.alertId;
          entry.view.state = colourOf(entry.view);
        }
        const view = alertView(event.alert);
        this.alerts.push(view);
        if (this.alerts.length > this.o.maxAlerts) this.alerts.shift();
        this.newAlerts.push(view);
        if (this.newAlerts.length > this.o.maxAlerts) this.newAlerts.shift();
        break;
      }
      case 'health': {
        const v = this.vehicle(event.vehicle).view;
        if (v.health && event.t < v.health.t) break;
        v.health = { mil: event.mil, t: event.t, codes: event.codes, ...(event.milOnSinceMs !== undefined ? { milOnSinceMs: event.milOnSinceMs } : {}) };
        break;
      }
      case 'api_traffic': {
        const sec = Math.floor(nowMs / 1000);
        for (const c of event.countries) {
          let entry = this.countries.get(c.country);
          if (!entry) {
            if (this.countries.size >= this.o.maxCountries) {
              this.counters.countriesDropped += 1;
              continue;
            }
            entry = { secs: new Float64Array(this.buckets).fill(-1), requests: new Float64Array(this.buckets), errors: new Float64Array(this.buckets), sentRequests: 0, sentErrors: 0 };
            this.countries.set(c.country, entry);
          }
          if (c.lat !== undefined && c.lon !== undefined) [entry.lat, entry.lon] = [c.lat, c.lon];
          const i = sec % this.buckets;
          if (entry.secs[i] !== sec) [entry.secs[i], entry.requests[i], entry.errors[i]] = [sec, 0, 0];
          entry.requests[i]! += c.requests;
          entry.errors[i]! += c.errors;
        }
        break;
      }
      case 'threat': {
        const key = `${event.rule}|${event.subject}`;
        const { type: _type, ...rest } = event;
        const view: ThreatView = { key, ...rest };
        this.threats.delete(key);
        if (this.threats.size >= this.o.maxThreats) {
          let soonest: ThreatView | undefined;
          for (const t of this.threats.values()) if (!soonest || t.blockUntilMs < soonest.blockUntilMs) soonest = t;
          if (soonest) this.threats.delete(soonest.key);
          this.counters.threatsDropped += 1;
        }
        this.threats.set(key, view);
        this.newThreats.push(view);
        if (this.newThreats.length > this.o.maxThreats) this.newThreats.shift();
        break;
      }
    }
  }

  /** Everything now, without pending samples (charts read their history from InfluxDB). */
  snapshot(nowMs = Date.now()): LiveSnapshot {
    this.expireThreats(nowMs);
    return {
      signals: LIVE_SIGNALS,
      apiWindowMs: this.apiWindowMs,
      vehicles: [...this.vehicles.values()].map((e) => ({ ...e.view })),
      alerts: [...this.alerts],
      countries: [...this.countries.keys()].map((c) => this.countryView(c, nowMs)),
      threats: [...this.threats.values()],
    };
  }

  /** What changed since the previous call; undefined when nothing did. Clears the pending changes. */
  takeDelta(nowMs = Date.now()): LiveDelta | undefined {
    const delta: LiveDelta = {};
    if (this.changed.size > 0) {
      delta.vehicles = [];
      for (const id of this.changed) {
        const entry = this.vehicles.get(id);
        if (!entry) continue;
        delta.vehicles.push({ ...entry.view, samples: entry.pending });
        entry.pending = [];
      }
      this.changed.clear();
    }
    if (this.removed.length > 0) [delta.removedVehicles, this.removed] = [this.removed, []];
    if (this.newAlerts.length > 0) [delta.alerts, this.newAlerts] = [this.newAlerts, []];
    const countries: CountryView[] = [];
    for (const [code, entry] of this.countries) {
      const view = this.countryView(code, nowMs);
      if (view.requests !== entry.sentRequests || view.errors !== entry.sentErrors) {
        [entry.sentRequests, entry.sentErrors] = [view.requests, view.errors];
        countries.push(view);
      }
    }
    if (countries.length > 0) delta.countries = countries;
    if (this.newThreats.length > 0) [delta.threats, this.newThreats] = [this.newThreats, []];
    const expired = this.expireThreats(nowMs);
    if (expired.length > 0) delta.expiredThreats = expired;
    return Object.keys(delta).length > 0 ? delta : undefined;
  }

  /** Last known position of a country's requests (InfluxDB has none). */
  countryPosition(country: string): { lat: number; lon: number } | undefined {
    const e = this.countries.get(country);
    return e && e.lat !== undefined && e.lon !== undefined ? { lat: e.lat, lon: e.lon } : undefined;
  }

  /** Whether an alert change for this vehicle was seen live (it then outranks InfluxDB's rows). */
  alertKnown(vehicle: string): boolean {
    return this.vehicles.get(vehicle)?.alertKnown ?? false;
  }

  stats() {
    return { ...this.counters, vehicles: this.vehicles.size, countries: this.countries.size, threats: this.threats.size };
  }

  private vehicle(id: string): VehicleEntry {
    let entry = this.vehicles.get(id);
    if (entry) this.vehicles.delete(id);
    else entry = { view: { id, state: 'unscored' }, pending: [], alertKnown: false };
    this.vehicles.set(id, entry); // map order = least recently updated first
    this.changed.add(id);
    if (this.vehicles.size > this.o.maxVehicles) {
      const oldest = this.vehicles.keys().next().value!;
      this.vehicles.delete(oldest);
      this.changed.delete(oldest);
      this.removed.push(oldest);
      this.counters.vehiclesEvicted += 1;
    }
    return entry;
  }

  private countryView(country: string, nowMs: number): CountryView {
    const e = this.countries.get(country)!;
    const from = Math.floor(nowMs / 1000) - this.buckets;
    let requests = 0;
    let errors = 0;
    for (let i = 0; i < this.buckets; i++) {
      if (e.secs[i]! > from) {
        requests += e.requests[i]!;
        errors += e.errors[i]!;
      }
    }
    return { country, requests, errors, ...(e.lat !== undefined && e.lon !== undefined ? { lat: e.lat, lon: e.lon } : {}) };
  }

  private expireThreats(nowMs: number): string[] {
    const out: string[] = [];
    for (const [key, t] of this.threats) {
      if (t.blockUntilMs <= nowMs) {
        this.threats.delete(key);
        out.push(key);
      }
    }
    return out;
  }
}
