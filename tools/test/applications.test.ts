// Nothing unchecked: every Application the cluster entry points create is mapped to an
// environment and rendered, or reported with the reason (lib/argocd/applications.ts); validate
// and status read the same inventory.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runValidation } from '../lib/validate/validation.js';
import { collectStatus } from '../commands/status.js';
import { appInventory, listApps, selectorMatches } from '../lib/argocd/applications.js';
import { loadConfig, parseConfig } from '../lib/config/config.js';
import { ConfigError } from '../lib/core/errors.js';
import type { GeneratedApp } from '../lib/argocd/argocd.js';
import type { Finding } from '../lib/core/finding.js';
import { findKustomize, REPO_ROOT } from '../lib/core/tools.js';
import { baseFiles } from './repo-fixture.js';
import { gitInit, makeRepo, removeRepo, testEnv, writeFiles } from './fixtures.js';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map(removeRepo)));

const REPO = 'https://example.com/demo.git';
const noPolicies = mkdtemp(path.join(os.tmpdir(), 'gitops-no-policies-')).then((d) => (dirs.push(d), d));

/** An Argo CD entry point for cluster `c`: an app of apps and an ApplicationSet over overlays/<c>/<system>/<service>. */
function entryPoint(c: string, extra: Record<string, string> = {}, resources: string[] = []): Record<string, string> {
  return {
    [`clusters/${c}/kustomization.yaml`]: `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [project.yaml, root.yaml, appset.yaml${resources.map((r) => `, ${r}`).join('')}]
`,
    [`clusters/${c}/project.yaml`]: `apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: demo, namespace: argocd}
spec:
  sourceRepos: ['*']
  destinations: [{server: '*', namespace: '*'}]
  clusterResourceWhitelist: [{group: '*', kind: '*'}]
`,
    [`clusters/${c}/root.yaml`]: `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: ${c}-root, namespace: argocd}
spec:
  project: default
  source: {repoURL: ${REPO}, path: clusters/${c}, targetRevision: main}
  destination: {server: https://kubernetes.default.svc, namespace: argocd}
`,
    [`clusters/${c}/appset.yaml`]: `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: ${c}-apps, namespace: argocd}
spec:
  goTemplate: true
  generators:
    - git:
        repoURL: ${REPO}
        revision: main
        files:
          - path: overlays/${c}/*/*/kustomization.yaml
          - path: overlays/${c}/*/*/*/kustomization.yaml
            exclude: true
  template:
    metadata: {name: '{{index .path.segments 2}}-{{index .path.segments 3}}'}
    spec:
      project: demo
      source: {repoURL: ${REPO}, targetRevision: main, path: '{{.path.path}}'}
      destination: {server: https://kubernetes.default.svc, namespace: '{{.namespace}}'}
`,
    ...extra,
  };
}

async function fixture(files: Record<string, string | null> = {}): Promise<string> {
  const dir = await makeRepo({ ...baseFiles(), ...entryPoint('minikube'), ...entryPoint('crianex') });
  dirs.push(dir);
  await writeFiles(dir, files);
  gitInit(dir);
  return dir;
}

const validateAt = async (cwd: string) => runValidation({ cwd, envVars: testEnv, policiesDir: await noPolicies });
const rules = (fs: Finding[], severity = 'error') => fs.filter((f) => f.severity === severity).map((f) => f.rule);

