import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { bundlesDir } from '../../lib/container/defaults.js';

/**
 * Relative module specifiers of a TypeScript file: static imports and re-exports (type-only
 * ones too: they tie the design together just as much), side-effect imports and dynamic
 * `import()`. Comments are dropped first so an example in a comment is not an edge.
 */
export function importedSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s+(?:type\s+)?[^'";]*?\sfrom\s+['"]([^'"]+)['"]/gm,
    /^\s*import\s+['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const m of code.matchAll(pattern)) found.push(m[1]!);
  return found.filter((s) => s.startsWith('.'));
}

/** Every cycle's files (strongly connected components with more than one file, or a file importing itself). */
export function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)!.includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

test('the import graph of lib/ has no cycle', () => {
  const repo = dirname(bundlesDir());
  const lib = join(repo, 'lib');
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(lib)) {
    const edges = importedSpecifiers(readFileSync(file, 'utf8')).map((s) => resolve(dirname(file), s).replace(/\.js$/, '.ts'));
    graph.set(file, edges);
  }
  assert.ok(graph.size > 100, `read ${graph.size} files of ${lib}`);
  const found = cycles(graph).map((c) => c.map((f) => relative(repo, f)).join(', '));
  assert.deepEqual(found, [], `files that import each other in a circle:\n${found.join('\n')}`);
});

test('the cycle finder sees type-only, re-export and dynamic imports, and ignores comments', () => {
  const source = [
    "import { a } from './a.js';",
    "import type { B } from '../b/index.js';",
    "export { c } from './c.js';",
    "export type * from './d.js';",
    "import './side-effect.js';",
    "const m = await import('./lazy.js');",
    "import pino from 'pino';",
    "// import { x } from './commented.js';",
    "/* import { y } from './also-commented.js'; */",
  ].join('\n');
  assert.deepEqual(importedSpecifiers(source).sort(), ['../b/index.js', './a.js', './c.js', './d.js', './lazy.js', './side-effect.js']);
  const graph = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']], ['e', ['e']]]);
  assert.deepEqual(cycles(graph).sort(), [['a', 'b', 'c'], ['e']]);
});
