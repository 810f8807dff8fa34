/**
 * Storage benchmark: bytes per vehicle per day in InfluxDB, raw and rolled up.
 *
 *   npm run bench:storage -- [--vehicles 20] [--hz 1] [--schedule daily|continuous]
 *
 * Simulated vehicles (simulator/fleet-plan.ts, realistic trips with `daily`, driving all day with
 * `continuous`) each produce one UTC day of samples at `hz`, written as ingest writes them (line
 * protocol of ingest/influxdb/line-protocol.ts into `raw_30d`, retention policies of
 * ingest/influxdb/retention-policies.ts); the day is then rolled up by the CQ's own SELECT
 * (`backfillRollup`). influxd runs with cold-shard snapshot and full compaction after 1 s, so what
 * is measured is the compacted TSM on disk (WAL empty), as a shard looks once its day is over.
 * Reported: samples per vehicle-day, bytes per vehicle-day of raw_30d and rollup_1y shards, bytes
 * per sample, and the disk a fleet needs for a year under the default retention (30 d raw,
 * 365 d rollup).
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { telemetryLines } from '../ingest/influxdb/line-protocol.ts';
import { influxClient, ensureDatabase } from '../ingest/influxdb/influx-admin.ts';
import { startLocalInfluxd } from '../ingest/influxdb/local-influxd.ts';
import { backfillRollup, DEFAULT_RETENTION, ensureRetention } from '../ingest/influxdb/retention-policies.ts';
import { RAW, ROLLUP } from '../ingest/influxdb/rollups.ts';
import { generateVehicleSamples } from '../simulator/fleet-generator.ts';
import { planFleet } from '../simulator/fleet-plan.ts';
import { SimulatedVehicle } from '../simulator/simulated-vehicle.ts';
import type { Sample } from '../contracts/telemetry.ts';

const { values } = parseArgs({ options: { vehicles: { type: 'string', default: '20' }, hz: { type: 'string', default: '1' }, schedule: { type: 'string', default: 'daily' } } });
const VEHICLES = Number(values.vehicles);
const HZ = Number(values.hz);
const SCHEDULE = values.schedule === 'continuous' ? 'continuous' : 'daily';
const DB = 'bench_storage';
const DAY_MS = 86_400_000;
const FLEET = 10_000;

function bytesUnder(dir: string, suffix?: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || (suffix && !entry.name.endsWith(suffix))) continue;
    total += statSync(join(entry.parentPath, entry.name)).size;
  }
  return total;
}

const dirBytes = (dir: string, suffix?: string): number => {
  try {
    return bytesUnder(dir, suffix);
  } catch {
    return 0;
  }
};

const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-bench-storage-'));
// Snapshot and fully compact a shard 1 s after its last write instead of 10 min / 4 h later.
process.env.INFLUXDB_DATA_CACHE_SNAPSHOT_WRITE_COLD_DURATION = '1s';
process.env.INFLUXDB_DATA_COMPACT_FULL_WRITE_COLD_DURATION = '1s';
const influxd = await startLocalInfluxd({ dataDir: dir, port: 0 });
try {
  const client = influxClient(influxd.url, DB, 120_000);
  await ensureDatabase(client, DB);
  await ensureRetention(client, DB, DEFAULT_RETENTION);
  // Yesterday (UTC): inside both RPs.
  const dayStart = Math.floor(Date.now() / DAY_MS) * DAY_MS - DAY_MS;
  const specs = planFleet({ vehicles: VEHICLES, idPrefix: 'store-', seed: 5, faultyFraction: 0.2, startMs: dayStart - 5 * DAY_MS, schedule: SCHEDULE });
  let samples = 0;
  let lineBytes = 0;
  for (const spec of specs) {
    let batch: Sample[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const body = telemetryLines({ v: 1, vehicle: spec.vehicleId, seq: 0, samples: batch });
      lineBytes += Buffer.byteLength(body);
      const response = await fetch(`${influxd.url}/write?db=${DB}&rp=${RAW.retentionPolicy}&precision=ns`, { method: 'POST', body });
      if (response.status !== 204) throw new Error(`write failed: ${response.status} ${await response.text()}`);
      batch = [];
    };
    for (const s of generateVehicleSamples(spec, 5, dayStart, dayStart + DAY_MS, HZ)) {
      batch.push(SimulatedVehicle.toWire(s) as Sample);
      samples += 1;
      if (batch.length >= 5000) await flush();
    }
    await flush();
  }
  await backfillRollup(client, DB, dayStart, dayStart + DAY_MS);

  const shardDir = (rp: string): string => join(dir, 'data', DB, rp);
  const walDir = join(dir, 'wal', DB);
  // Poll until the WAL is snapshotted and the TSM sizes stop changing (compaction done).
  let last = '';
  let stableSince = Date.now();
  const deadline = Date.now() + 180_000;
  for (;;) {
    const now = `${dirBytes(shardDir(RAW.retentionPolicy), '.tsm')}/${dirBytes(shardDir(ROLLUP.retentionPolicy), '.tsm')}/${dirBytes(walDir, '.wal')}`;
    if (now !== last) {
      last = now;
      stableSince = Date.now();
    }
    if (dirBytes(walDir, '.wal') === 0 && Date.now() - stableSince > 5000) break;
    if (Date.now() > deadline) {
      console.error('compaction did not settle within 180 s; sizes may include WAL');
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const raw = dirBytes(shardDir(RAW.retentionPolicy));
  const rollup = dirBytes(shardDir(ROLLUP.retentionPolicy));
  const rollupPoints = Number(((await client.queryRaw(`SELECT count(mean_rpm) FROM "${ROLLUP.retentionPolicy}"."${ROLLUP.measurement}"`)) as { results: Array<{ series?: Array<{ values: number[][] }> }> }).results[0]?.series?.[0]?.values[0]?.[1] ?? 0);

  const perVehicle = (n: number): number => n / VEHICLES;
  const rawPerDay = perVehicle(raw);
  const rollupPerDay = perVehicle(rollup);
  const { rawDays, rollupDays } = DEFAULT_RETENTION;
  const fleetBytes = FLEET * (rawPerDay * rawDays + rollupPerDay * rollupDays);
  const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(2)} MiB`;
  const gib = (n: number): string => `${(n / 1024 ** 3).toFixed(1)} GiB`;
  console.log(JSON.stringify({ vehicles: VEHICLES, hz: HZ, schedule: SCHEDULE, samples, lineProtocolBytes: lineBytes, rawShardBytes: raw, rollupShardBytes: rollup, rollupPoints }));
  console.log(`samples per vehicle-day           ${(samples / VEHICLES).toFixed(0)} (${HZ} Hz, ${SCHEDULE} schedule; ${((samples / VEHICLES / HZ) / 3600).toFixed(1)} h driving)`);
  console.log(`raw_30d per vehicle-day           ${(rawPerDay / 1024).toFixed(1)} KiB on disk (${(raw / samples).toFixed(1)} B per sample of ~${(lineBytes / samples).toFixed(0)} B line protocol)`);
  console.log(`rollup_1y per vehicle-day         ${(rollupPerDay / 1024).toFixed(1)} KiB on disk (${(rollupPoints / VEHICLES).toFixed(0)} one-minute points)`);
  console.log(`10,000 vehicles, a year, defaults ${gib(fleetBytes)} (raw ${rawDays} d: ${gib(FLEET * rawPerDay * rawDays)}, rollup ${rollupDays} d: ${gib(FLEET * rollupPerDay * rollupDays)})`);
  console.log(`per vehicle and day, both         ${mib(rawPerDay + rollupPerDay)}`);
} finally {
  await influxd.stop();
  rmSync(dir, { recursive: true, force: true });
}
