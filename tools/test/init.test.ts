// npm run init adopts a repository by its Argo CD objects: a fixture with kustomize, Helm and
// plain-directory Applications (an app of apps in argocd/), one Application no kustomization
// renders and a Helm-templated app of apps. init writes a gitops.yaml that config.ts accepts,
// and validate runs over it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { init } from '../commands/init.js';
import { loadConfig } from '../lib/config/config.js';
import { UsageError } from '../lib/core/errors.js';
import { runValidation } from '../lib/validate/validation.js';
import { REPO_ROOT } from '../lib/core/tools.js';
import { gitInit, makeRepo, removeRepo, testEnv } from './fixtures.js';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map(removeRepo)));

const REPO = 'https://git.example.com/guestbook-gitops.git';

const application = (name: string, path_: string, namespace: string, extra = '') => `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: ${name}
  namespace: argocd
spec:
  project: guestbook
  source:
    repoURL: ${REPO}
    targetRevision: HEAD
    path: ${path_}
${extra}  destination:
    server: https://kubernetes.default.svc
    namespace: ${namespace}
`;

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: guestbook-ui
spec:
  selector:
    matchLabels: {app: guestbook-ui}
  template:
    metadata:
      labels: {app: guestbook-ui}
    spec:
      containers:
        - name: ui
          image: gcr.io/heptio-images/ks-guestbook-demo:0.2
          ports: [{containerPort: 80}]
`;

function adoptable(): Record<string, string> {
  return {
    // The app of apps: argocd/ deploys itself and the Applications beside it.
    'argocd/kustomization.yaml': 'resources: [project.yaml, root.yaml, apps.yaml]\n',
    'argocd/project.yaml': `apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: guestbook, namespace: argocd}
