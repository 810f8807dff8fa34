/**
 * InfluxDB line protocol for the car's diagnosis (docs/data-layout.md, "Vehicle health"), in the
 * conventions of ingest/influxdb/line-protocol.ts: nanosecond times from whole milliseconds, tags
 * only of bounded values, strings escaped to one line.
 *
 * Idempotent keys:
 * - `dtc`: (vehicle, code, kind, first seen). One point per episode; every later event that lists
 *   the code, and the one that clears it, writes the same point again with the newer fields, so a
 *   redelivered or replayed event overwrites instead of adding a row.
 * - `vehicle_health`: (vehicle, event time). One point per health event; a redelivery overwrites.
 * - `alerts` (dtc and mil alerts): (vehicle, state, kind, code, event time) — the tags `kind` and
 *   `code` keep two alerts of one event apart (two codes confirmed at once, a code and the MIL);
 *   the model's alerts carry neither tag and are unchanged.
 */
import type { AlertMessage } from '../../contracts/alerts.ts';
import { MONITOR_NAMES, type HealthCounters, type VehicleHealthEvent } from '../../contracts/vehicle-health.ts';
import { str } from '../influxdb/line-protocol.ts';
import { MEASUREMENTS } from '../influxdb/schema.ts';
import { describeDtc } from './dtc-descriptions.ts';
import type { DtcEpisode } from './dtc-history.ts';

const MS_TO_NS = '000000';

/** Counter fields, snake case with a suffix saying when (`_at_clear`, …); absent counters are absent fields. */
function counterFields(counters: HealthCounters | undefined, suffix = ''): string {
  if (!counters) return '';
  const names: Readonly<Record<keyof HealthCounters, string>> = {
    distanceWithMilKm: 'distance_with_mil_km',
    distanceSinceClearKm: 'distance_since_clear_km',
    minutesWithMil: 'minutes_with_mil',
    minutesSinceClear: 'minutes_since_clear',
    warmupsSinceClear: 'warmups_since_clear',
    engineRunTimeS: 'engine_run_time_s',
    odometerKm: 'odometer_km',
  };
  let out = '';
  for (const [k, name] of Object.entries(names) as Array<[keyof HealthCounters, string]>) {
    const v = counters[k];
    if (v !== undefined && Number.isFinite(v)) out += `,${name}${suffix}=${v}`;
  }
  return out;
}

/** One `dtc` point for an episode (its state now); time = first seen. */
export function dtcLine(vehicle: string, e: DtcEpisode): string {
  const info = describeDtc(e.code);
  let fields =
    `state=${str(e.clearedMs === undefined ? 'active' : 'cleared')},first_seen_ms=${e.firstSeenMs}i,first_seq=${e.firstSeq}i,` +
    `last_seen_ms=${e.lastSeenMs}i,last_seq=${e.lastSeq}i`;
  if (e.clearedMs !== undefined) fields += `,cleared_ms=${e.clearedMs}i,cleared_seq=${e.clearedSeq ?? -1}i`;
  fields += `,description=${str(info.text)},code_type=${str(info.codeType)},system=${str(info.system ?? 'unknown')}`;
  if (e.freezeFrame) fields += `,freeze_frame=${str(JSON.stringify(e.freezeFrame.signals))},freeze_frame_dtc=${str(e.freezeFrame.dtc)}`;
  fields += counterFields(e.countersAtFirstSeen, '_at_first_seen') + counterFields(e.countersAtClear, '_at_clear');
  return `${MEASUREMENTS.dtc},vehicle=${vehicle},code=${e.code},kind=${e.kind} ${fields} ${e.firstSeenMs}${MS_TO_NS}\n`;
}

/** One `vehicle_health` point per event; unknown (null) parts are absent fields. */
export function vehicleHealthLine(e: VehicleHealthEvent): string {
  let fields = `seq=${e.seq}i,reason=${str(e.reason)},source=${str(e.source)}`;
  if (e.mil !== null) fields += `,mil=${e.mil}`;
  if (e.dtcCount !== null) fields += `,dtc_count=${e.dtcCount}i`;
  for (const kind of ['confirmed', 'pending', 'permanent'] as const) {
    const list = e[kind];
    if (list !== null) fields += `,${kind}_count=${list.length}i,${kind}=${str(list.join(','))}`;
  }
  if (e.readiness) {
    const monitors = MONITOR_NAMES.filter((m) => e.readiness!.monitors[m]?.supported);
    const incomplete = monitors.filter((m) => !e.readiness!.monitors[m]!.complete);
    fields += `,ignition=${str(e.readiness.ignition)},readiness_supported=${monitors.length}i,readiness_complete=${monitors.length - incomplete.length}i,readiness_incomplete=${str(incomplete.join(','))}`;
  }
  if (e.freezeFrame) fields += `,freeze_frame_dtc=${str(e.freezeFrame.dtc)}`;
  if (e.vin !== null) fields += `,vin=${str(e.vin)}`;
  fields += counterFields(e.counters);
  return `${MEASUREMENTS.vehicleHealth},vehicle=${e.vehicle} ${fields} ${e.t}${MS_TO_NS}\n`;
}

/** One `alerts` point for a `dtc` or `mil` alert (see the module comment for its key). */
export function healthAlertLine(a: AlertMessage): string {
  const code = a.kind === 'dtc' && a.diagnosis?.codes[0] ? `,code=${a.diagnosis.codes[0]}` : '';
  const text = a.explanation ? `,text=${str(a.explanation.text)}` : '';
  const codes = a.diagnosis ? `,codes=${str(a.diagnosis.codes.join(','))}` : '';
  return `${MEASUREMENTS.alerts},vehicle=${a.vehicle},state=${a.state},kind=${a.kind}${code} alert_id=${str(a.alertId)}${text}${codes} ${a.windowStartMs}${MS_TO_NS}\n`;
}
