import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { assembleMessages, parseFrameLine, parseHeaderlessResponse } from '../../contracts/obd/can-frames.ts';
import { decodeDtcs, dtcPayload } from '../../contracts/obd/dtc.ts';
import { splitMultiPidResponse } from '../../contracts/obd/multi-pid.ts';
import { pidByNumber, scalarValue } from '../../contracts/obd/pid-table.ts';
import { decodeSupportedPids } from '../../contracts/obd/supported-pids.ts';
import { decodeVin } from '../../contracts/obd/vin.ts';
import { silentLogger } from '../../common/logger.ts';
import { defaultVehicleSpec } from '../fleet-plan.ts';
import { PID_ENCODINGS } from '../../contracts/obd/pid-encoding.ts';
import type { FaultSpec } from '../faults.ts';
import { PROFILES, type ProfileId } from '../profiles.ts';
import { type Elm327Answer, Elm327Emulator, type Elm327EmulatorOptions } from './elm327-emulator.ts';
import { LiveVehicle, heldFault } from './live-vehicle.ts';
import { exchange } from './test-support.ts';

const START = Date.UTC(2026, 0, 5, 9);
const emulators: Elm327Emulator[] = [];

/** Fast and deterministic: frozen simulated time, no pacing, short ECU latency and timeouts. */
function emulator(options: Elm327EmulatorOptions = {}): Elm327Emulator {
  const e = new Elm327Emulator({
    seed: 7,
    speed: 0,
    startMs: START,
    baudRate: 0,
    ecuLatencyMs: 2,
    resetMs: 5,
    searchMs: 5,
    searchFailMs: 40,
    logger: silentLogger,
    ...options,
  });
  emulators.push(e);
  return e;
}

/** A car of a given model with its simulated time frozen `preRollS` seconds into a trip. */
function car(profileId: ProfileId, preRollS = 30, fault?: FaultSpec): LiveVehicle {
  const spec = { ...defaultVehicleSpec('elm327', 7, 'continuous'), profile: PROFILES[profileId], ...(fault ? { fault } : {}) };
  return new LiveVehicle({ spec, seed: 7, speed: 0, startMs: START, preRollS });
}

afterEach(() => {
  for (const e of emulators.splice(0)) e.close();
});

/** Sends a command line; returns the output without the trailing empty line and prompt. */
async function cmd(e: Elm327Emulator, line: string): Promise<string> {
  const out = await exchange(e, `${line}\r`);
  expect(out.endsWith('\r\r>') || out.endsWith('\r\n\r\n>')).toBe(true);
  return out.replace(/(\r\n|\r)(\r\n|\r)>$/, '');
}

/** Echo off, ATST 10 (40 ms) so NO DATA comes quickly. */
async function quiet(e: Elm327Emulator, ...more: string[]): Promise<void> {
  for (const c of ['ATE0', 'ATST0A', ...more]) expect(await cmd(e, c)).toMatch(/OK$/);
}

const lines = (text: string): string[] => text.split('\r').filter((l) => l !== '');

function headerless(text: string): Uint8Array[] {
  return parseHeaderlessResponse(lines(text)).map((m) => m.data);
}

function withHeaders(text: string): { ecu: string; data: Uint8Array }[] {
  return assembleMessages(lines(text).map((l) => parseFrameLine(l, true)!));
}

