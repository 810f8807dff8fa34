/**
 * Scoring and alerting on real parts (influxd, Aedes, onnxruntime with the shipped model): a
 * vehicle with a vacuum leak raises exactly one alert, a restart of ingest does not repeat it,
 * repair clears it exactly once, a healthy vehicle raises none, every closed window gets one
 * `anomaly` row, and a new model version is swapped in without a restart or lost windows.
 * Event time is driven directly: simulated windows are published with chosen timestamps.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import type { RunningBroker } from '../../broker/broker-server.ts';
import { alertMessageSchema, type AlertMessage } from '../../contracts/alerts.ts';
import { topics } from '../../contracts/topics.ts';
import { ModelProvider } from '../../ingest/scoring/model-provider.ts';
import { DEFAULT_MODEL_PATH } from '../../ingest/scoring/scoring-options.ts';
import { RAISE_AFTER_WINDOWS } from '../../models/evaluation.ts';
import { influxQuery, rowsOf, waitFor, type RestartableTestInfluxd } from '../support/influx.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { publishSamples } from '../ingest/fixtures.ts';
import { copyDefaultModel, layOut, simulatedWindows, WINDOW_MS } from '../ingest/scoring-fixtures.ts';

const HOUR = 3_600_000;
/** The shipped model's version: alerts and anomaly rows carry it. */
const SHIPPED_VERSION = (JSON.parse(readFileSync(DEFAULT_MODEL_PATH.replace(/\.onnx$/, '.json'), 'utf8')) as { modelVersion: number }).modelVersion;

async function count(url: string, db: string, query: string): Promise<number> {
  return (rowsOf((await influxQuery(url, db, query))[0])[0]?.n as number | undefined) ?? 0;
}

