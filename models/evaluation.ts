/**
 * Evaluation of scores on held-out vehicles: window metrics overall and per fault type, the ROC
 * curve, and lead time — how long before the simulated failure an alert (ingest's hysteresis:
 * `RAISE_AFTER_WINDOWS` consecutive windows at or above the threshold) is first raised.
 */
import { FAULT_KINDS, type FaultKind } from '../simulator/faults.ts';
import { alertRaises, confusionAt, median, rocAuc, rocCurve } from './metrics.ts';
import type { ClassMetrics } from './model-metadata.ts';
import type { Split, WindowDataset } from './window-dataset.ts';

/** Consecutive anomalous windows before an alert is raised (the default of ingest's alerts). */
export const RAISE_AFTER_WINDOWS = 3;
const DAY_S = 86_400;

/**
 * The false-alarm budget the threshold is chosen for: alerts raised per driving day on the healthy
 * validation vehicles. A fleet operator reads every alert; a best-F1 threshold optimises windows,
 * not alerts, and raised several a day per healthy vehicle.
 */
export const TARGET_FALSE_ALERTS_PER_DAY = 0.05;

/** Alerts raised per driving day on the healthy vehicles among `rows`; null when there are none. */
export function healthyFalseAlertsPerDay(d: WindowDataset, rows: readonly number[], scores: ArrayLike<number>, threshold: number): number | null {
  const byVehicle = new Map<number, number[]>();
  rows.forEach((r, i) => {
    const vi = d.vehicle[r]!;
    if (d.vehicles[vi]!.fault !== null) return;
    let list = byVehicle.get(vi);
    if (!list) byVehicle.set(vi, (list = []));
    list.push(i);
  });
  let alerts = 0;
  let windows = 0;
  for (const list of byVehicle.values()) {
    alerts += alertRaises(list.map((i) => d.t[rows[i]!]!), list.map((i) => scores[i]!), threshold, RAISE_AFTER_WINDOWS).length;
    windows += list.length;
  }
  return windows === 0 ? null : alerts / ((windows * d.windowMs) / 1000 / DAY_S);
}

/**
 * The lowest threshold (steps of 0.001) such that it and every higher threshold keep the healthy
 * false-alert rate on `rows` at most `target` per driving day — the most sensitive model within the
 * false-alarm budget. The scan runs downwards and stops at the first threshold over budget: the
 * rate is not monotone (hysteresis merges runs into one alert, so a threshold low enough to flag
 * nearly every window raises only one long alert per vehicle). 0.999 when even that is over budget;
 * 0.5 when `rows` hold no healthy vehicle.
 */
export function thresholdForFalseAlertRate(d: WindowDataset, rows: readonly number[], scores: ArrayLike<number>, target: number): number {
  let best = 999;
  for (let k = 999; k >= 1; k--) {
    const rate = healthyFalseAlertsPerDay(d, rows, scores, k / 1000);
    if (rate === null) return 0.5;
    if (rate > target) break;
    best = k;
  }
  return best / 1000;
}

export interface VehicleLead {
  vehicle: string;
  fault: string;
  /** Days from the first alert raised after onset to failure; null when no alert before failure. */
  leadDays: number | null;
  /** Severity when the alert was raised. */
  severityAtAlert: number | null;
  /** Alerts raised before the fault's onset (false alarms). */
  alertsBeforeOnset: number;
  /**
   * Days from the first model alert after onset to the car's own first pending / confirmed (MIL on)
   * trouble code: positive when the model warned first. Null when there was no such code (the
   * model's warning was the only one) or no alert.
   */
  leadOverPendingDays: number | null;
  leadOverConfirmedDays: number | null;
  /** The simulated ECU set a pending / confirmed code at all during the simulated period. */
  pendingCode: boolean;
  confirmedCode: boolean;
}

/**
 * Signals without which a fault cannot show in any feature (a car without a voltage PID cannot be
 * checked for a failing alternator, one without barometric pressure not for a restricted intake).
 * Per-fault metrics are also given over the test vehicles that report them.
 */
