import { describe, expect, it } from 'vitest';
import { withArchiveWindows } from './archive-retrain.ts';
import type { DatasetVehicle, WindowDataset } from './window-dataset.ts';

function dataset(vehicles: DatasetVehicle[], rowsPerVehicle: number, label: number, generator: string): WindowDataset {
  const n = vehicles.length * rowsPerVehicle;
  return {
    featureNames: ['a', 'b'],
    featureSetId: 'v1-test',
    featureVersion: 1,
    windowMs: 30_000,
    labelSeverity: 0.5,
    source: { generator, files: 2 },
    vehicles,
    x: Float32Array.from({ length: n * 2 }, (_, i) => i),
    vehicle: Uint32Array.from({ length: n }, (_, i) => Math.floor(i / rowsPerVehicle)),
    t: Float64Array.from({ length: n }, (_, i) => i * 30_000),
    severity: new Float32Array(n).fill(generator === 'archive' ? Number.NaN : 0.7),
    ttfS: new Float64Array(n).fill(Number.NaN),
    label: new Int8Array(n).fill(label),
    learned: new Uint8Array(n),
  };
}

const vehicle = (id: string, split: DatasetVehicle['split'], fault: DatasetVehicle['fault'] = null): DatasetVehicle => ({ id, profile: 'p', style: 's', fault, onsetMs: null, failureMs: null, split });

describe('withArchiveWindows', () => {
  const labelled = dataset([vehicle('sim-1', 'train', 'misfire'), vehicle('sim-2', 'test')], 2, 1, 'simulator');
  const archive = dataset([vehicle('car-a', 'train'), vehicle('car-b', 'test'), vehicle('car-c', 'validation')], 2, -1, 'archive');

  it('adds the archive windows the model in service does not flag as healthy, the rest unlabelled', () => {
    const { dataset: d, labelling } = withArchiveWindows(labelled, archive, [0.1, 0.9, 0.2, 0.3, 0.5, 0.49], 0.5);
    expect(labelling).toEqual({ healthy: 4, unlabelled: 2 });
    expect([...d.label]).toEqual([1, 1, 1, 1, 0, -1, 0, 0, -1, 0]);
    // Archive rows follow the simulated ones; their vehicles are appended after the simulated vehicles.
    expect([...d.vehicle]).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
    expect(d.vehicles.map((v) => `${v.id}:${v.split}`)).toEqual(['sim-1:train', 'sim-2:test', 'car-a:train', 'car-b:validation', 'car-c:validation']);
    expect([...d.x.subarray(8 * 2, 8 * 2 + 2)]).toEqual([8, 9]); // the archive's row 4
    expect(d.source).toMatchObject({ generator: 'simulator', archiveGenerator: 'archive', archiveFiles: 2, archiveWindows: 6, archiveHealthyWindows: 4 });
    expect(d.severity[9]).toBe(0);
    expect(Number.isNaN(d.ttfS[9]!)).toBe(true);
  });

  it('refuses windows of another feature set or window length, and a score count that does not match', () => {
    expect(() => withArchiveWindows(labelled, { ...archive, featureSetId: 'v1-other' }, new Array(6).fill(0), 0.5)).toThrow(/feature sets differ/);
    expect(() => withArchiveWindows(labelled, { ...archive, windowMs: 60_000 }, new Array(6).fill(0), 0.5)).toThrow(/window lengths differ/);
    expect(() => withArchiveWindows(labelled, archive, [0.1], 0.5)).toThrow(/1 scores for 6 archive windows/);
  });
});
