/**
 * Reading the car's diagnosis over an ELM327 session, as values: the monitor status (service 01
 * PID 01: MIL, DTC count, readiness), confirmed (03), pending (07) and permanent (0A) codes, the
 * freeze frame (service 02 frame 0) and the since-clear counters (PIDs 21, 30, 31, 4D, 4E), put
 * together as a VehicleHealthState (contracts/vehicle-health.ts).
 *
 * What a car may answer is handled as data, never thrown: NO DATA, multi-frame CAN answers (the
 * frame layer reassembles them), several ECUs answering one request (codes merged without
 * duplicates, engine ECU first; the MIL is on if any ECU says so; DTC counts add up; a monitor is
 * supported if any ECU has it and complete only if every ECU that has it says so), an ECU that
 * answers some services and not others. A service nobody answered reads as unknown (`null`),
 * except 03/07, where NO DATA is what older ECUs say for "no codes". Without an answer to 0101 the
 * car is not there: no state at all.
 */
import { signalInfo, type SignalName } from '../../contracts/signals.ts';
import type { SignalValues } from '../../contracts/telemetry.ts';
import { COMMON_MONITORS, COMPRESSION_MONITORS, type FreezeFrame, type HealthCounters, type MonitorName, type Readiness, SPARK_MONITORS, type VehicleHealthState } from '../../contracts/vehicle-health.ts';
import { decodeDtc } from '../../contracts/obd/dtc.ts';
import { type ObdRequester, readDtcs, readPids, replyMessages } from './obd-requests.ts';
import { pidByNumber, type PidObject, scalarValue } from '../../contracts/obd/pid-table.ts';
import { decodeSupportedPids } from '../../contracts/obd/supported-pids.ts';

const hex2 = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');

/** Engine ECU (lowest response id: 7E8, 18DAF110) first, as the other readers order them. */
function byEcu(a: { ecu: string }, b: { ecu: string }): number {
  return a.ecu.length - b.ecu.length || (a.ecu < b.ecu ? -1 : a.ecu > b.ecu ? 1 : 0);
}

export interface MonitorStatus {
  mil: boolean;
  dtcCount: number;
  readiness: Readiness;
  /** The ECUs that answered. */
  ecus: readonly string[];
}

/** Service 01 PID 01 from every ECU that answers, merged; undefined when none answered. */
export async function readMonitorStatus(session: ObdRequester): Promise<MonitorStatus | undefined> {
  const reply = await session.request('0101');
  const def = pidByNumber(0x01)!;
  const decoded: Array<{ ecu: string; status: PidObject }> = [];
  for (const message of replyMessages(reply, session.info).sort(byEcu)) {
    if (message.data[0] !== 0x41 || message.data[1] !== 0x01 || message.data.length < 6) continue;
    decoded.push({ ecu: message.ecu, status: def.decode(message.data.subarray(2, 6)) as PidObject });
  }
  if (decoded.length === 0) return undefined;
  const ignition = decoded[0]!.status.IGNITION === 'compression' ? 'compression' : 'spark';
  const names = [...COMMON_MONITORS, ...(ignition === 'compression' ? COMPRESSION_MONITORS : SPARK_MONITORS)].filter((m): m is MonitorName => m !== '');
  const monitors: Readiness['monitors'] = {};
  for (const m of names) {
    const having = decoded.filter((d) => d.status[`${m}_AVAILABLE`] === true);
    monitors[m] = { supported: having.length > 0, complete: having.every((d) => d.status[`${m}_INCOMPLETE`] !== true) };
  }
  return {
    mil: decoded.some((d) => d.status.MIL === true),
    dtcCount: decoded.reduce((n, d) => n + (typeof d.status.DTC_COUNT === 'number' ? d.status.DTC_COUNT : 0), 0),
    readiness: { ignition, monitors },
    ecus: decoded.map((d) => d.ecu),
  };
}

/** A service 02 answer `42 <pid> <frame> <data>` for one pair, from the given ECU (or the first that has it). */
async function freezeFramePid(session: ObdRequester, pid: number, ecu?: string): Promise<{ ecu: string; data: Uint8Array } | undefined> {
  const reply = await session.request(`02${hex2(pid)}00`);
  for (const message of replyMessages(reply, session.info).sort(byEcu)) {
    if (ecu !== undefined && message.ecu !== ecu) continue;
    if (message.data[0] !== 0x42 || message.data[1] !== pid || message.data[2] !== 0x00) continue;
    return { ecu: message.ecu, data: message.data.subarray(3) };
  }
  return undefined;
}

/** (PID, frame 0) pairs per service 02 request on CAN: what fits a single frame (1 + 3 × 2 bytes). */
const FREEZE_PAIRS_PER_REQUEST = 3;

/**
 * The signal PIDs of frame 0 from one ECU, several pairs per request on CAN (`02 0C 00 0D 00 05 00`),
 * split by the PID table's byte counts; PIDs a grouped request left out are asked alone.
 */
async function freezeFrameSignals(session: ObdRequester, pids: readonly number[], ecu: string): Promise<Map<number, Uint8Array>> {
  const got = new Map<number, Uint8Array>();
  const perRequest = (session.info?.isCan ?? true) ? FREEZE_PAIRS_PER_REQUEST : 1;
  const ask = async (group: readonly number[]): Promise<void> => {
    const reply = await session.request(`02${group.map((p) => `${hex2(p)}00`).join('')}`);
    for (const message of replyMessages(reply, session.info)) {
      const d = message.data;
      if (message.ecu !== ecu || d[0] !== 0x42) continue;
      for (let i = 1; i + 2 <= d.length; ) {
        const def = pidByNumber(d[i]!);
        if (!def || d[i + 1] !== 0x00 || i + 2 + def.bytes > d.length) break;
        if (group.includes(def.pid)) got.set(def.pid, d.subarray(i + 2, i + 2 + def.bytes));
        i += 2 + def.bytes;
      }
    }
  };
  for (let i = 0; i < pids.length; i += perRequest) await ask(pids.slice(i, i + perRequest));
  if (perRequest > 1) for (const pid of pids) if (!got.has(pid)) await ask([pid]);
  return got;
}

