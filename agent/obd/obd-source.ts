/**
 * A TelemetrySource reading a real car through an ELM327 adapter: an Elm327Session on the serial
 * port, an ObdPoller on top, every answered request turned into one Sample with the signal names
 * and units of contracts/signals.ts.
 *
 * Guarantees: `start()` returns at once, adapter or not; the session connects and reconnects by
 * itself and samples flow whenever the car answers. Samples carry only signals of the catalogue,
 * within the catalogue's ranges (a PID the catalogue lacks is polled only if asked, and dropped
 * with a counter); `t` strictly increases. The car's diagnosis (health-requests.ts: MIL,
 * readiness, confirmed/pending/permanent codes, freeze frame, counters) is read every time the car
 * answers again (adapter (re)connected, ignition on) and every `healthIntervalMs` while it answers,
 * and handed to `onHealth`; the VIN is read once per adapter connection. Codes are logged when they
 * change and available from `status()`.
 */
import { ConfigError } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';
import { type SignalName, signalInfo } from '../../contracts/signals.ts';
import type { Sample } from '../../contracts/telemetry.ts';
import type { VehicleHealthState } from '../../contracts/vehicle-health.ts';
import type { HealthReading, TelemetrySource } from '../telemetry-source.ts';
import { readVehicleHealth } from './health-requests.ts';
import { pidByName, pidByNumber, scalarValue } from '../../contracts/obd/pid-table.ts';
import { Elm327Session, type Elm327SessionOptions, type SessionCounters, type SessionState } from './elm327-session.ts';
import { ObdPoller, type PollReading, type PollerCounters } from './obd-poller.ts';
import { readVin } from './obd-requests.ts';

export interface ObdSourceOptions extends Omit<Elm327SessionOptions, 'logger'> {
  fastPids: readonly string[];
  slowPids: readonly string[];
  fastHz: number;
  slowHz: number;
  multiPid?: boolean;
  /** How often the diagnosis is read while the car answers (ms); 0 = only when the car answers again (connection, ignition on). */
  healthIntervalMs?: number;
  logger?: Logger;
  /** The poller's clock (ObdPollerOptions `now`/`sleep`): sample times follow it. */
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface ObdSourceStatus {
  state: SessionState;
  adapter: string | undefined;
  protocol: string | undefined;
  vin: string | undefined;
  storedDtcs: readonly string[];
  pendingDtcs: readonly string[];
  /** The diagnosis last read (undefined before the first answer). */
  health: VehicleHealthState | undefined;
  /** Diagnosis reads done, and those the car did not answer (0101 unanswered). */
  healthReads: number;
  healthReadsUnanswered: number;
  samples: number;
  /** Values dropped because their PID has no signal in the catalogue or was out of its range. */
  droppedValues: number;
  session: SessionCounters;
  poller: PollerCounters;
}

/** The PIDs polled by default (defined with the signal catalogue, which the trainer's observer shares). */
export { DEFAULT_FAST_SIGNALS as DEFAULT_FAST_PIDS, DEFAULT_SLOW_SIGNALS as DEFAULT_SLOW_PIDS } from '../../contracts/signals.ts';

export class ObdSource implements TelemetrySource {
  readonly name = 'obd';
  readonly session: Elm327Session;
  readonly poller: ObdPoller;
  private readonly log: Logger;
  private onSample: ((sample: Sample) => void) | undefined;
  private onHealth: ((reading: HealthReading) => void) | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private readGeneration = -1;
  private vin: string | undefined;
  private storedDtcs: readonly string[] = [];
  private pendingDtcs: readonly string[] = [];
  private health: VehicleHealthState | undefined;
  private healthReads = 0;
  private healthReadsUnanswered = 0;
  /** A read was asked for while one ran (the car came back meanwhile): run once more after it. */
  private readAgain = false;
  private samples = 0;
  private droppedValues = 0;
  private lastT = 0;
  private readingDiagnostics = false;

  constructor(private readonly options: ObdSourceOptions) {
    this.log = (options.logger ?? silentLogger).child('obd');
    this.session = new Elm327Session({ ...options, logger: this.log });
    this.poller = new ObdPoller({
      session: this.session,
      fastPids: options.fastPids,
      slowPids: options.slowPids,
      fastHz: options.fastHz,
      slowHz: options.slowHz,
      ...(options.multiPid === undefined ? {} : { multiPid: options.multiPid }),
      onReading: (reading) => this.onReading(reading),
      logger: this.log,
      ...(options.now ? { now: options.now } : {}),
      ...(options.sleep ? { sleep: options.sleep } : {}),
    });
    // Ready again = the adapter (re)connected or the car answers again after ignition off.
    this.session.on('state', (state) => {
      if (state === 'ready') void this.readDiagnostics();
    });
  }

  async start(onSample: (sample: Sample) => void, onHealth?: (reading: HealthReading) => void): Promise<void> {
    this.onSample = onSample;
    this.onHealth = onHealth;
    this.session.start();
    this.poller.start();
    const every = this.options.healthIntervalMs ?? 60_000;
    if (every > 0) {
      this.healthTimer = setInterval(() => {
        if (this.session.state === 'ready') void this.readDiagnostics();
      }, every);
    }
  }

