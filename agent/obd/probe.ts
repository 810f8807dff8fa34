/**
 * What `fleetpulse obd probe` finds out about an adapter and the car behind it: adapter version,
 * protocol, supported PIDs, VIN, stored and pending DTCs and one decoded value of each supported
 * PID. Waits for the session to be ready (or to report that the car does not answer) and never
 * throws for what the adapter or car answers; the report says what could not be read.
 */
import { MAX_PIDS_PER_REQUEST } from '../../contracts/obd/multi-pid.ts';
import { type PidValue, pidByNumber } from '../../contracts/obd/pid-table.ts';
import type { Elm327Session, SessionState } from './elm327-session.ts';
import { type PidReading, discoverSupportedPids, readDtcs, readPids, readVin } from './obd-requests.ts';

export interface ProbeValue {
  pid: string;
  name: string;
  description: string;
  value: PidValue | null;
  unit: string | null;
  ecu: string | null;
}

export interface ProbeReport {
  port: string;
  /** Final session state: `ready` when the car answered, `no-ecu` when only the adapter did. */
  state: SessionState;
  adapter: string | null;
  voltage: string | null;
  protocol: string | null;
  protocolNumber: string | null;
  ecus: string[];
  supportedPids: { pid: string; name: string }[];
  vin: string | null;
  storedDtcs: string[];
  pendingDtcs: string[];
  values: ProbeValue[];
  /** Whether one request carried several PIDs (CAN cars normally allow it). */
  multiPid: boolean;
  problems: string[];
}

const hex2 = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');

/** Runs the probe on a started session; `waitMs` bounds how long it waits for the adapter and car. */
export async function probeVehicle(session: Elm327Session, path: string, waitMs: number): Promise<ProbeReport> {
  const report: ProbeReport = {
    port: path,
    state: session.state,
    adapter: null,
    voltage: null,
    protocol: null,
    protocolNumber: null,
    ecus: [],
    supportedPids: [],
    vin: null,
    storedDtcs: [],
    pendingDtcs: [],
    values: [],
    multiPid: false,
    problems: [],
  };
  const reached = await session.waitForState(['ready', 'no-ecu'], waitMs);
  report.state = session.state;
  report.adapter = session.info?.version ?? null;
  if (!reached) {
    report.problems.push(`no adapter answered on ${path} within ${Math.round(waitMs / 1000)} s (state ${session.state})`);
    return report;
  }
  if (session.state === 'no-ecu') {
    // Ready for AT commands only through the session's own probing; say what we know.
    report.problems.push('the adapter answers but the vehicle does not (ignition off, or not an OBD-II car)');
    return report;
  }
  const info = session.info;
  report.protocol = info?.protocolName ?? null;
  report.protocolNumber = info?.protocol ?? null;
  const rv = await session.request('ATRV');
  if (rv.status === 'ok') report.voltage = rv.lines[0] ?? null;

  const supported = await discoverSupportedPids(session);
  if (supported.status !== 'data') report.problems.push(`supported PIDs: ${supported.status}`);
  report.ecus = [...supported.byEcu.keys()].sort();
  report.supportedPids = supported.pids.map((pid) => ({ pid: hex2(pid), name: pidByNumber(pid)?.name ?? `PID_${hex2(pid)}` }));

  const vin = await readVin(session);
  report.vin = vin.vin ?? null;
  if (vin.vin === undefined) report.problems.push(`VIN: ${vin.status === 'data' ? 'not in the answer' : vin.status}`);
  const stored = await readDtcs(session, 'stored');
  report.storedDtcs = [...stored.codes];
  if (stored.status !== 'data' && stored.status !== 'no-data') report.problems.push(`stored DTCs: ${stored.status}`);
  const pending = await readDtcs(session, 'pending');
  report.pendingDtcs = [...pending.codes];
  if (pending.status !== 'data' && pending.status !== 'no-data') report.problems.push(`pending DTCs: ${pending.status}`);

  // One value of each supported PID we can decode; bitmap PIDs (00, 20, 40 …) are the list above.
  const readable = supported.pids.filter((pid) => pid % 0x20 !== 0 && pidByNumber(pid) !== undefined);
  const readings = new Map<number, PidReading>();
  const group = info?.isCan ? MAX_PIDS_PER_REQUEST : 1;
  let multiWorked = false;
  for (let i = 0; i < readable.length; i += group) {
    const pids = readable.slice(i, i + group);
    const result = await readPids(session, pids);
    for (const r of result.readings) readings.set(r.pid, r);
    if (pids.length > 1 && result.readings.length > 1) multiWorked = true;
    // Whatever the multi-PID request left out is asked singly.
    for (const pid of pids) {
      if (readings.has(pid) || pids.length === 1) continue;
      const single = await readPids(session, [pid]);
      for (const r of single.readings) readings.set(r.pid, r);
    }
  }
  report.multiPid = multiWorked;
  for (const pid of readable) {
    const def = pidByNumber(pid)!;
    const r = readings.get(pid);
    report.values.push({ pid: hex2(pid), name: def.name, description: def.description, value: r?.value ?? null, unit: def.unit, ecu: r?.ecu ?? null });
  }
  report.state = session.state;
  return report;
}

function formatValue(value: PidValue | null, unit: string | null): string {
  if (value === null) return '(no answer)';
  if (typeof value === 'number') return unit ? `${value} ${unit}` : String(value);
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.join(', ');
  return Object.entries(value)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/** The report as text for a terminal. */
export function formatProbeReport(report: ProbeReport): string {
  const lines = [
    `port:       ${report.port}`,
    `adapter:    ${report.adapter ?? '(none)'}${report.voltage ? `  (${report.voltage})` : ''}`,
    `state:      ${report.state}`,
    `protocol:   ${report.protocol ?? '(unknown)'}${report.protocolNumber ? ` [${report.protocolNumber}]` : ''}`,
    `ECUs:       ${report.ecus.join(', ') || '(none)'}`,
    `VIN:        ${report.vin ?? '(not read)'}`,
    `stored DTCs:  ${report.storedDtcs.join(', ') || 'none'}`,
    `pending DTCs: ${report.pendingDtcs.join(', ') || 'none'}`,
    `multi-PID requests: ${report.multiPid ? 'yes' : 'no'}`,
    `supported PIDs (${report.supportedPids.length}): ${report.supportedPids.map((p) => p.name).join(' ')}`,
  ];
  if (report.values.length > 0) {
    lines.push('', 'values:');
    const width = Math.max(...report.values.map((v) => v.name.length));
    for (const v of report.values) lines.push(`  ${v.pid}  ${v.name.padEnd(width)}  ${formatValue(v.value, v.unit)}`);
  }
  if (report.problems.length > 0) lines.push('', 'problems:', ...report.problems.map((p) => `  - ${p}`));
  return lines.join('\n');
}
