// validate's server-side dry run against a real kube-apiserver (built by `npm run setup`): what
// kubeconform -strict passes but the API server rejects, reported at file, object and field.
// One server per file, shared by every test (it takes seconds to start).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import os from 'node:os';
import { stringify } from 'yaml';
import { LocalApiServer } from '../lib/server/apiserver.js';
import { runValidation } from '../lib/validate/validation.js';
import { fieldPath, statusFindings } from '../lib/server/serverdryrun.js';
import type { Finding } from '../lib/core/finding.js';
import { findApiServer, REPO_ROOT, type ApiServerBinaries } from '../lib/core/tools.js';
import { commitAll, gitInit, writeFiles } from './fixtures.js';
import { waitForProcesses } from './harness/proc.js';
import { baseFiles, DEPLOYMENT, GITOPS_YAML, makeRepo, removeRepo, testEnv } from './repo-fixture.js';

const execFileP = promisify(execFile);
const found = await findApiServer(testEnv);
// Locally the suite may run before `npm run setup` built the server; in CI that is a failure.
const skip = 'missing' in found && !process.env.CI ? `server dry run tests skipped: ${found.missing} (npm run setup builds it)` : false;
if (skip) process.stderr.write(`${skip}\n`);

const dirs: string[] = [];
let server: LocalApiServer;

before(async () => {
  if (skip) return;
  assert.ok(!('missing' in found), `CI=true and ${'missing' in found ? found.missing : ''}: npm run setup must build kube-apiserver and etcd`);
  server = await LocalApiServer.start(found as ApiServerBinaries, []);
});
after(async () => {
  await server?.stop();
  await Promise.all(dirs.map(removeRepo));
});

/** The fixture repo with crianex running cert-manager (for the CRD rule). */
const GITOPS = `${GITOPS_YAML}clusters:
  minikube:
    apiServer:
      flags: [--allow-privileged=true]
  crianex:
    apiServer:
      flags: [--allow-privileged=true]
      crds:
        - {name: cert-manager, version: v1.21.1}
`;

async function repo(patch: Record<string, string> = {}): Promise<string> {
  const dir = await makeRepo({ ...baseFiles(), 'gitops.yaml': GITOPS, ...patch });
  dirs.push(dir);
  return dir;
}

const serverFindings = (fs: Finding[]) => fs.filter((f) => f.rule.startsWith('server-'));

/** A second workload in the demo base, from the fixture Deployment with edits. */
function workload(name: string, edits: Array<[string, string]>): string {
  let text = DEPLOYMENT.replace('name: demo-web', `name: ${name}`);
  for (const [from, to] of edits) {
    assert.ok(text.includes(from), `fixture does not contain ${from}`);
    text = text.replace(from, to);
  }
  return text;
}

const SERVICE = (name: string, spec: string) => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
${spec}`;

/** Every class of mistake of issue 9, each in its own object of one fixture repository. */
const BROKEN: Record<string, string> = {
  'apps/demo/web/kustomization.yaml': baseFiles()['apps/demo/web/kustomization.yaml'].replace(
    '  - deployment.yaml\n',
    ['deployment.yaml', 'selector.yaml', 'labels.yaml', 'quantity.yaml', 'requests.yaml', 'ports.yaml', 'nodeport.yaml', 'names.yaml', 'ingress.yaml'].map((f) => `  - ${f}\n`).join(''),
  ),
  // selector not matching the template labels
  'apps/demo/web/selector.yaml': workload('demo-selector', [['  replicas: 1\n', '  replicas: 1\n  selector:\n    matchLabels:\n      tier: web\n']]),
  // label value over 63 characters
  'apps/demo/web/labels.yaml': workload('demo-labels', [['metadata:\n  name: demo-labels\n', `metadata:\n  name: demo-labels\n  labels:\n    release: ${'x'.repeat(64)}\n`]]),
  // malformed quantities
  'apps/demo/web/quantity.yaml': workload('demo-quantity', [['requests: {cpu: 10m, memory: 32Mi}', 'requests: {cpu: 500mi, memory: 10GiB}']]),
  // requests above limits
  'apps/demo/web/requests.yaml': workload('demo-requests', [['requests: {cpu: 10m, memory: 32Mi}', 'requests: {cpu: 10m, memory: 128Mi}']]),
  // duplicate Service port names
  'apps/demo/web/ports.yaml': SERVICE('demo-ports', `  ports:
    - name: http
      port: 80
      targetPort: http
    - name: http
      port: 8080
      targetPort: http
