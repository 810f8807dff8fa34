/**
 * Deny-by-default authentication and topic ACLs as Aedes hooks.
 *
 * - CONNECT with a client id not bound to the identity (client-id-binding.ts): CONNACK 2.
 * - CONNECT without a username: refused with CONNACK 5 (not authorized); an unknown username or a
 *   wrong password: CONNACK 4 (bad username or password), after the same scrypt work either way. An
 *   identity over its failed-login budget: CONNACK 5 unless the password is one verified before;
 *   an unknown name from an address over its budget: CONNACK 4 without the dummy scrypt (but paced
 *   like one) — see login-limiter.ts. A last will outside the client's publish grants: CONNACK 5.
 *   Every refusal is counted by reason (`BrokerMetrics.refusals`).
 * - PUBLISH outside the grants: the client is disconnected (MQTT 3.1.1 §3.3.5 allows either that or a
 *   silent acknowledgement; a disconnect makes a misbehaving device visible instead of losing data
 *   quietly). The message reaches nobody.
 * - SUBSCRIBE: kept when inside the grants, narrowed to the readable part when it overlaps one
 *   readable area (a vehicle's `fleet/#` becomes `fleet/<shard>/<id>/#`), refused (SUBACK 0x80) when
 *   it overlaps none. Overlapping several areas (a viewer's `#`) keeps the filter and relies on the
 *   forward check, which every delivered message passes as a second line of defence.
 * - Each denial is counted (`BrokerMetrics.denials`) and logged; a client's first 20 denials are
 *   logged in full, later ones every 1000th, so a flooding client cannot flood the log.
 * - When the store changes, clients whose identity was revoked or rotated are disconnected.
 */
import type { Aedes, AedesOptions, AuthenticateError, Client } from 'aedes';
import type { Logger } from '../common/logger.ts';
import { sleep } from '../common/backoff.ts';
import type { AuthResult, BrokerMetrics, DenialAction, RefusalReason } from './broker-metrics.ts';
import type { DeviceIdentity, FileDeviceStore } from './device-store.ts';
import type { LoginLimiter } from './login-limiter.ts';
import { clientIdOwner, collidingNames } from './client-id-binding.ts';
import { decideSubscribe, grantsFor, mayPublish, mayRead, type Grants } from './topic-acl.ts';

interface Session {
  identity: DeviceIdentity;
  grants: Grants;
  denials: number;
}

const enum ConnackCode {
  IdentifierRejected = 2,
  BadUsernameOrPassword = 4,
  NotAuthorized = 5,
}

function authError(code: ConnackCode, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode: code }) as unknown as AuthenticateError;
}

/** The peer address of a TCP/TLS socket, or of the HTTP request behind a WebSocket. */
export function remoteAddress(client: Client): string {
  const conn = client.conn as { remoteAddress?: string };
  return conn.remoteAddress ?? client.req?.socket.remoteAddress ?? 'unknown';
}

export class AccessControl {
  private readonly sessions = new WeakMap<Client, Session>();
  private readonly wills = new WeakMap<Client, string>();

  constructor(
    private readonly store: FileDeviceStore,
    private readonly limiter: LoginLimiter,
    private readonly metrics: BrokerMetrics,
    private readonly log: Logger,
  ) {}

  identityOf(client: Client): DeviceIdentity | undefined {
    return this.sessions.get(client)?.identity;
  }

