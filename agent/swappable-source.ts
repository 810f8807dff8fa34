/**
 * A TelemetrySource whose inner source can be replaced while the agent runs, so that settings a
 * source fixes at construction (sample rate, PID set) can change without restarting the agent: its
 * MQTT session, buffer and current batch live on.
 *
 * Guarantees: samples keep strictly increasing `t` across a swap (a sample of the new source at or
 * before the last one delivered is dropped and counted in `droppedOnSwap`); swaps are serialised;
 * after `stop()` no sample is delivered and a swap only stops the offered source.
 */
import type { Sample } from '../contracts/telemetry.ts';
import type { HealthReading, TelemetrySource } from './telemetry-source.ts';

export class SwappableSource implements TelemetrySource {
  private onSample: ((sample: Sample) => void) | undefined;
  private onHealth: ((reading: HealthReading) => void) | undefined;
  private lastT = -Infinity;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  droppedOnSwap = 0;
  swaps = 0;

  constructor(private inner: TelemetrySource) {}

  get name(): string {
    return this.inner.name;
  }

  /** The source currently delivering samples. */
  get current(): TelemetrySource {
    return this.inner;
  }

  async start(onSample: (sample: Sample) => void, onHealth?: (reading: HealthReading) => void): Promise<void> {
    this.onSample = onSample;
    this.onHealth = onHealth;
    await this.inner.start((s) => this.deliver(s), (r) => this.deliverHealth(r));
  }

  /** Stops the current source, then starts `next` in its place. */
  swap(next: TelemetrySource): Promise<void> {
    const run = this.queue.then(async () => {
      if (this.stopped || !this.onSample) {
        await next.stop();
        return;
      }
      await this.inner.stop();
      this.inner = next;
      this.swaps += 1;
      await next.start((s) => this.deliver(s), (r) => this.deliverHealth(r));
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.queue;
    await this.inner.stop();
    this.onSample = undefined;
    this.onHealth = undefined;
  }

  private deliverHealth(reading: HealthReading): void {
    if (this.stopped) return;
    // Readings need no ordering here: the health channel stamps its events in order.
    this.onHealth?.(reading);
  }

  private deliver(sample: Sample): void {
    if (this.stopped || !this.onSample) return;
    if (sample.t <= this.lastT) {
      this.droppedOnSwap += 1;
      return;
    }
    this.lastT = sample.t;
    this.onSample(sample);
  }
}
