/**
 * Ingest benchmark: load generator → Aedes → `fleetpulse ingest` (child process) → influxd.
 *
 *   npm run bench:ingest -- [--vehicles 10000] [--rate 25000] [--connections 500] [--seconds 60] [--batch 3] [--payload json|compact]
 *
 * The broker and the load generator run in this process (as a fleet's vehicles would not, but the
 * machine has two cores either way); ingest and influxd are child processes. Connections are
 * opened from 127.0.0.1 … 127.0.0.N in turn so that many connections do not exhaust one
 * address's ephemeral ports. Vehicles are multiplexed over connections; every vehicle sends a
 * batch of `batch` samples each `vehicles·batch/rate` seconds.
 *
 * Reported: samples/s acknowledged by the broker, samples/s stored in InfluxDB over the run
 * (including the drain after the load stops), and end-to-end latency p50/p99 from a probe
 * vehicle's sample time to the moment the sample is queryable in InfluxDB (polled every 25 ms).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker } from '../broker/broker-server.ts';
import { startLocalInfluxd } from '../ingest/influxdb/local-influxd.ts';
import { encodeTelemetry, type TelemetryBatch } from '../contracts/telemetry.ts';
import { encodeCompactTelemetry } from '../contracts/telemetry-compact.ts';
import { topics } from '../contracts/topics.ts';
import { startCli } from '../test/support/cli.ts';
import { influxQuery, rowsOf, waitFor } from '../test/support/influx.ts';

const { values } = parseArgs({
  options: {
    vehicles: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '25000' },
    connections: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '60' },
    batch: { type: 'string', default: '3' },
    addresses: { type: 'string', default: '8' },
    // The wire form of the load: plain JSON, or the compact form the agent sends by default.
    payload: { type: 'string', default: 'json' },
  },
});
const VEHICLES = Number(values.vehicles);
const RATE = Number(values.rate);
const CONNECTIONS = Math.min(Number(values.connections), VEHICLES);
const SECONDS = Number(values.seconds);
const BATCH = Number(values.batch);
const ADDRESSES = Number(values.addresses);
const DB = 'bench';
if (values.payload !== 'json' && values.payload !== 'compact') throw new Error('--payload must be json or compact');
const encode = (batch: TelemetryBatch): Buffer => (values.payload === 'compact' ? encodeCompactTelemetry(batch) : encodeTelemetry(batch));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-bench-ingest-'));
  const influxd = await startLocalInfluxd({ dataDir: join(dir, 'influxdb'), port: 0 });
  const broker = await startBroker({ host: '127.0.0.1', port: 0 });
  const ingest = startCli([
    'ingest', '--mqtt-url', broker.url, '--influx-url', influxd.url, '--influx-database', DB, '--data-dir', dir,
    '--client-id', 'bench-ingest', '--http-port', '0', '--stats-interval-s', '10', '--idle-timeout-s', '60',
  ]);
  const clients: MqttClient[] = [];
  try {
    if (!(await waitFor(() => ingest.output().includes('subscribed'), 30_000))) throw new Error(`ingest did not start:\n${ingest.output()}`);
    console.log(`connecting ${CONNECTIONS} clients from ${ADDRESSES} loopback addresses…`);
    for (let i = 0; i < CONNECTIONS; i++) {
      const localAddress = `127.0.0.${(i % ADDRESSES) + 1}`;
      clients.push(mqtt.connect(broker.url, { clientId: `bench-${i}`, clean: true, reconnectPeriod: 0, localAddress } as mqtt.IClientOptions));
      if (i % 100 === 99) await new Promise((r) => setTimeout(r, 20));
    }
    await waitFor(() => clients.every((c) => c.connected), 60_000, 200);
    const probe = await mqtt.connectAsync(broker.url, { clientId: 'bench-probe' });

    const vehicleIds = Array.from({ length: VEHICLES }, (_, i) => `bench-${String(i).padStart(6, '0')}`);
    const seqs = new Int32Array(VEHICLES);
    const periodMs = (VEHICLES * BATCH * 1000) / RATE; // each vehicle's batch period
    let acked = 0;
    let published = 0;
    const started = Date.now();
    const end = started + SECONDS * 1000;
    let lastT = new Float64Array(VEHICLES);
    // Tick every 20 ms: publish the batches of the vehicles whose turn falls into this tick.
    let next = 0;
    const ticker = setInterval(() => {
      const now = Date.now();
      if (now >= end) return;
      const due = Math.floor(((now - started) / periodMs) * VEHICLES);
      for (; next < due; next++) {
        const v = next % VEHICLES;
        const vehicle = vehicleIds[v]!;
        const samples = [];
        for (let k = 0; k < BATCH; k++) {
          const t = Math.max(now - (BATCH - 1 - k) * 10, lastT[v]! + 1);
          lastT[v] = t;
          samples.push({ t, RPM: 800 + (next % 3000), SPEED: next % 120, COOLANT_TEMP: 90, ENGINE_LOAD: 30 + (k % 50) });
        }
        published += BATCH;
        clients[v % CONNECTIONS]!.publish(topics.telemetry(vehicle), encode({ v: 1, vehicle, seq: seqs[v]!++, samples }), { qos: 1 }, (error) => {
          if (!error) acked += BATCH;
        });
      }
    }, 20);

    // Probe: one sample every 100 ms with t = now; poll InfluxDB for when each becomes visible.
    const latencies: number[] = [];
    const probeTimes: number[] = [];
    let probeSeq = 0;
    const probeTimer = setInterval(() => {
      const t = Date.now();
      probeTimes.push(t);
      void probe.publishAsync(topics.telemetry('bench-probe'), encodeTelemetry({ v: 1, vehicle: 'bench-probe', seq: probeSeq++, samples: [{ t, RPM: 1000 }] }), { qos: 1 });
    }, 100);
    let seenUpTo = 0;
    const poll = async (): Promise<void> => {
      while (Date.now() < end + 5000) {
        try {
          const rows = rowsOf((await influxQuery(influxd.url, DB, `SELECT rpm FROM telemetry WHERE vehicle = 'bench-probe' AND time > ${seenUpTo}ms`))[0]);
          const now = Date.now();
          for (const row of rows) {
            const t = row.time as number;
            if (t > seenUpTo) {
              latencies.push(now - t);
              seenUpTo = t;
            }
          }
        } catch {
          /* database not created yet */
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    const polling = poll();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    clearInterval(ticker);
    clearInterval(probeTimer);
    const loadSeconds = (Date.now() - started) / 1000;
    await polling;
    // Drain: wait until InfluxDB holds everything acknowledged.
    let stored = 0;
    await waitFor(async () => {
      stored = (rowsOf((await influxQuery(influxd.url, DB, `SELECT count(rpm) AS n FROM telemetry WHERE vehicle <> 'bench-probe'`))[0])[0]?.n as number | undefined) ?? 0;
      return stored >= acked;
    }, 300_000, 1000);
    const drainedSeconds = (Date.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const result = {
      vehicles: VEHICLES,
      connections: CONNECTIONS,
      targetSamplesPerS: RATE,
      publishedSamplesPerS: Math.round(published / loadSeconds),
      brokerAckedSamplesPerS: Math.round(acked / loadSeconds),
      storedSamples: stored,
      storedSamplesPerS: Math.round(stored / drainedSeconds),
      drainAfterLoadS: Math.round(drainedSeconds - loadSeconds),
      latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), probes: latencies.length, sent: probeTimes.length },
    };
    console.log(JSON.stringify(result, null, 2));
    void lastT;
    lastT = new Float64Array(0);
    await probe.endAsync();
  } finally {
    for (const c of clients) c.end(true);
    ingest.child.kill('SIGTERM');
    await Promise.race([ingest.exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (ingest.child.exitCode === null) ingest.child.kill('SIGKILL');
    await broker.close();
    await influxd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
