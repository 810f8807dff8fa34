/**
 * Broker benchmark: fleetpulse's broker (auth + ACL on, as `fleetpulse broker` runs it, in-memory
 * sessions) against Debian's Mosquitto 2 (password file + ACL file, the equivalent setup), each in
 * its own process, driven by the same load generator in this process.
 *
 * Load: P publishers (vehicle identities) each publish their own telemetry topic in a closed loop
 * (QoS 1: the next message after the PUBACK; QoS 0: after the socket accepted the write), one
 * subscriber (ingest identity) reads `fleet/+/+/telemetry`. Measured over a fixed window after all
 * clients are connected: messages delivered to the subscriber per second, and p99 latency from
 * publish to delivery (payload carries the send time).
 *
 *   npm run bench:broker                      # vs Mosquitto: 10 and 1000 publishers, QoS 0 and 1, 5 s each
 *   BENCH_SECONDS=10 BENCH_PUBLISHERS=10 npm run bench:broker
 *   BENCH_COMPARE=auth BENCH_ROUNDS=3 npm run bench:broker      # the same broker with auth+ACL off vs on
 *   BENCH_COMPARE=cluster BENCH_QOS=1 npm run bench:broker      # vs `fleetpulse broker --workers 2` (needs redis-server)
 *
 * Other knobs: BENCH_QOS (default 0,1), BENCH_ROUNDS (median of N alternating rounds), BENCH_WORKERS (2).
 * Diagnostics (auth mode's broker-bench-server.ts): BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR",
 * BENCH_SERVER_STATS_DIR=DIR (the broker's counters at the end of each run), BENCH_IDLE_BEFORE_LOAD_S=N
 * (pause between connecting and loading).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { FileDeviceStore } from '../broker/device-store.ts';
import { freePort, isPortOpen } from '../common/net.ts';
import { topics } from '../contracts/topics.ts';
import { cpuSecondsWithChildren } from './process-cpu.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const PUBLISHERS = (process.env.BENCH_PUBLISHERS ?? '10,1000').split(',').map(Number);
const ROOT = join(import.meta.dirname, '..');
const PAYLOAD_BYTES = 200;
/** mosquitto: fleetpulse vs Mosquitto; auth: auth+ACL on vs off; cluster: Mosquitto vs fleetpulse vs fleetpulse --workers. */
const COMPARE = (process.env.BENCH_COMPARE ?? 'mosquitto') as 'mosquitto' | 'auth' | 'cluster';
const QOS = (process.env.BENCH_QOS ?? '0,1').split(',').map(Number) as Array<0 | 1>;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const IDLE_BEFORE_LOAD_S = Number(process.env.BENCH_IDLE_BEFORE_LOAD_S ?? 0);

interface Result {
  broker: string;
  qos: 0 | 1;
  publishers: number;
  deliveredPerS: number;
  p99Ms: number;
  /** CPU time of the broker's processes (with their children, e.g. cluster workers, and redis) per delivered message. */
  cpuUsPerMsg: number;
}

async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await isPortOpen(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

function connect(port: number, username: string, password: string, clientId: string, localAddress: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({ host: '127.0.0.1', port, username, password, clientId, reconnectPeriod: 0, connectTimeout: 60_000, localAddress } as mqtt.IClientOptions);
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  });
}

