/**
 * The ingest side of vehicle health, pure parts: the DTC history, the alert decisions, the J2012
 * descriptions, and the line builders — the lines written to a real influxd, so their syntax,
 * fields and idempotent keys are InfluxDB's judgement, not ours.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertMessageSchema } from '../../contracts/alerts.ts';
import { encodeVehicleHealth, VEHICLE_HEALTH_SCHEMA, type VehicleHealthEvent } from '../../contracts/vehicle-health.ts';
import { influxQuery, rowsOf, startTestInfluxd, type TestInfluxd } from '../../test/support/influx.ts';
import { DESCRIBED_CODES, describeDtc } from './dtc-descriptions.ts';
import { HealthHistory } from './dtc-history.ts';
import { HealthProcessor } from './health-processor.ts';

const T0 = Date.UTC(2026, 5, 1, 8);
const MIN = 60_000;
const NOW = T0 + 3_600_000;
const frame = { dtc: 'P0301', frame: 0, signals: { RPM: 812.25, COOLANT_TEMP: 88, SPEED: 0 } };

function event(seq: number, fields: Partial<VehicleHealthEvent>, vehicle = 'car-1'): VehicleHealthEvent {
  return {
    schema: VEHICLE_HEALTH_SCHEMA, vehicle, seq, t: T0 + seq * MIN, reason: seq === 0 ? 'snapshot' : 'change', source: 'obd',
    mil: false, dtcCount: 0, readiness: { ignition: 'spark', monitors: { MISFIRE: { supported: true, complete: true }, CATALYST: { supported: true, complete: false }, EGR_SYSTEM: { supported: false, complete: true } } },
    confirmed: [], pending: [], permanent: [], freezeFrame: null, vin: 'FPEEMU2700S087109', counters: {},
    ...fields,
  };
}

/** A misfire's life: seen, pending, confirmed with the MIL, cleared with 04 (permanent), repaired, then a log that knows nothing. */
const story: VehicleHealthEvent[] = [
  event(0, {}),
  event(1, { pending: ['P0301'] }),
  event(2, { mil: true, dtcCount: 1, confirmed: ['P0301'], pending: ['P0301'], permanent: ['P0301'], freezeFrame: frame, counters: { distanceSinceClearKm: 1200, distanceWithMilKm: 0 } }),
  event(3, { mil: false, confirmed: [], pending: [], permanent: ['P0301'], counters: { distanceSinceClearKm: 0, distanceWithMilKm: 14 } }),
  event(4, { permanent: [] }),
  event(5, { source: 'replay', mil: null, dtcCount: null, readiness: null, confirmed: null, pending: null, permanent: null, vin: null, counters: { minutesSinceClear: 30 } }),
];

