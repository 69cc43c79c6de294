// promote --require-healthy reads the source environment's Argo CD Application through the
// Kubernetes API (a real kube-apiserver serving Argo CD's pinned Application CRD) and refuses what
// is not Synced and Healthy at the release being promoted.
//
// NOTE: no Argo CD application-controller runs here: the test writes each Application's status
// itself, the way the controller would (sync.status, sync.revision, health.status). Running the
// real Argo CD against a simulated cluster is the sync-rehearsal issue's work.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { promote } from '../commands/promote.js';
import { status } from '../commands/status.js';
import { UsageError } from '../lib/core/errors.js';
import { findApiServer, type ApiServerBinaries } from '../lib/core/tools.js';
import type { K8sObject } from '../lib/core/k8s.js';
import { LocalApiServer } from '../lib/server/apiserver.js';
import { capture, digestOf, finishFixture, overlayFile, startReleaseFixture, type ReleaseFixture } from './release-fixture.js';
import { CRD_MIRROR, testEnv } from './repo-fixture.js';

const T = { timeout: 300_000 };
const DEV = overlayFile('minikube', 'nofluxo/backend');
const D1 = digestOf('nofluxo-backend 1.1.0');
const APPS = '/apis/argoproj.io/v1alpha1/namespaces/argocd/applications';

