import { describe, expect, it } from 'vitest';
import { inQuietHours, quietHoursEnd } from './quiet-hours.ts';

describe('quiet hours', () => {
  const berlin = { start: '22:00', end: '07:00', timeZone: 'Europe/Berlin' };

  it('spans midnight in the zone, not in UTC', () => {
    // 2026-01-15 21:30 UTC is 22:30 in Berlin (CET, UTC+1): quiet; 20:30 UTC is 21:30 there: not.
    expect(inQuietHours(berlin, Date.parse('2026-01-15T21:30:00Z'))).toBe(true);
    expect(inQuietHours(berlin, Date.parse('2026-01-15T20:30:00Z'))).toBe(false);
    // 05:59 UTC = 06:59 Berlin: quiet; 06:00 UTC = 07:00: over.
    expect(inQuietHours(berlin, Date.parse('2026-01-16T05:59:00Z'))).toBe(true);
    expect(inQuietHours(berlin, Date.parse('2026-01-16T06:00:00Z'))).toBe(false);
  });

  it('ends at the local end time, also across a daylight-saving change', () => {
    expect(quietHoursEnd(berlin, Date.parse('2026-01-15T21:30:00Z'))).toBe(Date.parse('2026-01-16T06:00:00Z'));
    // The night of 2026-03-29 the clocks go forward: 07:00 CEST is 05:00 UTC.
    expect(quietHoursEnd(berlin, Date.parse('2026-03-28T23:00:00Z'))).toBe(Date.parse('2026-03-29T05:00:00Z'));
    const outside = Date.parse('2026-01-15T12:00:00Z');
    expect(quietHoursEnd(berlin, outside)).toBe(outside);
  });

  it('handles a daytime span and an empty one', () => {
    const lunch = { start: '12:00', end: '13:00', timeZone: 'UTC' };
    expect(inQuietHours(lunch, Date.parse('2026-01-15T12:30:00Z'))).toBe(true);
    expect(inQuietHours(lunch, Date.parse('2026-01-15T13:00:00Z'))).toBe(false);
    expect(inQuietHours({ start: '08:00', end: '08:00', timeZone: 'UTC' }, Date.parse('2026-01-15T08:00:00Z'))).toBe(false);
  });
});
