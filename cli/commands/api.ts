/**
 * `fleetpulse api`: the privacy API, with nginx in front when it is installed (or required with
 * --nginx on), and the abuse blocklist from the broker when credentials are given.
 */
import { join, resolve } from 'node:path';
import { opt } from '../../common/config.ts';
import { ConfigError } from '../../common/errors.ts';
import { createLogger } from '../../common/logger.ts';
import { TrustedProxies } from '../../api/client-ip.ts';
import { nginxExecutable } from '../../api/nginx/managed-nginx.ts';
import { startPrivacyApi, WORK_DEFAULTS } from '../../api/privacy-api-server.ts';
import { defineCommand } from '../command.ts';
import { sharedOptions } from '../shared-options.ts';

const cidrList = (text: string): string[] => {
  const list = text.split(',').map((s) => s.trim()).filter(Boolean);
  new TrustedProxies(list);
  return list;
};

export const apiOptions = {
  host: opt.string('Address the API listens on (nginx proxies to it)', { default: '127.0.0.1' }),
  port: opt.int('Port of the API itself (0 = any free port)', { default: 8081, min: 0, max: 65535 }),
  nginx: opt.oneOf(['auto', 'on', 'off'] as const, 'Run nginx in front: auto = when installed', { default: 'auto' }),
  nginxPort: opt.int('Port nginx listens on, on loopback (0 = any free port)', { default: 8090, min: 0, max: 65535 }),
  customersFile: opt.string('Customer dimension table (API keys), reloaded on change (default <dataDir>/api/customers.json)', { default: '-' }),
  trustedProxies: opt.parsed('Proxies whose X-Forwarded-For is believed, CIDRs separated by commas', '<cidrs>', cidrList, { default: '127.0.0.0/8,::1/128' }),
  maxMb: opt.number('Largest upload, MiB', { default: 10, min: 0.01, max: 200 }),
  maxMegapixels: opt.number('Largest image, megapixels', { default: 40, min: 0.01, max: 500 }),
  maxRegions: opt.int('Most regions per request', { default: 64, min: 1, max: 10_000 }),
  maxWork: opt.int('Most work one request may need, in megapixel passes (decoding, encoding, and each region\'s area × the passes hiding it takes); more is refused with 422 over_budget before any work', { default: WORK_DEFAULTS.maxWork, min: 1 }),
  deadlineS: opt.number('Longest a request may wait for and use a worker, seconds; then its work stops and it gets 503 deadline_exceeded', { default: WORK_DEFAULTS.deadlineMs / 1000, min: 0.1, max: 3600 }),
  concurrency: opt.int('Images processed at once (0 = one per core)', { default: 0, min: 0, max: 256 }),
  maxQueued: opt.int('Requests waiting for a worker; beyond, 503 busy with Retry-After', { default: WORK_DEFAULTS.maxQueued, min: 0, max: 100_000 }),
  drainS: opt.number('On SIGTERM/SIGINT, how long work in flight may finish before it is cancelled (503 shutting_down), seconds', { default: WORK_DEFAULTS.drainMs / 1000, min: 0, max: 3600 }),
  blocklist: opt.boolean('Enforce the abuse blocklist from the broker (needs username/password of a logship identity)', { default: true }),
  mqttUrl: sharedOptions.mqttUrl,
  username: opt.string('Broker username (role logship) for the blocklist', { required: false }),
  password: opt.string('Broker password (prefer FLEETPULSE_API_PASSWORD)', { required: false }),
  dataDir: sharedOptions.dataDir,
};

export default defineCommand({
  path: 'api',
  section: 'api',
  summary: 'Run the privacy API (POST /v1/blur), behind nginx when it is installed.',
  options: apiOptions,
  async run(config, ctx) {
    const dataDir = resolve(config.dataDir);
    const haveNginx = nginxExecutable() !== undefined;
    if (config.nginx === 'on' && !haveNginx) throw new ConfigError('fleetpulse api', [{ field: 'nginx', message: 'nginx is not installed (apt-get install nginx-light)' }]);
    const withNginx = config.nginx === 'on' || (config.nginx === 'auto' && haveNginx);
    const log = createLogger('api');
    const api = await startPrivacyApi({
      host: config.host,
      port: config.port,
      customersFile: config.customersFile === '-' ? join(dataDir, 'api', 'customers.json') : resolve(config.customersFile),
      trustedProxies: config.trustedProxies,
      maxBytes: Math.round(config.maxMb * 1024 * 1024),
      maxPixels: Math.round(config.maxMegapixels * 1_000_000),
      maxRegions: config.maxRegions,
      maxWork: config.maxWork,
      deadlineMs: Math.round(config.deadlineS * 1000),
      concurrency: config.concurrency,
      maxQueued: config.maxQueued,
      drainMs: Math.round(config.drainS * 1000),
      ...(config.blocklist && config.username ? { mqtt: { url: config.mqttUrl, username: config.username, password: config.password, clientId: `${config.username}:api-${process.pid}` } } : {}),
      ...(withNginx ? { nginx: { prefixDir: join(dataDir, 'nginx'), port: config.nginxPort } } : {}),
      logger: log,
    });
    ctx.print(`privacy API ${api.apiUrl}${api.nginx ? `, nginx ${api.nginx.url} (access log ${api.nginx.accessLog})` : ' (no nginx)'}`);
    return { stop: () => api.stop() };
  },
});
