/**
 * The session against a tiny scripted adapter on serialport's MockBinding: the real
 * SerialPortStream and binding, with a responder in place of the adapter's firmware.
 * The full emulator (simulator/elm327) is exercised in test/hil/.
 */
import { createLogger } from '../../common/logger.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { Elm327Session, type SessionState } from './elm327-session.ts';
import { type Responder, scriptedAdapter, standardAdapter } from './test-support.ts';

const sessions: Elm327Session[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});

function startSession(responder: Responder, extra: Partial<ConstructorParameters<typeof Elm327Session>[0]> = {}): Elm327Session {
  const { factory, path } = scriptedAdapter(responder);
  const session = new Elm327Session({
    path,
    openPort: factory,
    commandTimeoutMs: 300,
    resetTimeoutMs: 300,
    searchTimeoutMs: 500,
    reconnectBackoff: { initialMs: 20, maxMs: 50 },
    ecuProbeBackoff: { initialMs: 20, maxMs: 50 },
    ...extra,
    logger: process.env.ELM_TEST_DEBUG ? createLogger('test', { level: 'debug' }) : undefined,
  });
  sessions.push(session);
  session.start();
  return session;
}

describe('Elm327Session', () => {
  it('resets, initialises, finds the car and reads the protocol', async () => {
    const adapter = standardAdapter();
    const session = startSession(adapter);
    const states: SessionState[] = [];
    session.on('state', (s) => states.push(s));
    expect(await session.waitForState('ready', 5000)).toBe(true);
    expect(adapter.received).toEqual(['ATZ', 'ATE0', 'ATL0', 'ATS0', 'ATH1', 'ATAT1', 'ATSP0', 'ATI', '0100', 'ATDPN']);
    expect(session.info).toMatchObject({ version: 'ELM327 v1.5', protocol: '6', auto: true, isCan: true, canIdBits: 11, spaces: false });
    expect(states).toEqual(['initialising', 'ready']);
    expect(session.generation).toBe(1);
  });

  it('answers every request with a classified status, one command on the wire at a time', async () => {
    const adapter = standardAdapter();
    const session = startSession(adapter);
    await session.waitForState('ready', 5000);
    const replies = await Promise.all(['010C', '0142', '0105', '01FF', '010D', 'ATRV'].map((c) => session.request(c)));
    expect(replies.map((r) => r.status)).toEqual(['data', 'data', 'no-data', 'unknown-command', 'data', 'ok']);
    expect(replies[0]!.lines).toEqual(['7E804410C1AF8']);
    expect(replies[4]!.garbage).toEqual(['#$%&']);
    expect(adapter.overlapped).toBe(false);
    expect(session.counters.garbageLines).toBe(1);
  });

  it('refuses requests beyond the queue bound and counts them', async () => {
    const adapter = standardAdapter();
    const session = startSession(adapter, { queueLimit: 2 });
    await session.waitForState('ready', 5000);
    const replies = await Promise.all([1, 2, 3, 4, 5].map(() => session.request('010C')));
    expect(replies.map((r) => r.status)).toEqual(['data', 'data', 'data', 'queue-full', 'queue-full']);
    expect(session.counters.queueRejected).toBe(2);
  });

  it('times out a command the adapter does not answer, then resynchronises', async () => {
    const adapter = standardAdapter();
    const session = startSession(adapter);
    await session.waitForState('ready', 5000);
    const answer = adapter.answer;
    let swallow = true;
    adapter.answer = (c) => (c === '010C' && swallow ? ((swallow = false), undefined) : answer(c));
    expect((await session.request('010C')).status).toBe('timeout');
    const after = await session.request('0142');
    expect(after.status).toBe('data');
    expect(after.lines).toEqual(['7E80441422F3A']);
    expect(session.counters.timeouts).toBe(1);
    expect(session.counters.resyncs).toBe(1);
    expect(session.state).toBe('ready');
  });

  it('reports no-ecu when the ignition goes off and becomes ready again when it comes back', async () => {
    const adapter = standardAdapter();
    const session = startSession(adapter);
    await session.waitForState('ready', 5000);
    adapter.car.on = false;
    for (let i = 0; i < 3; i++) expect((await session.request('010C')).status).toBe('no-data');
    expect(await session.waitForState('no-ecu', 5000)).toBe(true);
    expect((await session.request('010C')).status).toBe('not-ready');
    adapter.car.on = true;
    expect(await session.waitForState('ready', 5000)).toBe(true);
    expect((await session.request('010C')).status).toBe('data');
    expect(session.counters.ecuLost).toBe(1);
    expect(session.counters.ecuFound).toBe(2);
    expect(session.generation).toBe(1);
  });

  it('starts in no-ecu when the car does not answer the first search', async () => {
    const adapter = standardAdapter();
    adapter.car.on = false;
    const session = startSession(adapter);
    expect(await session.waitForState('no-ecu', 5000)).toBe(true);
    expect(session.info?.version).toBe('ELM327 v1.5');
    adapter.car.on = true;
    expect(await session.waitForState('ready', 5000)).toBe(true);
  });

  it('drops the port and starts over with ATZ when the adapter stops answering altogether', async () => {
    const adapter = standardAdapter();
    const session = startSession(adapter);
    await session.waitForState('ready', 5000);
    adapter.car.silent = true;
    expect((await session.request('010C')).status).toBe('timeout');
    expect((await session.request('010C')).status).not.toBe('data');
    expect(await session.waitForState(['disconnected', 'connecting', 'initialising'], 5000)).toBe(true);
    adapter.car.silent = false;
    expect(await session.waitForState('ready', 5000)).toBe(true);
    expect(session.generation).toBe(2);
    expect((await session.request('010C')).status).toBe('data');
  });

  it('tolerates clones that lack optional settings and echo despite ATE0', async () => {
    const adapter = standardAdapter();
    const answer = adapter.answer;
    adapter.answer = (c) => {
      if (c === 'ATS0' || c.startsWith('ATAT')) return `${c}\r?`;
      const reply = answer(c);
      return reply === undefined ? undefined : `${c}\r${reply}`;
    };
    const session = startSession(adapter);
    expect(await session.waitForState('ready', 5000)).toBe(true);
    expect(session.info?.spaces).toBe(true);
    expect((await session.request('010C')).lines).toEqual(['7E804410C1AF8']);
  });
});