describe('AT commands', () => {
  it('answers ATZ with the banner after echoing the command, and ATI/AT@1 with the adapter identity', async () => {
    const e = emulator();
    expect(await exchange(e, 'ATZ\r')).toBe('ATZ\r\r\rELM327 v1.5\r\r>');
    expect(await exchange(e, 'ATI\r')).toBe('ATI\rELM327 v1.5\r\r>');
    expect(await exchange(e, 'AT@1\r')).toBe('AT@1\rOBDII to RS232 Interpreter\r\r>');
    expect(await exchange(e, 'ATWS\r')).toBe('ATWS\r\r\rELM327 v1.5\r\r>');
  });

  it('switches echo, linefeeds and spaces; ignores case and spaces in commands', async () => {
    const e = emulator();
    expect(await exchange(e, 'ATE0\r')).toBe('ATE0\rOK\r\r>'); // echoed before it takes effect
    expect(await exchange(e, 'ATI\r')).toBe('ELM327 v1.5\r\r>');
    expect(await exchange(e, 'at l1\r')).toBe('OK\r\n\r\n>');
    expect(await exchange(e, 'a t i\r')).toBe('ELM327 v1.5\r\n\r\n>');
    expect(await exchange(e, 'ATL0\r')).toBe('OK\r\r>');
    expect(await exchange(e, 'ATE1\r')).toBe('OK\r\r>');
    expect(await exchange(e, 'ATI\r')).toBe('ATI\rELM327 v1.5\r\r>');
  });

  it('answers ? to unknown commands, non-hex requests and over-long lines, and keeps working', async () => {
    const e = emulator();
    await quiet(e);
    expect(await cmd(e, 'ATXYZ')).toBe('?');
    expect(await cmd(e, 'ATE3')).toBe('?');
    expect(await cmd(e, 'HELLO')).toBe('?');
    expect(await cmd(e, '01'.repeat(50))).toBe('?');
    expect(e.stats.linesTooLong).toBe(1);
    expect(await cmd(e, '\xff\x01#!')).toBe('?');
    expect(await cmd(e, 'ATI')).toBe('ELM327 v1.5');
  });

  it('repeats the last command on an empty line', async () => {
    const e = emulator();
    await quiet(e, 'ATSP6');
    expect(await cmd(e, 'ATI')).toBe('ELM327 v1.5');
    expect(await cmd(e, '')).toBe('ELM327 v1.5');
    const rpm = await cmd(e, '010C');
    expect(rpm).toMatch(/^41 0C [0-9A-F]{2} [0-9A-F]{2}$/);
    expect(await cmd(e, '')).toBe(rpm);
  });

  it('reads the battery voltage from the simulated car (ATRV)', async () => {
    const e = emulator();
    await quiet(e);
    const text = await cmd(e, 'ATRV');
    expect(text).toMatch(/^\d{1,2}\.\dV$/);
    expect(text).toBe(`${e.vehicle.values().CONTROL_MODULE_VOLTAGE.toFixed(1)}V`);
  });

  it('ATD restores display defaults but keeps the protocol', async () => {
    const e = emulator();
    await quiet(e, 'ATSP6', 'ATH1', 'ATS0');
    expect(await cmd(e, '010D')).toMatch(/^7E803410D/);
    expect(await exchange(e, 'ATD\r')).toBe('OK\r\r>');
    // Echo is back on after ATD; headers off, spaces on.
    expect(await exchange(e, '010D\r')).toMatch(/^010D\r41 0D [0-9A-F]{2}\r\r>$/);
    expect(await cmd(e, 'ATDPN')).toMatch(/6$/);
  });
});

