// The long-lived renderer must render exactly what the pinned kustomize binary renders:
// same bytes for every overlay and cluster entry point of this repository and for fixtures
// that exercise components, patches, generators and name prefixes, and the same error text.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../lib/core/exec.js';
import { kustomizeBuild } from '../lib/render/kustomize.js';
import { parseStream } from '../lib/core/k8s.js';
import { Renderer } from '../lib/core/renderer.js';
import { findKustomize, REPO_ROOT, toolsDir } from '../lib/core/tools.js';
import { writeFiles } from './fixtures.js';
import { loadConfig } from '../lib/config/config.js';
import { discoverApps } from '../lib/config/apps.js';
import { testEnv } from './repo-fixture.js';

const bin = path.join(toolsDir(testEnv), 'kustomize');
const rendererBin = path.join(toolsDir(testEnv), 'kustomize-renderer');
const renderer = new Renderer(rendererBin);
const dirs: string[] = [];
after(async () => {
  renderer.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** `kustomize build` by the binary: stdout, or the error line it prints. */
async function binary(dir: string, args: string[]): Promise<{ yaml: string } | { error: string }> {
  const r = await run(bin, ['build', ...args, dir], { allowFailure: true });
  return r.code === 0 ? { yaml: r.stdout } : { error: r.stderr.trim().replace(/^Error: /, '') };
}

async function assertSame(dir: string, args: string[]): Promise<void> {
  const [want, got, withJson] = await Promise.all([binary(dir, args), renderer.render(dir, args), renderer.render(dir, args, { json: true })]);
  assert.deepEqual(got, want, `${dir} ${args.join(' ')}`);
  // The objects it hands over as JSON are what parsing its YAML gives.
  if ('yaml' in withJson) assert.deepEqual(withJson.objects, parseStream(withJson.yaml), `${dir} ${args.join(' ')} (json)`);
  else assert.deepEqual(withJson, want);
}

const ROOT_ONLY = ['--load-restrictor', 'LoadRestrictionsRootOnly'];

test('setup built the renderer beside kustomize', () => {
  assert.ok(existsSync(rendererBin), `${rendererBin} (npm run setup builds it)`);
});

test('every overlay and cluster entry point of this repository renders byte-identically, many at a time', async () => {
  const config = await loadConfig(REPO_ROOT, {});
  const dirs = [...(await discoverApps(config)).map((a) => a.dir), 'clusters/minikube', 'clusters/crianex'];
  assert.ok(dirs.length > 20);
  // All requests in flight at once: the renderer builds them concurrently in one process.
  await Promise.all(dirs.flatMap((d) => [assertSame(path.join(REPO_ROOT, d), ROOT_ONLY), assertSame(path.join(REPO_ROOT, d), [])]));
});

const DEPLOY = (name: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels: {app: ${name}}
spec:
  replicas: 1
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers:
        - name: main
          image: registry.example.com/${name}:1.0.0
          env:
            - {name: A, value: "yes"}
          ports: [{containerPort: 8080}]
`;

test('fixtures: components, strategic-merge and JSON patches, generators, namePrefix, labels, images, replicas', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gitops-renderer-'));
  dirs.push(dir);
  await writeFiles(dir, {
    'base/kustomization.yaml': 'resources: [deploy.yaml, svc.yaml, ing.yaml, tricky.yaml]\nconfigMapGenerator:\n  - name: cfg\n    files: [app.properties]\n    literals: [MODE=on, EMPTY=]\n',
    'base/deploy.yaml': DEPLOY('web'),
    'base/svc.yaml': 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n',
    'base/ing.yaml': 'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n  annotations: {keep: "1"}\nspec:\n  rules:\n    - host: web.example.com\n      http:\n        paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]\n',
    // Scalars whose type differs between YAML readers: JSON and YAML must agree on each.
    'base/tricky.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: tricky, annotations: {a: "yes", b: "0755"}}\ndata: {a: "yes", b: "0755", c: "1e3", d: "2001-12-14", e: "null", g: "on", h: "0x1F"}\nextra: {n: 1e3, o: 0o17, t: 2001-12-14, x: 0x1F, big: 12345678901234567890, nul: ~, f: 1.50, y: yes, neg: -0, e: "", l: [1, "2", true]}\n',
    'inf/kustomization.yaml': 'resources: [inf.yaml]\n',
    'inf/inf.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: inf}\nextra: {i: .inf, n: .nan}\n',
    'base/app.properties': 'a=1\nb: two\n',
    'components/ingress/kustomization.yaml': `apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
  - target: {kind: Ingress}
    patch: |-
      apiVersion: networking.k8s.io/v1
      kind: Ingress
      metadata:
        name: any
        annotations: {cert-manager.io/cluster-issuer: letsencrypt}
      spec:
        ingressClassName: traefik
`,
    'components/pool/kustomization.yaml': `apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
  - target: {kind: Deployment}
    patch: |-
      - op: add
        path: /spec/template/spec/nodeSelector
        value: {pool: non-business}
`,
    'overlay/kustomization.yaml': `namespace: shop
namePrefix: prod-
nameSuffix: -v1
labels:
  - pairs: {team: shop}
    includeSelectors: false
commonAnnotations: {owner: shop}
resources: [../base, extra.yaml]
components: [../components/ingress, ../components/pool]
patches:
  - path: replicas.yaml
  - target: {kind: Service, name: web}
    patch: '[{"op": "replace", "path": "/spec/ports/0/port", "value": 8080}]'
images:
  - name: registry.example.com/web
    newTag: 2.0.0@sha256:${'a'.repeat(64)}
replicas:
  - name: worker
    count: 3
secretGenerator:
  - name: creds
    envs: [creds.env]
    type: Opaque
configMapGenerator:
  - name: cfg
    behavior: merge
    literals: [EXTRA=1]
generatorOptions:
  labels: {generated: "true"}
`,
    'overlay/replicas.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 4}\n',
    'overlay/extra.yaml': DEPLOY('worker'),
    'overlay/creds.env': 'USER=demo\nPASS=not-a-secret\n',
    'legacy/kustomization.yaml': 'bases: [../base]\npatchesStrategicMerge: [replicas.yaml]\ncommonLabels: {old: style}\n',
    'legacy/replicas.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 2}\n',
  });
  for (const d of ['base', 'overlay', 'legacy', 'inf']) {
    await assertSame(path.join(dir, d), []);
    await assertSame(path.join(dir, d), ROOT_ONLY);
    await assertSame(path.join(dir, d), ['--load-restrictor=LoadRestrictionsNone']);
  }
  // The fixtures render (an error on both sides would compare equal too).
  const overlay = await renderer.render(path.join(dir, 'overlay'), ROOT_ONLY);
  assert.ok('yaml' in overlay && /name: prod-web-v1/.test(overlay.yaml) && /cert-manager.io\/cluster-issuer/.test(overlay.yaml) && /pool: non-business/.test(overlay.yaml), JSON.stringify(overlay).slice(0, 300));
  const legacy = await renderer.render(path.join(dir, 'legacy'), []);
  assert.ok('yaml' in legacy && /replicas: 2/.test(legacy.yaml), JSON.stringify(legacy).slice(0, 300));
  await assertSame(path.join(dir, 'overlay'), ['--reorder', 'none']);
  await assertSame(path.join(dir, 'overlay'), ['--enable-managedby-label']);
});

test('errors read the same as the binary, and options the renderer does not take fall back to it', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gitops-renderer-'));
  dirs.push(dir);
  await writeFiles(dir, {
    'outside.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: outside}\n',
    'escape/kustomization.yaml': 'resources: [../outside.yaml]\n',
    'missing/kustomization.yaml': 'resources: [nothere.yaml]\n',
    'badyaml/kustomization.yaml': 'resources: [a.yaml]\n',
    'badyaml/a.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n',
    'badkey/kustomization.yaml': 'resourcez: [a.yaml]\n',
    'conflict/kustomization.yaml': 'resources: [a.yaml, b.yaml]\n',
    'conflict/a.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}\n',
    'conflict/b.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}\n',
    'openapi/kustomization.yaml': 'openapi:\n  version: v1.21.2\nresources: [a.yaml]\n',
    'openapi/a.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: o}\n',
  });
  await assertSame(path.join(dir, 'escape'), ROOT_ONLY);
  await assertSame(path.join(dir, 'escape'), []);
  for (const d of ['missing', 'badyaml', 'badkey', 'conflict', 'nothing']) await assertSame(path.join(dir, d), ROOT_ONLY);
  const err = await renderer.render(path.join(dir, 'escape'), ROOT_ONLY);
  assert.ok('error' in err && /security; file .* is not in or below/.test(err.error), JSON.stringify(err));

  // Declined: an openapi: field (process-global schema) and flags outside the renderer's set.
  assert.ok('unsupported' in (await renderer.render(path.join(dir, 'openapi'), [])));
  assert.ok('unsupported' in (await renderer.render(path.join(dir, 'escape'), ['--enable-helm'])));
  assert.ok('unsupported' in (await renderer.render(path.join(dir, 'escape'), ['-o', path.join(dir, 'out.yaml')])));
  assert.ok(!existsSync(path.join(dir, 'out.yaml')));
  // kustomizeBuild then asks the binary, and the result is the binary's.
  const tool = await findKustomize(testEnv);
  assert.ok(tool.renderer, 'findKustomize pairs the pinned kustomize with its renderer');
  assert.equal(await kustomizeBuild(tool, path.join(dir, 'openapi')), ((await binary(path.join(dir, 'openapi'), [])) as { yaml: string }).yaml);
  await assert.rejects(kustomizeBuild(tool, path.join(dir, 'missing'), ROOT_ONLY), (e: Error & { stderr?: string }) => /^Error: .*nothere\.yaml/.test(e.stderr ?? ''));
  // GITOPS_NO_RENDERER turns it off.
  assert.equal((await findKustomize({ ...testEnv, GITOPS_NO_RENDERER: '1' })).renderer, undefined);
});

test('origins: renders as if the kustomization set buildMetadata, without writing it; plain renders stay plain', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gitops-renderer-'));
  dirs.push(dir);
  const files = {
    'base/kustomization.yaml': 'resources: [deploy.yaml]\npatches:\n  - path: env.yaml\n',
    'base/deploy.yaml': DEPLOY('web'),
    'base/env.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 2}\n',
    'comp/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nnameSuffix: -c\nresources: [cm.yaml]\n',
    'comp/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: b}\n',
    // A kustomization that already asks for one of the two keeps it once.
    'overlay/kustomization.yaml': '# comment\nnamePrefix: p-\nresources: [../base]\ncomponents: [../comp]\nbuildMetadata: [originAnnotations]\nconfigMapGenerator:\n  - name: gen\n    literals: [A=1]\n',
    'plain/kustomization.yaml': 'resources: [../base]\n',
  };
  await writeFiles(dir, files);
  const meta = 'buildMetadata: [originAnnotations, transformerAnnotations]\n';
  // What the binary renders from copies whose kustomization says it on disk (same folder depth).
  const copy = await mkdtemp(path.join(os.tmpdir(), 'gitops-renderer-'));
  dirs.push(copy);
  await writeFiles(copy, {
    ...files,
    'overlay/kustomization.yaml': files['overlay/kustomization.yaml'].replace(/^buildMetadata:.*\n/m, meta),
    'plain/kustomization.yaml': files['plain/kustomization.yaml'] + meta,
  });
  for (const d of ['overlay', 'plain']) {
    const want = await binary(path.join(copy, d), ROOT_ONLY);
    assert.ok('yaml' in want && want.yaml.includes('alpha.config.kubernetes.io/transformations'), JSON.stringify(want).slice(0, 300));
    assert.deepEqual(await renderer.render(path.join(dir, d), ROOT_ONLY, { origins: true }), want, d);
    // The same folder, plain: the binary's bytes (nothing written to disk, nothing left behind).
    await assertSame(path.join(dir, d), ROOT_ONLY);
  }
  const plain = await renderer.render(path.join(dir, 'plain'), ROOT_ONLY);
  assert.ok('yaml' in plain && !plain.yaml.includes('config.kubernetes.io/origin'), JSON.stringify(plain).slice(0, 300));
  // Errors read the same too.
  await writeFiles(dir, { 'broken/kustomization.yaml': 'resources: [nothere.yaml]\n' });
  await writeFiles(copy, { 'broken/kustomization.yaml': `resources: [nothere.yaml]\n${meta}` });
  const err = await renderer.render(path.join(dir, 'broken'), ROOT_ONLY, { origins: true });
  assert.ok('error' in err, JSON.stringify(err));
  assert.deepEqual(err, { error: ((await binary(path.join(copy, 'broken'), ROOT_ONLY)) as { error: string }).error.replaceAll(copy, dir) });
});
