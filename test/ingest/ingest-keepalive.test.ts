/**
 * Ingest keeps its broker session while it reads a long stream of messages, even when the broker is
 * too busy to answer PINGREQ in time (its PINGRESP queued behind the backlog it is sending).
 *
 * Aedes answers PINGREQ at once on an idle loopback connection, so the busy broker is played by a
 * scripted MQTT peer (mqtt-packet over TCP): it accepts the session, grants the subscriptions, then
 * streams QoS 1 telemetry and never answers PINGREQ. Ingest itself is the real IngestService.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqttPacket from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeTelemetry } from '../../contracts/telemetry.ts';
import { topics } from '../../contracts/topics.ts';
import { IngestService } from '../../ingest/ingest-service.ts';
import { waitFor } from '../support/influx.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface BusyBroker {
  url: string;
  connections: number;
  pingRequests: number;
  published: number;
  acknowledged: number;
}

/** Streams one QoS 1 telemetry message every `everyMs` to each subscribed connection, for `forMs`. */
async function startBusyBroker(everyMs: number, forMs: number): Promise<BusyBroker> {
  const state = { connections: 0, pingRequests: 0, published: 0, acknowledged: 0 };
  const sockets = new Set<Socket>();
  let messageId = 0;
  let seq = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const send = (packet: Record<string, unknown>) => socket.write(mqttPacket.generate(packet as unknown as mqttPacket.Packet));
    let streaming: NodeJS.Timeout | undefined;
    socket.on('close', () => clearInterval(streaming));
    parser.on('packet', (packet) => {
      switch (packet.cmd) {
        case 'connect':
          state.connections += 1;
          send({ cmd: 'connack', returnCode: 0, sessionPresent: false });
          break;
        case 'subscribe': {
          send({ cmd: 'suback', messageId: packet.messageId, granted: packet.subscriptions.map(() => 1) });
          const started = Date.now();
          streaming = setInterval(() => {
            if (Date.now() - started > forMs) return clearInterval(streaming);
            const vehicle = 'busy-broker-1';
            const t = 1_700_000_000_000 + seq * 100;
            send({ cmd: 'publish', topic: topics.telemetry(vehicle), qos: 1, messageId: (messageId % 65535) + 1, payload: encodeTelemetry({ v: 1, vehicle, seq: seq++, samples: [{ t, RPM: 900 }] }) });
            messageId += 1;
            state.published += 1;
          }, everyMs);
          break;
        }
        case 'puback':
          state.acknowledged += 1;
          break;
        case 'pingreq':
          state.pingRequests += 1; // never answered: the PINGRESP is "behind the backlog"
          break;
      }
    });
    socket.on('data', (chunk) => parser.parse(chunk));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  const { port } = server.address() as { port: number };
  return Object.assign(state, { url: `mqtt://127.0.0.1:${port}` }) as BusyBroker;
}

describe('ingest broker session', () => {
  it('stays connected while messages keep arriving, though the broker does not answer PINGREQ', async () => {
    // 1 s keep-alive: mqtt.js would send PINGREQ after 1 s and give up 0.5 s later without the fix.
    const broker = await startBusyBroker(20, 4000);
    const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-ingest-keepalive-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const ingest = new IngestService({
      mqttUrl: broker.url,
      keepaliveS: 1,
      influxUrl: 'http://127.0.0.1:9', // nothing listens: ingest spools, which is all this test needs
      influxDatabase: 'keepalive',
      clientId: 'keepalive-ingest',
      shards: Array.from({ length: 64 }, (_, i) => i),
      spoolDir: join(dir, 'spool'),
      flushIntervalMs: 100,
    });
    cleanups.push(() => ingest.stop(0));
    await ingest.start();
    expect(await waitFor(() => broker.published >= 150, 15_000)).toBe(true);
    expect(await waitFor(() => broker.acknowledged === broker.published && broker.published > 0, 10_000)).toBe(true);
    expect(broker.connections).toBe(1);
    expect(broker.pingRequests).toBe(0);
  });
});