export const FAULT_SIGNALS: Readonly<Record<FaultKind, readonly string[]>> = {
  coolant_leak: ['COOLANT_TEMP'],
  thermostat_stuck_open: ['COOLANT_TEMP'],
  thermostat_stuck_closed: ['COOLANT_TEMP'],
  vacuum_leak: ['SHORT_FUEL_TRIM_1', 'LONG_FUEL_TRIM_1'],
  maf_drift: ['MAF'],
  misfire: ['SHORT_FUEL_TRIM_1', 'LONG_FUEL_TRIM_1'],
  failing_alternator: ['CONTROL_MODULE_VOLTAGE'],
  clogged_air_filter: ['BAROMETRIC_PRESSURE', 'THROTTLE_POS'],
};

export interface Evaluation {
  split: Split;
  threshold: number;
  overall: ClassMetrics;
  perFault: Record<string, ClassMetrics>;
  /** The same over the fault's test vehicles that report its signals (FAULT_SIGNALS); `vehicles` left out. */
  perFaultObservable: Record<string, ClassMetrics & { excludedVehicles: number }>;
  roc: Array<[number, number]>;
  leads: VehicleLead[];
  medianLeadDays: Record<string, number | null>;
  /** Per fault: median lead over the first pending and the first confirmed code (days; vehicles with both an alert and a code). */
  medianLeadOverDtcDays: Record<string, { pending: number | null; confirmed: number | null; vehicles: number; withoutCode: number }>;
  healthy: { vehicles: number; drivingDays: number; falseAlerts: number };
  /** A degrading vehicle's score over time, for the plot. */
  trace: { vehicle: string; fault: string; failureMs: number; points: Array<{ t: number; score: number; severity: number }> } | null;
}

function metricsOf(scores: number[], labels: number[], threshold: number): ClassMetrics {
  return { ...confusionAt(scores, labels, threshold), rocAuc: rocAuc(scores, labels) };
}

/**
 * @param scores one score per dataset row of `split` (all rows, labelled or not), as returned by
 *   scoring `splitRows(d, split, false)` in that order
 */
