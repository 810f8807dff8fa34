/**
 * Per-vehicle alert hysteresis over scored windows.
 *
 * A vehicle's alert is raised after `raiseAfter` consecutive anomalous windows and cleared after
 * `clearAfter` consecutive normal ones; only these two state changes are reported. Windows of a
 * vehicle must come in closing order; one starting at or before the last counted window
 * (a replay) is ignored and counted.
 *
 * Persistence: the state is written (AlertStateFile) before a change is returned, so a change is
 * never reported twice across restarts; run counts in between are written every
 * `persistIntervalMs` and at `close`, so a crash can at worst delay a change by the windows of
 * that interval. Bounded: at most `maxVehicles` states; beyond, the least recently updated vehicle
 * that is not alerting is forgotten (counted), else the least recently updated one.
 */
import { errorMessage } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';
import { AlertStateFile, type VehicleAlertState } from './alert-state-file.ts';

export interface AlertTrackerOptions {
  raiseAfter: number;
  clearAfter: number;
  /** Without a file, state lives in memory only. */
  stateFile?: AlertStateFile;
  persistIntervalMs?: number;
  maxVehicles?: number;
  logger?: Logger;
}

export interface AlertChange {
  vehicle: string;
  state: 'raised' | 'cleared';
  alertId: string;
  /** Consecutive windows that led to the change. */
  windows: number;
  /** For `cleared`: the signals noted when it was raised (noteEvidence). */
  evidence?: readonly string[];
}

export interface AlertTrackerStats {
  vehicles: number;
  alerting: number;
  raised: number;
  cleared: number;
  replayedWindows: number;
  forgotten: number;
  persistFailures: number;
}

export class HysteresisAlertTracker {
  private readonly states: Map<string, VehicleAlertState>;
  private readonly log: Logger;
  private readonly maxVehicles: number;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private counters = { raised: 0, cleared: 0, replayedWindows: 0, forgotten: 0, persistFailures: 0 };

  constructor(private readonly options: AlertTrackerOptions) {
    if (!(options.raiseAfter >= 1 && options.clearAfter >= 1)) throw new RangeError('raiseAfter and clearAfter must be ≥ 1');
    this.log = options.logger ?? silentLogger;
    this.maxVehicles = options.maxVehicles ?? 200_000;
    this.states = options.stateFile?.read() ?? new Map();
    if (options.stateFile && options.persistIntervalMs !== 0) {
      this.timer = setInterval(() => this.persistIfDirty(), options.persistIntervalMs ?? 5000);
      this.timer.unref();
    }
  }

  /** Counts one scored window; returns the state change it causes, if any (already persisted). */
  observe(vehicle: string, startMs: number, anomalous: boolean): AlertChange | undefined {
    let st = this.states.get(vehicle);
    if (st && startMs <= st.lastStartMs) {
      this.counters.replayedWindows += 1;
      return undefined;
    }
    if (st) this.states.delete(vehicle);
    else st = { alerting: false, run: 0, lastStartMs: -Infinity };
    this.states.set(vehicle, st); // map order = least recently updated first
    st.lastStartMs = startMs;
    this.dirty = true;
    let change: AlertChange | undefined;
    if (!st.alerting) {
      st.run = anomalous ? st.run + 1 : 0;
      if (st.run >= this.options.raiseAfter) {
        const alertId = `${vehicle}:${startMs}`;
        change = { vehicle, state: 'raised', alertId, windows: st.run };
        Object.assign(st, { alerting: true, run: 0, alertId });
        this.counters.raised += 1;
      }
    } else {
      st.run = anomalous ? 0 : st.run + 1;
      if (st.run >= this.options.clearAfter) {
        change = { vehicle, state: 'cleared', alertId: st.alertId ?? `${vehicle}:unknown`, windows: st.run, ...(st.evidence ? { evidence: st.evidence } : {}) };
        st.alerting = false;
        st.run = 0;
        delete st.alertId;
        delete st.evidence;
        this.counters.cleared += 1;
      }
    }
    this.enforceBound();
    if (change) this.persist();
    return change;
  }

  /** Remembers which signals raised the vehicle's open alert (persisted with the next write). */
  noteEvidence(vehicle: string, features: readonly string[]): void {
    const st = this.states.get(vehicle);
    if (!st?.alerting) return;
    st.evidence = [...features].slice(0, 10);
    this.dirty = true;
  }

  /** The signals that raised the vehicle's open alert, when known. */
  evidenceOf(vehicle: string): readonly string[] {
    return this.states.get(vehicle)?.evidence ?? [];
  }

  isAlerting(vehicle: string): boolean {
    return this.states.get(vehicle)?.alerting ?? false;
  }

  stats(): AlertTrackerStats {
    let alerting = 0;
    for (const st of this.states.values()) if (st.alerting) alerting += 1;
    return { vehicles: this.states.size, alerting, ...this.counters };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.persistIfDirty();
  }

  private enforceBound(): void {
    while (this.states.size > this.maxVehicles) {
      let victim: string | undefined;
      for (const [vehicle, st] of this.states) {
        if (!st.alerting) {
          victim = vehicle;
          break;
        }
      }
      victim ??= this.states.keys().next().value;
      if (victim === undefined) return;
      this.states.delete(victim);
      this.counters.forgotten += 1;
    }
  }

  private persistIfDirty(): void {
    if (this.dirty) this.persist();
  }

  /** A failed write is logged and retried at the next interval; the change is still reported. */
  private persist(): void {
    if (!this.options.stateFile) return;
    try {
      this.options.stateFile.write(this.states);
      this.dirty = false;
    } catch (error) {
      this.counters.persistFailures += 1;
      this.log.error('alert state not persisted', { path: this.options.stateFile.path, error: errorMessage(error) });
    }
  }
}
