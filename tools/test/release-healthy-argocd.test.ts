// promote --require-healthy against the real Argo CD: a simulated cluster of the sync rehearsal
// (kube-apiserver, kube-controller-manager, kube-scheduler, kwok nodes; simcluster.ts) runs the
// real Argo CD (argocdsim.ts), which syncs the fixture's dev overlays from the fixture's own
// commits (served by git daemon, gitserve.ts). promote then reads the Applications through a
// kubeconfig for that API server: it promotes what Argo CD shows Synced and Healthy at the
// release, and refuses, naming Argo CD's status, what is Degraded, OutOfSync or not yet synced.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { promote } from '../commands/promote.js';
import { loadConfig } from '../lib/config/config.js';
import { discoverApps } from '../lib/config/apps.js';
import { UsageError } from '../lib/core/errors.js';
import { readAppHealth, type AppHealth } from '../lib/release/health.js';
import { ArgoCdSim, findArgoBinaries } from '../lib/server/argocdsim.js';
import { ServedRepo } from '../lib/server/gitserve.js';
import { reapStale, RunDir } from '../lib/server/rundir.js';
import { findSimBinaries, SimCluster } from '../lib/server/simcluster.js';
import { capture, digestOf, finishFixture, startReleaseFixture, type ReleaseFixture } from './release-fixture.js';
import { BASE_KUSTOMIZATION, DEPLOYMENT, GITOPS_YAML, overlay, testEnv } from './repo-fixture.js';

const simBins = await findSimBinaries(testEnv);
const argoBins = await findArgoBinaries(testEnv);
const missing = 'missing' in simBins ? simBins.missing : 'missing' in argoBins ? argoBins.missing : undefined;
// Locally the binaries may not be built yet (npm run setup -- --rehearse); in CI that is a failure.
const skip = missing && !process.env.CI ? `--require-healthy against Argo CD skipped: ${missing}` : false;
if (skip) process.stderr.write(`${skip}\n`);

const D1 = digestOf('one');
const D2 = digestOf('two');
// Fits no node of the simulated cluster (4 cpu): its Deployment exceeds its progress deadline.
const STUCK = `patches:
  - target: {kind: Deployment, name: demo-web}
    patch: |-
      - {op: add, path: /spec/progressDeadlineSeconds, value: 10}
      - {op: replace, path: /spec/template/spec/containers/0/resources/requests/cpu, value: "64"}
`;
const FILES: Record<string, string> = {
  // The offline CRD mirror holds Argo CD's CRDs of v3.5.0 (the rehearsal test's too).
  'gitops.yaml': `${GITOPS_YAML}clusters:\n  minikube:\n    apiServer:\n      crds:\n        - {name: argo-cd, version: v3.5.0}\n`,
  'apps/demo/web/kustomization.yaml': BASE_KUSTOMIZATION,
  'apps/demo/web/deployment.yaml': DEPLOYMENT,
};
for (const app of ['web', 'stuck', 'manual']) {
  FILES[`overlays/minikube/demo/${app}/kustomization.yaml`] = overlay(`demo-${app}`, `newTag: "2.0.0@${D2}"`) + (app === 'stuck' ? STUCK : '');
  FILES[`overlays/crianex/demo/${app}/kustomization.yaml`] = overlay(`demo-${app}`, `newTag: "1.0.0@${D1}"`);
}

/** dev's Application for an app, as clusters/minikube's ApplicationSet names it, from the served repository; `manual` has no automated sync. */
function application(app: string, repoURL: string): Record<string, unknown> {
  return {
    apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: { name: `demo-${app}`, namespace: 'argocd' },
    spec: {
      project: 'default', source: { repoURL, targetRevision: 'main', path: `overlays/minikube/demo/${app}` }, destination: { server: 'https://kubernetes.default.svc', namespace: `demo-${app}` },
      syncPolicy: { ...(app === 'manual' ? {} : { automated: { prune: true, selfHeal: true } }), syncOptions: ['CreateNamespace=true'] },
    },
  };
}

