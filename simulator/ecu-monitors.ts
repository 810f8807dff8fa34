/**
 * The ECU's on-board diagnostics, simplified from how OBD-II monitors work: each monitor has
 * enable conditions and a failure condition with a debounce; a failing drive cycle (trip) sets
 * the code *pending*, a second consecutive failing trip *confirms* (stores) it and lights the
 * MIL; a trip in which the monitor ran and passed clears the pending code, and 40 passing trips
 * erase a stored one. Monitors look only at what the ECU can see (its sensors), never at the
 * fault's severity, so codes appear late — once the physics has drifted past the thresholds.
 *
 * Beside the codes, what a scan tool reads from a real ECU:
 * - **Permanent codes** (service 0A): a confirmed code is also permanent. A clear (service 04)
 *   erases confirmed and pending codes but not permanent ones; a permanent code goes once its
 *   monitor has run and passed a whole trip while the code is no longer confirmed (or with the
 *   confirmed code after 40 passing trips).
 * - **Freeze frame** (service 02, frame 0): the signals at the moment the first code was
 *   confirmed, and that code; kept until a clear or until no code is confirmed any more. The
 *   owner captures the signals when `freezeFrameWanted` names a code (the monitors cannot read
 *   sensors themselves).
 * - **Readiness** (service 01 PID 01): per monitor group, whether it has run to completion since
 *   the last clear. Besides the groups of the code monitors (misfire, fuel system, components)
 *   the catalyst, oxygen sensor and oxygen sensor heater monitors run under their own enable
 *   conditions and never fail here (no simulated fault sets their codes).
 * - **Clear** (service 04): codes, freeze frame, readiness and the monitors' debounce start over;
 *   a fault that persists fails its monitor again (pending after the debounce, confirmed with the
 *   MIL in the next failing trip). Nothing here draws random numbers, so a clear or a read changes
 *   no other part of the simulation.
 */

/** What the ECU sees in one step (all values as its sensors report them). */
export interface EcuObservation {
  dtS: number;
  rpm: number;
  speedKmh: number;
  coolantC: number;
  voltageV: number;
  /** STFT + LTFT in %. */
  totalTrimPct: number;
  closedLoop: boolean;
  /** Misfires seen by crank-speed analysis in this step, and combustion events in it. */
  misfires: number;
  combustions: number;
  /** Measured/expected air from the MAF plausibility model (MAF engines); NaN when not checked. */
  mafPlausibility: number;
  steadyCruise: boolean;
  runTimeS: number;
}

export interface ActiveDtcs {
  /** Confirmed codes (service 03); the MIL is on while any is present. */
  stored: string[];
  /** Codes that failed in this or the last trip (service 07). */
  pending: string[];
}

/** Readiness groups the simulated ECU supports (names as contracts/vehicle-health.ts has them). */
export const SIMULATED_MONITOR_GROUPS = ['MISFIRE', 'FUEL_SYSTEM', 'COMPONENTS', 'CATALYST', 'OXYGEN_SENSOR', 'OXYGEN_SENSOR_HEATER'] as const;
export type SimulatedMonitorGroup = (typeof SIMULATED_MONITOR_GROUPS)[number];

/** The freeze frame (frame 0): the code that stored it, when, and the signals then. */
export interface StoredFreezeFrame<Signals> {
  code: string;
  atMs: number;
  signals: Signals;
}

/** Everything the ECU's diagnosis holds, as services 01 (PID 01), 02, 03, 07 and 0A report it. */
export interface EcuDiagnosis extends ActiveDtcs {
  /** Permanent codes (service 0A): survive a clear until their monitor passes. */
  permanent: string[];
  milOn: boolean;
  /** Per supported group: has it run to completion since the last clear? */
  readiness: Record<SimulatedMonitorGroup, boolean>;
}

interface MonitorState {
  readonly code: string;
  readonly group: SimulatedMonitorGroup;
  /** Ran / failed in the current trip, since its start or the last clear, whichever is later. */
  ran: boolean;
  failed: boolean;
  failedLastTrip: boolean;
  pending: boolean;
  stored: boolean;
  permanent: boolean;
  passingTrips: number;
}

/** Which readiness group a code's monitor belongs to. */
function groupOf(code: string): SimulatedMonitorGroup {
  if (code.startsWith('P030')) return 'MISFIRE';
  if (code === 'P0171') return 'FUEL_SYSTEM';
  return 'COMPONENTS';
}

