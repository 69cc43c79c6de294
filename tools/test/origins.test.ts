// Findings point at the file and line that wrote the offending value (lib/render/origins.ts): an
// overlay's strategic-merge or JSON6902 patch (file or inline), a component's patch or resource,
// a component's `images:`, also under namePrefix/nameSuffix; the base resource when nothing
// else touched the field; and, without the renderer, the quick lookup by kind and name.
// Real kustomize on a fixture repository; each overlay breaks one thing in one place.
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { parseDocument, LineCounter } from 'yaml';
import { runValidation } from '../lib/validate/validation.js';
import { statusFindings } from '../lib/server/serverdryrun.js';
import { affixNames, jsonOpsSetting, locateOrigins, mapPath, mergeKey, originLocation, resolveFieldPath, selectorMatches, type Loader } from '../lib/render/origins.js';
import { loadConfig } from '../lib/config/config.js';
import { discoverApps } from '../lib/config/apps.js';
import { appTargets, renderTargets } from '../lib/render/render.js';
import { findKustomize } from '../lib/core/tools.js';
import type { Finding } from '../lib/core/finding.js';
import type { K8sObject } from '../lib/core/k8s.js';
import { makeRepo, removeRepo, testEnv } from './fixtures.js';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map(removeRepo)));

/** 1-based line of the first line of `text` containing `needle` (after line `after`, when given). */
function lineIn(text: string, needle: string, afterLine = 0): number {
  const lines = text.split('\n');
  const i = lines.findIndex((l, n) => n >= afterLine && l.includes(needle));
  if (i < 0) throw new Error(`fixture: '${needle}' not in text`);
  return i + 1;
}

const GITOPS = `environments:
  - name: dev
    cluster: minikube
    overlayRoot: overlays/minikube
kubernetes:
  version: 1.35.0
`;

const BASE_K = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
labels:
  - pairs:
      app: web
      app.kubernetes.io/instance: web
    includeSelectors: true
  - pairs:
      app.kubernetes.io/name: web
      app.kubernetes.io/part-of: demo
      app.kubernetes.io/managed-by: argocd
    includeTemplates: true
resources:
  - deployment.yaml
`;

// Passes every policy but resources-set: the container has no memory limit (the unchanged case).
const DEPLOY = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  template:
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
      containers:
        - name: web
          image: registry.example.com/web
          ports:
            - name: http
              containerPort: 8080
          livenessProbe:
            httpGet: {path: /health, port: http}
          readinessProbe:
            httpGet: {path: /health, port: http}
          resources:
            requests: {cpu: 10m, memory: 32Mi}
`;

const PIN = 'images:\n  - name: registry.example.com/web\n    newTag: "1.0.0"\n';

function overlay(ns: string, rest = '', pin = PIN): string {
  return `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: ${ns}\nresources:\n  - ../../../../apps/demo/web\n${rest}${pin}`;
}

const ROOTFUL = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      securityContext:
        runAsNonRoot: false
`;

const JSON_PATCH = `- op: add
  path: /spec/template/spec/containers/0/securityContext
  value:
    allowPrivilegeEscalation: false
    privileged: true
`;

const INLINE = overlay('inline', `patches:
  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: web
      spec:
        template:
          spec:
            securityContext:
              runAsNonRoot: false
  - target: {kind: Deployment, name: web}
    patch: '[{"op": "replace", "path": "/spec/replicas", "value": "three"}]'
`);

const COMPONENT_PATCH = `apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
  - path: rootful.yaml
`;

// A component that brings its own Deployment (renamed by the component's nameSuffix).
const WORKER_COMPONENT = `apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
nameSuffix: -x
resources:
  - worker.yaml
`;

const WORKER = DEPLOY.replace('name: web\nspec', 'name: worker\nspec').replace('image: registry.example.com/web', 'image: registry.example.com/worker:2.0.0').replace('runAsNonRoot: true', 'runAsNonRoot: false');

const LATEST_COMPONENT = `apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
images:
  - name: registry.example.com/web
    newTag: latest
