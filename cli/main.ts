/**
 * The `fleetpulse` command. Subcommands are loaded lazily so that running the agent never
 * loads the cloud side's modules (and the other way round).
 */
import { UsageError } from '../common/errors.ts';
import type { CommandDefinition } from './command.ts';
import { reportError, runCommand, type MainIo } from './run-command.ts';

type Loader = () => Promise<{ default: CommandDefinition<any> }>;

interface Entry {
  summary: string;
  load?: Loader;
  subcommands?: Record<string, { summary: string; load: Loader }>;
}

export const COMMANDS: Record<string, Entry> = {
  up: { summary: 'Run the whole pipeline locally (InfluxDB, broker, ingest, simulated fleet)', load: () => import('./commands/up.ts') },
  broker: { summary: 'Run the MQTT broker', load: () => import('./commands/broker.ts') },
  devices: {
    summary: 'Broker identities: add, list, revoke, rotate',
    subcommands: {
      add: { summary: 'Add a device with a generated password', load: () => import('./commands/devices.ts').then((m) => ({ default: m.addCommand })) },
      list: { summary: 'List devices', load: () => import('./commands/devices.ts').then((m) => ({ default: m.listCommand })) },
      revoke: { summary: 'Remove a device; the broker disconnects it', load: () => import('./commands/devices.ts').then((m) => ({ default: m.revokeCommand })) },
      rotate: { summary: 'Give a device a new password', load: () => import('./commands/devices.ts').then((m) => ({ default: m.rotateCommand })) },
    },
  },
  tokens: {
    summary: 'Query API and dashboard tokens: add, list, revoke',
    subcommands: {
      add: { summary: 'Add a token (viewer, operator or admin), shown once', load: () => import('./commands/tokens.ts').then((m) => ({ default: m.addCommand })) },
      list: { summary: 'List tokens (never the tokens themselves)', load: () => import('./commands/tokens.ts').then((m) => ({ default: m.listCommand })) },
      revoke: { summary: 'Remove a token; requests carrying it are refused at once', load: () => import('./commands/tokens.ts').then((m) => ({ default: m.revokeCommand })) },
    },
  },
  config: {
    summary: 'Remote agent configuration: set',
    subcommands: {
      set: { summary: "Publish a vehicle agent's config (retained); optionally wait until applied", load: () => import('./commands/config-set.ts') },
    },
  },
  baseline: { summary: 'Vehicle baselines: reset (re-learn after a repair)', subcommands: { reset: { summary: "Forget a vehicle's learned baseline; ingest learns it again", load: () => import('./commands/baseline.ts') } } },
  certs: { summary: 'Create a development CA and TLS certificates', load: () => import('./commands/certs.ts') },
  ingest: { summary: 'Consume telemetry and write it to InfluxDB', load: () => import('./commands/ingest.ts') },
  notify: {
    summary: 'Notifications of ingest: test',
    subcommands: {
      test: { summary: 'Send a test notification through the configured channels and print the outcome', load: () => import('./commands/notify.ts') },
    },
  },
  agent: { summary: 'Run the vehicle agent', load: () => import('./commands/agent.ts') },
  api: { summary: 'Run the privacy API (behind nginx when installed)', load: () => import('./commands/api.ts') },
  logship: { summary: 'Ship an nginx access log to the broker', load: () => import('./commands/logship.ts') },
  obd: {
    summary: 'OBD-II adapter tools: probe',
    subcommands: {
      probe: { summary: 'Probe an ELM327 adapter and the car: version, protocol, PIDs, VIN, DTCs, values', load: () => import('./commands/obd-probe.ts') },
    },
  },
  train: {
    summary: 'Engine anomaly model: train end to end (no subcommand), dataset, report, drift, evaluate-drives',
    load: () => import('./commands/train.ts'),
    subcommands: {
      dataset: { summary: 'Labelled feature windows from a simulated fleet, split by vehicle', load: () => import('./commands/train.ts').then((m) => ({ default: m.datasetCommand })) },
      report: { summary: 'Evaluation report of a model on held-out vehicles (Markdown + SVG)', load: () => import('./commands/train.ts').then((m) => ({ default: m.reportCommand })) },
      drift: { summary: 'PSI of recent feature windows against the training set; whether to retrain', load: () => import('./commands/train.ts').then((m) => ({ default: m.driftCommand })) },
      'evaluate-drives': { summary: 'Recorded drive logs through the serving path: windows flagged and alerts raised per file', load: () => import('./commands/evaluate-drives.ts') },
    },
  },
  simulate: {
    summary: 'Simulators: a fleet of vehicles, batch data generation, the realism report, an ELM327 adapter',
    subcommands: {
      fleet: { summary: 'Run a simulated fleet, one agent per vehicle', load: () => import('./commands/simulate-fleet.ts') },
      'realism-report': { summary: 'Compare the simulator with a real drive (Markdown + SVG charts)', load: () => import('./commands/simulate-realism-report.ts') },
      generate: { summary: 'Generate simulated fleet data with ground truth, as fast as the CPU goes', load: () => import('./commands/simulate-generate.ts') },
      'api-traffic': { summary: 'Simulated API customers and attackers through nginx (loopback)', load: () => import('./commands/simulate-api-traffic.ts') },
      elm327: { summary: 'An emulated ELM327 adapter on a simulated car, on a real pseudo-terminal', load: () => import('./commands/simulate-elm327.ts') },
    },
  },
};

