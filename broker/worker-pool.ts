/**
 * `fleetpulse broker --workers N`: a primary process that runs N broker workers with Node's
 * `cluster` module. The workers share the listening ports (the primary accepts and hands
 * connections out round-robin, Node's default on Linux) and share sessions and messages through
 * Redis, as separate brokers of a cluster do. The primary only supervises:
 *
 * - a worker that exits while the pool runs is replaced (same index), after a backoff that grows
 *   while replacements keep dying before they listen (100 ms … 10 s) and resets once one listens;
 * - a worker of the first generation that exits before it listened means the configuration or the
 *   environment is wrong (port taken, Redis refused): the pool stops and `done` resolves with the
 *   reason instead of restarting forever;
 * - `stop()` sends SIGTERM to every worker and SIGKILL to those still running after `stopTimeoutMs`.
 *
 * Workers find their index in `FLEETPULSE_BROKER_WORKER` (see `brokerWorkerIndex`).
 */
import cluster, { type Worker } from 'node:cluster';
import { Backoff } from '../common/backoff.ts';
import { codedError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';

const WORKER_ENV = 'FLEETPULSE_BROKER_WORKER';

/** The index of this process in a worker pool, or undefined in a process that is not a broker worker. */
export function brokerWorkerIndex(): number | undefined {
  const value = process.env[WORKER_ENV];
  return cluster.isWorker && value !== undefined ? Number(value) : undefined;
}

export interface WorkerPoolOptions {
  workers: number;
  logger: Logger;
  /** Default 10 s. */
  stopTimeoutMs?: number;
}

export interface WorkerPool {
  /** Process ids of the running workers, by index. */
  pids(): Array<number | undefined>;
  /** Resolves with a reason if the pool gave up (a first-generation worker died before listening). */
  readonly done: Promise<Error>;
  stop(): Promise<void>;
}

export function startWorkerPool(options: WorkerPoolOptions): WorkerPool {
  const log = options.logger;
  const workers: Array<Worker | undefined> = new Array(options.workers).fill(undefined);
  const backoffs = workers.map(() => new Backoff({ initialMs: 100, maxMs: 10_000 }));
  const timers = new Set<NodeJS.Timeout>();
  let stopping = false;
  let fail!: (reason: Error) => void;
  const done = new Promise<Error>((resolve) => (fail = resolve));

  const fork = (index: number, generation: number): void => {
    const worker = cluster.fork({ [WORKER_ENV]: String(index) });
    workers[index] = worker;
    let listened = false;
    const pid = worker.process.pid;
    log.info('broker worker started', { worker: index, pid });
    worker.once('listening', () => {
      listened = true;
      backoffs[index]!.reset();
    });
    worker.once('exit', (code, signal) => {
      if (workers[index] === worker) workers[index] = undefined;
      if (stopping) return;
      if (!listened && generation === 0) {
        log.error('broker worker exited before it listened; stopping the pool', { worker: index, pid, code, signal });
        fail(codedError('FP_BROKER_WORKER_EXITED', index, code, signal));
        return;
      }
      const delay = backoffs[index]!.next();
      log.warn('broker worker exited; replacing it', { worker: index, pid, code, signal, delayMs: delay });
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!stopping) fork(index, generation + 1);
      }, delay);
      timers.add(timer);
    });
  };

  for (let i = 0; i < options.workers; i++) fork(i, 0);

  return {
    pids: () => workers.map((w) => w?.process.pid),
    done,
    async stop() {
      stopping = true;
      for (const timer of timers) clearTimeout(timer);
      const running = workers.filter((w): w is Worker => w !== undefined && w.process.exitCode === null && w.process.signalCode === null);
      await Promise.all(
        running.map(
          (worker) =>
            new Promise<void>((resolve) => {
              const kill = setTimeout(() => worker.process.kill('SIGKILL'), options.stopTimeoutMs ?? 10_000);
              worker.once('exit', () => {
                clearTimeout(kill);
                resolve();
              });
              worker.process.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
