/** Deterministic telemetry, publishing and the expected features for ingest tests and the benchmark. */
import type { MqttClient } from 'mqtt';
import { encodeTelemetry, type Sample } from '../../contracts/telemetry.ts';
import { topics } from '../../contracts/topics.ts';
import { computeFeatures, type FeatureVector } from '../../models/features.ts';
import { influxQuery, rowsOf } from '../support/influx.ts';
import { RAW_TELEMETRY } from '../../ingest/influxdb/rollups.ts';

/** `count` samples `stepMs` apart from `startMs`; values depend on (seed, index) only. */
export function makeSamples(startMs: number, count: number, stepMs: number, seed: number): Sample[] {
  const out: Sample[] = [];
  for (let i = 0; i < count; i++) {
    const phase = (i + seed * 7) / 17;
    const round = (x: number) => Math.round(x * 100) / 100;
    out.push({
      t: startMs + i * stepMs,
      RPM: round(1500 + 700 * Math.sin(phase) + seed),
      SPEED: round(50 + 30 * Math.sin(phase / 3)),
      COOLANT_TEMP: round(85 + 5 * Math.sin(phase / 11) + (seed % 5)),
      ENGINE_LOAD: round(40 + 25 * Math.cos(phase)),
      MAF: round(12 + 6 * Math.sin(phase)),
      SHORT_FUEL_TRIM_1: round(2 * Math.sin(phase * 2)),
      LONG_FUEL_TRIM_1: round(3 + (seed % 3)),
      // Only every third sample carries voltage: features of sparse signals must still agree.
      ...(i % 3 === 0 ? { CONTROL_MODULE_VOLTAGE: round(13.8 + 0.2 * Math.sin(phase)) } : {}),
    });
  }
  return out;
}

/** Publishes the samples as QoS 1 batches of `batchSize`, in order; returns the next seq. */
export async function publishSamples(client: MqttClient, vehicle: string, samples: readonly Sample[], batchSize: number, seq = 0): Promise<number> {
  for (let i = 0; i < samples.length; i += batchSize) {
    await client.publishAsync(topics.telemetry(vehicle), encodeTelemetry({ v: 1, vehicle, seq: seq++, samples: samples.slice(i, i + batchSize) }), { qos: 1 });
  }
  return seq;
}

/** Features per tumbling window start, computed offline as the trainer would. */
export function expectedFeatures(samples: readonly Sample[], windowMs: number): Map<number, FeatureVector> {
  const groups = new Map<number, Sample[]>();
  for (const s of samples) {
    const start = Math.floor(s.t / windowMs) * windowMs;
    const list = groups.get(start) ?? [];
    list.push(s);
    groups.set(start, list);
  }
  return new Map([...groups].map(([start, list]) => [start, computeFeatures(list)]));
}

/** Stored features per window start (time), bookkeeping fields and absent ones dropped. */
export async function storedFeatures(url: string, db: string, vehicle: string): Promise<Map<number, FeatureVector>> {
  const rows = rowsOf((await influxQuery(url, db, `SELECT * FROM features WHERE vehicle = '${vehicle}' ORDER BY time`))[0]);
  return new Map(
    rows.map((row) => {
      const f: FeatureVector = {};
      for (const [k, v] of Object.entries(row)) if (typeof v === 'number' && !['time', 'window_s', 'feature_version'].includes(k)) f[k] = v;
      return [row.time as number, f];
    }),
  );
}

/** Stored telemetry event times of a vehicle (a duplicate would show as a repeated time). */
export async function storedTimes(url: string, db: string, vehicle: string): Promise<number[]> {
  const rows = rowsOf((await influxQuery(url, db, `SELECT rpm FROM ${RAW_TELEMETRY} WHERE vehicle = '${vehicle}' ORDER BY time`))[0]);
  return rows.map((r) => r.time as number);
}

export async function countRows(url: string, db: string, measurement: string, field: string): Promise<number> {
  const series = await influxQuery(url, db, `SELECT count(${field}) AS n FROM ${measurement}`);
  return (rowsOf(series[0])[0]?.n as number | undefined) ?? 0;
}
