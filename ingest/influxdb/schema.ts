/**
 * How fleetpulse data is laid out in InfluxDB: one place for measurement names, tags and fields.
 *
 *   telemetry      tag vehicle; one float field per signal (lower-case name); time = event time
 *   dead_letters   tags reason, kind; fields topic, detail, payload, bytes; time = receive time
 *
 * A point's identity in InfluxDB is (measurement, tags, time). Telemetry uses the sample's event
 * time and the vehicle tag only, so a redelivered batch overwrites the same points instead of
 * adding rows. Values with many distinct values (topics, payloads) are fields, never tags.
 */
import type { IPoint } from 'influx';
import type { TelemetryBatch } from '../../contracts/telemetry.ts';
import { signalField } from '../../contracts/signals.ts';

export const MEASUREMENTS = {
  telemetry: 'telemetry',
  deadLetters: 'dead_letters',
} as const;

/** Timestamps are written in milliseconds except dead letters (see below). */
export const TELEMETRY_PRECISION = 'ms' as const;

export function telemetryPoints(batch: TelemetryBatch): IPoint[] {
  const points: IPoint[] = new Array(batch.samples.length);
  for (let i = 0; i < batch.samples.length; i++) {
    const sample = batch.samples[i]!;
    const fields: Record<string, number> = {};
    for (const key in sample) {
      if (key !== 't') fields[signalField(key)] = (sample as Record<string, number>)[key]!;
    }
    points[i] = { measurement: MEASUREMENTS.telemetry, tags: { vehicle: batch.vehicle }, fields, timestamp: sample.t };
  }
  return points;
}

/** Dead letters keep at most this many bytes of the offending payload. */
export const DEAD_LETTER_PAYLOAD_BYTES = 4096;

export interface DeadLetter {
  /** A short code: one of the decoder's reasons, or `internal_error`. */
  reason: string;
  kind: string;
  topic: string;
  detail: string;
  payload: Uint8Array;
  receivedAtMs: number;
}

/**
 * Dead letters arrive at receive time, several may share a millisecond, and identical tags with
 * identical times would overwrite each other: the timestamp is in nanoseconds with a per-process
 * sequence number in the sub-millisecond digits.
 */
let deadLetterSequence = 0;

export function deadLetterPoint(letter: DeadLetter): IPoint {
  deadLetterSequence = (deadLetterSequence + 1) % 1_000_000;
  const bytes = Buffer.from(letter.payload.buffer, letter.payload.byteOffset, letter.payload.byteLength);
  const head = bytes.subarray(0, DEAD_LETTER_PAYLOAD_BYTES);
  const printable = /^[\x09\x0a\x0d\x20-\x7e]*$/.test(head.toString('latin1'));
  return {
    measurement: MEASUREMENTS.deadLetters,
    tags: { reason: letter.reason, kind: letter.kind },
    fields: {
      topic: letter.topic,
      detail: letter.detail,
      payload: printable ? head.toString('utf8') : `base64:${head.toString('base64')}`,
      bytes: bytes.byteLength,
    },
    timestamp: `${BigInt(letter.receivedAtMs) * 1_000_000n + BigInt(deadLetterSequence)}`,
  };
}
