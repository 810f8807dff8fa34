import { describe, expect, it } from 'vitest';
import { parseShardRanges, parseVehicleTopic, SHARD_COUNT, shardOf, topics } from './topics.ts';

describe('topics', () => {
  it('puts a vehicle in a stable shard (FNV-1a 32 of its id, mod 64)', () => {
    // FNV-1a("a") = 0xe40c292c; 0xe40c292c % 64 = 44. Pinned: changing it would move every vehicle.
    expect(shardOf('a')).toBe(0xe40c292c % 64);
    expect(shardOf('car-7')).toBe(shardOf('car-7'));
    const counts = new Array<number>(SHARD_COUNT).fill(0);
    for (let i = 0; i < 6400; i++) counts[shardOf(`vehicle-${i}`)]! += 1;
    expect(Math.min(...counts)).toBeGreaterThan(50); // roughly even spread
    expect(Math.max(...counts)).toBeLessThan(150);
  });

  it('builds and parses vehicle topics', () => {
    const topic = topics.telemetry('car-7');
    expect(topic).toBe(`fleet/${shardOf('car-7')}/car-7/telemetry`);
    expect(parseVehicleTopic(topic)).toEqual({ shard: shardOf('car-7'), vehicleId: 'car-7', kind: 'telemetry' });
    expect(parseVehicleTopic(topics.alerts('x1'))?.kind).toBe('alerts');
    expect(topics.health('car-7')).toBe(`fleet/${shardOf('car-7')}/car-7/health`);
    expect(parseVehicleTopic(topics.health('car-7'))).toEqual({ shard: shardOf('car-7'), vehicleId: 'car-7', kind: 'health' });
  });

  it('rejects topics that are not ours', () => {
    for (const bad of ['fleet/1/car/unknown', 'fleet/99/car/telemetry', 'fleet/x/car/telemetry', 'other/1/car/telemetry', 'fleet/1/car', 'fleet/1/c+r/telemetry']) {
      expect(parseVehicleTopic(bad), bad).toBeUndefined();
    }
  });

  it('refuses vehicle ids that would break topic structure', () => {
    for (const bad of ['', 'a/b', 'a+b', '#', 'x'.repeat(65)]) expect(() => topics.telemetry(bad), bad).toThrow(/invalid vehicle id/);
  });

  it('parses shard selections', () => {
    expect(parseShardRanges('0-3')).toEqual([0, 1, 2, 3]);
    expect(parseShardRanges('5')).toEqual([5]);
    expect(parseShardRanges('0-1, 62-63,1')).toEqual([0, 1, 62, 63]);
    expect(parseShardRanges('0-63')).toHaveLength(64);
    expect(() => parseShardRanges('3-1')).toThrow(/outside/);
    expect(() => parseShardRanges('64')).toThrow(/outside/);
    expect(() => parseShardRanges('a-b')).toThrow(/not a shard/);
  });
});
