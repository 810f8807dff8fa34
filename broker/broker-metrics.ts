/**
 * The broker's counters, rendered as Prometheus text (`/metrics`) and as `$SYS` messages.
 * Counters only ever grow; gauges are read when rendered.
 */
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
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

  /** Prometheus text exposition format 0.0.4. */
  render(gauges: Record<string, number>): string {
    const lines: string[] = [];
    const counter = (name: string, help: string, value: number): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`);
    };
    for (const [name, value] of Object.entries(gauges)) lines.push(`# TYPE ${name} gauge`, `${name} ${value}`);
    counter('fleetpulse_broker_connects_total', 'Client connections accepted by the protocol layer.', this.connects);
    counter('fleetpulse_broker_disconnects_total', 'Client disconnections.', this.disconnects);
    counter('fleetpulse_broker_client_errors_total', 'Client and connection errors.', this.clientErrors);
    counter('fleetpulse_broker_messages_published_total', 'PUBLISH packets accepted from clients.', this.messagesPublished);
    counter('fleetpulse_broker_bytes_published_total', 'Payload bytes accepted from clients.', this.bytesPublished);
    counter('fleetpulse_broker_oversize_packets_total', 'Connections closed for a packet above the size limit.', this.oversizePackets);
    counter('fleetpulse_broker_connections_refused_total', 'Connections refused at a connection limit.', this.connectionsRefused);
    counter('fleetpulse_broker_revoked_disconnects_total', 'Live clients disconnected after revocation or rotation.', this.revokedDisconnects);
    counter('fleetpulse_broker_subscriptions_narrowed_total', 'Subscriptions narrowed to what the client may read.', this.subscriptionsNarrowed);
    counter('fleetpulse_broker_offline_messages_dropped_total', 'Messages not queued for an offline persistent subscriber at its queue bound.', this.offlineDropped);
    counter('fleetpulse_broker_bus_parked_batches_total', 'Publisher socket reads held back while the message bus was at its backlog bound.', this.busParkedBatches);
    counter('fleetpulse_broker_bus_backpressure_engaged_total', 'Times the message bus reached its backlog bound.', this.busBackpressureEngaged);
    counter('fleetpulse_broker_store_write_errors_total', 'Session store write errors (each makes the store refuse writes until it is reopened).', this.storeWriteErrors);
    counter('fleetpulse_broker_store_reopens_total', 'Session store reopened after a write error.', this.storeReopens);
    counter('fleetpulse_broker_store_low_space_total', 'Times the session store disk fell below its low-space mark.', this.storeLowSpace);
    lines.push('# HELP fleetpulse_broker_refusals_total Refused CONNECTs and PUBLISHes by reason.', '# TYPE fleetpulse_broker_refusals_total counter');
    for (const [reason, value] of this.refusals) lines.push(`fleetpulse_broker_refusals_total{reason="${reason}"} ${value}`);
    lines.push('# HELP fleetpulse_broker_auth_total Authentication attempts by result.', '# TYPE fleetpulse_broker_auth_total counter');
    for (const [result, value] of this.auth) lines.push(`fleetpulse_broker_auth_total{result="${result}"} ${value}`);
    lines.push('# HELP fleetpulse_broker_acl_denials_total ACL denials by action and role.', '# TYPE fleetpulse_broker_acl_denials_total counter');
    for (const [key, value] of this.denials) {
      const [action, role] = key.split('\u0000');
      lines.push(`fleetpulse_broker_acl_denials_total{action="${action}",role="${role}"} ${value}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

/** A tiny HTTP server answering `GET /metrics`; everything else is 404. */
export async function startMetricsServer(host: string, port: number, render: () => string): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(render());
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
