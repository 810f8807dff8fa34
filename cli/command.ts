/**
 * What every `fleetpulse` subcommand looks like: an option table (which also generates its
 * --help) and a `run` that either finishes or returns a running service to stop on a signal.
 */
import type { ConfigOf, OptionsSpec } from '../common/config.ts';

export interface RunningService {
  /** Stops gracefully: drains what is in flight, then releases resources. */
  stop(): Promise<void>;
  /** Resolves when the service ends by itself (e.g. a fleet run with a duration). */
  readonly done?: Promise<void>;
}

export interface CommandContext {
  /** Where human-facing output goes (the summary `up` prints); logs go to stderr. */
  print(line: string): void;
  /** Progress for a person watching (stderr), kept out of output meant for programs. */
  progress(line: string): void;
  /** Operands after the options (only for commands that declare `operands`). */
  operands: readonly string[];
}

export interface CommandDefinition<S extends OptionsSpec = OptionsSpec> {
  /** As typed after `fleetpulse`, e.g. `simulate fleet`. */
  readonly path: string;
  /** Config-file section and env prefix (`FLEETPULSE_<SECTION>_…`). */
  readonly section: string;
  readonly summary: string;
  readonly usage?: string;
  /** Name of the operands the command takes (e.g. `FILE...`); without it, an operand is a usage error. */
  readonly operands?: { name: string; min: number };
  readonly options: S;
  run(config: ConfigOf<S>, ctx: CommandContext): Promise<RunningService | void>;
}

export function defineCommand<S extends OptionsSpec>(definition: CommandDefinition<S>): CommandDefinition<S> {
  return definition;
}
