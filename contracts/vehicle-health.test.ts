import { describe, expect, it } from 'vitest';
import { decodeVehicleHealth, encodeVehicleHealth, MAX_VEHICLE_HEALTH_PAYLOAD_BYTES, MONITOR_NAMES, sameDiagnosis, VEHICLE_HEALTH_SCHEMA, type VehicleHealthEvent } from './vehicle-health.ts';

const T0 = 1_763_900_000_000;
const event: VehicleHealthEvent = {
  schema: VEHICLE_HEALTH_SCHEMA,
  vehicle: 'car-1',
  seq: 4,
  t: T0,
  reason: 'change',
  source: 'obd',
  mil: true,
  dtcCount: 1,
  readiness: { ignition: 'spark', monitors: { MISFIRE: { supported: true, complete: true }, CATALYST: { supported: true, complete: false }, EGR_SYSTEM: { supported: false, complete: true } } },
  confirmed: ['P0301'],
  pending: ['P0301', 'P0171'],
  permanent: ['P0301'],
  freezeFrame: { dtc: 'P0301', frame: 0, signals: { RPM: 812.25, COOLANT_TEMP: 88, SPEED: 0 } },
  vin: '1HGCM82633A004352',
  counters: { distanceWithMilKm: 3, minutesSinceClear: 120 },
};
const payload = (value: unknown): Buffer => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

describe('vehicle health event v1', () => {
  it('round-trips a full event and one that knows almost nothing (a replayed log)', () => {
    expect(decodeVehicleHealth(encodeVehicleHealth(event), 'car-1')).toEqual({ ok: true, event });
    const sparse: VehicleHealthEvent = { ...event, source: 'replay', mil: false, dtcCount: null, readiness: null, confirmed: null, pending: null, permanent: null, freezeFrame: null, vin: null, counters: { minutesWithMil: 0 } };
    expect(decodeVehicleHealth(encodeVehicleHealth(sparse), 'car-1')).toEqual({ ok: true, event: sparse });
  });

  const cases: Array<[string, unknown, string, RegExp]> = [
    ['not JSON', 'garbage{', 'not_json', /JSON|Unexpected/],
    ['other schema', { ...event, schema: 'fleetpulse.vehicle-health/2' }, 'schema', /^schema:/],
    ['malformed code', { ...event, confirmed: ['P301'] }, 'schema', /^confirmed\.0: must be a DTC/],
    ['lower-case code', { ...event, pending: ['p0301'] }, 'schema', /^pending\.0/],
    ['code listed twice', { ...event, permanent: ['P0301', 'P0301'] }, 'schema', /^permanent: lists a code twice/],
    ['unknown monitor', { ...event, readiness: { ignition: 'spark', monitors: { TURBO: { supported: true, complete: true } } } }, 'schema', /readiness\.monitors/],
    ['freeze frame signal out of range', { ...event, freezeFrame: { ...event.freezeFrame, signals: { SPEED: 300 } } }, 'schema', /freezeFrame\.signals\.SPEED: must be within/],
    ['freeze frame of no code', { ...event, freezeFrame: { ...event.freezeFrame, dtc: 'none' } }, 'schema', /freezeFrame\.dtc/],
    ['negative counter', { ...event, counters: { distanceWithMilKm: -1 } }, 'schema', /counters\.distanceWithMilKm/],
    ['unknown field', { ...event, odometer: 12 }, 'schema', /odometer|Unrecognized/],
    ['missing MIL (null is how "unknown" is said)', { ...event, mil: undefined }, 'schema', /^mil:/],
    ['time in seconds', { ...event, t: 1_763_900_000 }, 'schema', /^t:/],
    ['bad reason', { ...event, reason: 'poll' }, 'schema', /^reason:/],
    ['other vehicle', { ...event, vehicle: 'car-2' }, 'topic_mismatch', /car-2/],
  ];
  for (const [name, value, reason, detail] of cases) {
    it(`refuses ${name} as ${reason}`, () => {
      const result = decodeVehicleHealth(payload(value), 'car-1');
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.reason).toBe(reason);
      expect(result.detail).toMatch(detail);
    });
  }

  it('refuses an oversized payload before parsing it', () => {
    const result = decodeVehicleHealth(Buffer.alloc(MAX_VEHICLE_HEALTH_PAYLOAD_BYTES + 1, 0x20), 'car-1');
    expect(result).toMatchObject({ ok: false, reason: 'too_large' });
  });

  it('knows every readiness monitor of both ignition types, once', () => {
    expect(new Set(MONITOR_NAMES).size).toBe(MONITOR_NAMES.length);
    expect(MONITOR_NAMES).toHaveLength(3 + 8 + 6);
  });

  it('compares diagnoses without counters, envelope or list order', () => {
    const later: VehicleHealthEvent = { ...event, seq: 9, t: T0 + 1, reason: 'snapshot', counters: { distanceWithMilKm: 4 } };
    expect(sameDiagnosis(event, later)).toBe(true);
    expect(sameDiagnosis(event, { ...event, pending: ['P0171', 'P0301'] })).toBe(true);
    expect(sameDiagnosis(event, { ...event, pending: ['P0301'] })).toBe(false);
    expect(sameDiagnosis(event, { ...event, mil: false })).toBe(false);
    expect(sameDiagnosis(event, { ...event, mil: null })).toBe(false);
    expect(sameDiagnosis(event, { ...event, freezeFrame: { ...event.freezeFrame!, signals: { ...event.freezeFrame!.signals, RPM: 800 } } })).toBe(false);
    expect(sameDiagnosis(event, { ...event, readiness: { ignition: 'spark', monitors: { ...event.readiness!.monitors, CATALYST: { supported: true, complete: true } } } })).toBe(false);
    expect(sameDiagnosis(event, { ...event, vin: null })).toBe(false);
  });
});