describe('DTC history', () => {
  it('keeps an episode per code and kind: first and last seen, the frame, cleared with the counters of that moment', () => {
    const history = new HealthHistory();
    for (const e of story.slice(0, 3)) history.apply(e);
    const lit = history.vehicle('car-1')!;
    expect(lit.mil).toBe(true);
    expect(lit.milOnSinceMs).toBe(story[2]!.t);
    expect(lit.active['pending:P0301']).toMatchObject({ firstSeenMs: story[1]!.t, lastSeenMs: story[2]!.t, firstSeq: 1, lastSeq: 2 });
    expect(lit.active['confirmed:P0301']).toMatchObject({ firstSeenMs: story[2]!.t, freezeFrame: frame, countersAtFirstSeen: { distanceSinceClearKm: 1200 } });

    const cleared = history.apply(story[3]!);
    expect(cleared.ended.map((e) => `${e.kind}:${e.code}`).sort()).toEqual(['confirmed:P0301', 'pending:P0301']);
    const confirmedEnd = cleared.ended.find((e) => e.kind === 'confirmed')!;
    expect(confirmedEnd).toMatchObject({ clearedMs: story[3]!.t, clearedSeq: 3, freezeFrame: frame, countersAtClear: { distanceSinceClearKm: 0, distanceWithMilKm: 14 } });
    expect(cleared.continued.map((e) => `${e.kind}:${e.code}`)).toEqual(['permanent:P0301']);
    expect(cleared.mil).toEqual({ before: true, after: false, onSinceMs: story[2]!.t });

    expect(history.apply(story[4]!).ended.map((e) => e.kind)).toEqual(['permanent']);
    // A log that knows nothing changes nothing.
    const unknown = history.apply(story[5]!);
    expect(unknown).toMatchObject({ status: 'applied', started: [], continued: [], ended: [], mil: { before: false, after: false } });
    const after = history.vehicle('car-1')!;
    expect(after.active).toEqual({});
    expect(after.cleared.map((e) => `${e.kind}:${e.clearedSeq}`)).toEqual(['pending:3', 'confirmed:3', 'permanent:4']);
  });

  it('drops a redelivered event: neither newer by seq nor by time', () => {
    const history = new HealthHistory();
    for (const e of story.slice(0, 3)) history.apply(e);
    const before = history.toState();
    expect(history.apply(story[2]!).status).toBe('duplicate');
    expect(history.apply(story[1]!).status).toBe('duplicate');
    expect(history.toState()).toEqual(before);
    // The agent's buffer was lost: seq starts over, time goes on — a new event.
    expect(history.apply({ ...story[3]!, seq: 0 }).status).toBe('applied');
    expect(history.stats()).toMatchObject({ eventsApplied: 4, duplicates: 2 });
  });

  it('persists and restores its state exactly, and refuses a malformed one with the reason', () => {
    const a = new HealthHistory();
    const b0 = new HealthHistory();
    for (const e of story.slice(0, 3)) {
      a.apply(e);
      b0.apply(e);
    }
    const restored = HealthHistory.fromState(JSON.parse(JSON.stringify(b0.toState())));
    expect(restored.ok).toBe(true);
    const b = (restored as { history: HealthHistory }).history;
    for (const e of story.slice(2)) expect(b.apply(e)).toEqual(a.apply(e));
    expect(b.toState()).toEqual(a.toState());
    expect(HealthHistory.fromState({ version: 2, vehicles: {} })).toMatchObject({ ok: false, reason: /version/ });
    expect(HealthHistory.fromState({ version: 1, vehicles: { x: { lastSeq: 'a' } } })).toMatchObject({ ok: false, reason: /vehicles\.x\.lastSeq/ });
  });

  it('is bounded: forgets the least recently updated vehicle, and the oldest ended episodes, counting both', () => {
    const history = new HealthHistory({ maxVehicles: 2, maxClearedPerVehicle: 1 });
    history.apply(event(0, {}, 'a'));
    history.apply(event(0, {}, 'b'));
    history.apply(event(1, {}, 'a'));
    history.apply(event(0, {}, 'c'));
    expect([history.vehicle('a') !== undefined, history.vehicle('b') !== undefined, history.vehicle('c') !== undefined]).toEqual([true, false, true]);
    history.apply(event(2, { pending: ['P0171', 'P0172'] }, 'a'));
    history.apply(event(3, { pending: [] }, 'a'));
    expect(history.vehicle('a')!.cleared).toHaveLength(1);
    expect(history.stats()).toMatchObject({ vehicles: 2, vehiclesForgotten: 1, clearedEpisodesDropped: 1 });
  });
});

describe('alert decisions', () => {
  const run = (events: VehicleHealthEvent[]) => {
    const processor = new HealthProcessor(new HealthHistory());
    return events.map((e) => processor.apply(e, NOW));
  };

  it('raises a dtc alert for a newly confirmed code and a mil alert when the light comes on — at once — and clears both with the same ids', () => {
    const outcomes = run([...story.slice(0, 3), story[2]!, ...story.slice(3)]);
    const alerts = outcomes.map((o) => (o.kind === 'applied' ? o.alerts.map((a) => `${a.kind}:${a.state}:${a.alertId}`) : o.kind));
    const dtcId = `car-1:dtc:P0301:${story[2]!.t}`;
    const milId = `car-1:mil:${story[2]!.t}`;
    expect(alerts).toEqual([[], [], [`dtc:raised:${dtcId}`, `mil:raised:${milId}`], 'duplicate', [`dtc:cleared:${dtcId}`, `mil:cleared:${milId}`], [], []]);
    const raised = outcomes[2]!.kind === 'applied' ? outcomes[2]!.alerts : [];
    for (const a of raised) expect(alertMessageSchema.safeParse(a).success).toBe(true);
    expect(raised[0]).toMatchObject({
      vehicle: 'car-1', windowStartMs: story[2]!.t, emittedAtMs: NOW, modelVersion: 0,
      diagnosis: { codes: ['P0301'], descriptions: ['Cylinder 1 misfire detected'], mil: true, eventSeq: 2, freezeFrame: frame },
    });
    expect(raised[0]!.explanation!.text).toBe('Trouble code P0301 Cylinder 1 misfire detected: confirmed by the engine control unit, check-engine light on');
    const clearedDtc = outcomes[4]!.kind === 'applied' ? outcomes[4]!.alerts[0]! : undefined;
    expect(clearedDtc?.explanation?.text).toMatch(/P0301 no longer confirmed \(cleared\); still stored as permanent/);
  });

  it('raises nothing for pending or permanent codes alone, nor for an unknown MIL; a code confirmed in the first event seen does raise', () => {
    expect(run([event(0, { pending: ['P0420'], permanent: ['P0420'] }), event(1, { mil: null })]).flatMap((o) => (o.kind === 'applied' ? o.alerts : []))).toEqual([]);
    const first = run([event(0, { mil: true, confirmed: ['P0420', 'P1234'] })])[0]!;
    expect(first.kind === 'applied' && first.alerts.map((a) => [a.kind, a.diagnosis!.codes])).toEqual([
      ['dtc', ['P0420']],
      ['dtc', ['P1234']],
      ['mil', ['P0420', 'P1234']],
    ]);
    expect(first.kind === 'applied' && first.alerts[1]!.diagnosis!.descriptions[0]).toMatch(/manufacturer-specific/);
  });
});

