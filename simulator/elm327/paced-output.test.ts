import { describe, expect, it } from 'vitest';
import { PacedOutput } from './paced-output.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('PacedOutput', () => {
  it('sends no more bytes than the baud rate allows for the time that has passed on its clock', async () => {
    let clock = 0;
    const out = new PacedOutput({ baudRate: 38400, now: () => clock });
    const got: number[] = [];
    out.onData((b) => got.push(...b));
    const data = Uint8Array.from({ length: 100 }, (_, i) => i);
    out.write(data);
    await sleep(30);
    expect(got).toHaveLength(1); // the clock stood still: only the first byte left
    clock += 10; // 10 ms at 3.84 bytes/ms
    await sleep(30);
    expect(got).toHaveLength(1 + 38);
    clock += 1000;
    await out.idle();
    expect(got).toEqual([...data]);
    out.close();
  });

  it('drops and counts what exceeds its bound; unpaced output still arrives asynchronously and in order', async () => {
    const out = new PacedOutput({ baudRate: 0, maxQueuedBytes: 10 });
    const got: string[] = [];
    out.onData((b) => got.push(Buffer.from(b).toString()));
    out.write('hello');
    out.write('world!'); // 11 bytes would exceed the bound
    out.write('abc');
    expect(got).toEqual([]);
    await out.idle();
    expect(got.join('')).toBe('helloabc');
    expect(out.droppedBytes).toBe(6);
    out.close();
  });
});
