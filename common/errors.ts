/**
 * Coded errors for conditions that are programmer or configuration mistakes, or a broken
 * environment. Every code, and the message of those raised from one kind of place, is in the
 * catalogue (error-codes.ts). Conditions expected in the field (broker unreachable, NO DATA, a
 * malformed message) are values and states, not exceptions: see the modules that own them.
 */
import { ERRORS, type CodeWithMessage, type ErrorCode, type MessageArgs } from './error-codes.ts';

export type { ErrorCode } from './error-codes.ts';

export class FleetpulseError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FleetpulseError';
    this.code = code;
  }
}

/** One problem with one configuration field; `field` is the option key as documented. */
export interface ConfigIssue {
  field: string;
  message: string;
  /** Where the offending value came from, e.g. `env FLEETPULSE_INGEST_BATCH_SIZE`. */
  source?: string;
}

/** The error of a catalogue code with its catalogue message: `throw codedError('FP_SPOOL_CLOSED')`. */
export function codedError<C extends CodeWithMessage>(code: C, ...args: MessageArgs<C>): FleetpulseError {
  const message = (ERRORS[code].message as (...a: MessageArgs<C>) => string)(...args);
  return new FleetpulseError(code, message);
}

export class ConfigError extends FleetpulseError {
  readonly issues: readonly ConfigIssue[];

  constructor(context: string, issues: readonly ConfigIssue[]) {
    const lines = issues.map((i) => `  - ${i.field}: ${i.message}${i.source ? ` (from ${i.source})` : ''}`);
    super('FP_CONFIG_INVALID', `${context}: invalid configuration\n${lines.join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export class UsageError extends FleetpulseError {
  constructor(message: string) {
    super('FP_USAGE', message);
    this.name = 'UsageError';
  }
}

/**
 * A service could not listen on its address: taken by another process (`FP_PORT_IN_USE`) or not
 * allowed (`FP_PORT_DENIED`, e.g. a port below 1024 without privileges). The message is one line
 * and names the option that chose the port, so the CLI prints it as it is, without a stack trace.
 */
export class PortUnavailableError extends FleetpulseError {
  /** The command-line option that chose the port, e.g. `--metrics-port`. */
  readonly option: string;
  readonly address: string;

  /** `alternative`: what else the user can do, appended as `… (0 = any free port) or <alternative>`. */
  constructor(option: string, address: string, reason: 'in-use' | 'denied', options?: { cause?: unknown; alternative?: string | undefined }) {
    const why = reason === 'in-use' ? 'is already in use' : 'may not be bound by this user (ports below 1024 need privileges)';
    const or = options?.alternative ? ` or ${options.alternative}` : '';
    super(reason === 'in-use' ? 'FP_PORT_IN_USE' : 'FP_PORT_DENIED', `${option}: ${address} ${why}; choose another port with ${option} N (0 = any free port)${or}`, { cause: options?.cause });
    this.name = 'PortUnavailableError';
    this.option = option;
    this.address = address;
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
