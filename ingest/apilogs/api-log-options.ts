/**
 * The `fleetpulse ingest` options of API-log analytics (merged into its option table) and the
 * factory that turns them into an ApiLogProcessor. Disabled unless `apiLogs` is true (`up` turns
 * it on when it runs nginx).
 */
import { join, resolve } from 'node:path';
import { opt, type ConfigOf } from '../../common/config.ts';
import { ConfigError, errorMessage } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import { TrustedProxies } from '../../api/client-ip.ts';
import { CustomerTable } from '../../api/customer-table.ts';
import { ApiLogProcessor } from './api-log-processor.ts';
import { DEFAULT_THRESHOLDS } from './abuse-detector.ts';
import { GeoLookup } from './geo-lookup.ts';
import type { ClockSanityOptions } from '../windows/clock-options.ts';

const cidrList = (text: string): string[] => {
  const list = text.split(',').map((s) => s.trim()).filter(Boolean);
  new TrustedProxies(list); // throws a RangeError naming the bad entry
  return list;
};

export const apiLogOptions = {
  apiLogs: opt.boolean('Consume apilogs/# too: enrichment, windowed api_requests, abuse detection, blocklist', { default: false }),
  customersFile: opt.string('Customer dimension table (JSON: keys → customer, plan), reloaded on change (default <dataDir>/api/customers.json)', { default: '-' }),
  geoipDb: opt.string('A MaxMind-format city database (.mmdb) to use instead of the bundled GeoLite2 City data', { default: '-' }),
  trustedProxies: opt.parsed('Proxies whose X-Forwarded-For is believed, as CIDRs separated by commas', '<cidrs>', cidrList, { default: '127.0.0.0/8,::1/128' }),
  apiLatenessS: opt.int('How late (event time) a request may arrive and still count in its window, seconds', { default: 5, min: 0, max: 3600 }),
  apiIdleTimeoutS: opt.int('A log source quiet this long (processing time) has its due windows closed, seconds', { default: 5, min: 1, max: 3600 }),
  blockS: opt.int('How long an abusive client stays on the blocklist, seconds', { default: 900, min: 1, max: 86_400 }),
  abuseIpBurst: opt.int('Requests from one address within 10 s that count as a burst', { default: DEFAULT_THRESHOLDS.ipBurst, min: 2 }),
  abuseNetBurst: opt.int('Requests from one /24 or /64 within 10 s that count as a burst', { default: DEFAULT_THRESHOLDS.netBurst, min: 2 }),
  abuseAuthFailures: opt.int('401 answers to one address within 60 s that count as key guessing', { default: DEFAULT_THRESHOLDS.authFailures, min: 2 }),
  abuseProbePaths: opt.int('Distinct 404 paths from one address within 60 s that count as probing', { default: DEFAULT_THRESHOLDS.probePaths, min: 2 }),
  abuseOversize: opt.int('413 answers to one address within 60 s that count as an upload flood', { default: DEFAULT_THRESHOLDS.oversize, min: 2 }),
  abuseKeyCountries: opt.int('Countries one API key is used from within 5 min that count as a leaked key', { default: DEFAULT_THRESHOLDS.keyCountries, min: 2 }),
};

export type ApiLogConfig = ConfigOf<typeof apiLogOptions> & { dataDir: string };

export function customersFileOf(config: { customersFile: string; dataDir: string }): string {
  return config.customersFile === '-' ? join(resolve(config.dataDir), 'api', 'customers.json') : resolve(config.customersFile);
}

/** `clock`: the ingest command's clock bounds (DEFAULT_CLOCK_SANITY when absent). */
export async function createApiLogProcessor(config: ApiLogConfig, logger: Logger, clock?: ClockSanityOptions): Promise<ApiLogProcessor | undefined> {
  if (!config.apiLogs) return undefined;
  let geo: GeoLookup;
  try {
    geo = await GeoLookup.open(config.geoipDb === '-' ? undefined : resolve(config.geoipDb));
  } catch (error) {
    throw new ConfigError('fleetpulse ingest', [{ field: 'geoipDb', message: errorMessage(error) }]);
  }
  logger.info('API logs enabled', { geo: geo.description });
  return new ApiLogProcessor({
    geo,
    customers: new CustomerTable(customersFileOf(config), { reloadIntervalMs: 1000, logger: logger.child('customers') }),
    trustedProxies: new TrustedProxies(config.trustedProxies),
    windows: { sizesMs: [10_000, 60_000], allowedLatenessMs: config.apiLatenessS * 1000, idleTimeoutMs: config.apiIdleTimeoutS * 1000, maxOpenCells: 200_000 },
    thresholds: {
      ipBurst: config.abuseIpBurst,
      netBurst: config.abuseNetBurst,
      authFailures: config.abuseAuthFailures,
      probePaths: config.abuseProbePaths,
      oversize: config.abuseOversize,
      keyCountries: config.abuseKeyCountries,
    },
    blockMs: config.blockS * 1000,
    maxBlocklistEntries: 50_000,
    maxRememberedIds: 1_000_000,
    ...(clock ? { clock } : {}),
    logger,
  });
}

/** The option defaults with API logs on, for `fleetpulse up` (which has no ingest option table). */
export function defaultApiLogConfig(dataDir: string): ApiLogConfig {
  return {
    apiLogs: true,
    customersFile: '-',
    geoipDb: '-',
    trustedProxies: ['127.0.0.0/8', '::1/128'],
    apiLatenessS: 5,
    apiIdleTimeoutS: 5,
    blockS: 900,
    abuseIpBurst: DEFAULT_THRESHOLDS.ipBurst,
    abuseNetBurst: DEFAULT_THRESHOLDS.netBurst,
    abuseAuthFailures: DEFAULT_THRESHOLDS.authFailures,
    abuseProbePaths: DEFAULT_THRESHOLDS.probePaths,
    abuseOversize: DEFAULT_THRESHOLDS.oversize,
    abuseKeyCountries: DEFAULT_THRESHOLDS.keyCountries,
    dataDir,
  };
}
