/**
 * Client ids are bound to exactly one identity. `agent-v02` is vehicle v02's agent; an identity named
 * `agent-v02` would match the same client id, and the two would evict each other's sessions. `devices
 * add` refuses such a name; a store that already holds both (older data) gives the client id to the
 * identity created first, and the broker refuses it to the other.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import type { RunningBroker } from '../../broker/broker-server.ts';
import { FileDeviceStore } from '../../broker/device-store.ts';
import { runCli } from '../support/cli.ts';
import { connectClient, deviceFixture, startAuthBroker, type Fixture } from './broker-fixture.ts';
import { connectPacket, rawConnack } from './mqtt-bytes.ts';

describe('client ids bound to exactly one identity', () => {
  let fixture: Fixture;
  let broker: RunningBroker | undefined;
  const clients: MqttClient[] = [];
  const cli = (...args: string[]) => runCli(['devices', ...args, '--devices-file', fixture.devicesFile]);

  beforeAll(async () => {
    fixture = await deviceFixture([{ username: 'v02', role: 'vehicle' }]);
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await broker?.close();
    fixture?.dispose();
  });

  it('devices add refuses a name whose client ids another identity already matches, either way round', async () => {
    const taken = await cli('add', '--name', 'agent-v02', '--role', 'vehicle');
    expect(taken.code).not.toBe(0);
    expect(taken.stderr).toMatch(/agent-v02.*client id 'agent-v02'.*'v02'/);
    expect((await cli('add', '--name', 'agent-x7', '--role', 'viewer')).code).toBe(0);
    const reverse = await cli('add', '--name', 'x7', '--role', 'vehicle');
    expect(reverse.code).not.toBe(0);
    expect(reverse.stderr).toMatch(/x7.*client id 'agent-x7'.*'agent-x7'/);
    expect((await cli('list')).stdout).not.toMatch(/^(agent-v02|x7)\s/m);
  });

  it('does not let a colliding identity of older data evict the session of the one created first', async () => {
    // Older data: both names in one store (written before `devices add` checked).
    const other = new FileDeviceStore(`${fixture.dir}/other/devices.json`);
    const { password } = await other.add({ username: 'agent-v02', role: 'vehicle' });
    const file = JSON.parse(readFileSync(fixture.devicesFile, 'utf8')) as { devices: unknown[] };
    file.devices.push(...(JSON.parse(readFileSync(other.path, 'utf8')) as { devices: unknown[] }).devices);
    writeFileSync(fixture.devicesFile, JSON.stringify(file));

    broker = await startAuthBroker(fixture);
    const agent = await connectClient(broker.url, { clientId: 'agent-v02', username: 'v02', password: fixture.passwords.get('v02')!, clean: false });
    clients.push(agent);
    let evicted = false;
    agent.on('close', () => (evicted = true));

    // The newer identity may not take the client id (the old broker accepted it and closed v02's agent) …
    expect(await rawConnack(broker.port, connectPacket('agent-v02', 'agent-v02', password))).toBe(2);
    expect(evicted).toBe(false);
    expect(broker.metrics.refusals.get('client_id_not_bound')).toBe(1);
    // … but keeps its other client ids.
    expect(await rawConnack(broker.port, connectPacket('agent-v02:probe', 'agent-v02', password))).toBe(0);
    expect(agent.connected).toBe(true);
  });
});
