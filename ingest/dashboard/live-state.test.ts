import { describe, expect, it } from 'vitest';
import type { AlertMessage } from '../../contracts/alerts.ts';
import { LiveState } from './live-state.ts';

const alert = (vehicle: string, state: 'raised' | 'cleared', startMs: number): AlertMessage => ({
  schema: 'fleetpulse.alert/1', alertId: `${vehicle}:${startMs}`, vehicle, state, kind: 'engine_anomaly', windowStartMs: startMs, windowEndMs: startMs + 30_000,
  modelVersion: 1, score: 0.9, threshold: 0.5, windows: 3, topFeatures: [{ name: 'maf_mean', value: 1, deviation: 4 }], emittedAtMs: startMs + 31_000,
});

describe('LiveState', () => {
  it('colours vehicles: grey before a score, blue when normal, red when anomalous or alerting', () => {
    const s = new LiveState();
    s.apply({ type: 'samples', vehicle: 'a', samples: [{ t: 1000, RPM: 800 }] });
    expect(s.snapshot().vehicles[0]).toMatchObject({ id: 'a', state: 'unscored', t: 1000 });
    s.apply({ type: 'score', vehicle: 'a', startMs: 0, endMs: 30_000, score: 0.1, threshold: 0.5, anomalous: false, modelVersion: 1 });
    expect(s.snapshot().vehicles[0]!.state).toBe('healthy');
    s.apply({ type: 'alert', alert: alert('a', 'raised', 0) });
    expect(s.snapshot().vehicles[0]!.state).toBe('anomalous');
    s.apply({ type: 'alert', alert: alert('a', 'cleared', 30_000) });
    s.apply({ type: 'score', vehicle: 'a', startMs: 30_000, endMs: 60_000, score: 0.7, threshold: 0.5, anomalous: true, modelVersion: 1 });
    expect(s.snapshot().vehicles[0]!.state).toBe('anomalous');
    // An older window (replay) does not overwrite a newer score.
    s.apply({ type: 'score', vehicle: 'a', startMs: 0, endMs: 30_000, score: 0.1, threshold: 0.5, anomalous: false, modelVersion: 1 });
    expect(s.snapshot().vehicles[0]!.score).toBe(0.7);
  });

  it('shows a vehicle whose baseline still learns grey "learning" when normal, red when anomalous, blue once learned', () => {
    const s = new LiveState();
    const score = (startMs: number, anomalous: boolean, status: 'learning' | 'learned', progress: number) =>
      s.apply({ type: 'score', vehicle: 'new', startMs, endMs: startMs + 30_000, score: anomalous ? 0.99 : 0.1, threshold: 0.9, anomalous, modelVersion: 3, baseline: { status, progress } });
    score(0, false, 'learning', 0.4);
    expect(s.snapshot().vehicles[0]).toMatchObject({ state: 'learning', baseline: { status: 'learning', progress: 0.4 } });
    score(30_000, true, 'learning', 0.41);
    expect(s.snapshot().vehicles[0]!.state).toBe('anomalous');
    score(60_000, false, 'learned', 1);
    expect(s.snapshot().vehicles[0]!.state).toBe('healthy');
  });

  it('keeps a vehicle\'s diagnosis apart from the model\'s verdict: a dtc or mil alert neither reddens nor clears the tile', () => {
    const s = new LiveState();
    s.apply({ type: 'score', vehicle: 'm', startMs: 0, endMs: 30_000, score: 0.1, threshold: 0.5, anomalous: false, modelVersion: 1 });
    const codes = [{ code: 'P0301', kind: 'confirmed' as const, description: 'Cylinder 1 misfire detected', firstSeenMs: 5000, freezeFrame: { RPM: 800 } }];
    s.apply({ type: 'health', vehicle: 'm', t: 5000, mil: true, milOnSinceMs: 5000, codes });
    s.apply({ type: 'alert', alert: { ...alert('m', 'raised', 5000), kind: 'mil', alertId: 'm:mil:5000' } });
    expect(s.snapshot().vehicles[0]).toMatchObject({ state: 'healthy', health: { mil: true, milOnSinceMs: 5000, codes } });
    expect(s.snapshot().alerts[0]).toMatchObject({ kind: 'mil', state: 'raised' });
    s.apply({ type: 'alert', alert: alert('m', 'raised', 30_000) });
    s.apply({ type: 'alert', alert: { ...alert('m', 'cleared', 6000), kind: 'dtc', alertId: 'm:dtc:P0301:5000' } });
    expect(s.snapshot().vehicles[0]).toMatchObject({ state: 'anomalous', alerting: true });
    // An older health event (a replay) does not overwrite a newer one.
    s.apply({ type: 'health', vehicle: 'm', t: 4000, mil: false, codes: [] });
    expect(s.snapshot().vehicles[0]!.health).toMatchObject({ mil: true, t: 5000 });
  });

  it('hands out only what changed, once, with the samples since the last delta', () => {
    const s = new LiveState({ samplesPerVehicle: 3 });
    expect(s.takeDelta(0)).toBeUndefined();
    s.apply({ type: 'samples', vehicle: 'a', samples: [1, 2, 3, 4, 5].map((t) => ({ t, RPM: t * 100 })) });
    s.apply({ type: 'samples', vehicle: 'b', samples: [{ t: 1, SPEED: 10 }] });
    const d = s.takeDelta(0)!;
    expect(d.vehicles!.map((v) => v.id)).toEqual(['a', 'b']);
    expect(d.vehicles![0]!.samples!.map((x) => x[0])).toEqual([3, 4, 5]);
    expect(s.stats().samplesDropped).toBe(2);
    expect(s.takeDelta(0)).toBeUndefined();
    s.apply({ type: 'samples', vehicle: 'b', samples: [{ t: 2, SPEED: 11 }] });
    expect(s.takeDelta(0)!.vehicles!.map((v) => v.id)).toEqual(['b']);
  });

  it('bounds vehicles, alerts and threats, and expires blocks', () => {
    const s = new LiveState({ maxVehicles: 2, maxAlerts: 2, maxThreats: 2 });
    for (const v of ['a', 'b', 'c']) s.apply({ type: 'samples', vehicle: v, samples: [{ t: 1 }] });
    expect(s.snapshot().vehicles.map((v) => v.id)).toEqual(['b', 'c']);
    expect(s.takeDelta(0)!.removedVehicles).toEqual(['a']);
    expect(s.stats().vehiclesEvicted).toBe(1);
    for (const [i, v] of ['b', 'c', 'b'].entries()) s.apply({ type: 'alert', alert: alert(v, 'raised', i * 30_000) });
    expect(s.snapshot().alerts.map((a) => a.alertId)).toEqual(['c:30000', 'b:60000']);
    const threat = (subject: string, blockUntilMs: number) => ({ type: 'threat' as const, source: 'x', rule: 'ip_burst', kind: 'ip', subject, count: 300, threshold: 300, windowMs: 10_000, firstMs: 0, lastMs: 1, blockUntilMs });
    s.apply(threat('10.0.0.1', 5000));
    s.apply(threat('10.0.0.2', 9000));
    s.apply(threat('10.0.0.3', 8000));
    expect(s.snapshot(0).threats.map((t) => t.subject).sort()).toEqual(['10.0.0.2', '10.0.0.3']);
    expect(s.stats().threatsDropped).toBe(1);
    s.takeDelta(0);
    expect(s.takeDelta(8500)!.expiredThreats).toEqual(['ip_burst|10.0.0.3']);
    expect(s.snapshot(8500).threats.map((t) => t.subject)).toEqual(['10.0.0.2']);
  });

  it('counts API requests per country over its window by arrival time', () => {
    const s = new LiveState({ apiWindowMs: 10_000 });
    const traffic = (requests: number, errors: number) => ({ type: 'api_traffic' as const, source: 'x', lastMs: 0, countries: [{ country: 'FR', requests, errors, lat: 48.9, lon: 2.3 }] });
    s.apply(traffic(5, 1), 100_000);
    s.apply(traffic(3, 3), 105_000);
    expect(s.takeDelta(105_000)!.countries).toEqual([{ country: 'FR', requests: 8, errors: 4, lat: 48.9, lon: 2.3 }]);
    expect(s.takeDelta(105_500)).toBeUndefined();
    // The first second falls out of the window.
    expect(s.takeDelta(110_000)!.countries).toEqual([{ country: 'FR', requests: 3, errors: 3, lat: 48.9, lon: 2.3 }]);
    expect(s.countryPosition('FR')).toEqual({ lat: 48.9, lon: 2.3 });
  });
});