describe('SAE J2012 descriptions', () => {
  it('describes the codes the simulator sets and the common generic families', () => {
    const expected: Record<string, string> = {
      P0101: 'Mass or volume air flow sensor A circuit range/performance',
      P0128: 'Coolant temperature below the thermostat regulating temperature (thermostat)',
      P0171: 'System too lean (bank 1)',
      P0172: 'System too rich (bank 1)',
      P0174: 'System too lean (bank 2)',
      P0175: 'System too rich (bank 2)',
      P0217: 'Engine coolant over-temperature condition',
      P0300: 'Random or multiple cylinder misfire detected',
      P0301: 'Cylinder 1 misfire detected',
      P0308: 'Cylinder 8 misfire detected',
      P0420: 'Catalyst system efficiency below threshold (bank 1)',
      P0430: 'Catalyst system efficiency below threshold (bank 2)',
      P0442: 'EVAP system: small leak detected',
      P0455: 'EVAP system: large leak detected',
      P0500: 'Vehicle speed sensor A',
      P0507: 'Idle air control system: RPM higher than expected',
      P0562: 'System voltage low',
      P0563: 'System voltage high',
      P0700: 'Transmission control system (MIL request from the transmission control module)',
      P0133: 'Oxygen sensor circuit slow response (bank 1, sensor 1)',
      P0161: 'Oxygen sensor heater circuit (bank 2, sensor 2)',
    };
    for (const [code, text] of Object.entries(expected)) expect(describeDtc(code), code).toMatchObject({ code, system: 'powertrain', codeType: 'generic', description: text, text });
    // Every code of P0100-P0199 the families define, and every described code, is a generic powertrain code.
    const p01 = DESCRIBED_CODES.filter((c) => c.startsWith('P01'));
    expect(p01.length).toBeGreaterThanOrEqual(90);
    for (const c of DESCRIBED_CODES) expect(describeDtc(c).codeType, c).toBe('generic');
    for (const c of ['P0440', 'P0441', 'P0443', 'P0446', 'P0449', 'P0450', 'P0456', 'P0457', 'P0501', 'P0502', 'P0503', 'P0505', 'P0506']) expect(DESCRIBED_CODES).toContain(c);
  });

  it('shows manufacturer, reserved, unknown generic and malformed codes as such', () => {
    expect(describeDtc('P1234')).toMatchObject({ codeType: 'manufacturer', description: null, text: expect.stringMatching(/^manufacturer-specific/) });
    expect(describeDtc('P3000')).toMatchObject({ codeType: 'manufacturer' });
    expect(describeDtc('P33FF')).toMatchObject({ codeType: 'manufacturer' });
    expect(describeDtc('P3400')).toMatchObject({ codeType: 'generic', description: null, text: 'generic code (no description in our table)' });
    expect(describeDtc('P0999')).toMatchObject({ codeType: 'generic', description: null });
    expect(describeDtc('U0100')).toMatchObject({ system: 'network', codeType: 'generic' });
    expect(describeDtc('C1234')).toMatchObject({ system: 'chassis', codeType: 'manufacturer' });
    expect(describeDtc('B3000')).toMatchObject({ system: 'body', codeType: 'reserved' });
    expect(describeDtc('p0301').code).toBe('P0301');
    expect(describeDtc('P03')).toMatchObject({ codeType: 'invalid', system: null });
  });
});