describe('promote --require-healthy reads the real Argo CD', { skip }, () => {
  let f: ReleaseFixture | undefined;
  let rd: RunDir | undefined;
  let cluster: SimCluster | undefined;
  let argo: ArgoCdSim | undefined;
  let kubeconfig = '';
  let head = '';
  const health: Record<string, AppHealth> = {};

  before(async () => {
    assert.ok(!missing, `CI=true and ${missing}: npm run setup -- --rehearse must build them`);
    reapStale();
    f = await startReleaseFixture({ files: FILES });
    const config = await loadConfig(f.work, testEnv);
    rd = await RunDir.create();
    // Argo CD pulls the fixture's own commits: the revision it reports is one of origin's.
    const served = await ServedRepo.create(rd, f.work);
    const url = await served.serve();
    head = (await f.git(['rev-parse', 'origin/main'])).trim();
    await served.publish(['main'], head);
    cluster = await SimCluster.startApi({ config, cluster: 'minikube', bins: simBins as Exclude<typeof simBins, { missing: string }>, run: rd });
    const started = await Promise.allSettled([cluster.startNodes(), ArgoCdSim.start({ config, cluster, run: rd, bins: argoBins as Exclude<typeof argoBins, { missing: string }> })]);
    if (started[1].status === 'fulfilled') argo = started[1].value;
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    for (const app of ['web', 'stuck', 'manual']) {
      const o = application(app, url);
      const res = await cluster.client.apply(`/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/demo-${app}`, o as never, { dryRun: false, fieldManager: 'release-healthy-test' });
      assert.ok(res.status < 300, `Application demo-${app}: HTTP ${res.status}`);
    }
    // The user's kubeconfig for the dev cluster: a context of its own, read-only use.
    kubeconfig = path.join(f.tmp, 'kubeconfig');
    await writeFile(kubeconfig, cluster.api.kubeconfig('argocd').replaceAll('name: local', 'name: minikube-sim').replace('current-context: local', 'current-context: other').replace('cluster: local', 'cluster: minikube-sim'), { mode: 0o600 });
    // Until Argo CD has settled each case (bounded).
    const dev = (await discoverApps(config)).filter((a) => a.env.name === 'dev');
    const done = () => health.web?.sync === 'Synced' && health.web.health === 'Healthy' && health.web.revision === head && health.stuck?.health === 'Degraded' && health.manual?.sync === 'OutOfSync';
    for (const deadline = Date.now() + 300_000; !done() && Date.now() < deadline; await sleep(2000)) {
      await cluster.checkAlive();
      await argo!.checkAlive();
      for (const a of dev) health[a.service] = await readAppHealth(a, { file: kubeconfig, context: 'minikube-sim' }).catch((e: Error) => ({ application: a.slug, message: e.message }));
    }
    assert.ok(done(), `Argo CD did not settle the fixture apps in time: ${JSON.stringify(health)}`);
  });

  after(async () => {
    await argo?.stop();
    await cluster?.stop();
    await rd?.stop(3000);
    await finishFixture(f);
  });

  const run = (app: string) => {
    const c = capture();
    return { c, p: promote({ cwd: f!.work, app, env: 'prod', envVars: f!.envVars, requireHealthy: true, kubeconfig: `${kubeconfig}:minikube-sim`, log: c.log, write: c.write }) };
  };

  test('Synced and Healthy at the pinned release: promoted, and the pull request says so', { timeout: 300_000 }, async () => {
    const { c, p } = run('demo/web');
    const r = await p;
    assert.equal(r.status, 'pr-opened', [...c.err, ...c.out].join('\n'));
    assert.match(r.message ?? '', new RegExp(`dev is Synced and Healthy at ${head.slice(0, 12)} \\(Argo CD Application argocd/demo-web\\)`));
    assert.match(f!.api.state.pulls.at(-1)!.body ?? '', /dev is Synced and Healthy at/);
  });

  // Argo CD v3 keeps health messages per resource: the reason is the Degraded Deployment's, not the
  // last sync's "successfully synced" (what the Application's own fields said before).
  test('Degraded: refused, naming Argo CD\'s health and the unhealthy resource\'s message', { timeout: 300_000 }, async () => {
    assert.equal(health.stuck!.sync, 'Synced');
    await assert.rejects(run('demo/stuck').p, (e: unknown) => e instanceof UsageError && /demo\/stuck in dev is not ready to be promoted \(Argo CD Application argocd\/demo-stuck\): health is Degraded, not Healthy \(Deployment\/demo-stuck\/demo-web Degraded: Deployment "demo-web" exceeded its progress deadline\)/.test(e.message));
  });

  test('OutOfSync (no automated sync): refused, naming the sync status', { timeout: 300_000 }, async () => {
    await assert.rejects(run('demo/manual').p, (e: unknown) => e instanceof UsageError && /demo\/manual in dev is not ready to be promoted \(Argo CD Application argocd\/demo-manual\): sync status is OutOfSync, not Synced; health is Missing, not Healthy/.test(e.message));
  });

  test('a newer release on main that Argo CD has not synced yet: refused, naming the file that changed', { timeout: 300_000 }, async () => {
    await f!.pushToMain({ 'overlays/minikube/demo/web/kustomization.yaml': overlay('demo-web', `newTag: "3.0.0@${D1}"`) }, 'dev: web 3.0.0');
    await f!.pull();
    await assert.rejects(run('demo/web').p, (e: unknown) => e instanceof UsageError && new RegExp(`it is synced to ${head.slice(0, 12)}, but the release on origin/main \\(\\w{12}\\) changed overlays/minikube/demo/web/kustomization\\.yaml since`).test(e.message));
  });
});
