/**
 * The agent command's options for its buffer and its broker connection, and how they become
 * AgentOptions. Kept apart from cli/commands/agent.ts so the option tables and their checks
 * (files readable, certificate with key, TLS only on a TLS URL) live beside the code they set.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { opt } from '../common/config.ts';
import { ConfigError, errorMessage } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { ConnectionTls } from '../common/mqtt-connection.ts';
import type { AgentOptions } from './agent.ts';
import type { VehicleHealthEvent } from '../contracts/vehicle-health.ts';
import { HEALTH_MEMORY_EVENTS } from './agent.ts';
import type { BatchStore } from './batch-store.ts';
import { MemoryBatchStore } from './memory-batch-store.ts';
import { DEFAULT_LOW_DISK_BYTES, DEFAULT_MEMORY_HOLD_SAMPLES, SqliteBatchStore } from './sqlite-batch-store.ts';

export const agentBufferOptions = {
  buffer: opt.oneOf(['disk', 'memory'], 'Where batches wait for the broker\'s acknowledgement: disk (SQLite; survives restarts, kill -9 and power loss) or memory', { default: 'disk' }),
  bufferFile: opt.string('SQLite file of the disk buffer (default <dataDir>/agent/<vehicleId>.sqlite)', { required: false }),
  bufferMaxMb: opt.number('Disk buffer bound, MiB of stored batches; beyond it the oldest batches are dropped and counted', { default: 64, min: 0.01, max: 1_000_000 }),
  outboxSamples: opt.int('Bound of --buffer memory, in samples; beyond it the oldest batches are dropped and counted', { default: 100_000, min: 1 }),
  healthBufferMaxMb: opt.number('Disk buffer bound of vehicle health events (a file beside the telemetry buffer), MiB; beyond it the oldest events are dropped and counted', { default: 4, min: 0.01, max: 100_000 }),
  diskFullHoldSamples: opt.int('While the disk refuses writes (full), hold this many samples of new batches in memory and publish them from there; beyond it the oldest are dropped and counted', { default: DEFAULT_MEMORY_HOLD_SAMPLES, min: 1 }),
  lowDiskMb: opt.number('Warn when the disk buffer\'s file system has less free space than this, MiB', { default: DEFAULT_LOW_DISK_BYTES / 1048576, min: 0, max: 1_000_000 }),
  drainSamplesPerS: opt.number('After an outage, send the backlog at most this fast (samples/s)', { default: 500, min: 1, max: 1_000_000 }),
  drainOrder: opt.oneOf(['in-order', 'live-first'], 'During a backlog drain, new batches wait behind it (in-order: ingest computes windows for the outage) or overtake it (live-first: fresh data first; the backlog is stored raw only)', { default: 'in-order' }),
  maxInflight: opt.int('Batches published and not yet acknowledged, at most', { default: 8, min: 1, max: 1000 }),
  statsIntervalS: opt.int('How often the agent logs its counters, seconds (0 = never)', { default: 60, min: 0, max: 86_400 }),
};

export const agentConnectionOptions = {
  username: opt.string('Broker username (one identity per vehicle: `fleetpulse devices add`)', { required: false }),
  password: opt.string('Broker password (prefer FLEETPULSE_AGENT_PASSWORD)', { required: false }),
  tlsCa: opt.string('CA certificate (PEM file) that signed the broker\'s certificate, for mqtts:// or wss://', { required: false }),
  tlsCert: opt.string('Client certificate (PEM file) for mutual TLS; needs --tls-key', { required: false }),
  tlsKey: opt.string('Private key (PEM file) of --tls-cert', { required: false }),
  keepaliveS: opt.int('MQTT keep-alive, seconds: how soon a silent dead connection is noticed', { default: 30, min: 5, max: 3600 }),
  reconnectMinMs: opt.int('First reconnect delay ceiling, ms (exponential backoff with full jitter)', { default: 500, min: 10, max: 600_000 }),
  reconnectMaxMs: opt.int('Largest reconnect delay ceiling, ms', { default: 30_000, min: 10, max: 3_600_000 }),
  sendTime: opt.boolean('Stamp every publish with this clock (sentAt) so ingest can measure its skew; --no-send-time only while an older ingest still runs', { default: true }),
};

interface BufferConfig {
  vehicleId: string;
  dataDir: string;
  buffer: 'disk' | 'memory';
  bufferFile?: string | undefined;
  bufferMaxMb: number;
  healthBufferMaxMb: number;
  outboxSamples: number;
  diskFullHoldSamples: number;
  lowDiskMb: number;
}

interface ConnectionConfig {
  mqttUrl: string;
  tlsCa?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  statsIntervalS: number;
}

export function defaultBufferFile(dataDir: string, vehicleId: string): string {
  return join(dataDir, 'agent', `${vehicleId}.sqlite`);
}

/** Opens the configured store (a disk store takes its file's lock here). */
export function storeFromConfig(config: BufferConfig, logger: Logger): BatchStore {
  if (config.buffer === 'memory') return new MemoryBatchStore(config.outboxSamples);
  const file = config.bufferFile ?? defaultBufferFile(config.dataDir, config.vehicleId);
  const store = new SqliteBatchStore({ file, vehicleId: config.vehicleId, maxBytes: Math.round(config.bufferMaxMb * 1024 * 1024), memoryHoldSamples: config.diskFullHoldSamples, lowDiskBytes: Math.round(config.lowDiskMb * 1024 * 1024), logger });
  logger.info('disk buffer open', { file, boundMb: config.bufferMaxMb, ...store.stats() });
  return store;
}

