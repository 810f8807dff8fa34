/**
 * The token file option, one definition for `ingest`, `up` (dashboard options) and `tokens`
 * (cli/shared-options.ts makes it a top-level config key, so one `tokenFile` serves them all).
 */
import { join, resolve } from 'node:path';
import { opt } from '../../common/config.ts';

export const tokenFileOption = opt.string('Query API and dashboard tokens (fleetpulse tokens add); - = <dataDir>/ingest/tokens.json', { default: '-' });

/** Where the token file is: `tokenFile`, or under the data directory. */
export function tokenFilePath(config: { dataDir: string; tokenFile: string }): string {
  return config.tokenFile === '-' ? join(resolve(config.dataDir), 'ingest', 'tokens.json') : resolve(config.tokenFile);
}
