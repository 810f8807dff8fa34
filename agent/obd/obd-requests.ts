/**
 * OBD-II requests over an ELM327 session, as values: supported-PID discovery, service 01 reads
 * (one PID or up to six per request on CAN), stored/pending/permanent DTCs (services 03/07/0A) and the VIN
 * (service 09 PID 02). Shared by the poller and the probe; the session does the talking, the frame
 * layer (can-frames.ts) the parsing. Nothing here throws for what a car or adapter may answer.
 */
import { type ObdMessage, parseResponseLines } from '../../contracts/obd/can-frames.ts';
import { decodeDtcs, dtcPayload } from '../../contracts/obd/dtc.ts';
import { MAX_PIDS_PER_REQUEST, splitMultiPidResponse } from '../../contracts/obd/multi-pid.ts';
import { type PidValue, pidByNumber } from '../../contracts/obd/pid-table.ts';
import { decodeSupportedPids } from '../../contracts/obd/supported-pids.ts';
import { decodeVin } from '../../contracts/obd/vin.ts';
import type { AdapterInfo, ElmReply, ElmStatus } from './elm327-session.ts';

/** What the requests need from a session (an `Elm327Session` fits). */
export interface ObdRequester {
  request(command: string, options?: { timeoutMs?: number }): Promise<ElmReply>;
  readonly info: AdapterInfo | undefined;
}

const hex2 = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');

