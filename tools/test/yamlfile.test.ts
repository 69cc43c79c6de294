// The YAML limits every parse goes through (core/yamlfile.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseYaml, decodeYaml, YAML_LIMITS } from '../lib/core/yamlfile.js';

const blockNest = (levels: number): string => Array.from({ length: levels }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' leaf\n';

test('block nesting beyond the limit is a problem naming the line, also after an unmatched [ in a plain scalar', () => {
  const deep = blockNest(YAML_LIMITS.maxDepth + 20);
  for (const prefix of ['', 'note: a[b\n', 'note: "x" # [ ]\nother: {a: 1}\nthird: c{d\n']) {
    const text = prefix + deep;
    const { problems } = parseYaml('deep.yaml', text);
    assert.equal(problems.length, 1, `prefix ${JSON.stringify(prefix)}: ${JSON.stringify(problems)}`);
    assert.match(problems[0].message, /nesting deeper than 100 levels/);
    assert.equal(problems[0].line, prefix.split('\n').length - 1 + YAML_LIMITS.maxDepth + 1);
  }
});

test('sequences on one line and flow brackets count as levels; a file at the limit parses', () => {
  const dashes = `list:\n  ${'- '.repeat(200)}x\n`;
  assert.match(decodeYaml('d.yaml', dashes).problem?.message ?? '', /nesting deeper/);
  const flow = `a: b[c\nlist: ${'['.repeat(50_000)}${']'.repeat(50_000)}\n`;
  assert.equal(decodeYaml('f.yaml', flow).problem?.line, 2);
  const ok = blockNest(YAML_LIMITS.maxDepth);
  const { problems, parsed } = parseYaml('ok.yaml', ok);
  assert.deepEqual(problems, []);
  assert.equal(parsed.docs.length, 1);
  // Block scalars and quoted brackets are text, not nesting.
  const text = `a: |\n${'  [\n'.repeat(300)}b: "${'['.repeat(300)}"\n`;
  assert.deepEqual(parseYaml('s.yaml', text).problems, []);
});
