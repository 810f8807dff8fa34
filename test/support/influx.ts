/** A real influxd for tests: temporary data directory, free port, removed afterwards. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalInfluxd, influxdInstalled, type LocalInfluxd } from '../../ingest/influxdb/local-influxd.ts';

export interface TestInfluxd extends LocalInfluxd {
  /** Stops the server and deletes its data. */
  dispose(): Promise<void>;
}

export async function startTestInfluxd(): Promise<TestInfluxd> {
  if (!influxdInstalled()) {
    throw new Error('influxd is not installed: run .ci/run or `apt-get install influxdb` (tests use a real InfluxDB)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-influx-'));
  const server = await startLocalInfluxd({ dataDir: dir, port: 0 });
  return {
    ...server,
    stop: () => server.stop(),
    async dispose() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Series {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

/** Runs one InfluxQL statement through the HTTP API, times as epoch milliseconds. */
export async function influxQuery(url: string, database: string, query: string): Promise<Series[]> {
  const response = await fetch(`${url}/query?db=${encodeURIComponent(database)}&epoch=ms&q=${encodeURIComponent(query)}`);
  if (!response.ok) throw new Error(`query failed: ${response.status} ${await response.text()}`);
  const body = (await response.json()) as { results: Array<{ series?: Series[]; error?: string }> };
  const result = body.results[0];
  if (result?.error) throw new Error(`query error: ${result.error}`);
  return result?.series ?? [];
}

/** Rows of the first series as objects keyed by column. */
export function rowsOf(series: Series | undefined): Array<Record<string, unknown>> {
  if (!series) return [];
  return series.values.map((row) => Object.fromEntries(series.columns.map((c, i) => [c, row[i]])));
}

/** Polls `probe` until it returns true or the time runs out; returns the last answer. */
export async function waitFor(probe: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A test influxd that can be stopped and started again on the same data directory and port. */
export interface RestartableTestInfluxd {
  readonly url: string;
  readonly port: number;
  readonly running: boolean;
  stop(): Promise<void>;
  start(): Promise<void>;
  dispose(): Promise<void>;
}

export async function startRestartableTestInfluxd(): Promise<RestartableTestInfluxd> {
  if (!influxdInstalled()) throw new Error('influxd is not installed: run .ci/run or `apt-get install influxdb`');
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-influx-'));
  let server: LocalInfluxd | undefined = await startLocalInfluxd({ dataDir: dir, port: 0 });
  const port = server.port;
  const url = server.url;
  return {
    url,
    port,
    get running() {
      return server !== undefined;
    },
    async stop() {
      await server?.stop();
      server = undefined;
    },
    async start() {
      if (!server) server = await startLocalInfluxd({ dataDir: dir, port });
    },
    async dispose() {
      await server?.stop();
      server = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
