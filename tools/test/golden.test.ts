// Golden files for what users read: the text report, the PR comment, the rendered diff (text and
// markdown) and SARIF, from fixed findings and a diff of fixed objects. A change of any of them
// is a reviewed diff of tools/test/golden/; refresh them with
//   UPDATE_GOLDEN=1 npx tsx --test tools/test/golden.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Finding } from '../lib/core/finding.js';
import type { K8sObject } from '../lib/core/k8s.js';
import { REPO_ROOT } from '../lib/core/tools.js';
import { diffObjects, formatDiffText, formatMarkdown, type DiffResult } from '../lib/report/diff.js';
import { formatPrReport } from '../lib/report/prreport.js';
import { formatGithub, formatSarif, formatText, summarize } from '../lib/report/report.js';

const GOLDEN = path.join(REPO_ROOT, 'tools/test/golden');

function golden(name: string, actual: string): void {
  const file = path.join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  let expected: string;
  try {
    expected = readFileSync(file, 'utf8');
  } catch {
    assert.fail(`${path.relative(REPO_ROOT, file)} is missing: run with UPDATE_GOLDEN=1 and review it`);
  }
  assert.equal(actual, expected, `${name} differs from tools/test/golden/${name} (UPDATE_GOLDEN=1 refreshes it; review the diff)`);
}

const FINDINGS: Finding[] = [
  { severity: 'error', rule: 'schema', overlay: 'overlays/crianex/nofluxo/backend', resource: 'Deployment/nofluxo/backend', file: 'apps/nofluxo/backend/deployment.yaml', line: 21, field: 'spec.template.spec.containers.0.resources.limits.memory', message: "'500mi' does not match the Kubernetes quantity format" },
  { severity: 'warning', rule: 'probes-set', overlay: 'overlays/minikube/taskflow/api', resource: 'Deployment/taskflow/api', file: 'apps/taskflow/api/deployment.yaml', line: 9, message: 'containers need a readinessProbe | and `code` stays text' },
  { severity: 'error', rule: 'service-selects-nothing', overlay: 'overlays/minikube/taskflow/api', resource: 'Service/taskflow/api', file: 'apps/taskflow/api/service.yaml', line: 7, field: 'spec.selector', message: 'selects no pod of the cluster (app=api-typo)' },
  { severity: 'info', rule: 'nothing-changed', overlay: 'clusters/minikube', resource: '', message: 'no overlay changed against origin/main' },
];
const CHECKED = { overlays: 3, objects: 12 };

const deployment = (tag: string, replicas: number): K8sObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'backend', namespace: 'nofluxo' },
  spec: { replicas, template: { spec: { containers: [{ name: 'backend', image: `registry.kubernetes.crianex.com/nofluxo-backend:${tag}` }] } } },
});
const secret = (password: string): K8sObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'nofluxo' }, stringData: { password } });
const configMap: K8sObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'nofluxo' }, data: { LOG_LEVEL: 'info' } };

const DIFF: DiffResult = {
  base: 'a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0',
  head: 'f0e9d8c7b6a5f4e3d2c1f0e9d8c7b6a5f4e3d2c1',
  notes: ['the base revision has no clusters/minikube entry point'],
  overlays: [
    { overlay: 'overlays/crianex/nofluxo/backend', app: 'nofluxo/backend', env: 'prod', errors: [], objects: diffObjects([deployment('1.0.0', 2), secret('old-s3cret-value'), configMap], [deployment('1.1.0', 3), secret('new-s3cret-value')]) },
    { overlay: 'overlays/minikube/taskflow/api', app: 'taskflow/api', env: 'dev', errors: ['kustomize build failed on the base revision: missing resource'], objects: [] },
  ],
};

test('text report', () => golden('report.txt', formatText(FINDINGS, CHECKED)));
test('GitHub annotations', () => golden('report.github.txt', formatGithub(FINDINGS)));
test('SARIF', () => golden('report.sarif.json', formatSarif(FINDINGS, { name: 'crianex-gitops', version: '0.0.0-golden' })));
test('rendered diff, text', () => golden('diff.txt', formatDiffText(DIFF)));
test('rendered diff, markdown', () => golden('diff.md', formatMarkdown(DIFF)));
test('PR comment', () => golden('pr-comment.md', formatPrReport({ summary: { ...summarize(FINDINGS), ...CHECKED }, findings: FINDINGS }, DIFF)));
