import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { opt } from '../../common/config.ts';
import { ConfigError } from '../../common/errors.ts';
import { createLogger } from '../../common/logger.ts';
import { brokerPaths } from '../../broker/broker-paths.ts';
import { startBroker, type PersistenceOptions } from '../../broker/broker-server.ts';
import { defineCommand } from '../command.ts';
import { sharedOptions } from '../shared-options.ts';

export const brokerOptions = {
  host: opt.string('Address to listen on', { default: '127.0.0.1' }),
  port: opt.int('TCP port for MQTT', { default: 1883, min: 0, max: 65535 }),
  dataDir: sharedOptions.dataDir,
  devicesFile: opt.string('Device store (default <data-dir>/broker/devices.json); managed with `fleetpulse devices`', { required: false }),
  persistence: opt.oneOf(['level', 'memory', 'redis'] as const, 'Session store: level (on disk, <data-dir>/broker/sessions), memory, or redis (cluster)', { default: 'level' }),
  redisUrl: opt.url('Redis for --persistence redis and --cluster', ['redis'], { default: 'redis://127.0.0.1:6379' }),
  cluster: opt.boolean('Share messages with other brokers through Redis pub/sub (needs --persistence redis)', { default: false }),
  brokerId: opt.string('Broker id, unique within a cluster (default random)', { required: false }),
  tls: opt.boolean('Also listen with TLS (certificates from `fleetpulse certs`)', { default: false }),
  tlsPort: opt.int('TLS port', { default: 8883, min: 0, max: 65535 }),
  certsDir: opt.string('Directory with ca.crt, server.crt, server.key (default <data-dir>/certs)', { required: false }),
  requireClientCert: opt.boolean('TLS clients must present a certificate signed by the CA (in addition to a password)', { default: false }),
  ws: opt.boolean('Also listen for MQTT over WebSocket (browser dashboards)', { default: false }),
  wsPort: opt.int('WebSocket port', { default: 8083, min: 0, max: 65535 }),
  metrics: opt.boolean('Serve Prometheus metrics on GET /metrics', { default: false }),
  metricsPort: opt.int('Metrics HTTP port', { default: 9883, min: 0, max: 65535 }),
  maxPacketBytes: opt.int('Largest MQTT packet accepted; a larger one closes the connection', { default: 1024 * 1024, min: 1024, max: 256 * 1024 * 1024 }),
  maxConnections: opt.int('Connections across all listeners', { default: 10_000, min: 1 }),
  maxConnectionsPerAddress: opt.int('Connections per source address (0 = no limit)', { default: 0, min: 0 }),
  maxFailedLogins: opt.int('Failed logins per address and minute before the address is refused', { default: 10, min: 1 }),
};

export default defineCommand({
  path: 'broker',
  section: 'broker',
  summary: 'Run the MQTT broker (Aedes) for vehicles, ingest workers and log shippers; every client must log in.',
  options: brokerOptions,
  async run(config) {
    if (config.cluster && config.persistence !== 'redis') {
      throw new ConfigError('fleetpulse broker', [{ field: 'persistence', message: 'must be redis with --cluster (brokers of a cluster share sessions)' }]);
    }
    const paths = brokerPaths(config.dataDir);
    const certsDir = config.certsDir ?? paths.certsDir;
    if (config.tls) {
      const missing = ['server.crt', 'server.key', 'ca.crt'].filter((f) => !existsSync(join(certsDir, f)));
      if (missing.length > 0) {
        throw new ConfigError('fleetpulse broker', [{ field: 'certsDir', message: `${certsDir} lacks ${missing.join(', ')}: run 'fleetpulse certs' first` }]);
      }
    }
    const persistence: PersistenceOptions =
      config.persistence === 'level' ? { kind: 'level', dir: paths.sessionsDir } : config.persistence === 'redis' ? { kind: 'redis', url: config.redisUrl } : { kind: 'memory' };
    const broker = await startBroker({
      host: config.host,
      port: config.port,
      logger: createLogger('broker'),
      ...(config.brokerId ? { brokerId: config.brokerId } : {}),
      auth: { devicesFile: config.devicesFile ?? paths.devicesFile, maxFailedLogins: config.maxFailedLogins },
      persistence,
      ...(config.cluster ? { clusterRedisUrl: config.redisUrl } : {}),
      ...(config.tls
        ? { tls: { port: config.tlsPort, certFile: join(certsDir, 'server.crt'), keyFile: join(certsDir, 'server.key'), caFile: join(certsDir, 'ca.crt'), requireClientCert: config.requireClientCert } }
        : {}),
      ...(config.ws ? { ws: { port: config.wsPort } } : {}),
      ...(config.metrics ? { metrics: { port: config.metricsPort } } : {}),
      limits: { maxPacketBytes: config.maxPacketBytes, maxConnections: config.maxConnections, maxConnectionsPerAddress: config.maxConnectionsPerAddress },
    });
    return { stop: () => broker.close() };
  },
});
