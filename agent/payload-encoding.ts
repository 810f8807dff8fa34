/**
 * The agent's wire encodings of a telemetry batch. `compact` (contracts/telemetry-compact.ts) is the
 * default: about a tenth of the JSON bytes for OBD-II data (docs/benchmarks.md, "Agent payloads");
 * `json` stays for debugging with `mosquitto_sub` and for consumers that only read JSON.
 */
import type { PayloadEncoding } from '../contracts/agent-config.ts';
import { encodeCompactTelemetry } from '../contracts/telemetry-compact.ts';
import { encodeTelemetry, type TelemetryBatch } from '../contracts/telemetry.ts';

export function payloadEncoder(encoding: PayloadEncoding): (batch: TelemetryBatch) => Buffer {
  return encoding === 'compact' ? (batch) => encodeCompactTelemetry(batch) : encodeTelemetry;
}
