/**
 * Watches each vehicle's batch sequence numbers to count redeliveries and gaps. It only
 * observes: a duplicate is still written (writes are idempotent), a gap is only counted.
 * Bounded: past `maxVehicles` the vehicle seen least recently is forgotten.
 */
export type SequenceObservation = 'first' | 'next' | 'duplicate' | 'gap';

export class SequenceTracker {
  private readonly last = new Map<string, number>();

  constructor(private readonly maxVehicles: number) {}

  observe(vehicle: string, seq: number): SequenceObservation {
    const previous = this.last.get(vehicle);
    // Re-insert so Map order is least-recently-seen first.
    this.last.delete(vehicle);
    this.last.set(vehicle, previous === undefined ? seq : Math.max(previous, seq));
    if (this.last.size > this.maxVehicles) this.last.delete(this.last.keys().next().value as string);
    if (previous === undefined) return 'first';
    if (seq <= previous) return 'duplicate';
    return seq === previous + 1 ? 'next' : 'gap';
  }
}
