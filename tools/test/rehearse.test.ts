// The sync rehearsal (npm run rehearse) with the real binaries: one fixture repository whose
// Applications each break in a way only a sync shows (the dry run passes them, but for the
// privileged container), rehearsed once: one simulated cluster and one Argo CD for the whole
// file (starting them costs about 40 s). The base revision has a claim in use that the change
// deletes; the change adds the other cases.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import { rehearse, type RehearsalResult } from '../lib/server/rehearsal.js';
import { reapStale } from '../lib/server/rundir.js';
import { rehearsalSection } from '../lib/report/prreport.js';
import { rehearsalSkip } from './harness/rehearsal.js';
import { formatSarif } from '../lib/report/report.js';
import type { Finding } from '../lib/core/finding.js';
import { commitAll, gitInit, makeRepo, removeRepo, testEnv, writeFiles } from './fixtures.js';

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
    storageClasses:
      - {name: standard, accessModes: [ReadWriteOnce], default: true}
    apiServer:
      # No --allow-privileged: the cluster forbids privileged containers.
      crds:
        - {name: argo-cd, version: v3.5.0}
    nodes:
      - {name: small, count: 1, cpu: "2", memory: 4Gi}
    rehearsal:
      timeoutSeconds: 100
      healthGraceSeconds: 5
`;

function app(name: string, dir: string, ns: string): string {
  return `---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: ${name}
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://git.example.com/fixture.git
    targetRevision: main
    path: ${dir}
  destination:
    server: https://kubernetes.default.svc
    namespace: ${ns}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    syncOptions: [CreateNamespace=true]
`;
}

function kustomization(ns: string | undefined, files: string[]): string {
  return `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
${ns ? `namespace: ${ns}\n` : ''}resources:
${files.map((f) => `  - ${f}`).join('\n')}
`;
}

function deployment(name: string, pod: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: 1
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
${pod}
`;
}

const CONTAINER = (extra = '', requests = '{cpu: 10m, memory: 16Mi}') => `      containers:
        - name: main
          image: registry.example.com/app:1.0.0
          resources: {requests: ${requests}}${extra}`;

/** Base: one app with a claim its Deployment mounts. */
const BASE: Record<string, string> = {
  'gitops.yaml': GITOPS,
  'clusters/minikube/kustomization.yaml': kustomization(undefined, ['apps.yaml']),
  'clusters/minikube/apps.yaml': app('fx-prune', 'overlays/minikube/fx/prune', 'fx-prune'),
  'overlays/minikube/fx/prune/kustomization.yaml': kustomization('fx-prune', ['pvc.yaml', 'deployment.yaml']),
  'overlays/minikube/fx/prune/pvc.yaml': `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
`,
  'overlays/minikube/fx/prune/deployment.yaml': deployment('db', `${CONTAINER()}
      volumes:
        - name: data
          persistentVolumeClaim: {claimName: data}`),
};

