/**
 * Splits a chunk of line protocol by the retention policy its measurement is written into
 * (./rollups.ts `WRITE_RETENTION_POLICY`): InfluxDB 1.x takes the RP per request (`rp=`), not per
 * line. Lines keep their bytes and their order within a group; a chunk of one RP is returned as is.
 */
import { WRITE_RETENTION_POLICY } from './rollups.ts';

export interface RoutedBody {
  /** `undefined` = the database's DEFAULT RP. */
  retentionPolicy: string | undefined;
  data: Buffer;
}

const COMMA = 0x2c;
const SPACE = 0x20;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
const HASH = 0x23;

/** The table's measurement names as bytes: a line's name is compared in place, not decoded (this runs per line). */
interface Route {
  name: Buffer;
  retentionPolicy: string;
}
const routeCache = new WeakMap<Readonly<Record<string, string>>, Route[]>();

function routesOf(table: Readonly<Record<string, string>>): Route[] {
  let routes = routeCache.get(table);
  if (!routes) {
    routes = Object.entries(table).map(([name, retentionPolicy]) => ({ name: Buffer.from(name, 'latin1'), retentionPolicy }));
    routeCache.set(table, routes);
  }
  return routes;
}

/** The RP of the line starting at `start`, by its measurement name (escapes kept as written), or undefined. */
function retentionPolicyAt(data: Buffer, start: number, end: number, routes: readonly Route[]): string | undefined {
  let at = start;
  while (at < end) {
    const byte = data[at]!;
    if (byte === BACKSLASH) at += 2;
    else if (byte === COMMA || byte === SPACE) break;
    else at += 1;
  }
  const nameEnd = Math.min(at, end);
  for (const route of routes) {
    if (route.name.length === nameEnd - start && data.compare(route.name, 0, route.name.length, start, nameEnd) === 0) return route.retentionPolicy;
  }
  return undefined;
}

export function splitByRetentionPolicy(data: Buffer, table: Readonly<Record<string, string>> = WRITE_RETENTION_POLICY): RoutedBody[] {
  const routes = routesOf(table);
  const groups = new Map<string | undefined, Buffer[]>();
  let at = 0;
  while (at < data.length) {
    const nl = data.indexOf(NEWLINE, at);
    const end = nl < 0 ? data.length : nl + 1;
    // Comments and blank lines travel with the DEFAULT group, where InfluxDB ignores them.
    const rp = data[at] === HASH ? undefined : retentionPolicyAt(data, at, end, routes);
    let group = groups.get(rp);
    if (!group) groups.set(rp, (group = []));
    group.push(data.subarray(at, end));
    at = end;
  }
  if (groups.size <= 1) return [{ retentionPolicy: groups.keys().next().value, data }];
  return [...groups].map(([retentionPolicy, parts]) => ({ retentionPolicy, data: Buffer.concat(parts) }));
}
