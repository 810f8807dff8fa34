import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBroker } from '../broker/broker-server.ts';
import { createDevCertificates } from '../broker/dev-certificates.ts';
import { decodeTelemetry } from '../contracts/telemetry.ts';
import { agentUnitNodeFlags } from '../deploy/agent-unit.ts';
import { parseVehicleTopic, topics } from '../contracts/topics.ts';
import { ROOT, runCli } from './support/cli.ts';
import { waitFor } from './support/influx.ts';

describe('fleetpulse CLI', () => {
  it('lists its commands', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    for (const name of ['up', 'broker', 'ingest', 'agent', 'simulate']) expect(stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
  });

  for (const command of [['up'], ['broker'], ['ingest'], ['agent'], ['simulate', 'fleet']]) {
    it(`has --help for ${command.join(' ')}`, async () => {
      const { code, stdout } = await runCli([...command, '--help']);
      expect(code).toBe(0);
      expect(stdout).toContain(`Usage: fleetpulse ${command.join(' ')}`);
      expect(stdout).toMatch(/env FLEETPULSE_[A-Z_]+/);
    });
  }

  it('fails at start on a bad value, naming the field and its source', async () => {
    const { code, stderr } = await runCli(['ingest', '--batch-size', '0'], { FLEETPULSE_INGEST_SHARDS: '0-99' });
    expect(code).toBe(2);
    expect(stderr).toContain('invalid configuration');
    expect(stderr).toMatch(/batchSize: must be ≥ 1, got "0" \(from flag --batch-size\)/);
    expect(stderr).toMatch(/shards: '0-99' is outside 0-63.*FLEETPULSE_INGEST_SHARDS/);
  });

  it('names a missing required option', async () => {
    const { code, stderr } = await runCli(['agent']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/vehicleId: is required/);
  });

  it('rejects unknown commands and flags', async () => {
    expect((await runCli(['nosuch'])).code).toBe(2);
    expect((await runCli(['broker', '--prot', '1'])).stderr).toMatch(/Unknown option '--prot'/);
    expect((await runCli(['broker', 'extra'])).stderr).toMatch(/unexpected argument 'extra'/);
  });
});

describe('agent bundle for the Raspberry Pi', () => {
  const out = join(ROOT, 'dist', 'agent');
  beforeAll(() => {
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-agent.mjs')], { cwd: ROOT, stdio: 'pipe' });
  });

  it('builds without any cloud-side package and runs on its own', () => {
    const meta = JSON.parse(readFileSync(join(out, 'metafile.json'), 'utf8')) as { inputs: Record<string, unknown> };
    const inputs = Object.keys(meta.inputs);
    expect(inputs.some((p) => p.includes('node_modules/mqtt/'))).toBe(true);
    for (const heavy of ['influx', 'onnxruntime-node', 'sharp', 'fastify', 'aedes']) {
      expect(inputs.filter((p) => p.includes(`node_modules/${heavy}/`)), heavy).toEqual([]);
    }
    const pkg = JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const name of Object.keys(pkg.dependencies)) expect(['serialport', 'better-sqlite3']).toContain(name);
    const help = execFileSync(process.execPath, [join(out, 'fleetpulse-agent.mjs'), 'agent', '--help'], { encoding: 'utf8' });
    expect(help).toContain('Usage: fleetpulse agent');
    // V8 keeps the module source in its heap, as two bytes a character once one character is not ASCII.
    expect(readFileSync(join(out, 'fleetpulse-agent.mjs'), 'latin1')).not.toMatch(/[^\x00-\x7f]/);
  });

  it('publishes over mqtt://, mqtts:// and ws:// when started as the systemd unit starts it', async () => {
    // The bundle loads mqtt.js's TLS and WebSocket transports only on first use (scripts/build-agent.mjs):
    // each scheme must still work, with the node flags of the shipped unit.
    const flags = agentUnitNodeFlags();
    const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-bundle-'));
    const certs = createDevCertificates({ dir, hosts: ['127.0.0.1'] });
    const broker = await startBroker({ host: '127.0.0.1', port: 0, sysIntervalMs: 0, tls: { port: 0, certFile: certs.serverCert, keyFile: certs.serverKey }, ws: { port: 0 } });
    const watcher = await mqtt.connectAsync(broker.url, { clientId: 'bundle-watcher' });
    const samples = new Map<string, number>();
    watcher.on('message', (topic, payload) => {
      const vehicle = parseVehicleTopic(topic)?.vehicleId;
      const decoded = vehicle ? decodeTelemetry(payload, vehicle) : undefined;
      if (vehicle && decoded?.ok) samples.set(vehicle, (samples.get(vehicle) ?? 0) + decoded.batch.samples.length);
    });
    await watcher.subscribeAsync(topics.fleetFilter('telemetry'), { qos: 1 });
    const urls = { 'bundle-tcp': broker.url, 'bundle-tls': broker.tlsUrl!, 'bundle-ws': broker.wsUrl! };
    const agents = Object.entries(urls).map(([vehicle, url]) =>
      spawn(process.execPath, [...flags, join(out, 'fleetpulse-agent.mjs'), 'agent', '--vehicle-id', vehicle, '--mqtt-url', url, '--source', 'simulate', '--batch-interval-ms', '200', '--data-dir', join(dir, vehicle), ...(url.startsWith('mqtts:') ? ['--tls-ca', certs.caCert] : [])], { stdio: 'ignore' }),
    );
    try {
      expect(flags).toContain('--lite-mode');
      expect(await waitFor(() => Object.keys(urls).every((v) => (samples.get(v) ?? 0) >= 5), 20_000), JSON.stringify([...samples])).toBe(true);
    } finally {
      for (const agent of agents) agent.kill('SIGTERM');
      await Promise.all(agents.map((agent) => (agent.exitCode === null ? new Promise((r) => agent.once('exit', r)) : undefined)));
      await watcher.endAsync();
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
