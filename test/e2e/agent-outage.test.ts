/**
 * Store-and-forward end to end, on real processes: `fleetpulse agent` (simulated car, 10 Hz, disk
 * buffer, its own credentials) → `fleetpulse broker` (a separate process with LevelDB sessions,
 * stopped for 60 s and started again on the same port) → ingest (persistent session) → influxd.
 * After the broker is back, while the backlog drains, the agent is killed with SIGKILL and started
 * again on the same buffer.
 *
 * What was produced is known exactly: the agent logs every batch once its buffer committed it
 * (`buffered batch`, seq and first/last event time). InfluxDB must hold exactly those samples —
 * the same count in every batch's time range and nothing else — and the batches' sequence numbers
 * and event times must increase together across the kill, i.e. in order per vehicle.
 */
import mqtt from 'mqtt';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionLocalCredentials } from '../../broker/local-credentials.ts';
import { freePort } from '../../common/net.ts';
import { topics } from '../../contracts/topics.ts';
import { IngestService } from '../../ingest/ingest-service.ts';
import { startCli, stopCli } from '../support/cli.ts';
import { logRecords } from '../support/log-records.ts';
import { influxQuery, startTestInfluxd, waitFor, type TestInfluxd } from '../support/influx.ts';
import { RAW_TELEMETRY } from '../../ingest/influxdb/rollups.ts';

const DB = 'e2e_agent_outage';
const VEHICLE = 'outage-1';
const OUTAGE_MS = 60_000;

type Cli = ReturnType<typeof startCli>;

