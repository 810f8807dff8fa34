/**
 * The MQTT broker: Aedes behind a TCP listener.
 *
 * This first version accepts every client; deny-by-default authentication, ACLs, TLS,
 * WebSocket and durable sessions are layered on through Aedes' hooks and persistence.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { Aedes } from 'aedes';
import { type Logger, silentLogger } from '../common/logger.ts';

export interface BrokerOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  logger?: Logger;
}

export interface BrokerStats {
  connectedClients: number;
  connects: number;
  disconnects: number;
  clientErrors: number;
  messagesPublished: number;
}

export interface RunningBroker {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly aedes: Aedes;
  stats(): BrokerStats;
  close(): Promise<void>;
}

export async function startBroker(options: BrokerOptions): Promise<RunningBroker> {
  const log = options.logger ?? silentLogger;
  const aedes = await Aedes.createBroker();
  const counters = { connects: 0, disconnects: 0, clientErrors: 0, messagesPublished: 0 };

  aedes.on('client', (client) => {
    counters.connects += 1;
    log.debug('client connected', { clientId: client.id });
  });
  aedes.on('clientDisconnect', (client) => {
    counters.disconnects += 1;
    log.debug('client disconnected', { clientId: client.id });
  });
  aedes.on('clientError', (client, error) => {
    counters.clientErrors += 1;
    log.debug('client error', { clientId: client.id, error });
  });
  aedes.on('connectionError', (_client, error) => {
    counters.clientErrors += 1;
    log.debug('connection error', { error });
  });
  aedes.on('publish', (_packet, client) => {
    if (client) counters.messagesPublished += 1;
  });

  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  log.info('broker listening', { url: `mqtt://${options.host}:${port}` });

  return {
    host: options.host,
    port,
    url: `mqtt://${options.host}:${port}`,
    aedes,
    stats: () => ({ connectedClients: aedes.connectedClients, ...counters }),
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
