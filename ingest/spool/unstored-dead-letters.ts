/**
 * Dead letters that could not be spooled because the spool was not appending (disk full, or at
 * its bound). A dead-lettered message carries no data to keep, so it is acknowledged at once and
 * only its dead letter waits here, in memory, until the spool appends again.
 *
 * Bound: `maxLetters`; at the bound the oldest is dropped and counted (`dropped`). Lost on a
 * crash or on a stop while the spool still cannot append (the caller counts those).
 */
export class UnstoredDeadLetters {
  private readonly letters: string[] = [];
  private droppedCount = 0;

  constructor(private readonly maxLetters: number) {
    if (!(maxLetters >= 1)) throw new RangeError('maxLetters must be at least 1');
  }

  /** Keeps one dead letter (a line-protocol line). */
  add(line: string): void {
    if (this.letters.length >= this.maxLetters) {
      this.letters.shift();
      this.droppedCount += 1;
    }
    this.letters.push(line);
  }

  /** Hands over everything kept, oldest first, and forgets it. */
  take(): string[] {
    return this.letters.splice(0);
  }

  get size(): number {
    return this.letters.length;
  }

  get dropped(): number {
    return this.droppedCount;
  }
}
