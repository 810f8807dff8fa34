/**
 * Configuration for every fleetpulse service, from four layers (lowest first):
 * built-in defaults → config file (top-level shared keys, then the service's own section)
 * → environment (`FLEETPULSE_<KEY>`, then `FLEETPULSE_<SERVICE>_<KEY>`) → command-line flags.
 *
 * Every value is validated at start; a bad one stops the service with a message that names
 * the field and where the value came from. Unknown flags and unknown keys in the config file
 * are errors too, so a typo never silently falls back to a default.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError, type ConfigIssue, FleetpulseError, UsageError, errorMessage } from './errors.ts';

export interface OptionSpec<T> {
  readonly description: string;
  /** `undefined` with `required` means the user must supply it. */
  readonly default: T | undefined;
  readonly required: boolean;
  readonly placeholder: string;
  readonly schema: z.ZodType<T>;
  /** Turns text from an environment variable or a flag into the schema's input. */
  readonly fromText: (raw: string) => unknown;
  readonly isBoolean: boolean;
}

export type OptionsSpec = Record<string, OptionSpec<any>>;
export type ConfigOf<S extends OptionsSpec> = { [K in keyof S]: S[K] extends OptionSpec<infer T> ? T : never };

interface OptionExtras<T> {
  default?: T;
  required?: boolean;
}

function make<T>(
  description: string,
  placeholder: string,
  schema: z.ZodType<T>,
  fromText: (raw: string) => unknown,
  extras: OptionExtras<T>,
  isBoolean = false,
): OptionSpec<T> {
  return {
    description,
    default: extras.default,
    required: extras.required ?? extras.default === undefined,
    placeholder,
    schema,
    fromText,
    isBoolean,
  };
}

const asNumber = (raw: string): unknown => (raw.trim() === '' ? raw : Number(raw));

export const opt = {
  string(description: string, extras: OptionExtras<string> & { pattern?: RegExp; patternHint?: string } = {}) {
    let schema = z.string().min(1, 'must not be empty');
    if (extras.pattern) schema = schema.regex(extras.pattern, extras.patternHint ?? `must match ${extras.pattern}`);
    return make(description, '<text>', schema, (s) => s, extras);
  },
  int(description: string, extras: OptionExtras<number> & { min?: number; max?: number } = {}) {
    let schema = z.number({ error: 'must be a number' }).int('must be a whole number');
    if (extras.min !== undefined) schema = schema.min(extras.min, `must be ≥ ${extras.min}`);
    if (extras.max !== undefined) schema = schema.max(extras.max, `must be ≤ ${extras.max}`);
    return make(description, '<n>', schema, asNumber, extras);
  },
  number(description: string, extras: OptionExtras<number> & { min?: number; max?: number } = {}) {
    let schema = z.number({ error: 'must be a number' }).finite();
    if (extras.min !== undefined) schema = schema.min(extras.min, `must be ≥ ${extras.min}`);
    if (extras.max !== undefined) schema = schema.max(extras.max, `must be ≤ ${extras.max}`);
    return make(description, '<x>', schema, asNumber, extras);
  },
  boolean(description: string, extras: OptionExtras<boolean> = {}) {
    const fromText = (raw: string): unknown => {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      return raw;
    };
    return make(description, '', z.boolean({ error: 'must be true or false' }), fromText, extras, true);
  },
  url(description: string, protocols: readonly string[], extras: OptionExtras<string> & { alsoAllow?: readonly string[] } = {}) {
    const schema = z.string().refine(
      (s) => {
        if (extras.alsoAllow?.includes(s)) return true;
        try {
          return protocols.includes(new URL(s).protocol.replace(/:$/, ''));
        } catch {
          return false;
        }
      },
      { message: `must be a URL with scheme ${protocols.join(' or ')}${extras.alsoAllow ? ` (or ${extras.alsoAllow.join(', ')})` : ''}` },
    );
    return make(description, '<url>', schema, (s) => s, extras);
  },
  /** Text parsed by `parse`, which throws an Error whose message says what is wrong. */
  parsed<T>(description: string, placeholder: string, parse: (text: string) => T, extras: OptionExtras<string> = {}) {
    const schema = z.string().transform((text, ctx) => {
      try {
        return parse(text);
      } catch (error) {
        ctx.issues.push({ code: 'custom', message: errorMessage(error), input: text });
        return z.NEVER;
      }
    });
    return make(description, placeholder, schema as unknown as z.ZodType<T>, (s) => s, extras as OptionExtras<T>);
  },
  oneOf<const V extends readonly [string, ...string[]]>(values: V, description: string, extras: OptionExtras<V[number]> = {}) {
    const schema = z.enum(values, { error: `must be one of ${values.join(', ')}` }) as unknown as z.ZodType<V[number]>;
    return make(description, `<${values.join('|')}>`, schema, (s) => s, extras);
  },
};

