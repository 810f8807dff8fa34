/**
 * Hardware-in-the-loop, whole agent: `fleetpulse agent --source serial --serial PATH` (a child
 * process) against the emulated ELM327 on a real pty, publishing to an Aedes broker. Every batch
 * must pass the wire contract's validation, carry the car's values, and keep coming after the
 * adapter is unplugged and plugged back in.
 */
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker } from '../../broker/broker-server.ts';
import { decodeTelemetry, type Sample } from '../../contracts/telemetry.ts';
import { topics } from '../../contracts/topics.ts';
import { startEmulatorOnPty } from '../../simulator/elm327/test-support.ts';
import { pidEncoding } from '../../contracts/obd/pid-encoding.ts';
import { startCli } from '../support/cli.ts';
import { waitFor } from '../support/influx.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('fleetpulse agent --source serial', () => {
  it('publishes the car’s values through the broker and resumes after the adapter is unplugged', async () => {
    const broker = await startBroker({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => broker.close());
    const emu = await startEmulatorOnPty({ seed: 9 });
    cleanups.push(() => emu.close());

    const vehicle = 'hil-serial-1';
    const samples: Sample[] = [];
    const invalid: string[] = [];
    const client = await mqtt.connectAsync(broker.url, { clientId: 'hil-watcher' });
    cleanups.push(() => client.endAsync(true));
    client.on('message', (_topic, payload) => {
      const decoded = decodeTelemetry(payload, vehicle);
      if (decoded.ok) samples.push(...decoded.batch.samples);
      else invalid.push(`${decoded.reason}: ${decoded.detail}`);
    });
    await client.subscribeAsync(topics.telemetry(vehicle), { qos: 1 });

    const agent = startCli(['agent', '--vehicle-id', vehicle, '--mqtt-url', broker.url, '--source', 'serial', '--serial', emu.path, '--batch-interval-ms', '200', '--fast-hz', '10', '--slow-hz', '2']);
    cleanups.push(async () => {
      agent.child.kill('SIGTERM');
      await Promise.race([agent.exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGKILL');
    });

    expect(await waitFor(() => samples.length >= 20, 30_000), agent.output()).toBe(true);
    await emu.unplug();
    expect(await waitFor(() => /adapter disconnected/.test(agent.output()), 10_000), agent.output()).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    const beforeReplug = samples.length;
    await emu.replug();
    expect(await waitFor(() => samples.length >= beforeReplug + 20, 30_000), agent.output()).toBe(true);
    expect(agent.output()).toMatch(/adapter ready.*\n(.*\n)*.*adapter disconnected(.*\n)*.*adapter ready/);

    expect(invalid).toEqual([]);
    const car = emu.emulator.vehicle.values() as unknown as Record<string, number>;
    const names = new Set<string>();
    for (const sample of samples) {
      for (const [name, value] of Object.entries(sample)) {
        if (name === 't') continue;
        names.add(name);
        expect(Math.abs((value as number) - car[name]!), name).toBeLessThanOrEqual((pidEncoding(name)?.scale ?? 1) / 2 + 1e-6);
      }
    }
    expect(names.has('RPM') && names.has('COOLANT_TEMP')).toBe(true);
  });
});
