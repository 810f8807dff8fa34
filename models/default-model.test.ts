import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FEATURE_NAMES, FEATURE_SET_ID, FEATURE_VERSION } from './features.ts';
import { OnnxModel } from './onnx-model.ts';
import { VehicleFeaturePath, vehicleWindows } from './window-dataset.ts';
import { PROFILES } from '../simulator/profiles.ts';
import { SimulatedVehicle } from '../simulator/simulated-vehicle.ts';
import { baseSpec, drive, specWithSeverity } from '../simulator/test-support.ts';

const MODEL = join(import.meta.dirname, 'default', 'model.onnx');

/**
 * Median window score of one simulated day through the serving path (features, recent evidence,
 * a baseline still learning): the median, because a cold engine's first windows cannot show every fault.
 */
function medianScoreOf(model: OnnxModel, severity: number): Promise<number> {
  const spec = specWithSeverity(baseSpec(PROFILES['compact-2.0-maf']), severity > 0 ? 'vacuum_leak' : undefined, severity);
  const { samples } = drive(spec, 1, 21);
  const path = new VehicleFeaturePath();
  const windows = [...vehicleWindows(samples.map((s) => ({ t: s.t, wire: SimulatedVehicle.toWire(s), truth: s.truth })), 30_000)];
  const inputs = windows.map((w) => path.window(w.startMs, w.samples.map((s) => s.wire)).features);
  return model.score(inputs).then((scores) => [...scores].sort((a, b) => a - b)[scores.length >> 1]!);
}

describe('shipped default model', () => {
  it('loads in onnxruntime-node with metadata matching models/features.ts', async () => {
    const model = await OnnxModel.load(MODEL, FEATURE_SET_ID);
    try {
      expect(model.metadata.featureNames).toEqual(FEATURE_NAMES);
      expect(model.metadata.featureVersion).toBe(FEATURE_VERSION);
      expect(model.metadata.windowMs).toBe(30_000);
    } finally {
      await model.close();
    }
  });

  it('scores a clearly faulty vehicle above the threshold and a healthy one below', async () => {
    const model = await OnnxModel.load(MODEL, FEATURE_SET_ID);
    try {
      const healthy = await medianScoreOf(model, 0);
      const faulty = await medianScoreOf(model, 0.9);
      expect(healthy).toBeLessThan(model.metadata.threshold);
      expect(faulty).toBeGreaterThan(model.metadata.threshold);
    } finally {
      await model.close();
    }
  });
});
