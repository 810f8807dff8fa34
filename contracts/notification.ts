/**
 * Notifications, ingest → an operator's webhook receiver: one JSON body per state change (HTTP
 * POST), `schema` `fleetpulse.notification/1`. A reader must ignore unknown fields and refuse an
 * unknown `schema` version.
 *
 * Identity: `id` is the idempotency key of the state change, also sent as the `Idempotency-Key`
 * header. It is derived from what changed (for a vehicle alert: its alert id, state and the start
 * of the window that changed it), so every retry and every re-delivery after an ingest restart of
 * the same change carries the same `id` and the same body. A receiver that keeps the ids it has
 * processed sees each change once.
 *
 * Authenticity: `Fleetpulse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
 * The timestamp is signed with the body, so a receiver that refuses timestamps older than a few
 * minutes (`verifyNotificationSignature`, default 300 s) cannot be fed a recorded request again.
 * Each attempt is signed afresh; the body stays the same.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { alertMessageSchema } from './alerts.ts';

export const NOTIFICATION_SCHEMA = 'fleetpulse.notification/1';

/** Header names (lower case, as node:http hands them to a receiver). */
export const NOTIFICATION_HEADERS = {
  signature: 'fleetpulse-signature',
  idempotencyKey: 'idempotency-key',
  /** 1 for the first attempt of a delivery, 2 for its first retry, … */
  attempt: 'fleetpulse-delivery-attempt',
} as const;

/** What changed, as the notification's `kind` starts: `alert:<alert kind>`, `api_threat`, `ingest_health:<check>`, `test`. */
export const NOTIFICATION_CATEGORIES = ['alert', 'api_threat', 'ingest_health', 'test'] as const;

export const notificationThreatSchema = z.object({
  /** The API-log source (edge) that saw it. */
  source: z.string(),
  /** The abuse rule that fired and what it counts. */
  rule: z.string(),
  kind: z.string(),
  /** The client (IP address, API key) that was blocked. */
  subject: z.string(),
  count: z.number(),
  threshold: z.number(),
  windowMs: z.number(),
  firstMs: z.number(),
  lastMs: z.number(),
  blockUntilMs: z.number(),
});

export const notificationHealthSchema = z.object({
  /** `influxdb`, `spool` or `broker`. */
  check: z.string(),
  /** Ingest's own words (`/healthz`). */
  detail: z.string(),
});

export const notificationSchema = z.object({
  schema: z.literal(NOTIFICATION_SCHEMA),
  /** Idempotency key of the state change (see the module comment). */
  id: z.string().min(1),
  /** `alert:engine_anomaly` (the model), `alert:<other>` (further alert kinds, e.g. trouble codes), `api_threat`, `ingest_health:<check>`, `test`. */
  kind: z.string().min(1),
  state: z.enum(['raised', 'cleared']),
  /** What it is about: a vehicle id, a blocked client, or `ingest`. */
  subject: z.string(),
  /** Set for vehicle alerts. */
  vehicle: z.string().optional(),
  /** One line for people. */
  summary: z.string(),
  /** When the state changed (processing time, ms). */
  changedAtMs: z.number().int(),
  /** The notification rule that routed it here. */
  rule: z.string(),
  /** Sent by `fleetpulse notify test`: nothing changed. */
  test: z.boolean().optional(),
  /** The alert as ingest published it on MQTT (contracts/alerts.ts); any alert kind. */
  alert: alertMessageSchema.extend({ kind: z.string() }).optional(),
  threat: notificationThreatSchema.optional(),
  health: notificationHealthSchema.optional(),
});

export type Notification = z.infer<typeof notificationSchema>;

/** `t=<unix seconds>,v1=<hex>` for `body` (the exact bytes sent) signed at `timestampS`. */
export function signNotification(secret: string, body: string, timestampS: number): string {
  return `t=${timestampS},v1=${hmacHex(secret, `${timestampS}.${body}`)}`;
}

export type SignatureCheck = { ok: true; timestampS: number } | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'mismatch' };

/**
 * Checks a `Fleetpulse-Signature` header against the raw body as received (verify before parsing
 * JSON: a re-serialised body differs). Refuses timestamps more than `toleranceS` away from `nowMs`.
 */
export function verifyNotificationSignature(options: { secret: string; header: string | undefined; body: string | Uint8Array; nowMs?: number; toleranceS?: number }): SignatureCheck {
  if (!options.header) return { ok: false, reason: 'missing' };
  const parts = new Map(options.header.split(',').map((p) => p.trim().split('=', 2) as [string, string | undefined]));
  const t = parts.get('t');
  const v1 = parts.get('v1');
  if (!t || !/^\d{1,12}$/.test(t) || !v1 || !/^[0-9a-f]{64}$/.test(v1)) return { ok: false, reason: 'malformed' };
  const timestampS = Number(t);
  const nowS = (options.nowMs ?? Date.now()) / 1000;
  if (Math.abs(nowS - timestampS) > (options.toleranceS ?? 300)) return { ok: false, reason: 'stale' };
  const body = typeof options.body === 'string' ? options.body : Buffer.from(options.body).toString('utf8');
  const expected = Buffer.from(hmacHex(options.secret, `${t}.${body}`), 'hex');
  return timingSafeEqual(expected, Buffer.from(v1, 'hex')) ? { ok: true, timestampS } : { ok: false, reason: 'mismatch' };
}

function hmacHex(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('hex');
}
