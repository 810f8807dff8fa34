/**
 * Scoring and alerting on real parts (influxd, Aedes, onnxruntime with the shipped model, the
 * vehicle state store on disk): each window goes through its vehicle's feature path (recent
 * evidence + deviations from its own baseline).
 * - A vehicle that learnt its baseline healthy and then develops a vacuum leak raises exactly one
 *   alert naming what moved against its own normal; a restart of ingest does not repeat it; repair
 *   clears it exactly once ("clears when the evidence goes"); a healthy vehicle raises none; every
 *   closed window gets one `anomaly` row with the baseline status.
 * - A vehicle faulty from its first window (baseline still learning) is flagged on fleet evidence.
 * - `fleetpulse baseline reset` puts a learned vehicle back to learning.
 * - A new model version is swapped in without a restart or lost windows.
 * Event time is driven directly: simulated windows are published with chosen timestamps. The
 * baseline learns from 15 min of warm driving here (3 h in production) to keep the test short.
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
import { VehiclePaths } from '../../ingest/scoring/vehicle-paths.ts';
import { VehicleStateStore } from '../../ingest/scoring/vehicle-state-store.ts';
import { RAISE_AFTER_WINDOWS } from '../../models/evaluation.ts';
import { influxQuery, rowsOf, waitFor, type RestartableTestInfluxd } from '../support/influx.ts';
import { runCli, startCli } from '../support/cli.ts';
import type { Sample } from '../../contracts/telemetry.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { publishSamples } from '../ingest/fixtures.ts';
import { copyDefaultModel, layOut, simulatedWindows, WINDOW_MS } from '../ingest/scoring-fixtures.ts';

const HOUR = 3_600_000;
/** The shipped model's version: alerts and anomaly rows carry it. */
const SHIPPED_VERSION = (JSON.parse(readFileSync(DEFAULT_MODEL_PATH.replace(/\.onnx$/, '.json'), 'utf8')) as { modelVersion: number }).modelVersion;
const LEARN_HOURS = 0.25;

async function count(url: string, db: string, query: string): Promise<number> {
  return (rowsOf((await influxQuery(url, db, query))[0])[0]?.n as number | undefined) ?? 0;
}

