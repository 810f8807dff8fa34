/**
 * Runs `fleetpulse up --vehicles N --faulty-fraction 1 --fault KIND` (managed influxd, no API) and
 * watches InfluxDB 's `dtc` until every vehicle holds a trouble code, or the deadline passes; then
 * stops it with Ctrl-C (SIGINT). Shared by the test (every vehicle gets its code) and the benchmark
 * (how long that takes), so both measure the same thing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FaultKind } from '../../simulator/faults.ts';
import { startCli } from './cli.ts';
import { influxQuery, rowsOf, waitFor } from './influx.ts';

export interface FaultCodesRun {
  /** Wall ms from starting the command until it printed "fleetpulse is up". */
  upMs: number;
  /** Wall ms from starting the command until every vehicle had a code in `dtc` (undefined: not by the deadline). */
  codesMs: number | undefined;
  /** Codes per vehicle as `dtc` holds them when the run ended (`P0302 confirmed`, …). */
  codes: Map<string, string[]>;
  exitCode: number | null | 'timeout';
  output: string;
}

export async function runUpUntilFaultCodes(o: { vehicles: number; fault: FaultKind; deadlineMs: number }): Promise<FaultCodesRun> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fleetpulse-up-fault-'));
  const started = performance.now();
  const up = startCli(
    ['up', '--vehicles', String(o.vehicles), '--faulty-fraction', '1', '--fault', o.fault, '--api', 'off', '--mqtt-port', '0', '--influx-port', '0', '--dashboard-port', '0', '--data-dir', dataDir],
    { FLEETPULSE_INFLUX_URL: '' },
  );
  const codes = new Map<string, string[]>();
  try {
    if (!(await waitFor(() => up.output().includes('fleetpulse is up'), 60_000))) throw new Error(`fleetpulse up did not come up:\n${up.output()}`);
    const upMs = performance.now() - started;
    const influxUrl = /InfluxDB\s+(http:\/\/\S+)/.exec(up.output())![1]!;
    const all = await waitFor(
      async () => {
        const series = await influxQuery(influxUrl, 'fleetpulse', 'SELECT state, code, kind FROM dtc GROUP BY vehicle');
        for (const s of series) codes.set(s.tags!.vehicle!, rowsOf(s).map((r) => `${String(r.code)} ${String(r.kind)}`));
        return codes.size === o.vehicles;
      },
      o.deadlineMs,
      250,
    );
    const codesMs = all ? performance.now() - started : undefined;
    up.child.kill('SIGINT');
    const exitCode = await Promise.race([up.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    return { upMs, codesMs, codes, exitCode, output: up.output() };
  } finally {
    if (up.child.exitCode === null) up.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}
