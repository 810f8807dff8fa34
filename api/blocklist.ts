/**
 * The blocklist the privacy API enforces, replaced wholesale by every retained publish of
 * `topics.apiBlocklist()` (see contracts/api-logs.ts; blocklist-subscriber.ts receives them).
 * Entries past their `untilMs` are ignored.
 */
import { BlockList, isIP } from 'node:net';
import { apiBlocklistSchema, type BlockEntry } from '../contracts/api-logs.ts';
import { KEY_PREFIX_LENGTH } from './customer-table.ts';

export class Blocklist {
  private ips = new Map<string, BlockEntry>();
  private keys = new Map<string, BlockEntry>();
  private nets: Array<{ entry: BlockEntry; list: BlockList; family: 'ipv4' | 'ipv6' }> = [];
  private counters = { updates: 0, invalidUpdates: 0, blocked: 0 };
  lastUpdatedMs = 0;

  replace(entries: readonly BlockEntry[], updatedMs: number): void {
    const ips = new Map<string, BlockEntry>();
    const keys = new Map<string, BlockEntry>();
    const nets: typeof this.nets = [];
    for (const entry of entries) {
      if (entry.kind === 'ip') ips.set(entry.value, entry);
      else if (entry.kind === 'key') keys.set(entry.value.slice(0, KEY_PREFIX_LENGTH), entry);
      else {
        const [address, bits] = entry.value.split('/');
        const family = address ? isIP(address) : 0;
        if (!address || family === 0 || bits === undefined) continue;
        const list = new BlockList();
        const fam = family === 6 ? 'ipv6' : 'ipv4';
        list.addSubnet(address, Number(bits), fam);
        nets.push({ entry, list, family: fam });
      }
    }
    this.ips = ips;
    this.keys = keys;
    this.nets = nets;
    this.lastUpdatedMs = updatedMs;
    this.counters.updates += 1;
  }

  /** Parses and applies a retained blocklist payload; false (counted) when it is invalid. */
  applyPayload(payload: Buffer): boolean {
    if (payload.length === 0) {
      this.replace([], Date.now());
      return true;
    }
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      json = undefined; // refused by the schema below, and counted there
    }
    const parsed = apiBlocklistSchema.safeParse(json);
    if (!parsed.success) {
      this.counters.invalidUpdates += 1;
      return false;
    }
    this.replace(parsed.data.entries, parsed.data.updatedMs);
    return true;
  }

  /** The entry that blocks this client (address and optional API key), if any. */
  match(clientIp: string, apiKey: string | undefined, nowMs = Date.now()): BlockEntry | undefined {
    const live = (e: BlockEntry | undefined): BlockEntry | undefined => (e && e.untilMs > nowMs ? e : undefined);
    let hit = live(this.ips.get(clientIp));
    if (!hit && apiKey) hit = live(this.keys.get(apiKey.slice(0, KEY_PREFIX_LENGTH)));
    if (!hit && this.nets.length > 0) {
      const family = isIP(clientIp);
      if (family !== 0) {
        const fam = family === 6 ? 'ipv6' : 'ipv4';
        for (const n of this.nets) if (n.family === fam && n.entry.untilMs > nowMs && n.list.check(clientIp, fam)) hit = n.entry;
      }
    }
    if (hit) this.counters.blocked += 1;
    return hit;
  }

  stats(): { entries: number; updates: number; invalidUpdates: number; blocked: number } {
    return { entries: this.ips.size + this.keys.size + this.nets.length, ...this.counters };
  }
}