describe('protocols', () => {
  it('searches on the first request in automatic mode, then reports the protocol it found', async () => {
    const e = emulator();
    await quiet(e);
    expect(await cmd(e, 'ATDP')).toBe('AUTO');
    expect(await cmd(e, 'ATDPN')).toBe('A0');
    const first = await cmd(e, '0100');
    expect(lines(first)[0]).toBe('SEARCHING...');
    expect(lines(first)[1]).toMatch(/^41 00( [0-9A-F]{2}){4}$/);
    expect(await cmd(e, 'ATDP')).toBe('AUTO, ISO 15765-4 (CAN 11/500)');
    expect(await cmd(e, 'ATDPN')).toBe('A6');
    expect(lines(await cmd(e, '0100'))[0]).not.toBe('SEARCHING...');
    // ATPC closes the protocol: the next request searches again.
    await cmd(e, 'ATPC');
    expect(lines(await cmd(e, '0100'))[0]).toBe('SEARCHING...');
  });

  it('prints CAN 29-bit headers on protocol 7 and finds nobody with 11-bit IDs on such a car', async () => {
    const e = emulator({ protocol: '7' });
    await quiet(e, 'ATSP6');
    expect(await cmd(e, 'ATDP')).toBe('ISO 15765-4 (CAN 11/500)');
    expect(await cmd(e, '0100')).toBe('NO DATA');
    await quiet(e, 'ATSP7', 'ATH1');
    const text = await cmd(e, '0100');
    expect(lines(text).map((l) => l.slice(0, 12))).toEqual(['18 DA F1 10 ', '18 DA F1 18 ']);
    expect(withHeaders(text).map((m) => m.ecu)).toEqual(['18DAF110', '18DAF118']);
    await quiet(e, 'ATS0');
    expect(await cmd(e, '010D')).toMatch(/^18DAF11003410D[0-9A-F]{2}0{8}$/);
    // Automatic search finds 29-bit too.
    await quiet(e, 'ATSP0', 'ATH0', 'ATS1');
    expect(lines(await cmd(e, '010D'))).toEqual(['SEARCHING...', expect.stringMatching(/^41 0D [0-9A-F]{2}$/)]);
    expect(await cmd(e, 'ATDPN')).toBe('A7');
  });

  it('reports bus errors for protocols the car does not speak', async () => {
    const e = emulator();
    await quiet(e, 'ATSP8');
    expect(await cmd(e, '0100')).toBe('CAN ERROR');
    await quiet(e, 'ATSP3');
    expect(await cmd(e, '0100')).toBe('BUS INIT: ...ERROR');
    await quiet(e, 'ATSP2');
    expect(await cmd(e, '0100')).toBe('NO DATA');
  });

  it('talks to one ECU at a time with ATSH and to all with the functional address', async () => {
    const e = emulator();
    await quiet(e, 'ATSP6', 'ATH1');
    const both = withHeaders(await cmd(e, '0100'));
    expect(both.map((m) => m.ecu)).toEqual(['7E8', '7E9']);
    await quiet(e, 'ATSH7E1');
    expect(withHeaders(await cmd(e, '0100')).map((m) => m.ecu)).toEqual(['7E9']);
    await quiet(e, 'ATSH7E0');
    expect(withHeaders(await cmd(e, '0100')).map((m) => m.ecu)).toEqual(['7E8']);
    await quiet(e, 'ATSH7E5');
    expect(await cmd(e, '0100')).toBe('NO DATA');
    await quiet(e, 'ATSH7DF');
    // A response count after the request: the adapter stops after that many answers.
    expect(withHeaders(await cmd(e, '01001')).map((m) => m.ecu)).toEqual(['7E8']);
    expect(withHeaders(await cmd(e, '01002')).map((m) => m.ecu)).toEqual(['7E8', '7E9']);
  });
});