async function runLoad(name: string, port: number, brokerPids: readonly number[], passwords: Map<string, string>, vehicles: string[], qos: 0 | 1): Promise<Result> {
  const sub = await connect(port, 'bench-ingest', passwords.get('bench-ingest')!, 'bench-ingest', '127.0.0.1');
  let delivered = 0;
  let measuring = false;
  const latencies: number[] = [];
  sub.on('message', (_t, payload) => {
    if (!measuring) return;
    delivered += 1;
    if (latencies.length < 2_000_000) latencies.push(performance.now() - payload.readDoubleLE(0));
  });
  await sub.subscribeAsync(topics.fleetFilter('telemetry'), { qos });

  // Several loopback source addresses keep 1,000 connections clear of one address' port range.
  const pubs: MqttClient[] = [];
  for (let i = 0; i < vehicles.length; i += 50) {
    const batch = vehicles.slice(i, i + 50);
    pubs.push(...(await Promise.all(batch.map((v, j) => connect(port, v, passwords.get(v)!, v, `127.0.0.${2 + ((i + j) % 50)}`)))));
  }
  // Diagnostic: an idle pause after connecting (a long connect phase is what auth adds with 1,000 clients).
  if (IDLE_BEFORE_LOAD_S > 0) await new Promise((r) => setTimeout(r, IDLE_BEFORE_LOAD_S * 1000));
  let running = true;
  const loops = pubs.map(async (client, i) => {
    const topic = topics.telemetry(vehicles[i]!);
    const payload = Buffer.alloc(PAYLOAD_BYTES);
    while (running) {
      payload.writeDoubleLE(performance.now(), 0);
      await client.publishAsync(topic, Buffer.from(payload), { qos });
      if (qos === 0) await new Promise((r) => setImmediate(r)); // let reads and timers run
    }
  });
  await new Promise((r) => setTimeout(r, 1000)); // warm-up
  measuring = true;
  const started = performance.now();
  const cpuBefore = cpuSecondsWithChildren(brokerPids);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  measuring = false;
  const cpu = cpuSecondsWithChildren(brokerPids) - cpuBefore;
  const elapsed = (performance.now() - started) / 1000;
  running = false;
  await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 5000))]);
  for (const c of pubs) c.end(true);
  sub.end(true);
  latencies.sort((a, b) => a - b);
  const p99 = latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]! : NaN;
  return { broker: name, qos, publishers: vehicles.length, deliveredPerS: delivered / elapsed, p99Ms: p99, cpuUsPerMsg: delivered > 0 ? (cpu * 1e6) / delivered : NaN };
}

interface Started {
  port: number;
  child: ChildProcess;
  /** Extra processes to stop with it (redis-server). */
  extra?: ChildProcess[];
}

/** `fleetpulse broker` itself (auth and ACL on), as an operator runs it. */
async function startOurs(devicesFile: string): Promise<Started> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'fleetpulse.js'), 'broker', '--port', String(port), '--devices-file', devicesFile, '--persistence', 'memory', '--max-failed-logins', '100000'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, FLEETPULSE_LOG_LEVEL: 'warn' },
  });
  await waitPort(port);
  return { port, child };
}

/** The same broker through bench/broker-bench-server.ts, with auth+ACL on or (bench only) off. */
async function startBenchServer(devicesFile: string | undefined): Promise<Started> {
  const port = await freePort();
  const auth = devicesFile ? ['--devices-file', devicesFile] : ['--insecure-no-auth'];
  // BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", to profile the broker.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(ROOT, 'bench', 'broker-bench-server.ts'), '--port', String(port), ...auth], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'ignore'],
    env: { ...process.env, FLEETPULSE_LOG_LEVEL: 'error' },
  });
  await waitPort(port);
  return { port, child };
}

/** `fleetpulse broker --workers N` on a fresh redis-server (sessions and messages shared through it). */
async function startCluster(dir: string, devicesFile: string, workers: number): Promise<Started> {
  const redisPort = await freePort();
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  await waitPort(redisPort);
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'fleetpulse.js'), 'broker', '--port', String(port), '--devices-file', devicesFile, '--persistence', 'redis', '--redis-url', `redis://127.0.0.1:${redisPort}`, '--workers', String(workers), '--max-failed-logins', '100000'],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, FLEETPULSE_LOG_LEVEL: 'warn' } },
  );
  await waitPort(port);
  await new Promise((r) => setTimeout(r, 2000)); // every worker listening, not only the first
  return { port, child, extra: [redis] };
}

