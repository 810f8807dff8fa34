import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { computeFeatures, FEATURE_NAMES, FEATURE_SET_ID } from './features.ts';
import { readDataset, writeDataset } from './dataset-file.ts';
import { buildFleetDataset, datasetHash, labelFor, VehicleFeaturePath, vehicleWindows } from './window-dataset.ts';
import { generateVehicleSamples } from '../simulator/fleet-generator.ts';
import { planFleet } from '../simulator/fleet-plan.ts';
import { HEALTHY } from '../simulator/faults.ts';
import { SimulatedVehicle } from '../simulator/simulated-vehicle.ts';

const START = Date.UTC(2025, 0, 6);

describe('window dataset', () => {
  const d = buildFleetDataset({ vehicles: 12, days: 3, faultyFraction: 0.5, seed: 5, startMs: START, onsetDays: [0.2, 0.5], failureAfterDays: [1.5, 2] });

  it('splits by vehicle: every vehicle in exactly one split, faults in each held-out split', () => {
    const bySplit = (s: string) => d.vehicles.filter((v) => v.split === s);
    expect(bySplit('train').length + bySplit('validation').length + bySplit('test').length).toBe(12);
    expect(bySplit('test').length).toBeGreaterThan(0);
    expect(bySplit('validation').length).toBeGreaterThan(0);
    expect(bySplit('test').some((v) => v.fault === null)).toBe(true);
    // A row's split is its vehicle's: no vehicle contributes rows to two splits by construction.
    expect(new Set(d.vehicle).size).toBe(12);
  });

  it('labels from ground truth with an ambiguous band', () => {
    expect(labelFor({ fault: null, severity: 0, timeToFailureS: null }, 0.5)).toBe(0);
    expect(labelFor({ fault: 'misfire', severity: 0, timeToFailureS: 100 }, 0.5)).toBe(0);
    expect(labelFor({ fault: 'misfire', severity: 0.2, timeToFailureS: 100 }, 0.5)).toBe(-1);
    expect(labelFor({ fault: 'misfire', severity: 0.5, timeToFailureS: 100 }, 0.5)).toBe(1);
    const counts = [0, 0, 0];
    for (const l of d.label) counts[l + 1]!++;
    expect(counts.every((c) => c > 0)).toBe(true);
  });

  it('rows are the feature path of ingest-style 30 s windows (features, recent evidence, baseline)', () => {
    // Without domain randomisation a car is read at 1 Hz with every PID, so its samples can be made again here.
    const plain = buildFleetDataset({ vehicles: 3, days: 1, faultyFraction: 0, seed: 5, startMs: START, randomise: false });
    const spec = planFleet({ vehicles: 3, idPrefix: 'train-', seed: 5, faultyFraction: 0, startMs: START, schedule: 'daily' })[0]!;
    const samples = [...generateVehicleSamples(spec, 5, START, START + 86_400_000)].map((s) => SimulatedVehicle.toWire(s));
    const path = new VehicleFeaturePath();
    const rows = [...vehicleWindows(samples.map((s) => ({ t: s.t, wire: s, truth: HEALTHY })), 30_000)].map((w) => ({ startMs: w.startMs, f: path.window(w.startMs, w.samples.map((s) => s.wire)).features }));
    const mine = rows.filter((_, i) => plain.vehicle[i] === 0);
    expect(mine.length).toBeGreaterThan(50);
    mine.forEach((row, i) => {
      expect(plain.t[i]).toBe(row.startMs);
      expect(row.startMs % 30_000).toBe(0);
      FEATURE_NAMES.forEach((n, j) => {
        const v = plain.x[i * FEATURE_NAMES.length + j]!;
        if (row.f[n] === undefined) expect(Number.isNaN(v), `${n} of window ${i}`).toBe(true);
        else expect(v, `${n} of window ${i}`).toBe(Math.fround(row.f[n]!));
      });
    });
    expect(plain.featureSetId).toBe(FEATURE_SET_ID);
    expect(computeFeatures([])).toEqual({});
  });

  it('round-trips through its files with the same hash', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fp-dataset-'));
    try {
      const hash = writeDataset(dir, d);
      const back = readDataset(dir);
      expect(datasetHash(back)).toBe(hash);
      expect(back.label.length).toBe(d.label.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
