/**
 * Reads the shipped systemd unit (deploy/fleetpulse-agent.service), so the footprint bench and the
 * bundle test run node exactly as systemd will on the Pi.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { codedError } from '../common/errors.ts';

export const AGENT_UNIT_PATH = join(import.meta.dirname, 'fleetpulse-agent.service');

/** The node flags of `ExecStart=/usr/bin/node <flags> …/fleetpulse-agent.mjs agent`. */
export function agentUnitNodeFlags(unitText = readFileSync(AGENT_UNIT_PATH, 'utf8')): string[] {
  const exec = /^ExecStart=\/usr\/bin\/node (.*?)\S*fleetpulse-agent\.mjs agent$/m.exec(unitText);
  if (!exec) throw codedError('FP_AGENT_UNIT_INVALID', AGENT_UNIT_PATH);
  return exec[1]!.split(' ').filter(Boolean);
}
