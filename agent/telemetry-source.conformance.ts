/**
 * The TelemetrySource contract (telemetry-source.ts) as one suite, run against every source by
 * telemetry-source.conformance.test.ts: the simulator, a replayed drive log, the OBD source on an
 * emulated ELM327 (serialport's mock binding and a real pty), and the swappable wrapper across a
 * swap. What only one source does (a replay's end, an adapter unplugged) stays in its own tests.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sampleSchema, type Sample } from '../contracts/telemetry.ts';
import { VEHICLE_HEALTH_SCHEMA, vehicleHealthEventSchema } from '../contracts/vehicle-health.ts';
import type { HealthReading, TelemetrySource } from './telemetry-source.ts';

export interface TelemetrySourceUnderTest {
  /** A new source that delivers samples soon after `start` (a car driving, a log playing, an adapter answering). */
  create(): TelemetrySource | Promise<TelemetrySource>;
  /** What the source does in its life besides delivering, done once samples flow (e.g. a swap). */
  exercise?(source: TelemetrySource): Promise<void>;
  /** Ends what `create` started besides the source (an emulator, a pty); after the source stopped. */
  dispose?(): Promise<void>;
  /** The source reads the car's diagnosis: a health reading comes soon after `start`. */
  readsHealth?: boolean;
}

/** How many samples a check waits for. */
const ENOUGH = 30;
const WAIT = { timeout: 20_000, interval: 20 };
/** How long a stopped source is watched for stray samples, ms (longer than every source's tick). */
const QUIET_MS = 400;

export function describeTelemetrySource(name: string, under: TelemetrySourceUnderTest): void {
  describe(`TelemetrySource conformance: ${name}`, () => {
    const started: TelemetrySource[] = [];
    const start = async (): Promise<{ source: TelemetrySource; samples: Sample[]; readings: HealthReading[] }> => {
      const source = await under.create();
      started.push(source);
      const samples: Sample[] = [];
      const readings: HealthReading[] = [];
      await source.start(
        (sample) => samples.push(sample),
        (reading) => readings.push(reading),
      );
      return { source, samples, readings };
    };
    afterEach(async () => {
      for (const source of started.splice(0)) await source.stop();
      await under.dispose?.();
    });

    it('has a name', async () => {
      const source = await under.create();
      started.push(source);
      expect(source.name).toMatch(/^\S+$/);
    });

    it('delivers samples the wire contract accepts, each later than the one before', async () => {
      const { source, samples } = await start();
      await vi.waitUntil(() => samples.length >= ENOUGH, WAIT);
      await under.exercise?.(source);
      const before = samples.length;
      await vi.waitUntil(() => samples.length >= before + ENOUGH, WAIT);
      for (const [i, sample] of samples.entries()) {
        const parsed = sampleSchema.safeParse(sample);
        expect(parsed.success, `sample ${i} ${JSON.stringify(sample)}: ${parsed.error?.message ?? ''}`).toBe(true);
        expect(Object.keys(sample).length, `sample ${i} carries at least one signal`).toBeGreaterThan(1);
        if (i > 0) expect(sample.t, `sample ${i}`).toBeGreaterThan(samples[i - 1]!.t);
      }
    });

    if (under.readsHealth) {
      it('reads the diagnosis as states the health contract accepts, at event times of its clock', async () => {
        const { samples, readings } = await start();
        await vi.waitUntil(() => readings.length > 0 && samples.length > 0, WAIT);
        for (const [i, r] of readings.entries()) {
          const event = { schema: VEHICLE_HEALTH_SCHEMA, vehicle: 'conformance-car', seq: i, t: r.t, reason: 'change', ...r.state };
          const parsed = vehicleHealthEventSchema.safeParse(event);
          expect(parsed.success, `reading ${i} ${JSON.stringify(r)}: ${parsed.error?.message ?? ''}`).toBe(true);
        }
        // Same clock as the samples: within a day of them (a replay's rebased times, a simulator's event time).
        expect(Math.abs(readings[0]!.t - samples[0]!.t)).toBeLessThan(86_400_000);
      });
    }

    it('delivers nothing once stop() has resolved, and stops twice without harm', async () => {
      const { source, samples, readings } = await start();
      await vi.waitUntil(() => samples.length > 0, WAIT);
      await source.stop();
      const atStop = samples.length;
      const readingsAtStop = readings.length;
      await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
      expect(samples.length).toBe(atStop);
      expect(readings.length).toBe(readingsAtStop);
      await source.stop();
    });

    it('stops without having started', async () => {
      const source = await under.create();
      await source.stop();
    });
  });
}
