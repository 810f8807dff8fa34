/** The SSE stream over a real HTTP server and sockets: snapshot first, resume, client bound, slow clients. */
import { createServer, get, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SseEventStream, type EventStreamOptions } from './event-stream.ts';
import { LiveState } from './live-state.ts';

interface SseEvent { id?: string; event?: string; data?: string }

let servers: Server[] = [];
afterEach(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  servers = [];
});

async function serve(options: EventStreamOptions = {}): Promise<{ state: LiveState; stream: SseEventStream; url: string }> {
  const state = new LiveState();
  const stream = new SseEventStream(state, options);
  const server = createServer((req, res) => {
    if (!stream.hasRoom()) return stream.reject(res);
    const last = req.headers['last-event-id'];
    void stream.open(req, res, typeof last === 'string' ? last : undefined, async () => ({ snapshot: true }));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { state, stream, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events` };
}

/** Reads events until `count` arrived (or 3 s passed); returns them and the status code. */
function read(url: string, count: number, headers: Record<string, string> = {}): Promise<{ status: number; events: SseEvent[] }> {
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    const req = get(url, { headers }, (res) => {
      let buffer = '';
      const done = () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, events });
      };
      const timer = setTimeout(done, 3000);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const e: SseEvent = {};
          for (const line of block.split('\n')) {
            const [k, ...v] = line.split(': ');
            if (k === 'id' || k === 'event' || k === 'data') e[k] = v.join(': ');
          }
          if (e.event) events.push(e);
          if (events.length >= count) {
            clearTimeout(timer);
            return done();
          }
        }
      });
      res.on('end', () => {
        clearTimeout(timer);
        done();
      });
    });
    req.on('error', reject);
  });
}

const sample = (vehicle: string, t: number) => ({ type: 'samples' as const, vehicle, samples: [{ t, RPM: 900 }] });

describe('SseEventStream', () => {
  it('sends a snapshot first, then one delta per tick with what changed, numbered', async () => {
    const { state, stream, url } = await serve();
    const reading = read(url, 3);
    await new Promise((r) => setTimeout(r, 100));
    state.apply(sample('a', 1));
    stream.tick();
    stream.tick(); // nothing changed: no message
    state.apply(sample('b', 2));
    stream.tick();
    const { events } = await reading;
    const e = stream.epoch;
    expect(events.map((x) => [x.event, x.id])).toEqual([['snapshot', `${e}.0`], ['delta', `${e}.1`], ['delta', `${e}.2`]]);
    expect(JSON.parse(events[2]!.data!).vehicles.map((v: { id: string }) => v.id)).toEqual(['b']);
  });

  it('resumes from Last-Event-ID while the ring holds it, else sends a snapshot', async () => {
    const { state, stream, url } = await serve({ replayDeltas: 3 });
    for (let i = 1; i <= 5; i++) {
      state.apply(sample('a', i));
      stream.tick();
    }
    const e = stream.epoch;
    const resumed = await read(url, 2, { 'Last-Event-ID': `${e}.3` });
    expect(resumed.events.map((x) => [x.event, x.id])).toEqual([['delta', `${e}.4`], ['delta', `${e}.5`]]);
    const tooOld = await read(url, 1, { 'Last-Event-ID': `${e}.1` });
    expect(tooOld.events.map((x) => x.event)).toEqual(['snapshot']);
    // An id of an earlier process (another epoch) never resumes.
    const otherRun = await read(url, 1, { 'Last-Event-ID': `x${e}.4` });
    expect(otherRun.events.map((x) => x.event)).toEqual(['snapshot']);
    expect(stream.stats()).toMatchObject({ resumed: 1, snapshots: 2 });
  });

  it('refuses streams beyond maxClients with 503', async () => {
    const { stream, url } = await serve({ maxClients: 1 });
    const first = read(url, 5);
    await new Promise((r) => setTimeout(r, 100));
    expect((await read(url, 1)).status).toBe(503);
    expect(stream.stats()).toMatchObject({ clients: 1, rejected: 1 });
    void first.catch(() => undefined); // ended by afterEach
  });

  it('disconnects a client that stops reading once its buffer bound is passed, and keeps serving the others', async () => {
    const { state, stream, url } = await serve({ maxClientBufferBytes: 64 * 1024 });
    const port = Number(new URL(url).port);
    const stalled = connect(port, '127.0.0.1');
    stalled.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');
    stalled.pause(); // never reads: the kernel buffers fill, then the server's
    await new Promise((r) => setTimeout(r, 100));
    const big = Array.from({ length: 2000 }, (_, i) => ({ t: i, RPM: i, SPEED: i, COOLANT_TEMP: i }));
    for (let i = 0; i < 400 && stream.stats().droppedSlow === 0; i++) {
      for (let v = 0; v < 50; v++) state.apply({ type: 'samples', vehicle: `v${v}`, samples: big });
      stream.tick();
      await new Promise((r) => setImmediate(r));
    }
    expect(stream.stats().droppedSlow).toBe(1);
    expect(stream.stats().clients).toBe(0);
    stalled.destroy();
    const reading = read(url, 2);
    await new Promise((r) => setTimeout(r, 100));
    state.apply(sample('z', 1));
    stream.tick();
    expect((await reading).events.map((e) => e.event)).toEqual(['snapshot', 'delta']);
  });
});
