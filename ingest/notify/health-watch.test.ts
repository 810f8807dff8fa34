import { describe, expect, it } from 'vitest';
import { HealthWatch } from './health-watch.ts';

const ok = { status: 'ok', influx: 'ok', spoolBlocked: false, mqttConnected: true, mqtt: 'connected' };
const influxDown = { ...ok, status: 'degraded', influx: 'failing: connect ECONNREFUSED' };

describe('ingest health as state changes', () => {
  it('raises a check only after it failed for the grace period without a break, and clears it the same way', () => {
    const watch = new HealthWatch(['influxdb', 'spool', 'broker'], 60_000);
    expect(watch.observe(influxDown, 0)).toEqual([]);
    expect(watch.observe(ok, 30_000)).toEqual([]); // a blip: the run starts again
    expect(watch.observe(influxDown, 40_000)).toEqual([]);
    expect(watch.observe(influxDown, 99_000)).toEqual([]);
    expect(watch.observe(influxDown, 100_000)).toEqual([{ check: 'influxdb', state: 'raised', sinceMs: 40_000, detail: 'connect ECONNREFUSED' }]);
    expect(watch.observe(influxDown, 200_000)).toEqual([]);
    expect(watch.raised()).toEqual(['influxdb']);
    expect(watch.observe(ok, 210_000)).toEqual([]);
    expect(watch.observe(ok, 270_000)).toEqual([{ check: 'influxdb', state: 'cleared', sinceMs: 40_000, detail: 'connect ECONNREFUSED' }]);
    expect(watch.raised()).toEqual([]);
  });

  it('reads the spool and broker checks, and resumes a check raised before a restart', () => {
    const watch = new HealthWatch(['spool', 'broker'], 0, new Map([['broker', { sinceMs: 5, detail: 'broker down' }]]));
    const stalled = { ...ok, status: 'unavailable', spoolBlocked: true, reason: 'spool full at its bound of 1024 MiB' };
    expect(watch.observe(stalled, 10)).toEqual([
      { check: 'spool', state: 'raised', sinceMs: 10, detail: 'spool full at its bound of 1024 MiB' },
      { check: 'broker', state: 'cleared', sinceMs: 5, detail: 'broker down' },
    ]);
    expect(watch.observe({ ...ok, mqttConnected: false, mqtt: 'reconnecting in 2 s' }, 20).map((t) => `${t.check} ${t.state} ${t.detail}`)).toEqual(['spool cleared spool full at its bound of 1024 MiB', 'broker raised broker reconnecting in 2 s']);
  });

  it('treats a field health() no longer has as passing', () => {
    const watch = new HealthWatch(['influxdb'], 0);
    expect(watch.observe({ status: 'ok' }, 0)).toEqual([]);
  });
});
