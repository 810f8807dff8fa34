/**
 * Follows a clock that jumps forward only once the jump is confirmed.
 *
 * A timeline (a vehicle's samples, a log source's lines) moves the watermark of its windows. An
 * item more than `maxJumpMs` ahead of the newest item on the timeline may be a real jump (a Raspberry
 * Pi without RTC whose clock NTP has just set, a car starting a trip the next morning) or one bad
 * reading; one bad reading must not make everything after it late. So such an item is held, with
 * the items that continue it, until `confirmItems` of them form a consistent run (each within
 * `maxJumpMs` of the run's newest): then the whole run goes onto the timeline and it follows.
 *
 * - Items that continue the old timeline meanwhile are admitted as usual; the held run waits
 *   (with agents that send live data before their backlog, a live run confirms after
 *   `confirmItems` and the timeline moves to the present, as it did before this gate).
 * - When the old timeline catches up with the held run (a backlog reaching the present), the run
 *   is admitted: it was no jump.
 * - An item that starts another run replaces the held one; a held run whose key goes idle or is
 *   evicted is dropped. Dropped items are counted (`discarded`); the caller has stored them raw.
 *
 * Bound: at most `confirmItems` items per key (the run is admitted when it reaches that size).
 */
export interface JumpGateOptions {
  maxJumpMs: number;
  confirmItems: number;
}

export interface HeldRun<T> {
  items: T[];
  times: number[];
  firstT: number;
  lastT: number;
}

/** The per-key state the gate works on; the caller keeps it with the key's other state. */
export interface Timeline<T> {
  /** Newest event time on the timeline; -Infinity before the first item. */
  maxT: number;
  held: HeldRun<T> | undefined;
}

export class ClockJumpGate {
  private counters = { confirmed: 0, discarded: 0 };

  constructor(readonly options: JumpGateOptions) {
    if (!(options.maxJumpMs > 0) || !(options.confirmItems >= 1)) throw new RangeError('maxJumpMs must be positive and confirmItems at least 1');
  }

  /** True when an item at `t` goes straight onto the timeline (the caller's fast path). */
  continues(timeline: Timeline<unknown>, t: number): boolean {
    return timeline.held === undefined && (t <= timeline.maxT + this.options.maxJumpMs || timeline.maxT === -Infinity);
  }

  /** Hands `item` (event time `t`) and any held items it releases to `admit`, in order; `maxT` follows. */
  offer<T>(timeline: Timeline<T>, t: number, item: T, admit: (item: T, t: number) => void): void {
    const { maxJumpMs, confirmItems } = this.options;
    if (timeline.maxT === -Infinity || t <= timeline.maxT + maxJumpMs) {
      admit(item, t);
      if (t > timeline.maxT) timeline.maxT = t;
      if (timeline.held && timeline.held.firstT <= timeline.maxT + maxJumpMs) this.release(timeline, admit);
      return;
    }
    let held = timeline.held;
    if (held && Math.abs(t - held.lastT) <= maxJumpMs) {
      held.items.push(item);
      held.times.push(t);
      held.firstT = Math.min(held.firstT, t);
      held.lastT = Math.max(held.lastT, t);
    } else {
      if (held) this.counters.discarded += held.items.length;
      held = timeline.held = { items: [item], times: [t], firstT: t, lastT: t };
    }
    if (held.items.length >= confirmItems) {
      this.counters.confirmed += 1;
      this.release(timeline, admit);
    }
  }

  /** Forgets a held run (its key went idle or was evicted); returns how many items it held. */
  drop(timeline: Timeline<unknown>): number {
    const n = timeline.held?.items.length ?? 0;
    timeline.held = undefined;
    this.counters.discarded += n;
    return n;
  }

  stats(): { confirmed: number; discarded: number } {
    return { ...this.counters };
  }

  private release<T>(timeline: Timeline<T>, admit: (item: T, t: number) => void): void {
    const held = timeline.held!;
    timeline.held = undefined;
    for (let i = 0; i < held.items.length; i++) {
      const t = held.times[i]!;
      admit(held.items[i]!, t);
      if (t > timeline.maxT) timeline.maxT = t;
    }
  }
}