export interface TripStart {
  coolantC: number;
  ambientC: number;
}

export class EcuMonitors<Signals = unknown> {
  private readonly monitors = new Map<string, MonitorState>();
  private trip: TripStart = { coolantC: 20, ambientC: 20 };
  /** P0128 is judged once per cold start; a clear does not make it judge the same trip again. */
  private thermostatJudged = false;
  private readonly completeSinceClear = new Set<SimulatedMonitorGroup>();
  // Enable-condition time of the readiness-only monitors, since the trip start or the last clear.
  private catalystCruiseS = 0;
  private freezeFrame: StoredFreezeFrame<Signals> | undefined;
  /** A code confirmed while no freeze frame was held: the owner should capture one. */
  private frameWanted: string | undefined;
  // Per-trip accumulators.
  private leanS = 0;
  private closedLoopS = 0;
  private overTempS = 0;
  private lowVoltS = 0;
  private mafBadS = 0;
  private mafCheckedS = 0;
  private blockRevs = 0;
  private blockMisfires = 0;
  private blockCombustions = 0;
  private failedBlocks = 0;
  private maxCoolantC = -40;

  constructor(
    private readonly misfireCode: string,
    private readonly hasMaf: boolean,
  ) {
    for (const code of ['P0171', misfireCode, 'P0128', 'P0217', 'P0562', ...(hasMaf ? ['P0101'] : [])]) {
      this.monitors.set(code, { code, group: groupOf(code), ran: false, failed: false, failedLastTrip: false, pending: false, stored: false, permanent: false, passingTrips: 0 });
    }
  }

  startTrip(start: TripStart): void {
    this.trip = start;
    this.thermostatJudged = false;
    this.maxCoolantC = start.coolantC;
    this.restartDebounce();
  }

  /** Per-trip accumulators and ran/failed flags back to zero: at a trip start and at a clear. */
  private restartDebounce(): void {
    this.leanS = this.closedLoopS = this.overTempS = this.lowVoltS = this.mafBadS = this.mafCheckedS = 0;
    this.blockRevs = this.blockMisfires = this.blockCombustions = this.failedBlocks = 0;
    this.catalystCruiseS = 0;
    for (const m of this.monitors.values()) {
      m.ran = false;
      m.failed = false;
    }
  }

  /**
   * Service 04: confirmed and pending codes, the freeze frame and readiness are erased and the
   * monitors' debounce starts over; permanent codes stay (see the module comment).
   */
  clear(): void {
    for (const m of this.monitors.values()) {
      m.pending = false;
      m.stored = false;
      m.failedLastTrip = false;
      m.passingTrips = 0;
    }
    this.restartDebounce();
    this.completeSinceClear.clear();
    this.freezeFrame = undefined;
    this.frameWanted = undefined;
  }

