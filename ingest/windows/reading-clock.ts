/**
 * Processing time that stands still while ingest holds acknowledgements (the spool is not
 * appending, so mqtt.js reads nothing and the broker keeps the messages).
 *
 * Idle timeouts ask "has this vehicle (log source) sent nothing for a while?". During a hold that
 * question has no answer — its messages may be waiting at the broker — so a hold must not count
 * as idle time: windows would be closed early, and the held samples would then arrive late.
 * Event-time watermarks never use this clock.
 */
export class ReadingClock {
  private heldSince: number | undefined;
  private heldTotal = 0;

  /** Acknowledgements are held from now on (a second call while held does nothing). */
  hold(wallMs = Date.now()): void {
    this.heldSince ??= wallMs;
  }

  /** Reading again. */
  release(wallMs = Date.now()): void {
    if (this.heldSince === undefined) return;
    this.heldTotal += Math.max(0, wallMs - this.heldSince);
    this.heldSince = undefined;
  }

  /** Wall-clock milliseconds minus all the time spent holding. */
  now(wallMs = Date.now()): number {
    return wallMs - this.heldTotal - (this.heldSince === undefined ? 0 : Math.max(0, wallMs - this.heldSince));
  }
}
