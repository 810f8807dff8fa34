/**
 * Remote configuration on real parts: an authenticated Aedes broker, an agent (simulated source)
 * wired as `fleetpulse agent` wires it, `fleetpulse config set` as an operator identity, and an
 * ingest identity watching the telemetry. A retained config is applied at connect, a new one live
 * (the telemetry changes encoding and rate), invalid and stale ones are rejected with a reason while
 * the applied version stays, a vehicle cannot configure itself, and alerts reach the agent.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { payloadEncoder } from '../../agent/payload-encoding.ts';
import { type AgentSettings, RemoteConfig, SOURCE_SETTING_KEYS } from '../../agent/remote-config.ts';
import { SimulatedSource } from '../../agent/simulated-source.ts';
import { SwappableSource } from '../../agent/swappable-source.ts';
import type { RunningBroker } from '../../broker/broker-server.ts';
import { AGENT_CONFIG_SCHEMA, type AgentConfigState, decodeAgentConfigState } from '../../contracts/agent-config.ts';
import { ALERT_SCHEMA, encodeAlert, type AlertMessage } from '../../contracts/alerts.ts';
import { decodeTelemetry, type TelemetryBatch } from '../../contracts/telemetry.ts';
import { topics } from '../../contracts/topics.ts';
import { deviceFixture, startAuthBroker, type Fixture } from '../broker/broker-fixture.ts';
import { runCli } from '../support/cli.ts';
import { waitFor } from '../support/influx.ts';

const VEHICLE = 'car-rc';

interface Received {
  format: 'json' | 'compact';
  batch: TelemetryBatch;
}

describe('remote agent configuration over a real broker', () => {
  let fixture: Fixture;
  let broker: RunningBroker;
  let agent: Agent;
  let remote: RemoteConfig;
  let watcher: MqttClient;
  const received: Received[] = [];
  const states: AgentConfigState[] = [];
  const connect = (username: string, suffix: string) =>
    mqtt.connectAsync(broker.url, { clientId: `${username}:${suffix}`, username, password: fixture.passwords.get(username)!, reconnectPeriod: 0 });
  const operatorEnv = () => ({ FLEETPULSE_OPERATOR_USERNAME: 'ops', FLEETPULSE_OPERATOR_PASSWORD: fixture.passwords.get('ops')!, FLEETPULSE_OPERATOR_MQTT_URL: broker.url });
  const configFile = (name: string, config: object) => {
    const path = join(fixture.dir, name);
    writeFileSync(path, JSON.stringify({ schema: AGENT_CONFIG_SCHEMA, ...config }));
    return path;
  };
  /** Telemetry batches received after `from`, once `n` are there. */
  const batchesAfter = async (from: number, n: number) => {
    expect(await waitFor(() => received.length >= from + n, 20_000), `${received.length - from} of ${n} batches`).toBe(true);
    return received.slice(from);
  };
  const lastState = () => states.at(-1);

  beforeAll(async () => {
    fixture = await deviceFixture([
      { username: VEHICLE, role: 'vehicle' },
      { username: 'ops', role: 'operator' },
      { username: 'ing', role: 'ingest' },
    ]);
    broker = await startAuthBroker(fixture);
    watcher = await connect('ing', 'watch');
    watcher.on('message', (topic, payload) => {
      if (topic === topics.telemetry(VEHICLE)) {
        const result = decodeTelemetry(payload, VEHICLE);
        if (result.ok) received.push({ format: payload[0] === 0x7b ? 'json' : 'compact', batch: result.batch });
      } else if (topic === topics.configState(VEHICLE)) {
        const state = decodeAgentConfigState(payload);
        if (state) states.push(state);
      }
    });
    await watcher.subscribeAsync([topics.telemetry(VEHICLE), topics.configState(VEHICLE)], { qos: 1 });

    // Retained before the agent exists: applied when it connects.
    const set = await runCli(['config', 'set', '--vehicle', VEHICLE, '--file', configFile('v1.json', { version: 1, payload: 'json', sampleRateHz: 10, batchIntervalMs: 300 })], operatorEnv());
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain('config version 1 published');

    const local: AgentSettings = { sampleRateHz: 1, batchIntervalMs: 4000, maxBatchSamples: 500, payload: 'compact', fastPids: ['RPM'], slowPids: [], fastHz: 5, slowHz: 0.5, healthIntervalS: 60 };
    const build = (s: AgentSettings) => new SimulatedSource({ vehicleId: VEHICLE, seed: 3, sampleRateHz: s.sampleRateHz });
    const source = new SwappableSource(build(local));
    remote = new RemoteConfig({ vehicleId: VEHICLE, local, agent: { reconfigure: (s) => agent.reconfigure(s) }, source, buildSource: build, sourceKeys: SOURCE_SETTING_KEYS.simulate });
    agent = new Agent({
      vehicleId: VEHICLE,
      mqttUrl: broker.url,
      username: VEHICLE,
      password: fixture.passwords.get(VEHICLE)!,
      source,
      batchIntervalMs: local.batchIntervalMs,
      maxBatchSamples: local.maxBatchSamples,
      outboxSamples: 10_000,
      encode: payloadEncoder(local.payload),
      onClient: (client) => remote.attach(client),
    });
    await agent.start();
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await watcher?.endAsync();
    await broker?.close();
    fixture?.dispose();
  });

  it('applies the retained config at connect and reports its version', async () => {
    expect(await waitFor(() => lastState()?.appliedVersion === 1, 15_000), JSON.stringify(states)).toBe(true);
    expect(lastState()).toMatchObject({ vehicle: VEHICLE, result: 'applied', receivedVersion: 1 });
    const from = received.length;
    const batches = await batchesAfter(from, 4);
    for (const { format, batch } of batches.slice(1)) {
      expect(format).toBe('json');
      // 10 Hz: event times 100 ms apart; a 300 ms batch interval keeps batches far below the local 4 s × 10 Hz.
      for (let i = 1; i < batch.samples.length; i++) expect(batch.samples[i]!.t - batch.samples[i - 1]!.t).toBe(100);
      expect(batch.samples.length).toBeLessThan(20);
    }
  });

  it('applies a new config live through `fleetpulse config set --wait-ms`', async () => {
    const set = await runCli(['config', 'set', '--vehicle', VEHICLE, '--file', configFile('v2.json', { version: 2, payload: 'compact', sampleRateHz: 5, batchIntervalMs: 500 }), '--wait-ms', '15000'], operatorEnv());
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain(`applied by ${VEHICLE}`);
    expect(remote.appliedVersion).toBe(2);
    const from = received.length;
    const batches = await batchesAfter(from, 3);
    for (const { format, batch } of batches.slice(1)) {
      expect(format).toBe('compact');
      for (let i = 1; i < batch.samples.length; i++) expect(batch.samples[i]!.t - batch.samples[i - 1]!.t).toBe(200);
    }
    // Event times keep strictly increasing across the source swap.
    const all = received.flatMap((r) => r.batch.samples.map((s) => s.t));
    for (let i = 1; i < all.length; i++) expect(all[i]!).toBeGreaterThan(all[i - 1]!);
  });

  it('rejects invalid and stale configs with a reason and keeps the applied version', async () => {
    const ops = await connect('ops', 'raw');
    const cases: Array<[object | string, RegExp]> = [
      [{ schema: AGENT_CONFIG_SCHEMA, version: 3, batchIntervalMs: 5 }, /batchIntervalMs/],
      [{ schema: AGENT_CONFIG_SCHEMA, version: 4, sampleRate: 5 }, /sampleRate/],
      ['{"version": 5', /not JSON/],
      [{ schema: AGENT_CONFIG_SCHEMA, version: 1 }, /older than the applied version 2/],
    ];
    for (const [config, reason] of cases) {
      const before = states.length;
      await ops.publishAsync(topics.config(VEHICLE), typeof config === 'string' ? config : JSON.stringify(config), { qos: 1, retain: true });
      expect(await waitFor(() => states.length > before, 10_000)).toBe(true);
      expect(lastState()).toMatchObject({ result: 'rejected', appliedVersion: 2, reason: expect.stringMatching(reason) });
    }
    await ops.endAsync();
    expect(remote.stats()).toMatchObject({ appliedVersion: 2, configsRejected: 4 });

    // The CLI refuses an invalid file before publishing anything.
    const bad = await runCli(['config', 'set', '--vehicle', VEHICLE, '--file', configFile('bad.json', { version: 9, payload: 'xml' })], operatorEnv());
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/payload/);
  });

  it('does not let a vehicle publish its own config, and lets only the vehicle report its state', async () => {
    // A denied publish is answered by closing the connection (MQTT 3.1.1 has no negative PUBACK).
    const denied = async (username: string, topic: string, payload: string) => {
      const client = await connect(username, 'denied');
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      const before = broker.stats().deniedPublish;
      client.publish(topic, payload, { qos: 1, retain: true });
      await closed;
      await client.endAsync(true);
      expect(broker.stats().deniedPublish, `${username} → ${topic}`).toBe(before + 1);
    };
    await denied(VEHICLE, topics.config(VEHICLE), JSON.stringify({ schema: AGENT_CONFIG_SCHEMA, version: 99 }));
    await denied('ops', topics.configState(VEHICLE), 'forged');
    await denied('ing', topics.config(VEHICLE), JSON.stringify({ schema: AGENT_CONFIG_SCHEMA, version: 98 }));
    const asIngest = await runCli(['config', 'set', '--vehicle', VEHICLE, '--file', configFile('v97.json', { version: 97 })], { ...operatorEnv(), FLEETPULSE_OPERATOR_USERNAME: 'ing', FLEETPULSE_OPERATOR_PASSWORD: fixture.passwords.get('ing')! });
    expect(asIngest.code).toBe(1);
    expect(asIngest.stderr).toMatch(/role operator/);
    const ops = await connect('ops', 'check');
    const retained: string[] = [];
    ops.on('message', (topic, payload) => retained.push(payload.toString()));
    await ops.subscribeAsync(topics.config(VEHICLE), { qos: 1 });
    expect(await waitFor(() => retained.length > 0, 5000)).toBe(true);
    // Still the last operator publish (the stale version 1), not the vehicle's version 99.
    expect(JSON.parse(retained[0]!)).toMatchObject({ version: 1 });
    await ops.endAsync();
    expect(remote.appliedVersion).toBe(2);
  });

  it('logs alerts for this vehicle and counts invalid ones', async () => {
    const alert: AlertMessage = {
      schema: ALERT_SCHEMA,
      alertId: `${VEHICLE}:1`,
      vehicle: VEHICLE,
      state: 'raised',
      kind: 'engine_anomaly',
      windowStartMs: 1,
      windowEndMs: 2,
      modelVersion: 1,
      score: 0.9,
      threshold: 0.5,
      windows: 3,
      topFeatures: [{ name: 'rpm_mean', value: 1, deviation: 4 }],
      emittedAtMs: 3,
    };
    const seen: AlertMessage[] = [];
    remote.on('alert', (a) => seen.push(a));
    const ing = await connect('ing', 'alerts');
    await ing.publishAsync(topics.alerts(VEHICLE), encodeAlert(alert), { qos: 1 });
    await ing.publishAsync(topics.alerts(VEHICLE), 'not an alert', { qos: 1 });
    await ing.publishAsync(topics.alerts(VEHICLE), encodeAlert({ ...alert, state: 'cleared' }), { qos: 1 });
    await ing.endAsync();
    expect(await waitFor(() => seen.length === 2 && remote.stats().alertsInvalid === 1, 10_000)).toBe(true);
    expect(seen.map((a) => a.state)).toEqual(['raised', 'cleared']);
    expect(remote.stats()).toMatchObject({ alertsRaised: 1, alertsCleared: 1, alertsInvalid: 1 });
  });

  it('falls back to local settings when the retained config is cleared', async () => {
    const clear = await runCli(['config', 'set', '--vehicle', VEHICLE, '--clear'], operatorEnv());
    expect(clear.code, clear.stderr).toBe(0);
    expect(await waitFor(() => lastState()?.result === 'cleared', 10_000)).toBe(true);
    expect(lastState()?.appliedVersion).toBeNull();
    expect(remote.settings()).toMatchObject({ sampleRateHz: 1, batchIntervalMs: 4000, payload: 'compact' });
    const stats = agent.stats();
    expect(stats.samplesDropped).toBe(0);
    expect(stats.samplesProduced).toBeGreaterThan(20);
  });
});