function hexBytes(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  const out = new Uint8Array(Math.floor(clean.length / 2));
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * The messages of a reply, one per answering ECU (and per message on the older protocols).
 * CAN replies go through the ISO 15765-4 frame layer. On J1850/ISO 9141/KWP the adapter prints
 * three header bytes, the data and a checksum per line: the ECU is the header's source address.
 */
export function replyMessages(reply: ElmReply, info: AdapterInfo | undefined): ObdMessage[] {
  if (reply.status !== 'data') return [];
  if (info === undefined || info.isCan || info.protocol === '0') return parseResponseLines(reply.lines, true);
  const out: ObdMessage[] = [];
  for (const line of reply.lines) {
    if (!/^[0-9A-F ]+$/.test(line)) continue;
    const bytes = hexBytes(line);
    if (bytes.length < 5) continue;
    out.push({ ecu: hex2(bytes[2]!), data: bytes.slice(3, bytes.length - 1) });
  }
  return out;
}

/** Orders ECUs so that the engine ECU (lowest response id, 7E8 / 18DAF110) comes first. */
function byEcu(a: ObdMessage, b: ObdMessage): number {
  return a.ecu.length - b.ecu.length || (a.ecu < b.ecu ? -1 : a.ecu > b.ecu ? 1 : 0);
}

export interface PidReading {
  readonly pid: number;
  readonly name: string;
  readonly value: PidValue;
  readonly unit: string | null;
  readonly ecu: string;
}

export interface PidReadResult {
  readonly status: ElmStatus;
  /** One reading per PID that some ECU answered; when several ECUs answer one PID the engine ECU's wins. */
  readonly readings: readonly PidReading[];
  /** An ECU answered with a negative response (7F 01 …): the request form was rejected. */
  readonly rejected: boolean;
  readonly elapsedMs: number;
}

/** `01` + PIDs, e.g. `010C0D05`. At most six PIDs (SAE J1979 on CAN). */
export function service01Command(pids: readonly number[]): string {
  if (pids.length === 0 || pids.length > MAX_PIDS_PER_REQUEST) throw new RangeError(`1–${MAX_PIDS_PER_REQUEST} PIDs per request, got ${pids.length}`);
  return `01${pids.map(hex2).join('')}`;
}

/** Reads the given service 01 PIDs in one request and decodes every PID answered. */
export async function readPids(session: ObdRequester, pids: readonly number[], timeoutMs?: number): Promise<PidReadResult> {
  const reply = await session.request(service01Command(pids), timeoutMs === undefined ? {} : { timeoutMs });
  const wanted = new Set(pids);
  const readings = new Map<number, PidReading>();
  let rejected = false;
  for (const message of replyMessages(reply, session.info).sort(byEcu)) {
    if (message.data[0] === 0x7f) {
      rejected = true;
      continue;
    }
    if (message.data[0] !== 0x41) continue;
    for (const [pid, bytes] of splitMultiPidResponse(message.data)) {
      if (!wanted.has(pid) || readings.has(pid)) continue;
      const def = pidByNumber(pid);
      if (!def || bytes.length < def.bytes) continue;
      readings.set(pid, { pid, name: def.name, value: def.decode(bytes), unit: def.unit, ecu: message.ecu });
    }
  }
  return { status: reply.status, readings: [...readings.values()], rejected, elapsedMs: reply.elapsedMs };
}

export interface SupportedPids {
  /** Union over all ECUs, ascending; bitmap PIDs (00, 20, 40 …) excluded. */
  readonly pids: readonly number[];
  /** Per ECU. */
  readonly byEcu: ReadonlyMap<string, readonly number[]>;
  /** Status of the first (0100) request; `data` when the discovery worked. */
  readonly status: ElmStatus;
}

/**
 * Supported-PID discovery: asks 0100, and 0120, 0140 … while any ECU announces the next bitmap
 * (at most up to 01E0).
 */
export async function discoverSupportedPids(session: ObdRequester): Promise<SupportedPids> {
  const byEcuMap = new Map<string, number[]>();
  let firstStatus: ElmStatus | undefined;
  for (let base = 0x00; base <= 0xe0; base += 0x20) {
    const reply = await session.request(service01Command([base]));
    firstStatus ??= reply.status;
    let next = false;
    for (const message of replyMessages(reply, session.info)) {
      if (message.data[0] !== 0x41 || message.data[1] !== base || message.data.length < 6) continue;
      const announced = decodeSupportedPids(base, message.data.subarray(2, 6));
      const list = byEcuMap.get(message.ecu) ?? [];
      for (const pid of announced) if (pid !== base + 0x20) list.push(pid);
      byEcuMap.set(message.ecu, list);
      if (announced.includes(base + 0x20)) next = true;
    }
    if (!next) break;
  }
  const union = new Set<number>();
  for (const list of byEcuMap.values()) for (const pid of list) union.add(pid);
  return { pids: [...union].sort((a, b) => a - b), byEcu: byEcuMap, status: firstStatus ?? 'no-data' };
}

export interface DtcResult {
  readonly status: ElmStatus;
  /** Codes in P0xxx form, deduplicated, in the order ECUs reported them. */
  readonly codes: readonly string[];
  readonly byEcu: ReadonlyMap<string, readonly string[]>;
}

const DTC_SERVICES = { stored: 0x03, pending: 0x07, permanent: 0x0a } as const;

/** Stored (service 03), pending (07) or permanent (0A) DTCs of every ECU; `status` says whether any ECU answered. */
export async function readDtcs(session: ObdRequester, kind: keyof typeof DTC_SERVICES): Promise<DtcResult> {
  const service = DTC_SERVICES[kind];
  const reply = await session.request(hex2(service));
  const can = session.info?.isCan ?? true;
  const byEcuMap = new Map<string, string[]>();
  const codes: string[] = [];
  for (const message of replyMessages(reply, session.info).sort(byEcu)) {
    if (message.data[0] !== service + 0x40) continue;
    const found = decodeDtcs(dtcPayload(message.data, can));
    const list = byEcuMap.get(message.ecu) ?? [];
    list.push(...found);
    byEcuMap.set(message.ecu, list);
    for (const code of found) if (!codes.includes(code)) codes.push(code);
  }
  return { status: reply.status, codes, byEcu: byEcuMap };
}

/** The VIN (service 09 PID 02), or undefined when no ECU gives one. */
export async function readVin(session: ObdRequester): Promise<{ status: ElmStatus; vin: string | undefined }> {
  // A VIN is a multi-frame answer; give slow ECUs more time than an ordinary request.
  const reply = await session.request('0902', { timeoutMs: 5000 });
  const messages = replyMessages(reply, session.info).sort(byEcu);
  if (session.info?.isCan === false) {
    // Older protocols: five lines `49 02 0n` + 4 bytes, the first carrying 3 bytes of padding.
    const parts = messages.filter((m) => m.data[0] === 0x49 && m.data[1] === 0x02).sort((a, b) => (a.data[2] ?? 0) - (b.data[2] ?? 0));
    const bytes = Uint8Array.from(parts.flatMap((m) => [...m.data.subarray(3)]));
    const vin = decodeVin(bytes);
    return { status: reply.status, vin: vin.length > 0 ? vin : undefined };
  }
  for (const message of messages) {
    if (message.data[0] !== 0x49 || message.data[1] !== 0x02) continue;
    const vin = decodeVin(message.data.subarray(3));
    if (vin.length > 0) return { status: reply.status, vin };
  }
  return { status: reply.status, vin: undefined };
}
