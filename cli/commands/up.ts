/**
 * `fleetpulse up`: the whole laptop demo on embedded defaults — a local InfluxDB and nginx (each
 * installed from its Debian package if missing, as root on Debian/Ubuntu), the broker, ingest, a
 * simulated fleet and the API scenario — stopped cleanly on Ctrl-C.
 */
import { join, resolve } from 'node:path';
import { findExecutable } from '../../common/child-process.ts';
import { opt } from '../../common/config.ts';
import { errorMessage } from '../../common/errors.ts';
import { createLogger } from '../../common/logger.ts';
import { assertPortFree } from '../../common/net.ts';
import { startBroker } from '../../broker/broker-server.ts';
import { brokerPaths } from '../../broker/broker-paths.ts';
import { provisionLocalCredentials } from '../../broker/local-credentials.ts';
import { IngestService } from '../../ingest/ingest-service.ts';
import { ensureInfluxdInstalled, startLocalInfluxd } from '../../ingest/influxdb/local-influxd.ts';
import { SHARD_COUNT } from '../../contracts/topics.ts';
import { SimulatedFleet, fleetVehicleIds } from '../../agent/simulated-fleet.ts';
import { FAULT_KINDS } from '../../simulator/faults.ts';
import { defineCommand } from '../command.ts';
import { sharedOptions } from '../shared-options.ts';
import { apiOffLine, decideApiScenario } from '../api-scenario.ts';
import { createApiLogProcessor, defaultApiLogConfig } from '../../ingest/apilogs/api-log-options.ts';
import { attachScoring, defaultScoringConfig, scoringOptions, vehicleStateFile } from '../../ingest/scoring/scoring-options.ts';
import { VehicleStateStore } from '../../ingest/scoring/vehicle-state-store.ts';
import { seedDemoBaselines, type DemoBaselineResult } from '../demo-baselines.ts';
import { assertDashboardPortFree, dashboardOptions, startConfiguredDashboard } from '../../ingest/dashboard/dashboard-options.ts';
import { RAW_TELEMETRY } from '../../ingest/influxdb/rollups.ts';

/** Everything up runs listens on loopback. */
const HOST = '127.0.0.1';
/**
 * up's own names for the ports of the services it runs, named when a port is taken (the broker
 * alone calls its port `--port`, nginx under `fleetpulse api` `--nginx-port`).
 */
const PORT_OPTION = { mqtt: '--mqtt-port', influx: '--influx-port', api: '--api-port' } as const;

