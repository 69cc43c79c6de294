// Argo CD decides (issue 16): the Applications come from Argo CD's own ApplicationSet code and
// their manifests from its repo-server code (tools/go/argocd/helper), on fixture repositories and
// on this repository; the kustomize fast path is byte-identical to the repo-server wherever it is used.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { expandApplications, fastPathDir, renderApplication, repoContext, repoTree, buildOptions, type GeneratedApp, type RepoTree } from '../lib/argocd/argocd.js';
import { clusterRepoURL } from '../lib/argocd/argocd.js';
import { runValidation } from '../lib/validate/validation.js';
import { loadConfig, type Config } from '../lib/config/config.js';
import { clusterTargets, renderTargets } from '../lib/render/render.js';
import { type Rendered } from '../lib/render/rendered.js';
import { findHelm, findKustomize, REPO_ROOT } from '../lib/core/tools.js';
import type { Finding } from '../lib/core/finding.js';
import type { K8sObject } from '../lib/core/k8s.js';
import { argoFixture, REPO_URL } from './argocd-fixture.js';
import { git, gitInit, makeRepo, removeRepo, testEnv, writeFiles } from './fixtures.js';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map(removeRepo)));

async function fixture(patch: Record<string, string> = {}): Promise<string> {
  const dir = await makeRepo({ ...argoFixture(), ...patch });
  dirs.push(dir);
  gitInit(dir);
  return dir;
}

interface Cluster {
  config: Config;
  entry: Rendered;
  tree: RepoTree;
  repoURL: string;
}

async function entries(root: string): Promise<Cluster[]> {
  const config = await loadConfig(root, testEnv);
  const kustomize = await findKustomize(testEnv);
  const tree = await repoTree(root);
  const rendered = await renderTargets(config, kustomize, clusterTargets(config, config.environments));
  return rendered.map((entry) => ({ config, entry, tree, repoURL: clusterRepoURL(config, entry) }));
}

async function expanded(root: string) {
  const [c] = await entries(root);
  return { ...c, expansion: await expandApplications(c.entry, c.repoURL, c.tree, { defaultBranch: c.config.defaultBranch, env: testEnv }) };
}

const byName = (apps: GeneratedApp[], name: string) => {
  const a = apps.find((x) => x.name === name);
  assert.ok(a, `no Application ${name} in ${apps.map((x) => x.name).join(', ')}`);
  return a;
};

/** Objects as canonical JSON (keys sorted at every level), in render order. */
function canonical(objects: unknown[]): string[] {
  const sort = (v: unknown): unknown => (Array.isArray(v) ? v.map(sort) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])])) : v);
  return objects.map((o) => JSON.stringify(sort(o)));
}

