/**
 * Per vehicle and code, the history of its trouble codes as the vehicle health events tell it
 * (contracts/vehicle-health.ts): each time a code is listed under a kind (pending, confirmed,
 * permanent) an *episode* starts — first seen, last seen, the freeze frame the ECU held for it,
 * the counters then — and it ends (cleared) with the first event whose list of that kind no
 * longer has it, with the counters (mileage, run time) at that moment where the car reports them.
 * The MIL is tracked beside the codes.
 *
 * Guarantees:
 * - Pure and synchronous; nothing here does I/O. The state is a plain value (`toState`) and comes
 *   back with `HealthHistory.fromState`, which refuses a malformed state with a reason instead of
 *   guessing.
 * - Idempotent per event: an event neither newer by seq nor by event time than the last one applied
 *   for its vehicle (a redelivery, the agent's retained snapshot seen again) changes nothing and
 *   is reported `duplicate`. A list the event does not know (`null`) leaves that kind's episodes
 *   as they are; an unknown MIL leaves the MIL as it was.
 * - Bounded: at most `maxVehicles` vehicles (the least recently updated is forgotten beyond,
 *   counted) and `maxClearedPerVehicle` ended episodes per vehicle (the oldest go, counted);
 *   active episodes are bounded by the contract (127 codes per list).
 */
import { z } from 'zod';
import type { FreezeFrame, HealthCounters, VehicleHealthEvent } from '../../contracts/vehicle-health.ts';

export const DTC_KINDS = ['pending', 'confirmed', 'permanent'] as const;
export type DtcKind = (typeof DTC_KINDS)[number];

export interface DtcEpisode {
  code: string;
  kind: DtcKind;
  /** Event time and seq of the first event that listed the code under this kind. */
  firstSeenMs: number;
  firstSeq: number;
  /** The newest event that listed it. */
  lastSeenMs: number;
  lastSeq: number;
  /** The first event that no longer listed it; absent while it is listed. */
  clearedMs?: number;
  clearedSeq?: number;
  /** The freeze frame the ECU held for this code while it was listed (confirmed codes). */
  freezeFrame?: FreezeFrame;
  countersAtFirstSeen?: HealthCounters;
  countersAtClear?: HealthCounters;
}

export interface VehicleHealthHistory {
  lastSeq: number;
  lastT: number;
  /** Last known MIL (an unknown MIL leaves it). */
  mil: boolean | null;
  /** Event time the MIL came on, while it is on. */
  milOnSinceMs?: number;
  /** Listed now, by `${kind}:${code}`. */
  active: Record<string, DtcEpisode>;
  /** Ended, oldest first. */
  cleared: DtcEpisode[];
}

/** What one event changed. */
export interface HealthChange {
  vehicle: string;
  status: 'applied' | 'duplicate';
  /** Episodes that started with this event. */
  started: DtcEpisode[];
  /** Episodes still listed (last seen moved to this event). */
  continued: DtcEpisode[];
  /** Episodes this event ended. */
  ended: DtcEpisode[];
  mil: { before: boolean | null; after: boolean | null; onSinceMs?: number };
}

export interface HealthHistoryOptions {
  maxVehicles?: number;
  maxClearedPerVehicle?: number;
}

export interface HealthHistoryCounters {
  vehicles: number;
  eventsApplied: number;
  duplicates: number;
  vehiclesForgotten: number;
  clearedEpisodesDropped: number;
}

export interface HealthHistoryState {
  version: 1;
  vehicles: Record<string, VehicleHealthHistory>;
}

const key = (kind: DtcKind, code: string): string => `${kind}:${code}`;

export class HealthHistory {
  private readonly vehicles: Map<string, VehicleHealthHistory>;
  private readonly maxVehicles: number;
  private readonly maxCleared: number;
  private counters = { eventsApplied: 0, duplicates: 0, vehiclesForgotten: 0, clearedEpisodesDropped: 0 };

  constructor(options: HealthHistoryOptions = {}, vehicles = new Map<string, VehicleHealthHistory>()) {
    this.maxVehicles = options.maxVehicles ?? 200_000;
    this.maxCleared = options.maxClearedPerVehicle ?? 32;
    if (!(this.maxVehicles >= 1 && this.maxCleared >= 0)) throw new RangeError('maxVehicles must be ≥ 1 and maxClearedPerVehicle ≥ 0');
    this.vehicles = vehicles;
  }