describe('service 01', () => {
  it('formats one answer with each display setting', async () => {
    const e = emulator();
    await quiet(e, 'ATSP6');
    const plain = await cmd(e, '010C');
    const m = /^41 0C ([0-9A-F]{2}) ([0-9A-F]{2})$/.exec(plain);
    expect(m).not.toBeNull();
    const [a, b] = [m![1]!, m![2]!];
    expect(pidByNumber(0x0c)!.decode(Uint8Array.of(parseInt(a, 16), parseInt(b, 16)))).toBe(e.lastServedValues!.RPM);
    await quiet(e, 'ATS0');
    expect(await cmd(e, '010C')).toBe(`410C${a}${b}`);
    await quiet(e, 'ATH1');
    expect(await cmd(e, '010C')).toBe(`7E804410C${a}${b}000000`);
    await quiet(e, 'ATS1');
    expect(await cmd(e, '010C')).toBe(`7E8 04 41 0C ${a} ${b} 00 00 00`);
    await quiet(e, 'ATH0', 'ATCAF0');
    // Without auto-formatting the host writes the PCI byte and sees the whole frame.
    expect(await cmd(e, '02010C')).toBe(`04 41 0C ${a} ${b} 00 00 00`);
    expect(await cmd(e, '0C')).toBe('NO DATA');
  });

  it('announces exactly the PIDs it answers in the 0100/0120/0140 bitmaps and says NO DATA for the rest', async () => {
    const e = emulator();
    await quiet(e, 'ATSP6', 'ATSH7E0', 'ATST01');
    const announced: number[] = [];
    for (const base of [0x00, 0x20, 0x40]) {
      const [data] = headerless(await cmd(e, `01${base.toString(16).padStart(2, '0')}`));
      expect(data!.subarray(0, 2)).toEqual(Uint8Array.of(0x41, base));
      announced.push(...decodeSupportedPids(base, data!.subarray(2)));
    }
    expect(announced).toEqual([...e.supportedPids]);
    expect(await cmd(e, '0160')).toBe('NO DATA');
    for (let pid = 1; pid < 0x60; pid++) {
      const hex = pid.toString(16).padStart(2, '0').toUpperCase();
      const text = await cmd(e, `01${hex}`);
      if (announced.includes(pid)) expect(text, `PID ${hex}`).toMatch(new RegExp(`^41 ${hex}( [0-9A-F]{2})+$`));
      else expect(text, `PID ${hex}`).toBe('NO DATA');
    }
  });

  it.each(['compact-2.0-maf', 'etios-1.5-map'] as const)('serves every signal of the simulator (%s) with the value the simulator holds', async (profileId) => {
    const e = emulator({ vehicle: car(profileId, 90) });
    await quiet(e, 'ATSP6');
    const values = e.vehicle.values();
    expect(values.RPM).toBeGreaterThan(0); // the engine runs after the pre-roll
    let served = 0;
    for (const enc of PID_ENCODINGS) {
      const hex = enc.pid.toString(16).padStart(2, '0').toUpperCase();
      const text = await cmd(e, `01${hex}`);
      const expected = values[enc.signal];
      if (expected === undefined) {
        expect(text, enc.signal).toBe('NO DATA'); // MAF on a MAP engine and the other way round
        continue;
      }
      const [data] = headerless(text);
      const def = pidByNumber(enc.pid)!;
      const decoded = def.decode(data!.subarray(2));
      const number = typeof decoded === 'number' ? decoded : (decoded as Record<string, number>)[def.primary!];
      expect(number, enc.signal).toBe(expected);
      served++;
    }
    expect(served).toBe(PID_ENCODINGS.length - 1);
  });

  it('answers up to six PIDs in one request as one multi-frame message, headers on and off', async () => {
    const e = emulator({ vehicle: car('compact-2.0-maf') });
    await quiet(e, 'ATSP6');
    const request = [0x0c, 0x0d, 0x05, 0x04, 0x11, 0x0f];
    const text = await cmd(e, `01${request.map((p) => p.toString(16).padStart(2, '0')).join('')}`);
    expect(lines(text)[0]).toMatch(/^0[0-9A-F]{2}$/); // the headerless multi-frame form: length first
    expect(lines(text)[1]).toMatch(/^0: 41 0C/);
    const [message] = headerless(text);
    const parts = splitMultiPidResponse(message!);
    expect([...parts.keys()]).toEqual(request);
    const v = e.lastServedValues!;
    const signals = ['RPM', 'SPEED', 'COOLANT_TEMP', 'ENGINE_LOAD', 'THROTTLE_POS', 'INTAKE_TEMP'] as const;
    signals.forEach((signal, i) => expect(pidByNumber(request[i]!)!.decode(parts.get(request[i]!)!), signal).toBe(v[signal]));

    await quiet(e, 'ATH1');
    const framed = await cmd(e, '010C0D05040B11');
    expect(lines(framed)[0]).toMatch(/^7E8 10 /);
    expect(lines(framed)[1]).toMatch(/^7E8 21 /);
    const [msg] = withHeaders(framed);
    // The MAF car has no MAP sensor: PID 0B is left out of the answer.
    expect([...splitMultiPidResponse(msg!.data).keys()]).toEqual([0x0c, 0x0d, 0x05, 0x04, 0x11]);
    expect(await cmd(e, '010C0D05040B110F')).toBe('?'); // seven PIDs do not fit a single frame
  });

  it('answers 0100 from the engine and the transmission ECU', async () => {
    const e = emulator();
    await quiet(e, 'ATSP6');
    const text = await cmd(e, '0100');
    expect(lines(text)).toHaveLength(2);
    expect(lines(text)[1]).toBe('41 00 80 00 00 00');
    const off = emulator({ transmissionEcu: false });
    await quiet(off, 'ATSP6');
    expect(lines(await cmd(off, '0100'))).toHaveLength(1);
  });
});

