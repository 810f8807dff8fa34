/**
 * The telemetry batch's shape (wire version 1; fields and rules in telemetry.ts's module comment).
 *
 * Types only, apart from both codecs: the compact codec (telemetry-compact.ts) builds and reads this
 * shape, and telemetry.ts, which reads either form, imports the compact codec. With the shape here
 * neither codec imports the other's module back.
 */
import type { SignalName } from './signals.ts';

export type SignalValues = Partial<Record<SignalName, number>>;
export type Sample = { t: number } & SignalValues;

export interface TelemetryBatch {
  v: 1;
  vehicle: string;
  seq: number;
  /** The agent's clock at publish, Unix ms (optional; see telemetry.ts). */
  sentAt?: number;
  samples: Sample[];
}