describe('ApplicationSet expansion by Argo CD (fixture repository)', () => {
  test('matrix of git directories x list: goTemplate, sprig, templatePatch, an excluded folder', async () => {
    const { expansion } = await expanded(await fixture());
    assert.deepEqual(expansion.findings, []);
    assert.equal(expansion.incomplete, false);
    const matrix = expansion.apps.filter((a) => a.origin.o.metadata.name === 'services');
    assert.deepEqual(matrix.map((a) => `${a.name} ${a.path} ${a.destination.namespace} ${JSON.stringify(a.app.metadata.labels)}`), [
      'alpha-g services/alpha alpha-gold {"replicas":"3","tier":"GOLD"}',
      'alpha-b services/alpha alpha-bronze {"replicas":"1","tier":"BRONZE"}',
      'beta-g services/beta beta-gold {"replicas":"3","tier":"GOLD"}',
      'beta-b services/beta beta-bronze {"replicas":"1","tier":"BRONZE"}',
    ]);
    // templatePatch: only the gold tier self-heals.
    const heal = (a: GeneratedApp) => (a.app.spec as { syncPolicy?: { automated?: { selfHeal?: boolean } } }).syncPolicy?.automated?.selfHeal ?? false;
    assert.deepEqual(matrix.map(heal), [true, false, true, false]);
    assert.equal(byName(expansion.apps, 'kind-web').path, 'overlays/kind/web');
    assert.equal(byName(expansion.apps, 'kind-web').destination.namespace, 'web');
    // Applications written as such come through unchanged, with every source.
    assert.deepEqual(byName(expansion.apps, 'tiny').sources.map((s) => s.ref ?? s.path), ['charts/tiny', 'values']);
  });

  test('a template error is an error naming the generator; an offline generator is a note and the expansion is incomplete', async () => {
    const bad = await expanded(await fixture({
      'clusters/kind/matrix.yaml': argoFixture()['clusters/kind/matrix.yaml'].replace('{{ .path.basename }}-{{ .tier | trunc 1 }}', '{{ .path.basename }}-{{ .nope }}'),
    }));
    const err = bad.expansion.findings.find((f) => f.rule === 'argo-template');
    assert.ok(err, JSON.stringify(bad.expansion.findings));
    assert.equal(err.severity, 'error');
    assert.match(err.message, /generator 0: .*map has no entry for key "nope"/);
    assert.equal(err.resource, 'ApplicationSet/argocd/services');
    assert.equal(err.file, 'clusters/kind/matrix.yaml');
    const offline = await expanded(await fixture({
      'clusters/kind/matrix.yaml': `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: services
  namespace: argocd
spec:
  generators:
    - pullRequest:
        github: {owner: o, repo: r}
    - list:
        elements: [{n: one}]
  template:
    metadata: {name: 'pr-{{n}}'}
    spec:
      project: default
      source: {repoURL: ${REPO_URL}, path: services/alpha}
      destination: {server: https://kubernetes.default.svc, namespace: x}
`,
    }));
    assert.equal(offline.expansion.incomplete, true);
    const note = offline.expansion.findings.find((f) => f.rule === 'argo-generator');
    assert.ok(note);
    assert.equal(note.severity, 'info');
    assert.match(note.message, /generator 0 is not expanded: the pullRequest generator lists open pull requests/);
    // The other generator still expands.
    assert.ok(offline.expansion.apps.some((a) => a.name === 'pr-one'));
  });

  test("git files generator: git's pathspec (`*` crosses `/`), exclude patterns, and another repository is a note", async () => {
    const files = (patterns: string) => ({
      'clusters/kind/overlays.yaml': argoFixture()['clusters/kind/overlays.yaml'].replace('          - path: overlays/kind/*/kustomization.yaml\n', patterns),
      'overlays/kind/web/nested/kustomization.yaml': 'namespace: nested\nresources: []\n',
    });
    const paths = (e: Awaited<ReturnType<typeof expanded>>) => e.expansion.apps.filter((a) => a.origin.o.metadata.name === 'overlays').map((a) => a.path);
    assert.deepEqual(paths(await expanded(await fixture(files('          - path: overlays/kind/*/kustomization.yaml\n')))), ['overlays/kind/web', 'overlays/kind/web/nested']);
    assert.deepEqual(paths(await expanded(await fixture(files('          - path: overlays/kind/*/kustomization.yaml\n          - path: overlays/kind/*/*/kustomization.yaml\n            exclude: true\n')))), ['overlays/kind/web']);
    const other = await expanded(await fixture({ 'clusters/kind/overlays.yaml': argoFixture()['clusters/kind/overlays.yaml'].replace(`repoURL: ${REPO_URL}\n        revision`, 'repoURL: https://elsewhere.example.com/x.git\n        revision') }));
    assert.equal(other.expansion.incomplete, true);
    assert.match(other.expansion.findings.find((f) => f.rule === 'argo-generator')?.message ?? '', /is not the repository under test/);
  });
});