export default defineCommand({
  path: 'up',
  section: 'up',
  summary: 'Run the whole pipeline on this machine: InfluxDB, broker, ingest and a simulated fleet.',
  options: {
    vehicles: opt.int('Simulated vehicles', { default: 20, min: 0, max: 100_000 }),
    sampleRateHz: opt.number('Samples per second per vehicle', { default: 1, min: 0.01, max: 100 }),
    seed: opt.int('Seed of the simulated fleet', { default: 42 }),
    faultyFraction: opt.number('Share of simulated vehicles with an already developed engine fault, so the demo shows anomalies', { default: 0.2, min: 0, max: 1 }),
    fault: opt.oneOf(['any', ...FAULT_KINDS] as const, "Fault of the --faulty-fraction vehicles: one kind (misfire sets P030x and the check-engine light), or 'any' = every kind in turn", { default: 'any' }),
    mqttPort: opt.int('Broker TCP port', { default: 1883, min: 0, max: 65535 }),
    influxUrl: opt.url('InfluxDB to use; "local" starts a managed influxd', ['http', 'https'], { default: 'local', alsoAllow: ['local'] }),
    influxPort: opt.int('Port of the managed local influxd', { default: 8086, min: 0, max: 65535 }),
    influxDatabase: sharedOptions.influxDatabase,
    dataDir: sharedOptions.dataDir,
    api: opt.oneOf(['auto', 'on', 'off'] as const, 'Privacy API behind nginx with log shipping and API analytics: auto = on, installing nginx-light when missing (root on Debian/Ubuntu), else off with the reason in the summary', { default: 'auto' }),
    apiPort: opt.int('Port of nginx in front of the privacy API', { default: 8090, min: 0, max: 65535 }),
    apiTrafficRate: opt.number('Simulated API requests per second (0 = none)', { default: 5, min: 0, max: 10_000 }),
    scoring: scoringOptions.scoring,
    model: scoringOptions.model,
    demoBaselines: opt.int("Demo vehicles (at most) that start with a baseline learnt from their own simulated history (≈ 0.2 s each at start; the others learn from 3 h of live warm driving, grey 'learning' meanwhile)", { default: 200, min: 0, max: 100_000 }),
    ...dashboardOptions(true),
  },
  async run(config, ctx) {
    const log = createLogger('up');
    const stops: Array<{ name: string; stop: () => Promise<unknown> }> = [];
    const stopAll = async (): Promise<void> => {
      for (const { name, stop } of stops.reverse().splice(0)) {
        try {
          await stop();
        } catch (error) {
          log.error(`stopping ${name} failed`, { error: errorMessage(error) });
        }
      }
    };
    try {
      // Before anything starts: a taken port fails at once, in one line naming up's option. (The
      // local influxd checks its own port once it has stopped a leftover of ours that may hold it.)
      // nginx is installed here when missing (as root on Debian/Ubuntu), like InfluxDB below.
      const apiScenario = decideApiScenario(config.api, ctx.print);
      const withApi = apiScenario.on;
      await assertDashboardPortFree(config);
      await assertPortFree(HOST, config.mqttPort, PORT_OPTION.mqtt);
      if (withApi) await assertPortFree(HOST, config.apiPort, PORT_OPTION.api);
      const dataDir = resolve(config.dataDir);
      let influxUrl = config.influxUrl;
      let influxNote = '(external server)';
      if (influxUrl === 'local') {
        ensureInfluxdInstalled(log, ctx.print);
        const influxd = await startLocalInfluxd({ dataDir: join(dataDir, 'influxdb'), host: HOST, port: config.influxPort, portOption: PORT_OPTION.influx, logger: log });
        stops.push({ name: 'influxd', stop: () => influxd.stop() });
        influxUrl = influxd.url;
        influxNote = `(local influxd, pid ${influxd.pid}, data in ${influxd.dataDir})`;
      }

      // Authentication stays on: up provisions its own ingest and vehicle identities (passwords kept
      // in <dataDir>/broker/local-credentials.json, mode 0600).
      const brokerFiles = brokerPaths(dataDir);
      const vehicleIds = fleetVehicleIds(config.vehicles, 'sim-');
      const ingestUser = 'fleetpulse-ingest';
      const edgeUser = 'fleetpulse-edge';
      const passwords = await provisionLocalCredentials(brokerFiles.devicesFile, brokerFiles.localCredentialsFile, [
        { username: ingestUser, role: 'ingest' },
        ...(withApi ? [{ username: edgeUser, role: 'logship' as const }] : []),
        ...vehicleIds.map((id) => ({ username: id, role: 'vehicle' as const })),
      ]);
      const broker = await startBroker({
        host: HOST,
        port: config.mqttPort,
        portOption: PORT_OPTION.mqtt,
        logger: createLogger('broker'),
        auth: { devicesFile: brokerFiles.devicesFile },
        persistence: { kind: 'level', dir: brokerFiles.sessionsDir },
      });
      stops.push({ name: 'broker', stop: () => broker.close() });

      // The demo customer table must exist before ingest enriches with it.
      const apiStack = withApi ? await import('../../api/api-demo-stack.ts') : undefined;
      apiStack?.ensureDemoCustomers(join(dataDir, 'api', 'customers.json'));
      const ingest = new IngestService({
        mqttUrl: broker.url,
        influxUrl,
        influxDatabase: config.influxDatabase,
        clientId: ingestUser,
        username: ingestUser,
        password: passwords.get(ingestUser),
        shards: Array.from({ length: SHARD_COUNT }, (_, i) => i),
        spoolDir: join(dataDir, 'ingest-spool', config.influxDatabase, ingestUser),
        archiveDir: join(dataDir, 'archive'),
        flushIntervalMs: 200,
        httpPort: 0,
        statsIntervalMs: 10_000,
        logger: createLogger('ingest'),
        apiLogs: withApi ? await createApiLogProcessor(defaultApiLogConfig(dataDir), createLogger('apilogs')) : undefined,
      });
      const scoringConfig = { ...defaultScoringConfig(), scoring: config.scoring, model: config.model, dataDir, influxUrl, influxDatabase: config.influxDatabase, clientId: ingestUser };
      // The fleet exists before ingest so its vehicles' baselines can be seeded from their own simulated history.
      const fleet = new SimulatedFleet({
        vehicles: config.vehicles,
        idPrefix: 'sim-',
        seed: config.seed,
        // Faults began days before the demo starts and are well developed now: the dashboard shows them within minutes.
        faultyFraction: config.faultyFraction,
        ...(config.fault !== 'any' ? { faultKinds: [config.fault] } : {}),
        faultOnsetDays: [-9.8, -9.6],
        failureAfterDays: [10, 10.2],
        // The cars have been on the road for 20–30 min when the demo starts: warm engines show their faults
        // in the first windows (a cold engine hides most of them for its first 15 min).
        preRollS: [1200, 1800],
        mqttUrl: broker.url,
        sampleRateHz: config.sampleRateHz,
        batchIntervalMs: 2000,
        maxBatchSamples: 500,
        outboxSamples: 100_000,
        credentials: (vehicleId) => ({ username: vehicleId, password: passwords.get(vehicleId) ?? '' }),
        logger: createLogger('fleet'),
      });
      let seeded: DemoBaselineResult | undefined;
      if (config.scoring && config.demoBaselines > 0) {
        const store = new VehicleStateStore({ file: vehicleStateFile(scoringConfig) });
        try {
          seeded = seedDemoBaselines(store, fleet.specs.slice(0, config.demoBaselines), { seed: config.seed, learnHours: scoringConfig.baselineLearnHours, startMs: Date.now() });
        } finally {
          store.close();
        }
        log.info('demo baselines seeded', { ...seeded });
      }
      const scoring = await attachScoring(ingest, scoringConfig, createLogger('scoring'));
      await ingest.start();
      stops.push({ name: 'ingest', stop: async () => { await ingest.stop(); await scoring?.close(); } });
      const dashboard = await startConfiguredDashboard(ingest, config, { url: influxUrl, database: config.influxDatabase }, createLogger('dashboard'));
      if (dashboard) stops.push({ name: 'dashboard', stop: () => dashboard.close() });

      await fleet.start();
      stops.push({ name: 'fleet', stop: () => fleet.stop() });

      let apiSummary: string[] = [];
      if (withApi) {
        const stack = await apiStack!.startApiDemoStack({ dataDir, mqttUrl: broker.url, username: edgeUser, password: passwords.get(edgeUser) ?? '', nginxPort: config.apiPort, nginxPortOption: PORT_OPTION.api, trafficRate: config.apiTrafficRate, logger: createLogger('api') });
        stops.push({ name: 'api', stop: () => stack.stop() });
        apiSummary = stack.summary;
      }

      const ids = vehicleIds;
      const u = new URL(influxUrl);
      ctx.print(
        [
          '',
          'fleetpulse is up',
          `  Dashboard ${dashboard ? `${dashboard.url}  (live: fleet, alerts, API traffic, threats)` : 'off (--no-dashboard)'}`,
          `  InfluxDB  ${influxUrl}  database "${config.influxDatabase}" ${influxNote}`,
          `  Broker    ${broker.url}  (login required; identities in ${brokerFiles.devicesFile}, sessions on disk)`,
          `  Ingest    shards 0-${SHARD_COUNT - 1} → 30 s windows + features → InfluxDB, health and metrics ${ingest.httpUrl ?? '(off)'}`,
          `  Scoring   ${scoring ? `model v${scoring.stats().model.modelVersion} → anomaly + alerts (InfluxDB, MQTT fleet/+/+/alerts), hot reload on model change` : 'off (--no-scoring)'}`,
          `  Baselines ${!scoring ? 'off (--no-scoring)' : seeded ? `${seeded.learned} demo vehicles start with their own baseline learnt (from ${scoringConfig.baselineLearnHours + 1} h of their own simulated driving${seeded.seeded ? ` in ${seeded.seconds.toFixed(1)} s` : ''}, faulty ones from before the fault began)${seeded.kept ? `, ${seeded.kept} kept what they learnt in an earlier run` : ''}${config.vehicles > config.demoBaselines ? `; the other ${config.vehicles - config.demoBaselines} learn live (grey "learning")` : ''}` : `learnt live from ${scoringConfig.baselineLearnHours} h of warm driving (grey "learning" meanwhile)`}`,
          `  Fleet     ${config.vehicles} simulated vehicles${ids.length ? ` (${ids[0]} … ${ids[ids.length - 1]})` : ''}, ${config.sampleRateHz} sample/s each, a batch every 2 s; ${fleet.specs.filter((s) => s.fault).length} with a developing engine fault${config.fault !== 'any' ? ` (${config.fault})` : ''}`,
          ...(apiScenario.on ? apiSummary : [apiOffLine(apiScenario)]),
          '',
          'Look at the data:',
          `  ${queryCommand(u, config.influxDatabase, `SELECT count(rpm) FROM ${RAW_TELEMETRY} GROUP BY vehicle`)}`,
          '',
          'Press Ctrl-C to stop.',
          '',
        ].join('\n'),
      );
    } catch (error) {
      await stopAll();
      throw error;
    }
    return { stop: stopAll };
  },
});

/**
 * A command that runs `query` against InfluxDB from a shell: the `influx` CLI where it is installed,
 * otherwise curl — Debian's `influxdb` package ships only the server (the CLI is `influxdb-client`).
 */
export function queryCommand(influx: URL, database: string, query: string): string {
  if (findExecutable('influx')) return `influx -host ${influx.hostname} -port ${influx.port || 8086} -database ${database} -execute '${query}'`;
  const endpoint = new URL('/query', influx).toString();
  return `curl -sG ${endpoint} --data-urlencode db=${database} --data-urlencode 'q=${query}'`;
}
