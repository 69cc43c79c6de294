// Releases beyond images: Helm. An app deployed by Argo CD Applications with a Helm chart source
// releases its chart version (ordered by semver) and the values files gitops.yaml
// promotion.helm.valueFiles names. Before, a chart version or values that differed showed as
// "in sync", and promote had nothing to change.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { collectStatus, formatStatusText } from '../commands/status.js';
import { promote } from '../commands/promote.js';
import { rollback } from '../commands/rollback.js';
import { bump } from '../commands/bump.js';
import { parseConfig } from '../lib/config/config.js';
import { ConfigError, UsageError } from '../lib/core/errors.js';
import { capture, finishFixture, startReleaseFixture } from './release-fixture.js';
import { GITOPS_YAML } from './repo-fixture.js';

const T = { timeout: 600_000 };
const REPO = 'https://github.com/crianex/gitops.git';
// Environments made of Argo CD Applications only (no overlays).
const CFG = `repoURL: ${REPO}
environments:
  - name: dev
    cluster: minikube
    applications: [{name: "*-dev"}]
  - name: prod
    cluster: crianex
    applications: [{name: "*-prod"}]
    promotesFrom: dev
kubernetes:
  version: 1.35.0
promotion:
  helm:
    valueFiles: ["helm/*/release.yaml"]
`;

function entry(files: string[]): string {
  return `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [${files.join(', ')}]\n`;
}

/** An Application deploying chart podinfo from its chart repository, with a values file of this repository ($values). */
function helmApp(env: string, version: string, extra = ''): string {
  return `# podinfo in ${env}: the chart from its repository, values from this one
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: podinfo-${env}
  namespace: argocd
spec:
  project: default
  sources:
    - repoURL: https://stefanprodan.github.io/podinfo
      chart: podinfo
      targetRevision: ${version}   # the chart version ${env} runs
      helm:
        valueFiles:
          - $values/helm/podinfo/values.yaml
          - $values/helm/${env}/release.yaml
    - repoURL: ${REPO}
      targetRevision: main
      ref: values
  destination:
    server: https://kubernetes.default.svc
    namespace: podinfo
${extra}`;
}

const DEV_APP = 'clusters/minikube/podinfo.yaml';
const PROD_APP = 'clusters/crianex/podinfo.yaml';
const V1 = '# released with the chart\nreplicaCount: 1\nui:\n  message: one\n';
const V2 = '# released with the chart\nreplicaCount: 1\nui:\n  message: two\n';

function files(dev: string, prod: string, devValues = V1, prodValues = V1): Record<string, string> {
  return {
    'gitops.yaml': CFG,
    'clusters/minikube/kustomization.yaml': entry(['podinfo.yaml']),
    'clusters/crianex/kustomization.yaml': entry(['podinfo.yaml']),
    [DEV_APP]: helmApp('dev', dev),
    [PROD_APP]: helmApp('prod', prod),
    'helm/podinfo/values.yaml': 'service:\n  type: ClusterIP\n',
    'helm/dev/release.yaml': devValues,
    'helm/prod/release.yaml': prodValues,
  };
}

