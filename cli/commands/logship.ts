/** `fleetpulse logship --file PATH`: ship an nginx access log to the broker (see api/logship/log-shipper.ts). */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { opt } from '../../common/config.ts';
import { createLogger } from '../../common/logger.ts';
import { VEHICLE_ID_PATTERN } from '../../contracts/topics.ts';
import { LogShipper } from '../../api/logship/log-shipper.ts';
import { defineCommand } from '../command.ts';
import { sharedOptions } from '../shared-options.ts';

export const logshipOptions = {
  file: opt.string('The access log to follow (JSON format of api/nginx/nginx.conf.template)'),
  source: opt.string('Name of this log source (topic apilogs/<source>)', { default: hostname().replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64) || 'edge', pattern: VEHICLE_ID_PATTERN, patternHint: 'letters, digits, _ . - (max 64)' }),
  mqttUrl: sharedOptions.mqttUrl,
  username: opt.string('Broker username (role logship)', { required: false }),
  password: opt.string('Broker password (prefer FLEETPULSE_LOGSHIP_PASSWORD)', { required: false }),
  stateDir: opt.string('Checkpoint and disk buffer directory (default <dataDir>/logship/<source>-<hash of file>)', { default: '-' }),
  pollMs: opt.int('How often the file is checked, ms', { default: 200, min: 10, max: 10_000 }),
  flushMs: opt.int('Longest a line waits before its batch is cut, ms', { default: 500, min: 10, max: 60_000 }),
  batchLines: opt.int('Lines per batch at most', { default: 1000, min: 1, max: 10_000 }),
  bufferMb: opt.int('Disk buffer bound, MiB; when full, reading pauses (the log keeps the backlog)', { default: 256, min: 1 }),
  inflight: opt.int('Batches sent and not yet acknowledged, at most', { default: 16, min: 1, max: 1000 }),
  rotateGraceMs: opt.int('After a rename rotation, how long the old file must stay unchanged before switching, ms', { default: 1000, min: 0, max: 60_000 }),
  fsync: opt.boolean('fsync the buffer and checkpoint (survives power loss, slower)', { default: false }),
  dataDir: sharedOptions.dataDir,
};

export default defineCommand({
  path: 'logship',
  section: 'logship',
  summary: 'Tail an nginx access log and ship it to the broker (apilogs/<source>), surviving rotation and restarts.',
  options: logshipOptions,
  async run(config) {
    const file = resolve(config.file);
    const stateDir = config.stateDir === '-' ? join(resolve(config.dataDir), 'logship', `${config.source}-${createHash('sha1').update(file).digest('hex').slice(0, 8)}`) : resolve(config.stateDir);
    const shipper = new LogShipper({
      file,
      source: config.source,
      mqttUrl: config.mqttUrl,
      username: config.username,
      password: config.password,
      // The broker binds client ids to identities: `<username>:<suffix>`.
      clientId: config.username ? `${config.username}:logship-${config.source}` : `logship-${config.source}`,
      stateDir,
      pollIntervalMs: config.pollMs,
      flushIntervalMs: config.flushMs,
      maxBatchLines: config.batchLines,
      maxBatchBytes: 256 * 1024,
      bufferMaxBytes: config.bufferMb * 1024 * 1024,
      maxInflight: config.inflight,
      rotateGraceMs: config.rotateGraceMs,
      fsync: config.fsync,
      logger: createLogger('logship'),
    });
    shipper.start();
    return { stop: () => shipper.stop() };
  },
});
