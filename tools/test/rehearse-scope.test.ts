// The sync rehearsal's scope and add-ons: `--app` creates only that Application (the
// ApplicationSet's other overlays are excluded from its generator), `--shard i/n` + `--merge`
// give the same Application results as one run, and the metrics add-on stand-in lets the real
// HPA controller read metrics (named simulated in the report). One small fixture repository: an
// ApplicationSet (git files generator, as this repository's) making two Applications, one with
// an HPA. Four rehearsals (full, --app, two shards), one at a time.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { REPO_ROOT } from '../lib/core/tools.js';
import path from 'node:path';
import { podUsage, parseQuantity, type Hpa } from '../lib/server/metricsaddon.js';
import { scopeEntryObjects, shardApps, type AppReport, type RehearsalResult } from '../lib/server/rehearsal.js';
import { mergeRehearsals, rehearse } from '../commands/rehearse.js';
import type { AppOverlay } from '../lib/config/apps.js';
import type { Finding } from '../lib/core/finding.js';
import { rehearsalSection } from '../lib/report/prreport.js';
import { rehearsalSkip } from './harness/rehearsal.js';
import { gitInit, makeRepo, removeRepo, testEnv } from './fixtures.js';
import { CRD_MIRROR } from './repo-fixture.js';
import { capture, finishFixture, startReleaseFixture } from './release-fixture.js';
import { scale } from '../commands/scale.js';

const { skip, missing } = await rehearsalSkip(testEnv);

const GITOPS = `repoURL: https://git.example.com/fixture.git
environments:
  - name: dev
    cluster: minikube
    overlayRoot: overlays/minikube
kubernetes:
  version: 1.35.0
clusters:
  minikube:
    apiServer:
      crds:
        - {name: argo-cd, version: v3.5.0}
    nodes:
      - {name: small, count: 1, cpu: "2", memory: 4Gi}
    rehearsal:
      addons: [metrics]
      timeoutSeconds: 120
      healthGraceSeconds: 25
`;

const APPSET = `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: fx
  namespace: argocd
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
    - git:
        repoURL: https://git.example.com/fixture.git
        revision: main
        files:
          - path: overlays/minikube/fx/*/kustomization.yaml
  template:
    metadata:
      name: 'fx-{{index .path.segments 3}}'
    spec:
      project: default
      source:
        repoURL: https://git.example.com/fixture.git
        targetRevision: main
        path: '{{.path.path}}'
      destination:
        server: https://kubernetes.default.svc
        namespace: 'fx-{{index .path.segments 3}}'
      syncPolicy:
        automated: {prune: true, selfHeal: true}
        syncOptions: [CreateNamespace=true]
`;

const deployment = (name: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}}
spec:
  replicas: 1
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers:
        - name: main
          image: registry.example.com/${name}:1.0.0
          resources: {requests: {cpu: 100m, memory: 64Mi}}
