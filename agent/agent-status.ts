/**
 * The agent's retained status message on `fleet/{shard}/{vehicle}/status` (topics.status):
 *
 *   { "schema": "fleetpulse.agent-status/1", "vehicle": "car-7", "state": "online",
 *     "version": "0.1.0", "time": "2026-11-23T23:50:00.000Z", "clock": "synchronised" }
 *
 * - `online` is published (retained, QoS 1) right after every CONNACK.
 * - `offline` with `reason: "stopped"` is published before a clean shutdown.
 * - `offline` with `reason: "connection-lost"` is the last will, registered with every CONNECT: the
 *   broker publishes it (retained) when the connection dies without a DISCONNECT. A will is fixed
 *   when the connection is made, so its `time` is the time of that CONNECT, not of the loss.
 * - `clock` (optional, added within schema 1): whether the agent's clock is synchronised
 *   (agent/clock-sync.ts). `online` is published again when it changes while connected.
 */
import packageJson from '../package.json' with { type: 'json' };
import type { ClockState } from './clock-sync.ts';

export const AGENT_STATUS_SCHEMA = 'fleetpulse.agent-status/1';
export const AGENT_VERSION: string = packageJson.version;

export interface AgentStatus {
  schema: typeof AGENT_STATUS_SCHEMA;
  vehicle: string;
  state: 'online' | 'offline';
  reason?: 'stopped' | 'connection-lost';
  version: string;
  /** ISO 8601. */
  time: string;
  clock?: ClockState;
}

export function encodeAgentStatus(vehicle: string, state: AgentStatus['state'], details: { reason?: AgentStatus['reason']; clock?: ClockState } = {}, now = Date.now()): Buffer {
  const { reason, clock } = details;
  const status: AgentStatus = { schema: AGENT_STATUS_SCHEMA, vehicle, state, ...(reason ? { reason } : {}), version: AGENT_VERSION, time: new Date(now).toISOString(), ...(clock ? { clock } : {}) };
  return Buffer.from(JSON.stringify(status), 'utf8');
}
