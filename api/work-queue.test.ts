import { describe, expect, it } from 'vitest';
import { JobCancelled, WorkQueue, type JobControl } from './work-queue.ts';

/** A job that runs until it is released or its signal fires (then it stops, as blur.ts does at its next step). */
function controllableJob() {
  let release!: (value: string) => void;
  const released = new Promise<string>((r) => (release = r));
  let started = false;
  const run = async (control: JobControl): Promise<string> => {
    started = true;
    const aborted = new Promise<never>((_, reject) => control.signal.addEventListener('abort', () => reject(control.signal.reason as JobCancelled), { once: true }));
    return Promise.race([released, aborted]);
  };
  return { run, release, started: () => started };
}

describe('WorkQueue', () => {
  it('runs at most `concurrency` jobs, queues at most `maxQueued` in order, and refuses beyond as busy', async () => {
    const queue = new WorkQueue({ concurrency: 1, maxQueued: 1, deadlineMs: 60_000 });
    const [a, b] = [controllableJob(), controllableJob()];
    const first = queue.submit(a.run);
    const second = queue.submit(b.run);
    expect(await queue.submit(controllableJob().run)).toEqual({ ok: false, reason: 'busy' });
    expect([a.started(), b.started()]).toEqual([true, false]);
    expect(queue.stats()).toMatchObject({ running: 1, queued: 1, refusedBusy: 1 });
    expect(queue.retryAfterSeconds()).toBeGreaterThanOrEqual(1);
    a.release('a');
    expect(await first).toEqual({ ok: true, value: 'a' });
    b.release('b');
    expect(await second).toEqual({ ok: true, value: 'b' });
    expect(queue.stats()).toMatchObject({ running: 0, queued: 0, started: 2, completed: 2 });
  });

  it('cancels at the deadline a job that runs and one that still waits (which then never starts)', async () => {
    const queue = new WorkQueue({ concurrency: 1, maxQueued: 4, deadlineMs: 50 });
    const running = queue.submit(controllableJob().run);
    expect(await running).toEqual({ ok: false, reason: 'deadline' });
    // A job that does not stop at once keeps its slot: the one behind it waits, and its own deadline passes.
    let finishStubborn!: (value: string) => void;
    const stubborn = queue.submit(() => new Promise<string>((r) => (finishStubborn = r)));
    const waiting = controllableJob();
    expect(await queue.submit(waiting.run)).toEqual({ ok: false, reason: 'deadline' });
    expect(waiting.started()).toBe(false);
    finishStubborn('late');
    expect(await stubborn).toEqual({ ok: true, value: 'late' });
    expect(queue.stats()).toMatchObject({ running: 0, queued: 0, started: 2, completed: 1, cancelled: { deadline: 2 } });
  });

  it('cancels the job of a caller that goes away, before or while it runs', async () => {
    const queue = new WorkQueue({ concurrency: 1, maxQueued: 4, deadlineMs: 60_000 });
    const caller = new AbortController();
    const job = controllableJob();
    const gone = queue.submit(job.run, caller.signal);
    expect(job.started()).toBe(true);
    caller.abort();
    expect(await gone).toEqual({ ok: false, reason: 'client_gone' });
    expect(await queue.submit(controllableJob().run, AbortSignal.abort())).toEqual({ ok: false, reason: 'client_gone' });
    expect(queue.stats()).toMatchObject({ running: 0, queued: 0, started: 1, cancelled: { client_gone: 2 } });
  });

  it('close() refuses new jobs, lets running ones finish within the drain period and cancels the rest', async () => {
    const queue = new WorkQueue({ concurrency: 1, maxQueued: 4, deadlineMs: 60_000 });
    const quick = controllableJob();
    const slow = controllableJob();
    const first = queue.submit(quick.run);
    const second = queue.submit(slow.run);
    const closed = queue.close(100);
    expect(await queue.submit(controllableJob().run)).toEqual({ ok: false, reason: 'shutting_down' });
    quick.release('done in time');
    expect(await first).toEqual({ ok: true, value: 'done in time' });
    expect(await second).toEqual({ ok: false, reason: 'shutting_down' });
    await closed;
    expect(queue.stats()).toMatchObject({ running: 0, completed: 1, refusedShuttingDown: 1, cancelled: { shutting_down: 1 } });
  });

  it('rejects with a job that fails for any other reason, and frees its slot', async () => {
    const queue = new WorkQueue({ concurrency: 1, maxQueued: 1, deadlineMs: 60_000 });
    await expect(queue.submit(async () => Promise.reject(new Error('decoder crashed')))).rejects.toThrow('decoder crashed');
    expect(await queue.submit(async () => 'next')).toEqual({ ok: true, value: 'next' });
    expect(queue.stats()).toMatchObject({ failed: 1, completed: 1, running: 0 });
  });
});
