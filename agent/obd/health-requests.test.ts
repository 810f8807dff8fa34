import { afterEach, describe, expect, it } from 'vitest';
import { Elm327Session } from './elm327-session.ts';
import { readFreezeFrame, readVehicleHealth } from './health-requests.ts';
import { type Responder, scriptedAdapter, standardAdapter } from './test-support.ts';

const sessions: Elm327Session[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) await s.close();
});

/** A session on a scripted adapter: `answers` by command (headers on), anything else NO DATA. */
async function sessionAnswering(answers: Readonly<Record<string, string>>): Promise<{ session: Elm327Session; adapter: Responder }> {
  const base = standardAdapter();
  const adapter: Responder = { ...base, answer: (command) => answers[command] ?? base.answer(command) };
  const { factory, path } = scriptedAdapter(adapter);
  const session = new Elm327Session({ path, openPort: factory, commandTimeoutMs: 500, reconnectBackoff: { initialMs: 20, maxMs: 50 } });
  sessions.push(session);
  session.start();
  expect(await session.waitForState('ready', 5000)).toBe(true);
  return { session, adapter };
}

/** A car with an engine ECU (7E8) and a transmission ECU (7E9) that both have something to say. */
const TWO_ECUS: Readonly<Record<string, string>> = {
  // Engine: MIL on, one code; misfire/fuel/components supported and complete; catalyst, O2 sensor and heater supported, heater incomplete.
  // Transmission: MIL off, one code; components supported and incomplete.
  '0101': '7E8 06 41 01 81 07 61 40\r7E9 06 41 01 01 44 00 00',
  // Four codes from the engine: 10 bytes, a first frame and a consecutive frame (ISO-TP), the transmission's answer between them.
  '03': '7E8 10 0A 43 04 03 01 01 71\r7E9 04 43 01 07 00\r7E8 21 01 72 04 20 00 00 00',
  '07': '7E8 04 47 01 03 01\r7E9 02 47 00',
  '0A': '7E8 04 4A 01 03 01',
  '020200': '7E8 05 42 02 00 03 01\r7E9 05 42 02 00 00 00',
  '020000': '7E8 07 42 00 00 48 18 00 00',
  // Three pairs in one request, answered in one multi-frame message; single requests answered too.
  '0205000C000D00': '7E8 10 0B 42 05 00 7B 0C 00\r7E8 21 1A F8 0D 00 32 00 00',
  '020500': '7E8 04 42 05 00 7B',
  '020C00': '7E8 05 42 0C 00 1A F8',
  '020D00': '7E8 04 42 0D 00 32',
  '012131': '7E8 07 41 21 00 05 31 01 00',
};

describe('reading the diagnosis over an ELM327 session', () => {
  it('merges several ECUs: MIL if any, counts added, codes deduplicated with the engine first, readiness complete only where every ECU says so', async () => {
    const { session, adapter } = await sessionAnswering(TWO_ECUS);
    const state = await readVehicleHealth(session, { supported: [0x21, 0x31], vin: 'FPEEMU2700S087109' });
    expect(state).toMatchObject({
      source: 'obd',
      mil: true,
      dtcCount: 2,
      confirmed: ['P0301', 'P0171', 'P0172', 'P0420', 'P0700'],
      pending: ['P0301'],
      permanent: ['P0301'],
      vin: 'FPEEMU2700S087109',
      counters: { distanceWithMilKm: 5, distanceSinceClearKm: 256 },
    });
    expect(state!.readiness!.ignition).toBe('spark');
    expect(state!.readiness!.monitors).toMatchObject({
      MISFIRE: { supported: true, complete: true },
      COMPONENTS: { supported: true, complete: false }, // the transmission's is incomplete
      CATALYST: { supported: true, complete: true },
      OXYGEN_SENSOR_HEATER: { supported: true, complete: false },
      EGR_SYSTEM: { supported: false, complete: true },
    });
    // The frame of the ECU that holds one (the transmission's 0000 is no frame), its announced catalogue PIDs decoded,
    // three per request.
    expect(state!.freezeFrame).toEqual({ dtc: 'P0301', frame: 0, signals: { COOLANT_TEMP: 83, RPM: 1726, SPEED: 50 } });
    expect(adapter.received.filter((c) => c.startsWith('02'))).toEqual(['020200', '020000', '0205000C000D00']);
  });

  it('asks the frame PIDs a grouped request left out one by one (an ECU that answers only the first pair)', async () => {
    const { session, adapter } = await sessionAnswering({ ...TWO_ECUS, '0205000C000D00': '7E8 04 42 05 00 7B' });
    expect(await readFreezeFrame(session)).toEqual({ dtc: 'P0301', frame: 0, signals: { COOLANT_TEMP: 83, RPM: 1726, SPEED: 50 } });
    expect(adapter.received.filter((c) => c.startsWith('02') && c !== '020200' && c !== '020000')).toEqual(['0205000C000D00', '020C00', '020D00']);
  });

  it('reads a service nobody answered as unknown, and NO DATA to 03/07 as none', async () => {
    const { session, adapter } = await sessionAnswering({ '0101': '7E8 06 41 01 00 07 00 00' });
    const state = await readVehicleHealth(session);
    expect(state).toMatchObject({ mil: false, dtcCount: 0, confirmed: [], pending: [], permanent: null, freezeFrame: null, vin: null, counters: {} });
    // No MIL and no code: no freeze frame asked for, no counters without supported PIDs.
    expect(adapter.received.some((c) => c.startsWith('02'))).toBe(false);
    expect(adapter.received.filter((c) => c.startsWith('01'))).toEqual(['0100', '0101']);
  });

  it('gives no state when the car does not answer 0101 (ignition off, no ECU)', async () => {
    const { session } = await sessionAnswering({ '0101': 'NO DATA' });
    expect(await readVehicleHealth(session)).toBeUndefined();
  });

  it('keeps a frame it has read while the ECU names the same code, and reads a new one when the code changes', async () => {
    const { session, adapter } = await sessionAnswering(TWO_ECUS);
    const first = await readFreezeFrame(session);
    const asked = adapter.received.length;
    expect(await readFreezeFrame(session, first)).toBe(first);
    expect(adapter.received.slice(asked)).toEqual(['020200']);
    const stale = { dtc: 'P0171', frame: 0, signals: { RPM: 700 } };
    expect(await readFreezeFrame(session, stale)).toEqual(first);
  });
});
