/**
 * Vehicle health event, schema `fleetpulse.vehicle-health/1` (agent → ingest on
 * `topics.health(vehicle)`, QoS 1, retained): what the car's own diagnosis says — the MIL, its DTC
 * count, the readiness monitors, confirmed (service 03), pending (07) and permanent (0A) trouble
 * codes, the freeze frame (service 02) of the code that set the MIL, the VIN, and the counters the
 * ECU keeps since the codes were cleared.
 *
 *   { "schema": "fleetpulse.vehicle-health/1", "vehicle": "car-7", "seq": 12, "t": 1763900000123,
 *     "reason": "change", "source": "obd", "mil": true, "dtcCount": 1,
 *     "readiness": { "ignition": "spark", "monitors": { "MISFIRE": { "supported": true, "complete": true }, … } },
 *     "confirmed": ["P0301"], "pending": ["P0301"], "permanent": ["P0301"],
 *     "freezeFrame": { "dtc": "P0301", "frame": 0, "signals": { "RPM": 812.25, "COOLANT_TEMP": 88 } },
 *     "vin": "1HGCM82633A004352", "counters": { "distanceWithMilKm": 3 } }
 *
 * - `(vehicle, seq)` identifies an event: `seq` counts a vehicle's health events and continues
 *   across agent restarts (the agent's buffer keeps it), and `t` strictly increases with it. The
 *   agent may publish the same event twice (a redelivery after an outage, the retained snapshot it
 *   repeats on every broker connection): a reader deduplicates by seq and event time.
 * - `reason`: `snapshot` for the first event of an agent run, `change` when any diagnostic field
 *   (everything but `t`, `seq`, `reason` and `counters`) differs from the previous event. Counters
 *   alone never make an event: they grow every minute.
 * - `null` means "not known" (the source cannot tell, or the ECU did not answer), never "none":
 *   none is `false`, `0` or `[]`. A replayed log that only has the MIL counters has `mil` and
 *   `counters` and nulls elsewhere.
 * - Freeze-frame signals are catalogue signals (contracts/signals.ts) in its units and ranges.
 * - Unknown fields are errors (strict), as in telemetry: a typo cannot become a stored field. A
 *   newer version of this contract changes `schema`.
 */
import { z } from 'zod';
import { describeIssues, type DeadLetterReason, MAX_EVENT_TIME_MS, MIN_EVENT_TIME_MS, signalValueShape, type SignalValues } from './telemetry.ts';
import { VEHICLE_ID_PATTERN } from './topics.ts';

export const VEHICLE_HEALTH_SCHEMA = 'fleetpulse.vehicle-health/1';
/** Larger payloads are dead-lettered before parsing. */
export const MAX_VEHICLE_HEALTH_PAYLOAD_BYTES = 32 * 1024;
/** Codes per list at most (an ECU reports at most 127; a real car a handful). */
export const MAX_DTCS_PER_LIST = 127;

/** A diagnostic trouble code as SAE J2012 writes it: system letter, digit 0-3, three hex digits. */
export const DTC_PATTERN = /^[PCBU][0-3][0-9A-F]{3}$/;

/**
 * Readiness monitors of service 01 PID 01 by the names python-OBD gives them. Byte B's three are
 * common to every engine; byte C/D's eight depend on the ignition type ('' = reserved bit).
 * The PID table (agent/obd/pid-table.ts) decodes PID 01 with these names.
 */
export const COMMON_MONITORS = ['MISFIRE', 'FUEL_SYSTEM', 'COMPONENTS'] as const;
export const SPARK_MONITORS = ['CATALYST', 'HEATED_CATALYST', 'EVAPORATIVE_SYSTEM', 'SECONDARY_AIR_SYSTEM', 'AC_REFRIGERANT', 'OXYGEN_SENSOR', 'OXYGEN_SENSOR_HEATER', 'EGR_SYSTEM'] as const;
export const COMPRESSION_MONITORS = ['NMHC_CATALYST', 'NOX_SCR_MONITOR', '', 'BOOST_PRESSURE', '', 'EXHAUST_GAS_SENSOR', 'PM_FILTER', 'EGR_VVT_SYSTEM'] as const;

type Named<T extends readonly string[]> = Exclude<T[number], ''>;
export type MonitorName = Named<typeof COMMON_MONITORS> | Named<typeof SPARK_MONITORS> | Named<typeof COMPRESSION_MONITORS>;
export const MONITOR_NAMES: readonly MonitorName[] = [...COMMON_MONITORS, ...SPARK_MONITORS, ...COMPRESSION_MONITORS].filter((m): m is MonitorName => m !== '');

export interface MonitorReadiness {
  /** The ECU has this monitor. */
  supported: boolean;
  /** It has run to completion since the codes were last cleared (an unsupported monitor reads complete). */
  complete: boolean;
}

export interface Readiness {
  ignition: 'spark' | 'compression';
  /** Every monitor the ignition type defines, supported or not. */
  monitors: Partial<Record<MonitorName, MonitorReadiness>>;
}

export interface FreezeFrame {
  /** The code that stored the frame (service 02 PID 02). */
  dtc: string;
  /** Frame number; OBD-II cars keep frame 0. */
  frame: number;
  /** The frame's catalogue signals, decoded through contracts/signals.ts. */
  signals: SignalValues;
}

/** The ECU's counters (service 01), where the car reports them. */
export interface HealthCounters {
  /** PID 21: distance travelled with the MIL on, km. */
  distanceWithMilKm?: number;
  /** PID 31: distance since the codes were cleared, km. */
  distanceSinceClearKm?: number;
  /** PID 4D: engine run time with the MIL on, minutes. */
  minutesWithMil?: number;
  /** PID 4E: time since the codes were cleared, minutes. */
  minutesSinceClear?: number;
  /** PID 30: warm-ups since the codes were cleared. */
  warmupsSinceClear?: number;
  /** PID 1F: run time of the current engine start, s. */
  engineRunTimeS?: number;
  /** Odometer, km (simulated cars; real cars only through manufacturer PIDs). */
  odometerKm?: number;
}

