/**
 * The ingest stream seam (ingest/streams/ingest-stream.ts) from outside, on a real broker, spool
 * and influxd: a stream passed in `IngestOptions.streams` — here a probe on the vehicles'
 * `config-state` topic, standing in for the vehicle-health stream to come — gets everything the
 * built-in streams get from an unchanged IngestService:
 * - its filter subscribed, its messages routed to it, its records in InfluxDB, its events to the
 *   observers, its dead letters (and a throw of its own) in `dead_letters` under its name, its
 *   metrics on /metrics, its ticks stored;
 * - what it returns at a clean stop stored, and the spool replayed to it at the next start;
 * - its events only once its records are durable: with InfluxDB down and the spool at its bound,
 *   the event of a record waiting for room is withheld until the record is written.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALERT_SCHEMA, type AlertMessage } from '../../contracts/alerts.ts';
import { parseVehicleTopic, topics } from '../../contracts/topics.ts';
import type { ScrapeMetrics } from '../../common/metrics.ts';
import type { IngestEvent } from '../../ingest/ingest-events.ts';
import type { IngestService } from '../../ingest/ingest-service.ts';
import type { IngestStream, ReplaySource, StreamContext, StreamResult } from '../../ingest/streams/ingest-stream.ts';
import { influxQuery, rowsOf, waitFor } from '../support/influx.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';

const KiB = 1024;

/** `config-state` payloads: a number is a reading, `fill` a 20 KiB record, anything else a dead letter, a negative number a throw. */
class ProbeStream implements IngestStream {
  readonly name = 'probe';
  readings = 0;
  ticks = 0;
  fills = 0;
  readonly replayed: string[] = [];

  filters(shards: readonly number[]): string[] {
    return shards.map((s) => topics.shardFilter(s, 'config-state'));
  }

  accepts(topic: string): boolean {
    return topic.endsWith('/config-state');
  }

  handle(topic: string, payload: Buffer): StreamResult {
    const vehicle = parseVehicleTopic(topic)!.vehicleId;
    const text = payload.toString();
    if (text === 'fill') return this.fill(vehicle);
    const value = Number(text);
    if (text === '' || !Number.isFinite(value)) return { deadLetters: [{ reason: 'schema', detail: 'not a number', payload }] };
    if (value < 0) throw new Error('a negative reading');
    this.readings += 1;
    return { records: [{ type: 'f', body: `probe_readings,vehicle=${vehicle} value=${value} ${Date.now()}000000\n` }], events: [{ type: 'alert', alert: alertOf(vehicle) }] };
  }

  tick(ctx: StreamContext): StreamResult | undefined {
    this.ticks += 1;
    // One heartbeat point, on the first tick only.
    return this.ticks === 1 ? { records: [{ type: 'f', body: `probe_ticks reading_ms=${ctx.readingNow()} ${Date.now()}000000\n` }] } : undefined;
  }

  *replay(spool: ReplaySource): Generator<StreamResult> {
    for (const record of spool.records()) if (record.body.startsWith('probe_')) this.replayed.push(record.body.slice(0, record.body.indexOf(' ')));
  }

  stop(): StreamResult {
    return { records: [{ type: 'f', body: `probe_stops readings=${this.readings} ${Date.now()}000000\n` }] };
  }

  metrics(m: ScrapeMetrics): void {
    m.counter('probe_readings_total', 'Probe readings accepted', this.readings);
  }

  /** About 20 KiB of points in one record, and an event. */
  private fill(vehicle: string): StreamResult {
    const n = (this.fills += 1);
    let body = '';
    for (let i = 0; body.length < 20 * KiB; i++) body += `probe_fill,vehicle=${vehicle},fill=${n} i=${i}i,padding="${'x'.repeat(60)}" ${1_700_000_000_000 + i}000000\n`;
    return { records: [{ type: 'f', body }], events: [{ type: 'alert', alert: { ...alertOf(vehicle), alertId: `${vehicle}:${n}` } }] };
  }
}

function alertOf(vehicle: string): AlertMessage {
  return { schema: ALERT_SCHEMA, alertId: `${vehicle}:0`, vehicle, state: 'raised', kind: 'engine_anomaly', windowStartMs: 0, windowEndMs: 1, modelVersion: 1, score: 1, threshold: 0.5, windows: 1, topFeatures: [], emittedAtMs: Date.now() };
}

