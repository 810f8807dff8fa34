/**
 * What the ingest service itself reports (the session, the spool, InfluxDB writes, dead letters of
 * every stream): its `/metrics` families and its periodic `ingest stats` log line. Each stream
 * writes its own families after these (IngestStream.metrics).
 */
import type { ScrapeMetrics } from '../common/metrics.ts';
import type { Histogram } from 'prom-client';
import type { IngestStats } from './ingest-options.ts';

export function writeServiceMetrics(m: ScrapeMetrics, s: IngestStats, influxWriteSeconds: Histogram): void {
  m.counter('messages_in_total', 'MQTT messages received', s.messagesIn)
    .counter('dead_letters_total', 'Messages dead-lettered, by reason', Object.entries(s.deadLettersByReason).map(([reason, n]) => [{ reason }, n] as [Record<string, string>, number]))
    .gauge('spool_bytes', 'Bytes in the spool on disk', s.spool.bytes)
    .gauge('spool_pending_bytes', 'Spooled bytes not yet written to InfluxDB', s.spool.pendingBytes)
    .gauge('spool_segments', 'Spool segment files', s.spool.segments)
    .counter('spool_full_waits_total', 'Times an acknowledgement waited for spool space', s.spool.fullWaits)
    .counter('spool_write_errors_total', 'Spool writes the file system refused (disk full, I/O error); each is retried, acknowledgements wait', s.spool.writeErrors)
    .gauge('spool_write_failing', '1 while spool writes fail and acknowledgements are held', s.spool.writeError !== undefined ? 1 : 0)
    .gauge('spool_disk_free_bytes', 'Free bytes on the spool\'s file system', s.spool.diskFreeBytes)
    .gauge('spool_disk_low', '1 while free space under the spool is below the low-disk watermark', s.spool.lowDisk ? 1 : 0)
    .gauge('dead_letters_unstored', 'Dead letters kept in memory until the spool appends again', s.deadLettersUnstored)
    .counter('dead_letters_lost_total', 'Dead letters never stored (dropped at the in-memory bound, or left at a stop on a full disk)', s.deadLettersLost)
    .counter('spool_retention_overrides_total', 'Times a full spool freed segments still needed by open windows', s.spool.retentionOverrides)
    .counter('spool_appended_bytes_total', 'Bytes appended to the spool', s.spool.appendedBytes)
    .counter('influx_writes_total', 'Successful InfluxDB writes', s.writer.writes)
    .counter('influx_write_failures_total', 'Failed InfluxDB writes (retried)', s.writer.writeFailures)
    .counter('influx_points_written_total', 'Points written to InfluxDB', s.writer.linesWritten)
    .counter('influx_rejected_chunks_total', 'Chunks InfluxDB rejected as malformed', s.writer.rejectedChunks)
    .histogram(influxWriteSeconds)
    .gauge('mqtt_connected', '1 while connected to the broker', s.mqttConnected ? 1 : 0);
}

/** Counts at the last `ingest stats` line, for the rates of the next. */
export interface StatsMark {
  messagesIn: number;
  samplesAccepted: number;
  at: number;
}

/** Fields of the `ingest stats` log line (rates since `last`), and the mark for the next one. */
export function statsLine(s: IngestStats, last: StatsMark, now = Date.now()): { fields: Record<string, number>; mark: StatsMark } {
  const seconds = (now - last.at) / 1000;
  return {
    fields: {
      msgPerS: Math.round((s.messagesIn - last.messagesIn) / seconds),
      samplesPerS: Math.round((s.samplesAccepted - last.samplesAccepted) / seconds),
      samplesTotal: s.samplesAccepted,
      deadLetters: s.deadLetters,
      openWindows: s.windows.openWindows,
      lateSamples: s.windows.lateSamples,
      spoolPendingBytes: s.spool.pendingBytes,
      writeFailures: s.writer.writeFailures,
    },
    mark: { messagesIn: s.messagesIn, samplesAccepted: s.samplesAccepted, at: now },
  };
}
