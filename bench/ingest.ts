/**
 * Ingest benchmark: load generator → Aedes → `fleetpulse ingest` (child process) → influxd.
 *
 *   npm run bench:ingest -- [--vehicles 10000] [--rate 25000] [--connections 500] [--seconds 60] [--batch 3] [--payload json|compact] [--broker process|inline]
 *
 * The load generator runs in this process; the broker is a process of its own, as in production
 * (`--broker inline` runs it in this process instead: then broker and load share one thread and one
 * core); ingest and influxd are child processes. Connections are
 * opened from 127.0.0.1 … 127.0.0.N in turn so that many connections do not exhaust one
 * address's ephemeral ports. Vehicles are multiplexed over connections; every vehicle sends a
 * batch of `batch` samples each `vehicles·batch/rate` seconds.
 *
 * Reported: samples/s acknowledged by the broker, samples/s stored in InfluxDB over the run
 * (including the drain after the load stops), and end-to-end latency p50/p99 from a probe
 * vehicle's sample time to the moment the sample is queryable in InfluxDB (polled every 25 ms),
 * and where the CPU went during the load: load generator, broker, ingest, influxd,
 * each in % of one core (utime + stime from /proc), so a run that falls behind says what was busy;
 * ingest's CPU per sample accepted during the load, its resident memory (VmRSS at the end of the load,
 * VmHWM = peak), and the size of its vehicle state store (bytes per vehicle of the encoded states, and
 * of the SQLite files) when it has one.
 *
 * BENCH_INGEST_NODE_ARGS are node flags for the ingest process alone, e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/prof" for a profile of ingest (written when it exits).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker } from '../broker/broker-server.ts';
import { freePort } from '../common/net.ts';
import { cpuSeconds } from './process-cpu.ts';
import { startLocalInfluxd } from '../ingest/influxdb/local-influxd.ts';
import { VehicleStateStore } from '../ingest/scoring/vehicle-state-store.ts';
import { encodeTelemetry, type TelemetryBatch } from '../contracts/telemetry.ts';
import { encodeCompactTelemetry } from '../contracts/telemetry-compact.ts';
import { topics } from '../contracts/topics.ts';
import { startCli } from '../test/support/cli.ts';
import { influxQuery, rowsOf, waitFor } from '../test/support/influx.ts';
import { RAW_TELEMETRY } from '../ingest/influxdb/rollups.ts';

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
    broker: { type: 'string', default: 'process' },
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
if (values.broker !== 'process' && values.broker !== 'inline') throw new Error('--broker must be process or inline');
const encode = (batch: TelemetryBatch): Buffer => (values.payload === 'compact' ? encodeCompactTelemetry(batch) : encodeTelemetry(batch));

interface BenchBroker {
  url: string;
  /** The broker's process, or undefined when it shares this one. */
  pid: number | undefined;
  close(): Promise<void>;
}

/** startBroker as `fleetpulse broker --persistence memory` runs it, in its own process (bench/broker-bench-server.ts). */
async function startBrokerProcess(): Promise<BenchBroker> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'broker-bench-server.ts'), '--port', String(port), '--insecure-no-auth'], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, FLEETPULSE_LOG_LEVEL: 'warn' } });
  const url = `mqtt://127.0.0.1:${port}`;
  const up = await waitFor(async () => {
    const c = await mqtt.connectAsync(url, { clientId: 'bench-broker-check', reconnectPeriod: 0, connectTimeout: 1000 }).catch(() => undefined);
    await c?.endAsync();
    return c !== undefined;
  }, 30_000, 200);
  if (!up) throw new Error('the broker process did not start');
  return {
    url,
    pid: child.pid,
    async close() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

/** The same broker in this process (`--broker inline`). */
async function startInlineBroker(): Promise<BenchBroker> {
  const broker = await startBroker({ host: '127.0.0.1', port: 0, persistence: { kind: 'memory' } });
  return { url: broker.url, pid: undefined, close: () => broker.close() };
}

/** VmRSS and VmHWM (peak) of a process, MiB. */
function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: Math.round(kib('VmRSS') / 1024), peak: Math.round(kib('VmHWM') / 1024) };
}

