import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AlertStateFile } from '../../ingest/alerts/alert-state-file.ts';
import { HysteresisAlertTracker } from '../../ingest/alerts/alert-tracker.ts';

const W = 30_000;

describe('HysteresisAlertTracker', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'fleetpulse-alert-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('raises after N anomalous windows in a row and clears after M normal ones, only on changes', () => {
    const t = new HysteresisAlertTracker({ raiseAfter: 3, clearAfter: 2 });
    const states = [...'AANAAAAANANNAAA'].map((c, i) => t.observe('v', i * W, c === 'A')?.state);
    expect(states.map((s, i) => (s ? `${i}:${s}` : '')).filter(Boolean)).toEqual(['5:raised', '11:cleared', '14:raised']);
    expect(t.stats()).toMatchObject({ raised: 2, cleared: 1, alerting: 1 });
  });

  it('ignores windows at or before the last counted one (replay)', () => {
    const t = new HysteresisAlertTracker({ raiseAfter: 2, clearAfter: 2 });
    expect(t.observe('v', 0, true)).toBeUndefined();
    expect(t.observe('v', 0, true)).toBeUndefined();
    expect(t.observe('v', -W, true)).toBeUndefined();
    expect(t.observe('v', W, true)?.state).toBe('raised');
    expect(t.stats().replayedWindows).toBe(2);
  });

  it('persists state atomically so a new tracker neither repeats nor forgets an alert', () => {
    const path = join(tmp(), 'sub', 'state.json');
    const a = new HysteresisAlertTracker({ raiseAfter: 2, clearAfter: 2, stateFile: new AlertStateFile(path), persistIntervalMs: 0 });
    a.observe('v', 0, true);
    expect(a.observe('v', W, true)?.state).toBe('raised');
    expect(existsSync(path)).toBe(true);
    expect(existsSync(`${path}.tmp`)).toBe(false);
    a.close();
    const b = new HysteresisAlertTracker({ raiseAfter: 2, clearAfter: 2, stateFile: new AlertStateFile(path), persistIntervalMs: 0 });
    expect(b.isAlerting('v')).toBe(true);
    expect(b.observe('v', W, true)).toBeUndefined(); // replayed window
    expect(b.observe('v', 2 * W, true)).toBeUndefined();
    expect(b.observe('v', 3 * W, true)).toBeUndefined(); // still raised: no repeat
    expect(b.observe('v', 4 * W, false)).toBeUndefined();
    expect(b.observe('v', 5 * W, false)?.state).toBe('cleared');
    expect(JSON.parse(readFileSync(path, 'utf8')).vehicles.v).toMatchObject({ alerting: false, lastStartMs: 5 * W });
  });

  it('starts empty from a corrupt state file', () => {
    const path = join(tmp(), 'state.json');
    writeFileSync(path, '{"schema":');
    const t = new HysteresisAlertTracker({ raiseAfter: 1, clearAfter: 1, stateFile: new AlertStateFile(path), persistIntervalMs: 0 });
    expect(t.stats().vehicles).toBe(0);
    expect(t.observe('v', 0, true)?.state).toBe('raised');
  });

  it('keeps at most maxVehicles states, forgetting non-alerting vehicles first', () => {
    const t = new HysteresisAlertTracker({ raiseAfter: 1, clearAfter: 1, maxVehicles: 3 });
    t.observe('alerting', 0, true);
    for (let i = 0; i < 5; i++) t.observe(`quiet-${i}`, 0, false);
    expect(t.stats()).toMatchObject({ vehicles: 3, forgotten: 3, alerting: 1 });
    expect(t.isAlerting('alerting')).toBe(true);
  });
});