`;

const IMAGE_PATCH = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: registry.example.com/web:latest
`;

const HPA = `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 3
`;

const HPA_PATCH = `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  minReplicas: 5
`;

const FILES: Record<string, string> = {
  'gitops.yaml': GITOPS,
  'apps/demo/web/kustomization.yaml': BASE_K,
  'apps/demo/web/deployment.yaml': DEPLOY,
  // Nothing but the namespace and the pin: every finding is the base's.
  'overlays/minikube/demo/plain/kustomization.yaml': overlay('plain'),
  // A strategic-merge patch file in the overlay.
  'overlays/minikube/demo/smp/kustomization.yaml': overlay('smp', 'patches:\n  - path: rootful.yaml\n'),
  'overlays/minikube/demo/smp/rootful.yaml': ROOTFUL,
  // A JSON6902 patch file.
  'overlays/minikube/demo/json/kustomization.yaml': overlay('json', 'patches:\n  - path: privileged.yaml\n    target: {kind: Deployment, name: web}\n'),
  'overlays/minikube/demo/json/privileged.yaml': JSON_PATCH,
  // Inline patches: a literal block (the line inside it) and a one-line JSON patch (the entry).
  'overlays/minikube/demo/inline/kustomization.yaml': INLINE,
  // A component's patch.
  'overlays/minikube/demo/comp/kustomization.yaml': overlay('comp', 'components:\n  - ../../../../components/rootful\n'),
  'components/rootful/kustomization.yaml': COMPONENT_PATCH,
  'components/rootful/rootful.yaml': ROOTFUL,
  // A component's own resource under its nameSuffix and the overlay's namePrefix.
  'overlays/minikube/demo/worker/kustomization.yaml': overlay('worker', 'namePrefix: pre-\ncomponents:\n  - ../../../../components/worker\n'),
  'components/worker/kustomization.yaml': WORKER_COMPONENT,
  'components/worker/worker.yaml': WORKER,
  // namePrefix and nameSuffix in the overlay, nothing patched: the base, as in plain.
  'overlays/minikube/demo/affix/kustomization.yaml': overlay('affix', 'namePrefix: pre-\nnameSuffix: -suf\n'),
  // An image set by a component's images: (no pin in the overlay), and by an overlay patch.
  'overlays/minikube/demo/latest/kustomization.yaml': overlay('latest', 'components:\n  - ../../../../components/latest\n', ''),
  'components/latest/kustomization.yaml': LATEST_COMPONENT,
  // The overlay's own images: pin wins over a component's, as before origins.
  'overlays/minikube/demo/pinlatest/kustomization.yaml': overlay('pinlatest', 'components:\n  - ../../../../components/latest\n', PIN.replace('"1.0.0"', 'latest')),
  'overlays/minikube/demo/imgpatch/kustomization.yaml': overlay('imgpatch', 'patches:\n  - path: image.yaml\n', ''),
  'overlays/minikube/demo/imgpatch/image.yaml': IMAGE_PATCH,
  // A cross-resource finding (hpa-min-max) on a value an overlay patch wrote.
  'overlays/minikube/demo/hpa/kustomization.yaml': `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: hpa
namePrefix: p-
resources:
  - ../../../../apps/demo/web
  - hpa.yaml
patches:
  - path: min.yaml
${PIN}`,
  'overlays/minikube/demo/hpa/hpa.yaml': HPA,
  'overlays/minikube/demo/hpa/min.yaml': HPA_PATCH,
};

const O = 'overlays/minikube/demo';
const BASE_DEPLOY = 'apps/demo/web/deployment.yaml';

type Where = { file?: string; line?: number };
const at = (f: Finding | undefined): Where => (f ? { file: f.file, line: f.line } : {});

function find(fs: Finding[], overlay: string, rule: string, field?: string | RegExp): Finding | undefined {
  return fs.find((f) => f.overlay === `${O}/${overlay}` && f.rule === rule && (field === undefined || (typeof field === 'string' ? f.field === field : field.test(f.field ?? ''))));
}

