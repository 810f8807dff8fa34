/**
 * `fleetpulse agent --source replay` as a process against a real broker (Aedes on an ephemeral
 * port): it exits by itself once the log has been played and acknowledged (without
 * --replay-loop), and --replay-vehicle-column/--replay-vehicle play one vehicle of a shared log.
 */
import mqtt from 'mqtt';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker } from '../../broker/broker-server.ts';
import { decodeTelemetry, type Sample } from '../../contracts/telemetry.ts';
import { topics } from '../../contracts/topics.ts';
import { startCli } from '../support/cli.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'replay');
/** The agent exits well within this; a test never waits longer (the old agent never exited). */
const EXIT_BOUND_MS = 20_000;

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function withBroker(vehicleId: string): Promise<{ url: string; samples: Sample[] }> {
  const broker = await startBroker({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => broker.close());
  const samples: Sample[] = [];
  const watcher = await mqtt.connectAsync(broker.url, { clientId: `watcher-${vehicleId}` });
  cleanups.push(() => watcher.endAsync(true));
  watcher.on('message', (_topic, payload) => {
    const d = decodeTelemetry(payload, vehicleId);
    if (d.ok) samples.push(...d.batch.samples);
  });
  await watcher.subscribeAsync(topics.telemetry(vehicleId), { qos: 1 });
  return { url: broker.url, samples };
}

function runAgent(args: string[]): ReturnType<typeof startCli> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-replay-cli-'));
  const agent = startCli(['agent', '--data-dir', dir, '--source', 'replay', '--replay-speed', '0', '--batch-interval-ms', '100', '--stats-interval-s', '0', ...args]);
  cleanups.push(async () => {
    if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGKILL');
    await agent.exited;
    rmSync(dir, { recursive: true, force: true });
  });
  return agent;
}

const exitedWithin = (agent: ReturnType<typeof startCli>, ms: number): Promise<number | null | 'still running'> =>
  Promise.race([agent.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), ms))]);

describe('fleetpulse agent --source replay', () => {
  it('exits with 0 once the whole log is played and acknowledged', async () => {
    const broker = await withBroker('etios-head');
    const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-replay-log-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = join(dir, 'drive1-head.csv');
    writeFileSync(log, gunzipSync(readFileSync(join(FIXTURES, 'carobd-drive1-head.csv.gz'))));
    const agent = runAgent(['--vehicle-id', 'etios-head', '--mqtt-url', broker.url, '--replay', log]);
    expect(await exitedWithin(agent, EXIT_BOUND_MS), agent.output()).toBe(0);
    expect(broker.samples.map((s) => s.RPM)).toEqual([0, 0, 0, 0, 245.25, 245.25, 245.25, 1128, 1128, 1128, 1128, 1113.25]);
    expect(agent.output()).toMatch(/replay finished/);
  });

  it('plays only the rows of the vehicle picked with --replay-vehicle, then exits', async () => {
    const broker = await withBroker('van-2');
    const agent = runAgent([
      '--vehicle-id', 'van-2', '--mqtt-url', broker.url, '--replay', join(FIXTURES, 'two-vehicles.csv'), '--replay-format', 'custom',
      '--replay-mapping', join(FIXTURES, 'two-vehicles.mapping.json'), '--replay-vehicle-column', 'vehicle', '--replay-vehicle', 'van-2', '--replay-time', 'keep',
    ]);
    expect(await exitedWithin(agent, EXIT_BOUND_MS), agent.output()).toBe(0);
    const T = 1_700_000_000_000;
    expect(broker.samples).toEqual([
      { t: T, RPM: 900, SPEED: 10 },
      { t: T + 500, RPM: 950, SPEED: 11 },
      { t: T + 1000, RPM: 990, SPEED: 12 },
    ]);
  });

  it('refuses a log of several vehicles without --replay-vehicle, listing them', async () => {
    const agent = runAgent([
      '--vehicle-id', 'van-x', '--mqtt-url', 'mqtt://127.0.0.1:1', '--replay', join(FIXTURES, 'two-vehicles.csv'), '--replay-format', 'custom',
      '--replay-mapping', join(FIXTURES, 'two-vehicles.mapping.json'), '--replay-vehicle-column', 'vehicle',
    ]);
    expect(await exitedWithin(agent, EXIT_BOUND_MS)).toBe(2);
    expect(agent.output()).toMatch(/2 vehicles in column "vehicle" \(van-1, van-2\): pick one with --replay-vehicle/);
  });
});