test('a typo in one overlayRoot: the Applications its ApplicationSet still deploys are rendered and checked, and validate fails naming the environment', async () => {
  const good = await fixture();
  const ok = await validateAt(good);
  assert.deepEqual(rules(ok.findings), []);
  assert.deepEqual(ok.targets.map((t) => t.dir).sort(), ['clusters/crianex', 'clusters/minikube', 'overlays/crianex/demo/web', 'overlays/minikube/demo/web']);

  // overlays/minikub does not exist; overlays/crianex/demo does, but holds no <system>/<service> folder.
  for (const typo of ['overlays/minikub', 'overlays/crianex/demo']) {
    const dir = await fixture({ 'gitops.yaml': (await readFile(path.join(good, 'gitops.yaml'), 'utf8')).replace('overlayRoot: overlays/minikube', `overlayRoot: ${typo}`) });
    const r = await validateAt(dir);
    const env = r.findings.find((f) => f.rule === 'app-environment');
    assert.ok(env, `${typo}: ${JSON.stringify(r.findings)}`);
    assert.equal(env.severity, 'error');
    assert.equal(env.file, 'gitops.yaml');
    assert.match(env.message, new RegExp(`environment dev: overlayRoot '${typo}' matches no overlay, yet 1 Application of cluster minikube deploy to it \\(demo-web from overlays/minikube/demo/web\\)`));
    // The Application's folder is still rendered and checked, as an app of dev named after it.
    const t = r.targets.find((x) => x.dir === 'overlays/minikube/demo/web');
    assert.ok(t, `${typo}: overlays/minikube/demo/web not checked`);
    assert.equal(t.env?.name, 'dev');
    assert.equal(t.app?.id, 'demo-web');
    assert.equal(t.app?.application, 'demo-web');
    assert.ok(r.rendered.find((x) => x.target === t)!.objects.some((o) => o.kind === 'Deployment'));
  }

  // A broken manifest in that folder is found although no overlays pattern names it.
  const broken = await fixture({
    'gitops.yaml': (await readFile(path.join(good, 'gitops.yaml'), 'utf8')).replace('overlayRoot: overlays/minikube', 'overlayRoot: overlays/minikub'),
    'overlays/minikube/demo/web/kustomization.yaml': `resources: [../../../../apps/demo/web, extra.yaml]\nnamespace: demo\n`,
    'overlays/minikube/demo/web/extra.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: 1}\n',
  });
  const b = await validateAt(broken);
  assert.ok(b.findings.some((f) => f.rule === 'schema' && f.overlay === 'overlays/minikube/demo/web' && f.resource === 'ConfigMap/demo/x'), JSON.stringify(b.findings));
});

test('an Application that no environment covers is an error naming it and its file; gitops.yaml selectors map it', async () => {
  // Two environments on minikube, neither selecting Applications: the one outside both overlays is unmapped.
  const gitops = `repoURL: ${REPO}
environments:
  - name: dev
    cluster: minikube
    overlayRoot: overlays/minikube
  - name: qa
    cluster: minikube
    overlays: ["overlays/qa/*/*"]
  - name: prod
    cluster: crianex
    overlayRoot: overlays/crianex
kubernetes: {version: 1.35.0}
`;
  const stray = {
    'clusters/minikube/stray.yaml': `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: stray, namespace: argocd}
spec:
  project: demo
  source: {repoURL: ${REPO}, path: extra/stray, targetRevision: HEAD}
  destination: {server: https://kubernetes.default.svc, namespace: stray}
`,
    'extra/stray/kustomization.yaml': `namespace: stray\nresources: [../../apps/demo/web]\n`,
    'overlays/qa/demo/web/kustomization.yaml': `namespace: demo\nresources: [../../../../apps/demo/web]\n`,
  };
  const dir = await fixture({ 'gitops.yaml': gitops, ...entryPoint('minikube', {}, ['stray.yaml']), ...stray });
  const r = await validateAt(dir);
  const unmapped = r.findings.filter((f) => f.rule === 'app-unmapped');
  assert.equal(unmapped.length, 1, JSON.stringify(r.findings));
  assert.equal(unmapped[0]!.severity, 'error');
  assert.equal(unmapped[0]!.file, 'clusters/minikube/stray.yaml');
  assert.equal(unmapped[0]!.line, 1);
  assert.match(unmapped[0]!.message, /^Application stray: no environment of gitops\.yaml covers it \(project demo, destination https:\/\/kubernetes\.default\.svc namespace stray, path extra\/stray\)/);
  assert.ok(!r.targets.some((t) => t.dir === 'extra/stray'));

  // A selector by namespace maps it to qa: rendered as app `stray` of qa, nothing unmapped.
  await writeFile(path.join(dir, 'gitops.yaml'), gitops.replace('    overlays: ["overlays/qa/*/*"]\n', '    overlays: ["overlays/qa/*/*"]\n    applications: [{namespace: stray}]\n'));
  const mapped = await validateAt(dir);
  assert.deepEqual(mapped.findings.filter((f) => f.rule === 'app-unmapped'), []);
  const t = mapped.targets.find((x) => x.dir === 'extra/stray');
  assert.equal(t?.env?.name, 'qa');
  assert.equal(t?.app?.id, 'stray');
  // ... but its folder is outside qa's overlays patterns: the two settings disagree.
  assert.ok(mapped.findings.some((f) => f.rule === 'app-environment' && f.severity === 'error' && /deploys extra\/stray, which no overlays pattern of environment qa \(overlays\/qa\/\*\/\*\) matches/.test(f.message)), JSON.stringify(mapped.findings));

  // Two environments selecting the same Application: an error naming both.
  await writeFile(path.join(dir, 'gitops.yaml'), gitops.replace('    overlayRoot: overlays/minikube\n', '    overlayRoot: overlays/minikube\n    applications: [{name: "str*"}]\n').replace('    overlays: ["overlays/qa/*/*"]\n', '    overlays: ["overlays/qa/*/*"]\n    applications: [{namespace: stray}]\n'));
  const both = await validateAt(dir);
  assert.ok(both.findings.some((f) => f.rule === 'app-environment' && /environments dev and qa both select it/.test(f.message)), JSON.stringify(both.findings));
});