describe('health lines in a real InfluxDB', () => {
  let influx: TestInfluxd;
  const DB = 'health_lines';
  const write = async (lines: string): Promise<void> => {
    const r = await fetch(`${influx.url}/write?db=${DB}&precision=ns`, { method: 'POST', body: lines });
    if (r.status !== 204) throw new Error(`write refused: ${r.status} ${await r.text()}`);
  };
  beforeAll(async () => {
    influx = await startTestInfluxd();
    await fetch(`${influx.url}/query?q=${encodeURIComponent(`CREATE DATABASE ${DB}`)}`, { method: 'POST' });
  }, 60_000);
  afterAll(async () => {
    await influx?.dispose();
  });

  it('stores one dtc point per episode, updated in place; a vehicle_health point per event; dtc and mil alerts apart; redeliveries change nothing', async () => {
    const processor = new HealthProcessor(new HealthHistory());
    const written: string[] = [];
    for (const e of story) {
      const o = processor.handle(e.vehicle, encodeVehicleHealth(e), NOW);
      expect(o.kind).toBe('applied');
      if (o.kind === 'applied') written.push(o.lines);
    }
    for (const lines of written) await write(lines);
    // The whole stream written twice (a spool replayed after a crash): the same points.
    for (const lines of written) await write(lines);
    // A second vehicle confirms two codes in one event.
    const two = processor.apply(event(0, { mil: true, confirmed: ['P0171', 'P0300'] }, 'car-2'), NOW);
    if (two.kind === 'applied') await write(two.lines);

    const kindOrder = ['pending', 'confirmed', 'permanent'];
    // Points of one time come back in series order: sort them by kind.
    const dtc = rowsOf((await influxQuery(influx.url, DB, `SELECT * FROM dtc WHERE vehicle = 'car-1' ORDER BY time`))[0]).sort(
      (a, b) => (a.time as number) - (b.time as number) || kindOrder.indexOf(a.kind as string) - kindOrder.indexOf(b.kind as string),
    );
    expect(dtc.map((r) => [r.time, r.code, r.kind, r.state, r.first_seen_ms, r.last_seen_ms, r.cleared_ms ?? null])).toEqual([
      [story[1]!.t, 'P0301', 'pending', 'cleared', story[1]!.t, story[2]!.t, story[3]!.t],
      [story[2]!.t, 'P0301', 'confirmed', 'cleared', story[2]!.t, story[2]!.t, story[3]!.t],
      [story[2]!.t, 'P0301', 'permanent', 'cleared', story[2]!.t, story[3]!.t, story[4]!.t],
    ]);
    const confirmed = dtc[1]!;
    expect(confirmed).toMatchObject({ description: 'Cylinder 1 misfire detected', code_type: 'generic', system: 'powertrain', freeze_frame_dtc: 'P0301', distance_since_clear_km_at_first_seen: 1200, distance_since_clear_km_at_clear: 0, distance_with_mil_km_at_clear: 14 });
    expect(JSON.parse(confirmed.freeze_frame as string)).toEqual(frame.signals);

    const health = rowsOf((await influxQuery(influx.url, DB, `SELECT * FROM vehicle_health WHERE vehicle = 'car-1' ORDER BY time`))[0]);
    expect(health.map((r) => [r.seq, r.mil ?? null, r.confirmed ?? null, r.permanent ?? null])).toEqual([
      [0, false, '', ''],
      [1, false, '', ''],
      [2, true, 'P0301', 'P0301'],
      [3, false, '', 'P0301'],
      [4, false, '', ''],
      [5, null, null, null],
    ]);
    expect(health[2]).toMatchObject({ dtc_count: 1, confirmed_count: 1, freeze_frame_dtc: 'P0301', ignition: 'spark', readiness_supported: 2, readiness_complete: 1, readiness_incomplete: 'CATALYST', vin: 'FPEEMU2700S087109', distance_since_clear_km: 1200, reason: 'change', source: 'obd' });
    expect(health[5]).toMatchObject({ source: 'replay', minutes_since_clear: 30 });

    const alerts = rowsOf((await influxQuery(influx.url, DB, `SELECT * FROM alerts ORDER BY time`))[0]).sort(
      (a, b) => String(a.vehicle).localeCompare(String(b.vehicle)) || (a.time as number) - (b.time as number) || String(a.kind).localeCompare(String(b.kind)) || String(a.code).localeCompare(String(b.code)),
    );
    expect(alerts.map((r) => [r.vehicle, r.kind, r.code ?? null, r.state])).toEqual([
      ['car-1', 'dtc', 'P0301', 'raised'],
      ['car-1', 'mil', null, 'raised'],
      ['car-1', 'dtc', 'P0301', 'cleared'],
      ['car-1', 'mil', null, 'cleared'],
      ['car-2', 'dtc', 'P0171', 'raised'],
      ['car-2', 'dtc', 'P0300', 'raised'],
      ['car-2', 'mil', null, 'raised'],
    ]);
  });

  it('turns a bad payload into a dead letter with the contract\'s reason', () => {
    const processor = new HealthProcessor(new HealthHistory());
    expect(processor.handle('car-1', Buffer.from('{'), NOW)).toMatchObject({ kind: 'dead-letter', reason: 'not_json' });
    expect(processor.handle('car-2', encodeVehicleHealth(story[0]!), NOW)).toMatchObject({ kind: 'dead-letter', reason: 'topic_mismatch' });
    expect(processor.handle('car-1', encodeVehicleHealth({ ...story[0]!, confirmed: ['X'] }), NOW)).toMatchObject({ kind: 'dead-letter', reason: 'schema' });
  });
});
