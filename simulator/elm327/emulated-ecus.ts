/**
 * The control units on the emulated car's bus and what each answers to an OBD-II request
 * (SAE J1979 services 01, 03, 04, 07, 09, 0A). The engine ECU serves every signal the simulator
 * produces plus the status/distance/ambient PIDs a scan tool expects; an optional transmission ECU
 * answers the few requests every emissions-related ECU must (supported PIDs, status, DTCs), so a
 * functional request gets answers from two ECUs as on a real car.
 *
 * Answers are service payloads (e.g. `41 0C 1A F8`); framing and display are the adapter's job.
 * `undefined` means the ECU stays silent (what an ECU does on a functional request it cannot serve).
 */
import { encodeDtc } from '../../contracts/obd/dtc.ts';
import { type PidValue, pidByNumber } from '../../contracts/obd/pid-table.ts';
import { encodeSupportedPids } from '../../contracts/obd/supported-pids.ts';
import { encodeVinResponse } from '../../contracts/obd/vin.ts';
import { PID_ENCODINGS } from '../../contracts/obd/pid-encoding.ts';
import type { VehicleSignals } from '../vehicle-model.ts';
import type { LiveVehicle } from './live-vehicle.ts';

export interface EmulatedEcu {
  /** Short name for logs and docs: 'engine', 'transmission'. */
  readonly name: string;
  /** ECU number in ISO 15765-4 addressing: 0 → 7E0/7E8 (11-bit), 10/F1 → 18DA10F1/18DAF110 (29-bit). */
  readonly index: number;
  /**
   * The response payload for a request payload, or undefined to stay silent. When `note` is given
   * it is called, before this returns, once per value the answer carries (each service 01 PID, the
   * DTC list of services 03/07/0A, the VIN), with the value the ECU meant to send.
   */
  answer(request: Uint8Array, note?: (n: AnswerNote) => void): Uint8Array | undefined;
}

/**
 * One value in an ECU's answer, as the ECU meant it: for a simulator signal the simulator's value
 * (already at the PID's resolution), for the other PIDs what the ECU states (e.g. `FUEL_STATUS`
 * `{ SYSTEM_1: 'closed loop: oxygen sensor feedback' }`, a bitmap as its PID list), never the bytes read
 * back; `raw` is the data bytes sent for it (after the PID).
 */
export interface AnswerNote {
  service: number;
  /** Service 01/09 PID; absent for the DTC services. */
  pid?: number;
  name: string;
  /** A PID's value as the PID table's `decode` gives it; a DTC list as codes (`P0301`); the VIN as text. */
  value: PidValue | readonly string[];
  raw: Uint8Array;
}

/** DTCs as the emulated ECU reports them, after a service 04 clear (see `DtcView`). */
export interface DtcState {
  stored: readonly string[];
  pending: readonly string[];
  milOn: boolean;
}

/**
 * What services 03/07/04 see. The simulator's ECU monitors cannot be reset from outside, so a
 * clear hides the codes present at that moment: pending ones until the next trip (a fault that
 * persists fails its monitor again and they come back), stored ones until the second trip after
 * the clear (two failing trips confirm a code, as in the monitors).
 */
export class DtcView {
  private cleared: { trip: number; stored: Set<string>; pending: Set<string> } | undefined;
  private clearedAtKm = 0;
  private milOnKm = 0;
  private lastKm = 0;

  constructor(private readonly vehicle: LiveVehicle) {}

  state(): DtcState {
    const raw = this.vehicle.dtcs();
    const trip = this.vehicle.tripsStarted;
    const c = this.cleared;
    const stored = c ? raw.stored.filter((code) => !(c.stored.has(code) && trip <= c.trip + 1)) : raw.stored;
    const pending = c ? raw.pending.filter((code) => !((c.pending.has(code) || c.stored.has(code)) && trip <= c.trip)) : raw.pending;
    const milOn = stored.length > 0;
    const km = this.vehicle.distanceKm;
    if (milOn) this.milOnKm += km - this.lastKm;
    this.lastKm = km;
    return { stored, pending, milOn };
  }

  clear(): void {
    const raw = this.vehicle.dtcs();
    this.cleared = { trip: this.vehicle.tripsStarted, stored: new Set(raw.stored), pending: new Set(raw.pending) };
    this.clearedAtKm = this.vehicle.distanceKm;
    this.milOnKm = 0;
  }

  /** Distance since the last clear (PID 31), km. */
  get kmSinceClear(): number {
    return this.vehicle.distanceKm - this.clearedAtKm;
  }

  /** Distance driven with the MIL on (PID 21), km. */
  get kmWithMil(): number {
    return this.milOnKm;
  }
}

