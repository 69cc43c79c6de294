// Issue 19: no function in tools/lib longer than a reader can hold in their head (80 lines);
// a longer one is split into named stages. Functions are found by TypeScript's own parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { REPO_ROOT } from '../lib/core/tools.js';

const LIMIT = 80;

/** Every function (declaration, method, arrow, expression) longer than `limit` lines in a TypeScript source. */
function longFunctions(file: string, text: string, limit: number): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isArrowFunction(n) || ts.isFunctionExpression(n) || ts.isConstructorDeclaration(n)) {
      const from = sf.getLineAndCharacterOfPosition(n.getStart()).line;
      const to = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
      // An arrow or function expression is named by the variable or property it is assigned to.
      const named = (n as { name?: ts.Node }).name ?? (ts.isVariableDeclaration(n.parent) || ts.isPropertyAssignment(n.parent) ? n.parent.name : undefined);
      if (to - from + 1 > limit) out.push(`${file}:${from + 1} ${named?.getText(sf) ?? '(anonymous)'} (${to - from + 1} lines)`);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = path.join(dir, e);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test(`no function in tools/lib is longer than ${LIMIT} lines`, () => {
  const lib = path.join(REPO_ROOT, 'tools', 'lib');
  const files = sources(lib);
  assert.ok(files.length > 50, `${files.length} sources found`);
  const long = files.flatMap((f) => longFunctions(path.relative(REPO_ROOT, f), readFileSync(f, 'utf8'), LIMIT));
  assert.deepEqual(long, []);
});

test('the check finds a long function, an arrow and a method among short ones', () => {
  const body = (n: number) => Array.from({ length: n }, (_, i) => `  const v${i} = ${i};`).join('\n');
  const text = `function short() {\n${body(3)}\n}\nfunction long() {\n${body(85)}\n}\nconst arrow = () => {\n${body(90)}\n};\nclass C {\n  m() {\n${body(81)}\n  }\n}\n`;
  assert.deepEqual(longFunctions('x.ts', text, LIMIT).map((l) => l.split(' ')[1]), ['long', 'arrow', 'm']);
});
