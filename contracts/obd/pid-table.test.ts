import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_01_PIDS, pidByName, pidByNumber, pidTableMarkdown, scalarValue, type PidValue } from './pid-table.ts';
import { PID_ENCODINGS, decodeRaw, encodePid } from './pid-encoding.ts';
import { signalInfo } from '../signals.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(s.split(/\s+/).filter(Boolean).map((b) => parseInt(b, 16)));

/** A deterministic spread of byte strings: all zero, all FF, a walking pattern and pseudo-random ones. */
function samples(bytes: number): Uint8Array[] {
  const out = [new Uint8Array(bytes), new Uint8Array(bytes).fill(0xff), new Uint8Array(bytes).fill(0x80)];
  let x = 0x2545f491;
  for (let n = 0; n < 64; n++) {
    const s = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      s[i] = x & 0xff;
    }
    out.push(s);
  }
  return out;
}

describe('service 01 PID table', () => {
  it('holds every PID 0x00–0x5F exactly once, sorted, with unique names', () => {
    expect(SERVICE_01_PIDS.map((d) => d.pid)).toEqual(Array.from({ length: 0x60 }, (_, i) => i));
    expect(new Set(SERVICE_01_PIDS.map((d) => d.name)).size).toBe(0x60);
    for (const d of SERVICE_01_PIDS) {
      expect(d.name).toMatch(/^[A-Z][A-Z0-9_]*$/);
      expect(d.bytes).toBeGreaterThanOrEqual(1);
      expect(d.bytes).toBeLessThanOrEqual(4);
      expect(d.description.length).toBeGreaterThan(3);
      expect(d.formula.length).toBeGreaterThan(0);
      expect(pidByNumber(d.pid)).toBe(d);
      expect(pidByName(d.name)).toBe(d);
    }
    expect(pidByNumber(0x60)).toBeUndefined();
    expect(pidByName('NOPE')).toBeUndefined();
  });

  it('has the J1979 byte counts', () => {
    // One hex digit per PID, 0x00 first, written out from the J1979 PID list.
    const expected = ['4422111111112111', '2111222222221112', '4222444444441111', '1221444444442222', '4422211111111224', '4112222222111221'].join('');
    expect(SERVICE_01_PIDS.map((d) => d.bytes).join('')).toBe(expected);
  });

  it('round-trips encode → decode for every PID over a spread of byte values', () => {
    for (const d of SERVICE_01_PIDS) {
      for (const bytes of samples(d.bytes)) {
        const value = d.decode(bytes);
        const again = d.encode(value);
        expect(again.length, d.name).toBe(d.bytes);
        expect(d.decode(again), `${d.name} ${Buffer.from(bytes).toString('hex')}`).toEqual(value);
        // Plain numbers carry every bit, so the bytes themselves must come back.
        if (typeof d.decode(bytes) === 'number' && d.name !== 'EMISSION_REQ') expect(Array.from(again), d.name).toEqual(Array.from(bytes));
      }
    }
  });

  it('quantises numeric values to the PID resolution and clamps to its range', () => {
    const rpm = pidByName('RPM')!;
    expect(rpm.decode(rpm.encode(1726.1))).toBe(1726);
    expect(rpm.decode(rpm.encode(99_999))).toBe(16383.75);
    expect(rpm.decode(rpm.encode(-5))).toBe(0);
    const evap = pidByName('EVAP_VAPOR_PRESSURE')!;
    expect(evap.decode(evap.encode(-100.25))).toBe(-100.25);
    expect(Array.from(evap.encode(-0.25))).toEqual([0xff, 0xff]);
    expect(evap.decode(evap.encode(-1e9))).toBe(-8192);
  });

  it('decodes textbook responses', () => {
    const dec = (name: string, data: string): PidValue => pidByName(name)!.decode(hex(data));
    expect(dec('RPM', '1A F8')).toBe(1726);
    expect(dec('COOLANT_TEMP', '7B')).toBe(83);
    expect(dec('SPEED', '3C')).toBe(60);
    expect(dec('TIMING_ADVANCE', '8C')).toBe(6);
    expect(dec('MAF', '01 F4')).toBe(5);
    expect(dec('SHORT_FUEL_TRIM_1', '80')).toBe(0);
    expect(dec('CONTROL_MODULE_VOLTAGE', '36 B0')).toBe(14);
    expect(dec('CATALYST_TEMP_B1S1', '12 C0')).toBe(440);
    expect(dec('FUEL_RATE', '00 64')).toBe(5);
    expect(dec('FUEL_INJECT_TIMING', '69 00')).toBe(0);
    expect(dec('EVAP_VAPOR_PRESSURE_ALT', 'FF 38')).toBe(-200);
    expect(dec('PIDS_A', 'BE 1F A8 13')).toEqual([0x01, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x13, 0x15, 0x1c, 0x1f, 0x20]);
    expect(dec('O2_B1S1', '5A FF')).toEqual({ voltage: 0.45, trim: null });
    expect(dec('O2_B1S2', 'C8 80')).toEqual({ voltage: 1, trim: 0 });
    expect(dec('O2_S1_WR_VOLTAGE', '80 00 40 00')).toEqual({ ratio: 1, voltage: 2 });
    expect(dec('O2_S1_WR_CURRENT', '80 00 80 00')).toEqual({ ratio: 1, current: 0 });
    expect(dec('FUEL_STATUS', '02 00')).toEqual({ SYSTEM_1: 'closed loop: oxygen sensor feedback', SYSTEM_2: null });
    expect(dec('OBD_COMPLIANCE', '06')).toBe('EOBD');
    expect(dec('OBD_COMPLIANCE', '0E')).toBe('code 0x0E');
    expect(dec('FUEL_TYPE', '04')).toBe('diesel');
    expect(dec('AIR_STATUS', '02')).toBe('downstream of catalytic converter');
    expect(dec('FREEZE_DTC', '03 01')).toBe('P0301');
    expect(dec('O2_SENSORS', '03')).toMatchObject({ B1S1: true, B1S2: true, B1S3: false, B2S1: false });
    expect(dec('MAX_MAF', '32 00 00 00')).toEqual({ MAX_MAF: 500 });
    const status = dec('STATUS', '83 07 65 04') as Record<string, unknown>;
    expect(status).toMatchObject({ MIL: true, DTC_COUNT: 3, IGNITION: 'spark', MISFIRE_AVAILABLE: true, MISFIRE_INCOMPLETE: false, CATALYST_AVAILABLE: true, EVAPORATIVE_SYSTEM_AVAILABLE: true, EVAPORATIVE_SYSTEM_INCOMPLETE: true, HEATED_CATALYST_AVAILABLE: false });
    const diesel = dec('STATUS', '00 08 01 01') as Record<string, unknown>;
    expect(diesel).toMatchObject({ MIL: false, DTC_COUNT: 0, IGNITION: 'compression', NMHC_CATALYST_AVAILABLE: true, NMHC_CATALYST_INCOMPLETE: true });
    expect(diesel).not.toHaveProperty('CATALYST_AVAILABLE');
    expect(dec('STATUS_DRIVE_CYCLE', 'FF 00 00 00')).not.toHaveProperty('MIL');
  });

  it('never throws on short data and reads missing bytes as zero', () => {
    for (const d of SERVICE_01_PIDS) expect(() => d.decode(new Uint8Array(0)), d.name).not.toThrow();
    expect(pidByName('RPM')!.decode(hex('1A'))).toBe(1664);
  });

  it('encodes an object PID from its primary number alone', () => {
    const o2 = pidByName('O2_B1S1')!;
    expect(Array.from(o2.encode(0.45))).toEqual([0x5a, 0xff]);
    expect(scalarValue(o2, o2.decode(hex('5A 80')))).toBe(0.45);
    expect(scalarValue(pidByName('FUEL_TYPE')!, 'diesel')).toBeUndefined();
  });
});