/** The change: the claim leaves git (its Deployment still mounts it), five broken apps arrive. */
const CHANGE: Record<string, string | null> = {
  'overlays/minikube/fx/prune/pvc.yaml': null,
  'overlays/minikube/fx/prune/kustomization.yaml': kustomization('fx-prune', ['deployment.yaml']),
  'clusters/minikube/apps.yaml': [
    app('fx-prune', 'overlays/minikube/fx/prune', 'fx-prune'),
    app('fx-nofit', 'overlays/minikube/fx/nofit', 'fx-nofit'),
    app('fx-hook', 'overlays/minikube/fx/hook', 'fx-hook'),
    app('fx-privileged', 'overlays/minikube/fx/privileged', 'fx-privileged'),
    app('fx-fight-a', 'overlays/minikube/fx/fight-a', 'fx-shared'),
    app('fx-fight-b', 'overlays/minikube/fx/fight-b', 'fx-shared'),
    app('fx-waves', 'overlays/minikube/fx/waves', 'fx-waves'),
  ].join(''),
  // 1. More cpu than any node has.
  'overlays/minikube/fx/nofit/kustomization.yaml': kustomization('fx-nofit', ['deployment.yaml']),
  'overlays/minikube/fx/nofit/deployment.yaml': deployment('big', CONTAINER('', '{cpu: "16", memory: 16Mi}')),
  // 2. A PreSync hook whose Job's Pod no node can take (a node label no node has): it hits its deadline.
  'overlays/minikube/fx/hook/kustomization.yaml': kustomization('fx-hook', ['job.yaml', 'deployment.yaml']),
  'overlays/minikube/fx/hook/job.yaml': `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    argocd.argoproj.io/hook: PreSync
spec:
  activeDeadlineSeconds: 5
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      nodeSelector: {pool: migrations}
${CONTAINER()}
`,
  'overlays/minikube/fx/hook/deployment.yaml': deployment('web', CONTAINER()),
  // 3. A privileged container on a cluster without --allow-privileged.
  'overlays/minikube/fx/privileged/kustomization.yaml': kustomization('fx-privileged', ['deployment.yaml']),
  'overlays/minikube/fx/privileged/deployment.yaml': deployment('dind', CONTAINER(`
          securityContext: {privileged: true}`)),
  // 4. Two Applications rendering the same ConfigMap.
  'overlays/minikube/fx/fight-a/kustomization.yaml': kustomization('fx-shared', ['configmap.yaml']),
  'overlays/minikube/fx/fight-a/configmap.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {owner: a}\n',
  'overlays/minikube/fx/fight-b/kustomization.yaml': kustomization('fx-shared', ['configmap.yaml']),
  'overlays/minikube/fx/fight-b/configmap.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {owner: b}\n',
  // 5. Wave 0 runs as a ServiceAccount that wave 1 creates: the Pods are refused, wave 1 never comes.
  'overlays/minikube/fx/waves/kustomization.yaml': kustomization('fx-waves', ['deployment.yaml', 'serviceaccount.yaml']),
  'overlays/minikube/fx/waves/deployment.yaml': deployment('web', `      serviceAccountName: runner
${CONTAINER()}`),
  'overlays/minikube/fx/waves/serviceaccount.yaml': 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: runner\n  annotations:\n    argocd.argoproj.io/sync-wave: "1"\n',
};

let dir = '';
let result: RehearsalResult;
const find = (rule: string, app: string): Finding[] => result.findings.filter((f) => f.rule === rule && f.message.includes(`Application ${app}:`));

