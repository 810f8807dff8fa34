import { describe, expect, it } from 'vitest';
import { shardOf, topics } from '../contracts/topics.ts';
import { decideSubscribe, grantsFor, intersectFilters, mayPublish, mayRead, topicMatches } from './topic-acl.ts';

const vehicle = (id: string) => grantsFor({ username: id, role: 'vehicle', vehicleId: id, generation: 1 });
const ingest = grantsFor({ username: 'ing', role: 'ingest', generation: 1 });
const logship = grantsFor({ username: 'ls', role: 'logship', generation: 1 });
const viewer = grantsFor({ username: 'v', role: 'viewer', generation: 1 });

describe('topic filters', () => {
  it('matches topics as MQTT 3.1.1 §4.7 says', () => {
    expect(topicMatches('a/+/c', 'a/b/c')).toBe(true);
    expect(topicMatches('a/#', 'a')).toBe(true);
    expect(topicMatches('a/#', 'a/b/c')).toBe(true);
    expect(topicMatches('a/+', 'a/b/c')).toBe(false);
    expect(topicMatches('a/b', 'a/b/c')).toBe(false);
    expect(topicMatches('#', '$SYS/x')).toBe(false);
    expect(topicMatches('+/x', '$SYS/x')).toBe(false);
    expect(topicMatches('$SYS/#', '$SYS/x')).toBe(true);
  });

  it('agrees with a split-based reading of the rules on 20,000 random filters and topics (empty levels included)', () => {
    const reference = (filter: string, topic: string): boolean => {
      const f = filter.split('/');
      const t = topic.split('/');
      if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
      for (let i = 0; i < f.length; i++) {
        if (f[i] === '#') return true;
        if (i >= t.length) return false;
        if (f[i] !== '+' && f[i] !== t[i]) return false;
      }
      return f.length === t.length;
    };
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const words = ['a', 'b', 'ab', '', '$SYS', 'fleet', '7'];
    const level = (wild: boolean): string => (wild && rnd(4) === 0 ? '+' : words[rnd(words.length)]!);
    let matched = 0;
    for (let i = 0; i < 20_000; i++) {
      const topic = Array.from({ length: 1 + rnd(4) }, () => level(false)).join('/');
      const parts = Array.from({ length: 1 + rnd(4) }, () => level(true));
      if (rnd(5) === 0) parts[parts.length - 1] = '#';
      const filter = rnd(3) === 0 ? topic.split('/').map((l) => (rnd(3) === 0 ? '+' : l)).join('/') : parts.join('/');
      const expected = reference(filter, topic);
      if (expected) matched++;
      expect(topicMatches(filter, topic), `${filter} ~ ${topic}`).toBe(expected);
    }
    expect(matched).toBeGreaterThan(2000); // both outcomes well covered
  });

  it('intersects filters into one filter or nothing', () => {
    expect(intersectFilters('fleet/#', 'fleet/3/car/#')).toBe('fleet/3/car/#');
    expect(intersectFilters('#', 'fleet/+/+/alerts')).toBe('fleet/+/+/alerts');
    expect(intersectFilters('fleet/+/+/telemetry', 'fleet/3/car/#')).toBe('fleet/3/car/telemetry');
    expect(intersectFilters('fleet/4/+/telemetry', 'fleet/3/car/#')).toBeNull();
    expect(intersectFilters('fleet/+/other/#', 'fleet/3/car/#')).toBeNull();
    expect(intersectFilters('a/b', 'a/b/c')).toBeNull();
    expect(intersectFilters('a/#', 'a')).toBe('a');
    expect(intersectFilters('#', '$SYS/#')).toBeNull();
    expect(intersectFilters('$SYS/+/x', '$SYS/#')).toBe('$SYS/+/x');
  });
});

