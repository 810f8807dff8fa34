/**
 * InfluxDB line protocol for everything ingest stores, in nanosecond precision, so the spool can
 * hold exactly the bytes that are later POSTed to `/write` (no re-encoding on the way out).
 * The layout (measurements, tags, fields, which time) is the one described in ./schema.ts.
 *
 * Tag values are vehicle ids (VEHICLE_ID_PATTERN: no space, comma or `=`), reasons and kinds
 * (fixed codes), so they need no escaping; string fields are escaped, and line breaks in them
 * are written as the two characters `\n` so that one point is always one line.
 */
import type { Sample, TelemetryBatch } from '../../contracts/telemetry.ts';
import { signalField, signalInfo } from '../../contracts/signals.ts';
import { DEAD_LETTER_PAYLOAD_BYTES, MEASUREMENTS, type DeadLetter } from './schema.ts';

const MS_TO_NS = '000000';

export function telemetryLines(batch: TelemetryBatch): string {
  const prefix = `${MEASUREMENTS.telemetry},vehicle=${batch.vehicle} `;
  let out = '';
  for (const sample of batch.samples) {
    let fields = '';
    for (const key in sample) {
      if (key === 't') continue;
      fields += `${fields ? ',' : ''}${signalField(key)}=${(sample as Record<string, number>)[key]}`;
    }
    out += `${prefix}${fields} ${sample.t}${MS_TO_NS}\n`;
  }
  return out;
}

export interface FeaturePointMeta {
  vehicle: string;
  windowStartMs: number;
  windowEndMs: number;
  featureVersion: number;
}

/** One `features` point; time = window start. Integer bookkeeping fields end in `i`. */
export function featureLine(meta: FeaturePointMeta, features: Readonly<Record<string, number>>): string {
  let fields = '';
  for (const [name, value] of Object.entries(features)) {
    if (!Number.isFinite(value)) continue;
    fields += `${fields ? ',' : ''}${name}=${value}`;
  }
  fields += `${fields ? ',' : ''}window_s=${(meta.windowEndMs - meta.windowStartMs) / 1000},feature_version=${meta.featureVersion}i`;
  return `${MEASUREMENTS.features},vehicle=${meta.vehicle} ${fields} ${meta.windowStartMs}${MS_TO_NS}\n`;
}

/** A `features` point read back from the spool (the inverse of `featureLine`). */
export interface ParsedFeaturePoint {
  vehicle: string;
  windowStartMs: number;
  windowEndMs: number;
  /** Every numeric field but the bookkeeping ones (`window_s`, `feature_version`). */
  features: Record<string, number>;
}

/** Reads the `features` points of a spool record body (other lines are skipped). */
export function parseFeatureLines(body: string): ParsedFeaturePoint[] {
  const out: ParsedFeaturePoint[] = [];
  const prefix = `${MEASUREMENTS.features},vehicle=`;
  for (const line of body.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const firstSpace = line.indexOf(' ');
    const lastSpace = line.lastIndexOf(' ');
    if (firstSpace < 0 || lastSpace <= firstSpace) continue;
    const vehicle = line.slice(prefix.length, firstSpace);
    const windowStartMs = nsToMs(line.slice(lastSpace + 1));
    if (windowStartMs === undefined) continue;
    const features: Record<string, number> = {};
    let windowS = NaN;
    for (const field of line.slice(firstSpace + 1, lastSpace).split(',')) {
      const eq = field.indexOf('=');
      const name = field.slice(0, eq);
      if (name === 'feature_version') continue;
      const value = Number(field.slice(eq + 1));
      if (name === 'window_s') windowS = value;
      else features[name] = value;
    }
    if (!Number.isFinite(windowS)) continue;
    out.push({ vehicle, windowStartMs, windowEndMs: windowStartMs + Math.round(windowS * 1000), features });
  }
  return out;
}

/** The windows an `anomaly` point exists for in a spool record body. */
export function parseAnomalyWindows(body: string): Array<{ vehicle: string; windowStartMs: number }> {
  const out: Array<{ vehicle: string; windowStartMs: number }> = [];
  const prefix = `${MEASUREMENTS.anomaly},vehicle=`;
  for (const line of body.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const tagEnd = line.indexOf(',', prefix.length);
    const windowStartMs = nsToMs(line.slice(line.lastIndexOf(' ') + 1));
    if (tagEnd < 0 || windowStartMs === undefined) continue;
    out.push({ vehicle: line.slice(prefix.length, tagEnd), windowStartMs });
  }
  return out;
}

function nsToMs(text: string): number | undefined {
  if (!text.endsWith(MS_TO_NS)) return undefined;
  const ms = Number(text.slice(0, -MS_TO_NS.length));
  return Number.isSafeInteger(ms) ? ms : undefined;
}

export interface AnomalyPoint {
  vehicle: string;
  windowStartMs: number;
  modelVersion: number;
  score: number;
  anomalous: boolean;
  threshold: number;
  /** The vehicle's baseline when the window was scored (absent for a model without one). */
  baseline?: { status: 'learning' | 'learned'; progress: number };
}

