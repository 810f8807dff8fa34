/**
 * Which identity a client id belongs to.
 *
 * MQTT lets a new connection with the same client id evict the old one and inherit its persistent
 * session (queued messages included), so an identity must not be able to use another's client id.
 * An identity's client ids are: its username, `<username>:<anything>` (':' never occurs in a
 * username), and the vehicle agent's `agent-<username>`.
 *
 * Guarantee: every client id belongs to exactly one identity. Names whose client ids would overlap
 * (one is `agent-` + the other: `agent-v02` and v02's agent id `agent-v02`) are refused by the device
 * store (`collidingNames`); when a store already holds both (older data), the client id belongs to
 * the identity created first and is refused to the other (`clientIdOwner`), so neither can evict the
 * other's session.
 */
// Usernames follow the vehicle id pattern (device-store.ts isValidUsername), which has no ':'.
import { isValidVehicleId as isValidUsername } from '../contracts/topics.ts';

interface Binding {
  /** A client id this rule gives the username. */
  example(username: string): string;
  /** The username this rule gives the client id to, if any. */
  owner(clientId: string): string | undefined;
}

const BINDINGS: readonly Binding[] = [
  { example: (username) => username, owner: (clientId) => clientId },
  {
    example: (username) => `${username}:x`,
    owner: (clientId) => {
      const colon = clientId.indexOf(':');
      return colon > 0 ? clientId.slice(0, colon) : undefined;
    },
  },
  { example: (username) => `agent-${username}`, owner: (clientId) => (clientId.startsWith('agent-') ? clientId.slice('agent-'.length) : undefined) },
];

/** Every username whose rules match the client id (at most three). */
export function claimantsOf(clientId: string): string[] {
  const names = new Set<string>();
  for (const binding of BINDINGS) {
    const name = binding.owner(clientId);
    if (name !== undefined && isValidUsername(name)) names.add(name);
  }
  return [...names];
}

/** Other names that would match one of this name's client ids, each with such a shared client id. */
export function collidingNames(username: string): Array<{ name: string; clientId: string }> {
  const found = new Map<string, string>();
  for (const binding of BINDINGS) {
    const clientId = binding.example(username);
    for (const name of claimantsOf(clientId)) if (name !== username && !found.has(name)) found.set(name, clientId);
  }
  return [...found].map(([name, clientId]) => ({ name, clientId }));
}

/**
 * The identity a client id belongs to: among the existing identities its rules match, the one
 * created first (then the first by name). `createdAt` returns undefined for a name not in the store.
 */
export function clientIdOwner(clientId: string, createdAt: (username: string) => string | undefined): string | undefined {
  let owner: { name: string; createdAt: string } | undefined;
  for (const name of claimantsOf(clientId)) {
    const created = createdAt(name);
    if (created === undefined) continue;
    if (!owner || created < owner.createdAt || (created === owner.createdAt && name < owner.name)) owner = { name, createdAt: created };
  }
  return owner?.name;
}