describe('role grants', () => {
  it('lets a vehicle publish its own telemetry and status only', () => {
    const a = vehicle('car-a');
    expect(mayPublish(a, topics.telemetry('car-a'))).toBe(true);
    expect(mayPublish(a, topics.status('car-a'))).toBe(true);
    expect(mayPublish(a, topics.telemetry('car-b'))).toBe(false);
    expect(mayPublish(a, topics.alerts('car-a'))).toBe(false); // alerts come from ingest
    expect(mayPublish(a, topics.config('car-a'))).toBe(false);
    expect(mayPublish(a, topics.apiLogs('edge'))).toBe(false);
    expect(mayPublish(a, '$SYS/x')).toBe(false);
  });

  it('lets a vehicle publish its own health events and no other vehicle\'s; ingest and viewers read them, nobody else publishes them', () => {
    const a = vehicle('car-a');
    const operator = grantsFor({ username: 'ops', role: 'operator', generation: 1 });
    expect(mayPublish(a, topics.health('car-a'))).toBe(true);
    expect(mayPublish(a, topics.health('car-b'))).toBe(false);
    expect(mayPublish(vehicle('car-b'), topics.health('car-a'))).toBe(false);
    for (const role of [ingest, logship, viewer, operator]) expect(mayPublish(role, topics.health('car-a'))).toBe(false);
    expect(decideSubscribe(ingest, topics.shardFilter(5, 'health')).kind).toBe('allow');
    expect(decideSubscribe(viewer, topics.fleetFilter('health')).kind).toBe('allow');
    expect(mayRead(viewer, topics.health('car-a'))).toBe(true);
    expect(mayRead(a, topics.health('car-b'))).toBe(false);
    expect(decideSubscribe(a, topics.fleetFilter('health'))).toEqual({ kind: 'narrow', filter: topics.health('car-a') });
  });

  it('narrows a vehicle wildcard to its own subtree and denies other vehicles', () => {
    const a = vehicle('car-a');
    const own = `fleet/${shardOf('car-a')}/car-a/#`;
    expect(decideSubscribe(a, 'fleet/#')).toEqual({ kind: 'narrow', filter: own });
    expect(decideSubscribe(a, '#')).toEqual({ kind: 'narrow', filter: own });
    expect(decideSubscribe(a, 'fleet/+/+/config')).toEqual({ kind: 'narrow', filter: topics.config('car-a') });
    expect(decideSubscribe(a, topics.config('car-a'))).toEqual({ kind: 'allow', filter: topics.config('car-a') });
    expect(decideSubscribe(a, topics.telemetry('car-b'))).toEqual({ kind: 'deny' });
    expect(decideSubscribe(a, 'fleet/+/car-b/#')).toEqual({ kind: 'deny' });
    expect(decideSubscribe(a, 'apilogs/#')).toEqual({ kind: 'deny' });
    expect(decideSubscribe(a, '$SYS/#')).toEqual({ kind: 'deny' });
    expect(mayRead(a, topics.telemetry('car-b'))).toBe(false);
  });

  it('lets ingest read every fleet topic and API log and publish alerts and baseline resets only', () => {
    expect(decideSubscribe(ingest, topics.shardFilter(5, 'telemetry')).kind).toBe('allow');
    expect(decideSubscribe(ingest, 'apilogs/#').kind).toBe('allow');
    expect(decideSubscribe(ingest, '#').kind).toBe('filter-on-forward');
    expect(decideSubscribe(ingest, '$SYS/#').kind).toBe('deny');
    expect(mayPublish(ingest, topics.alerts('car-a'))).toBe(true);
    expect(mayPublish(ingest, topics.baselineReset('car-a'))).toBe(true); // relayed from the query API's operators
    expect(mayPublish(ingest, topics.telemetry('car-a'))).toBe(false);
    expect(mayPublish(ingest, topics.config('car-a'))).toBe(false);
  });

  it('lets a log shipper publish API logs and read only the API blocklist', () => {
    expect(mayPublish(logship, topics.apiLogs('edge-1'))).toBe(true);
    expect(mayPublish(logship, topics.telemetry('car-a'))).toBe(false);
    expect(mayPublish(logship, topics.apiBlocklist())).toBe(false);
    expect(decideSubscribe(logship, topics.apiBlocklist()).kind).toBe('allow');
    expect(decideSubscribe(logship, '#')).toEqual({ kind: 'narrow', filter: topics.apiBlocklist() });
    expect(decideSubscribe(logship, 'apilogs/#').kind).toBe('deny');
  });

  it('lets only ingest publish the API blocklist', () => {
    expect(mayPublish(ingest, topics.apiBlocklist())).toBe(true);
    expect(mayPublish(viewer, topics.apiBlocklist())).toBe(false);
  });

  it('lets a viewer read alerts, status and $SYS but nothing else, and publish nothing', () => {
    expect(decideSubscribe(viewer, topics.fleetFilter('alerts')).kind).toBe('allow');
    expect(decideSubscribe(viewer, 'fleet/#').kind).toBe('filter-on-forward');
    expect(decideSubscribe(viewer, topics.fleetFilter('telemetry')).kind).toBe('deny');
    expect(decideSubscribe(viewer, '$SYS/#').kind).toBe('allow');
    expect(mayRead(viewer, topics.status('car-a'))).toBe(true);
    expect(mayRead(viewer, topics.telemetry('car-a'))).toBe(false);
    expect(mayPublish(viewer, topics.alerts('car-a'))).toBe(false);
  });

  it('lets a vehicle report its own config state, and only an operator publish config', () => {
    const a = vehicle('car-a');
    const operator = grantsFor({ username: 'ops', role: 'operator', generation: 1 });
    expect(mayPublish(a, topics.configState('car-a'))).toBe(true);
    expect(mayPublish(a, topics.configState('car-b'))).toBe(false);
    expect(decideSubscribe(a, topics.alerts('car-a')).kind).toBe('allow');
    expect(mayPublish(operator, topics.config('car-a'))).toBe(true);
    expect(mayPublish(operator, topics.configState('car-a'))).toBe(false);
    expect(mayPublish(operator, topics.telemetry('car-a'))).toBe(false);
    expect(mayPublish(operator, topics.apiBlocklist())).toBe(false);
    for (const role of [ingest, logship, viewer]) expect(mayPublish(role, topics.config('car-a'))).toBe(false);
    expect(decideSubscribe(operator, topics.configState('car-a')).kind).toBe('allow');
    expect(decideSubscribe(operator, topics.fleetFilter('config-state')).kind).toBe('allow');
    expect(mayRead(operator, topics.status('car-a'))).toBe(true);
    expect(mayRead(operator, topics.telemetry('car-a'))).toBe(false);
    expect(decideSubscribe(operator, topics.fleetFilter('telemetry'))).toEqual({ kind: 'deny' });
    expect(decideSubscribe(operator, '$SYS/#')).toEqual({ kind: 'deny' });
  });

  it('lets an operator (and ingest, relaying the query API) reset a baseline, no one else, and ingest read the reset', () => {
    const operator = grantsFor({ username: 'ops', role: 'operator', generation: 1 });
    expect(mayPublish(operator, topics.baselineReset('car-a'))).toBe(true);
    expect(mayPublish(ingest, topics.baselineReset('car-a'))).toBe(true);
    for (const role of [vehicle('car-a'), logship, viewer]) expect(mayPublish(role, topics.baselineReset('car-a'))).toBe(false);
    expect(mayRead(ingest, topics.baselineReset('car-a'))).toBe(true);
  });

  it('refuses shared-subscription syntax rather than misreading it', () => {
    expect(decideSubscribe(ingest, '$share/g/fleet/#')).toEqual({ kind: 'deny' });
  });
});
