/**
 * The MQTT broker: Aedes behind TCP, TLS and WebSocket listeners, with deny-by-default
 * authentication and topic ACLs (access-control.ts), durable sessions (LevelDB on disk, or Redis
 * in cluster mode), limits, and metrics as Prometheus text and `$SYS` messages.
 *
 * Library callers that pass no `auth` get a broker that allows everyone (logged as a warning):
 * that is for tests of other components only. `fleetpulse broker` and `fleetpulse up` always pass
 * a device store.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { once } from 'node:events';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { type Logger, silentLogger } from '../common/logger.ts';
import { listenNamingOption } from '../common/net.ts';
import { topics } from '../contracts/topics.ts';
import { AccessControl } from './access-control.ts';
import { acknowledgeAfterStore, type PublishingBroker } from './acknowledge-after-store.ts';
import { ServiceMetrics } from '../common/metrics.ts';
import { BrokerMetrics, startMetricsServer } from './broker-metrics.ts';
import { FileDeviceStore } from './device-store.ts';
import { watchFreeSpace, type FreeSpaceWatch } from './free-space-watch.ts';
import { guardLevelWrites, type ReopenableLevel, type WriteGuard } from './guarded-level-writes.ts';
import { checkDuplicatesExactly, type DeduplicatingClient } from './exact-duplicate-check.ts';
import { ResumeOrder, type ResumingClient, type StreamingPersistence } from './resume-order.ts';
import { IndexedMemoryPersistence } from './indexed-memory-persistence.ts';
import { LoginLimiter } from './login-limiter.ts';
import { useConstantTimeQueue, type QueueingEmitter } from './emitter-queue.ts';
import { boundOfflineQueues, type QueueingPersistence } from './offline-queue-bound.ts';
import { guardPacketSize } from './packet-size-guard.ts';
import { orderOutgoingEnqueue, orderOutgoingUpdate, type EnqueueingPersistence, type UpdatingPersistence } from './ordered-enqueue.ts';
import { PublishBackpressure, type BackpressureClient } from './publish-backpressure.ts';
import { guardClientPacketLoop, guardEmitterQueue, type PacketLoopClient, type QueueDrainingEmitter } from './stack-guard.ts';

const require = createRequire(import.meta.url);

export interface AuthOptions {
  /** The device store (`fleetpulse devices …` writes it); watched for changes while running. */
  devicesFile: string;
  /** How often the store file is checked for changes (revocation latency). Default 500 ms. */
  watchIntervalMs?: number;
  /** Failed logins per identity (and per address for unknown identities) within `failedLoginWindowMs` before further attempts are refused (login-limiter.ts). Default 10. */
  maxFailedLogins?: number;
  /** Default 60 s. */
  failedLoginWindowMs?: number;
}

export interface TlsListenerOptions {
  port: number;
  host?: string;
  certFile: string;
  keyFile: string;
  /** CA to verify client certificates with; with `requireClientCert` a client must present one. */
  caFile?: string;
  requireClientCert?: boolean;
}

export interface ListenerOptions {
  port: number;
  host?: string;
}

export type PersistenceOptions =
  | { kind: 'memory' }
  /** Sessions, subscriptions, retained and queued QoS 1/2 messages in LevelDB under `dir`. */
  | { kind: 'level'; dir: string }
  /** Shared state for a cluster: every broker of the cluster points at the same Redis. */
  | { kind: 'redis'; url: string };

export interface BrokerLimits {
  /** Largest MQTT packet accepted (fixed header included); a larger one closes the connection. Default 1 MiB. */
  maxPacketBytes?: number;
  /** Connections across all listeners; more are closed at accept. Default 10,000. */
  maxConnections?: number;
  /** Connections per source address; 0 = no limit (the default: a simulated fleet shares one address). */
  maxConnectionsPerAddress?: number;
  /** Packets Aedes queues per client while its CONNECT is being authenticated. Default 42. */
  queueLimit?: number;
  /** Inbound QoS 2 messages awaiting PUBREL per client. Default 100. */
  maxInflightInbound?: number;
  /** A client whose socket does not drain within this time is disconnected (slow consumer). Default 30 s. */
  drainTimeoutMs?: number;
  /** Time allowed between TCP accept and CONNECT. Default 10 s. */
  connectTimeoutMs?: number;
  /** Offline messages delivered per reconnect (Redis persistence). Default 1000. */
  maxSessionDelivery?: number;
  /**
   * Messages waiting on the broker's internal bus above which publishers' sockets are no longer read
   * until it drains to half (publish-backpressure.ts). Default 20,000.
   */
  maxBusBacklog?: number;
  /**
   * QoS 1/2 messages queued per offline persistent subscriber (memory and LevelDB persistence); at the
   * bound new messages are not queued for that client and are counted. Default 100,000.
   */
  maxOfflineMessages?: number;
  /**
   * Free bytes on the LevelDB session store's file system below which the broker warns (log line and
   * `fleetpulse_broker_store_low_space_total`), before writes start failing. Default 256 MiB.
   */
  storeLowSpaceBytes?: number;
  /** How often that free space is checked. Default 10 s. */
  storeSpaceCheckIntervalMs?: number;
}