  observe(o: EcuObservation): void {
    if (o.rpm < 300) return; // engine not running: monitors are disabled
    this.maxCoolantC = Math.max(this.maxCoolantC, o.coolantC);

    // P0171 system too lean: the trims together at their adaptive limit, in closed loop.
    if (o.closedLoop) {
      this.closedLoopS += o.dtS;
      if (o.totalTrimPct > 24) this.leanS += o.dtS;
      if (this.closedLoopS > 120) this.ran('P0171');
      if (this.leanS > 45) this.fail('P0171');
    }

    // Readiness-only monitors: the O2 heater once the engine has run a minute, the O2 sensor after
    // a minute in closed loop, the catalyst after two minutes of warm steady cruise.
    if (o.runTimeS > 60) this.completeSinceClear.add('OXYGEN_SENSOR_HEATER');
    if (this.closedLoopS > 60) this.completeSinceClear.add('OXYGEN_SENSOR');
    if (o.steadyCruise && o.closedLoop && o.coolantC >= 70) this.catalystCruiseS += o.dtS;
    if (this.catalystCruiseS > 120) this.completeSinceClear.add('CATALYST');

    // Misfire: crank-speed analysis in blocks of 1000 revolutions; > 2 % misfires fails a block.
    this.blockRevs += (o.rpm / 60) * o.dtS;
    this.blockMisfires += o.misfires;
    this.blockCombustions += o.combustions;
    if (this.blockRevs >= 1000) {
      this.ran(this.misfireCode);
      if (this.blockMisfires > 0.02 * this.blockCombustions) this.failedBlocks++;
      if (this.failedBlocks >= 2) this.fail(this.misfireCode);
      this.blockRevs = this.blockMisfires = this.blockCombustions = 0;
    }

    // P0128 coolant below thermostat regulating temperature: a cold start that has run 20 min
    // and still has not reached 76 °C.
    if (this.trip.coolantC < 50 && this.trip.ambientC > -7 && o.runTimeS >= 1200 && !this.thermostatJudged) {
      this.thermostatJudged = true;
      this.ran('P0128');
      if (this.maxCoolantC < 76) this.fail('P0128');
    }

    // P0217 engine over temperature.
    if (o.runTimeS > 60) this.ran('P0217');
    if (o.coolantC >= 113) this.overTempS += o.dtS;
    if (this.overTempS > 5) this.fail('P0217');

    // P0562 system voltage low, with the engine running above idle.
    if (o.runTimeS > 30) this.ran('P0562');
    if (o.voltageV < 11.8 && o.runTimeS > 30) this.lowVoltS += o.dtS;
    if (this.lowVoltS > 30) this.fail('P0562');

    // P0101 MAF range/performance: measured air off the modelled air by > 25 % while cruising.
    if (this.hasMaf && o.steadyCruise && Number.isFinite(o.mafPlausibility)) {
      this.mafCheckedS += o.dtS;
      if (Math.abs(o.mafPlausibility - 1) > 0.25) this.mafBadS += o.dtS;
      if (this.mafCheckedS > 60) this.ran('P0101');
      if (this.mafBadS > 60) this.fail('P0101');
    }
  }

  endTrip(): void {
    for (const m of this.monitors.values()) {
      if (!m.ran) continue;
      if (m.failed) {
        m.failedLastTrip = true;
        m.passingTrips = 0;
      } else {
        m.pending = false;
        m.failedLastTrip = false;
        // A permanent code no longer confirmed (cleared) goes with the first passing trip.
        if (m.permanent && !m.stored) m.permanent = false;
        if (m.stored && ++m.passingTrips >= 40) m.stored = m.permanent = false;
      }
    }
    if (this.freezeFrame && !this.milOn) this.freezeFrame = undefined;
  }

  dtcs(): ActiveDtcs {
    const stored: string[] = [];
    const pending: string[] = [];
    for (const m of this.monitors.values()) {
      if (m.stored) stored.push(m.code);
      if (m.pending) pending.push(m.code);
    }
    return { stored, pending };
  }

  /** Codes, permanent codes, MIL and readiness (the freeze frame: `storedFreezeFrame`). */
  diagnosis(): EcuDiagnosis {
    const permanent: string[] = [];
    for (const m of this.monitors.values()) if (m.permanent) permanent.push(m.code);
    const readiness = Object.fromEntries(SIMULATED_MONITOR_GROUPS.map((g) => [g, this.completeSinceClear.has(g)])) as Record<SimulatedMonitorGroup, boolean>;
    return { ...this.dtcs(), permanent, milOn: this.milOn, readiness };
  }

  get milOn(): boolean {
    for (const m of this.monitors.values()) if (m.stored) return true;
    return false;
  }

  /** The code a freeze frame should be captured for now, if any (see `storeFreezeFrame`). */
  get freezeFrameWanted(): string | undefined {
    return this.frameWanted;
  }

  /** Stores frame 0 for the code `freezeFrameWanted` named, with the signals at this moment. */
  storeFreezeFrame(signals: Signals, atMs: number): void {
    if (this.frameWanted === undefined) return;
    this.freezeFrame = { code: this.frameWanted, atMs, signals };
    this.frameWanted = undefined;
  }

  get storedFreezeFrame(): StoredFreezeFrame<Signals> | undefined {
    return this.freezeFrame;
  }

  private ran(code: string): void {
    const m = this.monitors.get(code)!;
    m.ran = true;
    this.completeSinceClear.add(m.group);
  }

  private fail(code: string): void {
    const m = this.monitors.get(code)!;
    this.ran(code);
    if (m.failed) return;
    m.failed = true;
    m.pending = true;
    if (m.failedLastTrip && !m.stored) {
      // Second consecutive failing trip confirms; the first confirmed code gets the freeze frame.
      m.stored = m.permanent = true;
      if (!this.freezeFrame && this.frameWanted === undefined) this.frameWanted = m.code;
    }
  }
}
