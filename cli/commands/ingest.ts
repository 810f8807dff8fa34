import { join, resolve } from 'node:path';
import { opt } from '../../common/config.ts';
import { createLogger } from '../../common/logger.ts';
import { parseShardRanges, SHARD_COUNT } from '../../contracts/topics.ts';
import { IngestService } from '../../ingest/ingest-service.ts';
import { apiLogOptions, createApiLogProcessor } from '../../ingest/apilogs/api-log-options.ts';
import { clockOptions, clockSanityOf } from '../../ingest/windows/clock-options.ts';
import { retentionOptions, retentionSettingsOf } from '../../ingest/influxdb/retention-options.ts';
import { attachScoring, scoringOptions } from '../../ingest/scoring/scoring-options.ts';
import { assertDashboardPortFree, dashboardOptions, startConfiguredDashboard } from '../../ingest/dashboard/dashboard-options.ts';
import { attachNotifications, notifyOptions, validateNotifications } from '../../ingest/notify/notify-options.ts';
import type { Notifier } from '../../ingest/notify/notifier.ts';
import { defineCommand } from '../command.ts';
import { sharedOptions } from '../shared-options.ts';

export const ingestOptions = {
  mqttUrl: sharedOptions.mqttUrl,
  influxUrl: sharedOptions.influxUrl,
  influxDatabase: sharedOptions.influxDatabase,
  dataDir: sharedOptions.dataDir,
  username: opt.string('Broker username of this worker (a device with role ingest)', { required: false }),
  password: opt.string('Broker password (prefer the environment: FLEETPULSE_INGEST_PASSWORD)', { required: false }),
  clientId: opt.string('MQTT client id; the broker keeps this worker\'s session under it', { default: 'fleetpulse-ingest' }),
  shards: opt.parsed(`Shards this worker consumes, e.g. 0-31 or 0-7,32-39 (of 0-${SHARD_COUNT - 1})`, '<ranges>', parseShardRanges, { default: `0-${SHARD_COUNT - 1}` }),
  spoolDir: opt.string('Write-ahead spool directory (default <dataDir>/ingest-spool/<influxDatabase>/<clientId>)', { default: '-' }),
  archiveDir: opt.string('Raw telemetry Parquet archive directory (date=YYYY-MM-DD partitions); - = off', { default: '-' }),
  archiveMaxRows: opt.int('Archive: samples per Parquet file at most (a file is also cut archiveMaxAgeS after its first sample)', { default: 50_000, min: 100, max: 5_000_000 }),
  archiveRetentionDays: opt.int('Archive: day directories (date=YYYY-MM-DD) whose day ended more than this many days ago are deleted, hourly; 0 = kept forever', { default: 365, min: 0, max: 36_500 }),
  archiveMaxAgeS: opt.int('Archive: longest time a sample waits before its file is written, seconds', { default: 60, min: 1, max: 3600 }),
  spoolMaxMb: opt.int('Spool bound in MiB; when full, acknowledgements wait (back-pressure on the broker)', { default: 1024, min: 2 }),
  spoolSegmentMb: opt.int('Spool segment size in MiB (space is freed a segment at a time)', { default: 8, min: 1 }),
  spoolFsync: opt.oneOf(['interval', 'always', 'never'] as const, 'When the spool is fsynced: always = before each acknowledgement (survives power loss), interval = every spoolFsyncIntervalMs, never = by the kernel', { default: 'interval' }),
  spoolFsyncIntervalMs: opt.int('Period of background fsync with spoolFsync=interval (ms)', { default: 1000, min: 10, max: 60_000 }),
  spoolLowDiskMb: opt.int('Low-disk watermark in MiB: less free space under the spool makes /healthz degraded, before a full disk holds acknowledgements', { default: 512, min: 0 }),
  batchSize: opt.int('Points per InfluxDB write (approximate: writes are cut at batchSize × 128 bytes of line protocol)', { default: 8192, min: 1, max: 500_000 }),
  flushIntervalMs: opt.int('Longest time data waits in the spool before it is written (ms)', { default: 200, min: 10, max: 60_000 }),
  windowS: opt.int('Window size, seconds of event time', { default: 30, min: 1, max: 86_400 }),
  windowSlideS: opt.int('Slide of sliding windows in seconds; 0 = tumbling (slide = window)', { default: 0, min: 0, max: 86_400 }),
  allowedLatenessS: opt.int('How late (event time) a sample may be and still count in its window, seconds', { default: 5, min: 0, max: 86_400 }),
  idleTimeoutS: opt.int('A vehicle quiet for this long (processing time) gets its open windows closed, seconds', { default: 60, min: 1, max: 86_400 }),
  maxVehicles: opt.int('Vehicles with window state; beyond, the least recently seen is evicted (its windows closed early)', { default: 200_000, min: 1 }),
  maxWindowSamples: opt.int('Samples held in open windows over all vehicles; beyond, windows are closed early', { default: 2_000_000, min: 1000 }),
  httpPort: opt.int('Port of /healthz and /metrics (0 = any free port)', { default: 9464, min: 0, max: 65535 }),
  httpHost: opt.string('Address of the /healthz and /metrics server', { default: '127.0.0.1' }),
  statsIntervalS: opt.int('Seconds between stats log lines (0 = off)', { default: 10, min: 0 }),
  ...retentionOptions,
  ...clockOptions,
  ...apiLogOptions,
  ...scoringOptions,
  ...dashboardOptions(false),
  ...notifyOptions,
};