describe('service 09', () => {
  it('sends the VIN as a multi-frame message in every display form', async () => {
    const e = emulator({ vin: '1HGCM82633A004352' });
    await quiet(e, 'ATSP6');
    const text = await cmd(e, '0902');
    expect(lines(text)).toEqual(['014', expect.stringMatching(/^0: 49 02 01 31 48 47$/), expect.stringMatching(/^1: /), expect.stringMatching(/^2: /)]);
    const [plain] = headerless(text);
    expect(decodeVin(plain!.subarray(3))).toBe('1HGCM82633A004352');
    await quiet(e, 'ATH1');
    const framed = await cmd(e, '0902');
    expect(lines(framed).map((l) => l.slice(0, 6))).toEqual(['7E8 10', '7E8 21', '7E8 22']);
    expect(decodeVin(withHeaders(framed)[0]!.data.subarray(3))).toBe('1HGCM82633A004352');
    await quiet(e, 'ATH0', 'ATS0');
    expect(lines(await cmd(e, '0902'))[1]).toBe('0:490201314847');
  });

  it('rejects a malformed VIN at construction', () => {
    expect(() => emulator({ vin: 'IOQ' })).toThrow(/VIN/);
  });
});

describe('DTCs', () => {
  async function dtcs(e: Elm327Emulator, service: '03' | '07'): Promise<string[]> {
    const messages = withHeaders(await cmd(e, service));
    return messages.flatMap((m) => decodeDtcs(dtcPayload(m.data, true)));
  }

  it('reports a misfire only once the ECU monitors have set it: pending in the first trip, stored with the MIL in the second', async () => {
    const e = emulator({ vehicle: car('compact-2.0-maf', 5, heldFault('misfire', 1, START, 3)) });
    await quiet(e, 'ATSP6', 'ATH1');
    expect(await dtcs(e, '07')).toEqual([]);
    let pendingAt = -1;
    for (let step = 1; step <= 40 && pendingAt < 0; step++) {
      e.vehicle.advance(15);
      const pending = await dtcs(e, '07');
      // Exactly what the simulator's monitors hold at this moment, never earlier.
      expect(pending).toEqual(e.vehicle.dtcs().pending);
      if (pending.length > 0) pendingAt = step;
    }
    expect(pendingAt).toBeGreaterThan(1);
    expect(await dtcs(e, '07')).toEqual(['P0303']);
    expect(await dtcs(e, '03')).toEqual([]); // one failing trip does not confirm a code
    const status = withHeaders(await cmd(e, '0101')).find((m) => m.ecu === '7E8')!;
    expect(status.data[2]! & 0x80).toBe(0);

    // Key off and on: a second drive cycle that fails again confirms the code and lights the MIL.
    e.setIgnition(false);
    e.setIgnition(true);
    for (let step = 0; step < 40 && (await dtcs(e, '03')).length === 0; step++) e.vehicle.advance(15);
    expect(await dtcs(e, '03')).toEqual(['P0303']);
    const lit = withHeaders(await cmd(e, '0101')).find((m) => m.ecu === '7E8')!;
    expect(lit.data[2]).toBe(0x81); // MIL on, one code

    // Service 04 clears: no codes and the MIL off until the monitors fail again.
    expect(lines(await cmd(e, '04')).map((l) => l.slice(0, 12))).toEqual(['7E8 01 44 00', '7E9 01 44 00']);
    expect(await dtcs(e, '03')).toEqual([]);
    expect(await dtcs(e, '07')).toEqual([]);
    expect(withHeaders(await cmd(e, '0101')).find((m) => m.ecu === '7E8')!.data[2]).toBe(0);
  });
});

