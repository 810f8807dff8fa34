/**
 * The command line of notifications: `fleetpulse notify test` against a real webhook receiver and
 * a real SMTP server process, and ingest refusing a bad `notifications` config at start.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { HOOK_SECRET } from './alert-fixtures.ts';
import { startSmtpServerProcess, type SmtpServerProcess } from './smtp-server-process.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

describe('fleetpulse notify test and the notifications config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-notify-cli-'));
  let smtp: SmtpServerProcess;
  let hook: WebhookReceiver;
  let refusing: WebhookReceiver;
  beforeAll(async () => {
    [smtp, hook, refusing] = await Promise.all([startSmtpServerProcess(dir), startWebhookReceiver(HOOK_SECRET), startWebhookReceiver(HOOK_SECRET, { answer: () => 400 })]);
  });
  afterAll(async () => {
    await Promise.all([smtp?.stop(), hook?.close(), refusing?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const writeConfig = (name: string, notifications: unknown): string => {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify({ dataDir: join(dir, 'data'), ingest: { notifications } }));
    return file;
  };
  const channels = () => ({
    hook: { type: 'webhook', url: hook.url, secretEnv: 'CLI_HOOK_SECRET' },
    mail: { type: 'email', smtp: { host: '127.0.0.1', port: smtp.port, user: smtp.user, passwordEnv: 'CLI_SMTP_PASSWORD', caFile: smtp.caFile }, from: 'fleet@example.com', to: ['ops@example.com'] },
    refusing: { type: 'webhook', url: refusing.url, secret: HOOK_SECRET },
  });
  const rules = [
    { name: 'ops', kinds: ['alert'], channels: ['hook', 'mail'] },
    { name: 'broken', kinds: ['api_threat'], channels: ['refusing'] },
  ];
  const env = () => ({ CLI_HOOK_SECRET: HOOK_SECRET, CLI_SMTP_PASSWORD: smtp.password });

  it("sends a signed test notification through a rule's channels and prints what each answered", async () => {
    const config = writeConfig('good', { rules, channels: channels() });
    const { code, stdout, stderr } = await runCli(['notify', 'test', '--config', config, '--rule', 'ops'], env());
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^webhook hook: delivered \(HTTP 204\) in \d+ ms$/m);
    expect(stdout).toMatch(/^email {3}mail: delivered \(SMTP 250.*\) in \d+ ms$/m);
    expect(stdout).toMatch(/^test notification test-[0-9a-f-]+: 2 of 2 channels delivered$/m);
    expect(hook.received).toHaveLength(1);
    expect(hook.received[0]).toMatchObject({ status: 204, signature: { ok: true }, notification: { kind: 'test', test: true, rule: 'ops' } });
    expect(smtp.mails).toHaveLength(1);
    expect(smtp.mails[0]!.headers.get('subject')).toMatch(/^\[fleetpulse\] TEST test notification/);
    expect(refusing.received).toHaveLength(0);
  });

  it('exits 1 and says so when a channel refuses', async () => {
    const config = writeConfig('refused', { rules, channels: channels() });
    const { code, stdout, stderr } = await runCli(['notify', 'test', '--config', config, '--rule', 'broken'], env());
    expect(code).toBe(1);
    expect(stdout).toMatch(/^webhook refusing: FAILED: HTTP 400 \(the receiver refuses it; ingest would not retry\)/m);
    expect(stderr).toMatch(/1 of 1 notification channels failed/);
  });

  it('names an unknown rule', async () => {
    const { code, stderr } = await runCli(['notify', 'test', '--config', writeConfig('rule', { rules, channels: channels() }), '--rule', 'pager'], env());
    expect(code).toBe(2);
    expect(stderr).toMatch(/- rule: no rule 'pager' \(rules: ops, broken\)/);
  });

  it('stops ingest at start on a bad notifications config, one line per field, without echoing secrets', async () => {
    const bad = { rules: [{ name: 'ops', kinds: ['alerts'], channels: ['hook', 'pager'] }], channels: { ...channels(), refusing: { type: 'webhook', url: 'ftp://x', secret: 'a-secret-never-printed' } } };
    const { code, stderr } = await runCli(['ingest', '--config', writeConfig('bad', bad), '--http-port', '0', '--mqtt-url', 'mqtt://127.0.0.1:1', '--influx-url', 'http://127.0.0.1:1'], env(), 30_000);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^fleetpulse ingest: invalid configuration$/m);
    expect(stderr).toMatch(/^ {2}- notifications\.rules\[0\]\.kinds\[0\]: must start with one of/m);
    expect(stderr).toMatch(/^ {2}- notifications\.channels\.refusing\.url: must be an http or https URL$/m);
    expect(stderr).not.toContain('a-secret-never-printed');
    // A secret named by an environment variable that is not set.
    const unset = await runCli(['ingest', '--config', writeConfig('unset', { rules, channels: channels() }), '--http-port', '0'], { CLI_SMTP_PASSWORD: 'x' }, 30_000);
    expect(unset.code).toBe(2);
    expect(unset.stderr).toMatch(/- notifications\.channels\.hook\.secretEnv: environment variable CLI_HOOK_SECRET is not set/);
  });
});
