/**
 * The ECU's on-board diagnostics, simplified from how OBD-II monitors work: each monitor has
 * enable conditions and a failure condition with a debounce; a failing drive cycle (trip) sets
 * the code *pending*, a second consecutive failing trip *confirms* (stores) it and lights the
 * MIL; a trip in which the monitor ran and passed clears the pending code, and 40 passing trips
 * erase a stored one. Monitors look only at what the ECU can see (its sensors), never at the
 * fault's severity, so codes appear late — once the physics has drifted past the thresholds.
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

interface MonitorState {
  readonly code: string;
  ran: boolean;
  failed: boolean;
  failedLastTrip: boolean;
  pending: boolean;
  stored: boolean;
  passingTrips: number;
}

export interface TripStart {
  coolantC: number;
  ambientC: number;
}

export class EcuMonitors {
  private readonly monitors = new Map<string, MonitorState>();
  private trip: TripStart = { coolantC: 20, ambientC: 20 };
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
      this.monitors.set(code, { code, ran: false, failed: false, failedLastTrip: false, pending: false, stored: false, passingTrips: 0 });
    }
  }

  startTrip(start: TripStart): void {
    this.trip = start;
    this.leanS = this.closedLoopS = this.overTempS = this.lowVoltS = this.mafBadS = this.mafCheckedS = 0;
    this.blockRevs = this.blockMisfires = this.blockCombustions = this.failedBlocks = 0;
    this.maxCoolantC = start.coolantC;
    for (const m of this.monitors.values()) {
      m.ran = false;
      m.failed = false;
    }
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
    if (this.trip.coolantC < 50 && this.trip.ambientC > -7 && o.runTimeS >= 1200 && !this.monitors.get('P0128')!.ran) {
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
        if (m.stored && ++m.passingTrips >= 40) m.stored = false;
      }
    }
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

  get milOn(): boolean {
    for (const m of this.monitors.values()) if (m.stored) return true;
    return false;
  }

  private ran(code: string): void {
    this.monitors.get(code)!.ran = true;
  }

  private fail(code: string): void {
    const m = this.monitors.get(code)!;
    m.ran = true;
    if (m.failed) return;
    m.failed = true;
    m.pending = true;
    if (m.failedLastTrip) m.stored = true; // second consecutive failing trip confirms
  }
}
