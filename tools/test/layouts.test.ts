// Layout is configuration: validate and diff on repositories in four layouts, and the findings
// that keep a layout from passing silently (missing roots, empty patterns, entry points).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { discoverLayout } from '../lib/config/apps.js';
import { loadConfig, parseConfig } from '../lib/config/config.js';
import { ConfigError } from '../lib/core/errors.js';
import { compilePattern, fillAppId, matchPattern, normalizeId } from '../lib/config/layout.js';
import { runValidation } from '../lib/validate/validation.js';
import { renderedDiff } from '../lib/report/diff.js';
import { makeRepo, removeRepo, testEnv } from './repo-fixture.js';
import { commitAll, gitInit, writeFiles } from './fixtures.js';
import { diff } from '../commands/diff.js';
import { LAYOUTS, layoutFixture, makeLayoutRepo } from './layouts-fixture.js';
import { validate } from '../commands/validate.js';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map(removeRepo)));

async function layoutRepo(...args: Parameters<typeof makeLayoutRepo>) {
  const r = await makeLayoutRepo(...args);
  dirs.push(r.dir);
  return r;
}

const key = (a: { env: string | { name: string }; id: string; dir: string }) => `${typeof a.env === 'string' ? a.env : a.env.name}:${a.id}:${a.dir}`;

test('folder globs: wildcards are captures, ** spans folders, a trailing kustomization name is accepted', () => {
  const p = compilePattern('overlays/minikube/*/*/kustomization.yaml');
  assert.equal(p.prefix, 'overlays/minikube');
  assert.deepEqual(matchPattern(p, 'overlays/minikube/nofluxo/backend'), ['nofluxo', 'backend']);
  assert.equal(matchPattern(p, 'overlays/minikube/nofluxo'), undefined);
  assert.equal(matchPattern(p, 'overlays/minikube/a/b/c'), undefined);
  const deep = compilePattern('deploy/**/overlays/{dev,qa}');
  assert.deepEqual(matchPattern(deep, 'deploy/team/app/overlays/qa'), ['team/app', 'qa']);
  assert.deepEqual(matchPattern(deep, 'deploy/overlays/dev'), ['', 'dev']);
  assert.equal(matchPattern(deep, 'deploy/x/overlays/prod'), undefined);
  assert.equal(fillAppId('{1}', ['team/app', 'qa'], 'x'), 'team/app');
  assert.equal(fillAppId(undefined, ['', 'dev'], 'x'), 'dev');
  assert.equal(normalizeId('Payments/Billing_API'), 'payments/billing-api');
  assert.equal(normalizeId('__'), '');
});

test('gitops.yaml layout errors name the line and say what to write', () => {
  const env = (extra: string) => `environments:\n  - name: dev\n    cluster: dev\n${extra}`;
  assert.throws(() => parseConfig('/r', env('    overlays: [envs/dev]\n'), {}), (e: Error) => e instanceof ConfigError && /gitops\.yaml:\d+: environments\.0\.appId: required: pattern 'envs\/dev' has no wildcard/.test(e.message));
  assert.throws(() => parseConfig('/r', env('    overlays: ["apps/*"]\n    appId: "{1}/{2}"\n'), {}), /appId: \{2\} refers to a wildcard that pattern 'apps\/\*' does not have \(it has 1\)/);
  assert.throws(() => parseConfig('/r', env('    overlayRoot: overlays/dev\n    overlays: ["apps/*"]\n'), {}), /either overlayRoot .* or overlays, not both/);
  assert.throws(() => parseConfig('/r', env('    overlays: ["../elsewhere/*"]\n'), {}), /environments\.0\.overlays\.0: must match pattern/);
  assert.throws(() => parseConfig('/r', env('    promotesFrom: dev\n'), {}), /must have required property 'overlayRoot'/);
  const c = parseConfig('/r', env('    overlayRoot: gitops/dev\n') + 'clusters:\n  dev:\n    entryPoint: argocd/dev/\n', {});
  assert.deepEqual([c.environments[0].overlays, c.environments[0].appId, c.entryPoints], [['gitops/dev/*/*'], '{1}/{2}', { dev: 'argocd/dev' }]);
});

