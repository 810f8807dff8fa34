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
 *   npm run bench:broker                      # 10 and 1000 publishers, QoS 0 and 1, 5 s each
 *   BENCH_SECONDS=10 BENCH_PUBLISHERS=10 npm run bench:broker
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { FileDeviceStore } from '../broker/device-store.ts';
import { freePort, isPortOpen } from '../common/net.ts';
import { topics } from '../contracts/topics.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const PUBLISHERS = (process.env.BENCH_PUBLISHERS ?? '10,1000').split(',').map(Number);
const ROOT = join(import.meta.dirname, '..');
const PAYLOAD_BYTES = 200;

interface Result {
  broker: string;
  qos: 0 | 1;
  publishers: number;
  deliveredPerS: number;
  p99Ms: number;
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

async function runLoad(name: string, port: number, passwords: Map<string, string>, vehicles: string[], qos: 0 | 1): Promise<Result> {
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
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  measuring = false;
  const elapsed = (performance.now() - started) / 1000;
  running = false;
  await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 5000))]);
  for (const c of pubs) c.end(true);
  sub.end(true);
  latencies.sort((a, b) => a - b);
  const p99 = latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]! : NaN;
  return { broker: name, qos, publishers: vehicles.length, deliveredPerS: delivered / elapsed, p99Ms: p99 };
}

async function startOurs(devicesFile: string): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'fleetpulse.js'), 'broker', '--port', String(port), '--devices-file', devicesFile, '--persistence', 'memory', '--max-failed-logins', '100000'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, FLEETPULSE_LOG_LEVEL: 'warn' },
  });
  await waitPort(port);
  return { port, child };
}

async function startMosquitto(dir: string, passwords: Map<string, string>): Promise<{ port: number; child: ChildProcess }> {
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

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fp-bench-broker-'));
  try {
    const maxPublishers = Math.max(...PUBLISHERS);
    const vehicles = Array.from({ length: maxPublishers }, (_, i) => `bench-${i}`);
    const store = new FileDeviceStore(join(dir, 'devices.json'));
    process.stderr.write(`provisioning ${vehicles.length + 1} identities (scrypt)…\n`);
    const created = await store.addMany([{ username: 'bench-ingest', role: 'ingest' }, ...vehicles.map((v) => ({ username: v, role: 'vehicle' as const }))]);
    const passwords = new Map(created.map((c) => [c.identity.username, c.password]));

    const results: Result[] = [];
    for (const publishers of PUBLISHERS) {
      for (const qos of [0, 1] as const) {
        for (const name of ['mosquitto', 'fleetpulse'] as const) {
          const broker = name === 'mosquitto' ? await startMosquitto(dir, passwords) : await startOurs(store.path);
          try {
            const r = await runLoad(name, broker.port, passwords, vehicles.slice(0, publishers), qos);
            results.push(r);
            process.stderr.write(`${name.padEnd(10)} qos ${qos} publishers ${String(publishers).padEnd(5)} ${r.deliveredPerS.toFixed(0).padStart(7)} msg/s  p99 ${r.p99Ms.toFixed(1)} ms\n`);
          } finally {
            await stop(broker.child);
          }
        }
      }
    }

    const rows = ['| QoS | publishers | Mosquitto msg/s | fleetpulse msg/s | ratio | Mosquitto p99 ms | fleetpulse p99 ms | ratio |', '|---|---|---|---|---|---|---|---|'];
    for (const publishers of PUBLISHERS) {
      for (const qos of [0, 1] as const) {
        const m = results.find((r) => r.broker === 'mosquitto' && r.qos === qos && r.publishers === publishers)!;
        const f = results.find((r) => r.broker === 'fleetpulse' && r.qos === qos && r.publishers === publishers)!;
        rows.push(`| ${qos} | ${publishers} | ${m.deliveredPerS.toFixed(0)} | ${f.deliveredPerS.toFixed(0)} | ${(f.deliveredPerS / m.deliveredPerS).toFixed(2)}× | ${m.p99Ms.toFixed(1)} | ${f.p99Ms.toFixed(1)} | ${(f.p99Ms / m.p99Ms).toFixed(2)}× |`);
      }
    }
    process.stdout.write(`\n${SECONDS} s per cell, ${PAYLOAD_BYTES}-byte payloads, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'})\n\n${rows.join('\n')}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
