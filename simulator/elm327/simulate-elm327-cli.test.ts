import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SerialPort } from 'serialport';
import { assembleMessages, parseFrameLine } from '../../contracts/obd/can-frames.ts';
import { decodeDtcs, dtcPayload } from '../../contracts/obd/dtc.ts';
import { runCli, startCli } from '../../test/support/cli.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function waitFor(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('fleetpulse simulate elm327', () => {
  it('serves a car with an injected fault on a pty until SIGTERM, then removes the path; --trace - prints its answers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-elm-cli-'));
    dirs.push(dir);
    const path = join(dir, 'ttyELM');
    const cli = startCli(['simulate', 'elm327', '--pty', path, '--fault', 'misfire', '--seed', '3', '--vin', '1HGCM82633A004352', '--trace', '-']);
    try {
      // The path line and the summary line are two writes: they may arrive as two chunks.
      await waitFor(() => cli.output().includes(`${path}\n`) && cli.output().includes('DTCs stored'), 'the path and the summary to be printed');
      expect(cli.output()).toMatch(/stored \[P0301\]/);
      const port = new SerialPort({ path, baudRate: 38400 });
      let rx = '';
      port.on('data', (d: Buffer) => (rx += d.toString('latin1')));
      await new Promise<void>((resolve, reject) => port.once('open', () => resolve()).once('error', reject));
      port.write('ATE0\rATH1\r03\r');
      await waitFor(() => (rx.match(/>/g) ?? []).length >= 3, 'three prompts');
      const frames = rx.split('\r').filter((l) => /^7E[89] /.test(l)).map((l) => parseFrameLine(l, true)!);
      const codes = assembleMessages(frames).flatMap((m) => decodeDtcs(dtcPayload(m.data, true)));
      expect(codes).toEqual(['P0301']);
      // The answer trace on stdout: one JSON line per ECU's DTC answer.
      await waitFor(() => cli.output().includes('"ecu":"7E9","service":3'), 'the trace lines');
      const trace = cli.output().split('\n').filter((l) => l.startsWith('{"t":')).map((l) => JSON.parse(l) as { ecu: string; name: string; value: unknown; raw: string });
      expect(trace.map((a) => [a.ecu, a.name, a.value, a.raw])).toEqual([
        ['7E8', 'STORED_DTCS', ['P0301'], '010301'],
        ['7E9', 'STORED_DTCS', [], '00'],
      ]);
      await new Promise<void>((r) => port.close(() => r()));
    } finally {
      cli.child.kill('SIGTERM');
    }
    expect(await cli.exited).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it('starts with --pre-drive-trips 3 and seed 1, whose third trip ends on the highway (it used to drive that segment forever)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-elm-cli-'));
    dirs.push(dir);
    const path = join(dir, 'ttyELM');
    const cli = startCli(['simulate', 'elm327', '--pty', path, '--seed', '1', '--pre-drive-trips', '3']);
    try {
      await waitFor(() => cli.output().includes('DTCs stored'), 'the summary line');
      expect(existsSync(path)).toBe(true);
    } finally {
      cli.child.kill('SIGTERM');
    }
    expect(await cli.exited).toBe(0);
  });

  it('refuses a trace file it cannot write, naming the option', async () => {
    const result = await runCli(['simulate', 'elm327', '--pty', join(tmpdir(), 'never-made'), '--trace', '/nonexistent-dir/answers.jsonl']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/trace: cannot write \/nonexistent-dir\/answers\.jsonl/);
    expect(existsSync(join(tmpdir(), 'never-made'))).toBe(false);
  });

  it('refuses a fault that the chosen engine cannot have, naming the option', async () => {
    const result = await runCli(['simulate', 'elm327', '--pty', join(tmpdir(), 'never-made'), '--fault', 'maf_drift', '--profile', 'etios-1.5-map']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/fault: maf_drift needs a MAF engine/);
  });
});
