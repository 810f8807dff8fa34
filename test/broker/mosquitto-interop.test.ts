/**
 * Deny-by-default and per-vehicle ACLs, checked with third-party clients: Debian's mosquitto_pub
 * and mosquitto_sub against our broker on an ephemeral loopback port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../broker/broker-server.ts';
import { topics } from '../../contracts/topics.ts';
import { deviceFixture, mosquittoAuth, runTool, startAuthBroker, startTool, waitFor, type Fixture } from './broker-fixture.ts';

describe('broker ACLs with mosquitto clients', () => {
  let fixture: Fixture;
  let broker: RunningBroker;
  const auth = (user: string, suffix = 'pub'): string[] => mosquittoAuth(fixture, user, broker.port, suffix);
  const subscribed = new Map<string, number>();
  /** A subscriber whose subscription the broker has processed before the test publishes. */
  const subscribe = async (user: string, filters: string[], count: number, waitS = 6) => {
    const before = subscribed.get(`${user}:sub`) ?? 0;
    const sub = startTool('mosquitto_sub', [...auth(user, 'sub'), '-v', '-q', '1', '-C', String(count), '-W', String(waitS), ...filters.flatMap((f) => ['-t', f])]);
    expect(await waitFor(() => (subscribed.get(`${user}:sub`) ?? 0) > before, 5000), sub.output()).toBe(true);
    return sub;
  };
  const publish = (user: string, topic: string, message: string) => runTool('mosquitto_pub', [...auth(user), '-q', '1', '-t', topic, '-m', message]);
  const received = (stdout: string): string[] => stdout.split('\n').filter(Boolean);

  beforeAll(async () => {
    fixture = await deviceFixture([
      { username: 'car-a', role: 'vehicle' },
      { username: 'car-b', role: 'vehicle' },
      { username: 'ingest-1', role: 'ingest' },
      { username: 'edge-1', role: 'logship' },
      { username: 'dash', role: 'viewer' },
    ]);
    broker = await startAuthBroker(fixture);
    broker.aedes.on('subscribe', (_subs, client) => subscribed.set(client.id, (subscribed.get(client.id) ?? 0) + 1));
  });
  afterAll(async () => {
    await broker?.close();
    fixture?.dispose();
  });

  it('refuses anonymous clients (CONNACK 5) and wrong passwords (CONNACK 4)', async () => {
    const anonymous = await runTool('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.port), '-t', topics.telemetry('car-a'), '-m', 'x']);
    expect(anonymous.code).toBe(5);
    expect(anonymous.stderr).toMatch(/not authori[sz]ed/);
    const wrong = await runTool('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.port), '-u', 'car-a', '-P', 'guess', '-i', 'car-a', '-t', topics.telemetry('car-a'), '-m', 'x']);
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toMatch(/bad user name or password/);
    // A valid identity with another identity's client id would take over that session: refused.
    const stolenId = await runTool('mosquitto_pub', [...auth('car-a').slice(0, -2), '-i', 'ingest-1', '-t', topics.telemetry('car-a'), '-m', 'x']);
    expect(stolenId.code).toBe(2);
    expect(broker.metrics.auth.get('anonymous')).toBeGreaterThanOrEqual(1);
  });

  it('lets the ingest role read every vehicle and the API logs', async () => {
    const sub = await subscribe('ingest-1', [topics.fleetFilter(), topics.apiLogsFilter()], 3);
    expect((await publish('car-a', topics.telemetry('car-a'), 'from-a')).code).toBe(0);
    expect((await publish('car-b', topics.telemetry('car-b'), 'from-b')).code).toBe(0);
    expect((await publish('edge-1', topics.apiLogs('edge-1'), 'log-line')).code).toBe(0);
    const result = await sub.result;
    expect(result.code).toBe(0);
    expect(received(result.stdout).sort()).toEqual([`${topics.apiLogs('edge-1')} log-line`, `${topics.telemetry('car-a')} from-a`, `${topics.telemetry('car-b')} from-b`].sort());
  });

  it('does not let vehicle A read vehicle B, not even through fleet/#', async () => {
    const denied = await runTool('mosquitto_sub', [...auth('car-a'), '-t', topics.telemetry('car-b'), '-W', '2']);
    expect(denied.stderr).toMatch(/All subscription requests were denied/);

    const before = broker.metrics.subscriptionsNarrowed;
    const sub = await subscribe('car-a', ['fleet/#', '#'], 1);
    expect(broker.metrics.subscriptionsNarrowed).toBe(before + 2);
    for (let i = 0; i < 3; i++) expect((await publish('car-b', topics.telemetry('car-b'), `secret-${i}`)).code).toBe(0);
    // A's own message comes after B's; had any of B's been forwarded, it would be first.
    expect((await publish('car-a', topics.telemetry('car-a'), 'own')).code).toBe(0);
    const result = await sub.result;
    expect(received(result.stdout)).toEqual([`${topics.telemetry('car-a')} own`]);
  });

  it('does not let vehicle A publish as vehicle B, and counts the denial', async () => {
    const sub = await subscribe('ingest-1', [`fleet/+/car-b/#`], 1);
    const deniedBefore = broker.stats().deniedPublish;
    const forged = await publish('car-a', topics.telemetry('car-b'), 'forged');
    expect(forged.code).not.toBe(0); // the broker closes the connection instead of acknowledging
    expect(broker.stats().deniedPublish).toBe(deniedBefore + 1);
    expect((await publish('car-b', topics.telemetry('car-b'), 'genuine')).code).toBe(0);
    const result = await sub.result;
    expect(received(result.stdout)).toEqual([`${topics.telemetry('car-b')} genuine`]);
  });

  it('keeps log shippers and viewers in their lanes', async () => {
    expect((await publish('edge-1', topics.telemetry('car-a'), 'x')).code).not.toBe(0);
    expect((await publish('dash', topics.alerts('car-a'), 'x')).code).not.toBe(0);
    const sub = await subscribe('dash', ['fleet/#'], 1);
    expect((await publish('car-a', topics.telemetry('car-a'), 'telemetry-not-for-viewers')).code).toBe(0);
    expect((await publish('ingest-1', topics.alerts('car-a'), 'overheat')).code).toBe(0);
    expect(received((await sub.result).stdout)).toEqual([`${topics.alerts('car-a')} overheat`]);
    expect(broker.stats().deniedForward).toBeGreaterThanOrEqual(1);
  });
});