describe("manifests from Argo CD's repo-server code (fixture repository)", () => {
  const render = async (root: string, name: string) => {
    const { config, entry, tree, repoURL, expansion } = await expanded(root);
    const app = byName(expansion.apps, name);
    return renderApplication(app, repoContext(tree, repoURL, config.defaultBranch), { buildOptions: buildOptions(entry, await findHelm(testEnv)), kubeVersion: config.kubernetesVersion, env: testEnv });
  };

  test('Helm: valueFiles with $values from a second source, parameters, releaseName', async (t) => {
    if (!(await findHelm(testEnv))) return t.skip('the pinned helm is not installed (npm run setup -- --helm)');
    const r = await render(await fixture(), 'tiny');
    assert.deepEqual(r.sources.map((s) => [s.index, s.sourceType ?? (s.ref ? 'ref' : ''), s.error ?? '']), [[0, 'Helm', ''], [1, 'ref', '']]);
    assert.equal(r.objects.length, 1);
    const d = r.objects[0] as K8sObject & { spec: { replicas: number } };
    assert.equal(d.metadata.name, 'tiny-release');
    assert.equal(d.spec.replicas, 4);
    assert.equal(d.metadata.labels?.message, 'from-values-source');
  });

  test('a plain directory: recurse and exclude; jsonnet with a top-level argument', async () => {
    const root = await fixture();
    const plain = await render(root, 'plain');
    assert.equal(plain.sources[0].sourceType, 'Directory');
    assert.deepEqual(plain.objects.map((o) => o.metadata.name).sort(), ['inner', 'top']);
    const jn = await render(root, 'jn');
    assert.deepEqual(jn.objects.map((o) => [o.metadata.name, (o as { data?: Record<string, string> }).data?.sum]), [['from-tla', '3']]);
  });

  test("a Config Management Plugin is reported, never run; kustomize overrides apply to a copy, never the working tree", async () => {
    const root = await fixture();
    const cmp = await render(root, 'cmp');
    assert.deepEqual(cmp.objects, []);
    assert.match(cmp.sources[0].offline ?? '', /Config Management Plugin my-plugin/);
    const ovr = await render(root, 'ovr');
    assert.equal(ovr.sources[0].sourceType, 'Kustomize');
    const d = ovr.objects[0] as K8sObject & { spec: { template: { spec: { containers: Array<{ image: string }> } } } };
    assert.equal(d.metadata.name, 'ovr-beta');
    assert.equal(d.spec.template.spec.containers[0].image, 'nginx:1.27.9');
    assert.equal(git(root, 'status', '--porcelain'), ''); // kustomize edit never touched the working tree
  });

  test('validate checks every Application: Helm, plain and jsonnet objects are schema-checked, the plugin is a warning', async (t) => {
    const root = await fixture({
      // A schema error in the plain directory and in the jsonnet output.
      'plain/nested/deeper/inner.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: inner\ndata:\n  b: 2\n  bogus: {x: 1}\n',
      'jsonnet/main.jsonnet': "function(name) { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: name }, spec: { replicas: 'two' } }\n",
    });
    const r = await runValidation({ cwd: root, envVars: testEnv, server: false });
    const at = (fs: Finding[], overlay: string, rule: RegExp) => fs.filter((f) => f.overlay === overlay && rule.test(f.rule));
    assert.ok(at(r.findings, 'plain', /^schema/).length > 0, r.findings.map((f) => `${f.rule} ${f.overlay} ${f.message}`).join('\n'));
    assert.ok(at(r.findings, 'jsonnet', /^schema/).length > 0, r.findings.map((f) => `${f.rule} ${f.overlay} ${f.message}`).join('\n'));
    const cmp = r.findings.find((f) => f.rule === 'argo-source' && /Application cmp/.test(f.message));
    assert.ok(cmp, r.findings.map((f) => `${f.rule} ${f.overlay} ${f.message}`).join('\n'));
    assert.equal(cmp.severity, 'warning');
    assert.equal(cmp.file, 'clusters/kind/plugin.yaml');
    if (await findHelm(testEnv)) assert.ok(!r.findings.some((f) => f.rule === 'argo-render'), r.findings.filter((f) => f.rule === 'argo-render').map((f) => f.message).join('\n'));
    else t.diagnostic('helm not installed: the Helm Application is reported instead of rendered');
  });
});

