/**
 * Telemetry batch, wire version 1 (agent → ingest on `fleet/{shard}/{vehicle}/telemetry`).
 *
 *   { "v": 1, "vehicle": "car-7", "seq": 42, "sentAt": 1763900002150,
 *     "samples": [ { "t": 1763900000123, "RPM": 812, "SPEED": 0, "COOLANT_TEMP": 88 }, … ] }
 *
 * - `seq` counts batches per vehicle, so ingest can see gaps and redeliveries.
 * - `sentAt` (optional, Unix ms): the agent's clock when it handed this very publish to MQTT (a resend
 *   is stamped again), so ingest can compare it with its own clock and measure the vehicle's clock
 *   skew. Any non-negative integer is valid: a clock years off is a finding for ingest, not a schema
 *   error. Absent in batches of older agents, which decode as before. An ingest older than the field
 *   dead-letters batches that carry it (`schema`, unrecognised key; in the compact form
 *   `malformed_compact`, unknown flag): upgrade ingest first, or run agents with `--no-send-time`.
 * - `t` is the event time in Unix milliseconds; within a batch it strictly increases, because
 *   ingest stores each sample under the key (vehicle, t) and two samples with one `t` would
 *   silently merge. That key is also what makes a redelivered batch overwrite, not duplicate.
 * - Signal names and ranges come from the signal catalogue; unknown names are rejected so a
 *   typo can never create a new InfluxDB field.
 * - The same batch may travel in the compact binary form of telemetry-compact.ts (first byte 0xFC,
 *   never the start of JSON); `decodeTelemetry` reads both and validates both with this schema.
 */
import { z } from 'zod';
import { SIGNALS } from './signals.ts';
import type { TelemetryBatch } from './telemetry-batch.ts';
import { decodeCompactTelemetry, isCompactTelemetry } from './telemetry-compact.ts';
import { VEHICLE_ID_PATTERN } from './topics.ts';

export const TELEMETRY_WIRE_VERSION = 1;
/** Upper bound on one message; larger payloads are dead-lettered before parsing. */
export const MAX_TELEMETRY_PAYLOAD_BYTES = 256 * 1024;
export const MAX_SAMPLES_PER_BATCH = 5000;
/** Event times outside this window cannot be right (2000-01-01 … 2100-01-01). */
export const MIN_EVENT_TIME_MS = 946_684_800_000;
export const MAX_EVENT_TIME_MS = 4_102_444_800_000;

// The batch's shape lives apart from both codecs (telemetry-batch.ts); the project reads it from here.
export type { Sample, SignalValues, TelemetryBatch } from './telemetry-batch.ts';

/** Each catalogue signal as an optional, finite number within its range (also used by vehicle-health.ts). */
export const signalValueShape = Object.fromEntries(
  SIGNALS.map((s) => [
    s.name,
    z
      .number()
      .refine(Number.isFinite, 'must be a finite number')
      .refine((x) => x >= s.min && x <= s.max, `must be within ${s.min}…${s.max} ${s.unit}`)
      .optional(),
  ]),
);

export const sampleSchema = z
  .strictObject({
    t: z.int().min(MIN_EVENT_TIME_MS).max(MAX_EVENT_TIME_MS),
    ...signalValueShape,
  })
  .refine((s) => Object.keys(s).length > 1, 'a sample needs at least one signal besides t');

export const telemetryBatchSchema = z
  .strictObject({
    v: z.literal(TELEMETRY_WIRE_VERSION),
    vehicle: z.string().regex(VEHICLE_ID_PATTERN, 'must be a valid vehicle id'),
    seq: z.int().min(0),
    sentAt: z.int().min(0).optional(),
    samples: z.array(sampleSchema).min(1).max(MAX_SAMPLES_PER_BATCH),
  })
  .superRefine((batch, ctx) => {
    for (let i = 1; i < batch.samples.length; i++) {
      if (batch.samples[i]!.t <= batch.samples[i - 1]!.t) {
        ctx.addIssue({ code: 'custom', path: ['samples', i, 't'], message: 'event times must strictly increase within a batch' });
        return;
      }
    }
  });

export type DeadLetterReason = 'too_large' | 'not_json' | 'malformed_compact' | 'schema' | 'topic_mismatch' | 'unknown_topic';

export type DecodeResult =
  | { ok: true; batch: TelemetryBatch }
  | { ok: false; reason: DeadLetterReason; detail: string };

/** Formats the first few zod issues as `path: message`, for dead letters and logs. */
export function describeIssues(error: z.ZodError, limit = 3): string {
  return error.issues
    .slice(0, limit)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

/**
 * Decodes and validates one telemetry message, JSON or compact (told apart by the first byte).
 * Never throws: every way a payload can be wrong
 * is a value the caller turns into a dead letter.
 */
export function decodeTelemetry(payload: Uint8Array, topicVehicleId: string): DecodeResult {
  if (payload.byteLength > MAX_TELEMETRY_PAYLOAD_BYTES) {
    return { ok: false, reason: 'too_large', detail: `${payload.byteLength} bytes > ${MAX_TELEMETRY_PAYLOAD_BYTES}` };
  }
  let json: unknown;
  if (isCompactTelemetry(payload)) {
    // The compact form (contracts/telemetry-compact.ts) decodes to the same object, validated below.
    const compact = decodeCompactTelemetry(payload);
    if (!compact.ok) return { ok: false, reason: 'malformed_compact', detail: compact.detail };
    json = compact.batch;
  } else {
    try {
      json = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
    } catch (error) {
      return { ok: false, reason: 'not_json', detail: error instanceof Error ? error.message : String(error) };
    }
  }
  const parsed = telemetryBatchSchema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: 'schema', detail: describeIssues(parsed.error) };
  if (parsed.data.vehicle !== topicVehicleId) {
    return { ok: false, reason: 'topic_mismatch', detail: `payload vehicle ${parsed.data.vehicle} published on the topic of ${topicVehicleId}` };
  }
  return { ok: true, batch: parsed.data as TelemetryBatch };
}

export function encodeTelemetry(batch: TelemetryBatch): Buffer {
  return Buffer.from(JSON.stringify(batch), 'utf8');
}