describe('agent store-and-forward through a broker outage and a SIGKILL', () => {
  let dir: string;
  let influx: TestInfluxd;
  let ingest: IngestService;
  let broker: Cli | undefined;
  const agents: Cli[] = [];
  let watcher: mqtt.MqttClient | undefined;
  const statuses: Array<{ state: string; reason?: string; schema: string; version: string; time: string }> = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fleetpulse-outage-'));
    const devicesFile = join(dir, 'broker', 'devices.json');
    const passwords = await provisionLocalCredentials(devicesFile, join(dir, 'broker', 'local-credentials.json'), [
      { username: VEHICLE, role: 'vehicle' },
      { username: 'outage-ingest', role: 'ingest' },
      { username: 'outage-viewer', role: 'viewer' },
    ]);
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    const startBrokerProcess = async (): Promise<Cli> => {
      const cli = startCli(['broker', '--port', String(port), '--data-dir', dir, '--persistence', 'level'], { FLEETPULSE_LOG_FORMAT: 'json' });
      expect(await waitFor(() => /broker listening/.test(cli.output()), 30_000), cli.output()).toBe(true);
      return cli;
    };

    influx = await startTestInfluxd();
    broker = await startBrokerProcess();
    ingest = new IngestService({
      mqttUrl: url,
      username: 'outage-ingest',
      password: passwords.get('outage-ingest')!,
      influxUrl: influx.url,
      influxDatabase: DB,
      clientId: 'outage-ingest',
      shards: Array.from({ length: 64 }, (_, i) => i),
      flushIntervalMs: 100,
    });
    await ingest.start();
    expect(await waitFor(() => ingest.stats().mqttConnected, 10_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 300));

    watcher = await mqtt.connectAsync(url, { clientId: 'outage-viewer', username: 'outage-viewer', password: passwords.get('outage-viewer')!, reconnectPeriod: 300 });
    watcher.on('message', (_topic, payload) => statuses.push(JSON.parse(payload.toString())));
    await watcher.subscribeAsync(topics.status(VEHICLE), { qos: 1 });

    const agentArgs = [
      'agent', '--vehicle-id', VEHICLE, '--mqtt-url', url, '--username', VEHICLE,
      '--data-dir', dir, '--sample-rate-hz', '10', '--batch-interval-ms', '500',
      '--drain-samples-per-s', '100', '--reconnect-min-ms', '200', '--reconnect-max-ms', '1500', '--stats-interval-s', '5',
    ];
    const agentEnv = { FLEETPULSE_LOG_FORMAT: 'json', FLEETPULSE_LOG_LEVEL: 'debug', FLEETPULSE_AGENT_PASSWORD: passwords.get(VEHICLE)! };
    const acked = () => ingest.stats().samplesAccepted;

    // 1. Online for a few seconds.
    agents.push(startCli(agentArgs, agentEnv));
    expect(await waitFor(() => acked() >= 30, 30_000), agents[0]!.output()).toBe(true);

    // 2. The broker goes away for 60 s; the agent keeps sampling into its buffer.
    await stopCli(broker);
    const acceptedAtRestart = await new Promise<number>((resolve) => setTimeout(() => resolve(ingest.stats().samplesAccepted), OUTAGE_MS));
    broker = await startBrokerProcess();

    // 3. While the backlog drains (100 samples/s, ~600 samples), kill the agent and start it again.
    expect(await waitFor(() => ingest.stats().samplesAccepted >= acceptedAtRestart + 150, 20_000), agents[0]!.output()).toBe(true);
    await stopCli(agents[0]!, 'SIGKILL');
    agents.push(startCli(agentArgs, agentEnv));
    expect(await waitFor(() => logRecords(agents[1]!.output()).some((l) => l.msg === 'backlog drained: all sent'), 30_000), agents[1]!.output()).toBe(true);
    await new Promise((r) => setTimeout(r, 2000));
    await stopCli(agents[1]!, 'SIGTERM');
    await waitFor(() => statuses.at(-1)?.reason === 'stopped', 5000);
  }, 180_000);

  afterAll(async () => {
    for (const a of agents) await stopCli(a, 'SIGKILL');
    await watcher?.endAsync(true);
    await ingest?.stop();
    if (broker) await stopCli(broker);
    await influx?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('stores every buffered sample exactly once, in order, across the outage and the kill', async () => {
    const runs = agents.map((a) => logRecords(a.output()).filter((l) => l.msg === 'buffered batch'));
    const batches = runs.flat().map((l) => ({ seq: l.seq as number, samples: l.samples as number, firstT: l.firstT as number, lastT: l.lastT as number }));
    const produced = batches.reduce((n, b) => n + b.samples, 0);
    // 10 Hz for more than the 60 s outage.
    expect(produced).toBeGreaterThan(600);
    expect(runs[1]!.length).toBeGreaterThan(0);
    // Sequence numbers and event times increase together, also from the killed run to the next.
    for (let i = 1; i < batches.length; i++) {
      expect(batches[i]!.seq, `batch ${i}`).toBe(batches[i - 1]!.seq + 1);
      expect(batches[i]!.firstT).toBeGreaterThan(batches[i - 1]!.lastT);
    }

    const arrived = await waitFor(async () => {
      await ingest.flush();
      const [series] = await influxQuery(influx.url, DB, `SELECT count(rpm) AS n FROM ${RAW_TELEMETRY} WHERE vehicle = '${VEHICLE}'`);
      return (series?.values[0]?.[1] as number | undefined) === produced;
    }, 30_000, 500);
    const rows = (await influxQuery(influx.url, DB, `SELECT rpm FROM ${RAW_TELEMETRY} WHERE vehicle = '${VEHICLE}' ORDER BY time`))[0]?.values ?? [];
    const stored = new Set(rows.map((r) => r[0] as number));
    const missing = batches.filter((b) => !stored.has(b.firstT) || !stored.has(b.lastT)).map((b) => b.seq);
    expect(arrived, `InfluxDB has ${rows.length} rows, the agent buffered ${produced}; batches missing: ${missing.join(',')}; ingest ${JSON.stringify(ingest.stats())}`).toBe(true);
    const times = rows.map((r) => r[0] as number);
    expect(times.length).toBe(produced);
    // Each batch's samples, and nothing between batches.
    let at = 0;
    for (const b of batches) {
      let n = 0;
      while (at < times.length && times[at]! <= b.lastT) {
        expect(times[at]!, `row before batch ${b.seq}`).toBeGreaterThanOrEqual(b.firstT);
        at += 1;
        n += 1;
      }
      expect(n, `batch ${b.seq}`).toBe(b.samples);
    }
    expect(at).toBe(times.length);
  });

  it('really went through the outage, the drain and the kill, and reported it', () => {
    const first = logRecords(agents[0]!.output());
    const second = logRecords(agents[1]!.output());
    expect(first.some((l) => l.msg === 'broker connection lost')).toBe(true);
    const drain = first.find((l) => l.msg === 'draining backlog');
    // 60 s at 10 Hz waited in the buffer.
    expect(drain?.samples as number).toBeGreaterThan(550);
    // Counters in the periodic log: the outage shows as a drop and failed attempts, then a second connect.
    const counters = first.filter((l) => l.msg === 'agent counters');
    expect(counters.some((c) => c.disconnects === 1 && (c.connectFailures as number) > 5 && (c.queuedSamples as number) > 100)).toBe(true);
    expect(counters.every((c) => c.samplesDropped === 0)).toBe(true);
    expect(first.filter((l) => l.msg === 'connected to broker').map((l) => l.connects)).toEqual([1, 2]);
    // The restarted agent found the rest of the backlog on disk and sent it.
    expect(second.find((l) => l.msg === 'buffer holds batches from before this start')?.samples as number).toBeGreaterThan(0);
    const stopped = second.find((l) => l.msg === 'agent stopped')!;
    expect(stopped.queuedBatches).toBe(0);
    expect(stopped.samplesOutOfOrder).toBe(0);
  });

  it('keeps a retained status: online, the last will on the kill, offline on a clean stop', () => {
    expect(statuses.every((s) => s.schema === 'fleetpulse.agent-status/1' && typeof s.version === 'string' && !Number.isNaN(Date.parse(s.time)))).toBe(true);
    const states = statuses.map((s) => (s.reason ? `${s.state}:${s.reason}` : s.state));
    // The will after the SIGKILL, then the new process online, then its clean stop.
    expect(states.slice(-3)).toEqual(['offline:connection-lost', 'online', 'offline:stopped']);
    expect(states.filter((s) => s === 'online').length).toBeGreaterThanOrEqual(3);
  });
});
