/**
 * The structured logger every service uses: `log.info(message, fields)`, `child(name)`, to stderr.
 * pino underneath. Guarantees:
 * - One event per line. JSON lines when stderr is not a terminal (systemd/journald, Loki, CI, a
 *   test reading a child process): `{"level":"info","time":"<ISO 8601>","component":"agent/obd",…fields,"msg":"…"}`;
 *   an Error in a field is written as its message.
 * - On a terminal one readable line per event (pino-pretty): `[12:00:00.000] INFO: agent/obd adapter ready {"port":…}`.
 *   pino-pretty is loaded only then; where it is not installed (the Raspberry Pi agent bundle)
 *   the lines stay JSON — pipe them through `npx pino-pretty` to read them.
 * - `FLEETPULSE_LOG_FORMAT=json|pretty` chooses either way; `FLEETPULSE_LOG_LEVEL` (default `info`)
 *   drops what is below it.
 * - Written synchronously: a line logged just before the process exits is not lost.
 */
import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger as PinoLogger, type LoggerOptions as PinoOptions } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFields = Record<string, unknown>;
export type LogFormat = 'json' | 'pretty';

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(component: string): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Default: `FLEETPULSE_LOG_FORMAT`, else `pretty` on a terminal and `json` otherwise (always `json` with `write`). */
  format?: LogFormat;
  /** Receives every line without its newline, instead of stderr (tests). */
  write?: (line: string) => void;
}

function parseLevel(value: string | undefined): LogLevel {
  return LEVELS.find((level) => level === value) ?? 'info';
}

function envFormat(): LogFormat | undefined {
  const value = process.env.FLEETPULSE_LOG_FORMAT;
  if (value === 'json') return 'json';
  // `text` was the name of the readable format before pino.
  if (value === 'pretty' || value === 'text') return 'pretty';
  return undefined;
}

/** Today's field semantics: an Error is written as its message (pino would write `{}`). */
function errorsAsMessages(fields: LogFields): LogFields {
  for (const [key, value] of Object.entries(fields)) if (value instanceof Error) fields[key] = value.message;
  return fields;
}

const requireOptional = createRequire(import.meta.url);

/** A pino-pretty stream on stderr, or undefined where pino-pretty is not installed. */
function prettyStderr(): DestinationStream | undefined {
  let pretty: typeof import('pino-pretty');
  try {
    pretty = requireOptional('pino-pretty') as typeof pretty;
  } catch {
    return undefined;
  }
  return pretty({
    destination: 2,
    sync: true,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'component',
    messageFormat: '{component} {msg}',
    // Our fields named `error` hold a message, not an error object to print on lines of its own.
    errorLikeObjectKeys: [],
  });
}

function rootLogger(level: LogLevel, format: LogFormat, write: ((line: string) => void) | undefined): PinoLogger {
  const base: PinoOptions = { level, base: undefined, formatters: { log: errorsAsMessages } };
  const pretty = format === 'pretty' && !write ? prettyStderr() : undefined;
  if (pretty) return pino(base, pretty);
  const destination: DestinationStream = write ? { write: (line: string) => write(line.endsWith('\n') ? line.slice(0, -1) : line) } : pino.destination({ dest: 2, sync: true });
  return pino({ ...base, timestamp: pino.stdTimeFunctions.isoTime, formatters: { ...base.formatters, level: (label) => ({ level: label }) } }, destination);
}

function wrap(logger: PinoLogger, root: PinoLogger, component: string): Logger {
  const emit =
    (level: Exclude<LogLevel, 'silent'>) =>
    (message: string, fields?: LogFields): void => {
      if (fields) logger[level](fields, message);
      else logger[level](message);
    };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    // From the root: pino would repeat a `component` key of the parent's bindings.
    child: (sub) => wrap(root.child({ component: `${component}/${sub}` }), root, `${component}/${sub}`),
  };
}

export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const level = options.level ?? parseLevel(process.env.FLEETPULSE_LOG_LEVEL);
  const format = options.format ?? (options.write ? 'json' : (envFormat() ?? (process.stderr.isTTY ? 'pretty' : 'json')));
  const root = rootLogger(level, format, options.write);
  return wrap(root.child({ component }), root, component);
}

/** A logger that drops everything, for tests and library use. */
export const silentLogger: Logger = createLogger('silent', { level: 'silent', write: () => {} });