describe('sync rehearsal', { skip }, () => {
  before(async () => {
    assert.ok(!missing, `CI=true and ${missing}: npm run setup -- --rehearse must build them`);
    dir = await makeRepo(BASE);
    const base = gitInit(dir, 'base');
    await writeFiles(dir, CHANGE);
    commitAll(dir, 'change');
    result = await rehearse({ cwd: dir, base, envVars: testEnv, log: (l) => process.stderr.write(`${l}\n`) });
  });
  after(async () => {
    if (dir) await removeRepo(dir);
  });

  test('a Pod that fits no node: the scheduler\'s reason', () => {
    const f = find('rehearsal-unschedulable', 'fx-nofit');
    assert.equal(f.length, 1, JSON.stringify(result.findings, null, 2));
    assert.match(f[0].resource, /^Pod\/fx-nofit\/big-/);
    assert.match(f[0].message, /the scheduler cannot place this Pod .*0\/1 nodes are available: 1 Insufficient cpu/);
    assert.equal(f[0].severity, 'error');
    assert.equal(f[0].file, 'overlays/minikube/fx/nofit/kustomization.yaml');
  });

  test('a PreSync hook that fails: Argo CD fails the sync, with the Job\'s reason', () => {
    const mine = result.findings.filter((f) => f.message.includes('Application fx-hook:'));
    // Argo CD retries the sync (recreating the hook), so the hook is seen Failed or its Job's event says why.
    const reason = mine.filter((f) => (f.rule === 'rehearsal-hook-failed' && /PreSync hook Job\/migrate \(wave 0\) failed: .*deadline/i.test(f.message)) || (f.rule === 'rehearsal-event' && /DeadlineExceeded: Job was active longer than specified deadline/.test(f.message)));
    const failed = find('rehearsal-sync-failed', 'fx-hook')[0]?.message ?? '';
    assert.match(failed, /Argo CD's sync (failed|keeps failing \(retry \d+\))/);
    // KNOWN GAP: under load the report can be taken while Argo CD has already recreated the hook,
    // so the first Job's deadline is not always seen; the retried sync failure is then the finding.
    assert.ok(reason.length >= 1 || /keeps failing \(retry \d+\)/.test(failed), JSON.stringify(mine, null, 2));
    // The Deployment after the hook never ran.
    assert.ok(!result.clusters[0].apps.find((a) => a.name === 'fx-hook')!.tasks.some((t) => t.kind === 'Deployment' && t.status === 'Synced'));
  });

  test('a privileged container on a cluster that forbids it', () => {
    const f = find('rehearsal-sync-failed', 'fx-privileged');
    assert.ok(f.length >= 1, JSON.stringify(result.findings.filter((x) => x.message.includes('fx-privileged')), null, 2));
    assert.ok(f.some((x) => /securityContext\.privileged: Forbidden: disallowed by cluster policy/.test(x.message)));
  });

  test('a prune of an object still in use stays Terminating', () => {
    const f = find('rehearsal-prune-in-use', 'fx-prune');
    assert.equal(f.length, 1, JSON.stringify(result.findings.filter((x) => x.message.includes('fx-prune')), null, 2));
    assert.equal(f[0].resource, 'PersistentVolumeClaim/fx-prune/data');
    assert.match(f[0].message, /pruned, but still in use: it stays Terminating \(finalizers: [^)]*kubernetes\.io\/pvc-protection/);
  });

  test('two Applications fighting over one object', () => {
    const f = [...find('rehearsal-shared-resource', 'fx-fight-a'), ...find('rehearsal-shared-resource', 'fx-fight-b')];
    assert.ok(f.length >= 1, JSON.stringify(result.findings.filter((x) => x.message.includes('fx-fight')), null, 2));
    assert.match(f[0].message, /two Applications manage the same object: .*ConfigMap\/shared is part of applications argocd\/fx-fight-[ab] and (argocd\/)?fx-fight-[ab]/);
  });

  test('a wrong sync-wave order: wave 0 waits forever for what wave 1 creates', () => {
    const stuck = result.findings.filter((f) => f.message.includes('Application fx-waves:') && (f.rule === 'rehearsal-timeout' || f.rule === 'rehearsal-event'));
    assert.ok(stuck.some((f) => f.rule === 'rehearsal-timeout' && /waiting for healthy state of apps\/Deployment\/web/.test(f.message)), JSON.stringify(result.findings.filter((x) => x.message.includes('fx-waves')), null, 2));
    assert.ok(stuck.some((f) => f.rule === 'rehearsal-event' && /FailedCreate: .*serviceaccount "runner" not found/.test(f.message)));
  });

  test('every finding reaches SARIF and the PR comment', () => {
    const sarif = JSON.parse(formatSarif(result.findings)) as { runs: Array<{ results: Array<{ ruleId: string }> }> };
    assert.ok(sarif.runs[0].results.some((r) => r.ruleId === 'rehearsal-unschedulable'));
    const md = rehearsalSection(result.findings).join('\n');
    assert.match(md, /## Sync rehearsal/);
    assert.match(md, /minikube\/fx-nofit/);
    assert.match(md, /rehearsal-prune-in-use/);
  });

  test('nothing is left running and the run folder is gone', () => {
    const left = readdirSync(os.tmpdir()).filter((n) => n.startsWith(`gitops-rehearse-${process.pid}-`));
    assert.deepEqual(left, []);
    for (const c of result.clusters) assert.ok(c.timings.upMs > 0 && c.timings.argoUpMs > 0);
    // Every child was its own process group but still our child: none is left.
    // (tsx's esbuild and the shared kustomize-renderer are long-lived by design: not ours.)
    const ours = /\b(etcd|kube-apiserver|kube-controller|kube-scheduler|kwok|argocd.*|redis-server|git-daemon)$/;
    const children = execFileSync('ps', ['--ppid', String(process.pid), '-o', 'pid=,comm='], { encoding: 'utf8' }).split('\n').map((l) => l.trim()).filter((l) => ours.test(l));
    assert.deepEqual(children, []);
  });

  test('every process of the simulated cluster and Argo CD listened on 127.0.0.1 only', () => {
    // Read from /proc while they ran: Argo CD's controller, unpatched, binds its metrics on every interface.
    for (const c of result.clusters) assert.deepEqual(c.exposed, [], c.cluster);
    assert.deepEqual(result.findings.filter((f) => f.rule === 'rehearsal-exposed'), []);
  });
});

describe('a killed rehearsal is reaped by the next', () => {
  test('SIGKILL leaves processes; reapStale ends them and removes the run folder', async () => {
    // A stand-in owner: a node process that makes a run folder, starts a long child in it, and is SIGKILLed.
    const script = `import { RunDir } from ${JSON.stringify(new URL('../lib/server/rundir.ts', import.meta.url).pathname)};
const r = await RunDir.create();
const s = r.spawn('sleeper', '/bin/sleep', ['600']);
process.stdout.write(r.dir + ' ' + s.child.pid + '\\n');
setInterval(() => {}, 1000);`;
    const owner = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      owner.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
      owner.once('exit', (c) => reject(new Error(`owner exited ${c}`)));
    });
    const [runDir, pid] = line.split(' ');
    owner.kill('SIGKILL');
    await new Promise((r) => owner.once('exit', r));
    assert.ok(existsSync(runDir), 'a SIGKILLed owner cannot clean up');
    process.kill(Number(pid), 0); // the child outlived it
    const reaped = reapStale();
    assert.ok(reaped.includes(runDir), reaped.join(', '));
    assert.ok(!existsSync(runDir));
    // Gone, or a zombie waiting for whatever reaps orphans here.
    const deadline = Date.now() + 5000;
    const gone = () => !existsSync(`/proc/${pid}`) || /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    while (!gone() && Date.now() < deadline) await sleep(100);
    assert.ok(gone(), `pid ${pid} still runs`);
  });
});

