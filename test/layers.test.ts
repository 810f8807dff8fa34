/**
 * Folders depend one way (docs/architecture.md, "Layers"). A file may import files of its own
 * folder and of folders in lower layers; never of a higher layer, never of another folder of its
 * own layer. So no cycle between folders can form. No two files may import each other.
 *
 * Colocated tests (`*.test.ts`) are held to the same rule as the code beside them, and may also
 * import the shared test helpers in test/. A test that needs a higher layer (the CLI, a broker, the
 * simulator's car behind the agent) is an integration test and lives in test/. bin/, bench/,
 * scripts/ and test/ are tooling: they may import any layer, and no layer imports them.
 *
 * Type-only imports count: a type is part of the design even though it is erased at run time.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/cli.ts';
import { projectImports, projectSourceFiles, relativeImportsOf, type ProjectImport } from './support/import-graph.ts';

/** Bottom first. Folders in one layer are independent of each other. */
const LAYERS: readonly (readonly string[])[] = [
  ['contracts'],
  ['common'],
  ['simulator'],
  ['agent', 'broker', 'api'],
  ['models'],
  ['ingest'],
  ['cli'],
  ['deploy'],
];

/** Tooling and tests: may import any layer; a layer may not import them (a colocated test may import test/). */
const TOOLING = new Set(['bin', 'bench', 'scripts', 'test']);

const RANK = new Map(LAYERS.flatMap((folders, rank) => folders.map((folder) => [folder, rank] as const)));

/** The order as docs/architecture.md states it. */
const LAYER_ORDER = LAYERS.map((folders) => folders.join(', ')).join(' < ');

const topFolder = (file: string): string | undefined => (file.includes('/') ? file.slice(0, file.indexOf('/')) : undefined);
const isTest = (file: string) => file.endsWith('.test.ts');
const describeImport = (i: ProjectImport) => `${i.from}:${i.line} imports ${i.specifier}`;

/** Why an import breaks the layers, or undefined when it is fine. */
function violation(i: ProjectImport): string | undefined {
  const from = topFolder(i.from);
  const to = topFolder(i.to);
  // Tooling imports anything; a root file (package.json for the version) is everyone's.
  if (from === undefined || TOOLING.has(from) || to === undefined || from === to) return undefined;
  if (TOOLING.has(to)) return to === 'test' && isTest(i.from) ? undefined : `${from}/ must not import ${to}/ (tooling and tests are above every layer)`;
  const fromRank = RANK.get(from)!;
  const toRank = RANK.get(to)!;
  if (toRank > fromRank) return `${from}/ (layer ${fromRank}) must not import ${to}/ (layer ${toRank}): the import climbs`;
  if (toRank === fromRank) return `${from}/ and ${to}/ share layer ${fromRank}: folders of one layer do not import each other`;
  return undefined;
}

describe('layers', () => {
  const imports = projectImports(ROOT);

  it('reads the import graph of the whole project', () => {
    // A broken reader would pass every check below; the project has well over a thousand imports.
    expect(imports.length).toBeGreaterThan(1000);
    expect(imports).toContainEqual(expect.objectContaining({ from: 'cli/main.ts', to: 'cli/commands/up.ts' })); // a dynamic import
  });

  it('gives every folder with code a layer', () => {
    const folders = new Set(projectSourceFiles(ROOT).map(topFolder).filter((f) => f !== undefined));
    expect([...folders].filter((f) => !RANK.has(f) && !TOOLING.has(f))).toEqual([]);
  });

  it('has no import that climbs a layer or crosses to a folder of the same layer', () => {
    const wrong = imports.flatMap((i) => {
      const why = violation(i);
      return why ? [`${describeImport(i)}: ${why}`] : [];
    });
    expect(wrong, `\n${wrong.join('\n')}\n`).toEqual([]);
  });

  it('has no two files that import each other', () => {
    const edges = new Set(imports.map((i) => `${i.from} ${i.to}`));
    const mutual = imports.filter((i) => edges.has(`${i.to} ${i.from}`)).map(describeImport);
    expect(mutual, `\n${mutual.join('\n')}\n`).toEqual([]);
  });

  it('is the order docs/architecture.md states', () => {
    expect(readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8')).toContain(LAYER_ORDER);
  });
});

describe('the layer rule', () => {
  const at = (from: string, to: string): ProjectImport => ({ from, to, specifier: to, line: 1 });

  it('refuses a climb, a peer and tooling; allows its own folder, lower layers, root files and test helpers in tests', () => {
    expect(violation(at('agent/main.ts', 'cli/run-command.ts'))).toMatch(/climbs/);
    expect(violation(at('agent/x.test.ts', 'broker/broker-server.ts'))).toMatch(/share layer/);
    expect(violation(at('agent/x.ts', 'test/support/cli.ts'))).toMatch(/tooling/);
    expect(violation(at('agent/x.test.ts', 'bench/process-cpu.ts'))).toMatch(/tooling/);
    for (const fine of [at('agent/a.ts', 'agent/obd/b.ts'), at('ingest/a.ts', 'contracts/b.ts'), at('agent/a.ts', 'package.json'), at('common/a.test.ts', 'test/support/errors.ts'), at('bench/a.ts', 'cli/b.ts')]) {
      expect(violation(fine), `${fine.from} → ${fine.to}`).toBeUndefined();
    }
  });
});

describe('the import reader', () => {
  it('finds every import form and nothing in comments, strings, templates or regular expressions', () => {
    const source = [
      "// import a from './comment.ts';",
      "/* import('./block.ts') */ import b from './static.ts';",
      "const s = \"import c from './in-string.ts'\"; const r = /'/; const q = a / b / c;",
      'const t = `${x ? "/" : \'y\'} import(\'./in-template.ts\')`;',
      "import {",
      "  d,",
      "  type E,",
      "} from './multi-line.ts';",
      "import type { F } from '../type-only.ts';",
      "export * from './re-export.ts';",
      "import './side-effect.ts';",
      "const g = await import('./dynamic.ts');",
      "import h from 'zod';",
    ].join('\n');
    expect(relativeImportsOf(source)).toEqual([
      { specifier: './static.ts', line: 2 },
      { specifier: './multi-line.ts', line: 8 },
      { specifier: '../type-only.ts', line: 9 },
      { specifier: './re-export.ts', line: 10 },
      { specifier: './side-effect.ts', line: 11 },
      { specifier: './dynamic.ts', line: 12 },
    ]);
  });
});