describe('ingest scoring and alerts', () => {
  let pipeline: TestPipeline;
  let influx: RestartableTestInfluxd;
  let broker: RunningBroker;
  let dir: string;
  const faulty = simulatedWindows('vacuum_leak', 0.9, 8);
  const healthy = simulatedWindows(undefined, 0, 20);

  /** A worker with scoring, connected and subscribed; `stop()` stops it, then its scoring. */
  const startIngest = async (db: string, modelPath: string, alertStatePath: string, modelPollMs = 0) =>
    pipeline.startIngest({
      influxDatabase: db, clientId: `ingest-${db}`, spoolDir: join(dir, 'spool', db), windowMs: WINDOW_MS, allowedLatenessMs: 2000, idleTimeoutMs: 1000, httpPort: 0,
      scoring: { provider: await ModelProvider.load(modelPath), modelPollMs, maxDelayMs: 50, batchSize: 8, alertStatePath },
    });

  beforeAll(async () => {
    pipeline = await startTestPipeline();
    ({ influx, broker } = pipeline);
    dir = pipeline.tempDir('fleetpulse-scoring-');
  });
  afterAll(async () => {
    await pipeline?.stop();
  });

  it('raises one alert for a faulty vehicle, keeps it over a restart, clears it once after repair, and none for a healthy one', async () => {
    const db = 'alerts';
    const statePath = join(dir, 'alert-state.json');
    const alerts: AlertMessage[] = [];
    const subscriber: MqttClient = await mqtt.connectAsync(broker.url, { clientId: 'alert-reader' });
    subscriber.on('message', (_topic, payload) => alerts.push(alertMessageSchema.parse(JSON.parse(payload.toString()))));
    await subscriber.subscribeAsync(topics.fleetFilter('alerts'), { qos: 1 });
    const publisher = await mqtt.connectAsync(broker.url, { clientId: 'scoring-publisher' });
    const base = Math.floor((Date.now() - 6 * HOUR) / WINDOW_MS) * WINDOW_MS;
    const anomalyRows = () => count(influx.url, db, 'SELECT count(score) AS n FROM anomaly');

    // Phase 1: four faulty windows (raise after RAISE_AFTER_WINDOWS), ten healthy ones.
    expect(RAISE_AFTER_WINDOWS).toBeLessThanOrEqual(4);
    const first = await startIngest(db, DEFAULT_MODEL_PATH, statePath);
    let sickSeq = await publishSamples(publisher, 'sick-car', layOut(faulty.slice(0, 4), base), 30);
    let fineSeq = await publishSamples(publisher, 'fine-car', layOut(healthy.slice(0, 10), base), 30);
    expect(await waitFor(async () => (await anomalyRows()) === 14, 30_000, 200)).toBe(true);
    await first.ingest.flush();
    expect(await waitFor(() => alerts.length >= 1, 5000)).toBe(true);
    const metrics = await (await fetch(`${first.ingest.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/fleetpulse_ingest_windows_scored_total 14/);
    expect(metrics).toMatch(/fleetpulse_ingest_inference_batch_size_count [1-9]/);
    expect(metrics).toMatch(/fleetpulse_ingest_inference_batch_seconds_sum /);
    expect(metrics).toMatch(/fleetpulse_ingest_alerts_total\{state="raised"\} 1/);
    await first.stop();
    expect(JSON.parse(readFileSync(statePath, 'utf8')).vehicles['sick-car'].alerting).toBe(true);

    // Phase 2, after a restart: four more faulty windows (enough to raise again without the
    // persisted state), then five healthy ones (the repair); ten more healthy ones for fine-car.
    const second = await startIngest(db, DEFAULT_MODEL_PATH, statePath);
    sickSeq = await publishSamples(publisher, 'sick-car', layOut([...faulty.slice(4, 8), ...healthy.slice(0, 5)], base + 4 * WINDOW_MS), 30, sickSeq);
    fineSeq = await publishSamples(publisher, 'fine-car', layOut(healthy.slice(10, 20), base + 10 * WINDOW_MS), 30, fineSeq);
    expect(await waitFor(async () => (await anomalyRows()) === 14 + 9 + 10, 30_000, 200)).toBe(true);
    await second.ingest.flush();
    expect(await waitFor(() => alerts.length >= 2, 5000)).toBe(true);
    await new Promise((r) => setTimeout(r, 300)); // a repeated alert would arrive within this
    await publisher.endAsync();
    await subscriber.endAsync();

    expect(alerts.map((a) => `${a.vehicle} ${a.state}`)).toEqual(['sick-car raised', 'sick-car cleared']);
    const [raised, cleared] = alerts as [AlertMessage, AlertMessage];
    expect(raised.windowStartMs).toBe(base + (RAISE_AFTER_WINDOWS - 1) * WINDOW_MS);
    expect(raised.windows).toBe(RAISE_AFTER_WINDOWS);
    expect(raised.score).toBeGreaterThanOrEqual(raised.threshold);
    expect(raised.modelVersion).toBe(SHIPPED_VERSION);
    expect(raised.topFeatures.length).toBe(5);
    const deviations = raised.topFeatures.map((f) => Math.abs(f.deviation));
    expect(deviations).toEqual([...deviations].sort((a, b) => b - a));
    expect(deviations[0]).toBeGreaterThan(2);
    expect(cleared.alertId).toBe(raised.alertId);
    expect(cleared.windowStartMs).toBe(base + (8 + 3 - 1) * WINDOW_MS);
    expect(cleared.score).toBeLessThan(cleared.threshold);

    // InfluxDB: one anomaly row per closed window, alert rows only for the two changes.
    for (const [vehicle, windows] of [['sick-car', 13], ['fine-car', 20]] as const) {
      expect(await count(influx.url, db, `SELECT count(rpm_mean) AS n FROM features WHERE vehicle = '${vehicle}'`), vehicle).toBe(windows);
      expect(await count(influx.url, db, `SELECT count(score) AS n FROM anomaly WHERE vehicle = '${vehicle}'`), vehicle).toBe(windows);
    }
    expect(await count(influx.url, db, `SELECT count(score) AS n FROM anomaly WHERE vehicle = 'sick-car' AND anomalous = true`)).toBe(8);
    expect(await count(influx.url, db, `SELECT count(score) AS n FROM anomaly WHERE vehicle = 'fine-car' AND anomalous = true`)).toBe(0);
    const alertRows = rowsOf((await influxQuery(influx.url, db, `SELECT * FROM alerts ORDER BY time`))[0]);
    expect(alertRows.map((r) => [r.vehicle, r.state, r.time, r.alert_id])).toEqual([
      ['sick-car', 'raised', raised.windowStartMs, raised.alertId],
      ['sick-car', 'cleared', cleared.windowStartMs, raised.alertId],
    ]);
    expect(String(alertRows[0]!.top_features)).toContain(raised.topFeatures[0]!.name);
  }, 60_000);

  it('swaps in a new model version without a restart or lost windows, and keeps the old one on a bad file', async () => {
    const db = 'reload';
    const modelPath = copyDefaultModel(join(dir, 'model'));
    const metaPath = modelPath.replace(/\.onnx$/, '.json');
    const { ingest, scoring } = await startIngest(db, modelPath, join(dir, 'reload-state.json'), 100);
    const publisher = await mqtt.connectAsync(broker.url, { clientId: 'reload-publisher' });
    const base = Math.floor((Date.now() - 3 * HOUR) / WINDOW_MS) * WINDOW_MS;
    const byModel = async () => {
      const series = await influxQuery(influx.url, db, `SELECT count(score) AS n FROM anomaly GROUP BY model`);
      return Object.fromEntries(series.map((s) => [s.tags?.model ?? '?', (rowsOf(s)[0]?.n as number | undefined) ?? 0]));
    };

    const seq = await publishSamples(publisher, 'swap-car', layOut(healthy.slice(0, 6), base), 30);
    expect(await waitFor(async () => (await byModel())[String(SHIPPED_VERSION)] === 6, 30_000, 200)).toBe(true);

    const meta = JSON.parse(readFileSync(metaPath, 'utf8'));
    writeFileSync(metaPath, '{"schema": "fleetpulse.model-metadata/1", truncated');
    expect(await waitFor(() => scoring.stats().model.reloadFailures.invalid_metadata === 1, 10_000)).toBe(true);
    expect(scoring.stats().model.modelVersion).toBe(SHIPPED_VERSION);
    writeFileSync(metaPath, JSON.stringify({ ...meta, modelVersion: SHIPPED_VERSION + 1 }));
    expect(await waitFor(() => scoring.stats().model.modelVersion === SHIPPED_VERSION + 1, 10_000)).toBe(true);
    expect(scoring.stats().model.reloads).toBe(1);

    await publishSamples(publisher, 'swap-car', layOut(healthy.slice(6, 12), base + 6 * WINDOW_MS), 30, seq);
    await publisher.endAsync();
    expect(await waitFor(async () => (await byModel())[String(SHIPPED_VERSION + 1)] === 6, 30_000, 200)).toBe(true);
    await ingest.flush();
    expect(await byModel()).toEqual({ [String(SHIPPED_VERSION)]: 6, [String(SHIPPED_VERSION + 1)]: 6 });
    expect(await count(influx.url, db, `SELECT count(rpm_mean) AS n FROM features`)).toBe(12);
    expect(scoring.stats().scorer.dropped + scoring.stats().scorer.failedBatches).toBe(0);
  }, 60_000);
});
