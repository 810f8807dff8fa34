/**
 * Remote agent configuration, operator → agent on `topics.config(vehicleId)` (retained, QoS 1), and
 * the agent's answer on `topics.configState(vehicleId)` (retained, QoS 1).
 *
 *   { "schema": "fleetpulse.agent-config/1", "version": 3,
 *     "sampleRateHz": 5, "batchIntervalMs": 5000, "payload": "compact", "healthIntervalS": 300,
 *     "obd": { "fastPids": ["RPM", "SPEED"], "fastHz": 5 } }
 *
 * - A config is the whole remote layer: a field it leaves out falls back to the agent's own setting
 *   (flags, environment, config file), so removing a field undoes it. Publishing an empty retained
 *   message clears the layer.
 * - `version` increases with every change; an agent refuses a version lower than the one it applied
 *   and treats the same version again (e.g. the retained copy after a reconnect) as a no-op.
 * - Unknown fields are errors, so a typo is reported back instead of being ignored.
 */
import { z } from 'zod';
import { SIGNAL_NAMES } from './signals.ts';

export const AGENT_CONFIG_SCHEMA = 'fleetpulse.agent-config/1';
export const AGENT_CONFIG_STATE_SCHEMA = 'fleetpulse.agent-config-state/1';
/** Larger config payloads are refused before parsing. */
export const MAX_AGENT_CONFIG_BYTES = 16 * 1024;

export const PAYLOAD_ENCODINGS = ['compact', 'json'] as const;
export type PayloadEncoding = (typeof PAYLOAD_ENCODINGS)[number];

const pidList = z
  .array(z.enum(SIGNAL_NAMES as [string, ...string[]], { error: (issue) => `unknown signal ${JSON.stringify(issue.input)}` }))
  .max(SIGNAL_NAMES.length)
  .refine((list) => new Set(list).size === list.length, 'lists a PID twice');

export const agentConfigSchema = z.strictObject({
  schema: z.literal(AGENT_CONFIG_SCHEMA),
  version: z.int().min(1).max(Number.MAX_SAFE_INTEGER),
  /** Samples per second of the simulated source. */
  sampleRateHz: z.number().min(0.01).max(100).optional(),
  /** Longest time a sample waits before its batch is published (ms). */
  batchIntervalMs: z.int().min(50).max(600_000).optional(),
  maxBatchSamples: z.int().min(1).max(5000).optional(),
  payload: z.enum(PAYLOAD_ENCODINGS).optional(),
  /** Seconds between reads of the car's diagnosis (DTCs, MIL, readiness); 0 = only when the car answers again (ignition on). */
  healthIntervalS: z.int().min(0).max(86_400).optional(),
  /** PID set and polling rates of the serial (ELM327) source. */
  obd: z
    .strictObject({
      fastPids: pidList.optional(),
      slowPids: pidList.optional(),
      fastHz: z.number().min(0.01).max(100).optional(),
      slowHz: z.number().min(0.001).max(100).optional(),
    })
    .refine((o) => !(o.fastPids?.length === 0 && o.slowPids?.length === 0), 'polls no PID at all')
    .optional(),
});

export type AgentConfig = z.infer<typeof agentConfigSchema>;

export const agentConfigStateSchema = z.strictObject({
  schema: z.literal(AGENT_CONFIG_STATE_SCHEMA),
  vehicle: z.string(),
  /** The remote config version in force (`null`: only the agent's own settings). */
  appliedVersion: z.int().nullable(),
  /** What happened to the last config received. */
  result: z.enum(['applied', 'rejected', 'cleared']),
  /** The version that was received (absent when it could not be read). */
  receivedVersion: z.int().optional(),
  /** Why it was rejected. */
  reason: z.string().optional(),
  /** Fields the agent's source does not use (e.g. `obd` with the simulator); accepted, without effect. */
  ignored: z.array(z.string()).optional(),
  atMs: z.int(),
});

export type AgentConfigState = z.infer<typeof agentConfigStateSchema>;

export type AgentConfigParse = { ok: true; config: AgentConfig } | { ok: false; reason: string; version?: number };

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

/** Parses and validates a config payload; never throws. The reason names the offending field. */
export function parseAgentConfig(payload: Uint8Array): AgentConfigParse {
  if (payload.byteLength > MAX_AGENT_CONFIG_BYTES) return { ok: false, reason: `${payload.byteLength} bytes > ${MAX_AGENT_CONFIG_BYTES}` };
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch (error) {
    return { ok: false, reason: `not JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  const parsed = agentConfigSchema.safeParse(json);
  if (parsed.success) return { ok: true, config: parsed.data };
  const version = (json as { version?: unknown } | null)?.version;
  return { ok: false, reason: describe(parsed.error), ...(Number.isSafeInteger(version) ? { version: version as number } : {}) };
}

export function encodeAgentConfigState(state: AgentConfigState): Buffer {
  return Buffer.from(JSON.stringify(state));
}

/** Parses a config-state payload; `undefined` when it is not a valid v1 state. */
export function decodeAgentConfigState(payload: Uint8Array): AgentConfigState | undefined {
  try {
    const parsed = agentConfigStateSchema.safeParse(JSON.parse(Buffer.from(payload).toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
