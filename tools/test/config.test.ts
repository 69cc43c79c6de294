import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseConfig, loadConfig } from '../lib/config/config.js';
import { discoverApps, resolveApp } from '../lib/config/apps.js';
import { ConfigError, NameError, ToolMissingError, UsageError } from '../lib/core/errors.js';
import { runValidation } from '../lib/validate/validation.js';
import { findKubeconform, findKustomize, REPO_ROOT } from '../lib/core/tools.js';
import { baseFiles, DIGEST, GITOPS_YAML, makeRepo, overlay, removeRepo, testEnv } from './repo-fixture.js';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map(removeRepo)));

test('the shipped gitops.yaml: dev on minikube, prod on crianex promoted from dev', async () => {
  const c = await loadConfig(REPO_ROOT, {});
  assert.deepEqual(
    c.environments.map((e) => [e.name, e.cluster, e.overlayRoot, e.promotesFrom, e.requireDigests]),
    [
      ['dev', 'minikube', 'overlays/minikube', [], false],
      ['prod', 'crianex', 'overlays/crianex', ['dev'], true],
    ],
  );
  // The product default is what a connected user needs; the mirror only comes from the environment.
  assert.equal(c.schemaMirror, undefined);
  assert.ok(c.schemaLocations.includes('default'));
});

test('config errors name the file, the line and the field', () => {
  const bad = GITOPS_YAML.replace('    cluster: crianex', '    cluster: Crianex!');
  assert.throws(() => parseConfig('/r', bad, {}), (e: Error) => e instanceof ConfigError && /gitops\.yaml:6: environments\.1\.cluster: must match pattern/.test(e.message));
  const unknownKey = GITOPS_YAML + 'enviroments: []\n';
  assert.throws(() => parseConfig('/r', unknownKey, {}), /\(top level\): must NOT have additional properties 'enviroments'/);
  const missing = GITOPS_YAML.replace('    overlayRoot: overlays/minikube\n', '');
  assert.throws(() => parseConfig('/r', missing, {}), /environments\.0: must have required property 'overlayRoot'/);
  const dangling = GITOPS_YAML.replace('promotesFrom: dev', 'promotesFrom: qa');
  assert.throws(() => parseConfig('/r', dangling, {}), /gitops\.yaml:\d+: environments\.1\.promotesFrom: unknown environment 'qa' \(known: dev, prod\)/);
  const cycle = GITOPS_YAML.replace('    overlayRoot: overlays/minikube\n', '    overlayRoot: overlays/minikube\n    promotesFrom: prod\n');
  assert.throws(() => parseConfig('/r', cycle, {}), /promotion cycle/);
  const dup = GITOPS_YAML.replace('- name: prod', '- name: dev');
  assert.throws(() => parseConfig('/r', dup, {}), /duplicate environment 'dev'/);
  assert.throws(() => parseConfig('/r', 'environments: [\n', {}), /gitops\.yaml:\d+/);
});

test('promotesFrom: one name or a list of sources; unknown, self and cyclic sources are errors naming the entry', () => {
  const three = GITOPS_YAML.replace('  - name: prod\n', '  - name: hotfix\n    cluster: minikube\n    overlayRoot: overlays/hotfix\n  - name: prod\n').replace('promotesFrom: dev\n', 'promotesFrom: [dev, hotfix]\n');
  const c = parseConfig('/r', three, {});
  assert.deepEqual(c.environments.map((e) => [e.name, e.promotesFrom]), [['dev', []], ['hotfix', []], ['prod', ['dev', 'hotfix']]]);
  assert.throws(() => parseConfig('/r', three.replace('[dev, hotfix]', '[dev, qa]'), {}), /gitops\.yaml:\d+: environments\.2\.promotesFrom\.1: unknown environment 'qa'/);
  assert.throws(() => parseConfig('/r', three.replace('[dev, hotfix]', '[dev, prod]'), {}), /environments\.2\.promotesFrom\.1: 'prod' cannot promote from itself/);
  assert.throws(() => parseConfig('/r', three.replace('[dev, hotfix]', '[]'), {}), /environments\.2\.promotesFrom/);
  const cycle = three.replace('    overlayRoot: overlays/hotfix\n', '    overlayRoot: overlays/hotfix\n    promotesFrom: prod\n');
  assert.throws(() => parseConfig('/r', cycle, {}), /promotion cycle through '(hotfix|prod)'/);
});

test('environment variables point the toolkit at a mirror or other schema locations', () => {
  const c = parseConfig('/repo', GITOPS_YAML, { GITOPS_SCHEMA_MIRROR: '../mirror', GITOPS_SCHEMA_LOCATIONS: 'a/{{.ResourceKind}}.json, b' });
  assert.equal(c.schemaMirror, path.resolve('/repo', '../mirror'));
  assert.deepEqual(c.schemaLocations, ['a/{{.ResourceKind}}.json', 'b']);
});

