/**
 * Failed-login limits that cannot lock out the innocent: counted per identity, and per source
 * address only for identities that do not exist. One address behind which an attacker floods the
 * broker (a depot's NAT) keeps serving the valid vehicles behind it; an identity under brute force
 * is limited wherever the guesses come from.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../broker/broker-server.ts';
import { connectClient, deviceFixture, startAuthBroker, type Fixture } from './broker-fixture.ts';
import { connectPacket, rawConnack } from './mqtt-bytes.ts';

const MAX_FAILURES = 3;

describe('failed-login limits', () => {
  let fixture: Fixture;
  let broker: RunningBroker;
  const attempt = (username: string, password: string, address: string) => rawConnack(broker.port, connectPacket(username, username, password), address);
  const valid = (username: string) => fixture.passwords.get(username)!;

  beforeAll(async () => {
    fixture = await deviceFixture(['car-a', 'car-b', 'car-c', 'car-d'].map((username) => ({ username, role: 'vehicle' as const })));
    broker = await startAuthBroker(fixture, { metrics: { port: 0 }, auth: { devicesFile: fixture.devicesFile, maxFailedLogins: MAX_FAILURES, failedLoginWindowMs: 60_000 } });
  });
  afterAll(async () => {
    await broker?.close();
    fixture?.dispose();
  });

  it('keeps accepting valid vehicles from an address that floods the broker with bad logins', async () => {
    const depot = '127.0.0.7';
    const codes: Array<number | 'closed'> = [];
    for (let i = 0; i < 12; i++) codes.push(await attempt(`ghost-${i}`, 'guess', depot));
    // Unknown names: "bad username or password" every time, also once the address is limited (the
    // answer must not tell an unknown name from a known one).
    expect(codes).toEqual(Array(12).fill(4));
    for (let i = 0; i < 5; i++) codes.push(await attempt('car-b', 'guess', depot));
    expect(codes.slice(12)).toEqual([4, 4, 4, 5, 5]);

    // A valid vehicle behind the same address is still let in (the old limiter refused it: CONNACK 5).
    expect(await attempt('car-a', valid('car-a'), depot)).toBe(0);
    const client = await connectClient(broker.url, { clientId: 'car-a', username: 'car-a', password: valid('car-a') });
    await client.endAsync();

    expect(broker.metrics.refusals.get('unknown_user')).toBe(MAX_FAILURES);
    expect(broker.metrics.refusals.get('address_limited')).toBe(12 - MAX_FAILURES);
    expect(broker.metrics.refusals.get('bad_password')).toBe(MAX_FAILURES);
    expect(broker.metrics.refusals.get('identity_limited')).toBe(2);
  });

  it('limits an identity under brute force, wherever the guesses come from', async () => {
    // Each guess from another address: a per-address limit never sees more than one.
    const codes: Array<number | 'closed'> = [];
    for (let i = 0; i < 5; i++) codes.push(await attempt('car-c', 'guess', `127.0.1.${i + 1}`));
    expect(codes).toEqual([4, 4, 4, 5, 5]);
    // Until the window is over, not even the right password gets in for an identity never seen with it.
    expect(await attempt('car-c', valid('car-c'), '127.0.1.9')).toBe(5);
  });

  it('still lets in a limited identity whose password the broker has checked before', async () => {
    expect(await attempt('car-d', valid('car-d'), '127.0.2.1')).toBe(0);
    for (let i = 0; i < MAX_FAILURES; i++) expect(await attempt('car-d', 'guess', '127.0.2.2')).toBe(4);
    expect(await attempt('car-d', 'guess', '127.0.2.2')).toBe(5);
    expect(await attempt('car-d', valid('car-d'), '127.0.2.1')).toBe(0);

    const text = await (await fetch(broker.metricsUrl!)).text();
    expect(text).toMatch(/^fleetpulse_broker_refusals_total\{reason="identity_limited"\} 6$/m);
    expect(text).toMatch(/^fleetpulse_broker_refusals_total\{reason="address_limited"\} 9$/m);
  });
});
