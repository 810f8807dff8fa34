import type { Sample } from '../contracts/telemetry.ts';
import { createRng } from '../simulator/rng.ts';
import { VehicleModel } from '../simulator/vehicle-model.ts';
import type { TelemetrySource } from './telemetry-source.ts';

export interface SimulatedSourceOptions {
  vehicleId: string;
  seed: number;
  sampleRateHz: number;
  /** Injected for tests; wall-clock milliseconds. */
  now?: () => number;
}

/** Samples a simulated vehicle in real time at a fixed rate. */
export class SimulatedSource implements TelemetrySource {
  readonly name = 'simulator';
  private readonly model: VehicleModel;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private lastT = 0;

  constructor(private readonly options: SimulatedSourceOptions) {
    this.model = new VehicleModel({ rng: createRng(options.seed).fork(options.vehicleId) });
    this.intervalMs = 1000 / options.sampleRateHz;
    this.now = options.now ?? Date.now;
    // Warm the model up so a fresh vehicle does not start every signal from its initial value.
    for (let i = 0; i < 120; i++) this.model.step(1);
  }

  async start(onSample: (sample: Sample) => void): Promise<void> {
    if (this.timer) return;
    let last = this.now();
    this.timer = setInterval(() => {
      const now = this.now();
      this.model.step(Math.max(0, now - last) / 1000);
      last = now;
      // The sample key is (vehicle, t): t must strictly increase even if the clock stalls.
      const t = Math.max(Math.round(now), this.lastT + 1);
      this.lastT = t;
      onSample({ t, ...this.model.read() });
    }, this.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