describe('ingest scoring and alerts', () => {
  let pipeline: TestPipeline;
  let influx: RestartableTestInfluxd;
  let broker: RunningBroker;
  let dir: string;
  // From the first warm minutes of a simulated day (earlier windows are a cold engine's).
  const sick = simulatedWindows('vacuum_leak', 0.9, 40, 16);
  const healthy = simulatedWindows(undefined, 0, 100, 16);

  /** A worker with scoring and a state store on disk, connected and subscribed; `stop()` stops it, then its scoring. */
  const startIngest = async (db: string, modelPath: string, alertStatePath: string, modelPollMs = 0, learnHours = LEARN_HOURS) =>
    pipeline.startIngest({
      influxDatabase: db, clientId: `ingest-${db}`, spoolDir: join(dir, 'spool', db), windowMs: WINDOW_MS, allowedLatenessMs: 2000, idleTimeoutMs: 1000, httpPort: 0,
      scoring: {
        provider: await ModelProvider.load(modelPath), modelPollMs, maxDelayMs: 50, batchSize: 8, alertStatePath,
        paths: new VehiclePaths({ store: new VehicleStateStore({ file: join(dir, 'state', `${db}.sqlite`) }), baseline: { learnHours } }),
      },
    });

  beforeAll(async () => {
    pipeline = await startTestPipeline();
    ({ influx, broker } = pipeline);
    dir = pipeline.tempDir('fleetpulse-scoring-');
  });
  afterAll(async () => {
    await pipeline?.stop();
  });

  it('raises one alert for a car that develops a fault against its own normal, keeps it over a restart, clears it once after repair, none for a healthy one; a reset makes it learn again', async () => {
    const db = 'alerts';
    const statePath = join(dir, 'alert-state.json');
    const alerts: AlertMessage[] = [];
    const subscriber: MqttClient = await mqtt.connectAsync(broker.url, { clientId: 'alert-reader' });
    subscriber.on('message', (_topic, payload) => alerts.push(alertMessageSchema.parse(JSON.parse(payload.toString()))));
    await subscriber.subscribeAsync(topics.fleetFilter('alerts'), { qos: 1 });
    const publisher = await mqtt.connectAsync(broker.url, { clientId: 'scoring-publisher' });
    const base = Math.floor((Date.now() - 6 * HOUR) / WINDOW_MS) * WINDOW_MS;
    const anomalyRows = () => count(influx.url, db, 'SELECT count(score) AS n FROM anomaly');

    // Phase 1: sick-car learns its normal healthy (40 windows, 15 min warm), then the leak starts (20 windows); fine-car drives healthy.
    const first = await startIngest(db, DEFAULT_MODEL_PATH, statePath);
    let sickSeq = await publishSamples(publisher, 'sick-car', layOut([...healthy.slice(0, 40), ...sick.slice(0, 20)], base), 30);
    let fineSeq = await publishSamples(publisher, 'fine-car', layOut(healthy.slice(0, 60), base), 30);
    expect(await waitFor(async () => (await anomalyRows()) === 120, 60_000, 200)).toBe(true);
    await first.ingest.flush();
    expect(await waitFor(() => alerts.length >= 1, 5000)).toBe(true);
    const metrics = await (await fetch(`${first.ingest.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/fleetpulse_ingest_windows_scored_total 120/);
    expect(metrics).toMatch(/fleetpulse_ingest_alerts_total\{state="raised"\} 1/);
    expect(metrics).toMatch(/fleetpulse_ingest_vehicle_paths_loaded_total\{source="fresh"\} 2/);
    await first.stop();
    expect(JSON.parse(readFileSync(statePath, 'utf8')).vehicles['sick-car'].alerting).toBe(true);

    // Phase 2, after a restart (paths come back from the state file): 20 more faulty windows, then
    // 40 healthy ones (the repair: minutes that include warm idling, where the leak showed — the car's
    // recent evidence of idle fuel trim changes only when it idles again); 40 more healthy ones for fine-car.
    const second = await startIngest(db, DEFAULT_MODEL_PATH, statePath);
    sickSeq = await publishSamples(publisher, 'sick-car', layOut([...sick.slice(20, 40), ...healthy.slice(0, 40)], base + 60 * WINDOW_MS), 30, sickSeq);
    fineSeq = await publishSamples(publisher, 'fine-car', layOut(healthy.slice(60, 100), base + 60 * WINDOW_MS), 30, fineSeq);
    expect(await waitFor(async () => (await anomalyRows()) === 120 + 60 + 40, 60_000, 200)).toBe(true);
    await second.ingest.flush();
    expect(second.scoring.stats().paths).toMatchObject({ loadedLocal: 2, fresh: 0 });
    expect(await waitFor(() => alerts.length >= 2, 5000)).toBe(true);
    await new Promise((r) => setTimeout(r, 300)); // a repeated alert would arrive within this

    expect(alerts.map((a) => `${a.vehicle} ${a.state}`)).toEqual(['sick-car raised', 'sick-car cleared']);
    const [raised, cleared] = alerts as [AlertMessage, AlertMessage];
    expect(raised.windowStartMs).toBeGreaterThan(base + 40 * WINDOW_MS); // not before the leak
    expect(raised.windowStartMs).toBeLessThan(base + 60 * WINDOW_MS); // within phase 1
    expect(raised.windows).toBe(RAISE_AFTER_WINDOWS);
    expect(raised.score).toBeGreaterThanOrEqual(raised.threshold);
    expect(raised.modelVersion).toBe(SHIPPED_VERSION);
    expect(raised.baseline).toEqual({ status: 'learned', progress: 1 });
    // It names the signal that moved, in words and units, against the car's own normal.
    expect(raised.explanation?.signals[0]).toMatchObject({ feature: 'fuel_trim_idle', reference: 'own', unit: '%' });
    expect(raised.explanation?.signals[0]!.delta).toBeGreaterThan(3);
    expect(raised.explanation?.text).toMatch(/^fuel trim [\d.]+ % above this car's normal at warm idle/);
    expect(cleared.alertId).toBe(raised.alertId);
    expect(cleared.windowStartMs).toBeGreaterThan(base + 80 * WINDOW_MS); // after the repair began
    expect(cleared.score).toBeLessThan(cleared.threshold);
    expect(cleared.explanation?.text).toMatch(/^back to normal: fuel trim/);

    // InfluxDB: one anomaly row per closed window (with the baseline status), alert rows only for the two changes.
    for (const [vehicle, windows] of [['sick-car', 120], ['fine-car', 100]] as const) {
      expect(await count(influx.url, db, `SELECT count(running_s) AS n FROM features WHERE vehicle = '${vehicle}'`), vehicle).toBe(windows);
      expect(await count(influx.url, db, `SELECT count(score) AS n FROM anomaly WHERE vehicle = '${vehicle}'`), vehicle).toBe(windows);
    }
    expect(await count(influx.url, db, `SELECT count(score) AS n FROM anomaly WHERE vehicle = 'fine-car' AND anomalous = true`)).toBe(0);
    expect(await count(influx.url, db, `SELECT count(score) AS n FROM anomaly WHERE baseline = 'learning'`)).toBeGreaterThan(0);
    const lastFine = rowsOf((await influxQuery(influx.url, db, `SELECT last(score), baseline, baseline_progress FROM anomaly WHERE vehicle = 'fine-car'`))[0])[0]!;
    expect([lastFine.baseline, lastFine.baseline_progress]).toEqual(['learned', 1]);
    const alertRows = rowsOf((await influxQuery(influx.url, db, `SELECT * FROM alerts ORDER BY time`))[0]);
    expect(alertRows.map((r) => [r.vehicle, r.state, r.time, r.alert_id])).toEqual([
      ['sick-car', 'raised', raised.windowStartMs, raised.alertId],
      ['sick-car', 'cleared', cleared.windowStartMs, raised.alertId],
    ]);
    expect(alertRows[0]!.text).toBe(raised.explanation?.text);

    // The repaired car's baseline is reset by the operator command: its next window is scored learning again.
    const reset = await runCli(['baseline', 'reset', '--vehicle', 'sick-car', '--reason', 'repair', '--mqtt-url', broker.url]);
    expect(reset.code, reset.stderr).toBe(0);
    expect(await waitFor(() => second.scoring.stats().paths.resets === 1, 10_000)).toBe(true);
    await publishSamples(publisher, 'sick-car', layOut(healthy.slice(80, 82), base + 120 * WINDOW_MS), 30, sickSeq);
    expect(await waitFor(async () => (await anomalyRows()) === 222, 30_000, 200)).toBe(true);
    const afterReset = rowsOf((await influxQuery(influx.url, db, `SELECT last(score), baseline FROM anomaly WHERE vehicle = 'sick-car'`))[0])[0]!;
    expect(afterReset.baseline).toBe('learning');
    expect(await waitFor(async () => (await count(influx.url, db, `SELECT count(reason) AS n FROM baseline_events WHERE vehicle = 'sick-car'`)) === 1, 10_000, 200)).toBe(true);
    await publisher.endAsync();
    await subscriber.endAsync();
    await second.stop(); // it consumes every shard of this broker: the next test's vehicles are not its business
  }, 120_000);

  it('flags a car that is faulty from its first window on fleet evidence while its baseline learns', async () => {
    const db = 'from_start';
    const alerts: AlertMessage[] = [];
    const subscriber: MqttClient = await mqtt.connectAsync(broker.url, { clientId: 'alert-reader-2' });
    subscriber.on('message', (_topic, payload) => alerts.push(alertMessageSchema.parse(JSON.parse(payload.toString()))));
    await subscriber.subscribeAsync(topics.fleetFilter('alerts'), { qos: 1 });
    const publisher = await mqtt.connectAsync(broker.url, { clientId: 'from-start-publisher' });
    const base = Math.floor((Date.now() - 5 * HOUR) / WINDOW_MS) * WINDOW_MS;
    // The production learning period (3 h): this car never gets a baseline in the test.
    const worker = await startIngest(db, DEFAULT_MODEL_PATH, join(dir, 'from-start-state.json'), 0, 3);
    await publishSamples(publisher, 'born-sick', layOut(sick.slice(0, 20), base), 30);
    expect(await waitFor(async () => (await count(influx.url, db, 'SELECT count(score) AS n FROM anomaly')) === 20, 30_000, 200)).toBe(true);
    await worker.ingest.flush();
    expect(await waitFor(() => alerts.length >= 1, 5000)).toBe(true);
    await publisher.endAsync();
    await subscriber.endAsync();
    expect(alerts.map((a) => `${a.vehicle} ${a.state}`), JSON.stringify(alerts.map((a) => [a.alertId, a.windowStartMs, a.score]))).toEqual(['born-sick raised']);
    expect(alerts[0]!.baseline?.status).toBe('learning');
    expect(alerts[0]!.explanation?.signals[0]).toMatchObject({ feature: 'fuel_trim_idle', reference: 'fleet' });
    expect(alerts[0]!.explanation?.text).toMatch(/fuel trim [\d.]+ % above the fleet's typical value at warm idle/);
    expect(await count(influx.url, db, `SELECT count(score) AS n FROM anomaly WHERE baseline = 'learned'`)).toBe(0);
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
    expect(await count(influx.url, db, `SELECT count(running_s) AS n FROM features`)).toBe(12);
    expect(scoring.stats().scorer.dropped + scoring.stats().scorer.failedBatches).toBe(0);
  }, 60_000);
});

describe('ingest scoring across a SIGKILL', () => {
  let pipeline: TestPipeline;
  const learned = simulatedWindows(undefined, 0, 70, 16);
  const leak = simulatedWindows('vacuum_leak', 0.9, 30, 16);
  const base = Math.floor((Date.now() - 4 * HOUR) / WINDOW_MS) * WINDOW_MS;
  const streams = { 'car-a': [...learned.slice(0, 40), ...leak], 'car-b': learned.slice(0, 70) };
  const windows = Object.values(streams).reduce((n, w) => n + w.length, 0);

  beforeAll(async () => {
    pipeline = await startTestPipeline();
  });
  afterAll(async () => {
    await pipeline?.stop();
  });

  /** Every anomaly row as `vehicle time → score baseline progress`. */
  async function scores(db: string): Promise<Map<string, string>> {
    const rows = rowsOf((await influxQuery(pipeline.influx.url, db, `SELECT score, baseline, baseline_progress, vehicle FROM anomaly ORDER BY time`))[0]);
    return new Map(rows.map((r) => [`${String(r.vehicle)} ${String(r.time)}`, `${String(r.score)} ${String(r.baseline)} ${String(r.baseline_progress)}`]));
  }

  const ingestArgs = (db: string, dataDir: string) => [
    'ingest', '--mqtt-url', pipeline.broker.url, '--influx-url', pipeline.influx.url, '--influx-database', db, '--data-dir', dataDir,
    '--client-id', `ingest-${db}`, '--http-port', '0', '--window-s', String(WINDOW_MS / 1000), '--allowed-lateness-s', '2', '--idle-timeout-s', '2',
    '--flush-interval-ms', '100', '--stats-interval-s', '0', '--score-batch-size', '16', '--score-max-delay-ms', '100', '--baseline-learn-hours', String(LEARN_HOURS),
  ];

  async function publish(clientId: string, part: (w: Sample[][]) => Sample[][], offset: (w: Sample[][]) => number, seqs: Map<string, number>): Promise<void> {
    const client = await mqtt.connectAsync(pipeline.broker.url, { clientId });
    for (const [vehicle, list] of Object.entries(streams)) seqs.set(vehicle, await publishSamples(client, vehicle, layOut(part(list), base + offset(list) * WINDOW_MS), 30, seqs.get(vehicle) ?? 0));
    await client.endAsync();
  }

  it('gives every window the same score, baseline status and progress as an uninterrupted run', async () => {
    const rows = (db: string) => count(pipeline.influx.url, db, 'SELECT count(score) AS n FROM anomaly');
    // The uninterrupted run.
    const reference = startCli(ingestArgs('uninterrupted', pipeline.tempDir()));
    try {
      expect(await waitFor(() => reference.output().includes('subscribed'), 20_000), reference.output()).toBe(true);
      await publish('pub-reference', (w) => w, () => 0, new Map());
      expect(await waitFor(async () => (await rows('uninterrupted')) === windows, 60_000, 200), reference.output()).toBe(true);
    } finally {
      reference.child.kill('SIGTERM');
      await reference.exited;
    }

    // The same stream into a worker killed while it scores the first part.
    const dataDir = pipeline.tempDir();
    const half = (w: Sample[][]) => Math.floor(w.length / 2);
    const seqs = new Map<string, number>();
    let worker = startCli(ingestArgs('killed', dataDir));
    try {
      expect(await waitFor(() => worker.output().includes('subscribed'), 20_000), worker.output()).toBe(true);
      await publish('pub-killed-1', (w) => w.slice(0, half(w)), () => 0, seqs);
      expect(await waitFor(async () => (await rows('killed')) >= 10, 60_000, 50)).toBe(true);
      worker.child.kill('SIGKILL');
      await worker.exited;
      // Sent while ingest is down: the broker keeps it for the persistent session.
      await publish('pub-killed-2', (w) => w.slice(half(w)), half, seqs);
      worker = startCli(ingestArgs('killed', dataDir));
      expect(await waitFor(async () => (await rows('killed')) === windows, 60_000, 200), worker.output()).toBe(true);
    } finally {
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
    const expected = await scores('uninterrupted');
    expect(expected.size).toBe(windows);
    expect([...expected.values()].some((v) => v.includes('learned'))).toBe(true);
    expect(await scores('killed')).toEqual(expected);
  }, 180_000);
});