export interface BrokerOptions {
  host: string;
  /** TCP port; 0 picks a free port (tests). */
  port: number;
  /** The option that chose `port`, named when it is taken (default `--port`; `fleetpulse up` says `--mqtt-port`). */
  portOption?: string;
  logger?: Logger;
  /** Unique per broker of a cluster; default random (Aedes' own). */
  brokerId?: string;
  /** Deny-by-default authentication and ACLs. Omitted: everyone is allowed (tests of other components only). */
  auth?: AuthOptions;
  tls?: TlsListenerOptions;
  /** MQTT over WebSocket (path `/mqtt` and `/`), for browser dashboards. */
  ws?: ListenerOptions;
  /** Prometheus text on `GET /metrics`. */
  metrics?: ListenerOptions;
  /** Default memory. */
  persistence?: PersistenceOptions;
  /** Share publishes with other brokers through Redis pub/sub (mqemitter-redis). */
  clusterRedisUrl?: string;
  limits?: BrokerLimits;
  /** How often counters go to `$SYS/<id>/fleetpulse/metrics`; 0 = never. Default 10 s. */
  sysIntervalMs?: number;
}

export interface BrokerStats {
  /** Clients past CONNECT (counted from Aedes' client table: its own counter can drift on malformed input). */
  connectedClients: number;
  /** Sockets open on every listener, including those not yet past CONNECT. */
  openConnections: number;
  connects: number;
  disconnects: number;
  clientErrors: number;
  messagesPublished: number;
  deniedPublish: number;
  deniedSubscribe: number;
  deniedForward: number;
  authFailures: number;
  revokedDisconnects: number;
  oversizePackets: number;
  connectionsRefused: number;
  /** Messages not queued for an offline persistent subscriber because its queue was full. */
  offlineDropped: number;
  /** Publisher batch reads held back because the message bus was at its backlog bound. */
  busParkedBatches: number;
  /** Messages waiting on the message bus now. */
  busQueueLength: number;
  /** Refused CONNECTs and PUBLISHes by reason (as `fleetpulse_broker_refusals_total`). */
  refusals: Record<string, number>;
}

export interface RunningBroker {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  /** `mqtt://host:port` of the TCP listener. */
  readonly url: string;
  readonly tlsUrl?: string;
  readonly wsUrl?: string;
  readonly metricsUrl?: string;
  readonly aedes: Aedes;
  readonly metrics: BrokerMetrics;
  /** What `GET /metrics` answers (also without `metrics` options). */
  metricsText(): Promise<string>;
  stats(): BrokerStats;
  /** Re-reads the device store now and disconnects revoked clients (also happens on its own). */
  reloadDevices(): number;
  close(): Promise<void>;
}

interface Persistence extends QueueingPersistence {
  destroy(): Promise<void>;
}

interface RetainedStreams {
  createRetainedStreamCombi(patterns: string[]): AsyncIterable<unknown>;
  createRetainedStream(pattern: string): AsyncIterable<unknown>;
}

function redisOptions(url: string): Record<string, unknown> {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
  };
}

