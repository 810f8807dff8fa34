/**
 * The control units on the emulated car's bus and what each answers to an OBD-II request
 * (SAE J1979 services 01, 02, 03, 04, 07, 09, 0A). The engine ECU serves every signal the simulator
 * produces plus the status/distance/ambient PIDs a scan tool expects, the freeze frame of the code
 * that lit the MIL, and the confirmed, pending and permanent codes and readiness the simulator's
 * ECU monitors hold (simulator/ecu-monitors.ts); an optional transmission ECU answers the few
 * requests every emissions-related ECU must (supported PIDs, status, DTCs, freeze-frame DTC), so a
 * functional request gets answers from two ECUs as on a real car.
 *
 * Answers are service payloads (e.g. `41 0C 1A F8`); framing and display are the adapter's job.
 * `undefined` means the ECU stays silent (what an ECU does on a functional request it cannot serve).
 */
import { encodeDtc } from '../../contracts/obd/dtc.ts';
import { type PidObject, type PidValue, pidByNumber } from '../../contracts/obd/pid-table.ts';
import { COMMON_MONITORS, SPARK_MONITORS } from '../../contracts/vehicle-health.ts';
import { encodeSupportedPids } from '../../contracts/obd/supported-pids.ts';
import { encodeVinResponse } from '../../contracts/obd/vin.ts';
import { SIMULATED_MONITOR_GROUPS } from '../ecu-monitors.ts';
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
  /** Service 01/02/09 PID; absent for the DTC services. */
  pid?: number;
  name: string;
  /** A PID's value as the PID table's `decode` gives it; a DTC list as codes (`P0301`); the VIN as text. */
  value: PidValue | readonly string[];
  raw: Uint8Array;
}

/** The diagnosis as the emulated engine ECU reports it (services 01 PID 01, 03, 07, 0A). */
export interface DtcState {
  stored: readonly string[];
  pending: readonly string[];
  permanent: readonly string[];
  milOn: boolean;
  /** Per supported monitor group: complete since the last clear. */
  readiness: Readonly<Record<(typeof SIMULATED_MONITOR_GROUPS)[number], boolean>>;
}

/**
 * What services 01/03/04/07/0A see: the simulator's ECU monitors (a 04 clears them: codes, freeze
 * frame and readiness go, permanent codes stay until their monitor passes), and the distances the
 * ECU counts for PIDs 21 and 31, which the monitors do not keep.
 */
export class DtcView {
  private clearedAtKm = 0;
  private milOnKm = 0;
  private lastKm = 0;

  constructor(private readonly vehicle: LiveVehicle) {}

  state(): DtcState {
    const d = this.vehicle.diagnosis();
    const km = this.vehicle.distanceKm;
    if (d.milOn) this.milOnKm += km - this.lastKm;
    this.lastKm = km;
    return d;
  }

