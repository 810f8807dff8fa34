/**
 * The broker's counters, served on `/metrics` (prom-client, through common/metrics.ts) and as
 * `$SYS` messages. They are plain numbers the broker increments; a scrape reads them. Counters only
 * ever grow; gauges are read by the broker at each scrape.
 */
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { errorMessage } from '../common/errors.ts';
import { METRICS_CONTENT_TYPE, type ScrapeMetrics } from '../common/metrics.ts';
import { listenNamingOption } from '../common/net.ts';

export type DenialAction = 'publish' | 'subscribe' | 'forward';
export type AuthResult = 'ok' | 'anonymous' | 'bad_credentials' | 'throttled';
/** Why the broker said no to a client: a CONNECT refused, or a PUBLISH it could not store. */
export type RefusalReason =
  | 'anonymous'
  | 'unknown_user'
  | 'bad_password'
  | 'identity_limited'
  | 'address_limited'
  | 'client_id_not_bound'
  | 'will_not_allowed'
  | 'store_write_failed';

export class BrokerMetrics {
  connects = 0;
  disconnects = 0;
  clientErrors = 0;
  messagesPublished = 0;
  bytesPublished = 0;
  /** Connections closed because they sent a packet above the size limit. */
  oversizePackets = 0;
  /** Connections refused because a connection limit was reached. */
  connectionsRefused = 0;
  /** Live clients disconnected because their identity was revoked or rotated. */
  revokedDisconnects = 0;
  /** Subscriptions replaced by a narrower filter (not a denial: the client still gets its share). */
  subscriptionsNarrowed = 0;
  /** Messages not queued for an offline persistent subscriber whose queue was at its bound. */
  offlineDropped = 0;
  /** Publisher batch reads held back because the message bus was at its backlog bound. */
  busParkedBatches = 0;
  /** Times the message bus reached its backlog bound. */
  busBackpressureEngaged = 0;
  /** Write errors of the session store (each starts an episode that ends with a reopen). */
  storeWriteErrors = 0;
  /** Times the session store was reopened after a write error. */
  storeReopens = 0;
  /** Times the session store's free space fell below the low-space mark. */
  storeLowSpace = 0;
  readonly auth = new Map<AuthResult, number>();
  /** Denials per action and role. */
  readonly denials = new Map<string, number>();
  readonly refusals = new Map<RefusalReason, number>();

  countRefusal(reason: RefusalReason): number {
    const n = (this.refusals.get(reason) ?? 0) + 1;
    this.refusals.set(reason, n);
    return n;
  }

  countAuth(result: AuthResult): void {
    this.auth.set(result, (this.auth.get(result) ?? 0) + 1);
  }

  countDenial(action: DenialAction, role: string): void {
    const key = `${action}\u0000${role}`;
    this.denials.set(key, (this.denials.get(key) ?? 0) + 1);
  }

  deniedTotal(action?: DenialAction): number {
    let n = 0;
    for (const [key, v] of this.denials) if (!action || key.startsWith(`${action}\u0000`)) n += v;
    return n;
  }

  /** Writes the counters to a scrape (prefix `fleetpulse_broker`). */
  write(m: ScrapeMetrics): void {
    m.counter('connects_total', 'Client connections accepted by the protocol layer.', this.connects)
      .counter('disconnects_total', 'Client disconnections.', this.disconnects)
      .counter('client_errors_total', 'Client and connection errors.', this.clientErrors)
      .counter('messages_published_total', 'PUBLISH packets accepted from clients.', this.messagesPublished)
      .counter('bytes_published_total', 'Payload bytes accepted from clients.', this.bytesPublished)
      .counter('oversize_packets_total', 'Connections closed for a packet above the size limit.', this.oversizePackets)
      .counter('connections_refused_total', 'Connections refused at a connection limit.', this.connectionsRefused)
      .counter('revoked_disconnects_total', 'Live clients disconnected after revocation or rotation.', this.revokedDisconnects)
      .counter('subscriptions_narrowed_total', 'Subscriptions narrowed to what the client may read.', this.subscriptionsNarrowed)
      .counter('offline_messages_dropped_total', 'Messages not queued for an offline persistent subscriber at its queue bound.', this.offlineDropped)
      .counter('bus_parked_batches_total', 'Publisher socket reads held back while the message bus was at its backlog bound.', this.busParkedBatches)
      .counter('bus_backpressure_engaged_total', 'Times the message bus reached its backlog bound.', this.busBackpressureEngaged)
      .counter('store_write_errors_total', 'Session store write errors (each makes the store refuse writes until it is reopened).', this.storeWriteErrors)
      .counter('store_reopens_total', 'Session store reopened after a write error.', this.storeReopens)
      .counter('store_low_space_total', 'Times the session store disk fell below its low-space mark.', this.storeLowSpace)
      .counter('refusals_total', 'Refused CONNECTs and PUBLISHes by reason.', [...this.refusals].map(([reason, n]) => [{ reason }, n] as const))
      .counter('auth_total', 'Authentication attempts by result.', [...this.auth].map(([result, n]) => [{ result }, n] as const))
      .counter(
        'acl_denials_total',
        'ACL denials by action and role.',
        [...this.denials].map(([key, n]) => {
          const [action = '', role = ''] = key.split('\u0000');
          return [{ action, role }, n] as const;
        }),
      );
  }
}

/** A tiny HTTP server answering `GET /metrics`; everything else is 404. */
export async function startMetricsServer(host: string, port: number, render: () => Promise<string>): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
      render().then(
        (text) => res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(text),
        (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`${errorMessage(error)}\n`),
      );
      return;
    }
    res.writeHead(404).end();
  });
  await listenNamingOption('--metrics-port', host, port, async () => {
    server.listen(port, host);
    await once(server, 'listening');
  });
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : port };
}
