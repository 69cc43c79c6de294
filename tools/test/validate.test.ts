import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { readdir, writeFile } from 'node:fs/promises';
import { validate } from '../commands/validate.js';
import { runValidation } from '../lib/validate/validation.js';
import { FindingsError, NameError } from '../lib/core/errors.js';
import { REPO_ROOT } from '../lib/core/tools.js';
import type { Finding } from '../lib/core/finding.js';
import { baseFiles, DEPLOYMENT, DIGEST, makeRepo, overlay, removeRepo, testEnv } from './repo-fixture.js';

const execFileP = promisify(execFile);
const dirs: string[] = [];
after(async () => Promise.all(dirs.map(removeRepo)));

async function repo(patch: Record<string, string> = {}): Promise<string> {
  const dir = await makeRepo({ ...baseFiles(), ...patch });
  dirs.push(dir);
  return dir;
}

async function findings(patch: Record<string, string>, opts: { env?: string; app?: string } = {}): Promise<Finding[]> {
  const r = await runValidation({ cwd: await repo(patch), envVars: testEnv, ...opts });
  return r.findings;
}

const errors = (fs: Finding[]) => fs.filter((f) => f.severity === 'error');

/** The deployment with one line replaced (text-level, so each fixture reads like a human edit). */
function deployment(from: string, to: string): Record<string, string> {
  assert.ok(DEPLOYMENT.includes(from), `fixture does not contain ${from}`);
  return { 'apps/demo/web/deployment.yaml': DEPLOYMENT.replace(from, to) };
}

describe('the repository as shipped', () => {
  test('every overlay of every system and every cluster entry point renders and validates clean', async () => {
    const r = await runValidation({ cwd: REPO_ROOT, envVars: testEnv });
    assert.deepEqual(errors(r.findings), []);
    const dirs = r.targets.map((t) => t.dir);
    const expected = [
      ...['backend', 'ai-agent'].flatMap((s) => [`overlays/minikube/nofluxo/${s}`, `overlays/crianex/nofluxo/${s}`]),
      ...['producer', 'worker', 'dashboard', 'docs', 'rabbitmq', 'redis'].flatMap((s) => [`overlays/minikube/automation/${s}`, `overlays/crianex/automation/${s}`]),
      ...['frontend', 'backend'].flatMap((s) => [`overlays/minikube/todo-chatbot/${s}`, `overlays/minikube/taskflow/${s}`]),
      'clusters/minikube',
      'clusters/crianex',
    ];
    assert.deepEqual([...dirs].sort(), expected.sort());
    for (const rendered of r.rendered) assert.ok(rendered.objects.length > 0, `${rendered.target.dir} rendered nothing`);
    // Production tags without digests are reported, never invented, and name the command that pins them.
    const pin = r.findings.find((f) => f.rule === 'prod-digest-pinned');
    assert.match(pin?.message ?? '', /npm run bump \S+ prod \S+:\S+/);
  });

  test('npm run validate exits 0 on the repository', async () => {
    // The server dry run of the repository has its own test (apiserver.test.ts).
    const { stdout } = await execFileP('npx', ['tsx', 'tools/cli.ts', 'validate', '--no-server'], { cwd: REPO_ROOT, env: testEnv });
    assert.match(stdout, / 0 errors/);
  });
});

