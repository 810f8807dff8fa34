#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx's loader: no build step, never stale.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
const code = await main(process.argv.slice(2));
process.exitCode = code;
// Give open handles a moment to close on their own, then leave regardless.
setTimeout(() => process.exit(code), 3000).unref();
