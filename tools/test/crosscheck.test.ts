// End to end: runValidation on fixture repositories, one per group of cross-resource and Argo CD
// rules (tools/lib/validate/checks), the ApplicationSet expansion on the shipped repository, and the
// comparison with a base revision (immutable fields, --changed-only).
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runValidation } from '../lib/validate/validation.js';
import { discoverApps } from '../lib/config/apps.js';
import { affectedTargets, changedFiles } from '../lib/render/changes.js';
import { loadConfig } from '../lib/config/config.js';
import { UsageError } from '../lib/core/errors.js';
import { appTargets, clusterTargets } from '../lib/render/render.js';
import type { Finding } from '../lib/core/finding.js';
import { REPO_ROOT } from '../lib/core/tools.js';
import { API_DEPLOYMENT, API_HPA, API_INGRESS, API_PVC, APPLICATIONSET, application, goodRepo, role, WEB_ROUTE, widget } from './crosscheck-fixture.js';
import { commitAll, git, gitInit, makeRepo, removeRepo, testEnv, writeFiles } from './fixtures.js';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map(removeRepo)));

async function repo(patch: Record<string, string> = {}): Promise<string> {
  const dir = await makeRepo({ ...goodRepo(), ...patch });
  dirs.push(dir);
  return dir;
}

// No policy files: these tests are about the cross-resource rules only.
const noPolicies = mkdtemp(path.join(os.tmpdir(), 'gitops-no-policies-')).then((d) => (dirs.push(d), d));

async function validateAt(cwd: string, opts: { base?: string; changedOnly?: boolean; app?: string } = {}) {
  return runValidation({ cwd, envVars: testEnv, policiesDir: await noPolicies, ...opts });
}

const errors = (fs: Finding[]) => fs.filter((f) => f.severity === 'error');
const summary = (fs: Finding[]) => fs.map((f) => `${f.rule} ${f.overlay} ${f.resource} ${f.field ?? ''}`.trim());

/** Asserts that `rule` was reported (as an error) for `resource`, and returns the finding. */
function expectFinding(fs: Finding[], rule: string, resource: string | RegExp, message?: RegExp): Finding {
  const hit = fs.find((f) => f.rule === rule && (typeof resource === 'string' ? f.resource === resource : resource.test(f.resource)) && (!message || message.test(f.message)));
  assert.ok(hit, `no ${rule} on ${resource}${message ? ` matching ${message}` : ''} in:\n${summary(fs).join('\n')}`);
  return hit;
}

describe('passing fixture', () => {
  test('a consistent repository passes every cross-resource and Argo CD rule', async () => {
    const r = await validateAt(await repo());
    assert.deepEqual(summary(errors(r.findings)), []);
    assert.deepEqual(summary(r.findings.filter((f) => f.severity === 'warning')), []);
    assert.deepEqual(r.targets.map((t) => t.dir).sort(), ['clusters/kind', 'overlays/kind/shop/api', 'overlays/kind/shop/web']);
  });
});