export function evaluate(d: WindowDataset, split: Split, rows: readonly number[], scores: ArrayLike<number>, threshold: number): Evaluation {
  const labelled = rows.map((r, i) => ({ r, s: scores[i]! })).filter(({ r }) => d.label[r] !== -1);
  const overall = metricsOf(labelled.map((x) => x.s), labelled.map((x) => d.label[x.r]!), threshold);
  const perFault: Record<string, ClassMetrics> = {};
  const perFaultObservable: Evaluation['perFaultObservable'] = {};
  for (const kind of FAULT_KINDS) {
    const sel = labelled.filter(({ r }) => {
      const f = d.vehicles[d.vehicle[r]!]!.fault;
      return f === null || f === kind;
    });
    if (!sel.some(({ r }) => d.label[r] === 1)) continue;
    perFault[kind] = metricsOf(sel.map((x) => x.s), sel.map((x) => d.label[x.r]!), threshold);
    const blind = (vi: number): boolean => (d.vehicles[vi]!.observation?.absent ?? []).some((sig) => FAULT_SIGNALS[kind].includes(sig));
    const seen = sel.filter(({ r }) => d.vehicles[d.vehicle[r]!]!.fault === null || !blind(d.vehicle[r]!));
    const excluded = new Set(sel.filter(({ r }) => d.vehicles[d.vehicle[r]!]!.fault === kind && blind(d.vehicle[r]!)).map(({ r }) => d.vehicle[r]!)).size;
    if (seen.some(({ r }) => d.label[r] === 1)) perFaultObservable[kind] = { ...metricsOf(seen.map((x) => x.s), seen.map((x) => d.label[x.r]!), threshold), excludedVehicles: excluded };
  }
  // Per vehicle, rows are already in event-time order (the dataset is built vehicle by vehicle).
  const byVehicle = new Map<number, Array<{ r: number; s: number }>>();
  rows.forEach((r, i) => {
    const v = d.vehicle[r]!;
    let list = byVehicle.get(v);
    if (!list) byVehicle.set(v, (list = []));
    list.push({ r, s: scores[i]! });
  });
  const leads: VehicleLead[] = [];
  const healthy = { vehicles: 0, drivingDays: 0, falseAlerts: 0 };
  let trace: Evaluation['trace'] = null;
  for (const [vi, list] of byVehicle) {
    const v = d.vehicles[vi]!;
    const raises = alertRaises(list.map((x) => d.t[x.r]!), list.map((x) => x.s), threshold, RAISE_AFTER_WINDOWS);
    if (v.fault === null || v.onsetMs === null || v.failureMs === null) {
      healthy.vehicles++;
      healthy.drivingDays += (list.length * d.windowMs) / 1000 / DAY_S;
      healthy.falseAlerts += raises.length;
      continue;
    }
    const onset = v.onsetMs;
    const failure = v.failureMs;
    const first = raises.find((t) => t >= onset);
    const lead = first !== undefined && first < failure ? (failure - first) / 1000 / DAY_S : null;
    const atAlert = first === undefined ? null : (list.find((x) => d.t[x.r]! >= first) ?? null);
    const over = (codeMs: number | null | undefined): number | null => (first === undefined || codeMs === null || codeMs === undefined ? null : (codeMs - first) / 1000 / DAY_S);
    leads.push({
      vehicle: v.id,
      fault: v.fault,
      leadDays: lead,
      severityAtAlert: atAlert ? d.severity[atAlert.r]! : null,
      alertsBeforeOnset: raises.filter((t) => t < onset).length,
      leadOverPendingDays: over(v.firstPendingDtcMs),
      leadOverConfirmedDays: over(v.firstConfirmedDtcMs),
      pendingCode: v.firstPendingDtcMs !== null && v.firstPendingDtcMs !== undefined,
      confirmedCode: v.firstConfirmedDtcMs !== null && v.firstConfirmedDtcMs !== undefined,
    });
    if (!trace || (v.fault === 'coolant_leak' && trace.fault !== 'coolant_leak')) {
      trace = { vehicle: v.id, fault: v.fault, failureMs: failure, points: list.map((x) => ({ t: d.t[x.r]!, score: x.s, severity: d.severity[x.r]! })) };
    }
  }
  const medianLeadDays: Record<string, number | null> = {};
  for (const kind of FAULT_KINDS) {
    const ls = leads.filter((l) => l.fault === kind);
    if (ls.length === 0) continue;
    // A missed fault counts as lead 0: the median must not look better by dropping misses.
    medianLeadDays[kind] = median(ls.map((l) => l.leadDays ?? 0));
  }
  medianLeadDays.all = median(leads.map((l) => l.leadDays ?? 0));
  const medianLeadOverDtcDays: Evaluation['medianLeadOverDtcDays'] = {};
  for (const kind of [...FAULT_KINDS, 'all']) {
    const ls = leads.filter((l) => kind === 'all' || l.fault === kind);
    if (ls.length === 0) continue;
    const known = (xs: Array<number | null>): number[] => xs.filter((x): x is number => x !== null);
    medianLeadOverDtcDays[kind] = {
      pending: median(known(ls.map((l) => l.leadOverPendingDays))),
      confirmed: median(known(ls.map((l) => l.leadOverConfirmedDays))),
      vehicles: ls.length,
      withoutCode: ls.filter((l) => !l.pendingCode).length,
    };
  }
  return { split, threshold, overall, perFault, perFaultObservable, roc: rocCurve(labelled.map((x) => x.s), labelled.map((x) => d.label[x.r]!)), leads, medianLeadDays, medianLeadOverDtcDays, healthy, trace };
}
