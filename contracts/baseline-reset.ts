/**
 * Baseline reset, operator (`fleetpulse baseline reset`) or a cleared trouble code → the ingest
 * worker of the vehicle's shard, on `topics.baselineReset(vehicleId)` (QoS 1, not retained: a
 * reset happens once; the worker's persistent session keeps it while the worker is down).
 * The worker forgets the vehicle's learned normal, so the vehicle learns it again from its next
 * windows — after a repair the old normal (possibly learned with the fault present) is wrong.
 * A reader must ignore unknown fields and refuse an unknown `schema` version.
 */
import { z } from 'zod';

export const BASELINE_RESET_SCHEMA = 'fleetpulse.baseline-reset/1';

export const baselineResetSchema = z.object({
  schema: z.literal(BASELINE_RESET_SCHEMA),
  vehicle: z.string(),
  /** Why, recorded with the event: `repair`, `dtc_cleared`, or free text. */
  reason: z.string().min(1).max(200),
  /** Processing time (ms) the reset was requested. */
  requestedAtMs: z.number().int(),
});

export type BaselineReset = z.infer<typeof baselineResetSchema>;

export function encodeBaselineReset(reset: BaselineReset): Buffer {
  return Buffer.from(JSON.stringify(reset));
}

/** The reset in `payload` for `vehicle`, or why it is not one. */
export function decodeBaselineReset(payload: Uint8Array, vehicle: string): { ok: true; reset: BaselineReset } | { ok: false; reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const parsed = baselineResetSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  if (parsed.data.vehicle !== vehicle) return { ok: false, reason: `names vehicle ${parsed.data.vehicle} on the topic of ${vehicle}` };
  return { ok: true, reset: parsed.data };
}
