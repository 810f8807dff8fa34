/**
 * InfluxDB administration and queries through the `influx` package (node-influx): creating the
 * database now, retention policies, continuous queries and read-back later.
 *
 * Writes do not go through it: the spool holds exact line-protocol bytes and the forwarder POSTs
 * them to `/write` unchanged (node-influx only writes from point objects, which would mean parsing
 * every spooled line back into an object just to serialise it again).
 */
import { InfluxDB } from 'influx';

export function influxClient(url: string, database: string, timeoutMs = 10_000): InfluxDB {
  const parsed = new URL(url);
  return new InfluxDB({
    host: parsed.hostname,
    port: Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 8086)),
    protocol: parsed.protocol === 'https:' ? 'https' : 'http',
    username: decodeURIComponent(parsed.username) || undefined,
    password: decodeURIComponent(parsed.password) || undefined,
    database,
    options: { timeout: timeoutMs },
  });
}

/** CREATE DATABASE, which InfluxDB 1.x treats as a no-op when it exists. */
export async function ensureDatabase(client: InfluxDB, database: string): Promise<void> {
  await client.createDatabase(database);
}
