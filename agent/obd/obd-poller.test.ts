import { afterEach, describe, expect, it } from 'vitest';
import { Elm327Session } from './elm327-session.ts';
import { ObdPoller, type PollReading } from './obd-poller.ts';
import { scriptedAdapter, smallCarAdapter } from './test-support.ts';

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function pollSmallCar(multiPid: boolean, until: (readings: PollReading[]) => boolean, slowPids = ['COOLANT_TEMP', 'OIL_TEMP'], announceSilentPid = false) {
  const adapter = smallCarAdapter(multiPid, announceSilentPid);
  const { factory, path } = scriptedAdapter(adapter);
  const session = new Elm327Session({ path, openPort: factory, commandTimeoutMs: 500, reconnectBackoff: { initialMs: 20, maxMs: 50 } });
  stops.push(() => session.close());
  const readings: PollReading[] = [];
  const poller = new ObdPoller({ session, fastPids: ['RPM', 'SPEED'], slowPids, fastHz: 50, slowHz: 10, onReading: (r) => readings.push(r) });
  stops.push(() => poller.stop());
  session.start();
  poller.start();
  for (let i = 0; i < 500 && !until(readings); i++) await new Promise((r) => setTimeout(r, 10));
  await poller.stop();
  return { adapter, poller, readings };
}

describe('ObdPoller', () => {
  it('discovers the supported PIDs and reads several PIDs per request on CAN, decoded through the frame layer', async () => {
    const { adapter, poller, readings } = await pollSmallCar(true, (r) => r.filter((x) => x.readings.some((y) => y.name === 'COOLANT_TEMP')).length >= 3);
    expect(poller.supported).toEqual([0x05, 0x0c, 0x0d]);
    const values = readings.flatMap((r) => r.readings);
    expect(values.filter((v) => v.name === 'RPM').every((v) => v.value === 1726)).toBe(true);
    expect(values.filter((v) => v.name === 'SPEED').every((v) => v.value === 50)).toBe(true);
    expect(values.filter((v) => v.name === 'COOLANT_TEMP').every((v) => v.value === 83 && v.ecu === '7E8')).toBe(true);
    // OIL_TEMP (5C) is not supported by this car: never asked for.
    expect(adapter.received.some((c) => c.startsWith('01') && c.includes('5C'))).toBe(false);
    expect(poller.counters.multiPidRequests).toBeGreaterThan(0);
    expect(poller.counters.values).toBeGreaterThan(poller.counters.requests);
    expect(adapter.received.some((c) => /^010C0D|^010D0C/.test(c))).toBe(true);
    // Event times strictly increase.
    for (let i = 1; i < readings.length; i++) expect(readings[i]!.t).toBeGreaterThan(readings[i - 1]!.t);
    // The fast PIDs come more often than the slow one.
    const count = (name: string) => values.filter((v) => v.name === name).length;
    expect(count('RPM')).toBeGreaterThan(count('COOLANT_TEMP'));
  });

  it('falls back to one PID per request when the car answers only the first PID of a multi-PID request', async () => {
    const { poller, readings, adapter } = await pollSmallCar(false, (r) => r.filter((x) => x.readings.some((y) => y.name === 'COOLANT_TEMP')).length >= 3);
    expect(poller.counters.multiPidDisabled).toBe(1);
    expect(poller.usingMultiPid).toBe(false);
    const values = readings.flatMap((r) => r.readings);
    expect(values.some((v) => v.name === 'SPEED' && v.value === 50)).toBe(true);
    expect(values.some((v) => v.name === 'COOLANT_TEMP' && v.value === 83)).toBe(true);
    // After the switch, requests carry a single PID.
    const last = adapter.received.filter((c) => c.startsWith('01')).slice(-5);
    expect(last.every((c) => c.length === 4)).toBe(true);
  });

  it('stops asking for a PID the car announces but never answers, once the PIDs asked with it did answer three times', async () => {
    const { poller, adapter, readings } = await pollSmallCar(true, (r) => r.length >= 40, ['COOLANT_TEMP', 'INTAKE_TEMP'], true);
    expect(poller.supported).toContain(0x0f);
    expect(poller.counters.droppedPids).toBe(1);
    expect(poller.counters.multiPidDisabled).toBe(0);
    const asked = adapter.received.filter((c) => c.startsWith('01') && c !== '0100');
    const lastAskedIndex = asked.map((c) => c.match(/../g)!.slice(1).includes('0F')).lastIndexOf(true);
    expect(lastAskedIndex).toBeGreaterThanOrEqual(0);
    expect(lastAskedIndex).toBeLessThan(asked.length - 10);
    expect(readings.flatMap((r) => r.readings).some((v) => v.name === 'INTAKE_TEMP')).toBe(false);
  });
});