/** The health events' file beside the telemetry buffer: `car-7.sqlite` → `car-7.health.sqlite`. */
export function healthBufferFile(bufferFile: string): string {
  return bufferFile.endsWith('.sqlite') ? `${bufferFile.slice(0, -'.sqlite'.length)}.health.sqlite` : `${bufferFile}.health`;
}

/** Opens the store of vehicle health events: disk or memory as the telemetry buffer (a disk store takes its file's lock here). */
export function healthStoreFromConfig(config: BufferConfig, logger: Logger): BatchStore<VehicleHealthEvent> {
  if (config.buffer === 'memory') return new MemoryBatchStore<VehicleHealthEvent>(HEALTH_MEMORY_EVENTS);
  const file = healthBufferFile(config.bufferFile ?? defaultBufferFile(config.dataDir, config.vehicleId));
  const store = new SqliteBatchStore<VehicleHealthEvent>({ file, vehicleId: config.vehicleId, maxBytes: Math.round(config.healthBufferMaxMb * 1024 * 1024), memoryHoldSamples: HEALTH_MEMORY_EVENTS, lowDiskBytes: Math.round(config.lowDiskMb * 1024 * 1024), logger });
  logger.info('health buffer open', { file, boundMb: config.healthBufferMaxMb, events: store.stats().queuedBatches });
  return store;
}

/** TLS material and timing of AgentOptions, checked: fails naming the field. */
export function connectionFromConfig(config: ConnectionConfig): Pick<AgentOptions, 'tls' | 'statsIntervalMs'> {
  const issues: Array<{ field: string; message: string }> = [];
  const tlsUrl = /^(mqtts|wss):/.test(config.mqttUrl);
  if (config.reconnectMaxMs < config.reconnectMinMs) issues.push({ field: 'reconnectMaxMs', message: 'must not be below reconnectMinMs' });
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) issues.push({ field: config.tlsCert === undefined ? 'tlsCert' : 'tlsKey', message: 'tlsCert and tlsKey go together' });
  const tls: ConnectionTls = {};
  for (const [field, key] of [['tlsCa', 'ca'], ['tlsCert', 'cert'], ['tlsKey', 'key']] as const) {
    const file = config[field];
    if (file === undefined) continue;
    if (!tlsUrl) {
      issues.push({ field, message: `needs an mqtts:// or wss:// mqttUrl (got ${config.mqttUrl})` });
      continue;
    }
    try {
      tls[key] = readFileSync(file);
    } catch (error) {
      issues.push({ field, message: `cannot read ${file}: ${errorMessage(error)}` });
    }
  }
  if (issues.length > 0) throw new ConfigError('agent', issues);
  return { ...(Object.keys(tls).length > 0 ? { tls } : {}), statsIntervalMs: config.statsIntervalS * 1000 };
}