  /** The hooks to pass to `Aedes.createBroker`. */
  hooks(): Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'> {
    return {
      preConnect: (client, packet, done) => {
        if (packet.will?.topic) this.wills.set(client, packet.will.topic);
        done(null, true);
      },
      authenticate: (client, username, password, done) => {
        this.authenticate(client, username, password).then(
          (error) => done(error, error === null),
          (error: unknown) => {
            this.log.error('authentication failed unexpectedly', { clientId: client.id, error });
            done(authError(ConnackCode.NotAuthorized, 'authentication unavailable'), false);
          },
        );
      },
      authorizePublish: (client, packet, done) => {
        // A will of a client that died on another broker of the cluster: its topic was checked at CONNECT.
        if (!client) return done(null);
        const session = this.sessions.get(client);
        if (session && mayPublish(session.grants, packet.topic)) return done(null);
        this.deny('publish', client, session, packet.topic);
        done(new Error(`not authorized to publish to ${packet.topic}`));
      },
      authorizeSubscribe: (client, subscription, done) => {
        const session = this.sessions.get(client);
        if (!session) {
          this.deny('subscribe', client, session, subscription.topic);
          return done(null, null);
        }
        const decision = decideSubscribe(session.grants, subscription.topic);
        switch (decision.kind) {
          case 'allow':
          case 'filter-on-forward':
            return done(null, subscription);
          case 'narrow':
            this.metrics.subscriptionsNarrowed += 1;
            this.log.info('subscription narrowed', { clientId: client.id, username: session.identity.username, requested: subscription.topic, granted: decision.filter });
            return done(null, { ...subscription, topic: decision.filter });
          case 'deny':
            this.deny('subscribe', client, session, subscription.topic);
            return done(null, null);
        }
      },
      authorizeForward: (client, packet) => {
        const session = this.sessions.get(client);
        if (session && mayRead(session.grants, packet.topic)) return packet;
        // Not a hostile act (the filter may legitimately overlap): counted, logged at debug only.
        this.metrics.countDenial('forward', session?.identity.role ?? 'none');
        this.log.debug('forward denied', { clientId: client.id, topic: packet.topic });
        return null;
      },
    };
  }

  private async authenticate(client: Client, username: string | undefined, password: Buffer | undefined): Promise<AuthenticateError | null> {
    const address = remoteAddress(client);
    if (username === undefined || username === '') {
      this.limiter.recordFailure('', address, false);
      this.refuse('anonymous', 'anonymous');
      this.log.warn('anonymous connection refused', { clientId: client.id, address });
      return authError(ConnackCode.NotAuthorized, 'anonymous connections are not allowed');
    }
    const secret = password ?? Buffer.alloc(0);
    if (this.limiter.identityLimited(username)) {
      // No scrypt for a limited identity: only a password verified before gets in.
      const remembered = this.store.verifyRemembered(username, secret);
      if (remembered) return this.admit(client, remembered, address);
      await this.pace();
      this.refuse('identity_limited', 'throttled');
      return authError(ConnackCode.NotAuthorized, 'too many failed logins for this identity');
    }
    if (!this.store.has(username) && this.limiter.addressLimited(address)) {
      // Unknown names from this address cost no more dummy scrypt; the answer and its time stay those
      // of a wrong password, so that they do not tell an unknown name from a known one.
      await this.pace();
      this.refuse('address_limited', 'throttled');
      return authError(ConnackCode.BadUsernameOrPassword, 'bad username or password');
    }
    const result = await this.store.verify(username, secret);
    if (!result.ok) {
      const limits = this.limiter.recordFailure(username, address, result.reason !== 'unknown_user');
      this.refuse(result.reason, 'bad_credentials');
      this.log.warn('bad credentials', { clientId: client.id, username, address, reason: result.reason });
      if (limits.identityLimited) this.log.warn('failed-login limit reached for this identity: only a password verified before is accepted until the window ends', { username, address });
      if (limits.addressLimited) this.log.warn('failed-login limit reached for unknown names from this address: they are refused without a password check until the window ends', { address });
      return authError(ConnackCode.BadUsernameOrPassword, 'bad username or password');
    }
    return this.admit(client, result.identity, address);
  }

  /** A client whose password checked out: its client id and will must fit the identity. */
  private admit(client: Client, identity: DeviceIdentity, address: string): AuthenticateError | null {
    const username = identity.username;
    const owner = clientIdOwner(client.id, (name) => this.store.createdAt(name));
    if (owner !== username) {
      this.refuse('client_id_not_bound', 'bad_credentials');
      this.log.warn(
        owner === undefined ? 'client id not bound to this identity' : 'client id belongs to another identity, created earlier, whose rules also match it (revoke one of them)',
        { clientId: client.id, username, owner, address },
      );
      return authError(ConnackCode.IdentifierRejected, `client id ${client.id} does not belong to ${username}`);
    }
    const grants = grantsFor(identity);
    const will = this.wills.get(client);
    if (will !== undefined && !mayPublish(grants, will)) {
      this.refuse('will_not_allowed', 'bad_credentials');
      this.deny('publish', client, { identity, grants, denials: 0 }, will);
      return authError(ConnackCode.NotAuthorized, `not authorized to leave a will on ${will}`);
    }
    this.sessions.set(client, { identity, grants, denials: 0 });
    this.metrics.countAuth('ok');
    return null;
  }

  private refuse(reason: RefusalReason, result: AuthResult): void {
    this.metrics.countRefusal(reason);
    this.metrics.countAuth(result);
  }

  /** Waits about as long as a password hash takes, without doing one. */
  private pace(): Promise<void> {
    return sleep(this.store.typicalHashMs);
  }

  /**
   * Logs identities of the store whose client ids overlap (older data: `devices add` refuses such
   * names now). The client id goes to the one created first; the operator should revoke the other.
   */
  reportSharedClientIds(): void {
    for (const { username } of this.store.list()) {
      for (const { name, clientId } of collidingNames(username)) {
        if (username > name || !this.store.has(name)) continue;
        const owner = clientIdOwner(clientId, (n) => this.store.createdAt(n));
        this.log.warn('two identities match the same client id: it belongs to the one created first; revoke the other', { clientId, identities: [username, name], owner });
      }
    }
  }

  /** Disconnects clients whose identity no longer exists or was rotated; returns how many. */
  disconnectStale(aedes: Aedes): number {
    let closed = 0;
    const clients = (aedes as unknown as { clients: Record<string, Client> }).clients;
    for (const client of Object.values(clients)) {
      const session = this.sessions.get(client);
      if (!session) continue;
      const current = this.store.get(session.identity.username);
      if (current && current.generation === session.identity.generation && current.role === session.identity.role) continue;
      this.sessions.delete(client);
      this.metrics.revokedDisconnects += 1;
      this.log.warn(current ? 'disconnecting client with rotated credentials' : 'disconnecting revoked client', { clientId: client.id, username: session.identity.username });
      client.close();
      closed += 1;
    }
    return closed;
  }

  private deny(action: DenialAction, client: Client, session: Session | undefined, topic: string): void {
    this.metrics.countDenial(action, session?.identity.role ?? 'none');
    const n = session ? ++session.denials : 1;
    if (n <= 20 || n % 1000 === 0) {
      this.log.warn(`${action} denied`, { clientId: client.id, username: session?.identity.username, role: session?.identity.role, topic, denialsOfClient: n });
    }
  }
}