describe('freeze frame, permanent codes and readiness', () => {
  async function dtcs(e: Elm327Emulator, service: '03' | '07' | '0A'): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const m of withHeaders(await cmd(e, service))) out.set(m.ecu, decodeDtcs(dtcPayload(m.data, true)));
    return out;
  }
  /** PID 01 of the engine ECU, decoded by the agent's PID table. */
  async function status(e: Elm327Emulator): Promise<Record<string, unknown>> {
    const m = withHeaders(await cmd(e, '0101')).find((x) => x.ecu === '7E8')!;
    return pidByNumber(1)!.decode(m.data.subarray(2)) as Record<string, unknown>;
  }
  /** A service 02 answer of the engine ECU: [pid, frame, data] per pair. */
  async function freeze(e: Elm327Emulator, request: string): Promise<Array<[number, number, Uint8Array]>> {
    const m = withHeaders(await cmd(e, request)).find((x) => x.ecu === '7E8');
    if (!m) return [];
    expect(m.data[0]).toBe(0x42);
    const out: Array<[number, number, Uint8Array]> = [];
    for (let i = 1; i < m.data.length; ) {
      const pid = m.data[i]!;
      const n = pid === 0x02 ? 2 : pid % 0x20 === 0 ? 4 : pidByNumber(pid)!.bytes;
      out.push([pid, m.data[i + 1]!, m.data.subarray(i + 2, i + 2 + n)]);
      i += 2 + n;
    }
    return out;
  }
  const oracle = createRequire(import.meta.url)('obd-parser') as { PIDS: Record<string, new () => { getPid(): string; getValueForBytes(b: string[]): unknown }> };
  // The base class `PID` is exported too and cannot be built alone.
  const oracleFor = new Map(Object.entries(oracle.PIDS).filter(([name]) => name !== 'PID').map(([, C]) => new C()).map((p) => [parseInt(p.getPid(), 16), p]));

  it('serves the freeze frame of the code that lit the MIL, keeps the code permanent after 04, and restarts readiness', async () => {
    const e = emulator({ vehicle: car('compact-2.0-maf', 5, heldFault('misfire', 1, START, 3)) });
    await quiet(e, 'ATSP6', 'ATH1');
    // A fresh ECU: no code, no frame; every supported monitor incomplete, the unsupported ones absent.
    expect(await status(e)).toMatchObject({ MIL: false, DTC_COUNT: 0, IGNITION: 'spark', MISFIRE_AVAILABLE: true, MISFIRE_INCOMPLETE: true, CATALYST_AVAILABLE: true, CATALYST_INCOMPLETE: true, EGR_SYSTEM_AVAILABLE: false });
    expect(await freeze(e, '020200')).toEqual([[0x02, 0, Uint8Array.of(0, 0)]]);
    expect(await cmd(e, '020C00')).toBe('NO DATA');
    expect((await dtcs(e, '0A')).get('7E8')).toEqual([]);
    // Both ECUs answer 0A and the freeze-frame DTC, as every emissions ECU must.
    expect([...(await dtcs(e, '0A')).keys()]).toEqual(['7E8', '7E9']);
    expect(withHeaders(await cmd(e, '020200')).map((m) => m.ecu)).toEqual(['7E8', '7E9']);

    // Drive two failing trips: pending, then confirmed with the MIL.
    for (let step = 0; step < 80 && (await dtcs(e, '07')).get('7E8')!.length === 0; step++) e.vehicle.advance(15);
    expect(await status(e)).toMatchObject({ MIL: false, MISFIRE_INCOMPLETE: false });
    e.setIgnition(false);
    e.setIgnition(true);
    for (let step = 0; step < 80 && (await dtcs(e, '03')).get('7E8')!.length === 0; step++) e.vehicle.advance(15);
    expect((await dtcs(e, '03')).get('7E8')).toEqual(['P0303']);
    expect((await dtcs(e, '0A')).get('7E8')).toEqual(['P0303']);
    expect(await status(e)).toMatchObject({ MIL: true, DTC_COUNT: 1, MISFIRE_INCOMPLETE: false });

    // The frame: which code stored it, and the signals at that moment, exactly as the ECU holds them.
    const frame = e.vehicle.freezeFrame()!;
    expect(frame.code).toBe('P0303');
    expect(await freeze(e, '020200')).toEqual([[0x02, 0, Uint8Array.of(0x03, 0x03)]]);
    const [[, , bitmap]] = (await freeze(e, '020000')) as [[number, number, Uint8Array]];
    const announced = decodeSupportedPids(0, bitmap);
    expect(announced).toContain(0x02);
    expect(announced).toContain(0x0c);
    let compared = 0;
    let checkedByOracle = 0;
    for (const enc of PID_ENCODINGS) {
      const value = frame.signals[enc.signal];
      if (value === undefined) continue;
      const hex = enc.pid.toString(16).toUpperCase().padStart(2, '0');
      const [[pid, frameNo, data]] = (await freeze(e, `02${hex}00`)) as [[number, number, Uint8Array]];
      expect([pid, frameNo]).toEqual([enc.pid, 0]);
      expect(scalarValue(pidByNumber(pid)!, pidByNumber(pid)!.decode(data)), enc.signal).toBe(value);
      compared++;
      const theirs = oracleFor.get(enc.pid);
      if (theirs && [0x05, 0x0b, 0x0c, 0x0d, 0x0f, 0x10, 0x11, 0x2f].includes(enc.pid)) {
        expect(Number(theirs.getValueForBytes([0x41, pid, ...data].map((b) => b.toString(16).padStart(2, '0')))), `obd-parser on ${enc.signal}`).toBeCloseTo(value, 6);
        checkedByOracle++;
      }
    }
    expect(compared).toBeGreaterThanOrEqual(14);
    expect(checkedByOracle).toBeGreaterThanOrEqual(5);
    expect(frame.signals.RPM).toBeGreaterThan(500);
    // Several pairs in one request come back in one message.
    expect(await cmd(e, '020C00050002000D00')).toBe('?'); // four pairs do not fit a single frame
    expect((await freeze(e, '020C0005000200')).map(([pid]) => pid)).toEqual([0x0c, 0x05, 0x02]);
    expect(await cmd(e, '020C01')).toBe('NO DATA'); // only frame 0 exists

    // Service 04: codes, frame and readiness go; the code stays permanent while the misfire persists.
    await cmd(e, '04');
    expect((await dtcs(e, '03')).get('7E8')).toEqual([]);
    expect((await dtcs(e, '07')).get('7E8')).toEqual([]);
    expect((await dtcs(e, '0A')).get('7E8')).toEqual(['P0303']);
    expect(await freeze(e, '020200')).toEqual([[0x02, 0, Uint8Array.of(0, 0)]]);
    expect(await status(e)).toMatchObject({ MIL: false, DTC_COUNT: 0, MISFIRE_INCOMPLETE: true, CATALYST_INCOMPLETE: true });
    for (let step = 0; step < 80 && (await dtcs(e, '07')).get('7E8')!.length === 0; step++) e.vehicle.advance(15);
    expect((await dtcs(e, '07')).get('7E8')).toEqual(['P0303']);
    expect((await dtcs(e, '0A')).get('7E8')).toEqual(['P0303']);
    expect(await status(e)).toMatchObject({ MIL: false, MISFIRE_INCOMPLETE: false });
  });
});