`;

const FILES: Record<string, string> = {
  'gitops.yaml': GITOPS,
  'clusters/minikube/kustomization.yaml': 'resources: [appset.yaml]\n',
  'clusters/minikube/appset.yaml': APPSET,
  'overlays/minikube/fx/web/kustomization.yaml': 'namespace: fx-web\nresources: [deployment.yaml, hpa.yaml]\n',
  'overlays/minikube/fx/web/deployment.yaml': deployment('web'),
  'overlays/minikube/fx/web/hpa.yaml': `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 3
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
`,
  'overlays/minikube/fx/api/kustomization.yaml': 'namespace: fx-api\nresources: [deployment.yaml]\n',
  'overlays/minikube/fx/api/deployment.yaml': deployment('api'),
};

type Doc = { findings: Finding[]; rehearsal: RehearsalResult };

describe('rehearsal scope, shards and the metrics add-on', { skip }, () => {
  let dir = '';
  let out = '';
  const runs: Record<string, Doc> = {};
  /** `npm run rehearse -- --format json` (its report is written before a FindingsError). */
  const run = async (label: string, opts: { app?: string; shard?: { index: number; count: number } }): Promise<Doc> => {
    let text = '';
    await rehearse({ cwd: dir, base: 'HEAD', envVars: testEnv, format: 'json', write: (t) => (text = t), log: (l) => process.stderr.write(`${label}: ${l}\n`), ...opts }).catch((e: Error) => {
      if (!text) throw e;
    });
    await writeFile(path.join(out, `${label}.json`), text);
    return (runs[label] = JSON.parse(text) as Doc);
  };
  const apps = (d: Doc): AppReport[] => d.rehearsal.clusters.flatMap((c) => c.apps);
  const results = (d: Doc) => apps(d).map((a) => `${a.cluster}/${a.name}: ${a.sync.status} ${a.health.status} ${a.operation?.phase ?? 'no sync'}`).sort();

  before(async () => {
    assert.ok(!missing, `CI=true and ${missing}: npm run setup -- --rehearse must build them`);
    dir = await makeRepo(FILES);
    gitInit(dir, 'fixture');
    out = await mkdtemp(path.join(os.tmpdir(), 'rehearse-scope-'));
  });
  after(async () => {
    if (dir) await removeRepo(dir);
    if (out) await rm(out, { recursive: true, force: true });
  });

  test('the whole repository: both Applications; the HPA reads the simulated metrics API', async () => {
    const d = await run('full', {});
    assert.deepEqual(results(d), ['minikube/fx-api: Synced Healthy Succeeded', 'minikube/fx-web: Synced Healthy Succeeded'], JSON.stringify(d.findings, null, 2));
    const sim = d.findings.filter((f) => f.rule === 'rehearsal-simulated' && f.resource === 'HorizontalPodAutoscaler/fx-web/web');
    assert.equal(sim.length, 1, JSON.stringify(d.findings, null, 2));
    assert.equal(sim[0].message, "minikube: Application fx-web: simulated: its metrics come from a simulated metrics API (gitops.yaml clusters.minikube.rehearsal.addons: metrics): each Pod reports the HPA's target, so the real HPA controller reads metrics but neither scales up nor down");
    assert.ok(!d.findings.some((f) => f.rule === 'rehearsal-scope'));
  });

  test('--app: only that Application is created and synced; the report names what it skipped', async () => {
    const d = await run('app', { app: 'fx/api' });
    // The report lists every Application the simulated cluster holds: fx-web never existed.
    assert.deepEqual(results(d), ['minikube/fx-api: Synced Healthy Succeeded']);
    assert.deepEqual(d.rehearsal.clusters[0].excluded, ['overlays/minikube/fx/web']);
    const scope = d.findings.filter((f) => f.rule === 'rehearsal-scope');
    assert.deepEqual(scope.map((f) => f.message), ["minikube: not rehearsed, outside the selection and never created in the simulated cluster: the Applications of overlays/minikube/fx/web (excluded from the ApplicationSets' git generators)"]);
    assert.ok(!d.findings.some((f) => f.message.includes('fx-web:')));
  });

  test('--shard 1/2 and 2/2, merged: the same Application results as one run, and what a shard cannot see', async () => {
    const one = await run('shard-1', { shard: { index: 1, count: 2 } });
    const two = await run('shard-2', { shard: { index: 2, count: 2 } });
    // Sorted by folder: api, then web.
    assert.deepEqual(apps(one).map((a) => a.name), ['fx-api']);
    assert.deepEqual(apps(two).map((a) => a.name), ['fx-web']);
    assert.match(one.findings[0].message, /^shard 1\/2: 1 of 2 Applications \(minikube:overlays\/minikube\/fx\/api\); node capacity is per shard: the Pods of other shards' Applications are not on its simulated nodes/);
    let text = '';
    const merged = await mergeRehearsals({ cwd: out, files: ['shard-1.json', 'shard-2.json'], format: 'json', write: (t) => (text = t) });
    const doc = JSON.parse(text) as Doc;
    assert.deepEqual(results(doc), results(runs.full));
    const per = (d: Doc) => d.findings.filter((f) => f.rule === 'rehearsal-sync' || f.rule === 'rehearsal-simulated').map((f) => `${f.rule} ${f.resource}`).sort();
    assert.deepEqual(per(doc), per(runs.full));
    assert.equal(merged.findings[0].rule, 'rehearsal-scope');
    assert.match(merged.findings[0].message, /^merged from 2 shard reports: 2 of 2 Applications rehearsed; each shard ran its own simulated clusters, so node capacity shared by Applications of different shards/);
    // The PR comment says it too.
    assert.match(rehearsalSection(merged.findings).join('\n'), /^Scope: `merged from 2 shard reports: 2 of 2 Applications rehearsed;/m);
    // Nothing one shard skipped is left "skipped" when the other rehearsed it.
    assert.deepEqual(doc.rehearsal.clusters[0].excluded, []);
    // A missing shard is an error.
    await assert.rejects(mergeRehearsals({ cwd: out, files: ['shard-1.json'], format: 'json', write: (t) => (text = t) }), /sync rehearsal failed: 1 error/);
    assert.match(text, /shards 2 of 2 missing/);
  });
});

describe('a release dry run rehearses its edit', { skip }, () => {
  test('scale --dry-run --rehearse: the edited Application alone, synced by the real Argo CD; the report follows the dry run', { timeout: 600_000 }, async () => {
    const f = await startReleaseFixture({ files: FILES });
    try {
      const refs = await f.remoteRefs();
      const c = capture();
      const r = await scale({ cwd: f.work, app: 'fx/api', env: 'dev', replicas: 2, dryRun: true, rehearse: true, envVars: { ...f.envVars, ...(CRD_MIRROR ? { GITOPS_CRD_MIRROR: CRD_MIRROR } : {}) }, log: c.log, write: c.write });
      assert.equal(r.status, 'dry-run');
      const out = c.out.join('\n');
      assert.match(out, /dry run: nothing was committed, pushed or opened\n\nsync rehearsal of the edit \(the real Argo CD, a simulated minikube\):\n/, out);
      assert.match(out, /minikube: Application fx-api: sync Succeeded \("successfully synced \(all tasks run\)"\); Synced at [0-9a-f]{7}; health Healthy\. Ran: Sync wave 0: Deployment\/api Synced/, out);
      assert.doesNotMatch(out, /Application fx-web:/);
      // Still a dry run: nothing pushed.
      assert.deepEqual(await f.remoteRefs(), refs);
    } finally {
      await finishFixture(f);
    }
  });
});