test('Helm, plain-directory, jsonnet, plugin and other-repository Applications are reported as not rendered, with the reason', async () => {
  const app = (name: string, source: string) => `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: ${name}, namespace: argocd}
spec:
  project: demo
  source: ${source}
  destination: {server: https://kubernetes.default.svc, namespace: ${name}}
---
`;
  const dir = await fixture({
    ...entryPoint('minikube', {}, ['more.yaml']),
    'clusters/minikube/more.yaml':
      app('chart', `{repoURL: ${REPO}, path: charts/chart}`) +
      app('plain', `{repoURL: ${REPO}, path: plain, directory: {recurse: true}}`) +
      app('jsonnet', `{repoURL: ${REPO}, path: jsonnet}`) +
      app('cmp', `{repoURL: ${REPO}, path: plain, plugin: {name: sops}}`) +
      app('remote', '{repoURL: https://charts.example.com, chart: redis, targetRevision: 1.2.3}') +
      app('patched', `{repoURL: ${REPO}, path: overlays/minikube/demo/web, kustomize: {images: ["x=y:1"]}}`) +
      app('escape', `{repoURL: ${REPO}, path: ../outside}`) +
      app('linked', `{repoURL: ${REPO}, path: linked}`),
    'charts/chart/Chart.yaml': 'apiVersion: v2\nname: chart\nversion: 0.1.0\n',
    'charts/chart/templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n',
    'plain/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: p}\n',
    'jsonnet/main.jsonnet': '{}\n',
  });
  await symlink(os.tmpdir(), path.join(dir, 'linked'));
  const r = await validateAt(dir);
  const nr = new Map(r.findings.filter((f) => f.rule === 'app-not-rendered').map((f) => [/^Application ([^\s:]+)/.exec(f.message)![1], f]));
  // Helm, plain, jsonnet and overridden Applications are rendered by Argo CD's own repo-server code
  // (argocd-helper) in validate; what it cannot render offline, or may not read, stays reported.
  assert.deepEqual([...nr.keys()].sort(), ['cmp', 'escape', 'linked', 'remote']);
  assert.match(nr.get('escape')!.message, /its source path \.\.\/outside leaves the repository/);
  assert.match(nr.get('linked')!.message, /its source path linked resolves outside the repository \(a symlink\)/);
  assert.match(nr.get('cmp')!.message, /Config Management Plugin/);
  assert.match(nr.get('remote')!.message, /Helm chart redis from https:\/\/charts\.example\.com/);
  for (const name of ['cmp', 'escape', 'linked']) assert.equal(nr.get(name)!.severity, 'error', name);
  assert.equal(nr.get('remote')!.severity, 'warning');
  for (const f of nr.values()) assert.equal(f.file, 'clusters/minikube/more.yaml');

  // The seam a repo-server render takes over: the inventory lists them, with env and reason.
  const config = await loadConfig(dir, testEnv);
  const inv = await appInventory(config, await findKustomize(testEnv));
  assert.deepEqual(inv.uncovered.map((a) => [a.name, a.env?.name, a.state]).sort(), [
    ['chart', 'dev', 'not-rendered'], ['cmp', 'dev', 'not-rendered'], ['escape', 'dev', 'not-rendered'], ['jsonnet', 'dev', 'not-rendered'], ['linked', 'dev', 'not-rendered'], ['patched', 'dev', 'not-rendered'], ['plain', 'dev', 'not-rendered'], ['remote', 'dev', 'not-rendered'],
  ]);
  assert.deepEqual(inv.applications.filter((a) => a.state === 'entry').map((a) => a.name).sort(), ['crianex-root', 'minikube-root']);
  // A renderer that takes Helm and plain directories (Argo CD's repo-server) takes them off the list.
  const withRepoServer = await appInventory(config, await findKustomize(testEnv), { rendersAlso: ['helm', 'directory'] });
  assert.deepEqual(withRepoServer.uncovered.map((a) => a.name).sort(), ['cmp', 'escape', 'jsonnet', 'linked', 'patched', 'remote']);
  assert.deepEqual(withRepoServer.applications.filter((a) => a.name === 'chart' || a.name === 'plain').map((a) => [a.name, a.state, a.source]), [['chart', 'rendered', 'helm'], ['plain', 'rendered', 'directory']]);
  assert.ok(!withRepoServer.findings.some((f) => /^Application (chart|plain):/.test(f.message)));

  // validate and status agree on which apps exist, in which environment.
  const st = await collectStatus(dir, testEnv);
  const fromStatus = st.apps.flatMap((a) => a.deployedTo.map((e) => `${e}:${a.id}`)).sort();
  const fromValidate = r.apps!.map((a) => `${a.env}:${a.id}`).sort();
  assert.deepEqual(fromStatus, fromValidate);
  assert.deepEqual(fromValidate, ['dev:chart', 'dev:cmp', 'dev:demo/web', 'dev:escape', 'dev:jsonnet', 'dev:linked', 'dev:patched', 'dev:plain', 'dev:remote', 'prod:demo/web']);
  // status reads the renders of Argo CD's repo-server code: the Helm app is listed with its Application, not as not rendered.
  assert.deepEqual(st.apps.find((a) => a.id === 'chart')!.applications, { dev: { name: 'chart', source: 'helm', path: 'charts/chart' } });
  assert.equal(st.apps.find((a) => a.id === 'chart')!.notRendered, undefined);
  assert.match(st.apps.find((a) => a.id === 'cmp')!.notRendered!.dev!, /Application cmp: its source uses a Config Management Plugin/);
});

