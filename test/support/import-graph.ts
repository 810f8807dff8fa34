/**
 * The project's import graph: which file imports which, read from the sources without a parser
 * dependency (TypeScript 7's compiler has no stable JS API), for the layer check (test/layers.test.ts).
 *
 * Guarantees:
 * - Every relative `import … from`, `import type … from`, `export … from`, side-effect `import '…'`
 *   and dynamic `import('…')` is found, with its line; type-only imports count like any other (a
 *   type is a dependency of the design, even though it is erased at run time).
 * - Nothing in a comment, a string, a template literal or a regular expression is taken for an
 *   import: a small lexer replaces string literals by numbered tokens and blanks the rest before
 *   the import forms are matched.
 * - Package imports (`zod`, `node:fs`) are left out: the layers are about the project's own folders.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';

export interface ImportRef {
  /** As written, e.g. `../common/errors.ts`. */
  specifier: string;
  /** 1-based line of the specifier. */
  line: number;
}

export interface ProjectImport extends ImportRef {
  /** Importing file, relative to the project root, with `/` separators. */
  from: string;
  /** Imported file, relative to the project root. */
  to: string;
}

/** Not project code: dependencies, build output, the demo's data directory (dot folders are skipped too). */
const SKIPPED_DIRS = new Set(['node_modules', 'dist', '.fleetpulse']);
const SOURCE_FILE = /\.(ts|mts|cts|js|mjs|cjs)$/;

/** Keywords after which `/` starts a regular expression rather than a division. */
const REGEX_AFTER_WORD = new Set(['return', 'typeof', 'case', 'do', 'else', 'in', 'of', 'new', 'delete', 'void', 'throw', 'yield', 'await']);
/** Last significant characters after which `/` starts a regular expression. */
const REGEX_AFTER_CHAR = '(,=:[!&|?{};+-*%<>~^';

interface Lexed {
  /** The source with comments, template text and regex bodies blanked and each string literal replaced by `'#<index>'`. */
  skeleton: string;
  /** Each string literal's value and offset in the source. */
  strings: { value: string; offset: number }[];
}

function lex(source: string): Lexed {
  let out = '';
  const strings: Lexed['strings'] = [];
  /** Brace depths at which an open `${` returns to its template literal. */
  const templates: number[] = [];
  let depth = 0;
  let lastSignificant = '';
  let lastWord = '';
  let i = 0;
  const blank = (from: number, to: number) => {
    out += source.slice(from, to).replace(/[^\n]/g, ' ');
  };
  const readTemplateText = () => {
    // From just after ` or }: template text up to the closing ` or the next ${.
    const start = i;
    while (i < source.length) {
      const c = source[i]!;
      if (c === '\\') i += 2;
      else if (c === '`') {
        blank(start, i);
        out += '`';
        i += 1;
        lastSignificant = '`';
        return;
      } else if (c === '$' && source[i + 1] === '{') {
        blank(start, i);
        out += '${';
        i += 2;
        templates.push(depth);
        depth += 1;
        lastSignificant = '{';
        return;
      } else i += 1;
    }
    blank(start, i);
  };
  while (i < source.length) {
    const c = source[i]!;
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      const end = source.indexOf('\n', i);
      const stop = end < 0 ? source.length : end;
      blank(i, stop);
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end < 0 ? source.length : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      let value = '';
      while (j < source.length && source[j] !== c && source[j] !== '\n') {
        if (source[j] === '\\') {
          value += source[j + 1] ?? '';
          j += 2;
        } else value += source[j++];
      }
      out += `'#${strings.length}'`;
      strings.push({ value, offset: i + 1 });
      // Keep line numbers of what follows: a string never spans lines, so only the length changes.
      i = j + 1;
      lastSignificant = c;
    } else if (c === '`') {
      out += '`';
      i += 1;
      readTemplateText();
    } else if (c === '/' && (lastSignificant === '' || REGEX_AFTER_CHAR.includes(lastSignificant) || REGEX_AFTER_WORD.has(lastWord))) {
      // A regular expression literal: skip to its closing slash (not one inside a [class]).
      let j = i + 1;
      let inClass = false;
      while (j < source.length && source[j] !== '\n') {
        const r = source[j]!;
        if (r === '\\') j += 1;
        else if (r === '[') inClass = true;
        else if (r === ']') inClass = false;
        else if (r === '/' && !inClass) break;
        j += 1;
      }
      out += '/';
      blank(i + 1, j);
      out += '/';
      i = j + 1;
      lastSignificant = '/';
      lastWord = '';
    } else {
      if (c === '{') depth += 1;
      else if (c === '}') {
        depth -= 1;
        if (templates.length > 0 && templates[templates.length - 1] === depth) {
          templates.pop();
          out += '}';
          i += 1;
          readTemplateText();
          continue;
        }
      }
      out += c;
      i += 1;
      if (/[\w$]/.test(c)) {
        // Collect the whole word so `return /x/` is told from `a / b`.
        let j = i;
        while (j < source.length && /[\w$]/.test(source[j]!)) j += 1;
        const word = c + source.slice(i, j);
        out += source.slice(i, j);
        i = j;
        lastWord = word;
        lastSignificant = 'w';
      } else if (!/\s/.test(c)) {
        lastSignificant = c;
        lastWord = '';
      }
    }
  }
  return { skeleton: out, strings };
}

/** Import forms over the skeleton; group 1 is the string token's index. */
const IMPORT_FORMS = [
  // import x from '…', import type { A } from '…', import * as n from '…', export { a } from '…', export * from '…'
  /(?<![.\w$])(?:import|export)\s+(?:type\s+)?[\w$\s{},*]*?\bfrom\s*'#(\d+)'/g,
  // import '…' (side effects only)
  /(?<![.\w$])import\s*'#(\d+)'/g,
  // import('…')
  /(?<![.\w$])import\s*\(\s*'#(\d+)'\s*[,)]/g,
];

/** The relative imports of one source text, in order of appearance. */
export function relativeImportsOf(source: string): ImportRef[] {
  const { skeleton, strings } = lex(source);
  const found: { offset: number; specifier: string }[] = [];
  for (const form of IMPORT_FORMS) {
    for (const match of skeleton.matchAll(form)) {
      const literal = strings[Number(match[1])]!;
      if (literal.value.startsWith('./') || literal.value.startsWith('../')) found.push({ offset: literal.offset, specifier: literal.value });
    }
  }
  return found
    .sort((a, b) => a.offset - b.offset)
    .map(({ offset, specifier }) => ({ specifier, line: source.slice(0, offset).split('\n').length }));
}

/** Source files of the project under `root`, relative, with `/` separators. */
export function projectSourceFiles(root: string, dir = root): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIPPED_DIRS.has(entry.name) || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...projectSourceFiles(root, path));
    else if (entry.isFile() && SOURCE_FILE.test(entry.name) && !entry.name.endsWith('.d.ts')) files.push(relative(root, path).split(sep).join('/'));
  }
  return files.sort();
}

/** Every relative import between the project's source files. */
export function projectImports(root: string): ProjectImport[] {
  const imports: ProjectImport[] = [];
  for (const from of projectSourceFiles(root)) {
    for (const ref of relativeImportsOf(readFileSync(join(root, from), 'utf8'))) {
      imports.push({ ...ref, from, to: posix.normalize(posix.join(posix.dirname(from), ref.specifier)) });
    }
  }
  return imports;
}

/** `dirname` with `/` separators and '' for a root file. */
export function folderOf(file: string): string {
  const dir = dirname(file);
  return dir === '.' ? '' : dir;
}
