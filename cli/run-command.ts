/**
 * Runs one command: loads and validates its configuration, prints --help, runs it and, for a
 * long-running service, waits for SIGINT/SIGTERM (or its own end) and stops it gracefully.
 */
import { formatHelp, loadConfig } from '../common/config.ts';
import { ConfigError, FleetpulseError, UsageError, errorMessage } from '../common/errors.ts';
import type { CommandDefinition, RunningService } from './command.ts';
import { SECTIONS, SHARED_KEYS } from './shared-options.ts';

export interface MainIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** Waits for SIGINT/SIGTERM (or the service's own end), then stops it. */
function runUntilSignal(service: RunningService, io: MainIo): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    let firstSignalAt = 0;
    const stop = (reason: string): void => {
      if (stopping) return;
      stopping = true;
      io.err(`${reason}: stopping…`);
      service.stop().then(
        () => finish(0),
        (error: unknown) => {
          io.err(`error while stopping: ${errorMessage(error)}`);
          finish(1);
        },
      );
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      // npm forwards the terminal's Ctrl-C as a second SIGINT: only a later one forces an exit.
      if (stopping && Date.now() - firstSignalAt > 2000) {
        io.err(`${signal} again: exiting without waiting`);
        process.exit(130);
      }
      if (!stopping) firstSignalAt = Date.now();
      stop(signal);
    };
    const finish = (code: number): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(code);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    service.done?.then(() => stop('finished'));
  });
}

export async function runCommand(definition: CommandDefinition<any>, argv: readonly string[], io: MainIo): Promise<number> {
  const loaded = loadConfig(definition.options, { commandPath: definition.path, section: definition.section, sharedKeys: SHARED_KEYS, knownSections: SECTIONS }, argv);
  if (loaded.help) {
    io.out(formatHelp(definition.path, definition.summary, definition.options, definition.section, definition.usage));
    return 0;
  }
  const operands = definition.operands;
  if (!operands && loaded.positionals.length > 0) {
    throw new UsageError(`fleetpulse ${definition.path}: unexpected argument '${loaded.positionals[0]}'\nRun 'fleetpulse ${definition.path} --help' for the options.`);
  }
  if (operands && loaded.positionals.length < operands.min) {
    throw new UsageError(`fleetpulse ${definition.path}: give at least ${operands.min} ${operands.name}\nRun 'fleetpulse ${definition.path} --help' for the options.`);
  }
  const service = await definition.run(loaded.config, { print: io.out, progress: io.err, operands: loaded.positionals });
  if (!service) return 0;
  return runUntilSignal(service, io);
}

/** Exit code 2 for usage and configuration mistakes, 1 for everything else. */
export function reportError(error: unknown, io: MainIo): number {
  if (error instanceof ConfigError || error instanceof UsageError) {
    io.err(error.message);
    return 2;
  }
  if (error instanceof FleetpulseError) {
    io.err(`fleetpulse: ${error.message}`);
    return 1;
  }
  io.err(`fleetpulse: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return 1;
}