describe('the fast path is byte-identical to the repo-server', () => {
  /** Every Application the fast path would render, rendered both ways. */
  async function compare(root: string): Promise<number> {
    let compared = 0;
    const kustomize = await findKustomize(testEnv);
    for (const c of await entries(root)) {
      const { apps } = await expandApplications(c.entry, c.repoURL, c.tree, { defaultBranch: c.config.defaultBranch, env: testEnv });
      const args = buildOptions(c.entry, await findHelm(testEnv));
      for (const app of apps) {
        const dir = fastPathDir(app, c.repoURL, c.config.defaultBranch, c.tree);
        if (dir === undefined) continue;
        const [fast] = await renderTargets(c.config, kustomize, [{ dir, cluster: c.entry.target.cluster, kind: 'app' }], { buildArgs: () => args });
        const argo = await renderApplication(app, repoContext(c.tree, c.repoURL, c.config.defaultBranch), { buildOptions: args, kubeVersion: c.config.kubernetesVersion, env: testEnv });
        assert.deepEqual(argo.sources.map((s) => s.error ?? s.offline ?? s.sourceType), ['Kustomize'], `${app.name}`);
        assert.deepEqual(fast.findings.filter((f) => f.severity === 'error'), [], `${app.name}`);
        assert.deepEqual(canonical(fast.objects), canonical(argo.objects), `${app.name} (${dir})`);
        compared++;
      }
    }
    return compared;
  }

  test('every fast-path Application of this repository', async () => {
    // This repository: 12 on minikube, 2 on crianex, plus the app of apps of each cluster.
    assert.ok((await compare(REPO_ROOT)) >= 14);
  });

  test('every fast-path Application of the fixture', async () => {
    assert.equal(await compare(await fixture()), 5); // alpha x2, beta x2, kind-web
  });
});

describe('this repository: the Applications Argo CD generates are the ones validate checks', () => {
  test('every overlay is deployed by exactly one generated Application, and every generated Application deploys an overlay or a cluster folder', async () => {
    const claimed: string[] = [];
    for (const c of await entries(REPO_ROOT)) {
      assert.equal(c.repoURL, 'https://github.com/crianex/gitops.git');
      const { apps, findings, incomplete } = await expandApplications(c.entry, c.repoURL, c.tree, { defaultBranch: c.config.defaultBranch, env: testEnv });
      assert.deepEqual(findings, []);
      assert.equal(incomplete, false);
      for (const a of apps) {
        assert.ok(a.path?.startsWith(`overlays/${c.entry.target.cluster}/`) || a.path?.startsWith('clusters/'), `${a.name}: ${a.path}`);
        if (a.path!.startsWith('overlays/')) claimed.push(a.path!);
      }
    }
    const r = await runValidation({ cwd: REPO_ROOT, envVars: testEnv, server: false });
    assert.deepEqual(claimed.sort(), r.targets.filter((t) => t.kind === 'app').map((t) => t.dir).sort());
  });

  test("a nested folder's kustomization.yaml does not become a second Application (the exclude pattern)", async () => {
    const copy = await makeRepo({});
    dirs.push(copy);
    for (const f of git(REPO_ROOT, 'ls-files', '-z').split('\0').filter(Boolean)) {
      await mkdir(path.dirname(path.join(copy, f)), { recursive: true });
      await cp(path.join(REPO_ROOT, f), path.join(copy, f), { verbatimSymlinks: true }).catch(() => {});
    }
    const nested = ['overlays/minikube/todo-chatbot/backend/patches/kustomization.yaml', 'overlays/crianex/nofluxo/backend/extra/deeper/kustomization.yaml'];
    await writeFiles(copy, Object.fromEntries(nested.map((n) => [n, 'namespace: elsewhere\n'])));
    gitInit(copy);
    for (const c of await entries(copy)) {
      const { apps } = await expandApplications(c.entry, c.repoURL, c.tree, { defaultBranch: c.config.defaultBranch, env: testEnv });
      const ps = apps.map((a) => a.path!).filter((p) => p.startsWith('overlays/'));
      assert.ok(ps.length > 0);
      assert.ok(!ps.some((p) => nested.includes(`${p}/kustomization.yaml`)), ps.join('\n'));
    }
  });
});