/** One `anomaly` point; time = window start, so scoring a window again overwrites it. */
export function anomalyLine(p: AnomalyPoint): string {
  const baseline = p.baseline ? `,baseline=${str(p.baseline.status)},baseline_progress=${Math.round(p.baseline.progress * 1000) / 1000}` : '';
  return `${MEASUREMENTS.anomaly},vehicle=${p.vehicle},model=${p.modelVersion} score=${p.score},anomalous=${p.anomalous},threshold=${p.threshold}${baseline} ${p.windowStartMs}${MS_TO_NS}\n`;
}

export interface AlertPoint {
  vehicle: string;
  state: 'raised' | 'cleared';
  windowStartMs: number;
  alertId: string;
  score: number;
  threshold: number;
  modelVersion: number;
  windows: number;
  /** `name:deviation` pairs, largest first. */
  topFeatures: ReadonlyArray<{ name: string; deviation: number }>;
  /** What moved, in words (contracts/alerts.ts `explanation.text`). */
  text?: string;
  /** `feature:contribution` pairs (logit), largest first. */
  evidence?: ReadonlyArray<{ feature: string; contribution: number }>;
  baseline?: { status: 'learning' | 'learned'; progress: number };
}

/** One `alerts` point per state change; time = start of the window that changed the state. */
export function alertLine(p: AlertPoint): string {
  const top = p.topFeatures.map((f) => `${f.name}:${f.deviation}`).join(',');
  const text = p.text !== undefined ? `,text=${str(p.text)}` : '';
  const evidence = p.evidence ? `,evidence=${str(p.evidence.map((e) => `${e.feature}:${e.contribution}`).join(','))}` : '';
  const baseline = p.baseline ? `,baseline=${str(p.baseline.status)}` : '';
  return (
    `${MEASUREMENTS.alerts},vehicle=${p.vehicle},state=${p.state} ` +
    `alert_id=${str(p.alertId)},score=${p.score},threshold=${p.threshold},model_version=${p.modelVersion}i,windows=${p.windows}i,top_features=${str(top)}${text}${evidence}${baseline} ${p.windowStartMs}${MS_TO_NS}\n`
  );
}

/**
 * One `vehicle_state` point: a vehicle's encoded feature path state (base64), the copy another
 * worker reads when the vehicle's shard moves to it. Time is fixed (the epoch), so each write
 * replaces the vehicle's previous copy instead of adding one: one point per vehicle.
 */
export function vehicleStateLine(vehicle: string, state: Buffer, status: 'learning' | 'learned', lastWindowMs: number): string {
  return `${MEASUREMENTS.vehicleState},vehicle=${vehicle} state=${str(state.toString('base64'))},status=${str(status)},last_window_ms=${lastWindowMs}i 0\n`;
}

/** One `baseline_events` point (a reset of a vehicle's baseline); time = when it was applied. */
export function baselineEventLine(vehicle: string, kind: 'reset', reason: string, atMs: number): string {
  return `${MEASUREMENTS.baselineEvents},vehicle=${vehicle},kind=${kind} reason=${str(reason)} ${atMs}${MS_TO_NS}\n`;
}

/**
 * Dead letters arrive at receive time and several may share a millisecond; identical tags and
 * times would overwrite each other, so a per-process sequence fills the sub-millisecond digits.
 */
let deadLetterSequence = 0;

export function deadLetterLine(letter: DeadLetter): string {
  deadLetterSequence = (deadLetterSequence + 1) % 1_000_000;
  const bytes = Buffer.from(letter.payload.buffer, letter.payload.byteOffset, letter.payload.byteLength);
  const head = bytes.subarray(0, DEAD_LETTER_PAYLOAD_BYTES);
  const printable = /^[\x09\x0a\x0d\x20-\x7e]*$/.test(head.toString('latin1'));
  const payload = printable ? head.toString('utf8') : `base64:${head.toString('base64')}`;
  const time = `${BigInt(letter.receivedAtMs) * 1_000_000n + BigInt(deadLetterSequence)}`;
  return (
    `${MEASUREMENTS.deadLetters},reason=${letter.reason},kind=${letter.kind} ` +
    `topic=${str(letter.topic)},detail=${str(letter.detail)},payload=${str(payload)},bytes=${bytes.byteLength}i ${time}\n`
  );
}

/** A line-protocol string field value: quoted, escaped, one line. */
export function str(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')}"`;
}

/**
 * Reads back telemetry lines written by `telemetryLines` (spool replay). Lines of other shapes
 * and fields that are not signals are skipped: the spool is ours, so that only happens with a
 * spool written by a different version, and skipping is safer than guessing.
 */
export function parseTelemetryLines(body: string): { vehicle: string | undefined; samples: Sample[] } {
  let vehicle: string | undefined;
  const samples: Sample[] = [];
  const prefix = `${MEASUREMENTS.telemetry},vehicle=`;
  for (const line of body.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const [key, fieldText, time] = line.split(' ');
    if (key === undefined || fieldText === undefined || time === undefined || time.length <= 6) continue;
    vehicle = key.slice(prefix.length);
    const sample: Record<string, number> = { t: Number(time.slice(0, -6)) };
    for (const pair of fieldText.split(',')) {
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).toUpperCase();
      if (eq <= 0 || !signalInfo(name)) continue;
      sample[name] = Number(pair.slice(eq + 1));
    }
    samples.push(sample as Sample);
  }
  return { vehicle, samples };
}