const u8 = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes.map((b) => b & 0xff));

function dtcMessage(service: number, codes: readonly string[]): Uint8Array {
  // On CAN the count byte comes first (ISO 15765-4); codes are two bytes each.
  return u8(service + 0x40, codes.length, ...codes.flatMap((c) => encodeDtc(c)));
}

/** Service 01 PID 01: MIL and DTC count, spark ignition, continuous monitors supported and complete. */
function monitorStatus(dtcs: DtcState): Uint8Array {
  const a = (dtcs.milOn ? 0x80 : 0) | Math.min(0x7f, dtcs.stored.length);
  // B: misfire, fuel system, components supported (bits 0-2), none incomplete (bits 4-6).
  const b = 0x07;
  // C: catalyst, O2 sensor, O2 heater supported; D: their readiness (0 = complete).
  const c = 0x01 | 0x20 | 0x40;
  return u8(a, b, c, 0x00);
}

/** A PID's value and the bytes that carry it. */
type PidSource = (v: VehicleSignals) => { value: PidValue; bytes: number[] } | undefined;

const pidName = (pid: number): string => pidByNumber(pid)?.name ?? `PID_${pid.toString(16).toUpperCase().padStart(2, '0')}`;

function noteDtcs(note: ((n: AnswerNote) => void) | undefined, service: number, message: Uint8Array, codes: readonly string[]): Uint8Array {
  const name = service === 0x03 ? 'STORED_DTCS' : service === 0x07 ? 'PENDING_DTCS' : 'PERMANENT_DTCS';
  note?.({ service, name, value: [...codes], raw: message.subarray(1) });
  return message;
}

/** Supported-PID bitmaps: the PIDs of base+1 … base+0x20 the ECU announces, and their bytes. */
function bitmapAnswer(base: number, supported: readonly number[]): { value: PidValue; bytes: number[] } {
  return { value: supported.filter((p) => p > base && p <= base + 0x20), bytes: [...encodeSupportedPids(base, supported)] };
}

/** The engine ECU: every simulated signal plus the PIDs a scan tool reads on every car. */
export class EngineEcu implements EmulatedEcu {
  readonly name = 'engine';
  readonly index = 0;
  private readonly pids = new Map<number, PidSource>();
  private readonly supported: number[];
  /** The signal values behind the most recent service 01 answer. */
  lastValues: VehicleSignals | undefined;

  constructor(
    private readonly vehicle: LiveVehicle,
    private readonly dtcs: DtcView,
    private readonly vin: string,
  ) {
    const hasMaf = vehicle.spec.profile.airMetering === 'maf';
    // Every signal the simulator produces, encoded by the agent's own PID table (so encode and
    // decode are one definition); PID 14 carries no trim (B = FF), as a narrow-band sensor sends.
    const encoded = (pid: number, value: () => number): PidSource => {
      const def = pidByNumber(pid);
      if (!def) throw new Error(`PID ${pid.toString(16)} is not in the PID table`);
      return () => {
        const x = value();
        return { value: x, bytes: [...def.encode(x)] };
      };
    };
    for (const e of PID_ENCODINGS) {
      // A MAP engine has no MAF sensor and the other way round: only what the car measures.
      if (e.signal === 'MAF' && !hasMaf) continue;
      if (e.signal === 'INTAKE_PRESSURE' && hasMaf) continue;
      const def = pidByNumber(e.pid);
      if (!def) throw new Error(`PID ${e.pid.toString(16)} (${e.signal}) is not in the PID table`);
      this.pids.set(e.pid, (v) => {
        const value = v[e.signal];
        return value === undefined ? undefined : { value, bytes: [...def.encode(value)] };
      });
    }
    this.pids.set(0x01, () => {
      const dtcs = this.dtcs.state();
      return { value: { MIL: dtcs.milOn, DTC_COUNT: dtcs.stored.length }, bytes: [...monitorStatus(dtcs)] };
    });
    // Fuel system 1 status: closed loop once the engine has warmed up, open loop before.
    this.pids.set(0x03, (v) =>
      v.RPM > 0 && v.RUN_TIME > 20 && v.COOLANT_TEMP >= 40
        ? { value: { SYSTEM_1: 'closed loop: oxygen sensor feedback', SYSTEM_2: null }, bytes: [0x02, 0x00] }
        : { value: { SYSTEM_1: 'open loop: insufficient engine temperature', SYSTEM_2: null }, bytes: [0x01, 0x00] },
    );
    this.pids.set(0x1c, () => ({ value: 'EOBD', bytes: [0x06] })); // OBD standard
    this.pids.set(0x21, encoded(0x21, () => this.dtcs.kmWithMil));
    this.pids.set(0x31, encoded(0x31, () => this.dtcs.kmSinceClear));
    this.pids.set(0x46, encoded(0x46, () => this.vehicle.ambientC()));
    this.pids.set(0x51, () => ({ value: 'gasoline', bytes: [0x01] })); // fuel type
    const data = [...this.pids.keys()];
    // Bitmap PIDs are supported up to the highest range in use: 00 → 20 → 40.
    const top = Math.max(...data);
    const maps: number[] = [];
    for (let base = 0; base < top; base += 0x20) maps.push(base);
    this.supported = [...data, ...maps.filter((b) => b > 0)].sort((x, y) => x - y);
    for (const base of maps) this.pids.set(base, () => bitmapAnswer(base, this.supported));
  }

