/**
 * `npx tsc -p .` (and so `npm test`) type-checks every TypeScript file of the project: the program
 * tsc builds from tsconfig.json holds each one. api/ and deploy/ were left out of `include`, so
 * their code and tests were never type-checked although the docs say everything is.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/cli.ts';

/** Not project code: dependencies, build output, the demo's data directory, dot folders. */
const SKIPPED = new Set(['node_modules', 'dist', '.fleetpulse']);

function projectTypeScriptFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIPPED.has(entry.name) || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...projectTypeScriptFiles(path));
    else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(relative(ROOT, path));
  }
  return files;
}

describe('type-check scope', () => {
  it('tsc -p . checks every TypeScript file of the project', () => {
    const listed = execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', '.', '--listFilesOnly'], { cwd: ROOT, encoding: 'utf8' });
    const checked = new Set(listed.split('\n').filter(Boolean).map((file) => relative(ROOT, file)));
    const files = projectTypeScriptFiles(ROOT);
    expect(files.length).toBeGreaterThan(100);
    expect(files.filter((file) => !checked.has(file))).toEqual([]);
  });
});