async function createPersistence(options: PersistenceOptions, limits: BrokerLimits, guardWrites: (db: ReopenableLevel) => void): Promise<Persistence> {
  switch (options.kind) {
    case 'memory': {
      // Aedes' own store with indexed outgoing queues (a persistent subscriber's backlog cost
      // O(backlog) per message there), created here so that its offline queues can be bounded too.
      return new IndexedMemoryPersistence() as unknown as Persistence;
    }
    case 'level': {
      mkdirSync(options.dir, { recursive: true, mode: 0o700 });
      const { Level } = await import('level');
      // The package's main export wraps the async class in a callback API that Aedes 1.x refuses.
      const AsyncLevelPersistence = require('aedes-persistence-level/asyncPersistence.js') as new (db: unknown) => Persistence;
      const db = new Level(options.dir);
      await db.open();
      // After a failed write LevelDB must be reopened before it confirms another (guarded-level-writes.ts).
      guardWrites(db as unknown as ReopenableLevel);
      return new AsyncLevelPersistence(db);
    }
    case 'redis': {
      const AsyncRedisPersistence = require('aedes-persistence-redis/asyncPersistence.js') as new (opts: unknown) => Persistence & RetainedStreams;
      const redis = new AsyncRedisPersistence({ ...redisOptions(options.url), maxSessionDelivery: limits.maxSessionDelivery ?? 1000 });
      // Its retained-message lookup returns an async generator where Aedes 1.2 pipes a stream.
      const combi = redis.createRetainedStreamCombi.bind(redis);
      redis.createRetainedStreamCombi = (patterns) => Readable.from(combi(patterns));
      redis.createRetainedStream = (pattern) => Readable.from(combi([pattern]));
      return redis;
    }
  }
}

