/**
 * The agent's broker connection on real parts: TLS with a CA and a client certificate against the
 * broker's TLS listener (certificates made by openssl, as `fleetpulse certs` does), the option
 * checks that stop a misconfigured agent at start, and the jittered exponential backoff.
 */
import mqtt from 'mqtt';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { connectionFromConfig } from '../../agent/agent-setup.ts';
import { createDevCertificates } from '../../broker/dev-certificates.ts';
import { startBroker } from '../../broker/broker-server.ts';
import { ConfigError } from '../../common/errors.ts';
import { createLogger } from '../../common/logger.ts';
import { MqttConnection } from '../../common/mqtt-connection.ts';
import { freePort } from '../../common/net.ts';
import { decodeTelemetry } from '../../contracts/telemetry.ts';
import { topics } from '../../contracts/topics.ts';
import { waitFor } from '../support/influx.ts';
import { ScriptedSource } from '../support/scripted-source.ts';


const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const base = { reconnectMinMs: 50, reconnectMaxMs: 200, statsIntervalS: 0 };

describe('agent connection', () => {
  it('publishes over mutual TLS with a CA and a client certificate, and cannot connect without the certificate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-agent-tls-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const certs = createDevCertificates({ dir, hosts: ['127.0.0.1', 'localhost'], clients: ['tls-1'] });
    const client = certs.clients[0]!;
    const broker = await startBroker({ host: '127.0.0.1', port: 0, tls: { port: 0, certFile: certs.serverCert, keyFile: certs.serverKey, caFile: certs.caCert, requireClientCert: true } });
    cleanups.push(() => broker.close());
    expect(broker.tlsUrl).toMatch(/^mqtts:/);

    const received: number[] = [];
    const watcher = await mqtt.connectAsync(broker.url, { clientId: 'tls-watcher' });
    cleanups.push(() => watcher.endAsync(true));
    watcher.on('message', (_t, payload) => {
      const d = decodeTelemetry(payload, 'tls-1');
      if (d.ok) received.push(...d.batch.samples.map((s) => s.t));
    });
    await watcher.subscribeAsync(topics.telemetry('tls-1'), { qos: 1 });

    const start = (tls: ReturnType<typeof connectionFromConfig>) => {
      const source = new ScriptedSource();
      const agent = new Agent({ vehicleId: 'tls-1', mqttUrl: broker.tlsUrl!, source, batchIntervalMs: 100, maxBatchSamples: 10, ...tls, ...base });
      cleanups.push(() => agent.stop());
      return { agent, source };
    };

    const good = start(connectionFromConfig({ mqttUrl: broker.tlsUrl!, tlsCa: certs.caCert, tlsCert: client.cert, tlsKey: client.key, ...base }));
    await good.agent.start();
    expect(await waitFor(() => good.agent.stats().connected, 10_000)).toBe(true);
    good.source.push(25);
    expect(await waitFor(() => received.length === 25, 10_000)).toBe(true);
    expect(good.agent.stats()).toMatchObject({ samplesAcked: 25, connects: 1, queuedSamples: 0 });

    // The CA alone verifies the broker, but the broker wants a client certificate.
    const noCert = start(connectionFromConfig({ mqttUrl: broker.tlsUrl!, tlsCa: certs.caCert, ...base }));
    await noCert.agent.start();
    noCert.source.push(5);
    expect(await waitFor(() => noCert.agent.stats().connectFailures >= 2, 10_000)).toBe(true);
    expect(noCert.agent.stats()).toMatchObject({ connects: 0, samplesAcked: 0, queuedSamples: 5 });
  });

  it('refuses TLS options that cannot work, naming the field', () => {
    const fail = (config: Parameters<typeof connectionFromConfig>[0]) => {
      try {
        connectionFromConfig(config);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).issues.map((i) => i.field);
      }
      return [];
    };
    expect(fail({ mqttUrl: 'mqtts://h:8883', tlsCert: '/etc/hostname', ...base })).toContain('tlsKey');
    expect(fail({ mqttUrl: 'mqtt://h:1883', tlsCa: '/etc/hostname', ...base })).toEqual(['tlsCa']);
    expect(fail({ mqttUrl: 'mqtts://h:8883', tlsCa: '/nonexistent/ca.crt', ...base })).toEqual(['tlsCa']);
    expect(fail({ mqttUrl: 'mqtt://h:1883', ...base, reconnectMinMs: 500, reconnectMaxMs: 100 })).toEqual(['reconnectMaxMs']);
    expect(connectionFromConfig({ mqttUrl: 'mqtt://h:1883', ...base })).toEqual({ statsIntervalMs: 0 });
  });

  it('retries with exponentially growing, capped delays and counts the failed attempts', async () => {
    const lines: string[] = [];
    const logger = createLogger('test', { level: 'debug', format: 'json', write: (l: string) => lines.push(l) });
    const connection = new MqttConnection({
      url: `mqtt://127.0.0.1:${await freePort()}`,
      clientId: 'backoff-1',
      keepaliveS: 30,
      reconnectMinMs: 60,
      reconnectMaxMs: 160,
      // The top of the jitter range, so the ceilings themselves are visible.
      random: () => 1,
      onUp: () => undefined,
      onDown: () => undefined,
      logger,
    });
    connection.start();
    cleanups.push(() => connection.stop());
    expect(await waitFor(() => connection.counters.connectFailures >= 5, 10_000)).toBe(true);
    await connection.stop();
    const delays = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'reconnecting').map((l) => l.inMs);
    expect(delays.slice(0, 5)).toEqual([60, 120, 160, 160, 160]);
    // One log line for a repeated error, not one per attempt.
    expect(lines.filter((l) => l.includes('broker connection error')).length).toBe(1);
    expect(connection.counters).toMatchObject({ connects: 0, drops: 0 });
  });
});
