/**
 * Evaluation of scores on held-out vehicles: window metrics overall and per fault type, the ROC
 * curve, and lead time — how long before the simulated failure an alert (ingest's hysteresis:
 * `RAISE_AFTER_WINDOWS` consecutive windows at or above the threshold) is first raised.
 */
import { FAULT_KINDS } from '../simulator/faults.ts';
import { alertRaises, confusionAt, median, rocAuc, rocCurve } from './metrics.ts';
import type { ClassMetrics } from './model-metadata.ts';
import type { Split, WindowDataset } from './window-dataset.ts';

/** Consecutive anomalous windows before an alert is raised (the default of ingest's alerts). */
export const RAISE_AFTER_WINDOWS = 3;
const DAY_S = 86_400;

export interface VehicleLead {
  vehicle: string;
  fault: string;
  /** Days from the first alert raised after onset to failure; null when no alert before failure. */
  leadDays: number | null;
  /** Severity when the alert was raised. */
  severityAtAlert: number | null;
  /** Alerts raised before the fault's onset (false alarms). */
  alertsBeforeOnset: number;
}

export interface Evaluation {
  split: Split;
  threshold: number;
  overall: ClassMetrics;
  perFault: Record<string, ClassMetrics>;
  roc: Array<[number, number]>;
  leads: VehicleLead[];
  medianLeadDays: Record<string, number | null>;
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
  for (const kind of FAULT_KINDS) {
    const sel = labelled.filter(({ r }) => {
      const f = d.vehicles[d.vehicle[r]!]!.fault;
      return f === null || f === kind;
    });
    if (!sel.some(({ r }) => d.label[r] === 1)) continue;
    perFault[kind] = metricsOf(sel.map((x) => x.s), sel.map((x) => d.label[x.r]!), threshold);
  }
  // Per vehicle, rows are already in event-time order (the dataset is built vehicle by vehicle).
  const byVehicle = new Map<number, Array<{ r: number; s: number }>>();
  rows.forEach((r, i) => {
    const v = d.vehicle[r]!;
    byVehicle.set(v, [...(byVehicle.get(v) ?? []), { r, s: scores[i]! }]);
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
    leads.push({ vehicle: v.id, fault: v.fault, leadDays: lead, severityAtAlert: atAlert ? d.severity[atAlert.r]! : null, alertsBeforeOnset: raises.filter((t) => t < onset).length });
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
  return { split, threshold, overall, perFault, roc: rocCurve(labelled.map((x) => x.s), labelled.map((x) => d.label[x.r]!)), leads, medianLeadDays, healthy, trace };
}
