/**
 * What ingest tells observers (the live dashboard) as it happens: a small typed event interface,
 * so an observer needs nothing of ingest's internals.
 *
 * Guarantees: listeners are called synchronously on ingest's thread, in the order things happen,
 * and only after the data behind an event is durable in the spool (so an event never shows what a
 * restart would forget). A listener must be cheap (copy what it needs into a bounded structure and
 * return); a throwing listener is logged and counted, never stops ingest. Events are not replayed:
 * an observer that starts late reads history from InfluxDB.
 */
import type { AlertMessage } from '../contracts/alerts.ts';
import type { Sample } from '../contracts/telemetry.ts';

/** A telemetry batch accepted from a vehicle. */
export interface SamplesEvent {
  type: 'samples';
  vehicle: string;
  samples: readonly Sample[];
}

/** A closed window scored by the model. */
export interface ScoreEvent {
  type: 'score';
  vehicle: string;
  startMs: number;
  endMs: number;
  score: number;
  threshold: number;
  anomalous: boolean;
  modelVersion: number;
  /** The vehicle's own baseline: still learning (judged on fleet evidence alone) or learned. */
  baseline?: { status: 'learning' | 'learned'; progress: number };
}

/** An alert state change (raised or cleared), as published on MQTT. */
export interface AlertEvent {
  type: 'alert';
  alert: AlertMessage;
}

/** One trouble code a vehicle lists now (its open episode, ingest/health/dtc-history.ts). */
export interface ListedCode {
  code: string;
  kind: 'pending' | 'confirmed' | 'permanent';
  /** Our description (ingest/health/dtc-descriptions.ts), or what kind of code it is. */
  description: string;
  /** Event time the vehicle first listed it under this kind. */
  firstSeenMs: number;
  /** The freeze frame the ECU keeps for it (confirmed codes), catalogue signal → value. */
  freezeFrame?: Readonly<Record<string, number>>;
}

/** A vehicle's diagnosis after a health event that changed something (MIL, codes listed). */
export interface HealthEvent {
  type: 'health';
  vehicle: string;
  /** Event time of the health event. */
  t: number;
  /** null: the car did not say. */
  mil: boolean | null;
  milOnSinceMs?: number;
  codes: readonly ListedCode[];
}

/** Requests of one API-log batch, counted per client country (lat/lon of the last request seen there). */
export interface ApiTrafficEvent {
  type: 'api_traffic';
  source: string;
  /** Largest request time of the batch, ms (event time). */
  lastMs: number;
  countries: ReadonlyArray<{ country: string; requests: number; errors: number; lat: number | undefined; lon: number | undefined }>;
}

/** An abuse detection and the block it caused. */
export interface ThreatEvent {
  type: 'threat';
  source: string;
  rule: string;
  kind: string;
  subject: string;
  count: number;
  threshold: number;
  windowMs: number;
  firstMs: number;
  lastMs: number;
  /** Wall-clock end of the block (ms). */
  blockUntilMs: number;
}

export type IngestEvent = SamplesEvent | ScoreEvent | AlertEvent | HealthEvent | ApiTrafficEvent | ThreatEvent;

export type IngestEventListener = (event: IngestEvent) => void;