`),
  // nodePort on a ClusterIP Service
  'apps/demo/web/nodeport.yaml': SERVICE('demo-nodeport', `  type: ClusterIP
  ports:
    - name: http
      port: 80
      targetPort: http
      nodePort: 30080
`),
  // a name that is not DNS-1123
  'apps/demo/web/names.yaml': `apiVersion: v1
kind: ConfigMap
metadata:
  name: demo_settings
data:
  mode: fast
`,
  // an Ingress host that is not DNS-1123
  'apps/demo/web/ingress.yaml': `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: demo-ingress
spec:
  rules:
    - host: Demo_Web.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service: {name: demo-web, port: {number: 80}}
`,
};

describe('server-side dry run', { skip }, () => {
  test('field paths of API server errors map to the rendered object', () => {
    const o = { spec: { ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81, protocol: 'UDP' }], template: { metadata: { labels: { 'app.kubernetes.io/name': 'x' } } } } };
    assert.deepEqual(fieldPath('spec.template.spec.containers[0].resources.requests[memory]', { spec: { template: { spec: { containers: [{}] } } } }), ['spec', 'template', 'spec', 'containers', 0, 'resources', 'requests', 'memory']);
    assert.deepEqual(fieldPath('.spec.ports[name="b",port=81,protocol="UDP"].name', o), ['spec', 'ports', 1, 'name']);
    assert.deepEqual(fieldPath('metadata.labels[app.kubernetes.io/name]', { metadata: { labels: {} } }), ['metadata', 'labels', 'app.kubernetes.io/name']);
    // Server-side apply's type errors, as kube-apiserver 1.35 words them: one finding per line.
    const sts = { kind: 'StatefulSet', apiVersion: 'apps/v1', metadata: { name: 's' }, spec: { template: { spec: { containers: [{ name: 'x' }, { name: 'db', livenessProbe: { exec: { command: [true] } } }] } } } };
    const fs = statusFindings({ r: { target: { dir: 'o', cluster: 'c', kind: 'app' }, objects: [], closure: [], sources: [], findings: [] }, o: sts }, {
      message: 'failed to create typed patch object (demo/s; apps/v1, Kind=StatefulSet): errors:\n  .spec.template.spec.containers[name="db"].livenessProbe.exec.command[0]: expected string, got &value.valueUnstructured{Value:true}\n  .metadata.x: field not declared in schema',
    }, 422, 'kube-apiserver');
    assert.deepEqual(fs.map((f) => f.field), ['spec.template.spec.containers[1].livenessProbe.exec.command[0]', 'metadata.x']);
  });

  test('the unmodified fixture passes the dry run (the passing case of every class below)', async () => {
    const r = await runValidation({ cwd: await repo(), envVars: testEnv, apiServer: server });
    assert.ok(r.server?.ran);
    assert.deepEqual(serverFindings(r.findings), []);
  });

  test('every class kubeconform -strict passes is rejected, at file, object and field', async () => {
    const r = await runValidation({ cwd: await repo(BROKEN), envVars: testEnv, apiServer: server });
    const fs = serverFindings(r.findings).filter((f) => f.overlay === 'overlays/minikube/demo/web');
    const at = (resource: string, field: RegExp, message: RegExp, file: string) => {
      const f = fs.find((x) => x.resource === resource && field.test(x.field ?? '') && message.test(x.message));
      assert.ok(f, `no finding for ${resource} ${field} ${message} in:\n${fs.map((x) => `${x.resource} ${x.field} ${x.message}`).join('\n')}`);
      assert.equal(f.severity, 'error');
      assert.equal(f.file, file);
      assert.ok(f.line && f.line > 0, `no line for ${resource}`);
      return f;
    };
    at('Deployment/demo/demo-selector', /^spec\.template\.metadata\.labels$/, /selector.*does not match template.*labels/, 'apps/demo/web/selector.yaml');
    const label = at('Deployment/demo/demo-labels', /^metadata\.labels$/, /must be no more than 63 (characters|bytes)/, 'apps/demo/web/labels.yaml');
    assert.equal(label.line, 5);
    const mem = at('Deployment/demo/demo-quantity', /resources\.requests\.memory$/, /10GiB.*quantities must match/, 'apps/demo/web/quantity.yaml');
    assert.equal(mem.line, 23);
    at('Deployment/demo/demo-quantity', /resources\.requests\.cpu$/, /500mi/, 'apps/demo/web/quantity.yaml');
    at('Deployment/demo/demo-requests', /resources\.requests$/, /must be less than or equal to memory limit/, 'apps/demo/web/requests.yaml');
    assert.equal(at('Service/demo/demo-ports', /^spec\.ports\[1\]\.name$/, /Duplicate value/, 'apps/demo/web/ports.yaml').line, 10);
    assert.equal(at('Service/demo/demo-nodeport', /^spec\.ports\[0\]\.nodePort$/, /may not be used when `type` is 'ClusterIP'/, 'apps/demo/web/nodeport.yaml').line, 11);
    at('ConfigMap/demo/demo_settings', /^metadata\.name$/, /RFC 1123/, 'apps/demo/web/names.yaml');
    assert.equal(at('Ingress/demo/demo-ingress', /^spec\.rules\[0\]\.host$/, /RFC 1123/, 'apps/demo/web/ingress.yaml').line, 7);
    // kubeconform -strict passed all of them: none has a schema error.
    assert.deepEqual(r.findings.filter((f) => f.rule === 'schema'), []);
  });

  test('a second run with nothing changed takes every dry-run outcome from the cache, located anew', async () => {
    const dir = await repo(BROKEN);
    const first = await runValidation({ cwd: dir, envVars: testEnv, apiServer: server });
    assert.ok(first.server!.timings.dryRunMs > 0);
    assert.doesNotMatch(first.server!.note, /unchanged since an earlier run/);
    // A line inserted above the Ingress moves its finding; the object (and so its outcome) is the same.
    const file = path.join(dir, 'apps/demo/web/ingress.yaml');
    await writeFile(file, `# moved down one line\n${readFileSync(file, 'utf8')}`);
    const second = await runValidation({ cwd: dir, envVars: testEnv, apiServer: server });
    assert.equal(second.server!.timings.dryRunMs, 0, 'no object was sent to the server');
    assert.match(second.server!.note, /(\d+) objects against kube-apiserver .*; \1 of them unchanged since an earlier run/);
    const key = (f: Finding) => [f.overlay, f.resource, f.rule, f.field, f.message, f.file].join('|');
    assert.deepEqual(serverFindings(second.findings).map(key).sort(), serverFindings(first.findings).map(key).sort());
    const host = (r: typeof first) => serverFindings(r.findings).find((f) => f.resource === 'Ingress/demo/demo-ingress' && f.field === 'spec.rules[0].host')!;
    assert.equal(host(second).line, host(first).line! + 1);
    assert.ok(!serverFindings(second.findings).some((f) => 'pointer' in f), 'internal fields are not reported');
    // Off with GITOPS_NO_CACHE: the server checks every object again.
    const cold = await runValidation({ cwd: dir, envVars: { ...testEnv, GITOPS_NO_CACHE: '1' }, apiServer: server });
    assert.ok(cold.server!.timings.dryRunMs > 0);
    // validate's own server, started while the repository renders (no outcome kept yet): what it
    // learnt serves the next run, which starts no server at all.
    const own = await repo(BROKEN);
    const a = await runValidation({ cwd: own, envVars: testEnv, server: 'local' });
    assert.ok(a.server!.timings.dryRunMs > 0);
    const b = await runValidation({ cwd: own, envVars: testEnv, server: 'local' });
    assert.equal(b.server!.timings.dryRunMs + b.server!.timings.startMs, 0, b.server!.note);
    assert.deepEqual(serverFindings(b.findings).map(key).sort(), serverFindings(a.findings).map(key).sort());
  });

  test('a Pod of a system PriorityClass and a ServiceAccount of the render, sent by a server just started', async () => {
    const pod = `apiVersion: v1
kind: Pod
metadata:
  name: demo-critical
spec:
  priorityClassName: system-node-critical
  serviceAccountName: demo-runner
  containers:
    - name: main
      image: registry.example.com/demo@sha256:${'a'.repeat(64)}
`;
    const dir = await repo({
      'overlays/minikube/demo/web/pod.yaml': `${pod}---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: demo-runner
`,
      'overlays/minikube/demo/web/kustomization.yaml': baseFiles()['overlays/minikube/demo/web/kustomization.yaml'].replace('  - ../../../../apps/demo/web\n', '  - ../../../../apps/demo/web\n  - pod.yaml\n'),
    });
    const r = await runValidation({ cwd: dir, envVars: { ...testEnv, GITOPS_NO_CACHE: '1' }, server: 'local', env: 'dev' });
    assert.ok(r.server?.ran, r.server?.note);
    assert.ok(r.rendered.some((x) => x.objects.some((o) => o.kind === 'Pod')), 'the Pod is rendered');
    assert.deepEqual(serverFindings(r.findings).filter((f) => f.resource.startsWith('Pod/')), []);
  });

  test('a CRD validation rule (CEL) of a cluster\'s pinned CRDs', async () => {
    const issuer = `apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: venafi
spec:
  venafi:
    zone: devops
`;
    const dir = await repo({
      'overlays/crianex/demo/web/issuer.yaml': issuer,
      'overlays/crianex/demo/web/kustomization.yaml': baseFiles()['overlays/crianex/demo/web/kustomization.yaml'].replace('  - ../../../../apps/demo/web\n', '  - ../../../../apps/demo/web\n  - issuer.yaml\n'),
    });
    const r = await runValidation({ cwd: dir, envVars: testEnv, apiServer: server });
    // (kustomize sets the overlay's namespace on it, not knowing the kind is cluster-scoped)
    const f = serverFindings(r.findings).find((x) => /^ClusterIssuer\/.*\/venafi$/.test(x.resource));
    assert.ok(f, JSON.stringify(serverFindings(r.findings)));
    assert.equal(f.field, 'spec.venafi');
    assert.match(f.message, /exactly one of tpp, cloud, or ngts must be configured/);
    assert.equal(f.file, 'overlays/crianex/demo/web/issuer.yaml');
    assert.equal(f.line, 6);
    // minikube does not run cert-manager: the same object there is a kind the server does not serve.
    const mk = await runValidation({
      cwd: await repo({
        'overlays/minikube/demo/web/issuer.yaml': issuer,
        'overlays/minikube/demo/web/kustomization.yaml': baseFiles()['overlays/minikube/demo/web/kustomization.yaml'].replace('  - ../../../../apps/demo/web\n', '  - ../../../../apps/demo/web\n  - issuer.yaml\n'),
      }),
      envVars: testEnv,
      apiServer: server,
    });
    assert.match(mk.findings.find((x) => x.rule === 'server-unknown-kind')?.message ?? '', /does not serve cert-manager.io\/v1 ClusterIssuer.*clusters\.minikube\.apiServer\.crds/);
  });

  test('the repository as shipped passes the dry run of both clusters', async () => {
    const r = await runValidation({ cwd: REPO_ROOT, envVars: testEnv, apiServer: server });
    assert.ok(r.server?.ran);
    assert.deepEqual(r.findings.filter((f) => f.severity === 'error'), []);
    assert.match(r.server!.note, /\((minikube, crianex|crianex, minikube)\)/);
  });

  test('with --base, an immutable-field change against the deployed base (the base applied for real first)', async () => {
    const sts = (policy: string) => `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: demo-db
spec:
  serviceName: demo-db
  podManagementPolicy: ${policy}
  template:
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
      containers:
        - name: db
          image: registry.example.com/demo-web
          livenessProbe:
            exec: {command: ["true"]}
          readinessProbe:
            exec: {command: ["true"]}
          resources:
            requests: {cpu: 10m, memory: 32Mi}
            limits: {memory: 64Mi}
`;
    const dir = await repo({
      'apps/demo/web/statefulset.yaml': sts('OrderedReady'),
      'apps/demo/web/kustomization.yaml': baseFiles()['apps/demo/web/kustomization.yaml'].replace('  - deployment.yaml\n', '  - deployment.yaml\n  - statefulset.yaml\n'),
    });
    const base = gitInit(dir);
    await writeFiles(dir, { 'apps/demo/web/statefulset.yaml': sts('Parallel') });
    commitAll(dir, 'parallel pods');
    // Without a base the change is a valid new object: the passing case.
    assert.deepEqual(serverFindings((await runValidation({ cwd: dir, envVars: testEnv, apiServer: server })).findings), []);
    const r = await runValidation({ cwd: dir, envVars: testEnv, apiServer: server, base });
    const fs = serverFindings(r.findings);
    assert.equal(fs.length, 2, JSON.stringify(fs)); // once per cluster
    for (const f of fs) {
      assert.equal(f.rule, 'server-immutable-field');
      assert.equal(f.resource, 'StatefulSet/demo/demo-db');
      assert.equal(f.file, 'apps/demo/web/statefulset.yaml');
      assert.equal(f.field, 'spec');
      assert.match(f.message, /updates to statefulset spec for fields other than .* are forbidden/);
    }
    assert.match(r.server!.note, /base revision applied first/);
  });

  test('--server KUBECONFIG:CONTEXT: the same dry run against a running cluster, strictly read-only', async () => {
    const creds = server.client.creds;
    const kdir = await mkdtemp(path.join(os.tmpdir(), 'gitops-kubeconfig-'));
    dirs.push(kdir);
    const kubeconfig = path.join(kdir, 'config');
    await writeFile(kubeconfig, stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'elsewhere',
      clusters: [{ name: 'local', cluster: { server: creds.server, 'certificate-authority-data': Buffer.from(creds.ca!).toString('base64') } }],
      users: [{ name: 'admin', user: { token: creds.token } }],
      contexts: [{ name: 'minikube', context: { cluster: 'local', user: 'admin' } }, { name: 'elsewhere', context: { cluster: 'local', user: 'admin' } }],
    }));
    const get = (p: string) => server.client.request('GET', p).then((res) => res.status);
    // A namespace the cluster lacks: skipped with a warning, and not created.
    const absent = await repo({ ...BROKEN, 'overlays/minikube/demo/web/kustomization.yaml': baseFiles()['overlays/minikube/demo/web/kustomization.yaml'].replace('namespace: demo', 'namespace: demo-absent') });
    const skipped = await runValidation({ cwd: absent, envVars: testEnv, server: { kubeconfig: `${kubeconfig}:minikube` } });
    const missing = skipped.findings.filter((f) => f.rule === 'server-namespace-missing');
    assert.equal(missing.length, 1);
    assert.match(missing[0].message, /namespace demo-absent does not exist in context minikube: its 9 object\(s\) were not dry-run/);
    assert.equal(await get('/api/v1/namespaces/demo-absent'), 404);
    assert.match(skipped.server!.note, /objects of cluster minikube against the API server of context minikube/);
    // An existing namespace: the same rejections as the local server, and nothing stored.
    await server.ensureNamespace('demo');
    const r = await runValidation({ cwd: await repo(BROKEN), envVars: testEnv, server: { kubeconfig: `${kubeconfig}:minikube` } });
    const fs = serverFindings(r.findings);
    assert.ok(fs.every((f) => f.overlay.startsWith('overlays/minikube/')), 'only the context\'s cluster is checked');
    assert.ok(fs.some((f) => f.resource === 'Service/demo/demo-nodeport' && f.field === 'spec.ports[0].nodePort'));
    assert.ok(fs.some((f) => f.resource === 'Deployment/demo/demo-selector' && f.field === 'spec.template.metadata.labels'));
    assert.equal(await get('/api/v1/namespaces/demo/services/demo-nodeport'), 404);
    assert.equal(await get('/apis/apps/v1/namespaces/demo/deployments/demo-requests'), 404);
    // The current context is not named like a cluster: --env says which one it is.
    await assert.rejects(runValidation({ cwd: await repo(), envVars: testEnv, server: { kubeconfig } }), /context 'elsewhere' is not named like a cluster.*pass --env/);
  });

  test('CRDs that cannot be downloaded (offline, no GITOPS_CRD_MIRROR): skipped with why, an error under CI=true', async () => {
    const dir = await repo({ 'gitops.yaml': GITOPS.replace('        - {name: cert-manager, version: v1.21.1}', '        - {name: widgets, version: v1.0.0, urls: ["https://127.0.0.1:1/{version}/widgets.yaml"]}') });
    const env = { ...testEnv, GITOPS_CRD_MIRROR: '', CI: '' };
    const r = await runValidation({ cwd: dir, envVars: env, server: 'auto' });
    assert.equal(r.server?.ran, false);
    assert.match(r.server!.note, /^server dry run skipped: downloading https:\/\/127\.0\.0\.1:1\/v1\.0\.0\/widgets\.yaml failed: .*set GITOPS_CRD_MIRROR/);
    await assert.rejects(runValidation({ cwd: dir, envVars: { ...env, CI: 'true' }, server: 'auto' }), /downloading https:\/\/127\.0\.0\.1:1\/v1\.0\.0\/widgets\.yaml failed/);
  });

  test('interrupted (SIGINT) mid-run: kube-apiserver and etcd are stopped and their folder removed', async () => {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'gitops-sigint-'));
    dirs.push(tmp);
    const dir = await repo();
    // TMPDIR puts the server's folder where this test can see it.
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'tools/cli.ts'), 'validate', '--cwd', dir], { env: { ...testEnv, TMPDIR: tmp }, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const serverDir = async () => (await readdir(tmp)).find((d) => d.startsWith('gitops-apiserver-'));
    // Interrupted once both servers run (seen in the process list, not guessed with a sleep).
    const both = (list: string[]) => list.some((p) => /\betcd\b/.test(p)) && list.some((p) => /kube-apiserver/.test(p));
    const running = await waitForProcesses(tmp, both, 120_000);
    assert.ok(both(running), `etcd and kube-apiserver never both ran: ${running.join('; ')}`);
    const found = await serverDir();
    assert.ok(found);
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    // SIGKILLed process groups are gone within moments; bounded wait for the kernel to reap them.
    assert.deepEqual(await waitForProcesses(tmp, (l) => l.length === 0, 10_000), [], 'no process of the interrupted run is left');
    assert.equal(existsSync(path.join(tmp, found)), false);
  });

  test('CLI: exits 1 naming file, object and field; --no-server says it skipped', async () => {
    const dir = await repo({ 'apps/demo/web/deployment.yaml': DEPLOYMENT.replace('memory: 32Mi}', 'memory: 500mi}') });
    const cli = path.join(REPO_ROOT, 'tools/cli.ts');
    const res = await execFileP('npx', ['tsx', cli, 'validate', '--cwd', dir], { env: testEnv }).catch((e) => e);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stdout, /apps\/demo\/web\/deployment\.yaml\s+Deployment\/demo\/demo-web/);
    assert.match(res.stdout, /server-dry-run\s+spec\.template\.spec\.containers\[0\]\.resources\.requests\.memory\s+\(line 23\)/);
    assert.match(res.stderr, /server dry run: \d+ objects against kube-apiserver v1\.35/);
    const off = await execFileP('npx', ['tsx', cli, 'validate', '--cwd', dir, '--no-server'], { env: testEnv }).catch((e) => e);
    assert.equal(off.code ?? 0, 0, off.stdout);
    assert.match(off.stderr, /^server dry run skipped: --no-server$/m);
  });
});
