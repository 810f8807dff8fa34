/**
 * Notifications end to end on real parts: `fleetpulse ingest` as a child process (real influxd,
 * Aedes, the shipped model scoring simulated faulty and healthy windows) with a webhook channel
 * whose receiver (node:http, in this test) resets every connection for 30 s. Ingest is killed
 * with SIGKILL during the outage and started again; when the receiver comes back it gets every
 * alert change ingest published on MQTT exactly once, identified by its idempotency key, signed.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertMessageSchema, type AlertMessage } from '../../contracts/alerts.ts';
import { topics } from '../../contracts/topics.ts';
import { idempotencyKey } from '../../ingest/notify/notification-change.ts';
import { publishSamples } from '../ingest/fixtures.ts';
import { layOut, simulatedWindows, WINDOW_MS } from '../ingest/scoring-fixtures.ts';
import { startCli } from '../support/cli.ts';
import { waitFor } from '../support/influx.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { HOOK_SECRET } from './alert-fixtures.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

const OUTAGE_MS = 30_000;
const HOUR = 3_600_000;

/** A counter or gauge of a /metrics text (0 when absent). */
function metric(text: string, name: string): number {
  const match = new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

describe('notifications across a receiver outage and an ingest SIGKILL', () => {
  let pipeline: TestPipeline;
  let hook: WebhookReceiver;
  beforeAll(async () => {
    pipeline = await startTestPipeline();
    hook = await startWebhookReceiver(HOOK_SECRET, { down: true });
  });
  afterAll(async () => {
    await hook?.close();
    await pipeline?.stop();
  });

  it('delivers every alert change exactly once, by idempotency key, signed', async () => {
    const downSince = Date.now();
    const dataDir = pipeline.tempDir('fleetpulse-notify-e2e-');
    const configFile = join(dataDir, 'fleet.json');
    writeFileSync(configFile, JSON.stringify({
      ingest: {
        notifications: {
          rules: [{ name: 'engine', kinds: ['alert'], channels: ['hook'] }],
          channels: { hook: { type: 'webhook', url: hook.url, secretEnv: 'E2E_HOOK_SECRET', retryInitialS: 0.5, retryMaxS: 2 } },
          health: { checks: [] },
        },
      },
    }));
    const args = [
      'ingest', '--config', configFile, '--mqtt-url', pipeline.broker.url, '--influx-url', pipeline.influx.url, '--influx-database', 'notify_e2e', '--data-dir', dataDir,
      '--client-id', 'ingest-notify-e2e', '--http-port', '0', '--window-s', String(WINDOW_MS / 1000), '--allowed-lateness-s', '2', '--idle-timeout-s', '2',
      '--flush-interval-ms', '100', '--stats-interval-s', '0', '--score-batch-size', '16', '--score-max-delay-ms', '100',
    ];
    const env = { E2E_HOOK_SECRET: HOOK_SECRET, FLEETPULSE_LOG_FORMAT: 'json' };
    const metricsUrl = (output: string) => /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"metrics and health"/.exec(output)?.[1];
    const metricsOf = async (url: string) => (await fetch(`${url}/metrics`)).text();

    // Ground truth: the alert changes ingest publishes on MQTT.
    const published: AlertMessage[] = [];
    const subscriber = await mqtt.connectAsync(pipeline.broker.url, { clientId: 'notify-e2e-alerts' });
    subscriber.on('message', (_topic, payload) => published.push(alertMessageSchema.parse(JSON.parse(payload.toString()))));
    await subscriber.subscribeAsync(topics.fleetFilter('alerts'), { qos: 1 });
    const publisher = await mqtt.connectAsync(pipeline.broker.url, { clientId: 'notify-e2e-cars' });
    const sick = simulatedWindows('vacuum_leak', 0.9, 20, 16);
    const healthy = simulatedWindows(undefined, 0, 30, 16);
    const base = Math.floor((Date.now() - 5 * HOUR) / WINDOW_MS) * WINDOW_MS;

    let worker = startCli(args, env);
    try {
      expect(await waitFor(() => worker.output().includes('"msg":"subscribed"'), 30_000), worker.output()).toBe(true);
      const seqA = await publishSamples(publisher, 'car-a', layOut(sick, base), 30);
      await publishSamples(publisher, 'car-b', layOut(sick, base), 30);
      expect(await waitFor(() => published.filter((a) => a.state === 'raised').length === 2, 60_000, 100), worker.output()).toBe(true);
      // Both raised changes are in the outbox and the receiver has refused at least one attempt.
      const url1 = metricsUrl(worker.output())!;
      expect(await waitFor(async () => {
        const text = await metricsOf(url1);
        return metric(text, 'fleetpulse_ingest_notify_queued_total{channel="hook"}') === 2 && metric(text, 'fleetpulse_ingest_notify_delivery_failures_total{channel="hook"}') >= 1;
      }, 20_000, 100)).toBe(true);
      expect(hook.accepted()).toHaveLength(0);

      worker.child.kill('SIGKILL');
      await worker.exited;
      worker = startCli(args, env);
      expect(await waitFor(() => metricsUrl(worker.output()) !== undefined, 30_000), worker.output()).toBe(true);
      const url2 = metricsUrl(worker.output())!;
      expect(await waitFor(async () => metric(await metricsOf(url2), 'fleetpulse_ingest_mqtt_connected') === 1, 20_000, 100)).toBe(true);
      expect(metric(await metricsOf(url2), 'fleetpulse_ingest_notify_outbox_pending')).toBe(2);

      // car-a is repaired while the receiver is still down: its alert clears.
      await publishSamples(publisher, 'car-a', layOut(healthy, base + sick.length * WINDOW_MS), 30, seqA);
      expect(await waitFor(() => published.some((a) => a.vehicle === 'car-a' && a.state === 'cleared'), 60_000, 100), worker.output()).toBe(true);
      expect(await waitFor(async () => metric(await metricsOf(url2), 'fleetpulse_ingest_notify_outbox_pending') === 3, 20_000, 100)).toBe(true);
      expect(hook.accepted()).toHaveLength(0);

      // The receiver comes back after its outage.
      await new Promise((r) => setTimeout(r, Math.max(0, downSince + OUTAGE_MS - Date.now())));
      hook.setDown(false);
      expect(await waitFor(async () => metric(await metricsOf(url2), 'fleetpulse_ingest_notify_outbox_pending') === 0, 30_000, 100), worker.output()).toBe(true);
    } finally {
      worker.child.kill('SIGTERM');
      await worker.exited;
      await publisher.endAsync();
      await subscriber.endAsync();
    }

    expect(hook.refusedConnections()).toBeGreaterThan(2);
    const changes = [...new Map(published.map((a) => [`${a.alertId} ${a.state}`, a])).values()];
    expect(changes.map((a) => `${a.vehicle} ${a.state}`).sort()).toEqual(['car-a cleared', 'car-a raised', 'car-b raised']);
    const accepted = hook.accepted();
    // Exactly once: one accepted request per change, no other request answered at all.
    expect(hook.received).toHaveLength(accepted.length);
    expect(accepted.map((r) => r.key).sort()).toEqual(changes.map((a) => idempotencyKey('alert', a.alertId, a.state, a.windowStartMs)).sort());
    for (const r of accepted) {
      expect(r.signature.ok).toBe(true);
      expect(r.notification.id).toBe(r.key);
      const alert = changes.find((a) => a.alertId === r.notification.alert?.alertId && a.state === r.notification.state);
      expect(r.notification.alert).toEqual(alert);
    }
    // Per vehicle in order: the raise before its clear.
    expect(accepted.filter((r) => r.notification.vehicle === 'car-a').map((r) => r.notification.state)).toEqual(['raised', 'cleared']);
  }, 180_000);
});