spec:
  sourceRepos: ['*']
  destinations: [{server: https://kubernetes.default.svc, namespace: '*'}]
`,
    'argocd/root.yaml': `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: root, namespace: argocd}
spec:
  project: default
  source: {repoURL: ${REPO}, targetRevision: HEAD, path: argocd}
  destination: {server: https://kubernetes.default.svc, namespace: argocd}
`,
    'argocd/apps.yaml': [
      application('kustomize-guestbook-dev', 'kustomize-guestbook/overlays/dev', 'guestbook-dev'),
      application('kustomize-guestbook-prod', 'kustomize-guestbook/overlays/prod', 'guestbook-prod'),
      application('helm-guestbook-dev', 'helm-guestbook', 'guestbook-dev', '    helm:\n      valueFiles: [values-dev.yaml]\n'),
      application('plain-guestbook-prod', 'guestbook', 'guestbook-prod', '    directory: {recurse: true}\n'),
    ].join('---\n'),
    'kustomize-guestbook/base/kustomization.yaml': 'resources: [deployment.yaml]\n',
    'kustomize-guestbook/base/deployment.yaml': DEPLOYMENT,
    'kustomize-guestbook/overlays/dev/kustomization.yaml': 'namespace: guestbook-dev\nresources: [../../base]\n',
    'kustomize-guestbook/overlays/prod/kustomization.yaml': 'namespace: guestbook-prod\nresources: [../../base]\nreplicas: [{name: guestbook-ui, count: 2}]\n',
    'helm-guestbook/Chart.yaml': 'apiVersion: v2\nname: helm-guestbook\nversion: 0.1.0\n',
    'helm-guestbook/values.yaml': 'replicaCount: 1\n',
    'helm-guestbook/values-dev.yaml': 'replicaCount: 1\n',
    'helm-guestbook/templates/deployment.yaml': DEPLOYMENT.replace('replicas', '{{ .Values.replicaCount }}'),
    'guestbook/guestbook-ui-deployment.yaml': DEPLOYMENT,
    // Read by no kustomization: found, and reported as not placed.
    'extra/stray-app.yaml': application('stray', 'guestbook', 'stray'),
    // An app of apps that Helm renders: its templates are not YAML the toolkit can read.
    'apps/Chart.yaml': 'apiVersion: v2\nname: apps\nversion: 0.1.0\n',
    'apps/templates/guestbook.yaml': `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: guestbook
spec:
  destination:
    server: {{ .Values.spec.destination.server }}
`,
  };
}

async function fixture(): Promise<string> {
  const dir = await makeRepo(adoptable());
  dirs.push(dir);
  gitInit(dir);
  return dir;
}

test('init writes a gitops.yaml covering every Application, says what it could not place, and validate runs over it', async () => {
  const dir = await fixture();
  const out: string[] = [];
  const r = await init({ cwd: dir, envVars: testEnv, write: (t) => out.push(t) });
  const printed = out.join('\n');

  assert.deepEqual(r.objects.map((o) => `${o.file} ${o.kind} ${o.name}`).sort(), [
    'argocd/apps.yaml Application helm-guestbook-dev',
    'argocd/apps.yaml Application kustomize-guestbook-dev',
    'argocd/apps.yaml Application kustomize-guestbook-prod',
    'argocd/apps.yaml Application plain-guestbook-prod',
    'argocd/project.yaml AppProject guestbook',
    'argocd/root.yaml Application root',
    'extra/stray-app.yaml Application stray',
  ]);
  assert.deepEqual(r.clusters, [{ name: 'argocd', entryPoint: 'argocd', appOfApps: ['root'] }]);
  // One Argo CD, one destination: the environments come from the -dev/-prod in the names.
  assert.deepEqual(r.environments, [
    { name: 'dev', cluster: 'argocd', applications: ['helm-guestbook-dev', 'kustomize-guestbook-dev'] },
    { name: 'prod', cluster: 'argocd', applications: ['kustomize-guestbook-prod', 'plain-guestbook-prod'] },
  ]);
  assert.deepEqual(r.unplaced.map((u) => [u.file, u.object]), [['apps/templates/guestbook.yaml', 'Application guestbook'], ['extra/stray-app.yaml', 'Application stray']]);
  assert.match(r.unplaced[0]!.reason, /template of Helm chart apps/);
  assert.match(r.unplaced[1]!.reason, /no kustomization renders this file/);
  assert.deepEqual(r.notRendered.map((n) => [n.name, n.env]), [['helm-guestbook-dev', 'dev'], ['plain-guestbook-prod', 'prod']]);
  assert.match(printed, /found 6 Application\(s\), 0 ApplicationSet\(s\), 1 AppProject\(s\) in 4 file\(s\)/);
  assert.match(printed, /cluster argocd: entry point argocd \(app of apps: root\)/);
  assert.match(printed, /could not place 2:\n {2}apps\/templates\/guestbook\.yaml Application guestbook: a template of Helm chart apps/);
  assert.match(printed, /helm-guestbook-dev {2}helm-guestbook {2}not rendered: its source path helm-guestbook is a Helm chart/);
  assert.match(printed, /wrote gitops\.yaml; next: npm run validate/);

  // The file is the one every command reads.
  const text = await readFile(path.join(dir, 'gitops.yaml'), 'utf8');
  assert.equal(text, r.text);
  const config = await loadConfig(dir, testEnv);
  assert.deepEqual(config.environments.map((e) => [e.name, e.cluster, e.applications]), [
    ['dev', 'argocd', [{ name: '*-dev' }]],
    ['prod', 'argocd', [{ name: '*-prod' }]],
  ]);
  assert.equal(config.entryPoints.argocd, 'argocd');
  assert.equal(config.defaultBranch, 'main');

  // validate over it: the kustomize Applications are rendered and checked as apps of their
  // environments (one id in both, so status and promote pair them); Helm and plain ones are
  // reported as not rendered; nothing is unmapped.
  const noPolicies = await mkdtemp(path.join(os.tmpdir(), 'gitops-no-policies-'));
  dirs.push(noPolicies);
  const v = await runValidation({ cwd: dir, envVars: testEnv, policiesDir: noPolicies });
  assert.deepEqual(v.targets.map((t) => `${t.kind} ${t.env?.name ?? '-'} ${t.app?.id ?? '-'} ${t.dir}`).sort(), [
    'app dev kustomize-guestbook kustomize-guestbook/overlays/dev',
    'app prod kustomize-guestbook kustomize-guestbook/overlays/prod',
    'cluster - - argocd',
  ]);
  assert.ok(v.rendered.find((x) => x.target.dir === 'kustomize-guestbook/overlays/prod')!.objects.some((o) => o.kind === 'Deployment' && (o.spec as { replicas?: number }).replicas === 2));
  assert.deepEqual(v.findings.filter((f) => f.rule === 'app-unmapped'), []);
  // The Helm and plain-directory Applications are rendered by Argo CD's repo-server code (argocd-helper).
  assert.deepEqual(v.findings.filter((f) => f.rule === 'app-not-rendered').map((f) => f.message), []);
  assert.deepEqual(v.apps!.map((a) => `${a.env}:${a.id}${a.notRendered ? ' (not rendered)' : ''}`), [
    'dev:helm-guestbook', 'dev:kustomize-guestbook', 'prod:kustomize-guestbook', 'prod:plain-guestbook',
  ]);
});

test('init refuses to overwrite gitops.yaml unless --force; a repository without Argo CD objects is refused with the reason', async () => {
  const dir = await fixture();
  await writeFile(path.join(dir, 'gitops.yaml'), '# mine\n');
  await assert.rejects(init({ cwd: dir, envVars: testEnv, write: () => {} }), (e: Error) => e instanceof UsageError && /gitops\.yaml exists: init does not overwrite it/.test(e.message));
  assert.equal(await readFile(path.join(dir, 'gitops.yaml'), 'utf8'), '# mine\n');
  // Through the command line, as `npm run init -- --force` runs it.
  const cli = await promisify(execFile)('npx', ['tsx', path.join(REPO_ROOT, 'tools', 'cli.ts'), 'init', '--force', '--cwd', dir], { env: testEnv, timeout: 120_000 });
  assert.match(cli.stdout, /wrote gitops\.yaml/);
  assert.match(await readFile(path.join(dir, 'gitops.yaml'), 'utf8'), /^# Written by 'npm run init'/);

  const empty = await makeRepo({ 'k8s/deployment.yaml': DEPLOYMENT });
  dirs.push(empty);
  gitInit(empty);
  await assert.rejects(init({ cwd: empty, envVars: testEnv, write: () => {} }), /no kustomization in .* renders an Argo CD Application, ApplicationSet or AppProject \(0 found\)/);
});
