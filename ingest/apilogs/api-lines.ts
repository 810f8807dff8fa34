/**
 * Line protocol for the API-log measurements (layout in ingest/influxdb/schema.ts):
 *
 *   api_requests  tags source, window (10s|1m), endpoint, status_class, country, customer, plan
 *                 fields requests, errors, client_errors, bytes_in, bytes_out (int),
 *                 latency_p50_ms, latency_p95_ms, latency_p99_ms, latency_max_ms (float)
 *                 time = window start
 *   api_threats   tags source, rule, kind; fields subject (string: the IP, network or key
 *                 prefix), count, threshold (int), window_s, first_ms, last_ms, block_until_ms,
 *                 evidence (JSON string); time = detection (event time) + a per-subject ns offset
 *
 * Client addresses and request ids only ever appear as fields.
 */
import { createHash } from 'node:crypto';
import { MEASUREMENTS } from '../influxdb/schema.ts';
import type { ClosedCell } from './api-windows.ts';
import type { Detection } from './abuse-detector.ts';

function tag(value: string): string {
  return value === '' ? '_' : value.replace(/[,= \\]/g, (c) => `\\${c}`);
}

function str(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

export function windowLabel(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`;
}

export function apiRequestLine(c: ClosedCell): string {
  return (
    `${MEASUREMENTS.apiRequests},source=${tag(c.source)},window=${windowLabel(c.windowMs)},endpoint=${tag(c.endpoint)},status_class=${tag(c.statusClass)},country=${tag(c.country)},customer=${tag(c.customer)},plan=${tag(c.plan)} ` +
    `requests=${c.requests}i,errors=${c.errors}i,client_errors=${c.clientErrors}i,bytes_in=${c.bytesIn}i,bytes_out=${c.bytesOut}i,` +
    `latency_p50_ms=${c.p50Ms},latency_p95_ms=${c.p95Ms},latency_p99_ms=${c.p99Ms},latency_max_ms=${c.maxMs} ${c.startMs}000000\n`
  );
}

export function apiThreatLine(source: string, d: Detection, blockUntilMs: number): string {
  // Two detections of one rule in the same millisecond must not overwrite each other.
  const ns = createHash('sha1').update(d.subject).digest().readUInt32BE(0) % 1_000_000;
  return (
    `${MEASUREMENTS.apiThreats},source=${tag(source)},rule=${d.rule},kind=${d.kind} ` +
    `subject=${str(d.subject)},count=${d.count}i,threshold=${d.threshold}i,window_s=${d.windowMs / 1000},first_ms=${d.firstMs}i,last_ms=${d.lastMs}i,block_until_ms=${blockUntilMs}i,evidence=${str(JSON.stringify(d.evidence).slice(0, 4096))} ` +
    `${d.lastMs}${String(ns).padStart(6, '0')}\n`
  );
}
