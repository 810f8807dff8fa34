/**
 * An ingest worker with scoring whose InfluxDB is unreachable on purpose: it spools, says
 * `degraded`, and serves every metric family on `/metrics` (port 0). For tests and benches of what
 * ingest serves, without an influxd.
 */
import { join } from 'node:path';
import { freePort } from '../../common/net.ts';
import { IngestService } from '../../ingest/ingest-service.ts';
import { ModelProvider } from '../../ingest/scoring/model-provider.ts';
import { ScoringPipeline } from '../../ingest/scoring/scoring-pipeline.ts';
import { DEFAULT_MODEL_PATH } from '../../ingest/scoring/scoring-options.ts';
import { waitFor } from './influx.ts';

export interface IngestWithoutInflux {
  ingest: IngestService;
  /** Stops ingest (nothing to drain into), then scoring. */
  stop(): Promise<void>;
}

/** Starts it on the broker at `mqttUrl`, spool under `dir`; resolves once it is connected. */
export async function startIngestWithoutInflux(mqttUrl: string, dir: string, clientId: string): Promise<IngestWithoutInflux> {
  const ingest = new IngestService({
    mqttUrl,
    influxUrl: `http://127.0.0.1:${await freePort()}`,
    influxDatabase: 'none',
    clientId,
    shards: Array.from({ length: 64 }, (_, i) => i),
    spoolDir: join(dir, 'spool'),
    flushIntervalMs: 100,
    httpPort: 0,
  });
  const scoring = ScoringPipeline.attach(ingest, { provider: await ModelProvider.load(DEFAULT_MODEL_PATH), modelPollMs: 0 });
  const stop = async (): Promise<void> => {
    await ingest.stop(0);
    await scoring.close();
  };
  try {
    await ingest.start();
    if (!(await waitFor(() => ingest.stats().mqttConnected, 10_000))) throw new Error(`ingest ${clientId} did not connect to ${mqttUrl}`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { ingest, stop };
}
