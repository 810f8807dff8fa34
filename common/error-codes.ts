/**
 * The catalogue of fleetpulse's error codes (fastify's lib/errors.js is the model): every code once,
 * with what it means and, for a code raised from one kind of place, the message it builds
 * (`codedError` in errors.ts). Codes are stable: programs, scripts and tests match on `error.code`,
 * never on the wording, which may change. docs/errors.md documents every code; error-codes.test.ts
 * keeps the two in step.
 *
 * Errors are for configuration and programming mistakes and for a broken environment (a missing
 * dependency, a child process that died). Conditions expected in the field — broker unreachable,
 * NO DATA, a malformed message, a full disk — are values and states of the modules that own them;
 * the few that reach a caller as an Error through a callback or a rejected promise carry a code too.
 */
export interface ErrorSpec {
  /** What the code means, in one sentence (docs/errors.md says more). */
  readonly meaning: string;
  /** The message, where the code is raised from one kind of place. */
  readonly message?: (...args: never[]) => string;
}

export const ERRORS = {
  // Configuration and usage: the CLI exits with code 2 for these two.
  FP_CONFIG_INVALID: { meaning: 'An option has a value the service cannot use; ConfigError.issues names each field and where its value came from.' },
  FP_USAGE: { meaning: 'A command line, or a request of a command, that cannot be carried out as given.' },
  FP_CONFIG_FILE: { meaning: 'The config file cannot be read, is not JSON, or is not a JSON object.' },

  // The environment.
  FP_DEPENDENCY_MISSING: { meaning: 'A program fleetpulse runs (influxd, nginx, openssl, socat …) is not installed.' },
  FP_PROCESS_FAILED: { meaning: 'A program fleetpulse runs, or a service it talks to, failed at what it was asked to do.' },
  FP_PROCESS_NOT_STARTED: {
    meaning: 'A child process could not be started at all (no PID).',
    message: (command: string) => `could not start ${command}`,
  },
  FP_BROKER_WORKER_EXITED: {
    meaning: 'A broker worker of --workers exited before it listened, so the pool stops instead of restarting it forever.',
    message: (worker: number, code: number | null, signal: string | null) => `broker worker ${worker} exited before it listened (code ${code}, signal ${signal})`,
  },
  FP_TIMEOUT: { meaning: 'Something fleetpulse waited for (an adapter, a vehicle, a process) did not happen in time.' },
  FP_PORT_IN_USE: { meaning: 'A port fleetpulse should listen on is taken; the message names the option that chose it.' },
  FP_PORT_DENIED: { meaning: 'A port fleetpulse should listen on may not be bound by this user (below 1024 without privileges).' },
  FP_AGENT_UNIT_INVALID: {
    meaning: "The shipped systemd unit has no ExecStart line in the form the footprint bench and the bundle test read.",
    message: (path: string) => `${path}: no ExecStart=/usr/bin/node … fleetpulse-agent.mjs agent line`,
  },

  // Conditions of the field that reach a caller as an Error.
  FP_PUBLISH_NOT_ACKNOWLEDGED: {
    meaning: 'A QoS 1 publish lost its broker connection before the PUBACK; the caller keeps the message and sends it again.',
    message: (why: 'stopped' | 'closed') => `connection ${why} before the broker acknowledged`,
  },
  FP_STORE_UNAVAILABLE: {
    meaning: "The broker's session store refused a write and refuses every write until it has been reopened; the publisher gets no PUBACK.",
    message: () => 'session store is not writable (a write failed; reopening it)',
  },
  FP_JOB_CANCELLED: {
    meaning: 'A privacy API job was stopped by its deadline, its client leaving, or shutdown; the reason is `JobCancelled.reason`.',
    message: (reason: string) => `job cancelled: ${reason}`,
  },

  // Answers of the query API (ingest/api-v1/): the `error.code` of its JSON error body.
  FP_API_UNAUTHORIZED: { meaning: 'A query API or dashboard request carried no token, a malformed one, or one not (or no longer) in the token file.' },
  FP_API_FORBIDDEN: { meaning: "The request's token is valid but its role may not do this (a viewer on an operator or admin route)." },
  FP_API_NOT_FOUND: { meaning: 'No such route, or no such vehicle among those the token may see.' },
  FP_API_BAD_REQUEST: { meaning: 'A query parameter, path parameter or cursor of a query API request is not valid; the message names it.' },
  FP_API_RATE_LIMITED: { meaning: 'Too many failed logins from one address; the answer says when to try again.' },
  FP_API_UPSTREAM_FAILED: { meaning: 'InfluxDB, which the query API reads, or the broker, which carries its actions, failed or timed out; the request may be repeated.' },
  FP_ACCESS_NOT_CONFIGURED: {
    meaning: 'The dashboard was asked to listen beyond loopback without any token to log in with.',
    message: (address: string, tokenFile: string) =>
      `--dashboard-host ${address} is not loopback and --token-file ${tokenFile} holds no token: add one with \`fleetpulse tokens add --name NAME --role admin\`, or listen on 127.0.0.1`,
  },

  // Programming mistakes: a caller broke a module's contract.
  FP_METRIC_DUPLICATE: {
    meaning: 'Two metric sources of one service wrote the same metric family in one scrape.',
    message: (name: string) => `metric ${name} is written twice in one scrape`,
  },
  FP_SPOOL_CLOSED: {
    meaning: "Ingest's spool was written after it was closed.",
    message: () => 'the spool is closed',
  },
  FP_TEMPLATE_PLACEHOLDER: {
    meaning: 'A configuration template names a placeholder the code gives no value for.',
    message: (template: string, name: string) => `${template} template placeholder ${name} has no value`,
  },
  FP_NO_SUCH_PACKET: {
    meaning: "The broker's session store was asked to update an outgoing packet it does not hold (the Aedes persistence contract).",
    // Worded as aedes-persistence's own store words it: the two answer alike (indexed-memory-persistence.test.ts).
    message: () => 'no such packet',
  },
} as const satisfies Record<`FP_${string}`, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** The codes whose message the catalogue builds. */
export type CodeWithMessage = { [C in ErrorCode]: (typeof ERRORS)[C] extends { message: (...args: never[]) => string } ? C : never }[ErrorCode];

/** The arguments of a code's message. */
export type MessageArgs<C extends CodeWithMessage> = (typeof ERRORS)[C] extends { message: (...args: infer A) => string } ? A : never;
