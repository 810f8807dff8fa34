/**
 * Options and stats of IngestService (ingest-service.ts), apart so that the built-in streams can be
 * made from the options (streams/built-in-streams.ts) without importing the service.
 */
import type { Logger } from '../common/logger.ts';
import type { ConnectionCounters } from '../common/mqtt-connection.ts';
import type { ArchiveSinkOptions, ArchiveStats } from './archive/archive-sink.ts';
import type { ApiLogProcessor } from './apilogs/api-log-processor.ts';
import type { RetentionSettings } from './influxdb/retention-policies.ts';
import type { FsyncPolicy, SpoolStats } from './spool/disk-spool.ts';
import type { SpoolForwarderStats } from './spool/spool-forwarder.ts';
import type { ClockSanityOptions } from './windows/clock-options.ts';
import type { IngestDeadLetterReason, IngestStream } from './streams/ingest-stream.ts';
import type { TelemetryStats } from './streams/telemetry-stream.ts';
import type { VehicleHealthStats } from './streams/vehicle-health-stream.ts';

export interface IngestOptions {
  mqttUrl: string;
  /** Broker credentials of this worker (role `ingest`). */
  username?: string;
  password?: string;
  /** MQTT keep-alive, seconds. Default 30. */
  keepaliveS?: number;
  /**
   * Reconnect delay ceilings, ms (exponential backoff with full jitter). Default 500 … 5,000: a few
   * server-side clients, not a fleet, so a short ceiling; mqtt.js retried every 1 s.
   */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  influxUrl: string;
  influxDatabase: string;
  /** Retention policies and the telemetry rollup, applied at start (default DEFAULT_RETENTION: raw 30 d, rollup 365 d). */
  retention?: RetentionSettings;
  clientId: string;
  shards: readonly number[];
  /**
   * Where the spool lives. One directory per worker and database: a spool is replayed into the
   * database it is configured with. Without it a temporary directory is used (nothing survives a
   * restart), which suits tests and library use only.
   */
  spoolDir?: string;
  /** Raw telemetry Parquet archive (ingest/archive/); off when absent. */
  archiveDir?: string;
  archive?: Omit<ArchiveSinkOptions, 'dir' | 'worker' | 'logger'>;
  spoolMaxBytes?: number;
  spoolSegmentBytes?: number;
  spoolFsync?: FsyncPolicy;
  spoolFsyncIntervalMs?: number;
  /** Free space on the spool's file system below which `/healthz` says `degraded` (default 512 MiB). */
  spoolLowDiskBytes?: number;
  /** Bytes per InfluxDB write (default 1 MiB). */
  writeBatchBytes?: number;
  /** Approximate points per InfluxDB write; used when writeBatchBytes is not given. */
  batchSize?: number;
  /** Longest time data waits in the spool before it is written when InfluxDB is up (ms). */
  flushIntervalMs: number;
  /** Samples held in open windows over all vehicles (default 2,000,000). */
  maxBufferedPoints?: number;
  windowMs?: number;
  /** Slide of sliding windows; equal to windowMs (the default) for tumbling windows. */
  windowSlideMs?: number;
  allowedLatenessMs?: number;
  idleTimeoutMs?: number;
  maxVehicles?: number;
  /** Port of the /healthz and /metrics server; undefined = no server, 0 = any free port. */
  httpPort?: number;
  httpHost?: string;
  statsIntervalMs?: number;
  logger?: Logger;
  /** API-log analytics (ingest/apilogs/); when given, `apilogs/#` is consumed too. */
  apiLogs?: ApiLogProcessor;
  /** Clock bounds of event times and forward-jump confirmation (default DEFAULT_CLOCK_SANITY). */
  clock?: ClockSanityOptions;
  /**
   * Further streams (e.g. vehicle health), after the built-in ones (telemetry, archive, API logs):
   * how a new kind of input is added without touching the service (docs/architecture.md).
   */
  streams?: readonly IngestStream[];
}

/** The service's own counters (the session, the spool, dead letters of every stream). */
export interface IngestServiceStats {
  messagesIn: number;
  deadLetters: number;
  deadLettersByReason: Partial<Record<IngestDeadLetterReason, number>>;
  /** Dead letters waiting in memory for the spool to append again. */
  deadLettersUnstored: number;
  /** Dead letters never stored: dropped at the in-memory bound or left at a stop. */
  deadLettersLost: number;
  spool: SpoolStats;
  writer: SpoolForwarderStats;
  mqttConnected: boolean;
  /** Broker connection counters (refused CONNACKs are `refusals`). */
  connection: ConnectionCounters;
}

/** `IngestService.stats()`: its own counters and those of the built-in streams (each stream's `stats()`). */
export type IngestStats = IngestServiceStats & TelemetryStats & VehicleHealthStats & { archive?: ArchiveStats };