describe('findings from what Argo CD reported', () => {
  test('expected unhealthy objects are notes with the declared reason; others are errors; prune off is a warning', async () => {
    const { parseConfig } = await import('../lib/config/config.js');
    const { rehearsalFindings } = await import('../lib/server/rehearsal.js');
    const config = parseConfig('/nonexistent', `${GITOPS}        \n`, {});
    const app = {
      cluster: 'minikube', name: 'web', path: 'overlays/minikube/demo/web', sync: { status: 'Synced', revision: 'a'.repeat(40) },
      operation: { phase: 'Succeeded', message: 'successfully synced (all tasks run)', retryCount: 0 }, health: { status: 'Degraded' },
      tasks: [{ apiVersion: 'batch/v1', phase: 'PreSync', wave: 0, kind: 'Job', namespace: 'demo', name: 'migrate', hookType: 'PreSync', hookPhase: 'Succeeded' }, { apiVersion: 'apps/v1', phase: 'Sync', wave: 1, kind: 'Deployment', namespace: 'demo', name: 'web', status: 'Synced' }],
      unschedulable: [], conditions: [], pruned: [], wouldPrune: ['ConfigMap/demo/old'], terminating: [], outOfSync: [], events: [], simulated: [],
      unhealthy: [
        { resource: 'HorizontalPodAutoscaler/demo/web', status: 'Degraded', message: 'FailedGetResourceMetric', expected: 'no metrics API' },
        { resource: 'Deployment/demo/web', status: 'Degraded', message: 'Deployment "web" exceeded its progress deadline' },
      ],
    };
    const fs = rehearsalFindings(config, [{ cluster: 'minikube', head: 'a'.repeat(40), timings: {}, apps: [app], unsettled: [], bootstrap: [] }]);
    const by = (rule: string) => fs.filter((f) => f.rule === rule);
    assert.equal(by('rehearsal-sync')[0].message, `minikube: Application web: sync Succeeded ("successfully synced (all tasks run)"); Synced at aaaaaaa; health Degraded. Ran: PreSync wave 0: Job/migrate (PreSync hook Succeeded); Sync wave 1: Deployment/web Synced`);
    assert.deepEqual(by('rehearsal-unhealthy-expected').map((f) => [f.severity, f.resource, f.message]), [['info', 'HorizontalPodAutoscaler/demo/web', 'minikube: Application web: Degraded (FailedGetResourceMetric): expected in the rehearsal, no metrics API (gitops.yaml clusters.minikube.rehearsal.expectUnhealthy)']]);
    assert.deepEqual(by('rehearsal-unhealthy').map((f) => [f.severity, f.resource]), [['error', 'Deployment/demo/web']]);
    assert.deepEqual(by('rehearsal-prune').map((f) => [f.severity, f.resource]), [['warning', 'ConfigMap/demo/old']]);
  });
});
