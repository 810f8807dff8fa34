import { describe, expect, it } from 'vitest';
import { claimantsOf, clientIdOwner, collidingNames } from './client-id-binding.ts';

describe('client id binding', () => {
  it('gives a client id to the usernames its rules match', () => {
    expect(claimantsOf('v02')).toEqual(['v02']);
    expect(claimantsOf('v02:dash')).toEqual(['v02']);
    expect(claimantsOf('agent-v02').sort()).toEqual(['agent-v02', 'v02']);
    expect(claimantsOf('agent-v02:x')).toEqual(['agent-v02']);
    expect(claimantsOf(':x')).toEqual([]);
  });

  it('finds the names that would share a client id, with that id', () => {
    expect(collidingNames('v02')).toEqual([{ name: 'agent-v02', clientId: 'agent-v02' }]);
    expect(collidingNames('agent-v02')).toEqual([
      { name: 'v02', clientId: 'agent-v02' },
      { name: 'agent-agent-v02', clientId: 'agent-agent-v02' },
    ]);
    // Every pair that shares a client id is found from both sides.
    for (const id of ['agent-v02', 'agent-agent-v02']) {
      const [a, b] = claimantsOf(id);
      expect(collidingNames(a!).map((c) => c.name)).toContain(b);
      expect(collidingNames(b!).map((c) => c.name)).toContain(a);
    }
  });

  it('gives a shared client id to the identity created first', () => {
    const created: Record<string, string> = { v02: '2026-01-01T00:00:00.000Z', 'agent-v02': '2026-06-01T00:00:00.000Z' };
    expect(clientIdOwner('agent-v02', (n) => created[n])).toBe('v02');
    expect(clientIdOwner('agent-v02:x', (n) => created[n])).toBe('agent-v02');
    expect(clientIdOwner('agent-v03', (n) => created[n])).toBeUndefined();
    expect(clientIdOwner('agent-v02', (n) => (n === 'agent-v02' ? created[n] : undefined))).toBe('agent-v02');
  });
});
