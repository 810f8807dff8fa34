/**
 * Ingest's operations endpoint (fastify): `GET /healthz` and Prometheus `GET /metrics`.
 * `/healthz` answers 200 while ingest consumes (broker connected, spool not blocking) and 503
 * otherwise; an unreachable InfluxDB alone is `degraded` with 200, because ingest keeps
 * accepting into the spool and nothing is lost.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { METRICS_CONTENT_TYPE } from '../../common/metrics.ts';
import { listenNamingOption } from '../../common/net.ts';

export interface Health {
  status: 'ok' | 'degraded' | 'unavailable';
  [key: string]: unknown;
}

export interface IngestHttpSource {
  health(): Health;
  metricsText(): Promise<string>;
}

export interface RunningHttpServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startIngestHttpServer(source: IngestHttpSource, host: string, port: number): Promise<RunningHttpServer> {
  const app: FastifyInstance = Fastify({ logger: false });
  app.get('/healthz', async (_request, reply) => {
    const health = source.health();
    return reply.code(health.status === 'unavailable' ? 503 : 200).send(health);
  });
  app.get('/metrics', async (_request, reply) => reply.type(METRICS_CONTENT_TYPE).send(await source.metricsText()));
  try {
    await listenNamingOption('--http-port', host, port, () => app.listen({ host, port }));
  } catch (error) {
    await app.close();
    throw error;
  }
  const address = app.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  return { url: `http://${host}:${actualPort}`, close: () => app.close() };
}