test('validate and status list the same apps on the shipped repository', async () => {
  const config = await loadConfig(REPO_ROOT, testEnv);
  const inv = await appInventory(config, await findKustomize(testEnv));
  // Every Application of both entry points is accounted for: 20 overlays, 2 apps of apps, nothing unmapped or unrendered.
  assert.deepEqual(inv.findings.filter((f) => f.severity !== 'info'), []);
  assert.equal(inv.applications.filter((a) => a.state === 'rendered').length, 20);
  assert.deepEqual(inv.applications.filter((a) => a.state === 'entry').map((a) => a.name).sort(), ['crianex-bootstrap', 'minikube-bootstrap']);
  assert.deepEqual(inv.uncovered, []);
  const st = await collectStatus(REPO_ROOT, testEnv);
  assert.deepEqual(st.apps.flatMap((a) => a.deployedTo.map((e) => `${e}:${a.id}`)).sort(), listApps(inv).map((a) => `${a.env}:${a.id}`).sort());
});

test('a Flux Kustomization or HelmRelease is reported as not rendered, naming file and object', async () => {
  const dir = await fixture({
    'flux/apps.yaml': `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  path: ./overlays/minikube
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: redis
  namespace: flux-system
spec:
  chart: {spec: {chart: redis}}
`,
  });
  const r = await validateAt(dir);
  const flux = r.findings.filter((f) => f.rule === 'flux-not-rendered');
  assert.deepEqual(flux.map((f) => [f.file, f.line, f.resource, f.severity]), [
    ['flux/apps.yaml', 4, 'Kustomization/flux-system/apps', 'warning'],
    ['flux/apps.yaml', 12, 'HelmRelease/flux-system/redis', 'warning'],
  ]);
  assert.match(flux[0]!.message, /Flux Kustomization apps \(kustomize\.toolkit\.fluxcd\.io\/v1, path \.\/overlays\/minikube\) is not rendered/);
});

