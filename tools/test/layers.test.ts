// tools/lib is layered (tools/lib/README.md): a module imports only from its own folder and the
// folders below it, and no import circle exists anywhere in tools/. Imports are read with the
// TypeScript compiler's own scanner (static, type-only, re-exports and dynamic imports alike).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { REPO_ROOT } from '../lib/core/tools.js';

/** Bottom to top; tools/lib/README.md says why each sits where it does. */
export const LAYERS = ['core', 'config', 'render', 'argocd', 'server', 'validate', 'remote', 'report', 'release', 'cli'];

const TOOLS = path.join(REPO_ROOT, 'tools');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return ['node_modules', 'go', 'renovate', 'test', 'bench'].includes(e.name) && dir === TOOLS ? [] : sources(p);
    return /\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Relative imports of every module under tools/ (tests and benches aside), as repo-relative .ts paths. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(TOOLS)) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const deps = info.importedFiles.map((i) => i.fileName).filter((f) => f.startsWith('.')).map((f) => path.relative(REPO_ROOT, path.resolve(path.dirname(file), f)).replace(/\.js$/, '.ts'));
    graph.set(path.relative(REPO_ROOT, file), deps);
  }
  return graph;
}

/** The layer of a module: its folder under tools/lib; commands and the CLI sit above them all. */
function layerOf(file: string): number {
  const m = /^tools\/lib\/([^/]+)\//.exec(file);
  if (!m) return LAYERS.length;
  const i = LAYERS.indexOf(m[1]);
  assert.ok(i >= 0, `${file}: tools/lib/${m[1]} is not a layer; add it to LAYERS and tools/lib/README.md`);
  return i;
}

/** Circles (strongly connected components of more than one module, or a module importing itself). */
export function circles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(c.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

test('every folder of tools/lib is a layer with a README', () => {
  const folders = readdirSync(path.join(TOOLS, 'lib'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  assert.deepEqual([...folders].sort(), [...LAYERS].sort());
  for (const f of folders) assert.ok(readFileSync(path.join(TOOLS, 'lib', f, 'README.md'), 'utf8').trim().length > 0, `tools/lib/${f}/README.md`);
  const overview = readFileSync(path.join(TOOLS, 'lib', 'README.md'), 'utf8');
  assert.ok(overview.includes(LAYERS.join(' < ')), 'tools/lib/README.md states the order as LAYERS has it');
});

test('imports point down: no module imports a higher layer, and lib never imports a command', () => {
  const up: string[] = [];
  for (const [file, deps] of importGraph()) {
    for (const dep of deps) if (dep.startsWith('tools/') && layerOf(dep) > layerOf(file)) up.push(`${file} -> ${dep}`);
  }
  assert.deepEqual(up, []);
});

test('no import circle in tools/', () => {
  assert.deepEqual(circles(importGraph()), []);
});

test('the checks themselves catch a circle and an upward import', () => {
  const g = new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['d.ts']], ['e.ts', ['a.ts']]]);
  assert.deepEqual(circles(g), [['a.ts', 'b.ts', 'c.ts'], ['d.ts']]);
  assert.ok(layerOf('tools/lib/report/report.ts') > layerOf('tools/lib/core/errors.ts'));
  assert.equal(layerOf('tools/commands/validate.ts'), LAYERS.length);
});
