/**
 * The real recorded drive (/work/shared/data/carobd-etios-drive1.csv) replayed as fast as possible
 * through `fleetpulse agent --source replay` → Aedes → ingest → a real influxd: every one of its
 * 2,709 rows must be stored — including the repeated identical rows, which only survive if each
 * got its own event time — with the logged values in the catalogue's units. A Torque export in
 * imperial units made from the same drive checks unit conversion and kept (not rebased) times.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../broker/broker-server.ts';
import type { IngestService } from '../../ingest/ingest-service.ts';
import { influxQuery, rowsOf, waitFor, type RestartableTestInfluxd } from '../support/influx.ts';
import { startCli } from '../support/cli.ts';
import { logged } from '../support/log-records.ts';
import { startTestPipeline, type TestPipelineWithIngest } from '../support/pipeline.ts';
import { RAW_TELEMETRY } from '../../ingest/influxdb/rollups.ts';
import { DEFAULT_RETENTION } from '../../ingest/influxdb/retention-policies.ts';

const DRIVE = '/work/shared/data/carobd-etios-drive1.csv';
const DB = 'e2e_replay';
const TORQUE_ROWS = 600;
const TORQUE_START = Date.UTC(2025, 4, 17, 8, 0, 0);

/** The drive as plain numbers, read here without the code under test. */
function readDrive(): { header: string[]; rows: number[][]; lines: string[] } {
  const lines = readFileSync(DRIVE, 'utf8').split('\r\n').filter((l) => l.trim() !== '');
  const header = lines[0]!.split(',').map((h) => h.replace('()', '').trim()).filter(Boolean);
  const rows = lines.slice(1).map((l) => l.split(',').filter((f) => f.trim() !== '').map(Number));
  return { header, rows, lines: lines.slice(1) };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const torqueTime = (ms: number): string => {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}`;
};

describe.runIf(existsSync(DRIVE))('replay: recorded drive → agent → broker → ingest → InfluxDB', () => {
  let pipeline: TestPipelineWithIngest;
  let influx: RestartableTestInfluxd;
  let broker: RunningBroker;
  let ingest: IngestService;
  const dir = mkdtempSync(join(tmpdir(), 'replay-e2e-'));
  const drive = readDrive();
  const col = (name: string): number => drive.header.indexOf(name);
  const agents: ReturnType<typeof startCli>[] = [];

  const stored = async (vehicle: string): Promise<Array<Record<string, unknown>>> =>
    rowsOf((await influxQuery(influx.url, DB, `SELECT * FROM ${RAW_TELEMETRY} WHERE vehicle = '${vehicle}' ORDER BY time`))[0]);
  const count = async (vehicle: string): Promise<number> =>
    (rowsOf((await influxQuery(influx.url, DB, `SELECT count(rpm) AS n FROM ${RAW_TELEMETRY} WHERE vehicle = '${vehicle}'`))[0])[0]?.n as number | undefined) ?? 0;

  beforeAll(async () => {
    // Resolves once the subscription exists: before the first batch.
    // The recorded drive is from 2025: kept forever, a 30-day raw RP would drop it on write.
    pipeline = await startTestPipeline({ ingest: { influxDatabase: DB, clientId: 'e2e-replay-ingest', batchSize: 1000, maxBufferedPoints: 10_000, retention: { ...DEFAULT_RETENTION, rawDays: 0, rollupDays: 0 } } });
    ({ influx, broker, ingest } = pipeline);

    // The same drive's first rows as a Torque export in imperial units, stamped 500 ms apart.
    const lines = ['GPS Time, Device Time,Engine RPM(rpm),Speed (OBD)(mph),Engine Coolant Temperature(°F),Intake Manifold Pressure(psi)'];
    for (let i = 0; i < TORQUE_ROWS; i++) {
      const r = drive.rows[i]!;
      lines.push(`-,${torqueTime(TORQUE_START + i * 500)},${r[col('ENGINE_RPM')]},${r[col('VEHICLE_SPEED')]! / 1.609344},${(r[col('COOLANT_TEMPERATURE')]! * 9) / 5 + 32},${r[col('INTAKE_MANIFOLD_PRESSURE')]! / 6.894757293168}`);
    }
    writeFileSync(join(dir, 'trackLog.csv'), lines.join('\n'));

    const common = ['agent', '--mqtt-url', broker.url, '--source', 'replay', '--replay-speed', '0', '--batch-interval-ms', '200', '--data-dir', dir];
    agents.push(startCli([...common, '--vehicle-id', 'etios-1', '--replay', DRIVE]));
    agents.push(startCli([...common, '--vehicle-id', 'torque-1', '--replay', join(dir, 'trackLog.csv'), '--replay-format', 'torque', '--replay-time', 'keep']));
    const total = drive.rows.length + TORQUE_ROWS;
    const arrived = await waitFor(() => ingest.stats().samplesAccepted >= total, 30_000);
    expect(arrived, `ingest ${JSON.stringify(ingest.stats())}\n${agents.map((a) => a.output()).join('\n')}`).toBe(true);
    await ingest.flush();
  }, 60_000);

  afterAll(async () => {
    for (const a of agents) {
      a.child.kill('SIGTERM');
      await Promise.race([a.exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
    }
    await pipeline?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores every row of the drive, repeated identical rows included', async () => {
    expect(drive.rows.length).toBe(2709);
    const repeated = drive.lines.filter((l, i) => i > 0 && l === drive.lines[i - 1]).length;
    expect(repeated).toBeGreaterThan(100); // the quirk the README warns about is really there
    expect(await count('etios-1')).toBe(2709);
    expect(logged(agents[0]!.output(), 'replay finished')).toMatchObject([{ emitted: 2709 }]);
  });

  it('the agents exit by themselves once their log is played and acknowledged (no --replay-loop)', async () => {
    const bounded = (exited: Promise<number | null>) => Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), 20_000))]);
    expect(await bounded(agents[0]!.exited), agents[0]!.output()).toBe(0);
    expect(await bounded(agents[1]!.exited), agents[1]!.output()).toBe(0);
  });

  it('stores each row at its own time, in log order, with the logged values and units', async () => {
    const rows = await stored('etios-1');
    expect(rows.length).toBe(2709);
    const times = rows.map((r) => r.time as number);
    expect(new Set(times).size).toBe(2709);
    // Run time 0 … 1330 s: the replayed span follows the log's clock, played as fast as possible
    // and so rebased to end (about) now: no event time from the future.
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(1330_000);
    expect(times.at(-1)! - times[0]!).toBeLessThan(1340_000);
    expect(Math.abs(times.at(-1)! - Date.now())).toBeLessThan(120_000);
    expect(times.at(-1)!).toBeLessThanOrEqual(Date.now());
    const fields: Array<[string, string]> = [
      ['rpm', 'ENGINE_RPM'],
      ['speed', 'VEHICLE_SPEED'],
      ['coolant_temp', 'COOLANT_TEMPERATURE'],
      ['intake_pressure', 'INTAKE_MANIFOLD_PRESSURE'],
      ['control_module_voltage', 'CONTROL_MODULE_VOLTAGE'],
      ['catalyst_temp_b1s1', 'CATALYST_TEMPERATURE_BANK1_SENSOR1'],
      ['run_time', 'ENGINE_RUN_TINE'],
    ];
    rows.forEach((row, i) => {
      for (const [field, column] of fields) expect(row[field], `${field} row ${i}`).toBe(drive.rows[i]![col(column)]);
      // A logged run time and the stored event time agree to within the row spacing.
      expect((row.time as number) - times[0]! - (row.run_time as number) * 1000, `row ${i}`).toBeGreaterThanOrEqual(0);
      expect((row.time as number) - times[0]! - (row.run_time as number) * 1000, `row ${i}`).toBeLessThan(2000);
    });
    // Columns that are not in the signal catalogue (pedal D, EGR …) did not become fields.
    expect(Object.keys(rows[0]!).some((k) => k.includes('pedal'))).toBe(false);
  });

  it('converts a Torque export in mph, °F and psi back to km/h, °C and kPa, at its own time stamps', async () => {
    const rows = await stored('torque-1');
    expect(rows.length).toBe(TORQUE_ROWS);
    rows.forEach((row, i) => {
      const src = drive.rows[i]!;
      expect(row.time, `row ${i}`).toBe(TORQUE_START + i * 500);
      expect(row.rpm).toBe(src[col('ENGINE_RPM')]);
      expect(row.speed as number).toBeCloseTo(src[col('VEHICLE_SPEED')]!, 9);
      expect(row.coolant_temp as number).toBeCloseTo(src[col('COOLANT_TEMPERATURE')]!, 9);
      expect(row.intake_pressure as number).toBeCloseTo(src[col('INTAKE_MANIFOLD_PRESSURE')]!, 9);
    });
  });
});
