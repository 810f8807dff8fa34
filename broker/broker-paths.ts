/** Where the broker keeps its state under the data directory (see docs/data-layout.md). */
import { join, resolve } from 'node:path';

export function brokerPaths(dataDir: string) {
  const root = resolve(dataDir);
  return {
    devicesFile: join(root, 'broker', 'devices.json'),
    /** Clear-text passwords of the identities `fleetpulse up` creates for itself (mode 0600). */
    localCredentialsFile: join(root, 'broker', 'local-credentials.json'),
    sessionsDir: join(root, 'broker', 'sessions'),
    certsDir: join(root, 'certs'),
  };
}
