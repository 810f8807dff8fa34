/**
 * The streams every ingest worker runs, made from its options: telemetry always, the Parquet
 * archive with `archiveDir`, API logs with `apiLogs`, vehicle health always (its DTC history in
 * `health-state.json` beside the spool), then the caller's `streams`. Order matters
 * twice: a message goes to the first stream that accepts its topic, and metrics are written in
 * this order.
 */
import { join } from 'node:path';
import type { Logger } from '../../common/logger.ts';
import { ArchiveSink } from '../archive/archive-sink.ts';
import { ApiLogStateFile } from '../apilogs/api-log-state-file.ts';
import { DEFAULT_CLOCK_SANITY } from '../windows/clock-options.ts';
import type { IngestOptions } from '../ingest-options.ts';
import { ApiLogStream } from './api-log-stream.ts';
import { ArchiveStream } from './archive-stream.ts';
import type { IngestStream } from './ingest-stream.ts';
import { TelemetryStream } from './telemetry-stream.ts';
import { VehicleHealthStream } from './vehicle-health-stream.ts';
import { HealthStateFile } from '../health/health-state-file.ts';

export interface BuiltInStreams {
  /** Also in `all`; the service hands it window listeners. */
  telemetry: TelemetryStream;
  all: IngestStream[];
}

export function builtInStreams(options: IngestOptions, spoolDir: string, log: Logger): BuiltInStreams {
  const windowMs = options.windowMs ?? 30_000;
  // The archive holds the segments of rows not yet in a complete file (at-least-once, see ArchiveSink).
  const archive = options.archiveDir ? new ArchiveStream(new ArchiveSink({ ...options.archive, dir: options.archiveDir, worker: options.clientId, logger: log.child('archive') })) : undefined;
  const telemetry = new TelemetryStream({
    windows: {
      sizeMs: windowMs,
      slideMs: options.windowSlideMs ?? windowMs,
      allowedLatenessMs: options.allowedLatenessMs ?? 5_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
      maxVehicles: options.maxVehicles ?? 200_000,
      maxBufferedSamples: options.maxBufferedPoints ?? 2_000_000,
    },
    clock: options.clock ?? DEFAULT_CLOCK_SANITY,
    ...(archive ? { archive } : {}),
    logger: log,
  });
  const apiLogs = options.apiLogs ? new ApiLogStream(options.apiLogs, new ApiLogStateFile(join(spoolDir, 'api-log-state.json'), log.child('apilogs')), log) : undefined;
  const healthLog = log.child('health');
  const health = new VehicleHealthStream(new HealthStateFile(join(spoolDir, 'health-state.json'), healthLog), healthLog, { maxVehicles: options.maxVehicles ?? 200_000 });
  return { telemetry, all: [telemetry, ...(archive ? [archive] : []), ...(apiLogs ? [apiLogs] : []), health, ...(options.streams ?? [])] };
}
