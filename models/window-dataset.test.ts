import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { computeFeatures, FEATURE_NAMES, FEATURE_SET_ID } from './features.ts';
import { readDataset, writeDataset } from './dataset-file.ts';
import { buildFleetDataset, datasetHash, labelFor } from './window-dataset.ts';
import { generateVehicleSamples } from '../simulator/fleet-generator.ts';
import { planFleet } from '../simulator/fleet-plan.ts';
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

  it('features are computed by models/features.ts over ingest-style 30 s windows', () => {
    const spec = planFleet({ vehicles: 12, idPrefix: 'train-', seed: 5, faultyFraction: 0.5, startMs: START, schedule: 'daily', onsetDays: [0.2, 0.5], failureAfterDays: [1.5, 2] })[0]!;
    const first = d.t[0]!;
    const samples = [...generateVehicleSamples(spec, 5, START, START + 3 * 86_400_000)].filter((s) => s.t >= first && s.t < first + 30_000).map((s) => SimulatedVehicle.toWire(s));
    expect(samples.length).toBeGreaterThan(0);
    expect(first % 30_000).toBe(0);
    const f = computeFeatures(samples);
    FEATURE_NAMES.forEach((n, j) => {
      const v = d.x[j]!;
      if (f[n] === undefined) expect(Number.isNaN(v)).toBe(true);
      else expect(v).toBe(Math.fround(f[n]!));
    });
    expect(d.featureSetId).toBe(FEATURE_SET_ID);
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
