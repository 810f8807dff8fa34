/**
 * The clock options of `fleetpulse ingest` (merged into its option table; they apply to telemetry
 * and to API log lines alike) and the settings they make. Defaults are documented in docs/ingest.md.
 */
import { opt, type ConfigOf } from '../../common/config.ts';
import { DEFAULT_CLOCK_BOUNDS, type ClockBounds } from './clock-sanity.ts';
import type { JumpGateOptions } from '../../common/windows/clock-jump-gate.ts';

const DAY_MS = 86_400_000;

export type ClockSanityOptions = ClockBounds & JumpGateOptions;

export const DEFAULT_CLOCK_SANITY: ClockSanityOptions = { ...DEFAULT_CLOCK_BOUNDS, maxJumpMs: 300_000, confirmItems: 5 };

export const clockOptions = {
  clockMaxAheadS: opt.int('Event times further ahead of the receive time than this are dead-lettered (clock_skew), seconds', { default: DEFAULT_CLOCK_SANITY.maxAheadMs / 1000, min: 1, max: 86_400 }),
  clockMaxAgeDays: opt.int('Event times older than this when received are dead-lettered (clock_skew), days', { default: DEFAULT_CLOCK_SANITY.maxAgeMs / DAY_MS, min: 1, max: 36_500 }),
  clockJumpS: opt.int('A vehicle (log source) jumping further ahead of its own newest event time than this is followed once clockJumpConfirm consistent samples confirm the jump, seconds', { default: DEFAULT_CLOCK_SANITY.maxJumpMs / 1000, min: 1, max: 86_400 }),
  clockJumpConfirm: opt.int('Consistent samples (log lines) that confirm a forward clock jump', { default: DEFAULT_CLOCK_SANITY.confirmItems, min: 1, max: 1000 }),
};

export type ClockConfig = ConfigOf<typeof clockOptions>;

export function clockSanityOf(config: ClockConfig): ClockSanityOptions {
  return { maxAheadMs: config.clockMaxAheadS * 1000, maxAgeMs: config.clockMaxAgeDays * DAY_MS, maxJumpMs: config.clockJumpS * 1000, confirmItems: config.clockJumpConfirm };
}
