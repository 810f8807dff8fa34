/**
 * TLS with certificates from `fleetpulse certs` (checked with mosquitto clients) and MQTT over
 * WebSocket (checked with mqtt.js, as a browser dashboard would connect).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../broker/broker-server.ts';
import { topics } from '../../contracts/topics.ts';
import { runCli } from '../support/cli.ts';
import { connectClient, deviceFixture, runTool, startAuthBroker, startTool, waitFor, type Fixture } from './broker-fixture.ts';

describe('TLS and WebSocket listeners', () => {
  let fixture: Fixture;
  let broker: RunningBroker;
  let certs: string;
  let tlsPort: number;
  const subscribed = new Set<string>();
  const tlsArgs = (user: string | undefined, id: string) => [
    '-h', 'localhost', '-p', String(tlsPort), '--cafile', join(certs, 'ca.crt'), '-i', id,
    ...(user ? ['-u', user, '-P', fixture.passwords.get(user)!] : []),
  ];

  beforeAll(async () => {
    fixture = await deviceFixture([
      { username: 'car-t', role: 'vehicle' },
      { username: 'ingest-t', role: 'ingest' },
    ]);
    certs = join(fixture.dir, 'certs');
    const made = await runCli(['certs', '--dir', certs, '--hosts', 'localhost,127.0.0.1', '--clients', 'car-t']);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/created CA/);
    broker = await startAuthBroker(fixture, {
      tls: { port: 0, certFile: join(certs, 'server.crt'), keyFile: join(certs, 'server.key'), caFile: join(certs, 'ca.crt') },
      ws: { port: 0 },
    });
    tlsPort = Number(new URL(broker.tlsUrl!).port);
    broker.aedes.on('subscribe', (_s, client) => subscribed.add(client.id));
  });
  afterAll(async () => {
    await broker?.close();
    fixture?.dispose();
  });

  it('carries authenticated traffic over TLS between mosquitto clients', async () => {
    const sub = startTool('mosquitto_sub', [...tlsArgs('ingest-t', 'ingest-t:sub'), '-q', '1', '-v', '-C', '1', '-W', '8', '-t', topics.fleetFilter('telemetry')]);
    expect(await waitFor(() => subscribed.has('ingest-t:sub'), 5000), sub.output()).toBe(true);
    const pub = await runTool('mosquitto_pub', [...tlsArgs('car-t', 'car-t:pub'), '-q', '1', '-t', topics.telemetry('car-t'), '-m', 'over-tls']);
    expect(pub.code, pub.stderr).toBe(0);
    const result = await sub.result;
    expect(result.stdout.trim()).toBe(`${topics.telemetry('car-t')} over-tls`);
  });

  it('refuses anonymous TLS clients and clients that do not trust the server', async () => {
    const anonymous = await runTool('mosquitto_pub', [...tlsArgs(undefined, 'anon'), '-t', topics.telemetry('car-t'), '-m', 'x']);
    expect(anonymous.code).toBe(5);
    const untrusted = await runTool('mosquitto_pub', ['-h', 'localhost', '-p', String(tlsPort), '--capath', '/nonexistent', '-u', 'car-t', '-P', fixture.passwords.get('car-t')!, '-t', topics.telemetry('car-t'), '-m', 'x']);
    expect(untrusted.code).not.toBe(0);
  });

  it('with client certificates required, accepts one issued by the dev CA and refuses a client without', async () => {
    const strict = await startAuthBroker(fixture, {
      tls: { port: 0, certFile: join(certs, 'server.crt'), keyFile: join(certs, 'server.key'), caFile: join(certs, 'ca.crt'), requireClientCert: true },
    });
    try {
      const port = new URL(strict.tlsUrl!).port;
      const base = ['-h', 'localhost', '-p', port, '--cafile', join(certs, 'ca.crt'), '-u', 'car-t', '-P', fixture.passwords.get('car-t')!, '-q', '1', '-t', topics.telemetry('car-t'), '-m', 'x'];
      const withCert = await runTool('mosquitto_pub', [...base, '-i', 'car-t:cert', '--cert', join(certs, 'client-car-t.crt'), '--key', join(certs, 'client-car-t.key')]);
      expect(withCert.code, withCert.stderr).toBe(0);
      const without = await runTool('mosquitto_pub', [...base, '-i', 'car-t:nocert']);
      expect(without.code).not.toBe(0);
      expect(strict.stats().messagesPublished).toBe(1);
    } finally {
      await strict.close();
    }
  });

  it('serves MQTT over WebSocket with the same authentication and ACLs', async () => {
    await expect(connectClient(broker.wsUrl!, {})).rejects.toThrow(/Not authorized/i);
    const viewer = await connectClient(broker.wsUrl!, { clientId: 'ingest-t:ws', username: 'ingest-t', password: fixture.passwords.get('ingest-t')! });
    const got: string[] = [];
    viewer.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`));
    await viewer.subscribeAsync(topics.fleetFilter('status'), { qos: 1 });
    const car = await connectClient(broker.url, { clientId: 'car-t', username: 'car-t', password: fixture.passwords.get('car-t')! });
    await car.publishAsync(topics.status('car-t'), 'online', { qos: 1 });
    expect(await waitFor(() => got.length === 1, 5000)).toBe(true);
    expect(got).toEqual([`${topics.status('car-t')} online`]);
    await car.endAsync();
    await viewer.endAsync();
  });
});