function list(fs: Finding[]): string {
  return fs.map((f) => `${f.overlay} ${f.rule} ${f.resource} ${f.field ?? ''} ${f.file ?? '-'}:${f.line ?? '-'}`).join('\n');
}

let repo: string;
let findings: Finding[];
let rendered: Awaited<ReturnType<typeof runValidation>>['rendered'];

before(async () => {
  repo = await makeRepo(FILES);
  dirs.push(repo);
  const r = await runValidation({ cwd: repo, envVars: testEnv });
  findings = r.findings;
  rendered = r.rendered;
});

const RESOURCES = 'spec.template.spec.containers.0.resources';
const RUN_AS = 'spec.template.spec.securityContext.runAsNonRoot';

describe('findings point at the file that wrote the value', () => {
  test('unchanged: a field nothing patched is the base resource', () => {
    const want = { file: BASE_DEPLOY, line: lineIn(DEPLOY, 'resources:') };
    assert.deepEqual(at(find(findings, 'plain', 'resources-set', RESOURCES)), want, list(findings));
    // Patched elsewhere in the same object: still the base for this field.
    assert.deepEqual(at(find(findings, 'smp', 'resources-set', RESOURCES)), want);
    assert.deepEqual(at(find(findings, 'json', 'resources-set', RESOURCES)), want);
  });

  test('a strategic-merge patch file in the overlay', () => {
    assert.deepEqual(at(find(findings, 'smp', 'run-as-non-root', RUN_AS)), { file: `${O}/smp/rootful.yaml`, line: lineIn(ROOTFUL, 'runAsNonRoot: false') }, list(findings));
  });

  test('a JSON6902 patch file: the line inside the operation value', () => {
    const f = find(findings, 'json', 'run-as-non-root', /containers\.0\.securityContext\.privileged$/);
    assert.deepEqual(at(f), { file: `${O}/json/privileged.yaml`, line: lineIn(JSON_PATCH, 'privileged: true') }, list(findings));
  });

  test("inline patches: the line inside a literal block, else the entry's patch: line", () => {
    const file = `${O}/inline/kustomization.yaml`;
    assert.deepEqual(at(find(findings, 'inline', 'run-as-non-root', RUN_AS)), { file, line: lineIn(INLINE, 'runAsNonRoot: false') }, list(findings));
    // kubeconform rejects the string replicas that the one-line JSON patch wrote.
    const schema = findings.find((f) => f.overlay === `${O}/inline` && f.rule === 'schema' && /replicas/.test(`${f.field} ${f.message}`));
    assert.deepEqual(at(schema), { file, line: lineIn(INLINE, `patch: '[{"op": "replace"`) }, list(findings));
  });

  test("a component's patch", () => {
    assert.deepEqual(at(find(findings, 'comp', 'run-as-non-root', RUN_AS)), { file: 'components/rootful/rootful.yaml', line: lineIn(ROOTFUL, 'runAsNonRoot: false') }, list(findings));
  });

  test("a component's own resource, renamed by the component's nameSuffix and the overlay's namePrefix", () => {
    const f = findings.find((x) => x.overlay === `${O}/worker` && x.rule === 'run-as-non-root' && x.field === RUN_AS && x.resource === 'Deployment/worker/pre-worker-x');
    assert.deepEqual(at(f), { file: 'components/worker/worker.yaml', line: lineIn(WORKER, 'runAsNonRoot: false') }, list(findings));
    // The base's object in the same overlay (the component's suffix renames it too): the base.
    const web = findings.find((x) => x.overlay === `${O}/worker` && x.rule === 'resources-set' && x.resource === 'Deployment/worker/pre-web-x');
    assert.deepEqual(at(web), { file: BASE_DEPLOY, line: lineIn(DEPLOY, 'resources:') });
  });

  test('namePrefix and nameSuffix in the overlay: the base resource', () => {
    const f = find(findings, 'affix', 'resources-set', RESOURCES);
    assert.equal(f?.resource, 'Deployment/affix/pre-web-suf');
    assert.deepEqual(at(f), { file: BASE_DEPLOY, line: lineIn(DEPLOY, 'resources:') }, list(findings));
  });

  test("images: a component's images: entry, an overlay patch, and the overlay's pin as before", () => {
    const image = /containers\.0\.image$/;
    assert.deepEqual(at(find(findings, 'latest', 'no-latest-image', image)), { file: 'components/latest/kustomization.yaml', line: lineIn(LATEST_COMPONENT, '- name: registry.example.com/web') }, list(findings));
    const pinned = overlay('pinlatest', 'components:\n  - ../../../../components/latest\n', PIN.replace('"1.0.0"', 'latest'));
    assert.deepEqual(at(find(findings, 'pinlatest', 'no-latest-image', image)), { file: `${O}/pinlatest/kustomization.yaml`, line: lineIn(pinned, '- name: registry.example.com/web') });
    assert.deepEqual(at(find(findings, 'imgpatch', 'no-latest-image', image)), { file: `${O}/imgpatch/image.yaml`, line: lineIn(IMAGE_PATCH, 'image: registry.example.com/web:latest') }, list(findings));
  });

  test('a cross-resource check (hpa-min-max) on a value an overlay patch wrote, under namePrefix', () => {
    const f = find(findings, 'hpa', 'hpa-min-max');
    assert.equal(f?.resource, 'HorizontalPodAutoscaler/hpa/p-web');
    assert.deepEqual(at(f), { file: `${O}/hpa/min.yaml`, line: lineIn(HPA_PATCH, 'minReplicas: 5') }, list(findings));
  });

  test('a second run, every outcome cached, locates every finding as the first did', async () => {
    const warm = await runValidation({ cwd: repo, envVars: testEnv });
    const key = (f: Finding) => `${f.overlay} ${f.rule} ${f.resource} ${f.field ?? ''} ${f.file ?? '-'}:${f.line ?? '-'}`;
    assert.deepEqual(warm.findings.map(key).sort(), findings.map(key).sort());
    assert.deepEqual(at(find(warm.findings, 'hpa', 'hpa-min-max')), { file: `${O}/hpa/min.yaml`, line: lineIn(HPA_PATCH, 'minReplicas: 5') });
    // What the cross-check cache keeps is the final location (a hit is not located again).
    const kept = JSON.parse(readFileSync(path.join(repo, '.cache', 'findings', 'cross-checks.json'), 'utf8')) as { entries: Record<string, { findings: Finding[] }> };
    const hpa = Object.values(kept.entries).flatMap((e) => e.findings).filter((f) => f.rule === 'hpa-min-max');
    assert.ok(hpa.length);
    for (const f of hpa) assert.deepEqual(at(f), { file: `${O}/hpa/min.yaml`, line: lineIn(HPA_PATCH, 'minReplicas: 5') });
  });

  test('server dry run rejections (serverdryrun.statusFindings) are located the same way', async () => {
    const r = rendered.find((x) => x.target.dir === `${O}/smp`)!;
    const o = r.objects.find((x) => x.kind === 'Deployment')!;
    const fs = statusFindings({ r, o }, { kind: 'Status', status: 'Failure', message: 'invalid', reason: 'Invalid', details: { causes: [{ field: 'spec.template.spec.securityContext.runAsNonRoot', message: 'Invalid value: false' }, { field: 'spec.template.spec.containers[0].resources', message: 'x' }] } } as never, 422, 'test');
    await locateOrigins(fs);
    assert.deepEqual(fs.map(at), [
      { file: `${O}/smp/rootful.yaml`, line: lineIn(ROOTFUL, 'runAsNonRoot: false') },
      { file: BASE_DEPLOY, line: lineIn(DEPLOY, 'resources:') },
    ]);
    // The request left on a finding is gone once located (reports and deep comparisons see plain findings).
    assert.deepEqual(Object.getOwnPropertySymbols(fs[0]), []);
  });

  test('no finding keeps a located request, and the render cache holds plain renders only', async () => {
    assert.ok(findings.every((f) => Object.getOwnPropertySymbols(f).length === 0));
    for (const r of rendered) for (const o of r.objects) assert.equal(o.metadata.annotations?.['config.kubernetes.io/origin'], undefined, `${r.target.dir} ${o.kind}`);
    // A second render reads the cache: still plain.
    const config = await loadConfig(repo, testEnv);
    const again = await renderTargets(config, await findKustomize(testEnv), appTargets(await discoverApps(config)));
    assert.ok(again.some((r) => r.objects.length));
    for (const r of again) for (const o of r.objects) assert.equal(o.metadata.annotations?.['alpha.config.kubernetes.io/transformations'], undefined, r.target.dir);
  });
});

