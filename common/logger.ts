/**
 * A small structured logger: one line per event, `key=value` fields, to stderr.
 * Text for people by default; `FLEETPULSE_LOG_FORMAT=json` gives JSON lines for log shippers.
 * We keep our own because every service logs a handful of lines per second at most
 * and a dependency-free logger keeps the Raspberry Pi agent bundle small.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFields = Record<string, unknown>;

const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(component: string): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: 'text' | 'json';
  write?: (line: string) => void;
}

function parseLevel(value: string | undefined): LogLevel {
  return value !== undefined && value in levelRank ? (value as LogLevel) : 'info';
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === 'string') return /^[\w.:/@+-]*$/.test(value) && value !== '' ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  return JSON.stringify(value);
}

export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const level = options.level ?? parseLevel(process.env.FLEETPULSE_LOG_LEVEL);
  const format = options.format ?? (process.env.FLEETPULSE_LOG_FORMAT === 'json' ? 'json' : 'text');
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const threshold = levelRank[level];

  const emit = (lvl: Exclude<LogLevel, 'silent'>, message: string, fields?: LogFields): void => {
    if (levelRank[lvl] < threshold) return;
    const time = new Date().toISOString();
    if (format === 'json') {
      const record: LogFields = { time, level: lvl, component, msg: message };
      for (const [k, v] of Object.entries(fields ?? {})) record[k] = v instanceof Error ? v.message : v;
      write(JSON.stringify(record));
      return;
    }
    const rendered = Object.entries(fields ?? {})
      .map(([k, v]) => `${k}=${formatValue(v)}`)
      .join(' ');
    write(`${time} ${lvl.toUpperCase().padEnd(5)} ${component.padEnd(8)} ${message}${rendered ? ` ${rendered}` : ''}`);
  };

  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (sub) => createLogger(`${component}/${sub}`, { level, format, write }),
  };
}

/** A logger that drops everything, for tests and library use. */
export const silentLogger: Logger = createLogger('silent', { level: 'silent' });