describe('workload rules', () => {
  test('services, ingresses, references, HPAs, volumes and duplicates are caught', async () => {
    const dir = await repo({
      // A second Service whose selector matches no pod, and a typo in a named targetPort.
      'apps/shop/api/service.yaml': `apiVersion: v1
kind: Service
metadata:
  name: shop-api
spec:
  ports:
    - name: http
      port: 80
      targetPort: htp
---
apiVersion: v1
kind: Service
metadata:
  name: shop-api-orphan
spec:
  selector:
    component: ghost
  ports:
    - port: 80
`,
      // An Ingress path to a Service that does not exist; an IngressRoute to a port that does
      // not exist and on a host+path the api Ingress claims too.
      'apps/shop/api/ingress.yaml': API_INGRESS.replace('          - path: /api', `          - path: /admin
            pathType: Prefix
            backend:
              service:
                name: shop-admin
                port:
                  number: 80
          - path: /api`),
      'apps/shop/web/ingressroute.yaml': WEB_ROUTE.replace('PathPrefix(`/`)', 'PathPrefix(`/api`)').replace('port: 80', 'port: 8081'),
      // Missing Secret and ConfigMap; replicas under an HPA; a ReadWriteOnce claim shared by replicas.
      'apps/shop/api/deployment.yaml': API_DEPLOYMENT.replace('spec:\n  template:', 'spec:\n  replicas: 2\n  template:').replace('name: api-credentials', 'name: api-token').replace('name: api-config', 'name: api-settings'),
      'apps/shop/api/pvc.yaml': API_PVC.replace('ReadWriteMany', 'ReadWriteOnce'),
      // An HPA on a Deployment that does not exist, with min > max.
      'apps/shop/api/hpa.yaml': `${API_HPA}---\n${API_HPA.replace('name: shop-api\nspec', 'name: ghost\nspec').replace('    name: shop-api', '    name: ghost').replace('minReplicas: 1', 'minReplicas: 5').replace('maxReplicas: 3', 'maxReplicas: 2')}`,
      // The web overlay renders a ConfigMap the api overlay renders too.
      'overlays/kind/shop/web/kustomization.yaml': 'namespace: shop\nresources:\n  - ../../../../apps/shop/web\n  - configmap.yaml\n',
      'overlays/kind/shop/web/configmap.yaml': goodRepo()['apps/shop/api/configmap.yaml'],
    });
    const r = (await validateAt(dir)).findings;
    expectFinding(r, 'service-selects-nothing', 'Service/shop/shop-api-orphan', /component=ghost/);
    const port = expectFinding(r, 'service-target-port', 'Service/shop/shop-api', /targetPort htp/);
    assert.equal(port.severity, 'error');
    assert.equal(port.file, 'apps/shop/api/service.yaml');
    expectFinding(r, 'ingress-backend', 'Ingress/shop/shop-api', /Service shop\/shop-admin is not rendered/);
    expectFinding(r, 'ingress-backend', 'IngressRoute/shop/shop-web', /has no port 8081/);
    expectFinding(r, 'duplicate-host-path', 'Ingress/shop/shop-api', /shop\.example\.com' path \/api is also claimed by IngressRoute\/shop-web/);
    expectFinding(r, 'duplicate-host-path', 'IngressRoute/shop/shop-web');
    expectFinding(r, 'missing-reference', 'Deployment/shop/shop-api', /Secret\/shop\/api-token/);
    expectFinding(r, 'missing-reference', 'Deployment/shop/shop-api', /ConfigMap\/shop\/api-settings/);
    expectFinding(r, 'hpa-target', 'HorizontalPodAutoscaler/shop/ghost');
    expectFinding(r, 'hpa-min-max', 'HorizontalPodAutoscaler/shop/ghost', /minReplicas 5 is greater than maxReplicas 2/);
    expectFinding(r, 'hpa-replicas', 'Deployment/shop/shop-api', /ignoreDifferences/);
    expectFinding(r, 'rwo-multi-replica', 'Deployment/shop/shop-api', /api-data, which is ReadWriteOnce/);
    const dup = expectFinding(r, 'duplicate-object', 'ConfigMap/shop/api-config', /overlays\/kind\/shop\/(api|web)/);
    assert.equal(dup.severity, 'error');
    // The optional secret reference and the StatefulSet's claim template are not missing.
    assert.ok(!r.some((f) => /maybe-there|cache/.test(f.message)), summary(r).join('\n'));
  });

  test('ignoreDifferences on /spec/replicas with RespectIgnoreDifferences lets a workload keep replicas under an HPA', async () => {
    const appset = APPLICATIONSET.replace("        namespace: '{{.namespace}}'\n", `        namespace: '{{.namespace}}'
      ignoreDifferences:
        - group: apps
          kind: Deployment
          jsonPointers: [/spec/replicas]
      syncPolicy:
        syncOptions: [RespectIgnoreDifferences=true]
`);
    const withReplicas = { 'apps/shop/api/deployment.yaml': API_DEPLOYMENT.replace('spec:\n  template:', 'spec:\n  replicas: 1\n  template:') };
    const ok = (await validateAt(await repo({ ...withReplicas, 'clusters/kind/applicationset.yaml': appset }))).findings;
    assert.deepEqual(summary(ok.filter((f) => f.rule === 'hpa-replicas')), []);
    const half = (await validateAt(await repo({ ...withReplicas, 'clusters/kind/applicationset.yaml': appset.replace('RespectIgnoreDifferences=true', 'CreateNamespace=true') }))).findings;
    assert.equal(expectFinding(half, 'hpa-replicas', 'Deployment/shop/shop-api', /RespectIgnoreDifferences/).severity, 'warning');
  });

  test('cluster facts: a claim the cluster cannot serve, a private image without pull credentials and an undeclared node label are reported with file and line; declaring what is used passes', async () => {
    const facts = (rwx: string, labels: string) => `clusters:
  kind:
    storageClasses:
      - {name: standard, accessModes: [ReadWriteOnce], default: true}
      - {name: shared, accessModes: [${rwx}]}
    nodeLabels: {${labels}}
    taints: []
    privateRegistries: [registry.example.com]
`;
    const pinned = API_DEPLOYMENT.replace('    spec:\n      containers:', '    spec:\n      nodeSelector:\n        pool: apps\n      containers:');
    const bad = (await validateAt(await repo({ 'gitops.yaml': goodRepo()['gitops.yaml'] + facts('ReadWriteOnce', ''), 'apps/shop/api/deployment.yaml': pinned }))).findings;
    const pvc = expectFinding(bad, 'pvc-access-mode', 'PersistentVolumeClaim/shop/api-data', /ReadWriteMany, which storage class standard \(the default/);
    assert.deepEqual([pvc.file, pvc.line, pvc.field], ['apps/shop/api/pvc.yaml', 6, 'spec.accessModes']);
    const pull = expectFinding(bad, 'pull-credentials', 'Deployment/shop/shop-api', /registry\.example\.com\/shop-api from registry\.example\.com/);
    assert.deepEqual([pull.file, pull.field], ['apps/shop/api/deployment.yaml', 'spec.template.spec.containers.0.image']);
    expectFinding(bad, 'pull-credentials', 'StatefulSet/shop/shop-web');
    const node = expectFinding(bad, 'node-label', 'Deployment/shop/shop-api', /nodeSelector pool=apps/);
    assert.deepEqual([node.file, node.line], ['apps/shop/api/deployment.yaml', 9]);
    // The fixes: a class that serves the claim, pull credentials, a declared pool label.
    const fixed = await repo({
      'gitops.yaml': goodRepo()['gitops.yaml'] + facts('ReadWriteMany', 'pool: [apps]'),
      'apps/shop/api/deployment.yaml': pinned,
      'apps/shop/api/pvc.yaml': API_PVC.replace('spec:\n', 'spec:\n  storageClassName: shared\n'),
      'overlays/kind/shop/api/kustomization.yaml': 'namespace: shop\nresources:\n  - ../../../../apps/shop/api\n  - externalsecret.yaml\n  - pull.yaml\npatches:\n  - target: {kind: Deployment}\n    patch: |-\n      - {op: add, path: /spec/template/spec/imagePullSecrets, value: [{name: pull}]}\n',
      'overlays/kind/shop/api/pull.yaml': 'apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: pull\nspec:\n  secretStoreRef: {kind: ClusterSecretStore, name: vault}\n  target:\n    name: pull\n    template: {type: kubernetes.io/dockerconfigjson}\n  data:\n    - secretKey: .dockerconfigjson\n      remoteRef: {key: pull, property: .dockerconfigjson}\n',
      // The web app's pods name a ServiceAccount that carries the pull secret.
      'overlays/kind/shop/web/kustomization.yaml': 'namespace: shop\nresources:\n  - ../../../../apps/shop/web\n  - serviceaccount.yaml\npatches:\n  - target: {kind: StatefulSet}\n    patch: |-\n      - {op: add, path: /spec/template/spec/serviceAccountName, value: web}\n',
      'overlays/kind/shop/web/serviceaccount.yaml': 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web\nimagePullSecrets:\n  - name: pull\n',
    });
    const ok = (await validateAt(fixed)).findings;
    assert.deepEqual(summary(errors(ok)), []);
  });

  test('a Secret declared external in gitops.yaml (glob) is not missing; an undeclared one is', async () => {
    const gitops = goodRepo()['gitops.yaml'];
    const fs = (await validateAt(await repo({ 'gitops.yaml': gitops.replace('Secret/shop/api-credentials', 'Secret/shop/api-*') }))).findings;
    assert.deepEqual(summary(fs.filter((f) => f.rule === 'missing-reference')), []);
    const missing = (await validateAt(await repo({ 'gitops.yaml': gitops.replace('    - Secret/shop/api-credentials\n', '    - Secret/other/*\n') }))).findings;
    expectFinding(missing, 'missing-reference', 'Deployment/shop/shop-api', /under external\.kind in gitops\.yaml/);
  });
});

describe('Argo CD rules', () => {
  test('namespace, project, path, claims, template and sync-wave problems are caught', async () => {
    const dir = await repo({
      // A replacement moves one object out of the overlay's namespace; a ClusterRole in an app
      // whose project allows no cluster-scoped kinds.
      'overlays/kind/shop/web/kustomization.yaml': `namespace: shop
resources:
  - ../../../../apps/shop/web
  - clusterrole.yaml
replacements:
  - source: {kind: StatefulSet, name: shop-web, fieldPath: spec.serviceName}
    targets:
      - select: {kind: Service, name: shop-web}
        fieldPaths: [metadata.namespace]
`,
      'overlays/kind/shop/web/clusterrole.yaml': 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: shop-web\nrules: []\n',
      // An overlay without namespace: the ApplicationSet's {{.namespace}} fails (missingkey=error).
      'overlays/kind/shop/worker/kustomization.yaml': 'resources:\n  - configmap.yaml\n',
      'overlays/kind/shop/worker/configmap.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: worker\n',
      // Hand-written Applications: a path that does not exist, an unknown project, and a second
      // Application for the web overlay with another destination namespace.
      'clusters/kind/apps.yaml': [
        application('shop-ghost', 'shop', 'overlays/kind/shop/ghost', 'shop'),
        application('stray', 'nope', 'clusters/kind', 'argocd'),
        application('web-again', 'shop', 'overlays/kind/shop/web', 'web'),
      ].join('---\n'),
      'clusters/kind/kustomization.yaml': goodRepo()['clusters/kind/kustomization.yaml'] + '  - apps.yaml\n',
      // A custom resource before its CRD and Namespace; a Role before its Namespace.
      'clusters/kind/widget.yaml': widget(-2),
      'clusters/kind/role.yaml': role(-3),
    });
    const fs = (await validateAt(dir)).findings;
    assert.ok(!fs.some((f) => f.rule === 'kustomize-build'), summary(fs).join('\n'));
    expectFinding(fs, 'namespace-mismatch', 'Service/shop-web/shop-web', /is not shop/);
    expectFinding(fs, 'cluster-scoped-not-allowed', 'ClusterRole/-/shop-web', /AppProject shop/);
    expectFinding(fs, 'argo-template', 'ApplicationSet/argocd/kind-apps', /template fails for overlays\/kind\/shop\/worker: .*map has no entry for key "namespace"/);
    expectFinding(fs, 'argo-unclaimed', '', /no Application of clusters\/kind deploys overlays\/kind\/shop\/worker/);
    expectFinding(fs, 'argo-unclaimed', '', /overlays\/kind\/shop\/web is deployed by 2 Applications \(shop-web, web-again\)/);
    expectFinding(fs, 'argo-path', 'Application/argocd/shop-ghost', /overlays\/kind\/shop\/ghost does not exist/);
    expectFinding(fs, 'argo-project', 'Application/argocd/stray', /AppProject nope is not rendered/);
    expectFinding(fs, 'argo-namespace', 'Application/argocd/web-again', /destination namespace web is not shop/);
    expectFinding(fs, 'sync-wave-order', 'Widget/widgets/w', /CustomResourceDefinition of Widget/);
    expectFinding(fs, 'sync-wave-order', 'Widget/widgets/w', /Namespace widgets/);
    expectFinding(fs, 'sync-wave-order', 'Role/widgets/reader', /wave -3 is earlier than wave -1 of Namespace widgets/);
    // Findings about an overlay's Application are reported under that overlay, pointing at the ApplicationSet line.
    const ns = expectFinding(fs, 'argo-namespace', 'Application/argocd/web-again');
    assert.equal(ns.overlay, 'overlays/kind/shop/web');
    assert.equal(ns.file, 'clusters/kind/apps.yaml');
  });

  test('a project that does not allow the destination namespace or the repository', async () => {
    const projects = goodRepo()['clusters/kind/appprojects.yaml'];
    const fs = (await validateAt(await repo({ 'clusters/kind/appprojects.yaml': projects.replace("'https://example.com/*'", "'https://example.com/other.git'").replace('namespace: shop}', 'namespace: shop-*}') }))).findings;
    expectFinding(fs, 'argo-project', 'ApplicationSet/argocd/kind-apps', /does not allow source repository/);
    const dest = expectFinding(fs, 'argo-project', 'ApplicationSet/argocd/kind-apps', /does not allow destination https:\/\/kubernetes\.default\.svc namespace shop/);
    assert.equal(dest.file, 'clusters/kind/applicationset.yaml');
  });

  test('CreateNamespace=true needs the project to allow that Namespace by name', async () => {
    const appset = APPLICATIONSET.replace("        namespace: '{{.namespace}}'\n", "        namespace: '{{.namespace}}'\n      syncPolicy:\n        syncOptions: [CreateNamespace=true]\n");
    const projects = (whitelist: string) => goodRepo()['clusters/kind/appprojects.yaml'].replace('  clusterResourceWhitelist: []\n', `  clusterResourceWhitelist: ${whitelist}\n`);
    const none = (await validateAt(await repo({ 'clusters/kind/applicationset.yaml': appset }))).findings;
    const f = expectFinding(none, 'argo-project', 'ApplicationSet/argocd/kind-apps', /CreateNamespace=true creates Namespace shop, which the clusterResourceWhitelist of AppProject shop does not allow/);
    assert.equal(f.file, 'clusters/kind/applicationset.yaml');
    const other = (await validateAt(await repo({ 'clusters/kind/applicationset.yaml': appset, 'clusters/kind/appprojects.yaml': projects("[{group: '', kind: Namespace, name: web}]") }))).findings;
    expectFinding(other, 'argo-project', 'ApplicationSet/argocd/kind-apps', /creates Namespace shop/);
    const named = (await validateAt(await repo({ 'clusters/kind/applicationset.yaml': appset, 'clusters/kind/appprojects.yaml': projects("[{group: '', kind: Namespace, name: shop}]") }))).findings;
    assert.deepEqual(summary(errors(named)), []);
  });

  test('a typo in the generator glob leaves overlays unclaimed: one error per folder', async () => {
    const fs = (await validateAt(await repo({ 'clusters/kind/applicationset.yaml': APPLICATIONSET.replace('*/*/kustomization.yaml', '*/*/kustomisation.yaml') }))).findings;
    const unclaimed = fs.filter((f) => f.rule === 'argo-unclaimed');
    assert.deepEqual(unclaimed.map((f) => [f.severity, f.overlay, f.file]), [
      ['error', 'overlays/kind/shop/api', 'overlays/kind/shop/api/kustomization.yaml'],
      ['error', 'overlays/kind/shop/web', 'overlays/kind/shop/web/kustomization.yaml'],
    ]);
    assert.match(unclaimed[0].message, /generator globs \(a typo silently drops the app\)/);
  });

  test('a git directories generator: exclude wins, and the generated apps claim each overlay once', async () => {
    const dirsGen = APPLICATIONSET.replace('        files:\n          - path: overlays/kind/*/*/kustomization.yaml', '        directories:\n          - path: overlays/kind/*/*\n          - path: overlays/kind/shop/web\n            exclude: true')
      .replace("namespace: '{{.namespace}}'", "namespace: '{{index .path.segments 2}}'");
    const fs = (await validateAt(await repo({ 'clusters/kind/applicationset.yaml': dirsGen }))).findings;
    assert.deepEqual(summary(fs.filter((f) => f.rule.startsWith('argo-'))), ['argo-unclaimed overlays/kind/shop/web']);
  });

  test('kustomize.buildOptions of argocd-cm pass an allowlist: a refused option is a finding at its line and never reaches kustomize', async () => {
    const cm = goodRepo()['clusters/kind/argocd-cm.yaml'];
    const line = cm.split('\n').findIndex((l) => l.includes('kustomize.buildOptions')) + 1;
    const bad = (await validateAt(await repo({ 'clusters/kind/argocd-cm.yaml': cm.replace('--load-restrictor LoadRestrictionsRootOnly', '--no-such-flag') }))).findings;
    const refused = expectFinding(bad, 'build-option', 'ConfigMap/argocd/argocd-cm', /option '--no-such-flag' is refused/);
    assert.deepEqual([refused.file, refused.line], ['clusters/kind/argocd-cm.yaml', line]);
    assert.ok(!bad.some((f) => f.rule === 'kustomize-build'), summary(bad).join('\n')); // kustomize never saw it
    // An overlay reading a file outside its folder does not render, and relaxing the load restrictor is refused.
    const outside = { 'overlays/kind/shop/web/kustomization.yaml': 'namespace: shop\nresources:\n  - ../../../../apps/shop/web\n  - ../../../../apps/shop/web/extra.yaml\n', 'apps/shop/web/extra.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n' };
    const strict = (await validateAt(await repo(outside))).findings;
    expectFinding(strict, 'kustomize-build', '', /is not in or below/);
    const relaxed = (await validateAt(await repo({ ...outside, 'clusters/kind/argocd-cm.yaml': cm.replace('LoadRestrictionsRootOnly', 'LoadRestrictionsNone') }))).findings;
    expectFinding(relaxed, 'build-option', 'ConfigMap/argocd/argocd-cm', /'--load-restrictor LoadRestrictionsNone' is refused/);
    expectFinding(relaxed, 'kustomize-build', '', /is not in or below/);
  });
});

describe('one repository URL (clusters/components/repository)', () => {
  test('a fork changes one file: every Argo CD object follows, validate stays clean and checks the fork', async () => {
    const fork = await mkdtemp(path.join(os.tmpdir(), 'gitops-fork-'));
    dirs.push(fork);
    for (const d of ['apps', 'overlays', 'clusters', 'gitops.yaml', '.gitignore']) await cp(path.join(REPO_ROOT, d), path.join(fork, d), { recursive: true, filter: (src) => !/(^|\/)secret\.env$/.test(src) });
    const file = path.join(fork, 'clusters/components/repository/repository.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('https://github.com/crianex/gitops.git', 'https://github.com/someone/gitops-fork.git'));
    await gitInit(fork);
    const r = await validateAt(fork);
    assert.deepEqual(summary(errors(r.findings)), []);
    const urls = new Set<string>();
    for (const t of r.rendered.filter((x) => x.target.kind === 'cluster')) {
      for (const o of t.objects) {
        const spec = o.spec as { sourceRepos?: string[]; source?: { repoURL?: string }; generators?: Array<{ git?: { repoURL?: string } }>; template?: { spec?: { source?: { repoURL?: string } } } } | undefined;
        [...(spec?.sourceRepos ?? []), spec?.source?.repoURL, spec?.generators?.[0]?.git?.repoURL, spec?.template?.spec?.source?.repoURL].forEach((u) => u && urls.add(u));
      }
    }
    assert.deepEqual([...urls], ['https://github.com/someone/gitops-fork.git']);
    // validate still checks the URL: a toolkit told another repository finds no overlay deployed.
    await writeFile(path.join(fork, 'gitops.yaml'), `repoURL: https://github.com/crianex/gitops.git\n${await readFile(path.join(fork, 'gitops.yaml'), 'utf8')}`);
    const wrong = await validateAt(fork);
    expectFinding(wrong.findings, 'argo-unclaimed', '', /no Application of clusters\/minikube deploys overlays\/minikube\/todo-chatbot\/frontend/);
  });
});

describe('changes against a base revision', () => {
  const kustomization = goodRepo()['apps/shop/api/kustomization.yaml'];

  test('immutable-field: a Deployment selector changed between two commits', async () => {
    const dir = await repo();
    const base = gitInit(dir);
    // A new selector label (includeSelectors) and a new StatefulSet serviceName.
    await writeFiles(dir, {
      'apps/shop/api/kustomization.yaml': kustomization.replace('      app: shop-api\n', '      app: shop-api\n      tier: backend\n'),
      'apps/shop/web/statefulset.yaml': goodRepo()['apps/shop/web/statefulset.yaml'].replace('serviceName: shop-web', 'serviceName: shop-web-headless'),
      'apps/shop/web/service.yaml': goodRepo()['apps/shop/web/service.yaml'].replace('name: shop-web', 'name: shop-web-headless'),
      'apps/shop/web/ingressroute.yaml': WEB_ROUTE.replace('- name: shop-web', '- name: shop-web-headless'),
    });
    commitAll(dir, 'new selector');
    const fs = (await validateAt(dir, { base })).findings;
    const sel = expectFinding(fs, 'immutable-field', 'Deployment/shop/shop-api', /Replace=true/);
    assert.equal(sel.field, 'spec.selector');
    assert.equal(sel.severity, 'error');
    assert.match(sel.message, /new name/);
    expectFinding(fs, 'immutable-field', 'StatefulSet/shop/shop-web', /spec\.serviceName changed/);
    // The temporary worktree is gone.
    assert.equal(git(dir, 'worktree', 'list').trim().split('\n').length, 1);
    // With Replace=true on the object, the change is expected.
    await writeFiles(dir, { 'apps/shop/api/deployment.yaml': API_DEPLOYMENT.replace('  name: shop-api\n', '  name: shop-api\n  annotations:\n    argocd.argoproj.io/sync-options: Replace=true\n') });
    const replaced = (await validateAt(dir, { base })).findings;
    assert.ok(!replaced.some((f) => f.rule === 'immutable-field' && f.resource === 'Deployment/shop/shop-api'));
  });

  test('immutable-field: a mutable change passes', async () => {
    const dir = await repo();
    const base = gitInit(dir);
    await writeFiles(dir, { 'apps/shop/api/hpa.yaml': API_HPA.replace('maxReplicas: 3', 'maxReplicas: 4') });
    commitAll(dir, 'scale');
    const fs = (await validateAt(dir, { base })).findings;
    assert.deepEqual(summary(errors(fs)), []);
  });

  test('--changed-only validates just the overlays whose files changed (untracked files count)', async () => {
    const dir = await repo();
    gitInit(dir);
    git(dir, 'checkout', '-q', '-b', 'feature');
    await writeFiles(dir, { 'apps/shop/api/pvc.yaml': API_PVC.replace('1Gi', '2Gi') });
    commitAll(dir, 'bigger volume');
    // Default base: the merge base with main.
    const r = await validateAt(dir, { changedOnly: true });
    assert.deepEqual(r.targets.map((t) => t.dir), ['overlays/kind/shop/api']);
    // A new file in the web base (untracked, not yet referenced) does not touch any closure...
    await writeFiles(dir, { 'apps/shop/web/notes.txt': 'x' });
    assert.deepEqual((await validateAt(dir, { changedOnly: true })).targets.map((t) => t.dir), ['overlays/kind/shop/api']);
    // ...until the kustomization reads it; a cluster entry point file counts too.
    await writeFiles(dir, { 'apps/shop/web/extra.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-extra\n', 'apps/shop/web/kustomization.yaml': goodRepo()['apps/shop/web/kustomization.yaml'] + '  - extra.yaml\n', 'clusters/kind/role.yaml': role(1) });
    const all = await validateAt(dir, { changedOnly: true });
    assert.deepEqual(all.targets.map((t) => t.dir).sort(), ['clusters/kind', 'overlays/kind/shop/api', 'overlays/kind/shop/web']);
    assert.deepEqual(summary(errors(all.findings)), []);
  });

  test('changedFiles and affectedTargets are reusable on their own', async () => {
    const dir = await repo();
    const base = gitInit(dir);
    await writeFiles(dir, { 'apps/shop/api/ingress.yaml': API_INGRESS.replace('/api', '/v2'), 'gitops.yaml': null });
    await writeFiles(dir, { 'new.txt': 'x' });
    assert.deepEqual(await changedFiles(dir, base), ['apps/shop/api/ingress.yaml', 'gitops.yaml', 'new.txt']);
    await writeFiles(dir, { 'gitops.yaml': goodRepo()['gitops.yaml'] });
    const config = await loadConfig(dir, testEnv);
    const targets = [...appTargets(await discoverApps(config)), ...clusterTargets(config, config.environments)];
    assert.deepEqual((await affectedTargets(config, targets, await changedFiles(dir, base))).map((t) => t.dir), ['overlays/kind/shop/api']);
    assert.equal((await affectedTargets(config, targets, ['gitops.yaml'])).length, 3);
  });

  test('without --base, a repository with no default branch fails with a clear message', async () => {
    const dir = await repo();
    gitInit(dir);
    git(dir, 'branch', '-m', 'main', 'trunk');
    await assert.rejects(validateAt(dir, { changedOnly: true }), (e: Error) => e instanceof UsageError && /neither origin\/main nor main/.test(e.message));
    await assert.rejects(validateAt(dir, { base: 'no-such-ref' }), (e: Error) => e instanceof UsageError && /--base no-such-ref: no such commit/.test(e.message));
  });
});
