/**
 * `fleetpulse devices` as an operator runs it, against a broker that is running: the password is
 * shown once and stored only hashed; revoking or rotating an identity disconnects its live client.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import type { RunningBroker } from '../../broker/broker-server.ts';
import { runCli } from '../support/cli.ts';
import { connectClient, deviceFixture, startAuthBroker, waitFor, type Fixture } from './broker-fixture.ts';

describe('fleetpulse devices with a running broker', () => {
  let fixture: Fixture;
  let broker: RunningBroker;
  const clients: MqttClient[] = [];
  const cli = (...args: string[]) => runCli(['devices', ...args, '--devices-file', fixture.devicesFile]);

  beforeAll(async () => {
    fixture = await deviceFixture([]);
    broker = await startAuthBroker(fixture);
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await broker?.close();
    fixture?.dispose();
  });

  it('adds identities, shows the password once and lists them without secrets', async () => {
    const added = await cli('add', '--name', 'car-r', '--role', 'vehicle', '--format', 'json');
    expect(added.code, added.stderr).toBe(0);
    const { password } = JSON.parse(added.stdout) as { password: string };
    fixture.passwords.set('car-r', password);
    expect(readFileSync(fixture.devicesFile, 'utf8')).not.toContain(password);
    expect((await cli('add', '--name', 'car-s', '--role', 'vehicle')).stdout).toMatch(/password: \S{32}/);
    const list = await cli('list');
    expect(list.stdout).toMatch(/car-r\s+vehicle/);
    expect(list.stdout).not.toContain(password);
    const dup = await cli('add', '--name', 'car-r', '--role', 'vehicle');
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toMatch(/already exists/);
    const badRole = await cli('add', '--name', 'x', '--role', 'admin');
    expect(badRole.code).toBe(2);
  });

  it('disconnects a live client when its identity is revoked, and refuses it afterwards', async () => {
    broker.reloadDevices(); // do not wait for the file poll
    const client = await connectClient(broker.url, { clientId: 'car-r', username: 'car-r', password: fixture.passwords.get('car-r')! });
    clients.push(client);
    let closed = false;
    client.on('close', () => (closed = true));
    const revoked = await cli('revoke', '--name', 'car-r');
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(await waitFor(() => closed, 5000)).toBe(true);
    expect(broker.stats().revokedDisconnects).toBe(1);
    await expect(connectClient(broker.url, { clientId: 'car-r', username: 'car-r', password: fixture.passwords.get('car-r')! })).rejects.toThrow(/Bad username or password/i);
  });

  it('disconnects a client using a rotated password; the new password works', async () => {
    const rotatedBefore = await cli('rotate', '--name', 'car-s', '--format', 'json');
    const first = JSON.parse(rotatedBefore.stdout) as { password: string; generation: number };
    expect(first.generation).toBe(2);
    broker.reloadDevices(); // do not wait for the file poll
    const client = await connectClient(broker.url, { clientId: 'car-s', username: 'car-s', password: first.password });
    clients.push(client);
    let closed = false;
    client.on('close', () => (closed = true));
    const second = JSON.parse((await cli('rotate', '--name', 'car-s', '--format', 'json')).stdout) as { password: string };
    expect(await waitFor(() => closed, 5000)).toBe(true);
    await expect(connectClient(broker.url, { clientId: 'car-s', username: 'car-s', password: first.password })).rejects.toThrow(/Bad username or password/i);
    const again = await connectClient(broker.url, { clientId: 'car-s', username: 'car-s', password: second.password });
    clients.push(again);
    expect(again.connected).toBe(true);
  });
});