/**
 * Freeze frame 0: the code that stored it (PID 02), then every catalogue signal the ECU announces
 * for the frame (bitmaps 00, 20, 40 …), up to three per request on CAN. `known` is the frame read
 * before: when the ECU names the same code it is kept without reading the signals again. `null`
 * when no ECU holds a frame (code 0000) or none answers service 02.
 */
export async function readFreezeFrame(session: ObdRequester, known: FreezeFrame | null = null): Promise<FreezeFrame | null> {
  const reply = await session.request('020200');
  let holder: { ecu: string; dtc: string } | undefined;
  for (const message of replyMessages(reply, session.info).sort(byEcu)) {
    const d = message.data;
    if (d[0] !== 0x42 || d[1] !== 0x02 || d[2] !== 0x00 || d.length < 5) continue;
    if (d[3] === 0 && d[4] === 0) continue; // this ECU holds no frame
    holder = { ecu: message.ecu, dtc: decodeDtc(d[3]!, d[4]!) };
    break;
  }
  if (!holder) return null;
  if (known && known.dtc === holder.dtc) return known;
  const announced: number[] = [];
  for (let base = 0x00; base <= 0xe0; base += 0x20) {
    const bitmap = await freezeFramePid(session, base, holder.ecu);
    if (!bitmap || bitmap.data.length < 4) break;
    const pids = decodeSupportedPids(base, bitmap.data.subarray(0, 4));
    announced.push(...pids.filter((p) => p % 0x20 !== 0));
    if (!pids.includes(base + 0x20)) break;
  }
  const wanted = announced.filter((pid) => signalInfo(pidByNumber(pid)?.name ?? '') !== undefined);
  const answers = await freezeFrameSignals(session, wanted, holder.ecu);
  const signals: SignalValues = {};
  for (const pid of wanted) {
    const def = pidByNumber(pid)!;
    const info = signalInfo(def.name)!;
    const data = answers.get(pid);
    if (!data) continue;
    const value = scalarValue(def, def.decode(data));
    if (value === undefined || !Number.isFinite(value) || value < info.min || value > info.max) continue;
    signals[info.name as SignalName] = value;
  }
  return { dtc: holder.dtc, frame: 0, signals };
}

/** The since-clear counters among the PIDs the car supports (one multi-PID request on CAN). */
export async function readHealthCounters(session: ObdRequester, supported: readonly number[]): Promise<HealthCounters> {
  const wanted = [0x21, 0x30, 0x31, 0x4d, 0x4e].filter((p) => supported.includes(p));
  if (wanted.length === 0) return {};
  const isCan = session.info?.isCan ?? true;
  const counters: HealthCounters = {};
  const groups = isCan ? [wanted] : wanted.map((p) => [p]);
  for (const group of groups) {
    const result = await readPids(session, group);
    for (const r of result.readings) {
      if (typeof r.value !== 'number' || !Number.isFinite(r.value)) continue;
      if (r.pid === 0x21) counters.distanceWithMilKm = r.value;
      else if (r.pid === 0x30) counters.warmupsSinceClear = r.value;
      else if (r.pid === 0x31) counters.distanceSinceClearKm = r.value;
      else if (r.pid === 0x4d) counters.minutesWithMil = r.value;
      else if (r.pid === 0x4e) counters.minutesSinceClear = r.value;
    }
  }
  return counters;
}

export interface HealthReadOptions {
  /** The state read before (its freeze frame is reused while the ECU names the same code). */
  previous?: VehicleHealthState | undefined;
  /** Service 01 PIDs the car supports (for the counters); empty: no counters read. */
  supported?: readonly number[];
  vin?: string | undefined;
}

/**
 * The whole diagnosis: 0101, 03, 07, 0A, the freeze frame when the MIL is on or a code is
 * confirmed, and the counters. Undefined when the car did not answer 0101 (ignition off, no ECU).
 */
export async function readVehicleHealth(session: ObdRequester, options: HealthReadOptions = {}): Promise<VehicleHealthState | undefined> {
  const status = await readMonitorStatus(session);
  if (!status) return undefined;
  const stored = await readDtcs(session, 'stored');
  const pending = await readDtcs(session, 'pending');
  const permanent = await readDtcs(session, 'permanent');
  const known = (r: { status: string; codes: readonly string[] }, noDataIsNone: boolean): string[] | null =>
    r.status === 'data' || (noDataIsNone && r.status === 'no-data') ? [...r.codes] : null;
  const confirmed = known(stored, true);
  // A frame is stored with a confirmed code; without one there is nothing to ask for.
  const wantFrame = status.mil || (confirmed?.length ?? 0) > 0 || status.dtcCount > 0;
  const freezeFrame = wantFrame ? await readFreezeFrame(session, options.previous?.freezeFrame ?? null) : null;
  const counters = await readHealthCounters(session, options.supported ?? []);
  return {
    source: 'obd',
    mil: status.mil,
    dtcCount: status.dtcCount,
    readiness: status.readiness,
    confirmed,
    pending: known(pending, true),
    permanent: known(permanent, false),
    freezeFrame,
    vin: options.vin ?? null,
    counters,
  };
}
