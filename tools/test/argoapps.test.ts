// One inventory for every command (issue 16): diff and status show the Applications that Argo
// CD's repo-server code renders (Helm with valueFiles from a `$values` source, plain directories),
// matched by app id and environment and selected by the files their sources read; real
// argocd-helper, real git.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { renderedDiff } from '../lib/report/diff.js';
import { resolveTarget } from '../lib/release/release.js';
import { runValidation } from '../lib/validate/validation.js';
import { collectStatus, status } from '../commands/status.js';
import { appSourceFiles, renderClusterApps } from '../lib/argocd/clusterapps.js';
import { repoTree } from '../lib/argocd/argocd.js';
import { affectedTargets } from '../lib/render/changes.js';
import { loadConfig } from '../lib/config/config.js';
import { clusterTargets, renderTargets } from '../lib/render/render.js';
import { findHelm, findKustomize } from '../lib/core/tools.js';
import { argoFixture } from './argocd-fixture.js';
import { commitAll, gitInit, makeRepo, removeRepo, testEnv, writeFiles } from './fixtures.js';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map(removeRepo)));

const deployment = (name: string, image: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
        - name: main
          image: ${image}
`;

/** The Argo CD fixture (Helm with $values, plain directory, jsonnet, plugin, overrides) plus a Deployment in the plain directory. */
async function fixture(): Promise<string> {
  const dir = await makeRepo({ ...argoFixture(), 'plain/nested/web.yaml': deployment('plainweb', 'busybox:1.36') });
  dirs.push(dir);
  gitInit(dir);
  return dir;
}

const helm = await findHelm(testEnv);

test("the files an Application's render reads: its source path, a $values source's valueFiles, a kustomization's closure", async () => {
  const dir = await fixture();
  const config = await loadConfig(dir, testEnv);
  const [entry] = await renderTargets(config, await findKustomize(testEnv), clusterTargets(config, config.environments));
  const tree = await repoTree(dir);
  const { byArgo, repoURL } = await renderClusterApps(config, await findKustomize(testEnv), entry!, tree, { folders: false, select: () => false, env: testEnv });
  assert.deepEqual(byArgo.map((a) => a.name).sort(), ['cmp', 'jn', 'ovr', 'plain', 'tiny']);
  const files = async (name: string) => appSourceFiles(byArgo.find((a) => a.name === name)!, repoURL, tree);
  assert.deepEqual(await files('tiny'), ['charts/tiny/Chart.yaml', 'charts/tiny/templates/deployment.yaml', 'charts/tiny/values.yaml', 'values/tiny-dev.yaml']);
  assert.deepEqual(await files('plain'), ['plain/nested/deeper/inner.yaml', 'plain/nested/web.yaml', 'plain/skip/ignored.yaml', 'plain/top.yaml']);
  assert.deepEqual(await files('ovr'), ['services/beta/deployment.yaml', 'services/beta/kustomization.yaml']);
  // Changed-file selection counts them: a values file selects the Helm Application only.
  const targets = byArgo.map((a) => ({ dir: a.path!, cluster: 'kind', kind: 'app' as const, files: [] as string[], name: a.name }));
  for (const t of targets) t.files = await files(t.name);
  assert.deepEqual((await affectedTargets(config, targets, ['values/tiny-dev.yaml'])).map((t) => (t as typeof targets[number]).name), ['tiny']);
  assert.deepEqual((await affectedTargets(config, targets, ['README.md'])).map((t) => (t as typeof targets[number]).name), []);
});

test('diff: a changed $values file and a changed plain-directory file show the changed Deployment of each Application, matched by app id', async () => {
  const dir = await fixture();
  await writeFiles(dir, {
    'values/tiny-dev.yaml': 'message: from-values-source\nimage: nginx:1.27.2\n',
    'plain/nested/web.yaml': deployment('plainweb', 'busybox:1.37'),
  });
  commitAll(dir, 'new images for tiny and plain');
  const d = await renderedDiff({ cwd: dir, base: 'HEAD~1', envVars: testEnv });
  const shown = d.overlays.map((o) => ({ overlay: o.overlay, app: o.app, env: o.env, errors: o.errors, objects: o.objects }));
  const plain = { overlay: 'plain', app: 'plain', env: 'dev', errors: [], objects: [{ resource: 'Deployment/-/plainweb', change: 'changed', fields: [{ path: 'spec.template.spec.containers[main].image', before: 'busybox:1.36', after: 'busybox:1.37' }] }] };
  if (!helm) {
    assert.deepEqual(shown.filter((o) => o.app === 'plain'), [plain]);
    return;
  }
  assert.deepEqual(shown, [
    { overlay: 'charts/tiny', app: 'tiny', env: 'dev', errors: [], objects: [{ resource: 'Deployment/-/tiny-release', change: 'changed', fields: [{ path: 'spec.template.spec.containers[main].image', before: 'nginx:1.27.0', after: 'nginx:1.27.2' }] }] },
    plain,
  ]);
});

test('diff against the working tree: only the Application whose files changed is rendered and shown', async (t) => {
  if (!helm) return t.skip('the pinned helm is not installed (npm run setup -- --helm)');
  const dir = await fixture();
  await writeFiles(dir, { 'charts/tiny/values.yaml': 'replicas: 1\nimage: nginx:1.27.0\nmessage: edited\n' });
  const d = await renderedDiff({ cwd: dir, base: 'HEAD', envVars: testEnv });
  // The $values file overrides `message`: the chart's own default changed, the render did not.
  assert.deepEqual(d.overlays, []);
  await writeFiles(dir, { 'charts/tiny/templates/deployment.yaml': argoFixture()['charts/tiny/templates/deployment.yaml'].replace('replicas: {{ .Values.replicas }}', 'replicas: {{ add .Values.replicas 1 }}') });
  const d2 = await renderedDiff({ cwd: dir, base: 'HEAD', envVars: testEnv });
  assert.deepEqual(d2.overlays.map((o) => [o.overlay, o.app, o.objects.map((x) => `${x.change} ${x.resource} ${x.fields.map((f) => `${f.path}: ${String(f.before)} -> ${String(f.after)}`).join(', ')}`)]), [
    ['charts/tiny', 'tiny', ['changed Deployment/-/tiny-release spec.replicas: 4 -> 5']],
  ]);
});

test("status lists the Helm and plain-directory Applications with the images Argo CD's render runs", async () => {
  const dir = await fixture();
  const r = await collectStatus(dir, testEnv, { lookup: false });
  const plain = r.apps.find((a) => a.id === 'plain');
  assert.ok(plain, r.apps.map((a) => a.id).join(', '));
  assert.deepEqual(plain.applications, { dev: { name: 'plain', source: 'directory', path: 'plain' } });
  assert.equal(plain.notRendered, undefined);
  const busybox = Object.entries(plain.images).find(([k]) => k.endsWith('busybox'));
  assert.ok(busybox, JSON.stringify(plain.images));
  assert.equal(busybox[1].dev?.tag, '1.36');
  // A plain file writes it: status points at the file and line a human edits.
  assert.deepEqual(busybox[1].dev?.setBy, { file: 'plain/nested/web.yaml', line: 14, kind: 'resource', overlay: false });
  assert.equal(busybox[1].dev?.unknown, undefined);
  // A plugin is still reported as not rendered, with the reason.
  assert.match(r.apps.find((a) => a.id === 'cmp')?.notRendered?.dev ?? '', /Config Management Plugin/);
  if (!helm) return;
  const tiny = r.apps.find((a) => a.id === 'tiny')!;
  assert.deepEqual(tiny.applications, { dev: { name: 'tiny', source: 'sources', path: 'charts/tiny' } });
  assert.deepEqual(Object.values(tiny.images).map((per) => per.dev?.tag), ['1.27.0']);
  const out: string[] = [];
  await status({ cwd: dir, envVars: testEnv, registry: false, write: (s) => out.push(s) });
  const text = out.join('\n');
  assert.match(text, /^tiny\s+nginx\s+1\.27\.0\s+in sync$/m);
  assert.match(text, /^plain\s+busybox\s+1\.36 \*\s+in sync$/m);
  assert.match(text, /^ {2}plain dev busybox: \S*busybox:1\.36 set by resource plain\/nested\/web\.yaml:14$/m);
  assert.match(text, /^ {2}tiny dev nginx: origin unknown: rendered by Argo CD's repo-server code \(sources, Application tiny\)/m);
});

test('the release commands read the same inventory: a Helm app is refused by the overlay commands with why, a plain Application is named, neither is called unknown', async () => {
  const dir = await fixture();
  // A Helm app's release is its chart and values (promote, rollback); bump and scale edit overlays.
  await assert.rejects(resolveTarget(dir, 'tiny', 'dev', testEnv), /tiny in dev is deployed by the Helm source of Argo CD Application tiny \(clusters\/kind\/helm\.yaml\), not by an overlay/);
  await assert.rejects(resolveTarget(dir, 'plain', 'dev', testEnv), /app 'plain' in environment 'dev' is Application plain, rendered by Argo CD's repo-server code \(directory, path plain\): the release commands edit kustomize overlays only/);
  await assert.rejects(resolveTarget(dir, 'cmp', 'dev', testEnv), /app 'cmp' in environment 'dev' is Application cmp, not rendered \(its source uses a Config Management Plugin/);
  await assert.rejects(resolveTarget(dir, 'nope', 'dev', testEnv), /unknown app 'nope' in environment 'dev'/);
  // An overlay still resolves as before.
  assert.equal((await resolveTarget(dir, 'kind-web', 'dev', testEnv)).app.dir, 'overlays/kind/web');
});

test('validate --changed-only: a changed $values file selects the cluster whose Helm Application reads it', async (t) => {
  if (!helm) return t.skip('the pinned helm is not installed (npm run setup -- --helm)');
  const dir = await fixture();
  await writeFiles(dir, { 'values/tiny-dev.yaml': 'message: from-values-source\nimage: nginx:latest\n' });
  const r = await runValidation({ cwd: dir, envVars: testEnv, server: false, changedOnly: true, base: 'HEAD' });
  assert.ok(!r.findings.some((f) => f.rule === 'nothing-changed'), r.findings.map((f) => `${f.rule} ${f.message}`).join('\n'));
  const latest = r.findings.filter((f) => f.rule === 'no-latest-image');
  assert.deepEqual(latest.map((f) => [f.overlay, f.resource]), [['charts/tiny', 'Deployment/-/tiny-release']]);
  // A file no Application reads selects nothing.
  await writeFiles(dir, { 'values/tiny-dev.yaml': null, 'notes.txt': 'x\n' });
  const none = await runValidation({ cwd: dir, envVars: testEnv, server: false, changedOnly: true, base: 'HEAD' });
  assert.ok(none.findings.some((f) => f.rule === 'nothing-changed'), none.findings.map((f) => `${f.rule} ${f.message}`).join('\n'));
});
