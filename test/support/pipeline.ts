/**
 * The real pipeline the end-to-end tests share: a test influxd, an Aedes broker on loopback port 0,
 * and ingest workers (optionally with scoring) wired to both. `stop()` ends everything it started,
 * newest first: ingest workers (each before its scoring), the broker, then the influxd and the
 * temporary directories. A start that fails part way stops what it had started before rethrowing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type BrokerOptions, type RunningBroker } from '../../broker/broker-server.ts';
import { topics } from '../../contracts/topics.ts';
import { IngestService, type IngestOptions } from '../../ingest/ingest-service.ts';
import { ScoringPipeline, type ScoringPipelineOptions } from '../../ingest/scoring/scoring-pipeline.ts';
import { startRestartableTestInfluxd, waitFor, type RestartableTestInfluxd } from './influx.ts';

export const ALL_SHARDS: readonly number[] = Array.from({ length: 64 }, (_, i) => i);

/** Ingest options without the wiring; shards default to all 64, flushIntervalMs to 100. */
export type TestIngestOptions = Omit<IngestOptions, 'mqttUrl' | 'influxUrl' | 'shards' | 'flushIntervalMs'> &
  Partial<Pick<IngestOptions, 'shards' | 'flushIntervalMs'>> & {
    /** Attached before the worker starts; closed after it stops. */
    scoring?: ScoringPipelineOptions;
    /** Passed to `IngestService.stop` (its default when absent). */
    stopDrainMs?: number;
  };

export interface TestIngest {
  ingest: IngestService;
  scoring: ScoringPipeline | undefined;
  /** Stops the worker, then its scoring; a second call does nothing. */
  stop(): Promise<void>;
}

export type TestIngestWithScoring = TestIngest & { scoring: ScoringPipeline };

export interface TestPipelineOptions {
  /** Over `{ host: '127.0.0.1', port: 0 }`: auth, persistence, limits … */
  broker?: Partial<BrokerOptions>;
  /** A worker started with the pipeline (see `startIngest`). */
  ingest?: TestIngestOptions;
}

export interface TestPipeline {
  /** Restartable: `stop()`/`start()` mid-test keep its port and data. */
  influx: RestartableTestInfluxd;
  broker: RunningBroker;
  /**
   * Starts a worker on the broker and influxd. Resolves once it is connected and every filter it
   * consumes (its shards' telemetry, `apilogs/#` with API logs) is subscribed at the broker — also
   * by an earlier worker of the same client id whose persistent session it resumes — so nothing
   * published afterwards can miss it. Throws after 10 s of either not happening.
   */
  startIngest(options: TestIngestOptions & { scoring: ScoringPipelineOptions }): Promise<TestIngestWithScoring>;
  startIngest(options: TestIngestOptions): Promise<TestIngest>;
  /** A temporary directory removed by `stop()`. */
  tempDir(prefix?: string): string;
  stop(): Promise<void>;
}

export type TestPipelineWithIngest = TestPipeline & { ingest: IngestService; scoring: ScoringPipeline | undefined };

const READY_TIMEOUT_MS = 10_000;

export async function startTestPipeline(options: TestPipelineOptions & { ingest: TestIngestOptions }): Promise<TestPipelineWithIngest>;
export async function startTestPipeline(options?: TestPipelineOptions): Promise<TestPipeline>;
export async function startTestPipeline(options: TestPipelineOptions = {}): Promise<TestPipeline | TestPipelineWithIngest> {
  const [influxStart, brokerStart] = await Promise.allSettled([
    startRestartableTestInfluxd(),
    startBroker({ host: '127.0.0.1', port: 0, ...options.broker }),
  ]);
  if (influxStart.status === 'rejected' || brokerStart.status === 'rejected') {
    if (influxStart.status === 'fulfilled') await influxStart.value.dispose();
    if (brokerStart.status === 'fulfilled') await brokerStart.value.close();
    throw influxStart.status === 'rejected' ? influxStart.reason : (brokerStart as PromiseRejectedResult).reason;
  }
  const influx = influxStart.value;
  const broker = brokerStart.value;
  const dirs: string[] = [];
  const workers: TestIngest[] = [];

  // Granted filters per client id since the broker started: a resumed session does not subscribe again.
  const subscribed = new Map<string, Set<string>>();
  broker.aedes.on('subscribe', (subscriptions, client) => {
    if (!client) return;
    const filters = subscribed.get(client.id) ?? new Set<string>();
    // A denied filter comes back granted 128 (outside Aedes' QoS type).
    for (const s of subscriptions) if ((s.qos as number) !== 128) filters.add(s.topic);
    subscribed.set(client.id, filters);
  });

  const startIngest = async (ingestOptions: TestIngestOptions): Promise<TestIngest> => {
    const { scoring: scoringOptions, stopDrainMs, ...rest } = ingestOptions;
    const ingest = new IngestService({ mqttUrl: broker.url, influxUrl: influx.url, shards: ALL_SHARDS, flushIntervalMs: 100, ...rest });
    const scoring = scoringOptions ? ScoringPipeline.attach(ingest, scoringOptions) : undefined;
    let stopped = false;
    const worker: TestIngest = {
      ingest,
      scoring,
      async stop() {
        if (stopped) return;
        stopped = true;
        workers.splice(workers.indexOf(worker), 1);
        await ingest.stop(stopDrainMs);
        await scoring?.close();
      },
    };
    workers.push(worker);
    await ingest.start();
    const { clientId } = rest;
    if (!(await waitFor(() => ingest.stats().mqttConnected, READY_TIMEOUT_MS))) {
      throw new Error(`ingest ${clientId} did not connect to ${broker.url} within ${READY_TIMEOUT_MS} ms`);
    }
    const shards = rest.shards ?? ALL_SHARDS;
    const commands = scoring?.commandKinds ?? [];
    const expected = [...shards.map((s) => topics.shardFilter(s, 'telemetry')), ...shards.map((s) => topics.shardFilter(s, 'health')), ...shards.flatMap((s) => commands.map((k) => topics.shardFilter(s, k))), ...(rest.apiLogs ? [topics.apiLogsFilter()] : [])];
    const missing = () => expected.filter((f) => !subscribed.get(clientId)?.has(f));
    if (!(await waitFor(() => missing().length === 0, READY_TIMEOUT_MS, 20))) {
      throw new Error(`ingest ${clientId} not subscribed to ${missing().join(', ')} within ${READY_TIMEOUT_MS} ms`);
    }
    return worker;
  };

  const pipeline: TestPipeline = {
    influx,
    broker,
    startIngest: startIngest as TestPipeline['startIngest'],
    tempDir(prefix = 'fleetpulse-e2e-') {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    async stop() {
      // Everything is attempted; the first failure is rethrown at the end.
      const failures: unknown[] = [];
      const attempt = async (step: () => Promise<void> | void) => {
        try {
          await step();
        } catch (error) {
          failures.push(error);
        }
      };
      for (const worker of [...workers].reverse()) await attempt(() => worker.stop());
      await attempt(() => broker.close());
      await attempt(() => influx.dispose());
      for (const dir of dirs.splice(0)) await attempt(() => rmSync(dir, { recursive: true, force: true }));
      if (failures.length > 0) throw failures[0];
    },
  };
  if (!options.ingest) return pipeline;
  try {
    const { ingest, scoring } = await startIngest(options.ingest);
    return { ...pipeline, ingest, scoring };
  } catch (error) {
    await pipeline.stop().catch(() => undefined);
    throw error;
  }
}