describe('fixture repository', () => {
  test('the unmodified fixture is clean (the passing case of every rule below)', async () => {
    const fs = await findings({});
    assert.deepEqual(fs.filter((f) => f.severity !== 'info'), []);
  });

  test('CLI exits 1 and names the file, the object and the field', async () => {
    const dir = await repo(deployment('replicas: 1', 'replicas: "one"'));
    const res = await execFileP('npx', ['tsx', path.join(REPO_ROOT, 'tools/cli.ts'), 'validate', '--cwd', dir, '--no-server'], { env: testEnv }).catch((e) => e);
    assert.equal(res.code, 1);
    assert.match(res.stdout, /apps\/demo\/web\/deployment\.yaml\s+Deployment\/demo\/demo-web/);
    assert.match(res.stdout, /spec\.replicas\s+\(line 6\)/);
  });

  test('--format json: one object with a findings array', async () => {
    const dir = await repo(deployment('replicas: 1', 'replicas: "one"'));
    let out = '';
    await assert.rejects(validate({ cwd: dir, envVars: testEnv, format: 'json', write: (t) => (out = t) }), FindingsError);
    const json = JSON.parse(out) as { findings: Finding[] };
    const f = json.findings.find((x) => x.rule === 'schema' && x.overlay === 'overlays/crianex/demo/web');
    assert.deepEqual(
      { severity: f?.severity, overlay: f?.overlay, resource: f?.resource, field: f?.field, file: f?.file, line: f?.line },
      { severity: 'error', overlay: 'overlays/crianex/demo/web', resource: 'Deployment/demo/demo-web', field: 'spec.replicas', file: 'apps/demo/web/deployment.yaml', line: 6 },
    );
    assert.ok(f?.message);
  });

  test('--format github: workflow annotations with file and line', async () => {
    const dir = await repo(deployment('replicas: 1', 'replicas: "one"'));
    let out = '';
    await assert.rejects(validate({ cwd: dir, envVars: testEnv, format: 'github', write: (t) => (out = t) }), FindingsError);
    assert.match(out, /^::error file=apps\/demo\/web\/deployment\.yaml,line=6,title=schema Deployment\/demo\/demo-web::/m);
  });
});

