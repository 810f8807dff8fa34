import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Sample, sampleSchema } from '../contracts/telemetry.ts';
import { SimulatedSource } from './simulated-source.ts';

afterEach(() => {
  vi.useRealTimers();
});

async function collect(speed: number, wallMs: number, rateHz = 1): Promise<{ samples: Sample[]; startMs: number }> {
  vi.useFakeTimers();
  const startMs = Date.UTC(2025, 2, 3, 8);
  let wall = 1_000_000;
  const source = new SimulatedSource({ vehicleId: 'car-1', seed: 3, sampleRateHz: rateHz, speed, startMs, now: () => wall });
  const samples: Sample[] = [];
  await source.start((s) => samples.push(s));
  for (let elapsed = 0; elapsed < wallMs; elapsed += 100) {
    wall += 100;
    vi.advanceTimersByTime(100);
  }
  await source.stop();
  return { samples, startMs };
}

describe('SimulatedSource', () => {
  it('at speed 1 gives one sample per interval with event time = wall time', async () => {
    const { samples, startMs } = await collect(1, 10_000, 5);
    expect(samples.length).toBeGreaterThanOrEqual(45);
    expect(samples.length).toBeLessThanOrEqual(51);
    expect(samples[0]!.t).toBeGreaterThanOrEqual(startMs);
    expect(samples[samples.length - 1]!.t).toBeLessThanOrEqual(startMs + 10_000);
  });

  it('at speed X runs event time X times faster, strictly increasing and valid on the wire', async () => {
    const { samples, startMs } = await collect(60, 10_000);
    expect(samples.length).toBeGreaterThan(500); // 600 simulated seconds at 1 Hz, engine running
    for (let i = 1; i < samples.length; i++) expect(samples[i]!.t).toBeGreaterThan(samples[i - 1]!.t);
    expect(samples[samples.length - 1]!.t).toBeLessThanOrEqual(startMs + 600_000);
    for (const s of samples) expect(sampleSchema.safeParse(s).success).toBe(true);
  });

  it('never sends ground truth', async () => {
    const { samples } = await collect(10, 2000);
    for (const s of samples) for (const key of Object.keys(s)) expect(['truth', 'fault', 'severity']).not.toContain(key);
  });
});
