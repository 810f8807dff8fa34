import { describe, expect, it } from 'vitest';
import { RuleMatcher } from './rule-matcher.ts';
import type { NotificationChange } from './notification-change.ts';

const change = (kind: string, state: 'raised' | 'cleared', vehicle?: string): NotificationChange => ({ id: 'k', kind, state, subject: vehicle ?? 'x', ...(vehicle ? { vehicle } : {}), summary: '', changedAtMs: 0 });
const rule = (name: string, extra: Record<string, unknown>) => ({ name, kinds: ['*'], states: ['raised', 'cleared'] as Array<'raised' | 'cleared'>, channels: ['c'], ...extra });

describe('notification rules', () => {
  const matcher = new RuleMatcher({
    groups: { north: ['truck-1*', 'van-7'] },
    rules: [
      rule('model', { kinds: ['alert:engine_anomaly'], vehicles: ['@north'] }),
      rule('any-alert-raised', { kinds: ['alert'], states: ['raised'] }),
      rule('ops', { kinds: ['api_threat', 'ingest_health:influx*'] }),
      rule('dtc', { kinds: ['alert:dtc*'], vehicles: ['car-?'] }),
    ],
  });
  const names = (c: NotificationChange) => matcher.match(c).map((r) => r.name);

  it('matches kinds by glob, a bare category as all of it, vehicles by glob or group, and states', () => {
    expect(names(change('alert:engine_anomaly', 'raised', 'truck-12'))).toEqual(['model', 'any-alert-raised']);
    expect(names(change('alert:engine_anomaly', 'cleared', 'truck-12'))).toEqual(['model']);
    expect(names(change('alert:engine_anomaly', 'raised', 'car-1'))).toEqual(['any-alert-raised']);
    // A kind of alert that did not exist when the rules were written.
    expect(names(change('alert:dtc_mil', 'raised', 'car-1'))).toEqual(['any-alert-raised', 'dtc']);
    expect(names(change('alert:dtc_mil', 'cleared', 'car-12'))).toEqual([]);
  });

  it('lets threats and ingest health through a vehicle filter (they have no vehicle)', () => {
    expect(names(change('api_threat', 'raised'))).toEqual(['ops']);
    expect(names(change('ingest_health:influxdb', 'cleared'))).toEqual(['ops']);
    expect(names(change('ingest_health:spool', 'raised'))).toEqual([]);
  });
});
