#!/usr/bin/env node
// `npm start`: on a fresh clone, installs the npm dependencies first, then runs `fleetpulse up`.
// Plain JavaScript with no imports outside Node, because it runs before node_modules exists.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const marker = join(root, 'node_modules', '.package-lock.json');

if (!existsSync(marker) || !existsSync(join(root, 'node_modules', 'tsx'))) {
  console.log('fleetpulse: installing npm dependencies (first run)…');
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: process.env.ONNXRUNTIME_NODE_INSTALL ?? 'skip' };
  const result = spawnSync('npm', [existsSync(join(root, 'package-lock.json')) ? 'ci' : 'install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit', env });
  if (result.status !== 0) {
    console.error('fleetpulse: npm install failed; see the output above.');
    process.exit(result.status ?? 1);
  }
}

// Resolved only now, after the install above.
const { register } = await import('tsx/esm/api');
register();
const { main } = await import(pathToFileURL(join(root, 'cli', 'main.ts')).href);
const code = await main(['up', ...process.argv.slice(2)]);
process.exitCode = code;
setTimeout(() => process.exit(code), 3000).unref();