  clear(): void {
    this.vehicle.clearDiagnostics();
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

/**
 * Service 01 PID 01 as the engine ECU states it: MIL and DTC count, spark ignition, and for every
 * monitor of the PID whether it is supported and incomplete (the simulator's groups: run since the
 * last clear or not; every other monitor: unsupported). Encoded by the PID table's STATUS row.
 */
function monitorStatus(dtcs: DtcState): PidObject {
  const out: Record<string, boolean | number | string> = { MIL: dtcs.milOn, DTC_COUNT: Math.min(0x7f, dtcs.stored.length), IGNITION: 'spark' };
  for (const m of [...COMMON_MONITORS, ...SPARK_MONITORS]) {
    const group = (SIMULATED_MONITOR_GROUPS as readonly string[]).includes(m) ? (m as (typeof SIMULATED_MONITOR_GROUPS)[number]) : undefined;
    out[`${m}_AVAILABLE`] = group !== undefined;
    out[`${m}_INCOMPLETE`] = group !== undefined && !dtcs.readiness[group];
  }
  return out;
}

/** A PID's value and the bytes that carry it. */
type PidSource = (v: VehicleSignals) => { value: PidValue; bytes: number[] } | undefined;

const pidName = (pid: number): string => pidByNumber(pid)?.name ?? `PID_${pid.toString(16).toUpperCase().padStart(2, '0')}`;

/** The bytes of PID 01 for a status object (the PID table's encoder, so encode and decode are one definition). */
const STATUS_PID = pidByNumber(0x01)!;

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
      const value = monitorStatus(this.dtcs.state());
      return { value, bytes: [...STATUS_PID.encode(value)] };
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
      case 0x02:
        return this.service02(request.subarray(1), note);
      case 0x03:
      case 0x07:
      case 0x0a: {
        if (request.length !== 1) return undefined;
        const state = this.dtcs.state();
        const codes = service === 0x03 ? state.stored : service === 0x07 ? state.pending : state.permanent;
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

  /**
   * Service 02, freeze frame 0: up to three (PID, frame) pairs per request (what fits a CAN single
   * frame), answered `42 <pid> <frame> <data>` each. PID 02 is the code that stored the frame
   * (0000 when none is held); the signal PIDs carry the values when it was stored, encoded like
   * service 01; the bitmaps announce PID 02 and every signal PID a frame holds. Other frames, and
   * signal PIDs while no frame is held, get no answer.
   */
  private service02(args: Uint8Array, note: ((n: AnswerNote) => void) | undefined): Uint8Array | undefined {
    if (args.length === 0 || args.length % 2 !== 0 || args.length > 6) return undefined;
    const frame = this.vehicle.freezeFrame();
    const framePids = this.freezeFramePids();
    const out: number[] = [0x42];
    for (let i = 0; i < args.length; i += 2) {
      const pid = args[i]!;
      if (args[i + 1] !== 0) continue;
      let answer: { name: string; value: PidValue; bytes: number[] } | undefined;
      if (pid % 0x20 === 0 && pid <= 0x40) {
        answer = { name: pidName(pid), ...bitmapAnswer(pid, framePids) };
      } else if (pid === 0x02) {
        const bytes = frame ? encodeDtc(frame.code) : [0, 0];
        answer = { name: 'FREEZE_DTC', value: frame?.code ?? 'P0000', bytes };
      } else if (frame) {
        const e = PID_ENCODINGS.find((x) => x.pid === pid);
        const value = e ? frame.signals[e.signal] : undefined;
        if (e && value !== undefined) answer = { name: e.signal, value, bytes: [...pidByNumber(pid)!.encode(value)] };
      }
      if (!answer) continue;
      out.push(pid, 0x00, ...answer.bytes);
      note?.({ service: 0x02, pid, name: answer.name, value: answer.value, raw: Uint8Array.from(answer.bytes) });
    }
    return out.length > 1 ? Uint8Array.from(out) : undefined;
  }

  /** PIDs a freeze frame of this car holds: the DTC, the signals it measures, and the bitmaps that chain to them. */
  private freezeFramePids(): number[] {
    const signals = PID_ENCODINGS.filter((e) => this.pids.has(e.pid)).map((e) => e.pid);
    const top = Math.max(...signals);
    const maps: number[] = [];
    for (let base = 0x20; base < top; base += 0x20) maps.push(base);
    return [0x02, ...signals, ...maps].sort((x, y) => x - y);
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
    if (service === 0x02) {
      // No freeze frame: PID 02 of frame 0 reads 0000, as every emissions ECU answers it.
      if (request.length !== 3 || request[1] !== 0x02 || request[2] !== 0x00) return undefined;
      note?.({ service: 0x02, pid: 0x02, name: 'FREEZE_DTC', value: 'P0000', raw: u8(0, 0) });
      return u8(0x42, 0x02, 0x00, 0x00, 0x00);
    }
    if (request.length !== 1) return undefined;
    if (service === 0x03 || service === 0x07 || service === 0x0a) return noteDtcs(note, service, dtcMessage(service, []), []);
    if (service === 0x04) return u8(0x44);
    return undefined;
  }
}
