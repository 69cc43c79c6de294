// kustomize's target selection (render/selector.ts): Go RE2 regexps anchored as kustomize
// anchors them, and a pattern kustomize cannot compile is a finding naming file and field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { inspectClosure } from '../lib/render/kustomize.js';
import { selectorMatches } from '../lib/render/origins.js';
import { makeRepo, removeRepo } from './fixtures.js';

test('patch target names are Go RE2 patterns: (?i) flags match as kustomize matches them', () => {
  const o = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' } };
  assert.ok(selectorMatches({ kind: 'Deployment', name: '(?i)WEB' }, o, ['web']));
  assert.ok(!selectorMatches({ kind: 'Deployment', name: 'we' }, o, ['web']));
});

test('a patch target kustomize cannot compile is a finding naming the file, line and field', async () => {
  const repo = await makeRepo({
    'app/kustomization.yaml': [
      'resources: [d.yaml]',
      'patches:',
      '  - target: {kind: Deployment, name: "(?i)web"}',
      '    patch: |',
      '      - {op: replace, path: /spec/replicas, value: 2}',
      '  - target:',
      '      kind: Deployment',
      '      name: "web("',
      '    patch: |',
      '      - {op: replace, path: /spec/replicas, value: 3}',
      'patchesJson6902:',
      '  - target: {kind: "we(?=b)", name: web}',
      '    path: p.yaml',
      '  - target: {kind: Deployment, labelSelector: "tier in front"}',
      '    path: p.yaml',
      '',
    ].join('\n'),
    'app/d.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 1}\n',
    'app/p.yaml': '- {op: replace, path: /spec/replicas, value: 4}\n',
  });
  try {
    const { issues } = await inspectClosure(path.join(repo, 'app'), { root: repo });
    const found = issues.filter((i) => i.rule === 'patch-target').map((i) => ({ file: path.relative(repo, i.file), line: i.line, message: i.message }));
    assert.deepEqual(found, [
      { file: 'app/kustomization.yaml', line: 8, message: "patches[1].target.name: 'web(' is not a valid regular expression (kustomize reads Go RE2 syntax): missing closing )" },
      { file: 'app/kustomization.yaml', line: 12, message: "patchesJson6902[0].target.kind: 'we(?=b)' is not a valid regular expression (kustomize reads Go RE2 syntax): invalid or unsupported Perl syntax: `(?=`" },
      { file: 'app/kustomization.yaml', line: 14, message: "patchesJson6902[1].target.labelSelector: cannot parse 'tier in front' (expected key=value, key!=value, key in (a,b), key notin (a,b), key or !key)" },
    ]);
  } finally {
    await removeRepo(repo);
  }
});

test('label selectors as Kubernetes parses them: set-based, existence and inequality', async () => {
  const { selectorSelects, parseSelector } = await import('../lib/render/selector.js');
  const labels = { tier: 'front', app: 'web', rev: '7' };
  const yes = ['tier=front', 'tier==front', 'tier in (front, back)', 'app notin (api)', 'missing notin (x)', 'tier', '!missing', 'missing!=x', 'rev>5', 'tier = front , app', ''];
  const no = ['tier=back', 'tier in (back)', 'app notin (web)', 'missing', '!tier', 'tier!=front', 'rev<5', 'missing in (x)'];
  for (const s of yes) assert.ok(selectorSelects(s, labels), s);
  for (const s of no) assert.ok(!selectorSelects(s, labels), s);
  assert.match(String(parseSelector('tier in front')), /cannot parse 'tier in front'/);
  const o = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', labels, annotations: { team: 'a' } } };
  assert.ok(selectorMatches({ labelSelector: 'tier in (front)', annotationSelector: 'team' }, o, ['web']));
  assert.ok(!selectorMatches({ labelSelector: 'tier notin (front)' }, o, ['web']));
});
