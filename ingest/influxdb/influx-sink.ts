/**
 * The InfluxDB 1.x sink, through the `influx` package: creates the database on connect and
 * writes points with the precision their timestamps are in.
 */
import { InfluxDB, type IPoint } from 'influx';
import type { PointSink } from '../influx-writer.ts';

export interface InfluxSinkOptions {
  url: string;
  database: string;
  requestTimeoutMs?: number;
}

export class InfluxSink implements PointSink {
  readonly client: InfluxDB;

  constructor(
    private readonly options: InfluxSinkOptions,
    private readonly precision: 'ms' | 'n' = 'ms',
  ) {
    const url = new URL(options.url);
    this.client = new InfluxDB({
      host: url.hostname,
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 8086)),
      protocol: url.protocol === 'https:' ? 'https' : 'http',
      username: decodeURIComponent(url.username) || undefined,
      password: decodeURIComponent(url.password) || undefined,
      database: options.database,
      options: { timeout: options.requestTimeoutMs ?? 10_000 },
    });
  }

  /** Same server and database, other timestamp precision. */
  withPrecision(precision: 'ms' | 'n'): InfluxSink {
    const sink = new InfluxSink(this.options, precision);
    return sink;
  }

  async ensureDatabase(): Promise<void> {
    // CREATE DATABASE is idempotent in InfluxDB 1.x.
    await this.client.createDatabase(this.options.database);
  }

  async ping(timeoutMs = 2000): Promise<boolean> {
    const hosts = await this.client.ping(timeoutMs);
    return hosts.some((h) => h.online);
  }

  writePoints(points: IPoint[]): Promise<void> {
    return this.client.writePoints(points, { precision: this.precision, database: this.options.database });
  }
}