describe('promote --require-healthy (Application status written by the test, not by a running controller)', () => {
  let server: LocalApiServer;
  let fx: ReleaseFixture;
  let kubeconfig: string;
  let before1: string;
  let released: string;
  before(async () => {
    const found = await findApiServer(testEnv);
    assert.ok(!('missing' in found), `${'missing' in found ? found.missing : ''}: npm run setup builds kube-apiserver and etcd`);
    assert.ok(CRD_MIRROR, 'the Argo CD CRDs come from the CRD mirror (GITOPS_CRD_MIRROR or ../shared/crds)');
    server = await LocalApiServer.start(found as ApiServerBinaries, []);
    const crds = parseAllDocuments(await readFile(path.join(CRD_MIRROR!, 'argo-cd', 'v3.5.0', 'application-crd.yaml'), 'utf8')).map((d) => d.toJS() as K8sObject).filter((o) => o?.kind === 'CustomResourceDefinition');
    await server.applyCrds(crds);
    await server.ensureNamespace('argocd');
    fx = await startReleaseFixture();
    before1 = (await fx.remoteRefs()).main!;
    released = await fx.pushToMain({ [DEV]: (await fx.remoteFile('main', DEV)).replace('newTag: "1.0.0"', `newTag: "1.1.0@${D1}"`) }, 'bump nofluxo/backend in dev');
    await fx.pull();
    // A kubeconfig as a user would have for the dev cluster (token auth, the server's CA).
    const creds = server.client.creds;
    kubeconfig = path.join(fx.tmp, 'kubeconfig');
    await writeFile(kubeconfig, stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'dev',
      clusters: [{ name: 'dev', cluster: { server: creds.server, 'certificate-authority-data': Buffer.from(String(creds.ca)).toString('base64') } }],
      users: [{ name: 'reader', user: { token: creds.token } }],
      contexts: [{ name: 'dev', context: { cluster: 'dev', user: 'reader' } }],
    }));
  });
  after(async () => {
    await server?.stop();
    await finishFixture(fx);
  });

  /** The Application as Argo CD's ApplicationSet makes it, with the status its controller would write. */
  async function setApplication(status: { sync: string; health: string; revision?: string; message?: string } | undefined): Promise<void> {
    const app = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: 'nofluxo-backend', namespace: 'argocd' },
      spec: { project: 'nofluxo', source: { repoURL: 'https://github.com/crianex/gitops', path: 'overlays/minikube/nofluxo/backend', targetRevision: 'main' }, destination: { server: 'https://kubernetes.default.svc', namespace: 'nofluxo' } },
      ...(status ? { status: { sync: { status: status.sync, ...(status.revision ? { revision: status.revision } : {}) }, health: { status: status.health, ...(status.message ? { message: status.message } : {}) } } } : {}),
    };
    await server.client.request('DELETE', `${APPS}/nofluxo-backend`);
    const res = await server.client.request('POST', APPS, app);
    assert.equal(res.status, 201, JSON.stringify(res.body));
  }

  const run = (c = capture()) => ({ c, p: promote({ cwd: fx.work, app: 'nofluxo/backend', env: 'prod', requireHealthy: true, kubeconfig: `${kubeconfig}:dev`, dryRun: true, envVars: fx.envVars, log: c.log, write: c.write }) });

  test('OutOfSync and Progressing: refused, naming both', T, async () => {
    await setApplication({ sync: 'OutOfSync', health: 'Progressing', revision: released, message: 'Waiting for rollout to finish' });
    await assert.rejects(run().p, (e: unknown) => {
      assert.ok(e instanceof UsageError, String(e));
      assert.match(e.message, /^nofluxo\/backend in dev is not ready to be promoted \(Argo CD Application argocd\/nofluxo-backend\): sync status is OutOfSync, not Synced; health is Progressing, not Healthy \(Waiting for rollout to finish\)$/);
      return true;
    });
  });

  test('Synced and Healthy, but at a revision before the release: refused, naming the file that changed since', T, async () => {
    await setApplication({ sync: 'Synced', health: 'Healthy', revision: before1 });
    await assert.rejects(run().p, (e: unknown) => e instanceof UsageError && new RegExp(`synced to ${before1.slice(0, 12)}, but the release on origin/main \\(${released.slice(0, 12)}\\) changed ${DEV.replace(/[./]/g, '\\$&')} since`).test(e.message));
  });

  test('no Application, or no status yet: refused, with what to check', T, async () => {
    await setApplication(undefined);
    await assert.rejects(run().p, (e: unknown) => e instanceof UsageError && /sync status is unknown, not Synced; health is unknown, not Healthy; it reports no synced revision/.test(e.message));
    await server.client.request('DELETE', `${APPS}/nofluxo-backend`);
    await assert.rejects(run().p, (e: unknown) => e instanceof UsageError && /Argo CD Application argocd\/nofluxo-backend \(nofluxo\/backend in dev\) not found in context 'dev'/.test(e.message));
  });

  test('Synced and Healthy at the release: the promotion goes ahead and says what it saw', T, async () => {
    await setApplication({ sync: 'Synced', health: 'Healthy', revision: released });
    const { c, p } = run();
    const r = await p;
    assert.equal(r.status, 'dry-run');
    assert.ok(r.message?.includes(`dev is Synced and Healthy at ${released.slice(0, 12)} (Argo CD Application argocd/nofluxo-backend)`), r.message);
    assert.ok(c.out.join('\n').includes(`+    newTag: "1.1.0@${D1}"`));
    // The board shows the same health (status --format html --kubeconfig dev=FILE:CONTEXT).
    const out: string[] = [];
    await status({ cwd: fx.work, format: 'html', registry: false, kubeconfig: `dev=${kubeconfig}:dev`, envVars: { ...fx.envVars, GITHUB_TOKEN: undefined, GH_TOKEN: undefined }, write: (t) => out.push(t) });
    const backend = /<article class="app" id="app-nofluxo-backend"[\s\S]*?<\/article>/.exec(out.join('\n'))![0];
    assert.match(backend, /<section class="env" data-env="dev"><h4>dev <span class="badge b-health-ok" title="revision [0-9a-f]{40}">Synced · Healthy<\/span>/);
    assert.match(out.join('\n'), /data-app="nofluxo\/ai-agent"[\s\S]*?b-error" title="Argo CD Application argocd\/nofluxo-ai-agent \(nofluxo\/ai-agent in dev\) not found/);
  });
});
