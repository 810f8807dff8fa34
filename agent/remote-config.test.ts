import { describe, expect, it } from 'vitest';
import { AGENT_CONFIG_SCHEMA, AGENT_CONFIG_STATE_SCHEMA, type AgentConfigState, parseAgentConfig } from '../contracts/agent-config.ts';
import type { Sample } from '../contracts/telemetry.ts';
import type { AgentLiveSettings } from './agent.ts';
import { type AgentSettings, effectiveSettings, RemoteConfig, SOURCE_SETTING_KEYS } from './remote-config.ts';
import { SwappableSource } from './swappable-source.ts';
import type { TelemetrySource } from './telemetry-source.ts';

const local: AgentSettings = { sampleRateHz: 1, batchIntervalMs: 2000, maxBatchSamples: 500, payload: 'compact', fastPids: ['RPM', 'SPEED'], slowPids: ['COOLANT_TEMP'], fastHz: 5, slowHz: 0.5, healthIntervalS: 60 };
const config = (fields: object) => Buffer.from(JSON.stringify({ schema: AGENT_CONFIG_SCHEMA, ...fields }));

/** A source that emits the event times it is given, and records its settings and lifecycle. */
class FakeSource implements TelemetrySource {
  readonly name = 'fake';
  started = false;
  stopped = false;
  private emit: ((s: Sample) => void) | undefined;
  constructor(readonly settings: AgentSettings) {}
  async start(onSample: (s: Sample) => void) {
    this.started = true;
    this.emit = onSample;
  }
  async stop() {
    this.stopped = true;
    this.emit = undefined;
  }
  send(t: number) {
    this.emit?.({ t, RPM: 800 });
  }
}

function setup(sourceKeys = SOURCE_SETTING_KEYS.serial, build?: (s: AgentSettings) => FakeSource) {
  const built: FakeSource[] = [];
  const make = build ?? ((s: AgentSettings) => new FakeSource(s));
  const first = make(local);
  built.push(first);
  const source = new SwappableSource(first);
  const calls: AgentLiveSettings[] = [];
  const states: AgentConfigState[] = [];
  const remote = new RemoteConfig({
    vehicleId: 'car-1',
    local,
    agent: { reconfigure: (s) => calls.push(s) },
    source,
    buildSource: (s) => {
      const next = make(s);
      built.push(next);
      return next;
    },
    sourceKeys,
    now: () => 42,
  });
  remote.on('state', (s) => states.push(s));
  const delivered: number[] = [];
  return { remote, source, built, calls, states, delivered, start: () => source.start((s) => delivered.push(s.t)) };
}

describe('effectiveSettings', () => {
  it('overlays only the fields a config has', () => {
    expect(effectiveSettings(local, undefined)).toEqual(local);
    expect(effectiveSettings(local, { schema: AGENT_CONFIG_SCHEMA, version: 1, batchIntervalMs: 9000, obd: { fastHz: 2 } })).toEqual({ ...local, batchIntervalMs: 9000, fastHz: 2 });
  });
});