describe('without the renderer (GITOPS_NO_RENDERER): kind and name past the closure\'s prefixes and suffixes', () => {
  let fallback: Finding[];
  before(async () => {
    const dir = await makeRepo(FILES);
    dirs.push(dir);
    fallback = (await runValidation({ cwd: dir, envVars: { ...testEnv, GITOPS_NO_RENDERER: '1', GITOPS_NO_CACHE: '1' } })).findings;
  });

  test('objects under namePrefix/nameSuffix are still found, in the overlay and in a component', () => {
    assert.deepEqual(at(find(fallback, 'affix', 'resources-set', RESOURCES)), { file: BASE_DEPLOY, line: lineIn(DEPLOY, 'resources:') }, list(fallback));
    const f = fallback.find((x) => x.overlay === `${O}/worker` && x.rule === 'run-as-non-root' && x.field === RUN_AS && x.resource === 'Deployment/worker/pre-worker-x');
    assert.deepEqual(at(f), { file: 'components/worker/worker.yaml', line: lineIn(WORKER, 'runAsNonRoot: false') }, list(fallback));
  });

  test('a patched value falls back to the resource it patches (as before origins)', () => {
    assert.deepEqual(at(find(fallback, 'smp', 'run-as-non-root', RUN_AS)), { file: BASE_DEPLOY, line: lineIn(DEPLOY, 'runAsNonRoot: true') }, list(fallback));
  });
});