export default defineCommand({
  path: 'ingest',
  section: 'ingest',
  summary: 'Consume telemetry from the broker, window it per vehicle, and write telemetry and features to InfluxDB through a disk spool.',
  options: ingestOptions,
  async run(config) {
    const { ConfigError } = await import('../../common/errors.ts');
    if (config.spoolSegmentMb * 2 > config.spoolMaxMb) {
      throw new ConfigError('fleetpulse ingest', [{ field: 'spoolMaxMb', message: `must be at least twice spoolSegmentMb (${config.spoolSegmentMb})` }]);
    }
    if (config.windowSlideS > 0 && (config.windowSlideS > config.windowS || config.windowS % config.windowSlideS !== 0)) {
      throw new ConfigError('fleetpulse ingest', [{ field: 'windowSlideS', message: `must divide windowS (${config.windowS})` }]);
    }
    const notify = validateNotifications('fleetpulse ingest', config);
    const retention = retentionSettingsOf(config);
    await assertDashboardPortFree(config);
    const spoolDir = config.spoolDir === '-' ? join(resolve(config.dataDir), 'ingest-spool', config.influxDatabase, config.clientId) : resolve(config.spoolDir);
    const MiB = 1024 * 1024;
    const clock = clockSanityOf(config);
    const service = new IngestService({
      mqttUrl: config.mqttUrl,
      influxUrl: config.influxUrl,
      influxDatabase: config.influxDatabase,
      retention,
      clientId: config.clientId,
      ...(config.username ? { username: config.username } : {}),
      ...(config.password ? { password: config.password } : {}),
      shards: config.shards,
      spoolDir,
      ...(config.archiveDir !== '-' ? { archiveDir: resolve(config.archiveDir), archive: { maxRowsPerFile: config.archiveMaxRows, maxFileAgeMs: config.archiveMaxAgeS * 1000, retentionDays: config.archiveRetentionDays } } : {}),
      spoolMaxBytes: config.spoolMaxMb * MiB,
      spoolSegmentBytes: config.spoolSegmentMb * MiB,
      spoolFsync: config.spoolFsync,
      spoolFsyncIntervalMs: config.spoolFsyncIntervalMs,
      spoolLowDiskBytes: config.spoolLowDiskMb * MiB,
      batchSize: config.batchSize,
      flushIntervalMs: config.flushIntervalMs,
      windowMs: config.windowS * 1000,
      windowSlideMs: (config.windowSlideS || config.windowS) * 1000,
      allowedLatenessMs: config.allowedLatenessS * 1000,
      idleTimeoutMs: config.idleTimeoutS * 1000,
      maxVehicles: config.maxVehicles,
      maxBufferedPoints: config.maxWindowSamples,
      httpPort: config.httpPort,
      httpHost: config.httpHost,
      statsIntervalMs: config.statsIntervalS * 1000,
      logger: createLogger('ingest'),
      clock,
      apiLogs: await createApiLogProcessor(config, createLogger('apilogs'), clock),
    });
    const scoring = await attachScoring(service, config, createLogger('scoring'));
    // Attached before the start: changes decided while the spool replays are notified too.
    let notifier: Notifier | undefined;
    try {
      notifier = notify ? attachNotifications(service, notify, config, createLogger('notify')) : undefined;
    } catch (error) {
      await scoring?.close();
      throw error;
    }
    await service.start();
    const dashboard = await startConfiguredDashboard(service, config, { url: config.influxUrl, database: config.influxDatabase }, createLogger('dashboard'), notifier).catch(async (error: unknown) => {
      await service.stop();
      await scoring?.close();
      await notifier?.close();
      throw error;
    });
    return {
      stop: async () => {
        await dashboard?.close();
        await service.stop();
        await scoring?.close();
        // Last: alerts decided while ingest drains are still queued.
        await notifier?.close();
      },
    };
  },
});