describe('an ingest stream added through IngestOptions.streams', () => {
  let pipeline: TestPipeline;

  beforeAll(async () => {
    pipeline = await startTestPipeline();
  });
  afterAll(async () => {
    await pipeline?.stop();
  });

  const publish = async (vehicle: string, payload: string): Promise<void> => {
    const client = await mqtt.connectAsync(pipeline.broker.url, { clientId: `probe-publisher-${vehicle}` });
    await client.publishAsync(topics.configState(vehicle), payload, { qos: 1 });
    await client.endAsync();
  };
  const rows = async (db: string, query: string) => rowsOf((await influxQuery(pipeline.influx.url, db, query))[0]);

  it('is subscribed, stored, told, dead-lettered, measured, ticked, stopped and replayed by the unchanged service', async () => {
    const db = 'probe_stream';
    const spoolDir = pipeline.tempDir();
    const probe = new ProbeStream();
    const { ingest } = await pipeline.startIngest({ influxDatabase: db, clientId: 'probe-ingest', spoolDir, httpPort: 0, streams: [probe] });
    const events: IngestEvent[] = [];
    ingest.addEventListener((event) => events.push(event));

    await publish('car-a', '120.5');
    await publish('car-b', 'not a number');
    await publish('car-c', '-1');
    expect(await waitFor(async () => (await rows(db, 'SELECT value FROM probe_readings')).length === 1, 20_000)).toBe(true);
    expect((await rows(db, 'SELECT value, vehicle FROM probe_readings'))[0]).toMatchObject({ value: 120.5, vehicle: 'car-a' });
    expect(events).toEqual([{ type: 'alert', alert: expect.objectContaining({ vehicle: 'car-a' }) }]);

    expect(await waitFor(async () => (await rows(db, `SELECT detail, reason FROM dead_letters WHERE kind = 'probe'`)).length === 2, 20_000)).toBe(true);
    const letters = await rows(db, `SELECT detail, reason, topic FROM dead_letters WHERE kind = 'probe'`);
    expect(letters.map((l) => [l.reason, l.detail, l.topic]).sort()).toEqual([
      ['internal_error', 'a negative reading', topics.configState('car-c')],
      ['schema', 'not a number', topics.configState('car-b')],
    ]);
    expect(ingest.stats().deadLettersByReason).toEqual({ schema: 1, internal_error: 1 });

    const metrics = await (await fetch(`${ingest.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^fleetpulse_ingest_probe_readings_total 1$/m);
    expect(metrics).toMatch(/^fleetpulse_ingest_messages_in_total 3$/m);
    expect(await waitFor(async () => (await rows(db, 'SELECT reading_ms FROM probe_ticks')).length === 1, 20_000)).toBe(true);

    await ingest.stop();
    expect(await rows(db, 'SELECT readings FROM probe_stops')).toEqual([expect.objectContaining({ readings: 1 })]);

    // The next start replays the spool the stop left to the stream, before any message.
    const next = new ProbeStream();
    const restarted = await pipeline.startIngest({ influxDatabase: db, clientId: 'probe-ingest', spoolDir, streams: [next] });
    expect(next.replayed).toEqual(expect.arrayContaining(['probe_readings,vehicle=car-a', 'probe_ticks', 'probe_stops']));
    await publish('car-a', '121');
    expect(await waitFor(async () => (await rows(db, 'SELECT value FROM probe_readings')).length === 2, 20_000)).toBe(true);
    expect(restarted.ingest.stats().messagesIn).toBe(1);
  });

  it('gets its events only once its records are durable: not while the record waits for spool room', async () => {
    const db = 'probe_held';
    const probe = new ProbeStream();
    const events: Array<{ alertId: string; blockedAppends: number }> = [];
    let ingest: IngestService | undefined;
    // 32 KiB segments, 64 KiB at most: three 20 KiB records fit, the fourth waits for InfluxDB.
    ({ ingest } = await pipeline.startIngest({ influxDatabase: db, clientId: 'probe-held', spoolDir: pipeline.tempDir(), spoolSegmentBytes: 32 * KiB, spoolMaxBytes: 64 * KiB, streams: [probe] }));
    const worker = ingest;
    worker.addEventListener((event) => {
      if (event.type === 'alert') events.push({ alertId: event.alert.alertId, blockedAppends: worker.stats().spool.blockedAppends });
    });
    await pipeline.influx.stop();
    try {
      for (let i = 0; i < 3; i++) await publish('car-h', 'fill');
      expect(await waitFor(() => events.length === 3, 20_000)).toBe(true);
      await publish('car-h', 'fill');
      expect(await waitFor(() => worker.stats().spool.blockedAppends === 1, 20_000)).toBe(true);
      // Handled and waiting for room: its event is held back with it.
      expect(probe.fills).toBe(4);
      expect(events.map((e) => e.alertId)).toEqual(['car-h:1', 'car-h:2', 'car-h:3']);
      expect(worker.health()).toMatchObject({ status: 'unavailable', spoolBlocked: true });
    } finally {
      await pipeline.influx.start();
    }
    expect(await waitFor(() => events.length === 4, 30_000)).toBe(true);
    expect(events[3]).toEqual({ alertId: 'car-h:4', blockedAppends: 0 });
    expect(await waitFor(async () => (await rows(db, 'SELECT count(i) AS n FROM probe_fill'))[0]?.n === 4 * countOfFillPoints(), 30_000)).toBe(true);
  });
});

/** Points in one `fill` record (as ProbeStream builds it). */
function countOfFillPoints(): number {
  let body = '';
  let i = 0;
  for (; body.length < 20 * KiB; i++) body += `probe_fill,vehicle=car-h,fill=1 i=${i}i,padding="${'x'.repeat(60)}" ${1_700_000_000_000 + i}000000\n`;
  return i;
}