describe('path matching (pure)', () => {
  const rendered = { spec: { containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y', ports: [{ containerPort: 80 }, { containerPort: 90, name: 'p' }] }], tolerations: [{ key: 'k' }] } };

  test('mapPath follows merge keys through the rendered element, index for lists replaced whole', () => {
    const patch = { spec: { containers: [{ name: 'b', ports: [{ containerPort: 90, name: 'q' }] }] } };
    assert.deepEqual(mapPath(patch, rendered, ['spec', 'containers', 1, 'ports', 1, 'name']), { path: ['spec', 'containers', 0, 'ports', 0, 'name'], complete: true });
    assert.deepEqual(mapPath(patch, rendered, ['spec', 'containers', 1, 'image']), { path: ['spec', 'containers', 0], complete: false });
    assert.deepEqual(mapPath(patch, rendered, ['spec', 'containers', 0, 'image']), { path: ['spec', 'containers'], complete: false });
    // tolerations have no merge key: a patch that has the list wrote every element of it.
    assert.deepEqual(mapPath({ spec: { tolerations: [{ key: 'k' }] } }, rendered, ['spec', 'tolerations', 0, 'key']), { path: ['spec', 'tolerations', 0, 'key'], complete: true });
    // Custom resources merge lists whole (JSON merge patch): no merge key.
    assert.deepEqual(mapPath({ spec: { containers: [{ name: 'z', image: 'q' }] } }, rendered, ['spec', 'containers', 0, 'image'], false), { path: ['spec', 'containers', 0, 'image'], complete: true });
    assert.equal(mergeKey('ports', { port: 80 }), 'port');
    assert.equal(mergeKey('ports', { containerPort: 80 }), 'containerPort');
    assert.equal(mergeKey('args', 'x'), undefined);
  });

  test('jsonOpsSetting: equal or enclosing paths of writing operations, `-` for any index', () => {
    const ops = [
      { op: 'add', path: '/spec/containers/-', value: { name: 'c' } },
      { op: 'remove', path: '/spec/containers/1/image' },
      { op: 'replace', path: '/spec/containers/1/image', value: 'z' },
      { op: 'test', path: '/spec/containers/1/image', value: 'z' },
      { op: 'add', path: '/spec/containers/1/image/extra', value: 1 },
      { op: 'copy', from: '/a', path: '/spec/containers/1' },
    ];
    assert.deepEqual(jsonOpsSetting(ops, ['spec', 'containers', 1, 'image']), [
      { index: 0, rest: ['image'], hasValue: true },
      { index: 2, rest: [], hasValue: true },
      { index: 5, rest: ['image'], hasValue: false },
    ]);
    assert.deepEqual(jsonOpsSetting([{ op: 'add', path: '/a~1b/c~0d', value: 1 }], ['a/b', 'c~d']), [{ index: 0, rest: [], hasValue: true }]);
  });

  test('affixNames and selectorMatches', () => {
    assert.deepEqual(affixNames('p-c-web-s', ['p-', 'c-'], ['-s']), ['p-c-web-s', 'c-web-s', 'p-c-web', 'web-s', 'c-web', 'web']);
    const o = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'p-web', labels: { tier: 'front' } } };
    assert.ok(selectorMatches({ kind: 'Deployment', name: 'web' }, o, ['web', 'p-web']));
    assert.ok(selectorMatches({ kind: 'Deploy.*', name: 'w.b', group: 'apps', version: 'v1' }, o, ['web']));
    assert.ok(!selectorMatches({ kind: 'Deployment', name: 'we' }, o, ['web', 'p-web']));
    assert.ok(!selectorMatches({ group: 'batch' }, o, ['web']));
    assert.ok(selectorMatches({ labelSelector: 'tier=front' }, o, ['web']));
    assert.ok(!selectorMatches({ labelSelector: 'tier!=front' }, o, ['web']));
    assert.ok(!selectorMatches({ labelSelector: 'missing' }, o, ['web']));
  });

  test('originLocation: remote objects and unusable annotations give no answer; generated objects point at their generator', () => {
    const files: Record<string, string> = {
      'ov/kustomization.yaml': 'namePrefix: p-\nconfigMapGenerator:\n  - name: other\n    literals: [a=b]\n  - name: settings\n    literals: [a=b]\n',
    };
    const load: Loader = (f) => {
      if (!(f in files)) return undefined;
      const lines = new LineCounter();
      return { docs: [parseDocument(files[f], { lineCounter: lines })], lines };
    };
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'p-settings-4h2mbtbbt6' }, data: { a: 'b' } } as K8sObject;
    const transformations = '- configuredIn: kustomization.yaml\n  configuredBy: {apiVersion: builtin, kind: PrefixTransformer}\n';
    assert.deepEqual(originLocation({ targetDir: 'ov', origin: 'configuredIn: kustomization.yaml\nconfiguredBy: {apiVersion: builtin, kind: ConfigMapGenerator}\n', transformations, object: cm, pointer: ['data', 'a'], load }), { file: 'ov/kustomization.yaml', line: 5 });
    assert.equal(originLocation({ targetDir: 'ov', origin: 'path: x.yaml\nrepo: https://example.com/r\nref: v1\n', object: cm, pointer: [], load }), undefined);
    assert.equal(originLocation({ targetDir: 'ov', origin: 'not: [valid', object: cm, pointer: [], load }), undefined);
  });

  test('originLocation: a replacement points at its source value, labels: at the pair, a later patch beats both', () => {
    const files: Record<string, string> = {
      'ov/kustomization.yaml': `resources: [app.yaml, repo.yaml]
labels:
  - pairs: {team: a}
    includeTemplates: true
replacements:
  - source: {kind: ConfigMap, name: repo, fieldPath: data.url}
    targets:
      - select: {kind: Application}
        reject: [{name: other}]
        fieldPaths:
          - spec.sources.[name=main].repoURL
`,
      'ov/repo.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: repo}\ndata:\n  url: https://example.com/r.git\n',
      'ov/app.yaml': 'apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: app}\nspec:\n  sources:\n    - name: main\n      repoURL: x\n',
      'top/kustomization.yaml': 'resources: [../ov]\npatches:\n  - path: p.yaml\n',
      'top/p.yaml': 'apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: app}\nspec:\n  sources:\n    - name: main\n      repoURL: y\n',
    };
    const load: Loader = (f) => {
      if (!(f in files)) return undefined;
      const lines = new LineCounter();
      return { docs: [parseDocument(files[f], { lineCounter: lines })], lines };
    };
    const find = (kind: string, name: string) => (kind === 'ConfigMap' && name === 'repo' ? { file: 'ov/repo.yaml', ...load('ov/repo.yaml')!, doc: load('ov/repo.yaml')!.docs[0] } : undefined);
    const app = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: { name: 'app', labels: { team: 'a' } }, spec: { sources: [{ name: 'main', repoURL: 'https://example.com/r.git' }] } } as K8sObject;
    const t = (...kinds: string[]) => kinds.map((k) => `- configuredIn: kustomization.yaml\n  configuredBy: {apiVersion: builtin, kind: ${k}}\n`).join('');
    const inOv = { targetDir: 'ov', origin: 'path: app.yaml\n', transformations: t('LabelTransformer', 'ReplacementTransformer'), object: app, load, find };
    assert.deepEqual(originLocation({ ...inOv, pointer: ['spec', 'sources', 0, 'repoURL'] }), { file: 'ov/repo.yaml', line: 5 });
    assert.deepEqual(originLocation({ ...inOv, pointer: ['metadata', 'labels', 'team'] }), { file: 'ov/kustomization.yaml', line: 3 });
    // Not a target of the replacement: the resource file.
    assert.deepEqual(originLocation({ ...inOv, object: { ...app, metadata: { name: 'other' } } as K8sObject, pointer: ['spec', 'sources', 0, 'repoURL'] }), { file: 'ov/app.yaml', line: 7 });
    // From a folder above, with a patch after the replacement (paths relative to that folder).
    const above = { ...inOv, targetDir: 'top', origin: 'path: ../ov/app.yaml\n', transformations: t('ReplacementTransformer').replace('kustomization.yaml', '../ov/kustomization.yaml') + '- configuredIn: kustomization.yaml\n  configuredBy: {apiVersion: builtin, kind: PatchTransformer}\n' };
    assert.deepEqual(originLocation({ ...above, pointer: ['spec', 'sources', 0, 'repoURL'] }), { file: 'top/p.yaml', line: 7 });
  });

  test('fieldPath resolution', () => {
    const o = { spec: { sources: [{ name: 'a', x: 1 }, { name: 'b', x: 2 }] }, metadata: { annotations: { 'a.b/c': 'v' } } };
    assert.deepEqual(resolveFieldPath('spec.sources.[name=b].x', o), ['spec', 'sources', 1, 'x']);
    assert.deepEqual(resolveFieldPath('spec.sources.[name=b].x', o, ['spec', 'sources', 1, 'x']), ['spec', 'sources', 1, 'x']);
    assert.equal(resolveFieldPath('spec.sources.[name=b].x', o, ['spec', 'sources', 0, 'x']), undefined);
    assert.deepEqual(resolveFieldPath('spec.sources.*.x', o, ['spec', 'sources', 0, 'x']), ['spec', 'sources', 0, 'x']);
    assert.deepEqual(resolveFieldPath('metadata.annotations.[a.b/c]', o), ['metadata', 'annotations', 'a.b/c']);
    assert.deepEqual(resolveFieldPath('spec.sources.1.name', o), ['spec', 'sources', 1, 'name']);
  });
});
