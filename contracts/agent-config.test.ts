import { describe, expect, it } from 'vitest';
import { AGENT_CONFIG_SCHEMA, AGENT_CONFIG_STATE_SCHEMA, decodeAgentConfigState, encodeAgentConfigState, MAX_AGENT_CONFIG_BYTES, parseAgentConfig } from './agent-config.ts';

const payload = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
const base = { schema: AGENT_CONFIG_SCHEMA, version: 4 };

describe('agent config contract', () => {
  it('accepts a full config and a minimal one', () => {
    const full = { ...base, sampleRateHz: 5, batchIntervalMs: 5000, maxBatchSamples: 200, payload: 'json', obd: { fastPids: ['RPM', 'SPEED'], slowPids: [], fastHz: 5, slowHz: 0.2 } };
    expect(parseAgentConfig(payload(full))).toEqual({ ok: true, config: full });
    expect(parseAgentConfig(payload(base))).toEqual({ ok: true, config: base });
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['not JSON', '{version', /not JSON/],
    ['no schema', { version: 1 }, /schema/],
    ['wrong schema', { ...base, schema: 'fleetpulse.agent-config/2' }, /schema/],
    ['no version', { schema: AGENT_CONFIG_SCHEMA }, /version/],
    ['version 0', { ...base, version: 0 }, /version/],
    ['unknown field', { ...base, batchInterval: 5 }, /batchInterval/],
    ['rate too high', { ...base, sampleRateHz: 1000 }, /sampleRateHz/],
    ['interval too short', { ...base, batchIntervalMs: 10 }, /batchIntervalMs/],
    ['unknown encoding', { ...base, payload: 'protobuf' }, /payload/],
    ['unknown PID', { ...base, obd: { fastPids: ['RPM', 'TURBO'] } }, /obd\.fastPids\.1: unknown signal "TURBO"/],
    ['duplicate PID', { ...base, obd: { fastPids: ['RPM', 'RPM'] } }, /twice/],
    ['no PID at all', { ...base, obd: { fastPids: [], slowPids: [] } }, /no PID/],
    ['unknown obd field', { ...base, obd: { pids: ['RPM'] } }, /pids/],
  ];
  for (const [name, value, reason] of bad) {
    it(`rejects ${name} with a reason naming it`, () => {
      const result = parseAgentConfig(payload(value));
      expect(result.ok).toBe(false);
      expect(!result.ok && result.reason).toMatch(reason);
    });
  }

  it('keeps the version of a rejected config when it can be read, and bounds the size', () => {
    expect(parseAgentConfig(payload({ ...base, version: 9, sampleRateHz: -1 }))).toMatchObject({ ok: false, version: 9 });
    expect(parseAgentConfig(payload({ ...base, pad: 'x'.repeat(MAX_AGENT_CONFIG_BYTES) }))).toMatchObject({ ok: false, reason: expect.stringMatching(/bytes/) });
  });

  it('round-trips a config state', () => {
    const state = { schema: AGENT_CONFIG_STATE_SCHEMA, vehicle: 'car-1', appliedVersion: 3, result: 'rejected', receivedVersion: 4, reason: 'x', atMs: 1 } as const;
    expect(decodeAgentConfigState(encodeAgentConfigState(state))).toEqual(state);
    expect(decodeAgentConfigState(payload({ ...state, result: 'maybe' }))).toBeUndefined();
  });
});
