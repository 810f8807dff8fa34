/**
 * The client address of a request that passed through proxies: X-Forwarded-For read from the
 * right, skipping addresses of trusted proxies; the first untrusted hop is the client. Anything a
 * client writes to the left of that is ignored, so a client cannot spoof its address by sending its
 * own X-Forwarded-For. Invalid entries stop the walk (the last trusted hop's view is kept).
 */
import { BlockList, isIP } from 'node:net';

export class TrustedProxies {
  private readonly list = new BlockList();
  readonly cidrs: readonly string[];

  /** `cidrs` such as `127.0.0.0/8`, `10.0.0.0/8`, `::1/128`; throws a RangeError naming a bad one. */
  constructor(cidrs: readonly string[]) {
    this.cidrs = cidrs;
    for (const cidr of cidrs) {
      const [address, bitsText] = cidr.split('/');
      const family = address ? isIP(address) : 0;
      const bits = bitsText === undefined ? (family === 6 ? 128 : 32) : Number(bitsText);
      if (!address || family === 0 || !Number.isInteger(bits) || bits < 0 || bits > (family === 6 ? 128 : 32)) {
        throw new RangeError(`'${cidr}' is not an address or CIDR`);
      }
      this.list.addSubnet(address, bits, family === 6 ? 'ipv6' : 'ipv4');
    }
  }

  isTrusted(address: string): boolean {
    const family = isIP(address);
    if (family === 0) return false;
    return this.list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }

  /** The client address for a connection from `remoteAddr` carrying `forwardedFor` (may be empty). */
  clientIp(remoteAddr: string, forwardedFor: string | undefined): string {
    let client = normalizeIp(remoteAddr);
    if (!forwardedFor || !this.isTrusted(client)) return client;
    const hops = forwardedFor.split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalizeIp(hops[i]!.trim());
      if (isIP(hop) === 0) break;
      client = hop;
      if (!this.isTrusted(hop)) break;
    }
    return client;
  }
}

/** Strips an IPv4-mapped IPv6 prefix and brackets/ports nginx never adds but proxies might. */
export function normalizeIp(address: string): string {
  let a = address.trim();
  if (a.startsWith('[')) a = a.slice(1, a.indexOf(']') > 0 ? a.indexOf(']') : undefined);
  if (a.toLowerCase().startsWith('::ffff:') && isIP(a.slice(7)) === 4) a = a.slice(7);
  return a;
}

/** The /24 (IPv4) or /64 (IPv6) network of an address, as CIDR text; undefined for non-addresses. */
export function networkOf(address: string): string | undefined {
  const family = isIP(address);
  if (family === 4) {
    const parts = address.split('.');
    return `${parts[0]}.${parts[1]}.${parts[2]}.0/24`;
  }
  if (family === 6) {
    const groups = expandIpv6(address);
    return groups ? `${groups.slice(0, 4).join(':')}::/64` : undefined;
  }
  return undefined;
}

function expandIpv6(address: string): string[] | undefined {
  const [head, tail] = address.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  if (t.some((g) => g.includes('.')) || h.some((g) => g.includes('.'))) return undefined;
  const missing = 8 - h.length - t.length;
  const groups = tail === undefined ? h : [...h, ...Array<string>(missing).fill('0'), ...t];
  if (groups.length !== 8) return undefined;
  return groups.map((g) => (parseInt(g, 16) || 0).toString(16));
}
