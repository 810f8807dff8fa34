import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { opt } from '../../common/config.ts';
import { ConfigError } from '../../common/errors.ts';
import { createLogger } from '../../common/logger.ts';
import { brokerPaths } from '../../broker/broker-paths.ts';
import { startBroker, type PersistenceOptions } from '../../broker/broker-server.ts';
import { brokerWorkerIndex, startWorkerPool } from '../../broker/worker-pool.ts';
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
  brokerId: opt.string('Broker id, unique within a cluster (default random; with --workers <id or host>-w<index>-<pid>)', { required: false }),
  workers: opt.int('Broker processes on this host sharing the ports (Node cluster, round-robin); above 1 needs --persistence redis and implies --cluster', { default: 1, min: 1, max: 64 }),
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
  maxFailedLogins: opt.int('Failed logins per identity (and per address for unknown names) and minute before further attempts are refused; a password verified before still gets in', { default: 10, min: 1 }),
  maxBusBacklog: opt.int('Messages waiting on the internal message bus above which publishers are not read until it drains to half (a soft bound: one socket read per client may still arrive)', { default: 20_000, min: 1 }),
  maxOfflineMessages: opt.int('QoS 1/2 messages queued per offline persistent subscriber; newer ones are dropped and counted (level and memory persistence)', { default: 100_000, min: 1 }),
  storeLowSpaceMb: opt.int('Free MiB on the session store disk (level persistence) below which the broker warns, before QoS 1 publishes start being refused at full', { default: 256, min: 0 }),
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
    if (config.workers > 1 && config.persistence !== 'redis') {
      throw new ConfigError('fleetpulse broker', [{ field: 'persistence', message: 'must be redis with --workers above 1 (the workers share sessions and messages through Redis)' }]);
    }
    const paths = brokerPaths(config.dataDir);
    const certsDir = config.certsDir ?? paths.certsDir;
    if (config.tls) {
      const missing = ['server.crt', 'server.key', 'ca.crt'].filter((f) => !existsSync(join(certsDir, f)));
      if (missing.length > 0) {
        throw new ConfigError('fleetpulse broker', [{ field: 'certsDir', message: `${certsDir} lacks ${missing.join(', ')}: run 'fleetpulse certs' first` }]);
      }
    }
    const worker = brokerWorkerIndex();
    if (config.workers > 1 && worker === undefined) {
      // The primary only supervises; every worker runs this command again with the same options.
      const pool = startWorkerPool({ workers: config.workers, logger: createLogger('broker') });
      let failure: Error | undefined;
      return {
        done: pool.done.then((error) => void (failure = error)),
        stop: async () => {
          await pool.stop();
          if (failure) throw failure;
        },
      };
    }
    const persistence: PersistenceOptions =
      config.persistence === 'level' ? { kind: 'level', dir: paths.sessionsDir } : config.persistence === 'redis' ? { kind: 'redis', url: config.redisUrl } : { kind: 'memory' };
    // A fresh id per worker process: receivers drop messages whose (broker id, counter) they have
    // seen, so a replacement worker must not restart the counter of its predecessor's id.
    const brokerId = worker === undefined ? config.brokerId : `${config.brokerId ?? hostname()}-w${worker}-${process.pid}`;
    const cluster = config.cluster || worker !== undefined;
    const broker = await startBroker({
      host: config.host,
      port: config.port,
      logger: createLogger(worker === undefined ? 'broker' : `broker-w${worker}`),
      ...(brokerId ? { brokerId } : {}),
      auth: { devicesFile: config.devicesFile ?? paths.devicesFile, maxFailedLogins: config.maxFailedLogins },
      persistence,
      ...(cluster ? { clusterRedisUrl: config.redisUrl } : {}),
      ...(config.tls
        ? { tls: { port: config.tlsPort, certFile: join(certsDir, 'server.crt'), keyFile: join(certsDir, 'server.key'), caFile: join(certsDir, 'ca.crt'), requireClientCert: config.requireClientCert } }
        : {}),
      ...(config.ws ? { ws: { port: config.wsPort } } : {}),
      // Each worker has its own counters, so its own metrics port: the base port + its index.
      ...(config.metrics ? { metrics: { port: config.metricsPort === 0 || worker === undefined ? config.metricsPort : config.metricsPort + worker } } : {}),
      limits: { maxPacketBytes: config.maxPacketBytes, maxConnections: config.maxConnections, maxConnectionsPerAddress: config.maxConnectionsPerAddress, maxOfflineMessages: config.maxOfflineMessages, maxBusBacklog: config.maxBusBacklog, storeLowSpaceBytes: config.storeLowSpaceMb * 1024 * 1024 },
    });
    return { stop: () => broker.close() };
  },
});
