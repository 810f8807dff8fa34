/**
 * The raw telemetry archive (archive/archive-sink.ts) as an ingest stream without topics: the
 * telemetry stream feeds it samples once they are durable in the spool (`AcceptedSamples`), and
 * it takes part in ingest through the stream seam for the rest — its timer runs from `start`, it
 * writes what it buffers at `stop`, its buffered rows hold their spool segments
 * (`retentionFloor`, so a crash replays them into it), and its metrics and stats.
 */
import type { Sample } from '../../contracts/telemetry.ts';
import type { ScrapeMetrics } from '../../common/metrics.ts';
import type { ArchiveSink, ArchiveStats } from '../archive/archive-sink.ts';
import type { IngestStream, StreamResult } from './ingest-stream.ts';
import type { AcceptedSamples } from './telemetry-stream.ts';

export class ArchiveStream implements IngestStream, AcceptedSamples {
  readonly name = 'archive';

  constructor(private readonly sink: ArchiveSink) {}

  add(vehicle: string, samples: readonly Sample[], segment: number): void {
    this.sink.add(vehicle, samples, segment);
  }

  retentionFloor(): number {
    return this.sink.retentionFloor();
  }

  start(): void {
    this.sink.start();
  }

  stop(): StreamResult | undefined {
    this.sink.close();
    return undefined;
  }

  stats(): { archive: ArchiveStats } {
    return { archive: this.sink.stats() };
  }

  metrics(m: ScrapeMetrics): void {
    const s = this.sink.stats();
    m.counter('archive_rows_written_total', 'Samples written to the Parquet archive (repeats after a restart included)', s.rowsWritten)
      .counter('archive_files_written_total', 'Parquet archive files completed', s.filesWritten)
      .counter('archive_bytes_written_total', 'Bytes of Parquet archive files completed', s.bytesWritten)
      .counter('archive_write_failures_total', 'Failed archive file writes (rows kept and retried)', s.writeFailures)
      .counter('archive_rows_dropped_total', 'Archive rows dropped at the buffer bound after failed writes', s.rowsDropped)
      .gauge('archive_rows_buffered', 'Samples waiting for the next archive file', s.rowsBuffered);
  }
}
