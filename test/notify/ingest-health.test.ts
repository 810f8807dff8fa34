/**
 * Ingest-health notifications from a real IngestService: InfluxDB stopped while telemetry arrives
 * makes `ingest_health:influxdb` raised (once), InfluxDB back clears it; both reach a real webhook
 * receiver. Checks the notifier against what ingest's health() really says.
 */
import mqtt from 'mqtt';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Notifier } from '../../ingest/notify/notifier.ts';
import { makeSamples, publishSamples } from '../ingest/fixtures.ts';
import { waitFor } from '../support/influx.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { HOOK_SECRET, notifyConfig } from './alert-fixtures.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

describe('ingest health notifications', () => {
  let pipeline: TestPipeline;
  let hook: WebhookReceiver;
  beforeAll(async () => {
    [pipeline, hook] = await Promise.all([startTestPipeline(), startWebhookReceiver(HOOK_SECRET)]);
  });
  afterAll(async () => {
    await hook?.close();
    await pipeline?.stop();
  });

  it('raises InfluxDB failing once while writes fail, and clears it when they succeed again', async () => {
    const dir = pipeline.tempDir('fleetpulse-notify-health-');
    const worker = await pipeline.startIngest({ influxDatabase: 'notify_health', clientId: 'ingest-notify-health', spoolDir: join(dir, 'spool') });
    const notifier = Notifier.attach(worker.ingest, {
      config: notifyConfig({
        rules: [{ name: 'platform', kinds: ['ingest_health'], channels: ['hook'] }],
        channels: { hook: { type: 'webhook', url: hook.url, secret: HOOK_SECRET, retryInitialS: 0.1, retryMaxS: 0.5 } },
        health: { checks: ['influxdb', 'spool', 'broker'], checkIntervalS: 0.1, graceS: 0.5 },
      }),
      outboxFile: join(dir, 'outbox.sqlite'),
    });
    const publisher = await mqtt.connectAsync(pipeline.broker.url, { clientId: 'notify-health-car' });
    try {
      await pipeline.influx.stop();
      let seq = await publishSamples(publisher, 'car-h', makeSamples(Date.now() - 60_000, 20, 1000, 1), 10);
      expect(await waitFor(() => hook.accepted().length >= 1, 30_000, 50)).toBe(true);
      await pipeline.influx.start();
      seq = await publishSamples(publisher, 'car-h', makeSamples(Date.now() - 30_000, 20, 1000, 2), 10, seq);
      expect(await waitFor(() => hook.accepted().length >= 2 && notifier.pending() === 0, 30_000, 50)).toBe(true);
    } finally {
      await publisher.endAsync();
      await worker.stop();
      await notifier.close();
    }
    const got = hook.accepted().map((r) => r.notification);
    expect(got.map((n) => `${n.kind} ${n.state}`)).toEqual(['ingest_health:influxdb raised', 'ingest_health:influxdb cleared']);
    expect(got[0]!.health).toMatchObject({ check: 'influxdb', detail: expect.stringMatching(/^\S/) });
    expect(got[0]!.summary).toBe(`ingest: InfluxDB failing: ${got[0]!.health!.detail}`);
    expect(got[0]!.summary).not.toMatch(/failing: failing/);
  }, 90_000);
});