/** `camelCase` → `CAMEL_CASE`, as used after `FLEETPULSE_`. */
export function envKey(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** `camelCase` → `--camel-case`. */
export function flagName(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

export interface CommandConfigContext {
  /** The command path as typed, e.g. `simulate fleet`; used in messages. */
  commandPath: string;
  /** The section name in the config file and the `FLEETPULSE_<SECTION>_…` env prefix, e.g. `ingest`. */
  section: string;
  /** Keys allowed at the top level of a config file (shared by several services). */
  sharedKeys: readonly string[];
  /** Section names allowed at the top level of a config file. */
  knownSections: readonly string[];
}

export interface LoadedConfig<S extends OptionsSpec> {
  config: ConfigOf<S>;
  positionals: string[];
  help: boolean;
  /** Where each value came from: `default`, `file …`, `env …` or `flag …`. */
  sources: Record<keyof S, string>;
}

interface RawValue {
  value: unknown;
  source: string;
  fromText: boolean;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new FleetpulseError('FP_CONFIG_FILE', `cannot read config file ${path}: ${errorMessage(error)}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new FleetpulseError('FP_CONFIG_FILE', `config file ${path} is not valid JSON: ${errorMessage(error)}`, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new FleetpulseError('FP_CONFIG_FILE', `config file ${path} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function loadConfig<S extends OptionsSpec>(
  spec: S,
  ctx: CommandConfigContext,
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): LoadedConfig<S> {
  const parseOptions: NonNullable<Parameters<typeof parseArgs>[0]>['options'] = {
    help: { type: 'boolean', short: 'h' },
    config: { type: 'string' },
  };
  for (const [key, option] of Object.entries(spec)) {
    const name = flagName(key);
    parseOptions[name] = { type: option.isBoolean ? 'boolean' : 'string' };
    if (option.isBoolean) parseOptions[`no-${name}`] = { type: 'boolean' };
  }

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options: parseOptions, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${ctx.commandPath}: ${errorMessage(error)}\nRun 'fleetpulse ${ctx.commandPath} --help' for the options.`);
  }
  const flags = parsed.values as Record<string, string | boolean | undefined>;
  const help = flags.help === true;

  const issues: ConfigIssue[] = [];
  const raw = new Map<string, RawValue>();
  const section = ctx.section;

  const configPath = typeof flags.config === 'string' ? flags.config : env.FLEETPULSE_CONFIG;
  if (configPath && !help) {
    const file = readConfigFile(configPath);
    for (const [key, value] of Object.entries(file)) {
      if (isPlainObject(value)) {
        if (!ctx.knownSections.includes(key)) {
          issues.push({ field: key, message: `unknown section (known: ${ctx.knownSections.join(', ')})`, source: `file ${configPath}` });
        }
        continue;
      }
      if (!ctx.sharedKeys.includes(key)) {
        issues.push({ field: key, message: `unknown top-level option (shared options: ${ctx.sharedKeys.join(', ')}; put service options in a section)`, source: `file ${configPath}` });
        continue;
      }
      if (key in spec) raw.set(key, { value, source: `file ${configPath}`, fromText: false });
    }
    const own = file[section];
    if (isPlainObject(own)) {
      for (const [key, value] of Object.entries(own)) {
        if (!(key in spec)) {
          issues.push({ field: `${section}.${key}`, message: `unknown option for '${ctx.commandPath}'`, source: `file ${configPath}` });
          continue;
        }
        raw.set(key, { value, source: `file ${configPath} (${section}.${key})`, fromText: false });
      }
    }
  }

  const sectionPrefix = `FLEETPULSE_${envKey(section)}_`;
  for (const key of Object.keys(spec)) {
    for (const name of [`FLEETPULSE_${envKey(key)}`, `${sectionPrefix}${envKey(key)}`]) {
      const value = env[name];
      if (value !== undefined && value !== '') raw.set(key, { value, source: `env ${name}`, fromText: true });
    }
    const name = flagName(key);
    const flag = flags[name];
    if (flag !== undefined) raw.set(key, { value: flag, source: `flag --${name}`, fromText: typeof flag === 'string' });
    if (flags[`no-${name}`] === true) raw.set(key, { value: false, source: `flag --no-${name}`, fromText: false });
  }

  const config: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  for (const [key, option] of Object.entries(spec)) {
    const given = raw.get(key);
    if (!given) {
      if (option.required && !help) {
        issues.push({ field: key, message: `is required: pass --${flagName(key)} or set FLEETPULSE_${envKey(section)}_${envKey(key)}` });
      }
      // Defaults go through the schema too: `parsed` options keep their default as text.
      config[key] = option.default === undefined ? undefined : option.schema.parse(option.default);
      sources[key] = 'default';
      continue;
    }
    const input = given.fromText && typeof given.value === 'string' ? option.fromText(given.value) : given.value;
    const result = option.schema.safeParse(input);
    if (result.success) {
      config[key] = result.data;
      sources[key] = given.source;
    } else {
      const problem = result.error.issues[0]?.message ?? 'is invalid';
      issues.push({ field: key, message: `${problem}, got ${JSON.stringify(given.value)}`, source: given.source });
    }
  }

  if (issues.length > 0 && !help) throw new ConfigError(`fleetpulse ${ctx.commandPath}`, issues);
  return { config: config as ConfigOf<S>, positionals: parsed.positionals, help, sources: sources as Record<keyof S, string> };
}

/** Help text for a command, generated from its option table so it can never drift from the code. */
export function formatHelp(commandPath: string, summary: string, spec: OptionsSpec, section: string, usage?: string): string {
  const rows = Object.entries(spec).map(([key, option]) => {
    const flag = `--${flagName(key)}${option.placeholder ? ` ${option.placeholder}` : ''}`;
    const dflt = option.default !== undefined ? ` (default: ${JSON.stringify(option.default)})` : option.required ? ' (required)' : '';
    return { flag, text: `${option.description}${dflt}`, env: `FLEETPULSE_${envKey(section)}_${envKey(key)}` };
  });
  const width = Math.min(34, Math.max(...rows.map((r) => r.flag.length), 10));
  const lines = rows.map((r) => `  ${r.flag.padEnd(width)}  ${r.text}\n  ${''.padEnd(width)}  env ${r.env}`);
  return [
    `Usage: fleetpulse ${usage ?? `${commandPath} [options]`}`,
    '',
    summary,
    '',
    'Options:',
    ...lines,
    `  ${'--config <file>'.padEnd(width)}  JSON config file (env FLEETPULSE_CONFIG); service options go in its "${section}" section`,
    `  ${'-h, --help'.padEnd(width)}  show this help`,
    '',
  ].join('\n');
}