test('a third environment needs only config and overlay folders', async () => {
  const staging = `  - name: staging
    cluster: crianex
    overlayRoot: overlays/crianex-staging
    promotesFrom: dev
`;
  const gitops = GITOPS_YAML.replace('  - name: prod\n', `${staging}  - name: prod\n`).replace('promotesFrom: dev\n    requireDigests', 'promotesFrom: staging\n    requireDigests');
  const dir = await makeRepo({
    ...baseFiles(),
    'gitops.yaml': gitops,
    'overlays/crianex-staging/demo/web/kustomization.yaml': overlay('demo-staging', `newTag: "1.1.0@${DIGEST}"`),
  });
  dirs.push(dir);
  const config = await loadConfig(dir, {});
  assert.deepEqual(config.environments.map((e) => `${e.name}<-${e.promotesFrom.join(',')}`), ['dev<-', 'staging<-dev', 'prod<-staging']);
  const apps = await discoverApps(config);
  assert.deepEqual(apps.map((a) => `${a.env.name}:${a.id}`), ['dev:demo/web', 'staging:demo/web', 'prod:demo/web']);
  assert.equal(resolveApp(config, apps, 'web', 'staging').dir, 'overlays/crianex-staging/demo/web');
  const r = await runValidation({ cwd: dir, envVars: testEnv, env: 'staging' });
  assert.deepEqual(r.targets.map((t) => t.dir), ['overlays/crianex-staging/demo/web']);
  assert.deepEqual(r.findings.filter((f) => f.severity !== 'info'), []);
  assert.equal(r.rendered[0].objects[0].metadata.namespace, 'demo-staging');
});

test('app names: id, slug or unambiguous suffix; ambiguous and unknown names list candidates', async () => {
  const config = await loadConfig(REPO_ROOT, {});
  const apps = await discoverApps(config);
  assert.equal(resolveApp(config, apps, 'backend', 'prod').id, 'nofluxo/backend');
  assert.equal(resolveApp(config, apps, 'nofluxo-ai-agent', 'dev').id, 'nofluxo/ai-agent');
  assert.throws(() => resolveApp(config, apps, 'backend', 'dev'), (e: Error) => e instanceof NameError && /ambiguous/.test(e.message) && e.message.includes('nofluxo/backend, taskflow/backend, todo-chatbot/backend'));
  assert.throws(() => resolveApp(config, apps, 'frontend', 'prod'), (e: Error) => e instanceof NameError && /unknown app 'frontend' in environment 'prod'/.test(e.message));
  assert.throws(() => resolveApp(config, apps, 'backend', 'qa'), (e: Error) => e instanceof NameError && /candidates: dev, prod/.test(e.message));
  for (const evil of ['../x', 'a//b', '/a', 'a;rm -rf', 'Backend', '-x']) assert.throws(() => resolveApp(config, apps, evil, 'dev'), UsageError);
});

test('without the pinned kustomize, validation falls back to kubectl kustomize with a visible warning', async () => {
  const empty = await mkdtemp(path.join(os.tmpdir(), 'gitops-notools-'));
  dirs.push(empty);
  const pinnedKubeconform = (await findKubeconform(testEnv)).cmd;
  const env = { ...testEnv, GITOPS_TOOLS_DIR: empty, GITOPS_KUBECONFORM: pinnedKubeconform };
  const tool = await findKustomize(env);
  assert.deepEqual([path.basename(tool.cmd), tool.args], ['kubectl', ['kustomize']]);
  const dir = await makeRepo(baseFiles());
  dirs.push(dir);
  const warnings: string[] = [];
  const r = await runValidation({ cwd: dir, envVars: env, warn: (w) => warnings.push(w) });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /pinned kustomize v5\.8\.1 not found .*falling back to 'kubectl kustomize'.*npm run setup/);
  assert.deepEqual(r.findings.filter((f) => f.severity !== 'info'), []);
  assert.equal(r.objects, 2);
});

test('without kubeconform, validation stops with the command that installs it', async () => {
  const empty = await mkdtemp(path.join(os.tmpdir(), 'gitops-notools-'));
  dirs.push(empty);
  await assert.rejects(findKubeconform({ GITOPS_TOOLS_DIR: empty }), (e: Error) => e instanceof ToolMissingError && /kubeconform v0\.7\.0 not found/.test(e.message) && /npm run setup/.test((e as ToolMissingError).hint ?? ''));
});

