/**
 * `fleetpulse tokens add|list|revoke` as a user runs them, and `fleetpulse ingest` refusing a
 * dashboard beyond loopback without a token (one line naming --token-file, before anything starts).
 * The token is printed once; the file holds only its scrypt hash and is readable by its owner only.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileTokenStore } from '../../ingest/access/token-store.ts';
import { runCli } from '../support/cli.ts';

describe('fleetpulse tokens', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleetpulse-tokens-cli-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('adds a token shown once and stored hashed, lists it, and revokes it', async () => {
    const file = join(dir, 'tokens.json');
    const added = await runCli(['tokens', 'add', '--name', 'acme', '--role', 'viewer', '--vehicles', 'van-*,car-7', '--token-file', file, '--format', 'json']);
    expect(added.code, added.stderr).toBe(0);
    const { token, role, vehicles } = JSON.parse(added.stdout) as { token: string; role: string; vehicles: string[] };
    expect(token).toMatch(/^fpt_[0-9a-f]{12}_[A-Za-z0-9_-]{32}$/);
    expect([role, vehicles]).toEqual(['viewer', ['van-*', 'car-7']]);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(token.slice(17));
    expect(statSync(file).mode & 0o077).toBe(0);
    expect(await new FileTokenStore(file).verify(token)).toMatchObject({ ok: true, identity: { name: 'acme', role: 'viewer' } });

    const duplicate = await runCli(['tokens', 'add', '--name', 'acme', '--role', 'admin', '--token-file', file]);
    expect(duplicate.code).toBe(2);
    expect(duplicate.stderr).toContain("token 'acme' already exists");

    const listed = await runCli(['tokens', 'list', '--token-file', file]);
    expect(listed.stdout).toMatch(/acme\s+viewer\s+van-\*,car-7/);
    expect(listed.stdout).not.toContain(token);

    expect((await runCli(['tokens', 'revoke', '--name', 'acme', '--token-file', file])).stdout).toContain("token 'acme' revoked");
    expect(await new FileTokenStore(file).verify(token)).toEqual({ ok: false, reason: 'unknown_token' });
  });

  it('ingest refuses a dashboard beyond loopback without a token, naming the option', async () => {
    const result = await runCli(['ingest', '--dashboard', '--dashboard-host', '0.0.0.0', '--dashboard-port', '0', '--data-dir', dir, '--token-file', join(dir, 'empty.json')]);
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines.at(-1)).toContain('--token-file');
    expect(lines.at(-1)).toContain('fleetpulse tokens add');
  });
});
