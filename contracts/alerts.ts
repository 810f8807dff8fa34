/**
 * Vehicle alerts, ingest → `topics.alerts(vehicleId)` (QoS 1, not retained), read by agents and
 * viewers. JSON, one alert state change per message: `raised` after the model flagged
 * `raiseAfterWindows` consecutive windows, `cleared` after `clearAfterWindows` normal ones.
 * A reader must ignore unknown fields and refuse an unknown `schema` version.
 *
 * Compatibility: `explanation` and `baseline` were added to version 1 as optional fields (readers
 * of version 1 ignore them, as the rule above says; messages without them still decode), so the
 * schema id stays `fleetpulse.alert/1`.
 *
 * Kinds: `engine_anomaly` (the model, through hysteresis) and, from the car's own diagnosis
 * (ingest/health/), `dtc` (a confirmed trouble code: raised when the code is confirmed, cleared
 * when it no longer is) and `mil` (the check-engine light: raised when it comes on, cleared when it
 * goes off) — both raised by the health event that showed the change, never delayed. They carry
 * `diagnosis`; their model fields are fixed (`modelVersion` 0, `score` = `threshold` = 1,
 * `windows` 1, `topFeatures` empty) and their window is the event's time. A reader written for
 * `engine_anomaly` only that pins `kind` refuses them (decodeAlert: undefined) and goes on.
 */
import { z } from 'zod';

export const ALERT_SCHEMA = 'fleetpulse.alert/1';

export const alertFeatureSchema = z.object({
  name: z.string(),
  value: z.number(),
  /** Robust z-score of `value` against the model's training windows (median and decile spread). */
  deviation: z.number(),
});

/** One signal that moved, against the car's own normal or the fleet's typical value. */
export const alertSignalSchema = z.object({
  /** Window feature (models/features.ts); its deviation from the baseline counts with it. */
  feature: z.string(),
  /** Logit the signal adds to the window's score (the score drop when it is left out). */
  contribution: z.number(),
  value: z.number().optional(),
  unit: z.string(),
  reference: z.enum(['own', 'fleet']),
  /** The car's normal (reference own) or the fleet's typical value, in `unit`. */
  normal: z.number().optional(),
  /** value − normal. */
  delta: z.number().optional(),
  /** The same in words: "coolant 11 °C above this car's normal at speed once warm". */
  phrase: z.string(),
});

export const alertMessageSchema = z.object({
  schema: z.literal(ALERT_SCHEMA),
  /** Stable per raised alert: `<vehicle>:<window start ms of the raising window>`; the clear repeats it. */
  alertId: z.string(),
  vehicle: z.string(),
  state: z.enum(['raised', 'cleared']),
  kind: z.enum(['engine_anomaly', 'dtc', 'mil']),
  /** Event time (ms) of the start of the window that changed the state. */
  windowStartMs: z.number().int(),
  windowEndMs: z.number().int(),
  modelVersion: z.number().int(),
  /** The changing window's score and the model's threshold (anomalous when score ≥ threshold). */
  score: z.number(),
  threshold: z.number(),
  /** Consecutive windows on this side of the threshold that triggered the change. */
  windows: z.number().int().positive(),
  /** Features furthest from the training data in the changing window, largest |deviation| first. */
  topFeatures: z.array(alertFeatureSchema).max(10),
  /** Processing time (ms) the change was decided. */
  emittedAtMs: z.number().int(),
  /**
   * What moved, largest contribution first, and the same in one sentence (`text`). For `cleared`:
   * where the signals that raised it stand now.
   */
  explanation: z.object({ text: z.string(), signals: z.array(alertSignalSchema).max(10) }).optional(),
  /** The vehicle's own baseline when the window was scored: learning (fleet evidence only) or learned. */
  baseline: z.object({ status: z.enum(['learning', 'learned']), progress: z.number().min(0).max(1) }).optional(),
  /** `dtc` and `mil` alerts: what the car's diagnosis said (contracts/vehicle-health.ts). */
  diagnosis: z
    .object({
      /** The code (`dtc`), or the confirmed codes when the MIL came on (`mil`). */
      codes: z.array(z.string()),
      /** Our description of each code (ingest/health/dtc-descriptions.ts), same order. */
      descriptions: z.array(z.string()),
      mil: z.boolean().nullable(),
      /** Seq of the health event that changed the state. */
      eventSeq: z.number().int(),
      freezeFrame: z.object({ dtc: z.string(), frame: z.number().int(), signals: z.record(z.string(), z.number()) }).nullable(),
    })
    .optional(),
});

export type AlertMessage = z.infer<typeof alertMessageSchema>;

export function encodeAlert(alert: AlertMessage): Buffer {
  return Buffer.from(JSON.stringify(alert));
}

/** Parses an alert payload; `undefined` when it is not a valid v1 alert. */
export function decodeAlert(payload: Uint8Array): AlertMessage | undefined {
  try {
    const parsed = alertMessageSchema.safeParse(JSON.parse(Buffer.from(payload).toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