describe('RemoteConfig', () => {
  it('applies batch settings and encoding at once and reports the version', async () => {
    const { remote, calls, states, built } = setup();
    await remote.receive(config({ version: 1, batchIntervalMs: 500, maxBatchSamples: 50, payload: 'json' }));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ batchIntervalMs: 500, maxBatchSamples: 50 });
    expect(typeof calls[0]!.encode).toBe('function');
    const json = calls[0]!.encode!({ v: 1, vehicle: 'car-1', seq: 0, samples: [{ t: 1_763_900_000_000, RPM: 800 }] });
    expect(json[0]).toBe(0x7b); // '{'
    expect(built).toHaveLength(1); // no source setting changed
    expect(states).toEqual([{ schema: AGENT_CONFIG_STATE_SCHEMA, vehicle: 'car-1', appliedVersion: 1, result: 'applied', receivedVersion: 1, atMs: 42 }]);
  });

  it('rebuilds the source for a new PID set, keeping event times increasing across the swap', async () => {
    const { remote, built, delivered, start } = setup();
    await start();
    built[0]!.send(100);
    built[0]!.send(200);
    await remote.receive(config({ version: 1, obd: { fastPids: ['RPM', 'MAF'], fastHz: 2 } }));
    expect(built).toHaveLength(2);
    expect(built[0]!.stopped).toBe(true);
    expect(built[1]!.started).toBe(true);
    expect(built[1]!.settings).toMatchObject({ fastPids: ['RPM', 'MAF'], fastHz: 2, slowPids: ['COOLANT_TEMP'] });
    built[1]!.send(150); // behind the last delivered sample: dropped
    built[1]!.send(300);
    expect(delivered).toEqual([100, 200, 300]);
  });

  it('treats the same version as a no-op and rejects a lower one or changed content under the same version', async () => {
    const { remote, states, calls } = setup();
    await remote.receive(config({ version: 3, batchIntervalMs: 500 }));
    await remote.receive(config({ version: 3, batchIntervalMs: 500 }));
    expect(states).toHaveLength(1);
    await remote.receive(config({ version: 3, batchIntervalMs: 700 }));
    await remote.receive(config({ version: 2 }));
    expect(states.slice(1).map((s) => [s.result, s.appliedVersion, s.receivedVersion])).toEqual([
      ['rejected', 3, 3],
      ['rejected', 3, 2],
    ]);
    expect(states[1]!.reason).toMatch(/different content/);
    expect(states[2]!.reason).toMatch(/older than the applied version 3/);
    expect(calls).toHaveLength(1);
  });

  it('rejects an invalid config with a reason and keeps the previous one', async () => {
    const { remote, states } = setup();
    await remote.receive(config({ version: 1, batchIntervalMs: 500 }));
    await remote.receive(config({ version: 2, obd: { fastPids: ['RPM', 'WARP_DRIVE'] } }));
    expect(states.at(-1)).toMatchObject({ result: 'rejected', appliedVersion: 1, receivedVersion: 2, reason: expect.stringMatching(/WARP_DRIVE/) });
    expect(remote.settings().batchIntervalMs).toBe(500);
    expect(remote.stats()).toMatchObject({ configsReceived: 2, configsApplied: 1, configsRejected: 1 });
  });

  it('rejects a config whose source cannot be built and changes nothing', async () => {
    let builds = 0;
    const { remote, states, calls } = setup(SOURCE_SETTING_KEYS.serial, (s) => {
      if (builds++ > 0) throw new Error('serial device is gone');
      return new FakeSource(s);
    });
    await remote.receive(config({ version: 1, obd: { fastHz: 1 } }));
    expect(states.at(-1)).toMatchObject({ result: 'rejected', appliedVersion: null, reason: expect.stringMatching(/serial device is gone/) });
    expect(calls).toHaveLength(0);
    expect(remote.settings()).toEqual(local);
  });

  it('reports fields its source does not use as ignored', async () => {
    const { remote, states, built } = setup(SOURCE_SETTING_KEYS.replay);
    await remote.receive(config({ version: 1, sampleRateHz: 10, obd: { fastHz: 1 }, healthIntervalS: 300 }));
    expect(states.at(-1)).toMatchObject({ result: 'applied', ignored: ['sampleRateHz', 'obd', 'healthIntervalS'] });
    expect(built).toHaveLength(1);
  });

  it('rebuilds the serial or simulated source for a new diagnosis interval', async () => {
    for (const keys of [SOURCE_SETTING_KEYS.serial, SOURCE_SETTING_KEYS.simulate]) {
      const { remote, states, built } = setup(keys);
      await remote.receive(config({ version: 1, healthIntervalS: 300 }));
      expect(states.at(-1)).toMatchObject({ result: 'applied', appliedVersion: 1 });
      expect(states.at(-1)!.ignored).toBeUndefined();
      expect(built).toHaveLength(2);
      expect(built[1]!.settings).toMatchObject({ healthIntervalS: 300 });
      expect(remote.settings().healthIntervalS).toBe(300);
    }
    expect(parseAgentConfig(config({ version: 1, healthIntervalS: -1 }))).toMatchObject({ ok: false, reason: expect.stringMatching(/^healthIntervalS:/) });
  });

  it('keeps at most one config waiting: a newer one replaces it', async () => {
    const { remote, states } = setup(SOURCE_SETTING_KEYS.simulate);
    const all = [1, 2, 3, 4].map((version) => remote.receive(config({ version, batchIntervalMs: 1000 + version })));
    await Promise.all(all);
    // Version 1 was being handled; 2 and 3 were replaced while waiting; 4 is applied.
    expect(states.map((s) => s.appliedVersion)).toEqual([1, 4]);
    expect(remote.stats()).toMatchObject({ appliedVersion: 4, configsSuperseded: 2 });
    expect(remote.settings().batchIntervalMs).toBe(1004);
  });

  it('returns to local settings when the retained config is cleared', async () => {
    const { remote, states, calls, built } = setup(SOURCE_SETTING_KEYS.simulate);
    await remote.receive(Buffer.alloc(0)); // nothing applied yet: ignored
    expect(states).toHaveLength(0);
    await remote.receive(config({ version: 5, sampleRateHz: 10, payload: 'json' }));
    await remote.receive(Buffer.alloc(0));
    expect(states.map((s) => [s.result, s.appliedVersion])).toEqual([
      ['applied', 5],
      ['cleared', null],
    ]);
    expect(built.map((b) => b.settings.sampleRateHz)).toEqual([1, 10, 1]);
    expect(calls.at(-1)).toMatchObject({ batchIntervalMs: 2000, encode: expect.any(Function) });
    expect(remote.settings()).toEqual(local);
  });
});
