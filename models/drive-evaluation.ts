/**
 * Recorded drives through the serving path, offline: ingest's event-time windows
 * (`vehicleWindower`: the windowing of common/windows/ that ingest uses), the window features, the
 * vehicle baseline, the model, and ingest's alert hysteresis — to measure how often a model bothers
 * an operator about real, healthy cars (`fleetpulse train evaluate-drives`, the model report's "Real
 * drives").
 *
 * Drives of one car may share a baseline (`sameVehicle`): they are played one after the other in
 * the given order, each starting an hour after the previous one ended (a recorded log's clock
 * usually restarts at 0), so the baseline learns from the first and judges the later ones, and
 * the alert hysteresis carries over as it would for one vehicle in ingest. Otherwise every drive is
 * a vehicle of its own, judged on fleet-level evidence while its baseline learns.
 */
import type { Sample } from '../contracts/telemetry.ts';
import { RAISE_AFTER_WINDOWS } from './evaluation.ts';
import { alertRaises } from './metrics.ts';
import type { BaselineOptions } from './vehicle-baseline.ts';
import { DEFAULT_WINDOW_MS, featureRow, VehicleFeaturePath, vehicleWindower } from './window-dataset.ts';

export interface RecordedDrive {
  /** Where it came from (a file name). */
  source: string;
  /** The vehicle it belongs to (several drives may share one with `sameVehicle`). */
  vehicle: string;
  /** Event times strictly increasing. */
  samples: readonly Sample[];
}

/** What scoring needs of a model: its inputs, its threshold, and a batch scorer (onnxruntime in practice). */
export interface DriveScorer {
  featureNames: readonly string[];
  threshold: number;
  score(rows: Float32Array, count: number): Promise<Float32Array>;
}

export interface DriveWindowScore {
  startMs: number;
  score: number;
  learned: boolean;
}

export interface DriveResult {
  file: string;
  vehicle: string;
  windows: number;
  /** Windows scored with the vehicle's baseline already learned. */
  learnedWindows: number;
  /** Windows at or above the threshold. */
  flagged: number;
  alertsRaised: number;
  /** Engine running time in the drive's windows. */
  drivingHours: number;
  /** Every window's score, for plots. */
  scores: DriveWindowScore[];
}

export interface DriveTotals {
  windows: number;
  learnedWindows: number;
  flagged: number;
  alertsRaised: number;
  drivingHours: number;
  alertsPer100h: number;
}

export interface DriveEvaluationOptions {
  sameVehicle?: boolean;
  baseline?: BaselineOptions;
  windowMs?: number;
  raiseAfter?: number;
  /** Called after each drive. */
  onDrive?: (done: number, total: number, result: DriveResult) => void;
}

/** Gap put between consecutive drives of one vehicle (ms). */
const DRIVE_GAP_MS = 3_600_000;

export async function evaluateDrives(drives: readonly RecordedDrive[], scorer: DriveScorer, o: DriveEvaluationOptions = {}): Promise<{ files: DriveResult[]; total: DriveTotals }> {
  const windowMs = o.windowMs ?? DEFAULT_WINDOW_MS;
  const raiseAfter = o.raiseAfter ?? RAISE_AFTER_WINDOWS;
  const paths = new Map<string, { path: VehicleFeaturePath; endMs: number; history: DriveWindowScore[] }>();
  const files: DriveResult[] = [];
  for (const [index, drive] of drives.entries()) {
    const key = o.sameVehicle ? drive.vehicle : `${drive.vehicle}\u0000${index}`;
    let state = paths.get(key);
    if (!state) paths.set(key, (state = { path: new VehicleFeaturePath(o.baseline ?? {}), endMs: Number.NEGATIVE_INFINITY, history: [] }));
    // One vehicle's drives follow each other on its event-time axis, whatever their own clocks say.
    const first = drive.samples[0]?.t ?? 0;
    const offset = state.endMs === Number.NEGATIVE_INFINITY ? 0 : Math.ceil((state.endMs + DRIVE_GAP_MS - first) / windowMs) * windowMs;
    const windower = vehicleWindower<Sample>(windowMs);
    const shifted = drive.samples.map((s) => ({ ...s, t: s.t + offset }));
    const closed = [...windower.push(shifted), ...windower.end()];
    const F = scorer.featureNames.length;
    const rows = new Float32Array(closed.length * F);
    const learned: boolean[] = [];
    let runningS = 0;
    closed.forEach((w, i) => {
      const { features, learned: l } = state.path.window(w.startMs, w.samples);
      rows.set(featureRow(features, scorer.featureNames), i * F);
      learned.push(l);
      runningS += features.running_s ?? 0;
    });
    const scores = await scorer.score(rows, closed.length);
    const windows = closed.map((w, i) => ({ startMs: w.startMs, score: scores[i]!, learned: learned[i]! }));
    // Hysteresis over the vehicle's whole history, counting the raises that fall in this drive.
    const before = alertRaises(state.history.map((h) => h.startMs), state.history.map((h) => h.score), scorer.threshold, raiseAfter).length;
    state.history.push(...windows);
    const after = alertRaises(state.history.map((h) => h.startMs), state.history.map((h) => h.score), scorer.threshold, raiseAfter).length;
    state.endMs = shifted[shifted.length - 1]?.t ?? state.endMs;
    const result: DriveResult = {
      file: drive.source,
      vehicle: drive.vehicle,
      windows: windows.length,
      learnedWindows: windows.filter((w) => w.learned).length,
      flagged: windows.filter((w) => w.score >= scorer.threshold).length,
      alertsRaised: after - before,
      drivingHours: runningS / 3600,
      scores: windows,
    };
    files.push(result);
    o.onDrive?.(index + 1, drives.length, result);
  }
  const sum = (k: 'windows' | 'learnedWindows' | 'flagged' | 'alertsRaised' | 'drivingHours'): number => files.reduce((a, f) => a + f[k], 0);
  const drivingHours = sum('drivingHours');
  const alertsRaised = sum('alertsRaised');
  return {
    files,
    total: { windows: sum('windows'), learnedWindows: sum('learnedWindows'), flagged: sum('flagged'), alertsRaised, drivingHours, alertsPer100h: drivingHours > 0 ? (100 * alertsRaised) / drivingHours : 0 },
  };
}