describe('agreement with contracts/obd/pid-encoding.ts and contracts/signals.ts', () => {
  it('uses the signal names, PIDs, units and scaling the simulator uses', () => {
    expect(PID_ENCODINGS.length).toBeGreaterThanOrEqual(17);
    for (const e of PID_ENCODINGS) {
      const d = pidByName(e.signal);
      expect(d, e.signal).toBeDefined();
      expect(d!.pid, e.signal).toBe(e.pid);
      expect(d!.unit, e.signal).toBe(signalInfo(e.signal)!.unit);
      const maxRaw = e.bytes === 1 ? 0xff : 0xffff;
      for (let raw = 0; raw <= maxRaw; raw += e.bytes === 1 ? 1 : 97) {
        const simBytes = e.bytes === 1 ? [raw] : [raw >> 8, raw & 0xff];
        // Our table carries the full J1979 width (O2 voltage comes with its trim byte): pad like an ECU.
        const wire = Uint8Array.from([...simBytes, ...Array<number>(d!.bytes - e.bytes).fill(0xff)]);
        const ours = scalarValue(d!, d!.decode(wire));
        expect(ours, `${e.signal} raw ${raw}`).toBe(decodeRaw(e, raw));
        expect(Array.from(d!.encode(ours!)).slice(0, e.bytes), `${e.signal} raw ${raw}`).toEqual(encodePid(e, ours!));
      }
    }
  });
});

describe('docs/obd.md', () => {
  it('carries the PID table exactly as the code defines it', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'obd.md'), 'utf8');
    expect(doc).toContain(pidTableMarkdown());
  });
});