describe('schema failure classes', () => {
  const cases: Array<[string, Record<string, string>, RegExp, string]> = [
    ['core kind: unknown field', deployment('  replicas: 1', '  replicas: 1\n  replicaz: 2'), /additional properties 'replicaz' not allowed/, 'spec'],
    ['core kind: wrong type', deployment('replicas: 1', 'replicas: "one"'), /got string, want/, 'spec.replicas'],
    ['core kind: missing required field', deployment('        - name: web\n          image:', '        - image:'), /missing property 'name'/, 'spec.template.spec.containers.0'],
  ];
  for (const [name, patch, msg, field] of cases) {
    test(name, async () => {
      const f = errors(await findings(patch)).find((x) => x.rule === 'schema');
      assert.ok(f, 'no schema finding');
      assert.match(f.message, msg);
      assert.equal(f.field, field);
      assert.equal(f.file, 'apps/demo/web/deployment.yaml');
    });
  }

  const application = (spec: string) => `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: demo
  namespace: argocd
spec:
${spec}`;
  const goodApp = `  project: default
  source:
    repoURL: https://example.com/repo.git
    path: overlays/minikube/demo/web
  destination:
    server: https://kubernetes.default.svc
    namespace: demo
`;
  const certificate = (spec: string) => `apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: demo
  namespace: demo
spec:
${spec}`;
  const goodCert = `  secretName: demo-tls
  dnsNames: [demo.example.com]
  issuerRef:
    name: letsencrypt-prod
    kind: ClusterIssuer
`;
  const cluster = (file: string, text: string) => ({
    'clusters/minikube/kustomization.yaml': `resources:\n  - ${file}\n`,
    [`clusters/minikube/${file}`]: text,
  });
  const crdCases: Array<[string, Record<string, string>, RegExp | undefined]> = [
    ['Argo CD Application: valid', cluster('app.yaml', application(goodApp)), undefined],
    ['Argo CD Application: unknown field', cluster('app.yaml', application(goodApp + '  syncPolicyy: {}\n')), /syncPolicyy/],
    ['Argo CD Application: wrong type', cluster('app.yaml', application(goodApp.replace('project: default', 'project: [default]'))), /got array, want string/],
    ['Argo CD Application: missing required field', cluster('app.yaml', application(goodApp.replace(/  destination:\n.*\n.*\n/, ''))), /destination/],
    ['cert-manager Certificate: valid', cluster('cert.yaml', certificate(goodCert)), undefined],
    ['cert-manager Certificate: unknown field', cluster('cert.yaml', certificate(goodCert + '  dnsName: x\n')), /dnsName/],
    ['cert-manager Certificate: wrong type', cluster('cert.yaml', certificate(goodCert.replace('secretName: demo-tls', 'secretName: 42'))), /got number, want string/],
    ['cert-manager Certificate: missing required field', cluster('cert.yaml', certificate(goodCert.replace('  secretName: demo-tls\n', ''))), /secretName/],
  ];
  for (const [name, patch, msg] of crdCases) {
    test(name, async () => {
      const fs = errors(await findings(patch)).filter((f) => f.overlay === 'clusters/minikube');
      if (!msg) return assert.deepEqual(fs, []);
      const f = fs.find((x) => x.rule === 'schema');
      assert.ok(f, `no schema finding in ${JSON.stringify(fs)}`);
      assert.match(`${f.field} ${f.message}`, msg);
      assert.match(f.file ?? '', /^clusters\/minikube\/(app|cert)\.yaml$/);
    });
  }

  test('a kind with no schema is an error, unless gitops.yaml allows it (then a note)', async () => {
    const widget = cluster('widget.yaml', 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n');
    const fs = errors(await findings(widget));
    assert.equal(fs[0]?.rule, 'schema-missing');
    assert.match(fs[0].message, /no schema for example\.com\/v1 Widget/);
    const allowed = await findings({ ...widget, 'gitops.yaml': baseFiles()['gitops.yaml'] + 'schemas:\n  allowMissing: [Widget]\n' });
    assert.deepEqual(errors(allowed), []);
    assert.equal(allowed.find((f) => f.rule === 'schema-missing')?.severity, 'info');
  });
});

describe('policies', () => {
  const cases: Array<[string, Record<string, string>, string]> = [
    ['resources-set', deployment('            limits: {memory: 64Mi}\n', ''), 'spec.template.spec.containers.0.resources'],
    ['probes-set', deployment('          readinessProbe:\n            httpGet: {path: /health, port: http}\n', ''), 'spec.template.spec.containers.0'],
    ['run-as-non-root', deployment('        runAsNonRoot: true\n', ''), 'spec.template.spec.securityContext'],
    ['no-latest-image', { 'overlays/minikube/demo/web/kustomization.yaml': overlay('demo', 'newTag: latest') }, 'spec.template.spec.containers.0.image'],
    ['no-latest-image', { 'overlays/minikube/demo/web/kustomization.yaml': overlay('demo', 'newName: registry.example.com/demo-web') }, 'spec.template.spec.containers.0.image'],
    ['common-labels', { 'apps/demo/web/kustomization.yaml': baseFiles()['apps/demo/web/kustomization.yaml'].replace('      app.kubernetes.io/part-of: demo\n', '') }, 'metadata.labels'],
    ['common-labels', { 'apps/demo/web/kustomization.yaml': baseFiles()['apps/demo/web/kustomization.yaml'].replace('      app.kubernetes.io/part-of: demo\n', '') }, 'spec.template.metadata.labels'],
    ['no-plaintext-secret', { 'apps/demo/web/kustomization.yaml': baseFiles()['apps/demo/web/kustomization.yaml'] + '  - secret.yaml\n', 'apps/demo/web/secret.yaml': 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: demo\nstringData:\n  password: hunter2\n' }, 'stringData'],
  ];
  // This repository holds itself to every policy (its gitops.yaml policies.severity); the
  // toolkit's defaults make the hygiene policies warnings (see the test after these).
  const strict = baseFiles()['gitops.yaml'] + 'policies:\n  severity: {resources-set: error, probes-set: error, run-as-non-root: error, common-labels: error}\n';
  for (const [rule, patch, field] of cases) {
    test(`${rule}: caught (${field})`, async () => {
      const f = errors(await findings({ 'gitops.yaml': strict, ...patch })).find((x) => x.rule === rule && x.field === field);
      assert.ok(f, `no ${rule} finding at ${field}`);
      assert.equal(f.field, field);
      assert.ok(f.file, 'finding names its source file');
    });
  }

  test('severity per policy and per environment: defaults for any repository, gitops.yaml raises, lowers or turns off', async () => {
    const noProbes = deployment('          readinessProbe:\n            httpGet: {path: /health, port: http}\n', '');
    const level = (fs: Finding[], overlay: string) => fs.filter((f) => f.rule === 'probes-set' && f.overlay === overlay).map((f) => f.severity);
    const defaults = await findings(noProbes);
    assert.deepEqual([level(defaults, 'overlays/minikube/demo/web'), level(defaults, 'overlays/crianex/demo/web')], [['warning'], ['warning']]);
    const gitops = baseFiles()['gitops.yaml']
      .replace('    overlayRoot: overlays/minikube\n', '    overlayRoot: overlays/minikube\n    policies: {probes-set: off, no-such-policy: error}\n')
      + 'policies:\n  severity: {probes-set: error}\n';
    const configured = await findings({ ...noProbes, 'gitops.yaml': gitops });
    assert.deepEqual([level(configured, 'overlays/minikube/demo/web'), level(configured, 'overlays/crianex/demo/web')], [[], ['error']]);
    const typo = configured.find((f) => f.rule === 'unknown-policy');
    assert.equal(typo?.severity, 'warning');
    assert.match(typo!.message, /environments\[dev\]\.policies names policy 'no-such-policy', which does not exist/);
  });

  test('prod-digest-pinned: a production tag without digest warns with the command that pins it; a digest passes', async () => {
    const fs = await findings({ 'overlays/crianex/demo/web/kustomization.yaml': overlay('demo', 'newTag: "1.0.0"') });
    const f = fs.find((x) => x.rule === 'prod-digest-pinned');
    assert.equal(f?.severity, 'warning');
    assert.equal(f?.overlay, 'overlays/crianex/demo/web');
    assert.match(f?.message ?? '', /npm run bump demo\/web prod registry\.example\.com\/demo-web:1\.0\.0/);
    // It points at the pin to change, the overlay's images: entry, not the base's image line.
    assert.deepEqual([f?.file, f?.line], ['overlays/crianex/demo/web/kustomization.yaml', 7]);
    // dev has no digest requirement; prod with tag@digest passes (the clean fixture)
    assert.equal(fs.filter((x) => x.rule === 'prod-digest-pinned').length, 1);
  });

  test('digest-only pins pass no-latest-image and prod-digest-pinned', async () => {
    const fs = await findings({ 'overlays/crianex/demo/web/kustomization.yaml': overlay('demo', `digest: ${DIGEST}`) });
    assert.deepEqual(fs.filter((f) => f.severity !== 'info'), []);
  });

  test('an exemption annotation with a reason turns the finding into a note shown in the report', async () => {
    const patch = deployment('  name: demo-web\n', '  name: demo-web\n  annotations:\n    exempt.policy.crianex.com/run-as-non-root: "dockerd needs root"\n');
    Object.assign(patch, { 'apps/demo/web/deployment.yaml': patch['apps/demo/web/deployment.yaml'].replace('        runAsNonRoot: true\n', '') });
    const fs = await findings(patch);
    assert.deepEqual(errors(fs), []);
    const note = fs.find((f) => f.rule === 'run-as-non-root');
    assert.equal(note?.severity, 'info');
    assert.match(note?.message ?? '', /exempted: dockerd needs root/);
  });

  test('an exemption without a reason, or for an unknown policy, is reported', async () => {
    const patch = deployment('  name: demo-web\n', '  name: demo-web\n  annotations:\n    exempt.policy.crianex.com/run-as-non-root: ""\n    exempt.policy.crianex.com/no-such-policy: "typo"\n');
    const fs = await findings(patch);
    assert.match(errors(fs).find((f) => f.rule === 'run-as-non-root')?.message ?? '', /gives no reason/);
    assert.equal(fs.find((f) => f.rule === 'unknown-exemption')?.severity, 'warning');
  });
});

describe('before rendering', () => {
  test('a YAML syntax error is reported with file and line, and that overlay is not rendered', async () => {
    const fs = errors(await findings(deployment('  replicas: 1\n', '  replicas: 1\n   bad: [\n')));
    const f = fs.find((x) => x.rule === 'yaml-syntax');
    assert.equal(f?.file, 'apps/demo/web/deployment.yaml');
    assert.ok((f?.line ?? 0) >= 6);
    assert.equal(fs.filter((x) => x.rule === 'kustomize-build').length, 0);
  });

  test('a duplicate key is reported with file and line', async () => {
    const f = errors(await findings(deployment('  replicas: 1\n', '  replicas: 1\n  replicas: 2\n'))).find((x) => x.rule === 'yaml-syntax');
    assert.match(f?.message ?? '', /duplicate key/i);
    assert.equal(f?.line, 7);
  });

  test('a kustomize error names the overlay', async () => {
    const fs = errors(await findings({ 'overlays/minikube/demo/web/kustomization.yaml': overlay('demo', 'newTag: "1"').replace('../../../../apps/demo/web', '../../../../apps/demo/nope') }));
    assert.equal(fs[0]?.overlay, 'overlays/minikube/demo/web');
  });
});

describe('render cache', () => {
  test('an edit to any file an overlay reads is seen on the next run; untouched overlays come from the cache', async () => {
    const dir = await repo();
    assert.deepEqual(errors((await runValidation({ cwd: dir, envVars: testEnv })).findings), []);
    const cached = await readdir(path.join(dir, '.cache/render'));
    assert.equal(cached.length, 2, 'one entry per overlay');
    await writeFile(path.join(dir, 'apps/demo/web/deployment.yaml'), DEPLOYMENT.replace('replicas: 1', 'replicas: "one"'));
    const again = errors((await runValidation({ cwd: dir, envVars: testEnv })).findings);
    assert.deepEqual(again.map((f) => `${f.overlay} ${f.field}`).sort(), ['overlays/crianex/demo/web spec.replicas', 'overlays/minikube/demo/web spec.replicas']);
    await writeFile(path.join(dir, 'apps/demo/web/deployment.yaml'), DEPLOYMENT);
    await writeFile(path.join(dir, 'overlays/minikube/demo/web/kustomization.yaml'), overlay('demo', 'newTag: latest'));
    const third = errors((await runValidation({ cwd: dir, envVars: testEnv })).findings);
    assert.deepEqual(third.map((f) => `${f.overlay} ${f.rule}`), ['overlays/minikube/demo/web no-latest-image']);
  });
});

describe('filters', () => {
  test('--env and --app select overlays; the cluster entry points are skipped with --app', async () => {
    const dir = await repo({ 'clusters/minikube/kustomization.yaml': 'resources: []\n' });
    const byEnv = await runValidation({ cwd: dir, envVars: testEnv, env: 'dev' });
    assert.deepEqual(byEnv.targets.map((t) => t.dir), ['overlays/minikube/demo/web', 'clusters/minikube']);
    const byApp = await runValidation({ cwd: dir, envVars: testEnv, app: 'web' });
    assert.deepEqual(byApp.targets.map((t) => t.dir), ['overlays/minikube/demo/web', 'overlays/crianex/demo/web']);
  });

  test('an unknown --app or --env fails with the candidates', async () => {
    const dir = await repo();
    await assert.rejects(runValidation({ cwd: dir, envVars: testEnv, app: 'nope' }), (e: Error) => e instanceof NameError && /candidates: demo\/web/.test(e.message));
    await assert.rejects(runValidation({ cwd: dir, envVars: testEnv, env: 'qa' }), (e: Error) => e instanceof NameError && /candidates: dev, prod/.test(e.message));
  });
});