describe('conditions a test can inject', () => {
  it('ignition off: UNABLE TO CONNECT while searching, NO DATA once connected, answers again when on', async () => {
    const e = emulator();
    await quiet(e);
    e.setIgnition(false);
    expect(await cmd(e, 'ATIGN')).toBe('OFF');
    expect(lines(await cmd(e, '0100'))).toEqual(['SEARCHING...', 'UNABLE TO CONNECT']);
    e.setIgnition(true);
    expect(lines(await cmd(e, '0100'))[0]).toBe('SEARCHING...');
    expect(await cmd(e, '010D')).toMatch(/^41 0D/);
    e.setIgnition(false);
    expect(await cmd(e, '010D')).toBe('NO DATA');
    e.setIgnition(true);
    expect(await cmd(e, '010D')).toMatch(/^41 0D/);
  });

  it('an ECU that stops answering gives NO DATA; a missing bus CAN ERROR', async () => {
    const e = emulator();
    await quiet(e, 'ATSP6');
    e.setEcuResponding(false);
    expect(await cmd(e, '010C')).toBe('NO DATA');
    expect(e.stats.noData).toBe(1);
    e.setEcuResponding(true);
    expect(await cmd(e, '010C')).toMatch(/^41 0C/);
    e.setBusConnected(false);
    expect(await cmd(e, '010C')).toBe('CAN ERROR');
    e.setBusConnected(true);
    expect(await cmd(e, '010C')).toMatch(/^41 0C/);
  });

  it('stops a request when a character arrives before the prompt, and discards that character', async () => {
    const e = emulator({ ecuLatencyMs: 200 });
    await quiet(e, 'ATSP6');
    const pending = exchange(e, '010C\r');
    await new Promise((r) => setTimeout(r, 20));
    e.handleInput('X');
    expect(await pending).toBe('STOPPED\r\r>');
    expect(e.stats.interrupted).toBe(1);
    expect(await cmd(e, 'ATI')).toBe('ELM327 v1.5'); // the X did not end up in this command
  });

  it('a search stopped midway leaves the protocol undecided', async () => {
    const e = emulator({ searchMs: 200 });
    await quiet(e);
    const pending = exchange(e, '0100\r');
    await new Promise((r) => setTimeout(r, 20));
    e.handleInput('\r');
    expect(await pending).toBe('SEARCHING...\rSTOPPED\r\r>');
    expect(await cmd(e, 'ATDPN')).toBe('A0');
  });

  it('a slower ECU still answers the same data', async () => {
    const e = emulator();
    await quiet(e, 'ATSP6');
    const fast = await cmd(e, '010D');
    e.setEcuLatencyMs(60);
    expect(await cmd(e, '010D')).toBe(fast);
    expect(() => e.setEcuLatencyMs(-1)).toThrow(RangeError);
  });

  it('injects garbage on the line without disturbing the next answer', async () => {
    const e = emulator();
    await quiet(e);
    const seen: number[] = [];
    const off = e.onOutput((b) => seen.push(...b));
    e.injectGarbage(Uint8Array.of(0xff, 0x00, 0x13));
    await e.drained();
    off();
    expect(seen).toEqual([0xff, 0x00, 0x13]);
    expect(await cmd(e, 'ATI')).toBe('ELM327 v1.5');
  });

  it('power cycle forgets settings and the protocol', async () => {
    const e = emulator();
    await quiet(e, 'ATSP7', 'ATH1');
    e.powerCycle();
    expect(await exchange(e, 'ATDPN\r')).toBe('ATDPN\rA0\r\r>');
  });
});

