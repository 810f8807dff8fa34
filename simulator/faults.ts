/**
 * Faults that develop over days. A fault has an onset and a failure time; in between its severity
 * grows from 0 to 1 along a curve, and at 1 the part has failed (it stays at 1 afterwards).
 * The vehicle model turns severity into physics (see vehicle-model.ts); the ECU monitors turn
 * the resulting signals into DTCs, which therefore appear only once the physics is bad enough.
 *
 * Ground truth (fault, severity, time to failure) comes from here and is never sent by the agent.
 */
import type { AirMetering } from './profiles.ts';

export const FAULT_KINDS = [
  'coolant_leak',
  'thermostat_stuck_open',
  'thermostat_stuck_closed',
  'vacuum_leak',
  'maf_drift',
  'misfire',
  'failing_alternator',
  'clogged_air_filter',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * How severity grows with u = elapsed/(failure − onset) ∈ [0, 1]:
 * - `linear`: s = u
 * - `power`: s = u^exponent (exponent > 1: slow start that accelerates, like wear)
 * - `exponential`: s = (e^(rate·u) − 1)/(e^rate − 1) (runaway, like a leak that widens)
 */
export type SeverityCurve =
  | { kind: 'linear' }
  | { kind: 'power'; exponent: number }
  | { kind: 'exponential'; rate: number };

export interface FaultSpec {
  kind: FaultKind;
  /** Event time (ms) when the part starts to degrade. */
  onsetMs: number;
  /** Event time (ms) when severity reaches 1: the part has failed. */
  failureMs: number;
  curve?: SeverityCurve;
  /** Misfire only: which cylinder (1-based) misfires; decides the DTC P030x. */
  cylinder?: number;
}

export const DEFAULT_CURVE: SeverityCurve = { kind: 'power', exponent: 2 };

/** Faults that make physical sense for an engine: MAF drift needs a MAF sensor. */
export function faultApplies(kind: FaultKind, metering: AirMetering): boolean {
  return kind !== 'maf_drift' || metering === 'maf';
}

export function severityAt(spec: FaultSpec, tMs: number): number {
  if (tMs <= spec.onsetMs) return 0;
  if (tMs >= spec.failureMs) return 1;
  const u = (tMs - spec.onsetMs) / (spec.failureMs - spec.onsetMs);
  const curve = spec.curve ?? DEFAULT_CURVE;
  switch (curve.kind) {
    case 'linear':
      return u;
    case 'power':
      return u ** curve.exponent;
    case 'exponential':
      return Math.expm1(curve.rate * u) / Math.expm1(curve.rate);
  }
}

/** What the trainer and the tests may know about a sample; the agent never sends it. */
export interface GroundTruth {
  /** The fault this vehicle carries (also before onset, when its severity is still 0), or null. */
  fault: FaultKind | null;
  /** 0 (healthy or not yet started) … 1 (failed). */
  severity: number;
  /** Seconds until severity reaches 1; 0 once failed; null for a vehicle without fault. */
  timeToFailureS: number | null;
}

export const HEALTHY: GroundTruth = Object.freeze({ fault: null, severity: 0, timeToFailureS: null });

export function groundTruthAt(spec: FaultSpec | undefined, tMs: number): GroundTruth {
  if (!spec) return HEALTHY;
  return { fault: spec.kind, severity: severityAt(spec, tMs), timeToFailureS: Math.max(0, (spec.failureMs - tMs) / 1000) };
}

/** Ground truth over a window of samples (as the ingest windows are): what holds at its end. */
export interface WindowTruth extends GroundTruth {
  /** Highest severity seen in the window. */
  maxSeverity: number;
  /** True when the fault had started (severity > 0) anywhere in the window. */
  faultActive: boolean;
}

export function windowTruth(truths: readonly GroundTruth[]): WindowTruth {
  const last = truths[truths.length - 1] ?? HEALTHY;
  let maxSeverity = 0;
  for (const t of truths) if (t.severity > maxSeverity) maxSeverity = t.severity;
  return { ...last, maxSeverity, faultActive: maxSeverity > 0 };
}

/**
 * Parses a severity curve from text: `linear`, `power:2`, `exp:4`. Throws an Error naming the
 * problem (for configuration parsing).
 */
export function parseSeverityCurve(text: string): SeverityCurve {
  const [name, arg] = text.trim().split(':');
  if (name === 'linear' && arg === undefined) return { kind: 'linear' };
  const x = Number(arg);
  if (name === 'power' && Number.isFinite(x) && x > 0) return { kind: 'power', exponent: x };
  if ((name === 'exp' || name === 'exponential') && Number.isFinite(x) && x > 0) return { kind: 'exponential', rate: x };
  throw new Error(`'${text}' is not a severity curve (linear, power:<k>, exp:<rate>)`);
}