for (const name of LAYOUTS) {
  test(`layout ${name}: discovery finds every overlay and validate renders and checks each, with no error`, async () => {
    const { dir, fixture } = await layoutRepo(name);
    const config = await loadConfig(dir, testEnv);
    const layout = await discoverLayout(config);
    assert.deepEqual(layout.apps.map(key).sort(), fixture.apps.map(key).sort());
    assert.deepEqual(layout.apps.map((a) => a.kustomization).sort(), fixture.apps.map((a) => a.kustomization).sort());
    const r = await runValidation({ cwd: dir, envVars: testEnv });
    assert.deepEqual(r.findings.filter((f) => f.severity === 'error'), []);
    for (const a of fixture.apps) assert.ok(r.targets.some((t) => t.dir === a.dir), `${a.dir} validated`);
    for (const pin of fixture.pins) {
      const rendered = r.rendered.find((x) => x.target.app?.id === pin.id && x.target.env?.name === pin.env);
      const deploy = rendered?.objects.find((o) => o.kind === 'Deployment');
      const containers = (deploy?.spec as { template: { spec: { containers: Array<{ name: string; image: string }> } } } | undefined)?.template.spec.containers;
      assert.equal(containers?.find((c) => c.name === pin.container)?.image, pin.image, `${pin.env}:${pin.id}`);
    }
    assert.ok(r.objects >= fixture.apps.length);
  });

  test(`layout ${name}: diff shows the one overlay whose pin changed, by app and environment`, async () => {
    const { dir, fixture } = await layoutRepo(name);
    const pin = fixture.pins.find((p) => p.env === 'dev')!;
    const app = fixture.apps.find((a) => a.env === 'dev' && a.id === pin.id)!;
    const text = fixture.files[pin.file];
    await writeFiles(dir, { [pin.file]: text.replace(/newTag: "[^"]+"/, 'newTag: "9.9.9"') });
    const d = await renderedDiff({ cwd: dir, base: 'HEAD', envVars: testEnv });
    assert.deepEqual(
      d.overlays.map((o) => ({ overlay: o.overlay, app: o.app, env: o.env, changes: o.objects.flatMap((x) => x.fields.map((f) => `${x.resource.split('/')[0]} ${f.path} ${String(f.after)}`)) })),
      [{ overlay: app.dir, app: app.id, env: 'dev', changes: [`Deployment spec.template.spec.containers[${pin.container}].image ${pin.image.replace(/:[^:/]+$/, ':9.9.9')}`] }],
    );
  });
}

test('a folder name outside the id alphabet is normalised and reported, never skipped', async () => {
  const { dir } = await layoutRepo('yml');
  const r = await runValidation({ cwd: dir, envVars: testEnv, env: 'dev' });
  assert.ok(r.targets.some((t) => t.dir === 'deploy/dev/payments/Billing_API' && t.app?.id === 'payments/billing-api'));
  const note = r.findings.find((f) => f.rule === 'app-id');
  assert.equal(note?.severity, 'info');
  assert.match(note!.message, /'payments\/Billing_API' are outside the id alphabet .*'payments\/billing-api'/);
  assert.equal(note!.file, 'deploy/dev/payments/Billing_API/Kustomization');
});

test('layout problems are findings that name the folder: missing root, empty pattern, id collisions, entry points', async () => {
  const { dir } = await layoutRepo('app-overlays', {
    'gitops.yaml': `environments:
  - name: dev
    cluster: kind
    overlays: ["*/overlays/dev", "services/*/dev"]
  - name: qa
    cluster: kind
    overlays: ["*/overlays/qa"]
  - name: prod
    cluster: prod
    overlays: ["*/overlays/prod", "legacy/*"]
    appId: "app"
clusters:
  prod:
    entryPoint: deploy/prod-argocd
`,
    'clusters/kind/application.yaml': 'apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: x\n',
  });
  const r = await runValidation({ cwd: dir, envVars: testEnv });
  const show = r.findings.filter((f) => ['layout-root', 'layout-empty', 'app-id', 'no-kustomization', 'no-entry-point'].includes(f.rule)).map((f) => `${f.severity} ${f.rule} ${f.overlay}`).sort();
  assert.deepEqual(show, [
    'error app-id api/overlays/prod',
    'error app-id web/overlays/prod',
    'error layout-root deploy/prod-argocd',
    'error layout-root legacy',
    'error layout-root services',
    'error no-kustomization clusters/kind',
    'warning layout-empty .',
  ]);
  const msg = (rule: string, overlay: string) => r.findings.find((f) => f.rule === rule && f.overlay === overlay)!.message;
  assert.match(msg('no-kustomization', 'clusters/kind'), /application\.yaml is neither rendered nor checked/);
  assert.match(msg('layout-root', 'services'), /environments\[dev\]\.overlays 'services\/\*\/dev': folder services does not exist/);
  assert.match(msg('app-id', 'api/overlays/prod'), /app id 'app' in environment prod is derived from 2 folders \(api\/overlays\/prod, web\/overlays\/prod\)/);
  assert.match(msg('layout-empty', '.'), /environments\[qa\]\.overlays '\*\/overlays\/qa' matches no folder/);
});

test('manifests under the layout roots that no target reads are named; a run that selects nothing fails', async () => {
  const { dir } = await layoutRepo('app-overlays', {
    'web/overlays/dev/forgotten-patch.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n',
    'argocd/extra-app.yaml': 'apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: orphan\n',
    'docs/example.yaml': 'not: under any root\n',
  });
  const r = await runValidation({ cwd: dir, envVars: testEnv });
  const unrendered = r.findings.filter((f) => f.rule === 'unrendered-file').map((f) => `${f.severity} ${f.file}`).sort();
  assert.deepEqual(unrendered, ['warning argocd/extra-app.yaml', 'warning web/overlays/dev/forgotten-patch.yaml']);
  assert.match(r.findings.find((f) => f.file === 'argocd/extra-app.yaml')!.message, /extra-app\.yaml in argocd is read by no overlay or cluster entry point/);

  // An environment whose pattern matches nothing: an error, not "0 overlays, 0 objects" and exit 0.
  await writeFiles(dir, { 'gitops.yaml': `environments:\n  - name: qa\n    cluster: qa\n    overlays: ["*/overlays/qa"]\nclusters:\n  qa:\n    entryPoint: null\n` });
  const none = await runValidation({ cwd: dir, envVars: testEnv });
  assert.deepEqual(none.findings.map((f) => `${f.severity} ${f.rule}`), ['warning layout-empty', 'error nothing-checked']);
  await assert.rejects(validate({ cwd: dir, envVars: testEnv, write: () => {} }), /validation failed: 1 error/);
});

test('--changed-only with no affected target says so and passes; an overlay that renders nothing is a warning', async () => {
  const { dir } = await layoutRepo('flat', {
    'envs/empty/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - none.yaml\n',
    'envs/empty/none.yaml': '# nothing yet\n',
  });
  await writeFiles(dir, { 'README.md': 'docs only\n' });
  const r = await runValidation({ cwd: dir, envVars: testEnv, changedOnly: true, base: 'HEAD' });
  assert.deepEqual(r.findings.filter((f) => f.rule !== 'no-entry-point').map((f) => `${f.severity} ${f.rule}`), ['info nothing-changed']);
  assert.match(r.findings.find((f) => f.rule === 'nothing-changed')!.message, /no overlay or cluster entry point of the configured environments reads a file changed since [0-9a-f]{12}/);
  await writeFiles(dir, { 'gitops.yaml': layoutFixture('flat').files['gitops.yaml'].replace('overlays: [envs/dev]', 'overlays: [envs/dev, envs/empty]\n    appId: "{path}"').replace('    appId: shop\n  - name: prod', '  - name: prod') });
  const e = await runValidation({ cwd: dir, envVars: testEnv, env: 'dev' });
  assert.deepEqual(e.findings.filter((f) => f.severity !== 'info').map((f) => `${f.severity} ${f.rule} ${f.overlay}`), ['warning empty-render envs/empty']);
});

test('diff and --base when the base revision has no gitops.yaml: it is read with the current one, and nothing existed there', async () => {
  const fixture = layoutFixture('app-overlays');
  const dir = await makeRepo({ 'README.md': 'before the toolkit\n' });
  dirs.push(dir);
  gitInit(dir);
  await writeFiles(dir, fixture.files);
  commitAll(dir, 'adopt');
  const d = await renderedDiff({ cwd: dir, base: 'HEAD~1', envVars: testEnv });
  assert.match(d.notes?.[0] ?? '', /base revision has no gitops\.yaml: it is read with the current gitops\.yaml/);
  assert.deepEqual(d.overlays.map((o) => o.overlay), ['api/overlays/dev', 'api/overlays/prod', 'argocd', 'web/overlays/dev', 'web/overlays/prod']);
  assert.ok(d.overlays.every((o) => o.objects.length && o.objects.every((x) => x.change === 'added')));
  const text: string[] = [];
  await diff({ cwd: dir, base: 'HEAD~1', envVars: testEnv, write: (t) => text.push(t) });
  assert.match(text[0], /^note: the base revision has no gitops\.yaml/);
  const v = await runValidation({ cwd: dir, envVars: testEnv, base: 'HEAD~1', changedOnly: true });
  assert.equal(v.targets.length, 5);
  assert.deepEqual(v.findings.filter((f) => f.severity === 'error'), []);
});

test('diff and --base across a layout change compare by app and environment, and read the base with its own layout', async () => {
  const { dir, fixture } = await layoutRepo('repo');
  const moved: Record<string, string | null> = {
    'gitops.yaml': fixture.files['gitops.yaml'].replace('overlayRoot: overlays/minikube', 'overlays: ["deploy/dev/*/*"]').replace('overlayRoot: overlays/crianex', 'overlays: ["deploy/prod/*/*"]'),
    'overlays/minikube/demo/web/kustomization.yaml': null,
    'overlays/crianex/demo/web/kustomization.yaml': null,
    'deploy/dev/demo/web/kustomization.yaml': fixture.files['overlays/minikube/demo/web/kustomization.yaml'],
    'deploy/prod/demo/web/kustomization.yaml': fixture.files['overlays/crianex/demo/web/kustomization.yaml'],
  };
  await writeFiles(dir, moved);
  commitAll(dir, 'move overlays');
  const same = await renderedDiff({ cwd: dir, base: 'HEAD~1', envVars: testEnv });
  assert.deepEqual(same.overlays, [], 'moving folders changes nothing that renders');

  await writeFiles(dir, {
    'deploy/dev/demo/web/kustomization.yaml': moved['deploy/dev/demo/web/kustomization.yaml']!.replace('1.1.0', '1.2.0'),
    'apps/demo/web/deployment.yaml': fixture.files['apps/demo/web/deployment.yaml'].replace('    matchLabels:\n      app: demo-web', '    matchLabels:\n      app: demo-web\n      tier: web').replace('      labels:\n        app: demo-web', '      labels:\n        tier: web\n        app: demo-web'),
  });
  const d = await renderedDiff({ cwd: dir, base: 'HEAD~1', envVars: testEnv });
  const dev = d.overlays.find((o) => o.env === 'dev')!;
  assert.deepEqual([dev.overlay, dev.from, dev.app], ['deploy/dev/demo/web', 'overlays/minikube/demo/web', 'demo/web']);
  assert.ok(dev.objects[0].fields.some((f) => f.path === 'spec.template.spec.containers[main].image' && f.after === 'registry.example.com/demo-web:1.2.0'));
  const v = await runValidation({ cwd: dir, envVars: testEnv, base: 'HEAD~1' });
  assert.deepEqual(v.findings.filter((f) => f.rule === 'immutable-field').map((f) => `${f.overlay} ${f.resource} ${f.field ?? ''}`).sort(), [
    'deploy/dev/demo/web Deployment/demo/demo-web spec.selector',
    'deploy/prod/demo/web Deployment/demo/demo-web spec.selector',
  ]);
});

test('Argo CD: an Application tracking another revision is reported as not checked; a destination needs server or name', async () => {
  const fixture = layoutFixture('app-overlays');
  const apps = fixture.files['argocd/apps.yaml'];
  const legacy = apps.split('---\n')[0].replace('name: api-dev', 'name: legacy').replace('targetRevision: main', 'targetRevision: v0.9.0').replace('path: api/overlays/dev', 'path: legacy/overlays/dev');
  const { dir } = await layoutRepo('app-overlays', {
    'argocd/apps.yaml': apps.replace('    server: https://kubernetes.default.svc\n    namespace: shop-dev\n', '    namespace: shop-dev\n') + '---\n' + legacy,
  });
  const r = await runValidation({ cwd: dir, envVars: testEnv });
  const argo = r.findings.filter((f) => f.rule.startsWith('argo-')).map((f) => `${f.severity} ${f.rule} ${f.file}:${f.line}`);
  assert.deepEqual(argo.sort(), ['error argo-destination argocd/apps.yaml:12', 'info argo-revision argocd/apps.yaml:39']);
  assert.match(r.findings.find((f) => f.rule === 'argo-revision')!.message, /Application legacy: tracks targetRevision v0\.9\.0, not main .*legacy\/overlays\/dev at that revision is not checked/);
  assert.match(r.findings.find((f) => f.rule === 'argo-destination')!.message, /Application api-dev: destination has neither server nor name/);
});

test('validate --new-only reports only findings the base revision does not already have, whatever the lines', async () => {
  const { dir, fixture } = await layoutRepo('flat');
  const noProbes = (text: string) => text.replace('          livenessProbe:\n            httpGet: {path: /health, port: http}\n', '');
  // The base already lacks a liveness probe (a warning by default) and has a latest tag in prod (an error).
  await writeFiles(dir, {
    'base/deployment.yaml': noProbes(fixture.files['base/deployment.yaml']),
    'envs/prod/image-patch.yaml': fixture.files['envs/prod/image-patch.yaml'].replace('shop:1.0.0', 'shop:latest'),
  });
  commitAll(dir, 'known problems');
  // Head: lines move (a comment on top), the old problems stay, one new one comes (no resources in dev).
  await writeFiles(dir, {
    'base/deployment.yaml': '# moved down a line\n' + noProbes(fixture.files['base/deployment.yaml']),
    'envs/dev/kustomization.yaml': fixture.files['envs/dev/kustomization.yaml'] + 'patches:\n  - target: {kind: Deployment}\n    patch: |\n      - op: remove\n        path: /spec/template/spec/containers/0/resources\n',
  });
  const all = await runValidation({ cwd: dir, envVars: testEnv });
  const rules = (fs: { rule: string; severity: string; overlay: string }[]) => fs.filter((f) => f.severity !== 'info').map((f) => `${f.severity} ${f.rule} ${f.overlay}`).sort();
  assert.deepEqual(rules(all.findings), ['error no-latest-image envs/prod', 'warning probes-set envs/dev', 'warning probes-set envs/prod', 'warning resources-set envs/dev']);
  const fresh = await runValidation({ cwd: dir, envVars: testEnv, newOnly: true, base: 'HEAD' });
  assert.deepEqual(rules(fresh.findings), ['warning resources-set envs/dev']);
  assert.match(fresh.findings.find((f) => f.rule === 'baseline')!.message, /3 finding\(s\) that [0-9a-f]{12} already has are not reported/);
  // Exit status follows what is new: the old error no longer fails the run.
  await validate({ cwd: dir, envVars: testEnv, newOnly: true, base: 'HEAD', write: () => {} });
});
