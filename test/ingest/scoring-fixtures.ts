/** Simulated engine windows (healthy or with a fault at a fixed severity) laid out at chosen event times. */
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Sample } from '../../contracts/telemetry.ts';
import { vehicleWindows } from '../../models/window-dataset.ts';
import type { FaultKind } from '../../simulator/faults.ts';
import { PROFILES } from '../../simulator/profiles.ts';
import { SimulatedVehicle } from '../../simulator/simulated-vehicle.ts';
import { baseSpec, drive, specWithSeverity } from '../../simulator/test-support.ts';

export const WINDOW_MS = 30_000;

/**
 * `count` consecutive full windows (≥ 20 samples) of one simulated day of driving, skipping the
 * first `skip` (engine warm-up: the shipped model does not flag a cold engine's first minutes).
 */
export function simulatedWindows(fault: FaultKind | undefined, severity: number, count: number, skip = 10): Sample[][] {
  const spec = specWithSeverity(baseSpec(PROFILES['compact-2.0-maf']), fault, severity);
  const { samples } = drive(spec, 1, 21);
  const windows = [...vehicleWindows(samples.map((s) => ({ t: s.t, wire: SimulatedVehicle.toWire(s), truth: s.truth })), WINDOW_MS)].filter((w) => w.samples.length >= 20);
  if (windows.length < skip + count) throw new RangeError(`only ${windows.length} windows`);
  return windows.slice(skip, skip + count).map((w) => w.samples.map((s) => ({ ...s.wire, t: s.wire.t - w.startMs })));
}

/** Windows (times relative to their start) placed back to back from `startMs` (window-aligned). */
export function layOut(windows: readonly Sample[][], startMs: number): Sample[] {
  return windows.flatMap((w, i) => w.map((s) => ({ ...s, t: startMs + i * WINDOW_MS + s.t })));
}

/** A copy of the shipped model's files in `dir` (model.onnx, model.json, reference.json). */
export function copyDefaultModel(dir: string): string {
  mkdirSync(dir, { recursive: true });
  for (const f of ['model.onnx', 'model.json', 'reference.json']) cpSync(join(import.meta.dirname, '..', '..', 'models', 'default', f), join(dir, f));
  return join(dir, 'model.onnx');
}
