/**
 * The query API's requests and answers as zod schemas: requests are validated with them (a bad
 * parameter is a 400 naming it), and /openapi.json is generated from them (`z.toJSONSchema`,
 * JSON Schema 2020-12 as OpenAPI 3.1 uses), so the document cannot drift from the code.
 */
import { z } from 'zod';
import { VEHICLE_ID_PATTERN } from '../../contracts/topics.ts';
import { TOKEN_ROLES } from '../access/token-store.ts';

const limit = (max: number, fallback: number) => z.coerce.number().int().min(1).max(max).default(fallback).describe(`Items per page (1-${max})`);
const cursor = z.string().max(512).optional().describe('nextCursor of the previous page (opaque)');
const time = z
  .string()
  .regex(/^(\d{1,16}|\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d))$/, 'must be epoch milliseconds or an ISO 8601 time with zone')
  .transform((s) => (/^\d+$/.test(s) ? Number(s) : Date.parse(s)));

export const vehicleParams = z.object({ id: z.string().regex(VEHICLE_ID_PATTERN, 'must be a vehicle id') });
export const pageQuery = z.object({ limit: limit(1000, 100), cursor });

export const telemetryQuery = z.object({
  from: time.optional().describe('Start, epoch ms or ISO 8601 (default: to - 1 h)'),
  to: time.optional().describe('End, epoch ms or ISO 8601 (default: now)'),
  signals: z.string().max(1000).optional().describe('Comma-separated signal names (RPM,SPEED) or fields (rpm,speed); default: every signal'),
  every: z
    .string()
    .regex(/^\d{1,6}(s|m|h)$/, 'must be a duration such as 10s, 1m or 1h')
    .optional()
    .describe('Aggregate (mean) into buckets of this size; default: raw points for ranges up to 6 h, 1 m buckets beyond'),
  limit: limit(10_000, 1000),
  cursor,
});

export const alertsQuery = z.object({
  state: z.enum(['raised', 'cleared']).optional().describe('Only changes into this state'),
  since: time.optional().describe('Only changes at or after this time (default: 7 days ago)'),
  limit: limit(1000, 100),
  cursor,
});

export const vehicleState = z.enum(['learning', 'healthy', 'anomalous', 'offline']);

export const vehicleSchema = z.object({
  id: z.string(),
  state: vehicleState.describe('offline: no sample for offlineAfter; anomalous: alerting or latest window anomalous; learning: no learned baseline yet'),
  lastSeenMs: z.number().nullable().describe('Event time of the newest sample, epoch ms'),
  score: z.number().nullable(),
  threshold: z.number().nullable(),
  baseline: z.object({ status: z.enum(['learning', 'learned']), progress: z.number() }).nullable(),
  mil: z.boolean().nullable().describe('Check-engine lamp from the newest vehicle health event; null when unknown'),
  openAlerts: z.array(z.string()).describe('Ids of alerts raised and not cleared'),
});

export const alertSchema = z.object({
  alertId: z.string(),
  vehicle: z.string(),
  state: z.enum(['raised', 'cleared']),
  kind: z.string().describe('model (anomaly model), dtc or mil'),
  atMs: z.number(),
  score: z.number().nullable(),
  threshold: z.number().nullable(),
  text: z.string().nullable(),
});

export const dtcSchema = z.object({
  code: z.string(),
  kind: z.string(),
  state: z.string(),
  firstSeenMs: z.number().nullable(),
  lastSeenMs: z.number().nullable(),
  clearedMs: z.number().nullable(),
  description: z.string().nullable(),
  system: z.string().nullable(),
});

export const telemetrySchema = z.object({
  vehicle: z.string(),
  from: z.number(),
  to: z.number(),
  source: z.enum(['raw', 'raw_aggregated', 'rollup_1m']).describe('raw points, means of raw points, or means of the 1-minute rollup'),
  everyMs: z.number().nullable(),
  fields: z.array(z.string()),
  points: z.array(z.object({ t: z.number(), values: z.record(z.string(), z.number().nullable()) })),
  nextCursor: z.string().nullable(),
});

export const countrySchema = z.object({ country: z.string(), requests: z.number(), errors: z.number() });
export const threatSchema = z.object({
  key: z.string(),
  rule: z.string(),
  kind: z.string(),
  subject: z.string(),
  count: z.number(),
  threshold: z.number(),
  firstMs: z.number(),
  lastMs: z.number(),
  blockUntilMs: z.number(),
});
export const tokenSchema = z.object({ id: z.string(), name: z.string(), role: z.enum(TOKEN_ROLES), vehicles: z.array(z.string()).optional(), createdAt: z.string() });

/** `{ items, nextCursor }`: every list of the API. */
export function pageSchema<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable().describe('Pass as ?cursor= for the next page; null on the last') });
}

export type ApiVehicle = z.infer<typeof vehicleSchema>;
export type ApiAlert = z.infer<typeof alertSchema>;
export type ApiDtc = z.infer<typeof dtcSchema>;
export type ApiTelemetry = z.infer<typeof telemetrySchema>;

export const baselineResetBody = z.object({
  /** Why, recorded with the event (InfluxDB `baseline_events`): `repair`, `dtc_cleared`, or a few words. */
  reason: z.string().min(1).max(200).default('repair'),
});

export const baselineResetAccepted = z.object({ vehicle: z.string(), reason: z.string(), requestedAt: z.string() });
