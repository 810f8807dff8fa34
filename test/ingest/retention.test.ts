/**
 * Retention policies and the telemetry rollup on a real influxd, created by a real ingest worker:
 * present after start, unchanged by a second start, altered by a changed setting; raw telemetry
 * lands in raw_30d (not the DEFAULT RP), the CQ fills telemetry_1m, points older than their RP are
 * counted instead of failing the write.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { encodeTelemetry, type TelemetryBatch } from '../../contracts/telemetry.ts';
import { topics } from '../../contracts/topics.ts';
import { influxClient } from '../../ingest/influxdb/influx-admin.ts';
import { RAW_TELEMETRY, ROLLUP, ROLLUP_TELEMETRY, rollupField } from '../../ingest/influxdb/rollups.ts';
import { ensureRetention, type RetentionSettings } from '../../ingest/influxdb/retention-policies.ts';
import { splitByRetentionPolicy } from '../../ingest/influxdb/write-routing.ts';
import { influxQuery, rowsOf, waitFor } from '../support/influx.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';

const DB = 'retention_test';
// RESAMPLE EVERY 1s: influxd's CQ service checks every second (its default run-interval), so
// the rollup of the current minute appears within seconds instead of at the next minute.
const FAST: RetentionSettings = { rawDays: 30, rollupDays: 365, rollupEveryS: 1, rollupForS: 120 };

async function retentionPolicies(url: string): Promise<Map<string, { duration: string; default: boolean }>> {
  const [series] = await influxQuery(url, DB, `SHOW RETENTION POLICIES ON "${DB}"`);
  return new Map(rowsOf(series).map((r) => [String(r.name), { duration: String(r.duration), default: r.default === true }]));
}

async function continuousQueries(url: string): Promise<Array<Record<string, unknown>>> {
  return rowsOf((await influxQuery(url, DB, 'SHOW CONTINUOUS QUERIES')).find((s) => s.name === DB));
}

describe('retention policies and rollups created by ingest', () => {
  let pipeline: TestPipeline;

  beforeAll(async () => {
    pipeline = await startTestPipeline();
  });
  afterAll(async () => {
    await pipeline?.stop();
  });

  it('creates them at start, leaves them alone on a second start, alters them after a config change', async () => {
    const { influx } = pipeline;
    const first = await pipeline.startIngest({ influxDatabase: DB, clientId: 'retention-a', retention: FAST });
    await first.stop();
    const rps = await retentionPolicies(influx.url);
    expect(rps.get('raw_30d')).toEqual({ duration: '720h0m0s', default: false });
    expect(rps.get('rollup_1y')).toEqual({ duration: '8760h0m0s', default: false });
    // autogen keeps the DEFAULT flag: unqualified queries read what they read before.
    expect(rps.get('autogen')?.default).toBe(true);
    const cqs = await continuousQueries(influx.url);
    expect(cqs.map((cq) => cq.name)).toEqual([ROLLUP.continuousQuery]);
    expect(String(cqs[0]?.query)).toContain('RESAMPLE EVERY 1s FOR 2m');
    expect(String(cqs[0]?.query)).toContain('INTO retention_test.rollup_1y.telemetry_1m FROM retention_test.raw_30d.telemetry');

    const second = await pipeline.startIngest({ influxDatabase: DB, clientId: 'retention-a', retention: FAST });
    await second.stop();
    expect(await retentionPolicies(influx.url)).toEqual(rps);
    expect(await continuousQueries(influx.url)).toEqual(cqs);
    // What the worker ran on its second start: nothing to change.
    expect(await ensureRetention(influxClient(influx.url, DB), DB, FAST)).toEqual({
      retentionPolicies: { raw_30d: 'unchanged', rollup_1y: 'unchanged' },
      continuousQueries: { [ROLLUP.continuousQuery]: 'unchanged' },
    });

    const changed: RetentionSettings = { ...FAST, rawDays: 7, rollupDays: 400, rollupForS: 300 };
    const third = await pipeline.startIngest({ influxDatabase: DB, clientId: 'retention-a', retention: changed });
    await third.stop();
    const altered = await retentionPolicies(influx.url);
    expect(altered.get('raw_30d')).toEqual({ duration: '168h0m0s', default: false });
    expect(altered.get('rollup_1y')).toEqual({ duration: '9600h0m0s', default: false });
    expect(altered.get('autogen')?.default).toBe(true);
    const alteredCqs = await continuousQueries(influx.url);
    expect(alteredCqs).toHaveLength(1);
    expect(String(alteredCqs[0]?.query)).toContain('RESAMPLE EVERY 1s FOR 5m');
  });

  it('writes raw telemetry into raw_30d and the CQ rolls it up into telemetry_1m', async () => {
    const { influx, broker } = pipeline;
    const worker = await pipeline.startIngest({ influxDatabase: DB, clientId: 'retention-b', retention: FAST });
    try {
      const vehicle = 'rollup-1';
      // Whole previous minute: inside RESAMPLE FOR 2m, so the CQ's next run covers it.
      const minute = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
      const rpms = [800, 1000, 1200, 3000];
      const batch: TelemetryBatch = { v: 1, vehicle, seq: 0, samples: rpms.map((RPM, i) => ({ t: minute + i * 10_000, RPM, SPEED: 10 * i })) };
      // Older than raw_30d: InfluxDB drops it, ingest counts it and carries on.
      const old: TelemetryBatch = { v: 1, vehicle, seq: 1, samples: [{ t: Date.now() - 40 * 86_400_000, RPM: 700 }] };
      const client = await mqtt.connectAsync(broker.url, { clientId: 'retention-publisher' });
      await client.publishAsync(topics.telemetry(vehicle), encodeTelemetry(batch), { qos: 1 });
      await client.publishAsync(topics.telemetry(vehicle), encodeTelemetry(old), { qos: 1 });
      await client.endAsync();
      expect(await waitFor(() => worker.ingest.stats().samplesAccepted >= rpms.length + 1, 10_000)).toBe(true);
      await worker.ingest.flush();

      const raw = rowsOf((await influxQuery(influx.url, DB, `SELECT count("rpm") FROM ${RAW_TELEMETRY} WHERE vehicle = '${vehicle}'`))[0]);
      expect(raw[0]?.count).toBe(rpms.length);
      expect(await influxQuery(influx.url, DB, `SELECT * FROM telemetry WHERE vehicle = '${vehicle}'`)).toEqual([]);
      expect(worker.ingest.stats().writer.beyondRetention).toBe(1);
      expect(worker.ingest.stats().writer.rejectedChunks).toBe(0);

      const query = `SELECT ${rollupField('mean', 'RPM')}, ${rollupField('min', 'RPM')}, ${rollupField('max', 'RPM')}, ${rollupField('max', 'SPEED')} FROM ${ROLLUP_TELEMETRY} WHERE vehicle = '${vehicle}'`;
      let rows: Array<Record<string, unknown>> = [];
      const rolledUp = await waitFor(async () => {
        rows = rowsOf((await influxQuery(influx.url, DB, query))[0]);
        return rows.length > 0;
      }, 30_000, 250);
      expect(rolledUp, 'the CQ wrote no rollup point within 30 s').toBe(true);
      expect(rows).toEqual([{ time: minute, mean_rpm: 1500, min_rpm: 800, max_rpm: 3000, max_speed: 30 }]);
    } finally {
      await worker.stop();
    }
  });
});

describe('splitByRetentionPolicy', () => {
  it('sends telemetry lines to raw_30d, everything else (comments included) to the DEFAULT RP, bytes unchanged', () => {
    const lines = ['telemetry,vehicle=a rpm=1 1\n', 'features,vehicle=a x=1 1\n', '# comment\n', 'telemetry,vehicle=b rpm=2 2\n', 'telemetry_1m,vehicle=a mean_rpm=1 1\n', 'tele\\ metry,vehicle=a rpm=1 1'];
    const parts = splitByRetentionPolicy(Buffer.from(lines.join('')));
    expect(parts.map((p) => [p.retentionPolicy, p.data.toString()])).toEqual([
      ['raw_30d', lines[0]! + lines[3]!],
      [undefined, lines[1]! + lines[2]! + lines[4]! + lines[5]!],
    ]);
    const telemetryOnly = Buffer.from(lines[0]! + lines[3]!);
    expect(splitByRetentionPolicy(telemetryOnly)).toEqual([{ retentionPolicy: 'raw_30d', data: telemetryOnly }]);
  });
});
