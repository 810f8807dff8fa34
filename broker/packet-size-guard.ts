import type { Readable } from 'node:stream';

/**
 * Enforces a maximum MQTT packet size before Aedes buffers a packet: Aedes' parser accumulates a
 * whole packet in memory (up to the protocol's 256 MiB) before it looks at it, so one client could
 * make the broker hold 256 MiB. The guard reads only each packet's fixed header (type byte and
 * remaining length) as the bytes stream past, and reports the connection as soon as a declared
 * length exceeds the limit — before the body arrives.
 */
export class PacketSizeScanner {
  private state: 'header' | 'length' | 'body' = 'header';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;

  constructor(private readonly maxPacketBytes: number) {}

  /** Feeds the next bytes of the stream; false when a packet is over the limit or its length is malformed. */
  feed(chunk: Buffer): boolean {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.state = 'header';
        continue;
      }
      const byte = chunk[i++]!;
      if (this.state === 'header') {
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes += 1;
      if (byte & 0x80) {
        if (this.lengthBytes >= 4) return false; // a fifth length byte is malformed
        continue;
      }
      // fixed header (1 byte) + length bytes + body
      if (1 + this.lengthBytes + this.length > this.maxPacketBytes) return false;
      this.remaining = this.length;
      this.state = this.remaining === 0 ? 'header' : 'body';
    }
    return true;
  }
}

/**
 * Wraps `stream.read` (which Aedes calls on 'readable') so every chunk passes the scanner first.
 * Wrapping the read rather than piping through a Transform keeps the hot path free of an extra
 * stream hop. `onViolation` runs once; the stream is destroyed.
 */
export function guardPacketSize(stream: Readable, maxPacketBytes: number, onViolation: () => void): void {
  const scanner = new PacketSizeScanner(maxPacketBytes);
  const read = stream.read.bind(stream);
  let violated = false;
  stream.read = (size?: number) => {
    const chunk = read(size) as Buffer | string | null;
    if (chunk === null || violated) return violated ? null : chunk;
    if (!scanner.feed(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)) {
      violated = true;
      onViolation();
      stream.destroy();
      return null;
    }
    return chunk;
  };
}
