/**
 * Test helpers for the broker: a device store with identities, an authenticated broker on an
 * ephemeral port, and the Debian mosquitto command-line clients.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { startBroker, type BrokerOptions, type RunningBroker } from '../../broker/broker-server.ts';
import { FileDeviceStore, type DeviceRole } from '../../broker/device-store.ts';

export interface Fixture {
  dir: string;
  devicesFile: string;
  passwords: Map<string, string>;
  dispose(): void;
}

export async function deviceFixture(devices: ReadonlyArray<{ username: string; role: DeviceRole }>): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'fp-broker-'));
  const devicesFile = join(dir, 'broker', 'devices.json');
  const created = await new FileDeviceStore(devicesFile).addMany(devices);
  return {
    dir,
    devicesFile,
    passwords: new Map(created.map((c) => [c.identity.username, c.password])),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function startAuthBroker(fixture: Fixture, extra: Partial<BrokerOptions> = {}): Promise<RunningBroker> {
  return startBroker({ host: '127.0.0.1', port: 0, auth: { devicesFile: fixture.devicesFile, watchIntervalMs: 100 }, sysIntervalMs: 0, ...extra });
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a mosquitto client to completion (bounded by `timeoutMs`, then SIGKILL). */
export function runTool(command: string, args: readonly string[], timeoutMs = 15_000): Promise<ToolResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts a long-running mosquitto client; `result` resolves when it exits. */
export function startTool(command: string, args: readonly string[], timeoutMs = 20_000): { result: Promise<ToolResult>; output: () => string; kill: () => void } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const result = new Promise<ToolResult>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
  return { result, output: () => stdout + stderr, kill: () => child.kill('SIGTERM') };
}

/** Host, port, credentials and a client id bound to the identity (`<username>:<suffix>`). */
export function mosquittoAuth(fixture: Fixture, username: string, port: number, clientSuffix = 'cli'): string[] {
  return ['-h', '127.0.0.1', '-p', String(port), '-u', username, '-P', fixture.passwords.get(username) ?? 'none', '-i', `${username}:${clientSuffix}`];
}

/** An mqtt.js client that resolves once connected (or rejects with the CONNACK error). */
export function connectClient(url: string, options: IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
    const onError = (error: Error): void => {
      client.end(true);
      reject(error);
    };
    client.once('connect', () => {
      // A client that reconnects by itself must outlive a reset connection (the broker closes it).
      if (options.reconnectPeriod) {
        client.removeListener('error', onError);
        client.on('error', () => {});
      }
      resolve(client);
    });
    client.once('error', onError);
  });
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The session stores a broker test can run on: in memory, and LevelDB in a temporary directory. */
export const SESSION_STORES = ['memory', 'level'] as const;
export type SessionStore = (typeof SESSION_STORES)[number];

/**
 * Starts brokers on loopback on a chosen session store and closes them, with their clients and
 * directories, in `cleanup` (call it from `afterEach`).
 */
export function storeBrokers(): { start(store: SessionStore): Promise<RunningBroker>; track(client: MqttClient): MqttClient; cleanup(): Promise<void> } {
  const brokers: RunningBroker[] = [];
  const clients: MqttClient[] = [];
  const dirs: string[] = [];
  return {
    async start(store) {
      let persistence: BrokerOptions['persistence'] = { kind: 'memory' };
      if (store === 'level') {
        const dir = mkdtempSync(join(tmpdir(), 'fp-broker-store-'));
        dirs.push(dir);
        persistence = { kind: 'level', dir };
      }
      const broker = await startBroker({ host: '127.0.0.1', port: 0, persistence });
      brokers.push(broker);
      return broker;
    },
    track(client) {
      clients.push(client);
      return client;
    },
    async cleanup() {
      for (const c of clients.splice(0)) await c.endAsync(true);
      for (const b of brokers.splice(0)) await b.close();
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}