describe('pacing', () => {
  it('sends output at the configured baud rate in order (bytes are counted, not timed)', async () => {
    const e = emulator({ baudRate: 38400 });
    const chunks: number[] = [];
    e.onOutput((b) => chunks.push(b.length));
    const out = await exchange(e, 'ATI\r');
    expect(out).toBe('ATI\rELM327 v1.5\r\r>');
    expect(chunks.reduce((a, b) => a + b, 0)).toBe(out.length);
  });
});

describe('answer trace (onAnswer)', () => {
  it('notes each value an answer carries, from the ECU that sent it, with the bytes that carry it', async () => {
    const answers: Elm327Answer[] = [];
    const e = emulator({ onAnswer: (a) => answers.push(a) });
    await quiet(e, 'ATSP6', 'ATH1', 'ATS0');
    const out = await cmd(e, '010C0D'); // one CAN frame
    const served = e.lastServedValues!;
    expect(answers.map((a) => [a.ecu, a.service, a.pid, a.name, a.value])).toEqual([
      ['7E8', 1, 0x0c, 'RPM', served.RPM],
      ['7E8', 1, 0x0d, 'SPEED', served.SPEED],
    ]);
    // The noted bytes are the ones on the line, and decode back to the noted value.
    expect(out).toMatch(new RegExp(`^7E8\\w\\w410C${answers[0]!.raw}0D${answers[1]!.raw}`));
    for (const a of answers) expect(pidByNumber(a.pid!)!.decode(Buffer.from(a.raw, 'hex'))).toBe(a.value);

    answers.length = 0;
    await cmd(e, '0101');
    await cmd(e, '03');
    await cmd(e, '0902');
    expect(answers.map((a) => [a.ecu, a.name, a.value])).toEqual([
      ['7E8', 'STATUS', expect.objectContaining({ MIL: false, DTC_COUNT: 0, IGNITION: 'spark', MISFIRE_AVAILABLE: true, CATALYST_AVAILABLE: true, EGR_SYSTEM_AVAILABLE: false })],
      ['7E9', 'STATUS', { MIL: false, DTC_COUNT: 0 }],
      ['7E8', 'STORED_DTCS', []],
      ['7E9', 'STORED_DTCS', []],
      ['7E8', 'VIN', e.vin],
    ]);
    // The engine ECU states every monitor of PID 01: exactly what its bytes decode to.
    expect(pidByNumber(1)!.decode(Buffer.from(answers[0]!.raw, 'hex'))).toEqual(answers[0]!.value);
  });

  it('notes nothing for an answer a STOPPED request never printed', async () => {
    const answers: Elm327Answer[] = [];
    const e = emulator({ ecuLatencyMs: 200, onAnswer: (a) => answers.push(a) });
    await quiet(e, 'ATSP6');
    const pending = exchange(e, '010C\r');
    await new Promise((r) => setTimeout(r, 20));
    e.handleInput('X');
    expect(await pending).toBe('STOPPED\r\r>');
    expect(answers).toEqual([]);
  });
});