export async function startBroker(options: BrokerOptions): Promise<RunningBroker> {
  const log = options.logger ?? silentLogger;
  const limits = options.limits ?? {};
  const maxPacketBytes = limits.maxPacketBytes ?? 1024 * 1024;
  const maxConnections = limits.maxConnections ?? 10_000;
  const perAddress = limits.maxConnectionsPerAddress ?? 0;
  const metrics = new BrokerMetrics();

  let access: AccessControl | undefined;
  let store: FileDeviceStore | undefined;
  if (options.auth) {
    store = new FileDeviceStore(options.auth.devicesFile);
    const limiter = new LoginLimiter({
      maxFailures: options.auth.maxFailedLogins ?? 10,
      windowMs: options.auth.failedLoginWindowMs ?? 60_000,
      maxTracked: 10_000,
    });
    access = new AccessControl(store, limiter, metrics, log);
    if (store.size === 0) log.warn('device store is empty: every client will be refused', { devicesFile: store.path });
    access.reportSharedClientIds();
  } else {
    log.warn('broker started WITHOUT authentication: every client may publish and read everything');
  }

  const persistenceKind = options.persistence?.kind ?? 'memory';
  let writeGuard: WriteGuard | undefined;
  const persistence = await createPersistence(options.persistence ?? { kind: 'memory' }, limits, (db) => {
    writeGuard = guardLevelWrites(db, {
      onWriteError: (error) => {
        metrics.storeWriteErrors += 1;
        log.error('session store write failed: QoS 1/2 messages are refused until it has been reopened', { error });
      },
      onReopenFailed: (error, attempt) => {
        if (attempt === 1 || attempt % 20 === 0) log.warn('session store could not be reopened yet; retrying', { attempt, error });
      },
      onReopened: (attempts) => {
        metrics.storeReopens += 1;
        log.info('session store reopened: accepting messages again', { attempts });
      },
    });
  });
  let freeSpace: FreeSpaceWatch | undefined;
  if (options.persistence?.kind === 'level') {
    const dir = options.persistence.dir;
    const lowSpaceBytes = limits.storeLowSpaceBytes ?? 256 * 1024 * 1024;
    freeSpace = watchFreeSpace(dir, {
      lowBytes: lowSpaceBytes,
      intervalMs: limits.storeSpaceCheckIntervalMs ?? 10_000,
      onLow: (freeBytes) => {
        metrics.storeLowSpace += 1;
        log.warn('session store low on space: when it is full, QoS 1 publishes are refused until space is freed', { dir, freeBytes, lowSpaceBytes });
      },
      onRecovered: (freeBytes) => log.info('session store has space again', { dir, freeBytes }),
      onCheckFailed: (error) => log.warn('could not read the session store free space', { dir, error }),
    });
  }
  // Stores may finish writes out of order; Aedes would then drop acknowledged messages (ordered-enqueue.ts).
  orderOutgoingEnqueue(persistence as unknown as EnqueueingPersistence);
  orderOutgoingUpdate(persistence as unknown as UpdatingPersistence);
  let isConnected = (_clientId: string): boolean => false;
  const offlineQueues =
    persistenceKind === 'redis'
      ? undefined
      : boundOfflineQueues(persistence, {
          maxMessages: limits.maxOfflineMessages ?? 100_000,
          isConnected: (clientId) => isConnected(clientId),
          onDrop: (clientId, first) => {
            metrics.offlineDropped += 1;
            if (first) log.warn('offline queue full: new messages for this client are dropped until it reconnects', { clientId, maxOfflineMessages: limits.maxOfflineMessages ?? 100_000 });
          },
        });
  let mq: unknown;
  if (options.clusterRedisUrl) {
    const mqemitterRedis = require('mqemitter-redis') as (opts: unknown) => unknown;
    mq = mqemitterRedis(redisOptions(options.clusterRedisUrl));
  }

  const aedesOptions: AedesOptions = {
    ...(options.brokerId ? { id: options.brokerId } : {}),
    persistence,
    ...(mq ? { mq } : {}),
    queueLimit: limits.queueLimit ?? 42,
    maxInflightInbound: limits.maxInflightInbound ?? 100,
    drainTimeout: limits.drainTimeoutMs ?? 30_000,
    connectTimeout: limits.connectTimeoutMs ?? 10_000,
    ...(access ? access.hooks() : {}),
  };
  const aedes = await Aedes.createBroker(aedesOptions);
  // A QoS 1 PUBACK only for what the session store took; otherwise the publisher sends it again.
  acknowledgeAfterStore(aedes as unknown as PublishingBroker<Client>, (client, packet, error) => {
    const n = metrics.countRefusal('store_write_failed');
    if (n <= 20 || n % 1000 === 0) {
      log.error('message not stored: not acknowledged, publisher disconnected so that it sends the message again', { clientId: client.id, topic: packet.topic, qos: packet.qos, error, refusedSoFar: n });
    }
  });
  guardEmitterQueue((aedes as unknown as { mq: QueueDrainingEmitter }).mq);
  // Its backlog must cost O(1) per message, or a busy broker slows down as it falls behind (emitter-queue.ts),
  // and it is bounded by reading publishers' sockets only while it is short (publish-backpressure.ts).
  let backpressure: PublishBackpressure | undefined;
  const busQueue = useConstantTimeQueue((aedes as unknown as { mq: QueueingEmitter }).mq, () => backpressure?.onBusShift());
  backpressure = new PublishBackpressure(busQueue, {
    highWatermark: limits.maxBusBacklog ?? 20_000,
    onEngaged: (queued) => {
      metrics.busBackpressureEngaged += 1;
      log.warn('message bus backlog at its bound: pausing publishers until it drains', { queued, maxBusBacklog: limits.maxBusBacklog ?? 20_000 });
    },
    onParked: () => {
      metrics.busParkedBatches += 1;
    },
  });
  // Outermost: a resuming client's held deliveries pass the duplicate check when they are replayed.
  const resumeOrder = new ResumeOrder(persistence as unknown as StreamingPersistence);
  const packetLoop = (client: unknown): void => {
    checkDuplicatesExactly(client as DeduplicatingClient);
    resumeOrder.attach(client as ResumingClient);
    guardClientPacketLoop(client as PacketLoopClient);
    backpressure?.attach(client as BackpressureClient);
  };
  const liveClients = (aedes as unknown as { clients: Record<string, unknown> }).clients;
  isConnected = (clientId) => liveClients[clientId] !== undefined;

  aedes.on('client', (client) => {
    metrics.connects += 1;
    offlineQueues?.forget(client.id);
    log.debug('client connected', { clientId: client.id, username: access?.identityOf(client)?.username });
  });
  aedes.on('clientDisconnect', (client) => {
    metrics.disconnects += 1;
    // What it had in flight is not held against its offline bound (offline-queue-bound.ts).
    offlineQueues?.wentOffline(client.id);
    log.debug('client disconnected', { clientId: client.id });
  });
  aedes.on('clientError', (client, error) => {
    metrics.clientErrors += 1;
    log.debug('client error', { clientId: client.id, error });
  });
  aedes.on('connectionError', (_client, error) => {
    metrics.clientErrors += 1;
    log.debug('connection error', { error });
  });
  aedes.on('publish', (packet, client) => {
    if (!client) return;
    metrics.messagesPublished += 1;
    metrics.bytesPublished += packet.payload.length;
  });

  // Connection accounting across listeners: the global and per-address limits.
  const sockets = new Set<Socket>();
  const perAddressCount = new Map<string, number>();
  const admit = (socket: Socket): boolean => {
    const address = socket.remoteAddress ?? 'unknown';
    const n = perAddressCount.get(address) ?? 0;
    if (sockets.size >= maxConnections || (perAddress > 0 && n >= perAddress)) {
      metrics.connectionsRefused += 1;
      log.warn('connection refused at limit', { address, connections: sockets.size, fromAddress: n });
      socket.destroy();
      return false;
    }
    sockets.add(socket);
    perAddressCount.set(address, n + 1);
    socket.once('close', () => {
      sockets.delete(socket);
      const left = (perAddressCount.get(address) ?? 1) - 1;
      if (left <= 0) perAddressCount.delete(address);
      else perAddressCount.set(address, left);
    });
    return true;
  };
  const onOversize = (socket: Socket) => () => {
    metrics.oversizePackets += 1;
    log.warn('connection closed: packet above size limit', { address: socket.remoteAddress, maxPacketBytes });
  };
  const handleStream = (socket: Socket): void => {
    if (!admit(socket)) return;
    socket.setNoDelay(true);
    guardPacketSize(socket, maxPacketBytes, onOversize(socket));
    packetLoop(aedes.handle(socket));
  };

  const closers: Array<() => Promise<void>> = [];
  const listen = async (server: Server | HttpServer, port: number, host: string, option: string): Promise<number> => {
    await listenNamingOption(option, host, port, async () => {
      server.listen(port, host);
      await once(server, 'listening');
    });
    closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const address = server.address();
    return typeof address === 'object' && address ? address.port : port;
  };

  const cleanupOnFailure = async (error: unknown): Promise<never> => {
    writeGuard?.stop();
    freeSpace?.stop();
    for (const close of closers.reverse()) await close().catch(() => {});
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await persistence.destroy().catch(() => {});
    throw error;
  };

  let port = 0;
  let tlsPort: number | undefined;
  let wsPort: number | undefined;
  let metricsPort: number | undefined;
  let wss: WebSocketServer | undefined;
  const scrape = new ServiceMetrics('fleetpulse_broker');
  scrape.addSource((m) => {
    m.gauge('connected_clients', 'Clients connected (past CONNECT).', clientCount())
      .gauge('open_connections', 'Open network connections, including those not past CONNECT yet.', sockets.size)
      .gauge('bus_queue_length', 'Messages waiting in the message bus.', busQueue.length)
      .gauge('bus_waiting_publishers', 'Publishers whose socket reads are held back at the bus backlog bound.', backpressure?.waiting ?? 0);
    if (writeGuard) m.gauge('store_writable', '1 while the session store accepts writes (0 from a write error until it is reopened).', writeGuard.writable ? 1 : 0);
    if (freeSpace?.freeBytes !== undefined) m.gauge('store_free_bytes', "Free bytes on the session store's file system at the last check.", freeSpace.freeBytes);
    metrics.write(m);
  });

  try {
    port = await listen(createServer(handleStream), options.port, options.host, options.portOption ?? '--port');

    if (options.tls) {
      const tls = options.tls;
      const server = createTlsServer(
        {
          cert: readFileSync(tls.certFile),
          key: readFileSync(tls.keyFile),
          ...(tls.caFile ? { ca: readFileSync(tls.caFile) } : {}),
          requestCert: tls.requireClientCert ?? false,
          rejectUnauthorized: tls.requireClientCert ?? false,
          minVersion: 'TLSv1.2',
        },
        (socket: TLSSocket) => handleStream(socket),
      );
      server.on('tlsClientError', (error) => {
        metrics.clientErrors += 1;
        log.debug('TLS handshake failed', { error });
      });
      tlsPort = await listen(server, tls.port, tls.host ?? options.host, '--tls-port');
    }

    if (options.ws) {
      const http = createHttpServer((_req, res) => res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n'));
      // Listening before the WebSocket server attaches: it re-emits the HTTP server's errors, so a
      // taken port would otherwise be an unhandled 'error' event instead of the error below.
      wsPort = await listen(http, options.ws.port, options.ws.host ?? options.host, '--ws-port');
      wss = new WebSocketServer({ server: http, maxPayload: maxPacketBytes });
      wss.on('connection', (ws, req) => {
        const socket = req.socket;
        if (!admit(socket)) return;
        const stream = createWebSocketStream(ws);
        stream.on('error', () => stream.destroy());
        packetLoop(aedes.handle(stream, req));
      });
      const server = wss;
      closers.push(async () => {
        for (const client of server.clients) client.terminate();
        server.close();
      });
    }

    if (options.metrics) {
      const started = await startMetricsServer(options.metrics.host ?? options.host, options.metrics.port, () => scrape.text());
      metricsPort = started.port;
      closers.push(() => new Promise<void>((resolve) => started.server.close(() => resolve())));
    }
  } catch (error) {
    return cleanupOnFailure(error);
  }

  let stopWatching = (): void => {};
  const reloadDevices = (): number => (access ? access.disconnectStale(aedes) : 0);
  if (store && options.auth) {
    const devices = store;
    stopWatching = devices.watch(
      () => {
        log.info('device store changed', { devices: devices.size });
        access?.reportSharedClientIds();
        reloadDevices();
      },
      options.auth.watchIntervalMs ?? 500,
      (error) => log.error('device store unreadable; keeping the last good state', { error }),
    );
  }

  const sysIntervalMs = options.sysIntervalMs ?? 10_000;
  const sysTimer =
    sysIntervalMs > 0
      ? setInterval(() => {
          const payload = Buffer.from(JSON.stringify({ ...statsOf(), at: new Date().toISOString() }));
          aedes.publish({ cmd: 'publish', topic: topics.brokerMetrics(aedes.id), payload, qos: 0, retain: false, dup: false }, () => {});
        }, sysIntervalMs)
      : undefined;
  sysTimer?.unref();

  function clientCount(): number {
    return Object.keys((aedes as unknown as { clients: Record<string, unknown> }).clients).length;
  }

  function statsOf(): BrokerStats {
    let authFailures = 0;
    for (const [result, n] of metrics.auth) if (result !== 'ok') authFailures += n;
    return {
      connectedClients: clientCount(),
      openConnections: sockets.size,
      connects: metrics.connects,
      disconnects: metrics.disconnects,
      clientErrors: metrics.clientErrors,
      messagesPublished: metrics.messagesPublished,
      deniedPublish: metrics.deniedTotal('publish'),
      deniedSubscribe: metrics.deniedTotal('subscribe'),
      deniedForward: metrics.deniedTotal('forward'),
      authFailures,
      revokedDisconnects: metrics.revokedDisconnects,
      oversizePackets: metrics.oversizePackets,
      connectionsRefused: metrics.connectionsRefused,
      offlineDropped: metrics.offlineDropped,
      busParkedBatches: backpressure?.parkedBatches ?? 0,
      busQueueLength: busQueue.length,
      refusals: Object.fromEntries(metrics.refusals),
    };
  }

  const url = `mqtt://${options.host}:${port}`;
  const tlsHost = options.tls?.host ?? options.host;
  const wsHost = options.ws?.host ?? options.host;
  const metricsHost = options.metrics?.host ?? options.host;
  log.info('broker listening', {
    url,
    ...(tlsPort !== undefined ? { tls: `mqtts://${tlsHost}:${tlsPort}` } : {}),
    ...(wsPort !== undefined ? { ws: `ws://${wsHost}:${wsPort}/mqtt` } : {}),
    ...(metricsPort !== undefined ? { metrics: `http://${metricsHost}:${metricsPort}/metrics` } : {}),
    auth: options.auth ? 'devices' : 'none',
    persistence: options.persistence?.kind ?? 'memory',
    cluster: options.clusterRedisUrl ? 'redis' : 'off',
  });

  let closing: Promise<void> | undefined;
  return {
    id: aedes.id,
    host: options.host,
    port,
    url,
    ...(tlsPort !== undefined ? { tlsUrl: `mqtts://${tlsHost}:${tlsPort}` } : {}),
    ...(wsPort !== undefined ? { wsUrl: `ws://${wsHost}:${wsPort}/mqtt` } : {}),
    ...(metricsPort !== undefined ? { metricsUrl: `http://${metricsHost}:${metricsPort}/metrics` } : {}),
    aedes,
    metrics,
    metricsText: () => scrape.text(),
    stats: statsOf,
    reloadDevices: () => {
      store?.reload();
      return reloadDevices();
    },
    close() {
      closing ??= (async () => {
        stopWatching();
        writeGuard?.stop();
        freeSpace?.stop();
        if (sysTimer) clearInterval(sysTimer);
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        for (const close of closers.reverse()) await close();
        await persistence.destroy();
      })();
      return closing;
    },
  };
}