  async stop(): Promise<void> {
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = undefined;
    this.onHealth = undefined;
    await this.poller.stop();
    await this.session.close();
    this.onSample = undefined;
  }

  status(): ObdSourceStatus {
    const info = this.session.info;
    return {
      state: this.session.state,
      adapter: info?.version,
      protocol: info && info.protocol !== '0' ? info.protocolName : undefined,
      vin: this.vin,
      storedDtcs: this.storedDtcs,
      pendingDtcs: this.pendingDtcs,
      health: this.health,
      healthReads: this.healthReads,
      healthReadsUnanswered: this.healthReadsUnanswered,
      samples: this.samples,
      droppedValues: this.droppedValues,
      session: this.session.counters,
      poller: this.poller.counters,
    };
  }

  private onReading(reading: PollReading): void {
    const sample: Sample = { t: Math.max(reading.t, this.lastT + 1) };
    let signals = 0;
    for (const r of reading.readings) {
      const info = signalInfo(r.name);
      const def = pidByNumber(r.pid);
      const value = def ? scalarValue(def, r.value) : undefined;
      if (!info || value === undefined || !Number.isFinite(value) || value < info.min || value > info.max) {
        this.droppedValues += 1;
        continue;
      }
      sample[info.name as SignalName] = value;
      signals += 1;
    }
    if (signals === 0 || !this.onSample) return;
    this.lastT = sample.t;
    this.samples += 1;
    this.onSample(sample);
  }

  private async readDiagnostics(): Promise<void> {
    if (this.readingDiagnostics) {
      this.readAgain = true;
      return;
    }
    this.readingDiagnostics = true;
    try {
      do {
        this.readAgain = false;
        await this.readDiagnosticsOnce();
      } while (this.readAgain && this.session.state === 'ready');
    } finally {
      this.readingDiagnostics = false;
    }
  }

  private async readDiagnosticsOnce(): Promise<void> {
    const generation = this.session.generation;
    if (generation !== this.readGeneration) {
      const vin = await readVin(this.session);
      if (vin.vin !== undefined && vin.vin !== this.vin) this.log.info('vehicle identified', { vin: vin.vin });
      if (vin.status === 'data' || vin.status === 'no-data') this.readGeneration = generation;
      this.vin = vin.vin ?? this.vin;
    }
    const at = (this.options.now ?? Date.now)();
    const state = await readVehicleHealth(this.session, { previous: this.health, supported: this.poller.supported, vin: this.vin });
    this.healthReads += 1;
    if (!state) {
      this.healthReadsUnanswered += 1;
      return;
    }
    const stored = state.confirmed ?? this.storedDtcs;
    const pending = state.pending ?? this.pendingDtcs;
    if (stored.join() !== this.storedDtcs.join()) this.log.warn('stored DTCs', { codes: stored });
    if (pending.join() !== this.pendingDtcs.join()) this.log.warn('pending DTCs', { codes: pending });
    this.storedDtcs = stored;
    this.pendingDtcs = pending;
    this.health = state;
    this.onHealth?.({ t: at, state });
  }
}

/**
 * Parses a comma-separated PID list (`RPM,SPEED`) for the agent's options: every name must be in
 * the PID table and in the signal catalogue (only catalogue signals can be published). Throws an
 * Error saying which name is wrong; the config loader turns it into a message naming the field.
 */
export function parsePidList(text: string): SignalName[] {
  const names = text
    .split(',')
    .map((s) => s.trim().toUpperCase())
    .filter((s) => s !== '');
  for (const name of names) {
    if (!pidByName(name)) throw new Error(`unknown PID name ${name} (names as in docs/obd.md, e.g. RPM, SPEED, COOLANT_TEMP)`);
    if (!signalInfo(name)) throw new Error(`${name} is a PID but not a signal of contracts/signals.ts, so it cannot be published`);
  }
  return names as SignalName[];
}

/** The agent's options for `--source serial`, as cli/commands/agent.ts has them. */
export interface SerialSourceConfig {
  serial: string | undefined;
  baud: number;
  /** Seconds between reads of the car's diagnosis (0: only when the car answers again). */
  healthIntervalS: number;
  fastPids: readonly string[];
  slowPids: readonly string[];
  fastHz: number;
  slowHz: number;
}

/** Builds the OBD source from the agent's configuration; throws a ConfigError when `--serial` is missing. */
export function serialSourceFromConfig(config: SerialSourceConfig, logger: Logger): ObdSource {
  if (config.serial === undefined) throw new ConfigError('fleetpulse agent', [{ field: 'serial', message: 'is required with --source serial (e.g. --serial /dev/ttyUSB0)' }]);
  return new ObdSource({
    path: config.serial,
    baudRate: config.baud,
    fastPids: config.fastPids,
    slowPids: config.slowPids,
    fastHz: config.fastHz,
    slowHz: config.slowHz,
    healthIntervalMs: config.healthIntervalS * 1000,
    logger,
  });
}
