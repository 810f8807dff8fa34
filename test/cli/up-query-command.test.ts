/**
 * The "Look at the data" command `fleetpulse up` prints must work as printed on the machine it
 * runs on: Debian's `influxdb` package has no `influx` CLI, and the command it printed failed with
 * "command not found" on a fresh machine. Run as printed, through a shell, against a real influxd.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryCommand } from '../../cli/commands/up.ts';
import { startTestInfluxd, type TestInfluxd } from '../support/influx.ts';

describe('the query command fleetpulse up prints', () => {
  let influx: TestInfluxd;
  const path = process.env.PATH;

  beforeAll(async () => {
    influx = await startTestInfluxd();
    const post = (url: string, body: string) => fetch(`${influx.url}${url}`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    await post('/query', 'q=CREATE DATABASE lookdb');
    await post('/write?db=lookdb', 'telemetry,vehicle=look-1 rpm=800 1\ntelemetry,vehicle=look-1 rpm=900 2\ntelemetry,vehicle=look-2 rpm=1000 3');
  });

  afterAll(async () => {
    process.env.PATH = path;
    await influx?.dispose();
  });

  for (const [name, searchPath] of [
    ['with the PATH of the machine', path ?? ''],
    ['where no influx CLI is installed', ''],
  ] as const) {
    it(`runs as printed and answers per vehicle, ${name}`, () => {
      process.env.PATH = searchPath;
      const command = queryCommand(new URL(influx.url), 'lookdb', 'SELECT count(rpm) FROM telemetry GROUP BY vehicle');
      process.env.PATH = path;
      const out = execFileSync('sh', ['-c', command], { encoding: 'utf8' });
      expect(out).toContain('look-1');
      expect(out).toContain('look-2');
    });
  }
});
