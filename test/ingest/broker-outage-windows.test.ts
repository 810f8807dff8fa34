/**
 * A broker outage is not idleness. While ingest has no session with the broker, a vehicle's
 * messages wait at the broker or in the agent's buffer; a window closed "idle" then would be
 * closed early, and its samples, arriving after the reconnect, would be late. Ingest's reading
 * clock (the processing time idle timeouts use) therefore stands still while the session is down.
 *
 * Real Aedes on a fixed port (stopped and started again), ingest in this process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../broker/broker-server.ts';
import { freePort } from '../../common/net.ts';
import { IngestService } from '../../ingest/ingest-service.ts';
import type { FeatureWindow } from '../../ingest/ingest-service.ts';
import { waitFor } from '../support/influx.ts';
import { makeSamples, publishSamples } from './fixtures.ts';

const WINDOW_MS = 10_000;
const IDLE_MS = 1000;

describe('windows across a broker outage', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const step of cleanup.reverse()) await step();
    cleanup.length = 0;
  });

  it('keeps a window open while the broker is away for longer than the idle timeout, and closes it whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-outage-windows-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    let broker: RunningBroker | undefined = await startBroker({ host: '127.0.0.1', port });
    cleanup.push(() => broker?.close());
    const ingest = new IngestService({
      mqttUrl: broker.url, influxUrl: `http://127.0.0.1:${await freePort()}`, influxDatabase: 'none', clientId: 'outage-windows',
      shards: Array.from({ length: 64 }, (_, i) => i), spoolDir: join(dir, 'spool'), flushIntervalMs: 100,
      windowMs: WINDOW_MS, allowedLatenessMs: 0, idleTimeoutMs: IDLE_MS, reconnectMinMs: 100, reconnectMaxMs: 200,
    });
    const windows: FeatureWindow[] = [];
    ingest.addWindowListener({ onWindow: (w) => void windows.push(w) });
    await ingest.start();
    cleanup.push(() => ingest.stop(0));
    expect(await waitFor(() => ingest.stats().mqttConnected, 10_000)).toBe(true);

    const base = Math.floor((Date.now() - 600_000) / WINDOW_MS) * WINDOW_MS;
    const publish = async (url: string, fromMs: number, count: number, seq: number): Promise<number> => {
      const client = await mqtt.connectAsync(url, { clientId: `pub-${seq}` });
      try {
        return await publishSamples(client, 'v-outage', makeSamples(fromMs, count, 1000, 0), count, seq);
      } finally {
        await client.endAsync();
      }
    };
    // The first half of a window, then the broker goes away for 4 idle timeouts.
    let seq = await publish(broker.url, base, 5, 0);
    expect(await waitFor(() => ingest.stats().samplesAccepted === 5, 5000)).toBe(true);
    await broker.close();
    broker = undefined;
    expect(await waitFor(() => !ingest.stats().mqttConnected, 5000)).toBe(true);
    await new Promise((r) => setTimeout(r, 4 * IDLE_MS));
    expect(windows).toHaveLength(0);

    broker = await startBroker({ host: '127.0.0.1', port });
    expect(await waitFor(() => ingest.stats().mqttConnected, 10_000)).toBe(true);
    // The rest of the window after the reconnect; it then closes idle, whole.
    seq = await publish(broker.url, base + 5000, 5, seq);
    expect(await waitFor(() => windows.length === 1, 10_000)).toBe(true);
    expect(windows[0]!.startMs).toBe(base);
    expect(windows[0]!.samples).toHaveLength(10);
    expect(ingest.stats().samplesAccepted).toBe(10);
  });
});