describe('scope, shards and the metrics stand-in: the pure parts', () => {
  const overlay = (cluster: string, dir: string) => ({ dir, env: { cluster } }) as unknown as AppOverlay;

  test('shards are contiguous runs by cluster then folder, covering every Application once', () => {
    const all = [overlay('b', 'o/b/2'), overlay('a', 'o/a/1'), overlay('b', 'o/b/1'), overlay('a', 'o/a/2'), overlay('a', 'o/a/3')];
    const parts = [1, 2, 3].map((index) => shardApps(all, { index, count: 3 }).map((a) => a.dir));
    assert.deepEqual(parts, [['o/a/1', 'o/a/2'], ['o/a/3', 'o/b/1'], ['o/b/2']]);
    assert.deepEqual(shardApps(all.slice(0, 1), { index: 2, count: 2 }), []);
  });

  test('an entry point narrowed to the selection: other Applications left out, git generators exclude the other overlays', () => {
    const objects = [
      { apiVersion: 'argoproj.io/v1alpha1', kind: 'AppProject', metadata: { name: 'p' } },
      { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: { name: 'root' }, spec: { source: { path: 'clusters/c' } } },
      { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: { name: 'mine' }, spec: { source: { path: './o/a/1/' } } },
      { apiVersion: 'argoproj.io/v1alpha1', kind: 'ApplicationSet', metadata: { name: 's' }, spec: { generators: [{ git: { files: [{ path: 'o/*/kustomization.yaml' }] } }, { matrix: { generators: [{ git: { directories: [{ path: 'o/*' }] } }] } }] } },
    ];
    const r = scopeEntryObjects(objects, new Set(['o/a/1']), ['o/a/2']);
    assert.deepEqual(r.skipped, [{ name: 'root', path: 'clusters/c' }]);
    assert.deepEqual(r.objects.map((o) => o.metadata?.name), ['p', 'mine', 's']);
    const gens = (r.objects[2].spec as { generators: Array<Record<string, unknown>> }).generators;
    assert.deepEqual(gens[0], { git: { files: [{ path: 'o/*/kustomization.yaml' }, { path: 'o/a/2/*', exclude: true }] } });
    assert.deepEqual(gens[1], { matrix: { generators: [{ git: { directories: [{ path: 'o/*' }, { path: 'o/a/2', exclude: true }] } }] } });
    // The input is not changed (the entry point's objects are reused).
    assert.equal((objects[3].spec as { generators: Array<{ git?: { files: unknown[] } }> }).generators[0].git!.files.length, 1);
  });

  test('the command line: --shard i/n checked, --merge needs the shard reports', () => {
    const cli = (args: string[]) => spawnSync('npx', ['tsx', path.join(REPO_ROOT, 'tools', 'cli.ts'), 'rehearse', ...args], { cwd: REPO_ROOT, env: testEnv, encoding: 'utf8', timeout: 60_000 });
    const bad = cli(['--shard', '3/2']);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /--shard must be i\/n with 1 <= i <= n \(got '3\/2'\)/);
    const merge = cli(['--merge']);
    assert.equal(merge.status, 2, merge.stderr);
    assert.match(merge.stderr, /rehearse --merge takes the JSON reports of the shards/);
  });

  test("the stand-in's usage puts each metric on the HPA's target", () => {
    assert.equal(parseQuantity('250m'), 0.25);
    assert.equal(parseQuantity('64Mi'), 64 * 2 ** 20);
    assert.equal(parseQuantity('1.5'), 1.5);
    assert.equal(parseQuantity('1e3'), 1000);
    assert.equal(parseQuantity('x'), undefined);
    const hpa = (metrics: unknown[]) => ({ metadata: { name: 'h', namespace: 'n' }, spec: { scaleTargetRef: { kind: 'Deployment', name: 'd' }, metrics } }) as Hpa;
    const pod = { spec: { containers: [{ name: 'a', resources: { requests: { cpu: '100m', memory: '100Mi' } } }, { name: 'b', resources: { requests: { cpu: '300m', memory: '100Mi' } } }] } };
    const u = podUsage(hpa([{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }, { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '100Mi' } } }]), pod);
    assert.ok(Math.abs(u[0].usage.cpu - 0.07) < 1e-9 && Math.abs(u[1].usage.cpu - 0.21) < 1e-9);
    assert.deepEqual(u.map((c) => c.usage.memory), [50 * 2 ** 20, 50 * 2 ** 20]);
    const c = podUsage(hpa([{ type: 'ContainerResource', containerResource: { name: 'cpu', container: 'b', target: { type: 'Utilization', averageUtilization: 50 } } }]), pod);
    // Not targeted: half the request.
    assert.deepEqual(c.map((x) => +x.usage.cpu.toFixed(3)), [0.05, 0.15]);
  });
});