async function startMosquitto(dir: string, passwords: Map<string, string>): Promise<Started> {
  const port = await freePort();
  const passwordFile = join(dir, 'mosquitto.passwd');
  // mosquitto_passwd -U hashes a whole clear-text file at once (sha512-pbkdf2).
  writeFileSync(passwordFile, [...passwords].map(([u, p]) => `${u}:${p}`).join('\n') + '\n');
  await new Promise<void>((resolve, reject) => spawn('mosquitto_passwd', ['-U', passwordFile], { stdio: 'inherit' }).on('exit', (c) => (c === 0 ? resolve() : reject(new Error('mosquitto_passwd failed')))));
  const aclFile = join(dir, 'mosquitto.acl');
  writeFileSync(aclFile, ['pattern write fleet/+/%u/telemetry', 'pattern write fleet/+/%u/status', 'pattern read fleet/+/%u/#', 'user bench-ingest', 'topic read fleet/#', 'topic write fleet/+/+/alerts', ''].join('\n'));
  const conf = join(dir, 'mosquitto.conf');
  // Run as the current user: mosquitto started as root would switch to `mosquitto`, which cannot read our temp dir.
  writeFileSync(conf, [`user ${userInfo().username}`, `listener ${port} 127.0.0.1`, 'allow_anonymous false', `password_file ${passwordFile}`, `acl_file ${aclFile}`, 'max_queued_messages 100000', 'persistence false', 'log_type error', ''].join('\n'));
  const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitPort(port);
  return { port, child };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

interface Contender {
  name: string;
  start(): Promise<Started>;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  return sorted.length % 2 === 1 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fp-bench-broker-'));
  try {
    const maxPublishers = Math.max(...PUBLISHERS);
    const vehicles = Array.from({ length: maxPublishers }, (_, i) => `bench-${i}`);
    const store = new FileDeviceStore(join(dir, 'devices.json'));
    process.stderr.write(`provisioning ${vehicles.length + 1} identities (scrypt)…\n`);
    const created = await store.addMany([{ username: 'bench-ingest', role: 'ingest' }, ...vehicles.map((v) => ({ username: v, role: 'vehicle' as const }))]);
    const passwords = new Map(created.map((c) => [c.identity.username, c.password]));

    // The first contender is the baseline of the ratios.
    const contenders: Contender[] =
      COMPARE === 'auth'
        ? [
            { name: 'auth+ACL off', start: () => startBenchServer(undefined) },
            { name: 'auth+ACL on', start: () => startBenchServer(store.path) },
          ]
        : COMPARE === 'cluster'
          ? [
              { name: 'Mosquitto', start: () => startMosquitto(dir, passwords) },
              { name: 'fleetpulse', start: () => startOurs(store.path) },
              { name: `fleetpulse --workers ${WORKERS}`, start: () => startCluster(dir, store.path, WORKERS) },
            ]
          : [
              { name: 'Mosquitto', start: () => startMosquitto(dir, passwords) },
              { name: 'fleetpulse', start: () => startOurs(store.path) },
            ];

    const results: Result[] = [];
    for (const publishers of PUBLISHERS) {
      for (const qos of QOS) {
        // Rounds alternate the contenders so that a noisy neighbour hits them alike.
        for (let round = 0; round < ROUNDS; round++) {
          for (const contender of contenders) {
            const broker = await contender.start();
            try {
              const pids = [broker.child, ...(broker.extra ?? [])].map((c) => c.pid!).filter((pid) => pid > 0);
              const r = await runLoad(contender.name, broker.port, pids, passwords, vehicles.slice(0, publishers), qos);
              results.push(r);
              process.stderr.write(`${contender.name.padEnd(24)} qos ${qos} publishers ${String(publishers).padEnd(5)} ${r.deliveredPerS.toFixed(0).padStart(7)} msg/s  p99 ${r.p99Ms.toFixed(1)} ms  broker CPU ${r.cpuUsPerMsg.toFixed(1)} µs/msg\n`);
            } finally {
              await stop(broker.child);
              for (const extra of broker.extra ?? []) await stop(extra);
            }
          }
        }
      }
    }

    const [base, ...others] = contenders.map((c) => c.name);
    const header = [
      'QoS',
      'publishers',
      ...contenders.map((c) => `${c.name} msg/s`),
      ...others.map((o) => `ratio ${o}`),
      ...contenders.map((c) => `${c.name} p99 ms`),
      ...others.map((o) => `ratio ${o}`),
      ...contenders.map((c) => `${c.name} CPU µs/msg`),
      ...others.map((o) => `ratio ${o}`),
    ];
    const rows = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
    for (const publishers of PUBLISHERS) {
      for (const qos of QOS) {
        const cell = (name: string) => {
          const runs = results.filter((r) => r.broker === name && r.qos === qos && r.publishers === publishers);
          return { rate: median(runs.map((r) => r.deliveredPerS)), p99: median(runs.map((r) => r.p99Ms)), cpu: median(runs.map((r) => r.cpuUsPerMsg)) };
        };
        const b = cell(base!);
        const cells = contenders.map((c) => cell(c.name));
        const o = others.map(cell);
        rows.push(`| ${[qos, fmt(publishers), ...cells.map((c) => fmt(c.rate)), ...o.map((c) => `${(c.rate / b.rate).toFixed(2)}×`), ...cells.map((c) => fmt(c.p99, 1)), ...o.map((c) => `${(c.p99 / b.p99).toFixed(2)}×`), ...cells.map((c) => fmt(c.cpu, 1)), ...o.map((c) => `${(c.cpu / b.cpu).toFixed(2)}×`)].join(' | ')} |`);
      }
    }
    process.stdout.write(`\n${SECONDS} s per cell, median of ${ROUNDS} round(s), ${PAYLOAD_BYTES}-byte payloads, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'})\n\n${rows.join('\n')}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
