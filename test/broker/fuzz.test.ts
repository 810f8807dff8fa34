/**
 * Malformed and random MQTT input over loopback (a fixed number of seeded cases): the broker must
 * stay up, release every connection, and keep serving a well-behaved client that stays connected
 * throughout.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import type { RunningBroker } from '../../broker/broker-server.ts';
import { topics } from '../../contracts/topics.ts';
import { connectClient, deviceFixture, startAuthBroker, waitFor, type Fixture } from './broker-fixture.ts';
import { DISCONNECT, PINGREQ, connectPacket, frame, publishPacket, subscribePacket } from './mqtt-bytes.ts';
import { createRng } from '../../simulator/rng.ts';

const CASES = 400;
const CONCURRENCY = 16;

/** Seeded random numbers in [0, 1): the simulator's generator, so runs repeat with a seed. */
function rng(seed: number): () => number {
  return createRng(seed).next;
}

describe('fuzzing the broker with malformed MQTT', () => {
  let fixture: Fixture;
  let broker: RunningBroker;
  let watcher: MqttClient;
  const seen: string[] = [];

  beforeAll(async () => {
    fixture = await deviceFixture([
      { username: 'car-f', role: 'vehicle' },
      { username: 'ingest-f', role: 'ingest' },
    ]);
    // Fuzz cases log in wrongly all the time: the per-address limit would shut them out after 10.
    broker = await startAuthBroker(fixture, { limits: { maxPacketBytes: 256 * 1024 }, auth: { devicesFile: fixture.devicesFile, maxFailedLogins: 1_000_000 } });
    watcher = await connectClient(broker.url, { clientId: 'ingest-f', username: 'ingest-f', password: fixture.passwords.get('ingest-f')! });
    watcher.on('message', (topic, payload) => seen.push(`${topic} ${payload.toString()}`));
    await watcher.subscribeAsync(topics.fleetFilter('telemetry'), { qos: 1 });
  });
  afterAll(async () => {
    watcher?.end(true);
    await broker?.close();
    fixture?.dispose();
  });

  it(`survives ${CASES} malformed sessions and keeps serving a good client`, async () => {
    const random = rng(20_260_601);
    const int = (n: number) => Math.floor(random() * n);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
    const password = fixture.passwords.get('car-f')!;
    const goodSession = (): Buffer =>
      Buffer.concat([
        connectPacket('car-f:fuzz', 'car-f', password),
        subscribePacket(topics.vehicleFilter('car-f'), 1 + int(65535)),
        publishPacket(topics.telemetry('car-f'), bytes(int(64)), 1, 1 + int(65535)),
        PINGREQ,
        publishPacket(topics.telemetry('car-x'), bytes(8), 0),
        DISCONNECT,
      ]);
    const flip = (buf: Buffer, count: number): Buffer => {
      const out = Buffer.from(buf);
      for (let i = 0; i < count; i++) {
        const at = int(out.length);
        out[at] = out[at]! ^ (1 << int(8));
      }
      return out;
    };
    const cases: Array<() => Buffer> = [
      () => bytes(1 + int(300)),
      () => Buffer.concat([connectPacket('car-f:fuzz', 'car-f', password), bytes(1 + int(200))]),
      () => flip(goodSession(), 1 + int(6)),
      () => goodSession().subarray(0, int(goodSession().length)),
      () => flip(connectPacket('car-f:fuzz', 'car-f', password), 1 + int(3)),
      () => Buffer.concat([connectPacket('car-f:fuzz', 'car-f', password), Buffer.from([0x30 | int(16), 0xff, 0xff, 0xff, 0x7f])]),
      () => Buffer.concat([connectPacket(`x${int(1000)}`), frame(int(256), bytes(int(100)))]),
      () => Buffer.concat([connectPacket('car-f:fuzz', 'car-f', password), ...Array.from({ length: 1 + int(5) }, () => frame(int(256), bytes(int(50))))]),
    ];

    const runCase = (input: Buffer): Promise<void> =>
      new Promise((resolve) => {
        const socket = connect({ port: broker.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
        const timer = setTimeout(() => socket.destroy(), 150);
        socket.on('error', () => {});
        socket.on('close', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.on('connect', () => {
          // Split into random chunks: parsers must not depend on packet boundaries.
          let offset = 0;
          while (offset < input.length) {
            const n = 1 + int(64);
            socket.write(input.subarray(offset, offset + n));
            offset += n;
          }
        });
      });

    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < CASES) {
        next += 1;
        await runCase(cases[int(cases.length)]!());
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    // Every fuzz connection is gone; only the watcher remains.
    const settled = await waitFor(() => broker.stats().openConnections === 1 && broker.stats().connectedClients === 1, 10_000);
    expect(settled, JSON.stringify(broker.stats())).toBe(true);
    expect(broker.stats().connects).toBeGreaterThan(10); // the fuzzer did get past authentication
    expect(watcher.connected).toBe(true);

    const before = seen.filter((s) => s.endsWith(' after-fuzz')).length;
    const car = await connectClient(broker.url, { clientId: 'car-f', username: 'car-f', password });
    await car.publishAsync(topics.telemetry('car-f'), 'after-fuzz', { qos: 1 });
    await car.endAsync();
    expect(await waitFor(() => seen.filter((s) => s.endsWith(' after-fuzz')).length === before + 1, 5000)).toBe(true);
  });
});