  /** PIDs this ECU answers in service 01 (bitmap PIDs included except 00), ascending. */
  get supportedPids(): readonly number[] {
    return this.supported;
  }

  answer(request: Uint8Array, note?: (n: AnswerNote) => void): Uint8Array | undefined {
    const service = request[0];
    switch (service) {
      case 0x01:
        return this.service01(request.subarray(1), note);
      case 0x03:
      case 0x07:
      case 0x0a: {
        if (request.length !== 1) return undefined;
        const codes = service === 0x03 ? this.dtcs.state().stored : service === 0x07 ? this.dtcs.state().pending : [];
        return noteDtcs(note, service, dtcMessage(service, codes), codes);
      }
      case 0x04:
        if (request.length !== 1) return undefined;
        this.dtcs.clear();
        return u8(0x44);
      case 0x09:
        return this.service09(request.subarray(1), note);
      default:
        return undefined;
    }
  }

  private service01(pids: Uint8Array, note: ((n: AnswerNote) => void) | undefined): Uint8Array | undefined {
    // ISO 15765-4 allows up to six PIDs in one request; the ECU answers the ones it supports.
    if (pids.length === 0 || pids.length > 6) return undefined;
    const v = this.vehicle.values();
    this.lastValues = v;
    const out: number[] = [0x41];
    for (const pid of pids) {
      const a = this.pids.get(pid)?.(v);
      if (!a) continue;
      out.push(pid, ...a.bytes);
      note?.({ service: 0x01, pid, name: pidName(pid), value: a.value, raw: Uint8Array.from(a.bytes) });
    }
    return out.length > 1 ? Uint8Array.from(out) : undefined;
  }

  private service09(args: Uint8Array, note: ((n: AnswerNote) => void) | undefined): Uint8Array | undefined {
    if (args.length !== 1) return undefined;
    switch (args[0]) {
      case 0x00:
        // Supported: 02 VIN, 0A ECU name.
        return u8(0x49, 0x00, 0x40, 0x40, 0x00, 0x00);
      case 0x02: {
        const message = encodeVinResponse(this.vin);
        note?.({ service: 0x09, pid: 0x02, name: 'VIN', value: this.vin, raw: message.subarray(2) });
        return message;
      }
      case 0x0a:
        return u8(0x49, 0x0a, 0x01, ...[...'ECM\0-EngineControl'.padEnd(20, '\0')].map((ch) => ch.charCodeAt(0)));
      default:
        return undefined;
    }
  }
}

/** A transmission ECU that answers only what every emissions ECU must: bitmap, status, DTCs (none). */
export class TransmissionEcu implements EmulatedEcu {
  readonly name = 'transmission';
  readonly index = 1;

  answer(request: Uint8Array, note?: (n: AnswerNote) => void): Uint8Array | undefined {
    const service = request[0];
    if (service === 0x01) {
      const pids = request.subarray(1);
      if (pids.length === 0 || pids.length > 6) return undefined;
      const out: number[] = [0x41];
      for (const pid of pids) {
        const a = pid === 0x00 ? bitmapAnswer(0, [0x01]) : pid === 0x01 ? { value: { MIL: false, DTC_COUNT: 0 }, bytes: [0x00, 0x00, 0x00, 0x00] } : undefined;
        if (!a) continue;
        out.push(pid, ...a.bytes);
        note?.({ service: 0x01, pid, name: pidName(pid), value: a.value, raw: Uint8Array.from(a.bytes) });
      }
      return out.length > 1 ? Uint8Array.from(out) : undefined;
    }
    if (request.length !== 1) return undefined;
    if (service === 0x03 || service === 0x07 || service === 0x0a) return noteDtcs(note, service, dtcMessage(service, []), []);
    if (service === 0x04) return u8(0x44);
    return undefined;
  }
}