test('clusters: facts per cluster; errors name the line and the field', () => {
  const facts = `clusters:
  crianex:
    storageClasses:
      - {name: local, accessModes: [ReadWriteOnce], default: true}
      - {name: nfs, accessModes: [ReadWriteMany]}
    nodeLabels: {pool: [batch]}
    taints: [{key: pool, value: batch, effect: NoSchedule}]
    privateRegistries: [registry.example.com]
`;
  const c = parseConfig('/r', GITOPS_YAML + facts, {});
  assert.deepEqual(c.clusters.crianex.storageClasses?.map((s) => s.name), ['local', 'nfs']);
  assert.deepEqual(c.clusters.crianex.nodeLabels, { pool: ['batch'] });
  assert.equal(c.clusters.minikube, undefined);
  assert.deepEqual(parseConfig('/r', GITOPS_YAML, {}).clusters, {});
  // GITOPS_YAML has 11 lines: the clusters block starts at line 12.
  assert.throws(() => parseConfig('/r', GITOPS_YAML + facts.replace('[ReadWriteMany]', '[ReadWriteAll]'), {}), /gitops\.yaml:16: clusters\.crianex\.storageClasses\.1\.accessModes\.0: must be equal to one of the allowed values/);
  assert.throws(() => parseConfig('/r', GITOPS_YAML + facts.replace('crianex:', 'crianx:'), {}), /gitops\.yaml:13: clusters\.crianx: no environment runs on cluster 'crianx' \(known: minikube, crianex\)/);
  assert.throws(() => parseConfig('/r', GITOPS_YAML + facts.replace('[ReadWriteMany]}', '[ReadWriteMany], default: true}'), {}), /gitops\.yaml:16: clusters\.crianex\.storageClasses: 2 default classes/);
  assert.throws(() => parseConfig('/r', GITOPS_YAML + facts.replace('effect: NoSchedule', 'effect: Never'), {}), /gitops\.yaml:18: clusters\.crianex\.taints\.0\.effect/);
});

test('clusters.<c>.nodes and rehearsal: the sync rehearsal\'s fake nodes and stand-ins; errors name the field', () => {
  const facts = `clusters:
  crianex:
    nodes:
      - {name: general, count: 2, cpu: "4", memory: 8Gi}
      - {count: 1, cpu: 3500m, memory: 4096Mi, pods: 30, labels: {pool: batch}, taints: [{key: pool, value: batch, effect: NoSchedule}]}
    rehearsal:
      ingressClasses: [traefik]
      expectUnhealthy: [{kind: HorizontalPodAutoscaler, reason: no metrics API}]
      timeoutSeconds: 120
`;
  const c = parseConfig('/r', GITOPS_YAML + facts, {});
  assert.deepEqual(c.clusters.crianex.nodes?.map((n) => [n.count, n.cpu, n.memory]), [[2, '4', '8Gi'], [1, '3500m', '4096Mi']]);
  assert.deepEqual(c.clusters.crianex.rehearsal?.ingressClasses, ['traefik']);
  assert.throws(() => parseConfig('/r', GITOPS_YAML + facts.replace('memory: 8Gi', 'memory: 8GB'), {}), /gitops\.yaml:15: clusters\.crianex\.nodes\.0\.memory: must match pattern/);
  assert.throws(() => parseConfig('/r', GITOPS_YAML + facts.replace('count: 2', 'count: 0'), {}), /clusters\.crianex\.nodes\.0\.count: must be >= 1/);
  assert.throws(() => parseConfig('/r', GITOPS_YAML + facts.replace(', reason: no metrics API', ''), {}), /clusters\.crianex\.rehearsal\.expectUnhealthy\.0: must have required property 'reason'/);
});

test('the precompiled gitops.yaml validator (written by the build) answers as Ajv\'s compile of the schema', async () => {
  const { mkdirSync, mkdtempSync, rmSync } = await import('node:fs');
  const { createRequire } = await import('node:module');
  const { Ajv } = await import('ajv');
  const { AJV_OPTIONS, configSchemaHash, writePrecompiled } = await import('../lib/config/precompile.js');
  const schema = (await import('../lib/config/config.schema.json', { with: { type: 'json' } })).default;
  // Inside the repository, as dist/ is: the code requires Ajv's runtime from node_modules.
  mkdirSync(path.join(REPO_ROOT, '.cache'), { recursive: true });
  const dir = mkdtempSync(path.join(REPO_ROOT, '.cache', 'test-precompiled-'));
  try {
    const pre = createRequire(import.meta.url)(writePrecompiled(dir)) as ((d: unknown) => boolean) & { errors?: unknown[]; schemaHash: string };
    assert.equal(pre.schemaHash, configSchemaHash());
    const compiled = new Ajv(AJV_OPTIONS).compile(schema);
    const good = { environments: [{ name: 'dev', cluster: 'minikube', overlayRoot: 'overlays/dev' }] };
    const bad = [{ environments: [{ name: 'dev', cluster: 'minikube' }] }, { environments: [{ name: 'dev', cluster: 'minikube', overlayRoot: 'overlays/dev', bogus: 1 }] }, { environments: [] , kubernetes: { version: 7 } }];
    for (const d of [good, ...bad]) {
      assert.equal(pre(d), compiled(d), JSON.stringify(d));
      assert.deepEqual(pre.errors ?? null, compiled.errors ?? null, JSON.stringify(d));
    }
    assert.equal(pre(good), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
