/**
 * `fleetpulse up`'s demo fleet starts with its baselines learnt, so its healthy vehicles are blue
 * within minutes instead of grey "learning" for three hours of driving, and its faulty ones are
 * judged against their own normal at once.
 *
 * How: before ingest starts, each demo vehicle's own warm driving is simulated offline (the same
 * spec and seed its agent will use, read at 0.5 Hz: features v2 mean the same at any poll rate,
 * and it halves the time; ≈ 0.2 s per vehicle on this machine)
 * through the same feature path ingest uses (`simulateVehicleWindows` → `VehicleFeaturePath`), for
 * `learnHours` + 1 h (the first minutes are a cold engine). A faulty vehicle's history ends before
 * its fault's onset: its baseline is its healthy normal, so the fault shows as a deviation. Only the
 * baseline is kept; its recent evidence starts empty and fills from the live stream (the simulated
 * evidence is days older than the demo's first window for a faulty car). The states go into
 * ingest's state store; a vehicle the store already has (an earlier `up` with the same data
 * directory) keeps what it learnt.
 */
import { VehicleFeaturePath } from '../models/vehicle-feature-path.ts';
import { FeatureMemory } from '../models/feature-memory.ts';
import { DEFAULT_WINDOW_MS, simulateVehicleWindows } from '../models/window-dataset.ts';
import { FULL_OBSERVATION } from '../simulator/observation.ts';
import { createRng } from '../simulator/rng.ts';
import type { VehicleSpec } from '../simulator/simulated-vehicle.ts';
import type { VehicleStateStore } from '../ingest/scoring/vehicle-state-store.ts';

/** History sample rate (Hz): see the module comment. */
const HISTORY_HZ = 0.5;

export interface DemoBaselineOptions {
  seed: number;
  learnHours: number;
  /** Where the live demo's event time starts (ms). */
  startMs: number;
}

export interface DemoBaselineResult {
  seeded: number;
  kept: number;
  learned: number;
  seconds: number;
}

export function seedDemoBaselines(store: VehicleStateStore, specs: readonly VehicleSpec[], o: DemoBaselineOptions): DemoBaselineResult {
  const started = performance.now();
  const rows = [];
  let kept = 0;
  let learned = 0;
  const profile = { ...FULL_OBSERVATION, fastHz: HISTORY_HZ, slowHz: HISTORY_HZ };
  for (const spec of specs) {
    if (store.get(spec.vehicleId)) {
      kept += 1;
      continue;
    }
    const endMs = Math.floor(Math.min(o.startMs, spec.fault?.onsetMs ?? o.startMs) / DEFAULT_WINDOW_MS) * DEFAULT_WINDOW_MS;
    const startMs = endMs - (o.learnHours + 1) * 3_600_000;
    const history = new VehicleFeaturePath({ learnHours: o.learnHours });
    simulateVehicleWindows(spec, o.seed, startMs, endMs, DEFAULT_WINDOW_MS, profile, createRng(o.seed).fork(`demo-history-${spec.vehicleId}`), { learnHours: o.learnHours }, () => undefined, history);
    const path = new VehicleFeaturePath({ learnHours: o.learnHours }, { memory: new FeatureMemory().snapshot(), baseline: history.baseline.snapshot() });
    if (path.baseline.status === 'learned') learned += 1;
    rows.push({ vehicle: spec.vehicleId, state: path.encode(), pending: null, status: path.baseline.status, lastWindowMs: endMs });
  }
  store.commit(rows);
  return { seeded: rows.length, kept, learned, seconds: (performance.now() - started) / 1000 };
}
