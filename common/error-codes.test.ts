/**
 * The error catalogue cross-checked, as fastify's test/internals/errors.test.js does: every code
 * well-formed and documented once in docs/errors.md, nothing documented that does not exist, and
 * every message builder giving an error with its own code.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS, type CodeWithMessage, type ErrorCode, type MessageArgs } from './error-codes.ts';
import { codedError, FleetpulseError } from './errors.ts';

const CODES = Object.keys(ERRORS) as ErrorCode[];
const DOC = readFileSync(join(import.meta.dirname, '..', 'docs', 'errors.md'), 'utf8');

/** Arguments for every message builder: a code with a message and no entry here does not compile. */
const SAMPLE_ARGS: { [C in CodeWithMessage]: MessageArgs<C> } = {
  FP_PROCESS_NOT_STARTED: ['influxd'],
  FP_BROKER_WORKER_EXITED: [1, 3, null],
  FP_AGENT_UNIT_INVALID: ['/x/fleetpulse-agent.service'],
  FP_PUBLISH_NOT_ACKNOWLEDGED: ['closed'],
  FP_STORE_UNAVAILABLE: [],
  FP_JOB_CANCELLED: ['deadline'],
  FP_METRIC_DUPLICATE: ['fleetpulse_x_total'],
  FP_SPOOL_CLOSED: [],
  FP_TEMPLATE_PLACEHOLDER: ['nginx', 'LISTEN'],
  FP_NO_SUCH_PACKET: [],
  FP_ACCESS_NOT_CONFIGURED: ['192.0.2.1', '/x/tokens.json'],
};

describe('error catalogue', () => {
  it('has well-formed codes, each with a one-sentence meaning', () => {
    expect(CODES.length).toBeGreaterThan(0);
    for (const code of CODES) {
      expect(code).toMatch(/^FP_[A-Z][A-Z0-9_]*[A-Z0-9]$/);
      expect(ERRORS[code].meaning, code).toMatch(/^[A-Z].*\.$/);
    }
  });

  it('documents every code exactly once in docs/errors.md, and no code that does not exist', () => {
    const documented = [...DOC.matchAll(/^\| `(FP_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]!);
    expect(new Set(documented).size, 'a code documented twice').toBe(documented.length);
    expect([...documented].sort()).toEqual([...CODES].sort());
  });

  it('builds each message into an error carrying its code', () => {
    // One loop over codes of different argument lists: checked per code by SAMPLE_ARGS' type instead.
    const build = codedError as (code: CodeWithMessage, ...args: readonly unknown[]) => FleetpulseError;
    for (const [code, args] of Object.entries(SAMPLE_ARGS) as Array<[CodeWithMessage, readonly unknown[]]>) {
      const error = build(code, ...args);
      expect(error).toBeInstanceOf(FleetpulseError);
      expect(error).toMatchObject({ name: 'FleetpulseError', code });
      expect(error.message.length, code).toBeGreaterThan(0);
    }
    const withMessage = CODES.filter((code) => 'message' in ERRORS[code]);
    expect(Object.keys(SAMPLE_ARGS).sort()).toEqual(withMessage.sort());
  });
});