function topHelp(): string {
  const rows = Object.entries(COMMANDS).map(([name, e]) => `  ${name.padEnd(10)} ${e.summary}`);
  return [
    'Usage: fleetpulse <command> [options]',
    '',
    'Edge-to-cloud vehicle and API analytics.',
    '',
    'Commands:',
    ...rows,
    '',
    "Run 'fleetpulse <command> --help' for a command's options.",
    'Configuration: flags > FLEETPULSE_<SERVICE>_<KEY> > FLEETPULSE_<KEY> > config file (--config) > defaults.',
    '',
  ].join('\n');
}

function groupHelp(name: string, entry: Entry): string {
  const rows = Object.entries(entry.subcommands ?? {}).map(([sub, e]) => `  ${sub.padEnd(10)} ${e.summary}`);
  return [`Usage: fleetpulse ${name} <subcommand> [options]`, '', entry.summary, '', 'Subcommands:', ...rows, ''].join('\n');
}

const defaultIo: MainIo = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
};

/** Resolves to the command and its remaining arguments, or prints help/usage. */
async function resolveCommand(argv: readonly string[], io: MainIo): Promise<{ definition: CommandDefinition<any>; rest: string[] } | number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(topHelp());
    return name === undefined ? 2 : 0;
  }
  const entry = COMMANDS[name];
  if (!entry) throw new UsageError(`unknown command '${name}'\n\n${topHelp()}`);
  const [sub, ...subRest] = rest;
  // A group with its own command (e.g. `train`) runs it unless a subcommand is named.
  if (entry.load && (sub === undefined || !entry.subcommands?.[sub])) return { definition: (await entry.load()).default, rest };
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.out(groupHelp(name, entry));
    return sub === undefined ? 2 : 0;
  }
  const subEntry = entry.subcommands?.[sub];
  if (!subEntry) throw new UsageError(`unknown subcommand '${name} ${sub}'\n\n${groupHelp(name, entry)}`);
  return { definition: (await subEntry.load()).default, rest: subRest };
}

export async function main(argv: readonly string[], io: MainIo = defaultIo): Promise<number> {
  try {
    const resolved = await resolveCommand(argv, io);
    if (typeof resolved === 'number') return resolved;
    return await runCommand(resolved.definition, resolved.rest, io);
  } catch (error) {
    return reportError(error, io);
  }
}