test('environments[].applications: selectors by cluster, project, destination and name; config errors name the line', () => {
  const env = { name: 'dev', cluster: 'hub', overlays: [], promotesFrom: [], requireDigests: false };
  const a = { name: 'web-dev', project: 'shop', path: 'apps/web/dev', destination: { server: 'https://10.0.0.1:6443', namespace: 'web' } } as unknown as GeneratedApp;
  assert.ok(selectorMatches({ name: '*-dev' }, env, 'hub', a));
  assert.ok(!selectorMatches({ name: '*-dev' }, env, 'other', a));
  assert.ok(selectorMatches({ cluster: 'other', project: 'sh*' }, env, 'other', a));
  assert.ok(selectorMatches({ server: 'https://10.0.0.*', namespace: '{web,api}' }, env, 'hub', a));
  assert.ok(!selectorMatches({ destination: 'prod' }, env, 'hub', a));
  assert.ok(selectorMatches({ path: 'apps/**/dev' }, env, 'hub', a));
  const text = `environments:\n  - name: dev\n    cluster: hub\n    applications:\n      - {cluster: nowhere}\n`;
  assert.throws(() => parseConfig('/r', text, {}), (e: Error) => e instanceof ConfigError && /gitops\.yaml:5: environments\.0\.applications\.0\.cluster: no environment runs on cluster 'nowhere'/.test(e.message));
  assert.throws(() => parseConfig('/r', text.replace('{cluster: nowhere}', '{}'), {}), /environments\.0\.applications\.0: must NOT have fewer than 1 properties/);
  assert.throws(() => parseConfig('/r', `environments:\n  - name: dev\n    cluster: hub\n`, {}), /must have required property 'overlayRoot'/);
  const ok = parseConfig('/r', text.replace('{cluster: nowhere}', '{name: "*"}'), {});
  assert.deepEqual(ok.environments[0]!.overlays, []);
  assert.deepEqual(ok.environments[0]!.applications, [{ name: '*' }]);
});

test('the expansion is kept in .cache/ and redone when a file a generator reads, or the list of files, changes', async () => {
  const dir = await fixture();
  const tool = await findKustomize(testEnv);
  const apps = async () => {
    const inv = await appInventory(await loadConfig(dir, testEnv), tool);
    return inv.applications.filter((a) => a.cluster === 'minikube' && a.state !== 'entry').map((a) => `${a.name} ${a.generated.destination.namespace}`).sort();
  };
  assert.deepEqual(await apps(), ['demo-web demo']);
  assert.deepEqual(await apps(), ['demo-web demo']); // from the cache
  // The git files generator reads the overlay's kustomization: its namespace is the destination.
  await writeFiles(dir, { 'overlays/minikube/demo/web/kustomization.yaml': (await readFile(path.join(dir, 'overlays/minikube/demo/web/kustomization.yaml'), 'utf8')).replace('namespace: demo', 'namespace: demo2') });
  assert.deepEqual(await apps(), ['demo-web demo2']);
  await writeFiles(dir, { 'overlays/minikube/demo/api/kustomization.yaml': 'namespace: api\nresources: [../../../../apps/demo/web]\n' });
  assert.deepEqual(await apps(), ['demo-api api', 'demo-web demo2']);
});