/** Vehicles and bytes in ingest's vehicle state store (after ingest exited: the store is locked while it runs). */
function stateStoreSize(file: string): Record<string, number> | undefined {
  if (!existsSync(file)) return undefined;
  const fileBytes = ['', '-wal', '-shm'].reduce((n, suffix) => n + (existsSync(file + suffix) ? statSync(file + suffix).size : 0), 0);
  const store = new VehicleStateStore({ file });
  try {
    const { vehicles, bytes } = store.size();
    return { vehicles, stateBytesPerVehicle: Math.round(bytes / Math.max(1, vehicles)), fileBytesPerVehicle: Math.round(fileBytes / Math.max(1, vehicles)), fileMiB: Math.round(fileBytes / 1048576) };
  } finally {
    store.close();
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-bench-ingest-'));
  const influxd = await startLocalInfluxd({ dataDir: join(dir, 'influxdb'), port: 0 });
  const broker = values.broker === 'inline' ? await startInlineBroker() : await startBrokerProcess();
  const ingest = startCli([
    'ingest', '--mqtt-url', broker.url, '--influx-url', influxd.url, '--influx-database', DB, '--data-dir', dir,
    '--client-id', 'bench-ingest', '--http-port', '0', '--stats-interval-s', '10', '--idle-timeout-s', '60',
  ], {}, (process.env.BENCH_INGEST_NODE_ARGS ?? '').split(' ').filter(Boolean));
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
    const processes: Record<string, number> = broker.pid === undefined
      ? { 'broker + load generator': process.pid, ingest: ingest.child.pid!, influxd: influxd.pid }
      : { 'load generator': process.pid, broker: broker.pid, ingest: ingest.child.pid!, influxd: influxd.pid };
    const cpuAtStart = Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, cpuSeconds(pid)]));
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
          const rows = rowsOf((await influxQuery(influxd.url, DB, `SELECT rpm FROM ${RAW_TELEMETRY} WHERE vehicle = 'bench-probe' AND time > ${seenUpTo}ms`))[0]);
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
    const cpuPercentDuringLoad = Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, Math.round((100 * (cpuSeconds(pid) - cpuAtStart[name]!)) / loadSeconds)]));
    const ingestCpuS = cpuSeconds(ingest.child.pid!) - cpuAtStart.ingest!;
    const ingestMemoryAtLoadEnd = memoryMiB(ingest.child.pid!);
    const loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    await polling;
    // Drain: wait until InfluxDB holds everything acknowledged.
    let stored = 0;
    await waitFor(async () => {
      stored = (rowsOf((await influxQuery(influxd.url, DB, `SELECT count(rpm) AS n FROM ${RAW_TELEMETRY} WHERE vehicle <> 'bench-probe'`))[0])[0]?.n as number | undefined) ?? 0;
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
      cpuPercentOfOneCoreDuringLoad: cpuPercentDuringLoad,
      ingestCpuUsPerSample: Math.round((ingestCpuS * 1e6 * 10) / Math.max(1, acked)) / 10,
      ingestMemoryMiB: { atLoadEnd: ingestMemoryAtLoadEnd, afterDrain: memoryMiB(ingest.child.pid!) },
      loadAverageAtLoadEnd: loadAverage,
    };
    console.log(JSON.stringify(result, null, 2));
    // Ingest's own view every 10 s (messages in, spool backlog, open windows): where a slow run waited.
    console.log(ingest.output().split('\n').filter((line) => line.includes('ingest stats')).join('\n'));
    // And every distinct warning or error it logged (first occurrence, with a count).
    const problems = new Map<string, { first: string; n: number }>();
    for (const line of ingest.output().split('\n')) {
      const m = /^\S+ (WARN|ERROR) +(\S+ +[^=]*?)(?: \w+=|$)/.exec(line);
      if (!m) continue;
      const p = problems.get(m[2]!) ?? { first: line.slice(0, 400), n: 0 };
      p.n += 1;
      problems.set(m[2]!, p);
    }
    for (const { first, n } of problems.values()) console.log(`${n}× ${first}`);
    void lastT;
    lastT = new Float64Array(0);
    await probe.endAsync();
  } finally {
    for (const c of clients) c.end(true);
    ingest.child.kill('SIGTERM');
    await Promise.race([ingest.exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (ingest.child.exitCode === null) ingest.child.kill('SIGKILL');
    await ingest.exited;
    const state = stateStoreSize(join(dir, 'ingest-state', DB, 'bench-ingest.sqlite'));
    if (state) console.log(`vehicle state store: ${JSON.stringify(state)}`);
    await broker.close();
    await influxd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
