import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { diffObjects, formatDiffText, formatMarkdown, renderedDiff, type DiffResult } from '../lib/report/diff.js';
import { REPO_ROOT } from '../lib/core/tools.js';
import type { K8sObject } from '../lib/core/k8s.js';
import { baseFiles, DEPLOYMENT, overlay, makeRepo, removeRepo, testEnv } from './repo-fixture.js';
import { commitAll, gitInit, writeFiles } from './fixtures.js';

const execFileP = promisify(execFile);
const dirs: string[] = [];
after(async () => Promise.all(dirs.map(removeRepo)));

/** Fixture with two apps (demo/web and demo/api sharing nothing) in both environments. */
async function twoApps(): Promise<string> {
  const files = baseFiles();
  for (const [k, v] of Object.entries(baseFiles())) {
    if (k.includes('demo/web')) files[k.replace('demo/web', 'demo/api')] = v.replaceAll('demo-web', 'demo-api').replaceAll('apps/demo/web', 'apps/demo/api').replace('app.kubernetes.io/name: web', 'app.kubernetes.io/name: api');
  }
  const dir = await makeRepo(files);
  dirs.push(dir);
  gitInit(dir);
  return dir;
}

test('a commit that changes one overlay\'s replicas shows exactly that field of that object', async () => {
  const dir = await twoApps();
  const patched = overlay('demo', 'newTag: "1.0.0"') + 'replicas:\n  - name: demo-web\n    count: 3\n';
  await writeFiles(dir, { 'overlays/minikube/demo/web/kustomization.yaml': patched });
  commitAll(dir, 'scale web in dev');
  const { stdout } = await execFileP('npx', ['tsx', path.join(REPO_ROOT, 'tools/cli.ts'), 'diff', '--cwd', dir, '--base', 'HEAD~1', '--format', 'json'], { env: testEnv });
  const d = JSON.parse(stdout) as DiffResult;
  assert.deepEqual(
    d.overlays.map((o) => ({ overlay: o.overlay, objects: o.objects })),
    [{ overlay: 'overlays/minikube/demo/web', objects: [{ resource: 'Deployment/demo/demo-web', change: 'changed', fields: [{ path: 'spec.replicas', before: 1, after: 3 }] }] }],
  );
});

test('a commit that changes a base shows every overlay that inherits it, and only those', async () => {
  const dir = await twoApps();
  await writeFiles(dir, { 'apps/demo/web/deployment.yaml': DEPLOYMENT.replace('memory: 64Mi', 'memory: 128Mi') });
  commitAll(dir, 'more memory for web');
  const d = await renderedDiff({ cwd: dir, base: 'HEAD~1', envVars: testEnv });
  assert.deepEqual(d.overlays.map((o) => o.overlay), ['overlays/crianex/demo/web', 'overlays/minikube/demo/web']);
  for (const o of d.overlays) {
    assert.deepEqual(o.objects[0].fields, [{ path: 'spec.template.spec.containers[web].resources.limits.memory', before: '64Mi', after: '128Mi' }]);
  }
});

test('added and removed objects; a no-op edit (comment, key order) shows no diff', async () => {
  const dir = await twoApps();
  await writeFiles(dir, {
    'apps/demo/web/deployment.yaml': '# a comment changes nothing rendered\n' + DEPLOYMENT.replace('  replicas: 1\n', '').replace('spec:\n', 'spec:\n  replicas: 1\n'),
    'overlays/minikube/demo/api/kustomization.yaml': null,
    'apps/demo/web/kustomization.yaml': baseFiles()['apps/demo/web/kustomization.yaml'] + '  - configmap.yaml\n',
    'apps/demo/web/configmap.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo-web\ndata:\n  A: "1"\n',
  });
  const d = await renderedDiff({ cwd: dir, base: 'HEAD', envVars: testEnv });
  const summary = d.overlays.map((o) => `${o.overlay} ${o.objects.map((x) => `${x.change}:${x.resource}`).join(',')}`);
  assert.deepEqual(summary, [
    'overlays/crianex/demo/web added:ConfigMap/demo/demo-web',
    'overlays/minikube/demo/api removed:Deployment/demo/demo-api',
    'overlays/minikube/demo/web added:ConfigMap/demo/demo-web',
  ]);
});

test('fields the API server or Argo CD own are ignored; a change of Secret values alone is a change, values redacted', () => {
  const base: K8sObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'n' }, data: { password: 'b2xk', user: 'dXNlcg==' } };
  const head: K8sObject = {
    ...base,
    metadata: { ...base.metadata, resourceVersion: '42', annotations: { 'argocd.argoproj.io/tracking-id': 'x' } },
    status: { ok: true },
    data: { password: 'bmV3', user: 'dXNlcg==', added: 'YWRk' },
  };
  const [d] = diffObjects([base], [head]);
  assert.deepEqual(d, {
    resource: 'Secret/n/s',
    change: 'changed',
    fields: [{ path: 'data.added', after: '<redacted>' }, { path: 'data.password', before: '<redacted>', after: '<redacted>' }],
  });
  const text = formatDiffText({ base: 'a'.repeat(40), head: 'working tree', overlays: [{ overlay: 'o', objects: [d], errors: [] }] });
  assert.doesNotMatch(text, /no rendered changes|bmV3|b2xk|YWRk/);
  assert.match(text, /data\.password: <redacted> -> <redacted>/);
  const cm = (v: string): K8sObject => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template: { spec: { containers: [{ name: 'c', env: [{ name: 'DB_PASSWORD', value: v }, { name: 'CUSTOM', value: v }, { name: 'MODE', value: v }] }] } } } });
  const [e] = diffObjects([cm('old')], [cm('new')], ['CUSTOM']);
  assert.deepEqual(e.fields, [
    { path: 'spec.template.spec.containers[c].env[DB_PASSWORD].value', before: '<redacted>', after: '<redacted>' },
    { path: 'spec.template.spec.containers[c].env[CUSTOM].value', before: '<redacted>', after: '<redacted>' },
    { path: 'spec.template.spec.containers[c].env[MODE].value', before: 'old', after: 'new' },
  ]);
});

test('markdown: summary table first, details collapsed, within the limit, truncation says what it left out', () => {
  const big: DiffResult = {
    base: 'a'.repeat(40),
    head: 'working tree',
    overlays: Array.from({ length: 40 }, (_, i) => ({
      overlay: `overlays/minikube/sys/app${i}`,
      app: `sys/app${i}`,
      env: 'dev',
      errors: [],
      objects: [{ resource: `ConfigMap/ns/app${i}`, change: 'changed' as const, fields: Array.from({ length: 50 }, (_, j) => ({ path: `data.k${j}`, before: 'x'.repeat(150), after: 'y'.repeat(150) })) }],
    })),
  };
  const md = formatMarkdown(big);
  assert.ok(md.length <= 65_536, `length ${md.length}`);
  assert.ok(md.indexOf('| overlay | app | env |') < md.indexOf('<details>'));
  assert.equal((md.match(/^\| `overlays\/minikube\/sys\/app\d+` \|/gm) ?? []).length, 40, 'every overlay is in the summary table');
  const shown = (md.match(/<details>/g) ?? []).length;
  assert.ok(shown > 0 && shown < 40);
  assert.match(md, new RegExp(`details of ${40 - shown} overlay\\(s\\) left out: .*app39`));
  const small = formatMarkdown({ ...big, overlays: big.overlays.slice(0, 1) });
  assert.doesNotMatch(small, /Truncated/);
});
