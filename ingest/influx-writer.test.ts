import type { IPoint } from 'influx';
import { describe, expect, it } from 'vitest';
import { InfluxWriter, type PointSink } from './influx-writer.ts';

/** A sink that can be switched down and records what it stored. (The real InfluxDB is in test/e2e.) */
class RecordingSink implements PointSink {
  written: IPoint[][] = [];
  down = false;
  rejectNext = false;
  calls = 0;
  async writePoints(points: IPoint[]): Promise<void> {
    this.calls += 1;
    if (this.rejectNext) {
      this.rejectNext = false;
      throw Object.assign(new Error('partial write: field type conflict'), { res: { statusCode: 400 } });
    }
    if (this.down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    this.written.push([...points]);
  }
  get all(): number[] {
    return this.written.flat().map((p) => p.timestamp as number);
  }
}

const points = (from: number, n: number): IPoint[] => Array.from({ length: n }, (_, i) => ({ measurement: 'm', fields: { x: 1 }, timestamp: from + i }));

describe('InfluxWriter', () => {
  it('writes in batches of at most batchSize, in order', async () => {
    const sink = new RecordingSink();
    const writer = new InfluxWriter({ sink, batchSize: 4, flushIntervalMs: 10_000, maxBufferedPoints: 100 });
    await writer.write(points(0, 10));
    await writer.flush();
    expect(sink.written.map((b) => b.length)).toEqual([4, 4, 2]);
    expect(sink.all).toEqual(points(0, 10).map((p) => p.timestamp));
    await writer.close();
  });

  it('flushes a partial batch after flushIntervalMs', async () => {
    const sink = new RecordingSink();
    const writer = new InfluxWriter({ sink, batchSize: 100, flushIntervalMs: 20, maxBufferedPoints: 100 });
    await writer.write(points(0, 3));
    await new Promise((r) => setTimeout(r, 200));
    expect(sink.all).toEqual([0, 1, 2]);
    await writer.close();
  });

  it('retries while the database is down and loses nothing', async () => {
    const sink = new RecordingSink();
    sink.down = true;
    const writer = new InfluxWriter({ sink, batchSize: 5, flushIntervalMs: 5, maxBufferedPoints: 50, retryInitialMs: 5, retryMaxMs: 20 });
    await writer.write(points(0, 12));
    await new Promise((r) => setTimeout(r, 100));
    expect(writer.stats().writeFailures).toBeGreaterThan(1);
    expect(sink.all).toEqual([]);
    sink.down = false;
    await writer.flush();
    expect(sink.all).toEqual(points(0, 12).map((p) => p.timestamp));
    expect(writer.stats()).toMatchObject({ pointsWritten: 12, bufferedPoints: 0 });
    await writer.close();
  });

  it('makes writers wait when the buffer is full (back-pressure, bounded memory)', async () => {
    const sink = new RecordingSink();
    sink.down = true;
    const writer = new InfluxWriter({ sink, batchSize: 5, flushIntervalMs: 5, maxBufferedPoints: 10, retryInitialMs: 5, retryMaxMs: 10 });
    await writer.write(points(0, 10));
    let admitted = false;
    const blocked = writer.write(points(10, 5)).then(() => (admitted = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(admitted).toBe(false);
    expect(writer.stats()).toMatchObject({ bufferedPoints: 10, blockedWriters: 1 });
    sink.down = false;
    await blocked;
    await writer.flush();
    expect(sink.all).toEqual(points(0, 15).map((p) => p.timestamp));
    await writer.close();
  });

  it('does not retry a batch the database rejects as malformed, and reports it', async () => {
    const sink = new RecordingSink();
    sink.rejectNext = true;
    const rejected: IPoint[][] = [];
    const writer = new InfluxWriter({ sink, batchSize: 3, flushIntervalMs: 5, maxBufferedPoints: 30, onRejected: (p) => rejected.push(p) });
    await writer.write(points(0, 6));
    await writer.flush();
    expect(rejected.map((b) => b.map((p) => p.timestamp))).toEqual([[0, 1, 2]]);
    expect(sink.all).toEqual([3, 4, 5]);
    expect(writer.stats()).toMatchObject({ pointsRejected: 3, pointsWritten: 3 });
    await writer.close();
  });
});
