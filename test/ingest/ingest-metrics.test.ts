/**
 * Ingest's `/metrics` (prom-client): the names dashboards and alerts use are all there, with their
 * types, next to the process's default metrics. InfluxDB is left unreachable on purpose: ingest
 * spools and still serves every family.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../broker/broker-server.ts';
import { topics } from '../../contracts/topics.ts';
import { waitFor } from '../support/influx.ts';
import { startIngestWithoutInflux, type IngestWithoutInflux } from '../support/ingest-without-influx.ts';
import { metricFamilies } from '../support/metrics.ts';

/** Every family ingest with scoring served before prom-client (labelled families once they have a sample). */
const INGEST_FAMILIES: Record<string, 'counter' | 'gauge' | 'histogram'> = {
  messages_in_total: 'counter', batches_accepted_total: 'counter', samples_accepted_total: 'counter', dead_letters_total: 'counter',
  clock_skewed_samples_total: 'counter', clock_jumps_followed_total: 'counter', clock_jump_samples_discarded_total: 'counter',
  clock_jump_samples_held: 'gauge', duplicate_batches_total: 'counter', sequence_gaps_total: 'counter', late_samples_total: 'counter',
  windows_closed_total: 'counter', vehicles_evicted_total: 'counter', windows_redelivered_total: 'counter', windows_held: 'gauge',
  open_windows: 'gauge', window_vehicles: 'gauge', window_buffered_samples: 'gauge', watermark_lag_seconds: 'gauge', spool_bytes: 'gauge',
  spool_pending_bytes: 'gauge', spool_segments: 'gauge', spool_full_waits_total: 'counter', spool_write_errors_total: 'counter',
  spool_write_failing: 'gauge', spool_disk_free_bytes: 'gauge', spool_disk_low: 'gauge', dead_letters_unstored: 'gauge',
  dead_letters_lost_total: 'counter', spool_retention_overrides_total: 'counter', spool_appended_bytes_total: 'counter',
  influx_writes_total: 'counter', influx_write_failures_total: 'counter', influx_points_written_total: 'counter',
  influx_rejected_chunks_total: 'counter', influx_write_seconds: 'histogram', mqtt_connected: 'gauge', windows_scored_total: 'counter',
  inference_batches_total: 'counter', inference_batch_size: 'histogram', inference_batch_seconds: 'histogram',
  scoring_queue_windows: 'gauge', scoring_dropped_windows_total: 'counter', scoring_failed_batches_total: 'counter',
  anomalous_windows_total: 'counter', model_version: 'gauge', model_reloads_total: 'counter', alerts_total: 'counter',
  alerts_active: 'gauge', alert_replayed_windows_total: 'counter', alert_state_forgotten_total: 'counter',
  alerts_published_total: 'counter', alerts_unpublished_dropped_total: 'counter', alert_persist_failures_total: 'counter',
};

describe('ingest /metrics', () => {
  let dir: string;
  let broker: RunningBroker;
  let worker: IngestWithoutInflux;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fleetpulse-ingest-metrics-'));
    broker = await startBroker({ host: '127.0.0.1', port: 0 });
    worker = await startIngestWithoutInflux(broker.url, dir, 'ingest-metrics');
  });

  afterAll(async () => {
    await worker?.stop();
    await broker?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves today's names and types, a dead letter by reason, and the process's default metrics", async () => {
    const client = await mqtt.connectAsync(broker.url, { clientId: 'metrics-publisher' });
    await client.publishAsync(topics.telemetry('car-m'), 'not telemetry', { qos: 1 });
    await client.endAsync();
    expect(await waitFor(() => worker.ingest.stats().deadLetters === 1, 10_000)).toBe(true);

    const response = await fetch(`${worker.ingest.httpUrl}/metrics`);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    const families = metricFamilies(text);
    for (const [name, type] of Object.entries(INGEST_FAMILIES)) expect(families.get(`fleetpulse_ingest_${name}`), name).toBe(type);
    expect(text).toMatch(/^fleetpulse_ingest_dead_letters_total\{reason="not_json"\} 1$/m);
    expect(text).toMatch(/^fleetpulse_ingest_messages_in_total 1$/m);
    expect(text).toMatch(/^fleetpulse_ingest_mqtt_connected 1$/m);
    expect(text).toMatch(/^fleetpulse_ingest_influx_write_seconds_bucket\{le="\+Inf"\} 0$/m);
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
  });
});
