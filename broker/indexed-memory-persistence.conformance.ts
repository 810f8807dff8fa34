/**
 * aedes-persistence's own conformance suite (abstract.js, node:test) run against
 * IndexedMemoryPersistence; started by indexed-memory-persistence.test.ts as
 * `node --import tsx --test broker/indexed-memory-persistence.conformance.ts`.
 */
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { IndexedMemoryPersistence } from './indexed-memory-persistence.ts';

const require = createRequire(import.meta.url);
const abstractPersistence = require('aedes-persistence/abstract.js') as (options: unknown) => void;

abstractPersistence({ test, persistence: () => new IndexedMemoryPersistence(), testAsync: true });