describe('Helm releases (chart versions and values of Argo CD Helm sources)', () => {
  test('status orders chart versions; promote writes the chart version and only it; a downgrade is refused; values that differ are promoted; rollback restores the chart', T, async () => {
    const f = await startReleaseFixture({ files: files('6.6.0', '6.5.0') });
    try {
      // A newer chart in dev waits for prod: by semantic version, not "in sync".
      const st = await collectStatus(f.work, f.envVars, { lookup: false });
      const pod = st.apps.find((a) => a.id === 'podinfo')!;
      assert.deepEqual(pod.charts, { podinfo: { dev: { version: '6.6.0', repoURL: 'https://stefanprodan.github.io/podinfo', application: 'podinfo-dev', file: DEV_APP }, prod: { version: '6.5.0', repoURL: 'https://stefanprodan.github.io/podinfo', application: 'podinfo-prod', file: PROD_APP } } });
      assert.deepEqual(pod.values?.dev?.files, ['helm/dev/release.yaml']);
      assert.equal(pod.values?.dev?.sha256, pod.values?.prod?.sha256);
      assert.deepEqual(pod.relations.map((r) => [r.from, r.to, r.state, r.items.filter((i) => i.relation !== 'same').map((i) => `${i.kind} ${i.name} ${i.relation} ${i.by ?? ''}`)]), [['dev', 'prod', 'waiting', ['chart podinfo newer semver']]]);
      assert.match(formatStatusText(st), /^\s+chart podinfo\s+6\.6\.0\s+6\.5\.0\s*$/m);

      const c = capture();
      const r = await promote({ cwd: f.work, app: 'podinfo', env: 'prod', envVars: f.envVars, log: c.log, write: c.write });
      assert.equal(r.status, 'pr-opened', [...c.err, ...c.out].join('\n'));
      assert.deepEqual(r.changes, [{ what: 'chart podinfo', from: '6.5.0', to: '6.6.0' }]);
      // Only the version's bytes: the comment after it and every other line stay.
      assert.equal((await f.remoteGit(['diff', '--name-only', `main..${r.branch}`])).trim(), PROD_APP);
      assert.equal(await f.remoteFile(r.branch, PROD_APP), helmApp('prod', '6.5.0').replace('targetRevision: 6.5.0   #', 'targetRevision: 6.6.0   #'));
      assert.equal(r.branch, 'promote/prod/podinfo');
      assert.match(f.api.state.pulls[0]!.title, /^promote podinfo dev -> prod: podinfo 6\.6\.0$/);

      // prod moved on to 7.0.0 meanwhile: promoting dev's 6.6.0 would downgrade it.
      await f.pushToMain({ [PROD_APP]: helmApp('prod', '7.0.0') }, 'podinfo 7.0.0 in prod');
      await f.pull();
      const ahead = await collectStatus(f.work, f.envVars, { lookup: false });
      assert.deepEqual(ahead.apps.find((a) => a.id === 'podinfo')!.relations.map((x) => [x.from, x.to, x.state]), [['dev', 'prod', 'ahead']]);
      await assert.rejects(
        promote({ cwd: f.work, app: 'podinfo', env: 'prod', envVars: f.envVars, log: () => {}, write: () => {} }),
        (e: unknown) => e instanceof UsageError && /would downgrade it:\n {2}chart podinfo: prod runs 7\.0\.0, dev has the older 6\.6\.0 \(by semantic version\)/.test(e.message) && /--allow-downgrade/.test(e.hint ?? ''),
      );

      // Same chart, different values: "differs" (values carry no version); promote copies dev's values file.
      await f.pushToMain({ [DEV_APP]: helmApp('dev', '7.0.0'), 'helm/dev/release.yaml': V2 }, 'dev: podinfo 7.0.0 and message two');
      await f.pull();
      const diff = await collectStatus(f.work, f.envVars, { lookup: false });
      const p2 = diff.apps.find((a) => a.id === 'podinfo')!;
      assert.deepEqual(p2.relations.map((x) => [x.from, x.to, x.state, x.items.filter((i) => i.relation !== 'same').map((i) => `${i.kind} ${i.relation}`)]), [['dev', 'prod', 'differs', ['values unordered']]]);
      const v = await promote({ cwd: f.work, app: 'podinfo', env: 'prod', envVars: f.envVars, log: () => {}, write: () => {} });
      assert.equal(v.status, 'pr-updated');
      assert.deepEqual(v.changes?.map((x) => x.what), ['values helm/prod/release.yaml']);
      assert.equal(await f.remoteFile(v.branch, 'helm/prod/release.yaml'), V2);
      assert.equal((await f.remoteGit(['diff', '--name-only', `main..${v.branch}`])).trim(), 'helm/prod/release.yaml');

      // Rollback goes back to the chart version prod ran before (from the history of its Application's file).
      const rb = await rollback({ cwd: f.work, app: 'podinfo', env: 'prod', envVars: f.envVars, log: () => {}, write: () => {} });
      assert.equal(rb.status, 'pr-opened');
      assert.deepEqual(rb.changes, [{ what: 'chart podinfo', from: '7.0.0', to: '6.5.0' }]);
      assert.equal(await f.remoteFile(rb.branch, PROD_APP), helmApp('prod', '6.5.0'));

      // bump and scale edit overlays: a Helm app is refused by name.
      await assert.rejects(bump({ cwd: f.work, app: 'podinfo', env: 'prod', image: 'x:1', envVars: f.envVars, dryRun: true, log: () => {}, write: () => {} }), (e: unknown) => e instanceof UsageError && /Helm source of Argo CD Application podinfo-prod/.test(e.message));
    } finally {
      await finishFixture(f);
    }
  });

  test('a values file another Application also reads is not written for one app', T, async () => {
    const fx = files('6.6.0', '6.6.0', V2, V1);
    // Another app of prod reads podinfo's prod release file too: writing it would move that app.
    fx['clusters/crianex/kustomization.yaml'] = entry(['podinfo.yaml', 'other.yaml']);
    fx['clusters/crianex/other.yaml'] = helmApp('prod', '6.6.0').replace('podinfo-prod', 'other-prod').replace('namespace: podinfo', 'namespace: other');
    const f = await startReleaseFixture({ files: fx });
    try {
      await assert.rejects(
        promote({ cwd: f.work, app: 'podinfo', env: 'prod', envVars: f.envVars, dryRun: true, log: () => {}, write: () => {} }),
        (e: unknown) => e instanceof UsageError && /values file helm\/prod\/release\.yaml of podinfo in prod is also read by Application other-prod \(other in prod\)/.test(e.message),
      );
      assert.deepEqual(await f.remoteRefs(), { main: (await f.remoteGit(['rev-parse', 'main'])).trim() });
    } finally {
      await finishFixture(f);
    }
  });

  test('an ApplicationSet: the list element that only the target reads is edited; a version the template shares is refused', T, async () => {
    const appset = (canary: string, prod: string, template = "'{{.chartVersion}}'") => `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: podinfo, namespace: argocd}
spec:
  goTemplate: true
  generators:
    - list:
        elements:
          - {env: canary, chartVersion: ${canary}}   # canary first: the same version, another Application
          - {env: prod, chartVersion: ${prod}}
  template:
    metadata: {name: 'podinfo-{{.env}}'}
    spec:
      project: default
      source: {repoURL: https://stefanprodan.github.io/podinfo, chart: podinfo, targetRevision: ${template}}
      destination: {server: https://kubernetes.default.svc, namespace: 'podinfo-{{.env}}'}
`;
    const fx = files('6.6.0', '6.5.0');
    fx['gitops.yaml'] = CFG.replace('applications: [{name: "*-prod"}]', 'applications: [{name: "*-prod"}, {name: "*-canary"}]');
    fx[PROD_APP] = appset('6.5.0', '6.5.0');
    const f = await startReleaseFixture({ files: fx });
    try {
      const st = await collectStatus(f.work, f.envVars, { lookup: false });
      assert.equal(st.apps.find((a) => a.id === 'podinfo')!.charts?.podinfo?.prod?.version, '6.5.0');
      const c = capture();
      const r = await promote({ cwd: f.work, app: 'podinfo', env: 'prod', envVars: f.envVars, dryRun: true, log: c.log, write: c.write });
      assert.equal(r.status, 'dry-run', [...c.err, ...c.out].join('\n'));
      assert.deepEqual(r.changes, [{ what: 'chart podinfo', from: '6.5.0', to: '6.6.0' }]);
      // prod's element, not canary's (the first scalar 6.5.0 in the file), nor the values files.
      assert.deepEqual(r.fileDiff!.split('\n').filter((l) => /^[-+] /.test(l)), ['-          - {env: prod, chartVersion: 6.5.0}', '+          - {env: prod, chartVersion: 6.6.0}']);

      // A version the template writes for every element moves canary too: refused, naming it.
      await f.pushToMain({ [PROD_APP]: appset('6.5.0', '6.5.0', '6.5.0') }, 'template pins the chart');
      await f.pull();
      await assert.rejects(
        promote({ cwd: f.work, app: 'podinfo', env: 'prod', envVars: f.envVars, dryRun: true, log: () => {}, write: () => {} }),
        (e: unknown) => e instanceof UsageError && /cannot find the one place that sets the chart version of Application podinfo-prod \(generated by ApplicationSet podinfo\)/.test(e.message) && /also changes Application podinfo-canary/.test(e.message),
      );
    } finally {
      await finishFixture(f);
    }
  });

  test('a chart of this repository: its values files relative to the chart travel, the shared one stays', T, async () => {
    const local = (env: string) => `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web-${env}, namespace: argocd}
spec:
  project: default
  source:
    repoURL: ${REPO}
    targetRevision: main
    path: charts/web
    helm:
      valueFiles: [values.yaml, values-${env}.yaml]
  destination: {server: https://kubernetes.default.svc, namespace: web}
`;
    const f = await startReleaseFixture({
      files: {
        'gitops.yaml': CFG.replace('["helm/*/release.yaml"]', '["charts/web/values-*.yaml"]'),
        'clusters/minikube/kustomization.yaml': entry(['web.yaml']),
        'clusters/crianex/kustomization.yaml': entry(['web.yaml']),
        'clusters/minikube/web.yaml': local('dev'),
        'clusters/crianex/web.yaml': local('prod'),
        'charts/web/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\n',
        'charts/web/templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {message: "{{ .Values.message }}"}\n',
        'charts/web/values.yaml': 'message: base\n',
        'charts/web/values-dev.yaml': 'message: two\n',
        'charts/web/values-prod.yaml': 'message: one\n',
      },
    });
    try {
      const st = await collectStatus(f.work, f.envVars, { lookup: false });
      const web = st.apps.find((a) => a.id === 'web')!;
      assert.equal(web.charts, undefined, 'a chart of this repository has no version of its own to promote');
      assert.deepEqual([web.values?.dev?.files, web.values?.prod?.files], [['charts/web/values-dev.yaml'], ['charts/web/values-prod.yaml']]);
      assert.deepEqual(web.relations.map((r) => [r.from, r.to, r.state]), [['dev', 'prod', 'differs']]);
      const c = capture();
      const r = await promote({ cwd: f.work, app: 'web', env: 'prod', envVars: f.envVars, dryRun: true, log: c.log, write: c.write });
      assert.equal(r.status, 'dry-run', [...c.err, ...c.out].join('\n'));
      assert.deepEqual(r.changes?.map((x) => x.what), ['values charts/web/values-prod.yaml']);
      assert.deepEqual(r.fileDiff!.split('\n').filter((l) => /^[-+][^-+]/.test(l)), ['-message: one', '+message: two']);
    } finally {
      await finishFixture(f);
    }
  });

  test('promotion.helm is checked: valueFiles are repo-relative globs that stay in the repository', () => {
    assert.deepEqual(parseConfig('/tmp/x', CFG, {}).releaseHelm, { chart: true, valueFiles: ['helm/*/release.yaml'] });
    assert.deepEqual(parseConfig('/tmp/x', GITOPS_YAML, {}).releaseHelm, { chart: true, valueFiles: [] });
    assert.throws(() => parseConfig('/tmp/x', `${GITOPS_YAML}promotion:\n  helm:\n    valueFiles: [../x.yaml]\n`, {}), (e: unknown) => e instanceof ConfigError && /promotion\.helm\.valueFiles\.0/.test(e.message));
    assert.throws(() => parseConfig('/tmp/x', `${GITOPS_YAML}promotion:\n  helm:\n    charts: true\n`, {}), (e: unknown) => e instanceof ConfigError && /promotion\.helm.*'charts'/.test(e.message));
  });
});
