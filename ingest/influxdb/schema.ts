/**
 * How fleetpulse data is laid out in InfluxDB: one place for measurement names, tags and fields.
 *
 *   telemetry      tag vehicle; one float field per signal (lower-case name); time = event time
 *   features       tag vehicle; one float field per feature (models/features.ts), window_s,
 *                  feature_version (int); time = window START (event time)
 *   dead_letters   tags reason, kind; fields topic, detail, payload, bytes; time = receive time
 *   api_requests   windowed API traffic; tags source, window, endpoint, status_class, country,
 *                  customer, plan; time = window start (ingest/apilogs/api-lines.ts)
 *   api_threats    abuse detections; tags source, rule, kind; subject and evidence are fields
 *   anomaly        model score per window; tags vehicle, model (model version); fields score,
 *                  anomalous (bool), threshold, baseline ("learning" | "learned"),
 *                  baseline_progress (0…1); time = window START (ingest/scoring/)
 *   alerts         alert state changes; tags vehicle, state (raised|cleared); fields alert_id,
 *                  score, threshold, model_version (int), windows (int), top_features, text
 *                  (what moved, in words), evidence (feature:logit contribution), baseline;
 *                  time = start of the window that changed the state (ingest/alerts/)
 *   vehicle_state  tag vehicle; fields state (base64 of the vehicle's feature path state),
 *                  status, last_window_ms (int); time = 0: one point per vehicle, overwritten
 *                  (the copy a worker reads when a shard moves to it, ingest/scoring/)
 *   baseline_events tags vehicle, kind (reset); field reason; time = when applied
 *   dtc            one point per trouble-code episode; tags vehicle, code, kind (pending|confirmed|
 *                  permanent); fields state, first/last seen, cleared, description, freeze frame,
 *                  counters; time = first seen (event time), so updates overwrite (ingest/health/)
 *   vehicle_health tag vehicle; MIL, DTC counts and lists, readiness, VIN, counters per health
 *                  event; time = the event's time (ingest/health/)
 *
 * A point's identity in InfluxDB is (measurement, tags, time). Telemetry uses the sample's event
 * time and the vehicle tag only, so a redelivered batch overwrites the same points instead of
 * adding rows. Values with many distinct values (topics, payloads) are fields, never tags.
 */

export const MEASUREMENTS = {
  telemetry: 'telemetry',
  features: 'features',
  deadLetters: 'dead_letters',
  apiRequests: 'api_requests',
  apiThreats: 'api_threats',
  anomaly: 'anomaly',
  alerts: 'alerts',
  vehicleState: 'vehicle_state',
  baselineEvents: 'baseline_events',
  dtc: 'dtc',
  vehicleHealth: 'vehicle_health',
} as const;

/** Points are written in nanosecond precision (./line-protocol.ts); telemetry and features times are whole milliseconds. */

/** Dead letters keep at most this many bytes of the offending payload. */
export const DEAD_LETTER_PAYLOAD_BYTES = 4096;

export interface DeadLetter {
  /** A short code: one of the decoder's reasons, or `internal_error`. */
  reason: string;
  kind: string;
  topic: string;
  detail: string;
  payload: Uint8Array;
  receivedAtMs: number;
}
