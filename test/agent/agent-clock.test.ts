/**
 * The agent's clock: whether it is synchronised (asked of a real `timedatectl`-like executable and a
 * real timesyncd flag file, since this machine has neither systemd nor a D-Bus), warned once per
 * change, shown in its stats and its retained status; and every publish stamped with `sentAt`.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { checkClock, ClockMonitor, CLOCK_FLOOR_MS } from '../../agent/clock-sync.ts';
import { payloadEncoder } from '../../agent/payload-encoding.ts';
import { startBroker } from '../../broker/broker-server.ts';
import { createLogger } from '../../common/logger.ts';
import { topics } from '../../contracts/topics.ts';
import { waitFor } from '../support/influx.ts';
import { ScriptedSource } from '../support/scripted-source.ts';
import { watchTelemetry } from '../support/telemetry-watcher.ts';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-clock-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An executable that answers `show -p NTPSynchronized --value` like timedatectl; `answer` rewrites it. */
function fakeTimedatectl(dir: string) {
  const file = join(dir, 'timedatectl');
  const answer = (value: 'yes' | 'no' | 'fail') => {
    writeFileSync(file, value === 'fail' ? '#!/bin/sh\necho "Failed to connect to bus: Host is down" >&2\nexit 1\n' : `#!/bin/sh\n[ "$*" = "show -p NTPSynchronized --value" ] || exit 2\necho ${value}\n`);
    chmodSync(file, 0o755);
  };
  return { file, answer };
}

const now = () => Date.now();

describe('clock synchronisation', () => {
  it('tells synchronised, unsynchronised, certainly wrong and unknown apart, naming the source', async () => {
    const dir = tempDir();
    const tool = fakeTimedatectl(dir);
    const flag = join(dir, 'timesync', 'synchronized');
    tool.answer('no');
    expect(await checkClock({ now, timedatectl: tool.file, timesyncdFlagFile: flag })).toMatchObject({ state: 'unsynchronised', source: 'timedatectl' });
    tool.answer('yes');
    expect(await checkClock({ now, timedatectl: tool.file, timesyncdFlagFile: flag })).toMatchObject({ state: 'synchronised', source: 'timedatectl' });
    // Before the release date, whatever NTP says.
    expect(await checkClock({ now: () => Date.UTC(1970, 0, 1, 0, 0, 42), timedatectl: tool.file, timesyncdFlagFile: flag })).toMatchObject({ state: 'before-build', source: 'floor' });
    expect(CLOCK_FLOOR_MS).toBeLessThan(Date.now());

    // timedatectl cannot answer (no D-Bus, as here): timesyncd's flag file decides, else unknown.
    tool.answer('fail');
    expect(await checkClock({ now, timedatectl: tool.file, timesyncdFlagFile: flag })).toMatchObject({ state: 'unknown', source: 'none', detail: expect.stringContaining('Failed to connect to bus') });
    expect(await checkClock({ now, timedatectl: join(dir, 'missing'), timesyncdFlagFile: flag })).toMatchObject({ state: 'unknown' });
    mkdirSync(join(dir, 'timesync'));
    expect(await checkClock({ now, timedatectl: tool.file, timesyncdFlagFile: flag })).toMatchObject({ state: 'unsynchronised', source: 'timesyncd' });
    writeFileSync(flag, '');
    expect(await checkClock({ now, timedatectl: tool.file, timesyncdFlagFile: flag })).toMatchObject({ state: 'synchronised', source: 'timesyncd' });
  });

  it('warns once per change of state, not on every check', async () => {
    const dir = tempDir();
    const tool = fakeTimedatectl(dir);
    const lines: Array<{ msg: string; level: string; clock: string }> = [];
    const logger = createLogger('test', { level: 'debug', format: 'json', write: (l: string) => lines.push(JSON.parse(l)) });
    const monitor = new ClockMonitor({ now, timedatectl: tool.file, timesyncdFlagFile: join(dir, 'none', 'flag') }, logger);
    tool.answer('no');
    for (let i = 0; i < 3; i++) await monitor.check();
    tool.answer('yes');
    for (let i = 0; i < 3; i++) await monitor.check();
    tool.answer('no');
    await monitor.check();
    expect(lines.map((l) => `${l.level} ${l.clock}`)).toEqual(['warn unsynchronised', 'info synchronised', 'warn unsynchronised']);
    expect(monitor.status.state).toBe('unsynchronised');
  });

  it('shows the state in the agent stats and retained status, and stamps every publish with sentAt in both encodings', async () => {
    const dir = tempDir();
    const tool = fakeTimedatectl(dir);
    tool.answer('no');
    const broker = await startBroker({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => broker.close());
    for (const encoding of ['compact', 'json'] as const) {
      const vehicle = `clock-${encoding}`;
      const statuses: Array<{ state: string; clock?: string }> = [];
      const viewer = await mqtt.connectAsync(broker.url, { clientId: `viewer-${encoding}` });
      cleanups.push(() => viewer.endAsync(true));
      viewer.on('message', (_t, payload) => statuses.push(JSON.parse(payload.toString())));
      await viewer.subscribeAsync(topics.status(vehicle), { qos: 1 });
      const watcher = await watchTelemetry(broker.url, vehicle);
      cleanups.push(() => watcher.close());

      const source = new ScriptedSource();
      const agent = new Agent({
        vehicleId: vehicle, mqttUrl: broker.url, source, batchIntervalMs: 600_000, maxBatchSamples: 10, statsIntervalMs: 0, encode: payloadEncoder(encoding),
        clock: { now, timedatectl: tool.file, timesyncdFlagFile: join(dir, 'none', 'flag'), intervalMs: 50 },
      });
      cleanups.push(() => agent.stop());
      tool.answer('no');
      await agent.start();
      expect(await waitFor(() => agent.stats().connected && agent.stats().clock === 'unsynchronised', 10_000)).toBe(true);
      expect(await waitFor(() => statuses.some((s) => s.state === 'online' && s.clock === 'unsynchronised'), 10_000)).toBe(true);

      const before = Date.now();
      source.push(30);
      expect(await waitFor(() => watcher.batches.length === 3, 10_000)).toBe(true);
      const after = Date.now();
      for (const batch of watcher.batches) {
        expect(batch.sentAt).toBeGreaterThanOrEqual(before);
        expect(batch.sentAt).toBeLessThanOrEqual(after);
      }

      tool.answer('yes');
      expect(await waitFor(() => agent.stats().clock === 'synchronised' && statuses.at(-1)?.clock === 'synchronised', 10_000)).toBe(true);
      expect(statuses.at(-1)?.state).toBe('online');
      await agent.stop();
    }
  });

  it('sends batches without sentAt when told to (for an ingest older than the field)', async () => {
    const broker = await startBroker({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => broker.close());
    const watcher = await watchTelemetry(broker.url, 'clock-off');
    cleanups.push(() => watcher.close());
    const source = new ScriptedSource();
    const agent = new Agent({ vehicleId: 'clock-off', mqttUrl: broker.url, source, batchIntervalMs: 600_000, maxBatchSamples: 10, statsIntervalMs: 0, encode: payloadEncoder('compact'), sendTime: false, clock: false });
    cleanups.push(() => agent.stop());
    await agent.start();
    expect(await waitFor(() => agent.stats().connected, 10_000)).toBe(true);
    source.push(10);
    expect(await waitFor(() => watcher.batches.length === 1, 10_000)).toBe(true);
    expect('sentAt' in watcher.batches[0]!).toBe(false);
    expect(agent.stats().clock).toBe('unknown');
  });
});
