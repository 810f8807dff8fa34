/**
 * Processing time that stands still while ingest holds acknowledgements (the spool is not
 * appending, so mqtt.js reads nothing and the broker keeps the messages).
 *
 * Idle timeouts ask "has this vehicle (log source) sent nothing for a while?". During a hold that
 * question has no answer — its messages may be waiting at the broker — so a hold must not count
 * as idle time: windows would be closed early, and the held samples would then arrive late.
 * The same holds while ingest has no session with the broker (before the first CONNACK, and from a
 * lost connection to the next): the vehicles' messages wait at the broker or in their agents'
 * buffers, so a window closed idle then would be closed early. Event-time watermarks never use
 * this clock.
 */
export class ReadingClock {
  /** Why the clock stands still (e.g. `spool`: acknowledgements held; `broker`: no session). */
  private readonly holds = new Set<string>();
  private heldSince: number | undefined;
  private heldTotal = 0;

  /** The clock stands still for `reason` from now on (again for the same reason does nothing). */
  hold(reason = 'spool', wallMs = Date.now()): void {
    this.holds.add(reason);
    this.heldSince ??= wallMs;
  }

  /** `reason` no longer holds the clock; it runs again once no reason does. */
  release(reason = 'spool', wallMs = Date.now()): void {
    if (!this.holds.delete(reason) || this.holds.size > 0 || this.heldSince === undefined) return;
    this.heldTotal += Math.max(0, wallMs - this.heldSince);
    this.heldSince = undefined;
  }

  /** Wall-clock milliseconds minus all the time spent holding. */
  now(wallMs = Date.now()): number {
    return wallMs - this.heldTotal - (this.heldSince === undefined ? 0 : Math.max(0, wallMs - this.heldSince));
  }
}