/** What the diagnosis says at one moment: the event without its envelope (vehicle, seq, t, reason). */
export interface VehicleHealthState {
  source: 'obd' | 'simulator' | 'replay';
  mil: boolean | null;
  /** Confirmed codes as the ECUs count them (PID 01 byte A, summed over ECUs). */
  dtcCount: number | null;
  readiness: Readiness | null;
  confirmed: string[] | null;
  pending: string[] | null;
  permanent: string[] | null;
  freezeFrame: FreezeFrame | null;
  vin: string | null;
  counters: HealthCounters;
}

export interface VehicleHealthEvent extends VehicleHealthState {
  schema: typeof VEHICLE_HEALTH_SCHEMA;
  vehicle: string;
  seq: number;
  /** Event time, Unix ms. */
  t: number;
  reason: 'snapshot' | 'change';
}

const dtcList = z
  .array(z.string().regex(DTC_PATTERN, 'must be a DTC like P0301'))
  .max(MAX_DTCS_PER_LIST)
  .refine((codes) => new Set(codes).size === codes.length, 'lists a code twice')
  .nullable();

const monitorSchema = z.strictObject({ supported: z.boolean(), complete: z.boolean() });

const readinessSchema = z.strictObject({
  ignition: z.enum(['spark', 'compression']),
  monitors: z.strictObject(Object.fromEntries(MONITOR_NAMES.map((m) => [m, monitorSchema.optional()])) as Record<MonitorName, z.ZodOptional<typeof monitorSchema>>),
});

const counter = z.number().refine(Number.isFinite, 'must be a finite number').min(0).max(10_000_000).optional();

const countersSchema = z.strictObject({
  distanceWithMilKm: counter,
  distanceSinceClearKm: counter,
  minutesWithMil: counter,
  minutesSinceClear: counter,
  warmupsSinceClear: counter,
  engineRunTimeS: counter,
  odometerKm: counter,
});

const freezeFrameSchema = z.strictObject({
  dtc: z.string().regex(DTC_PATTERN, 'must be a DTC like P0301'),
  frame: z.int().min(0).max(255),
  signals: z.strictObject(signalValueShape),
});

export const vehicleHealthEventSchema = z.strictObject({
  schema: z.literal(VEHICLE_HEALTH_SCHEMA),
  vehicle: z.string().regex(VEHICLE_ID_PATTERN, 'must be a valid vehicle id'),
  seq: z.int().min(0),
  t: z.int().min(MIN_EVENT_TIME_MS).max(MAX_EVENT_TIME_MS),
  reason: z.enum(['snapshot', 'change']),
  source: z.enum(['obd', 'simulator', 'replay']),
  mil: z.boolean().nullable(),
  dtcCount: z.int().min(0).max(127 * 8).nullable(),
  readiness: readinessSchema.nullable(),
  confirmed: dtcList,
  pending: dtcList,
  permanent: dtcList,
  freezeFrame: freezeFrameSchema.nullable(),
  vin: z.string().min(1).max(32).nullable(),
  counters: countersSchema,
});

export type VehicleHealthDecode = { ok: true; event: VehicleHealthEvent } | { ok: false; reason: DeadLetterReason; detail: string };

/** Decodes and validates one health message. Never throws: a bad payload is a value (a dead letter). */
export function decodeVehicleHealth(payload: Uint8Array, topicVehicleId: string): VehicleHealthDecode {
  if (payload.byteLength > MAX_VEHICLE_HEALTH_PAYLOAD_BYTES) {
    return { ok: false, reason: 'too_large', detail: `${payload.byteLength} bytes > ${MAX_VEHICLE_HEALTH_PAYLOAD_BYTES}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch (error) {
    return { ok: false, reason: 'not_json', detail: error instanceof Error ? error.message : String(error) };
  }
  const parsed = vehicleHealthEventSchema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: 'schema', detail: describeIssues(parsed.error) };
  if (parsed.data.vehicle !== topicVehicleId) {
    return { ok: false, reason: 'topic_mismatch', detail: `payload vehicle ${parsed.data.vehicle} published on the topic of ${topicVehicleId}` };
  }
  return { ok: true, event: parsed.data as VehicleHealthEvent };
}

export function encodeVehicleHealth(event: VehicleHealthEvent): Buffer {
  return Buffer.from(JSON.stringify(event), 'utf8');
}

/**
 * True when two states say the same about the car's diagnosis: every field but `counters`
 * (which grow by themselves). Lists compare as sets: ECUs may report codes in any order.
 */
export function sameDiagnosis(a: VehicleHealthState, b: VehicleHealthState): boolean {
  return diagnosisKey(a) === diagnosisKey(b);
}

function diagnosisKey(s: VehicleHealthState): string {
  const sorted = (list: string[] | null) => (list ? [...list].sort() : null);
  const monitors = s.readiness ? Object.entries(s.readiness.monitors).sort(([x], [y]) => (x < y ? -1 : 1)) : null;
  const signals = s.freezeFrame ? Object.entries(s.freezeFrame.signals).sort(([x], [y]) => (x < y ? -1 : 1)) : null;
  return JSON.stringify([
    s.source,
    s.mil,
    s.dtcCount,
    s.readiness?.ignition ?? null,
    monitors,
    sorted(s.confirmed),
    sorted(s.pending),
    sorted(s.permanent),
    s.freezeFrame ? [s.freezeFrame.dtc, s.freezeFrame.frame, signals] : null,
    s.vin,
  ]);
}
