import { opt } from '../../common/config.ts';
import { createLogger } from '../../common/logger.ts';
import { parseShardRanges, SHARD_COUNT } from '../../contracts/topics.ts';
import { IngestService } from '../../ingest/ingest-service.ts';
import { defineCommand } from '../command.ts';
import { sharedOptions } from '../shared-options.ts';

export const ingestOptions = {
  mqttUrl: sharedOptions.mqttUrl,
  influxUrl: sharedOptions.influxUrl,
  influxDatabase: sharedOptions.influxDatabase,
  clientId: opt.string('MQTT client id; the broker keeps this worker\'s session under it', { default: 'fleetpulse-ingest' }),
  shards: opt.parsed(`Shards this worker consumes, e.g. 0-31 or 0-7,32-39 (of 0-${SHARD_COUNT - 1})`, '<ranges>', parseShardRanges, { default: `0-${SHARD_COUNT - 1}` }),
  batchSize: opt.int('Points per InfluxDB write', { default: 5000, min: 1, max: 100_000 }),
  flushIntervalMs: opt.int('Longest time a point waits before it is written (ms)', { default: 200, min: 10, max: 60_000 }),
  maxBufferedPoints: opt.int('Points held in memory before back-pressure stops reading the broker', { default: 100_000, min: 1000 }),
  statsIntervalS: opt.int('Seconds between stats log lines (0 = off)', { default: 10, min: 0 }),
};

export default defineCommand({
  path: 'ingest',
  section: 'ingest',
  summary: 'Consume telemetry from the broker, validate it and write it to InfluxDB.',
  options: ingestOptions,
  async run(config) {
    if (config.maxBufferedPoints < config.batchSize) {
      const { ConfigError } = await import('../../common/errors.ts');
      throw new ConfigError('fleetpulse ingest', [{ field: 'maxBufferedPoints', message: `must be ≥ batchSize (${config.batchSize})` }]);
    }
    const service = new IngestService({ ...config, statsIntervalMs: config.statsIntervalS * 1000, logger: createLogger('ingest') });
    await service.start();
    return { stop: () => service.stop() };
  },
});