  /** A history from `toState`'s value; `ok: false` with the reason for anything else. */
  static fromState(state: unknown, options: HealthHistoryOptions = {}): { ok: true; history: HealthHistory } | { ok: false; reason: string } {
    const parsed = stateSchema.safeParse(state);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return { ok: false, reason: `${issue.path.join('.') || '(root)'}: ${issue.message}` };
    }
    return { ok: true, history: new HealthHistory(options, new Map(Object.entries(parsed.data.vehicles) as Array<[string, VehicleHealthHistory]>)) };
  }

  toState(): HealthHistoryState {
    return { version: 1, vehicles: structuredClone(Object.fromEntries(this.vehicles)) };
  }

  /** The vehicle's history (a copy), or undefined. */
  vehicle(id: string): VehicleHealthHistory | undefined {
    const v = this.vehicles.get(id);
    return v ? structuredClone(v) : undefined;
  }

  stats(): HealthHistoryCounters {
    return { vehicles: this.vehicles.size, ...this.counters };
  }

  apply(event: VehicleHealthEvent): HealthChange {
    let v = this.vehicles.get(event.vehicle);
    const change: HealthChange = { vehicle: event.vehicle, status: 'applied', started: [], continued: [], ended: [], mil: { before: v?.mil ?? null, after: v?.mil ?? null } };
    if (v && event.seq <= v.lastSeq && event.t <= v.lastT) {
      this.counters.duplicates += 1;
      return { ...change, status: 'duplicate' };
    }
    if (v) this.vehicles.delete(event.vehicle); // map order = least recently updated first
    else v = { lastSeq: -1, lastT: -Infinity, mil: null, active: {}, cleared: [] };
    this.vehicles.set(event.vehicle, v);
    this.forgetBeyondBound();
    v.lastSeq = Math.max(v.lastSeq, event.seq);
    v.lastT = Math.max(v.lastT, event.t);
    this.counters.eventsApplied += 1;

    for (const kind of DTC_KINDS) {
      const listed = event[kind];
      if (listed === null) continue;
      const now = new Set(listed);
      for (const [k, episode] of Object.entries(v.active)) {
        if (episode.kind !== kind || now.has(episode.code)) continue;
        delete v.active[k];
        episode.clearedMs = event.t;
        episode.clearedSeq = event.seq;
        if (Object.keys(event.counters).length > 0) episode.countersAtClear = { ...event.counters };
        v.cleared.push(episode);
        change.ended.push(structuredClone(episode));
      }
      for (const code of listed) {
        const k = key(kind, code);
        let episode = v.active[k];
        const started = !episode;
        if (!episode) {
          episode = { code, kind, firstSeenMs: event.t, firstSeq: event.seq, lastSeenMs: event.t, lastSeq: event.seq };
          if (Object.keys(event.counters).length > 0) episode.countersAtFirstSeen = { ...event.counters };
          v.active[k] = episode;
        }
        episode.lastSeenMs = event.t;
        episode.lastSeq = event.seq;
        if (kind === 'confirmed' && event.freezeFrame?.dtc === code) episode.freezeFrame = structuredClone(event.freezeFrame);
        (started ? change.started : change.continued).push(structuredClone(episode));
      }
    }
    while (v.cleared.length > this.maxCleared) {
      v.cleared.shift();
      this.counters.clearedEpisodesDropped += 1;
    }

    if (event.mil !== null) {
      if (event.mil && v.mil !== true) v.milOnSinceMs = event.t;
      const onSince = v.milOnSinceMs;
      if (!event.mil) delete v.milOnSinceMs;
      v.mil = event.mil;
      change.mil = { before: change.mil.before, after: event.mil, ...(onSince !== undefined ? { onSinceMs: onSince } : {}) };
    }
    return change;
  }

  private forgetBeyondBound(): void {
    while (this.vehicles.size > this.maxVehicles) {
      const oldest = this.vehicles.keys().next().value!;
      this.vehicles.delete(oldest);
      this.counters.vehiclesForgotten += 1;
    }
  }
}

// ---- state validation --------------------------------------------------------------------------

const counterValues = z.record(z.string(), z.number());
const episodeSchema = z.object({
  code: z.string(),
  kind: z.enum(DTC_KINDS),
  firstSeenMs: z.number(),
  firstSeq: z.number().int(),
  lastSeenMs: z.number(),
  lastSeq: z.number().int(),
  clearedMs: z.number().optional(),
  clearedSeq: z.number().int().optional(),
  freezeFrame: z.object({ dtc: z.string(), frame: z.number().int(), signals: z.record(z.string(), z.number()) }).optional(),
  countersAtFirstSeen: counterValues.optional(),
  countersAtClear: counterValues.optional(),
});
const stateSchema = z.object({
  version: z.literal(1),
  vehicles: z.record(
    z.string(),
    z.object({
      lastSeq: z.number().int(),
      lastT: z.number(),
      mil: z.boolean().nullable(),
      milOnSinceMs: z.number().optional(),
      active: z.record(z.string(), episodeSchema),
      cleared: z.array(episodeSchema),
    }),
  ),
});
