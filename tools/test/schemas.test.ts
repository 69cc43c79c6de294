import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { convertCrds, convertDefinitions, kindSuffix } from '../lib/validate/schemas.js';
import { schemas } from '../commands/schemas.js';
import { runValidation } from '../lib/validate/validation.js';
import { parseConfig } from '../lib/config/config.js';
import { CRD_TEMPLATE, K8S_TEMPLATE, schemaLocations } from '../lib/validate/kubeconform.js';
import { findKubeconform, REPO_ROOT } from '../lib/core/tools.js';
import { baseFiles, makeRepo, removeRepo } from './repo-fixture.js';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map(removeRepo)));

/** A tiny OpenAPI v2 document in the shape `kubectl get --raw /openapi/v2` prints. */
const OPENAPI = {
  swagger: '2.0',
  definitions: {
    'io.k8s.api.apps.v1.Widget': {
      type: 'object',
      required: ['spec'],
      properties: {
        apiVersion: { type: 'string' },
        kind: { type: 'string' },
        metadata: { $ref: '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' },
        spec: { $ref: '#/definitions/io.k8s.api.apps.v1.WidgetSpec' },
      },
      'x-kubernetes-group-version-kind': [{ group: 'apps', kind: 'Widget', version: 'v1' }],
    },
    'io.k8s.api.apps.v1.WidgetSpec': {
      type: 'object',
      required: ['size'],
      properties: { size: { type: 'integer' }, port: { $ref: '#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString' }, child: { $ref: '#/definitions/io.k8s.api.apps.v1.WidgetSpec' } },
    },
    'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta': { type: 'object', properties: { name: { type: 'string' } } },
    'io.k8s.apimachinery.pkg.util.intstr.IntOrString': { format: 'int-or-string', oneOf: [{ type: 'string' }, { type: 'integer' }] },
  },
};

test('kindSuffix follows kubeconform: first label of the group, then the version', () => {
  assert.equal(kindSuffix('', 'v1'), '-v1');
  assert.equal(kindSuffix('apps', 'v1'), '-apps-v1');
  assert.equal(kindSuffix('networking.k8s.io', 'v1'), '-networking-v1');
});

test('definitions become standalone schemas: refs inlined, strict objects closed, recursion cut', () => {
  const files = convertDefinitions(OPENAPI, '1.32.0');
  const strict = files.find((f) => f.path === 'v1.32.0-standalone-strict/widget-apps-v1.json')!.schema as any;
  const loose = files.find((f) => f.path === 'v1.32.0-standalone/widget-apps-v1.json')!.schema as any;
  assert.equal(strict.additionalProperties, false);
  assert.equal(strict.properties.spec.additionalProperties, false);
  assert.deepEqual(strict.properties.spec.required, ['size']);
  assert.equal(strict.properties.metadata.properties.name.type[0], 'string');
  assert.equal(strict.properties.spec.properties.port.oneOf.length, 2);
  assert.ok(!JSON.stringify(strict).includes('$ref'), 'no refs left');
  assert.equal(strict.properties.spec.properties.child.properties, undefined, 'self-reference is cut, not expanded forever');
  assert.equal(loose.additionalProperties, undefined);
  assert.throws(() => convertDefinitions({ definitions: { a: { type: 'object' } } }, '1.32.0'), /x-kubernetes-group-version-kind/);
});

test('CRD manifests become <group>/<kind>_<version>.json, strict unless preserve-unknown-fields', () => {
  const [file] = convertCrds([
    {
      kind: 'CustomResourceDefinition',
      spec: {
        group: 'example.com',
        names: { kind: 'Gadget' },
        versions: [
          {
            name: 'v1beta1',
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: { type: 'object', properties: { port: { 'x-kubernetes-int-or-string': true }, note: { type: 'string', nullable: true }, free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { a: { type: 'string' } } } } },
                },
              },
            },
          },
        ],
      },
    },
  ]);
  const s = file.schema as any;
  assert.equal(file.path, 'crds/example.com/gadget_v1beta1.json');
  assert.equal(s.properties.spec.additionalProperties, false);
  assert.deepEqual(s.properties.spec.properties.port.oneOf, [{ type: 'string' }, { type: 'integer' }]);
  assert.deepEqual(s.properties.spec.properties.note.type, ['string', 'null']);
  assert.equal(s.properties.spec.properties.free.additionalProperties, undefined);
  assert.ok(s.properties.apiVersion && s.properties.kind && s.properties.metadata);
});

test('npm run schemas reads stdin and a CRD file; validate then uses the generated schemas first', async () => {
  const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  names: {kind: Gadget, plural: gadgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              properties:
                size: {type: integer}
`;
  const dir = await makeRepo({
    ...baseFiles(),
    'crd.yaml': crd,
    'clusters/minikube/kustomization.yaml': 'resources:\n  - gadget.yaml\n',
    'clusters/minikube/gadget.yaml': 'apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\nspec:\n  size: "big"\n',
  });
  dirs.push(dir);
  const defs = await readFile(path.resolve(REPO_ROOT, process.env.GITOPS_SCHEMA_MIRROR ?? '../shared/schemas', 'kubernetes/v1.35.0/_definitions.json'), 'utf8').catch(() => JSON.stringify(OPENAPI));
  // Through the CLI, as a user pipes `kubectl get --raw /openapi/v2` into it.
  const cli = spawnSync('npx', ['tsx', path.join(REPO_ROOT, 'tools/cli.ts'), 'schemas', '--cwd', dir, '-'], { input: defs, encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stderr, /wrote \d+ schemas to \.cache\/schemas/);
  await schemas({ cwd: dir, inputs: ['crd.yaml'], log: () => {} });
  assert.ok((await readdir(path.join(dir, '.cache/schemas/v1.35.0-standalone-strict'))).includes('deployment-apps-v1.json'));
  assert.deepEqual(await readdir(path.join(dir, '.cache/schemas/crds/example.com')), ['gadget_v1.json']);
  // No mirror, and the only configured location is empty: the generated schemas must be used.
  const env: NodeJS.ProcessEnv = { ...process.env, GITOPS_SCHEMA_LOCATIONS: path.join(dir, 'nowhere/{{.ResourceKind}}.json') };
  delete env.GITOPS_SCHEMA_MIRROR;
  const r = await runValidation({ cwd: dir, envVars: env, env: 'dev' });
  const errs = r.findings.filter((f) => f.severity === 'error');
  assert.deepEqual(errs.map((f) => `${f.rule} ${f.resource} ${f.field}`), ['schema Gadget/-/g spec.size']);
});

test('npm run schemas rejects input that is neither OpenAPI definitions nor CRDs', async () => {
  const dir = await makeRepo(baseFiles());
  dirs.push(dir);
  await assert.rejects(schemas({ cwd: dir, inputs: ['-'], stdin: async () => '{"definitions": {"x": {"type": "object"}}}', log: () => {} }), /<stdin>: no definition carries x-kubernetes-group-version-kind/);
  await assert.rejects(schemas({ cwd: dir, inputs: ['-'], stdin: async () => 'kind: ConfigMap\n', log: () => {} }), /no CustomResourceDefinition/);
});

test('npm run schemas only adds: schemas it did not write stay; GITOPS_SCHEMA_MIRROR adds to the configured locations', async () => {
  const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  names: {kind: Gadget, plural: gadgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object}
`;
  const dir = await makeRepo({
    ...baseFiles(),
    'crd.yaml': crd,
    '.cache/schemas/crds/example.com/widget_v1.json': '{"type": "object"}',
    '.cache/schemas/v1.32.0-standalone-strict/hand-written-v1.json': '{"type": "object"}',
  });
  dirs.push(dir);
  await schemas({ cwd: dir, inputs: ['crd.yaml'], log: () => {} });
  await schemas({ cwd: dir, inputs: ['-'], stdin: async () => JSON.stringify(OPENAPI), log: () => {} });
  assert.deepEqual(await readdir(path.join(dir, '.cache/schemas/crds/example.com')), ['gadget_v1.json', 'widget_v1.json']);
  assert.ok((await readdir(path.join(dir, '.cache/schemas/v1.32.0-standalone-strict'))).includes('hand-written-v1.json'));

  const mirror = path.resolve(REPO_ROOT, process.env.GITOPS_SCHEMA_MIRROR ?? '../shared/schemas');
  const config = parseConfig(dir, baseFiles()['gitops.yaml'] + 'schemas:\n  locations: [default, "https://schemas.example.com/{{.ResourceKind}}.json"]\n', { GITOPS_SCHEMA_MIRROR: mirror });
  const locations = await schemaLocations(config);
  assert.deepEqual(locations.slice(-2), ['default', 'https://schemas.example.com/{{.ResourceKind}}.json'], 'configured locations stay, after the mirror');
  assert.equal(locations[0], path.join(dir, '.cache/schemas', K8S_TEMPLATE), 'generated schemas first');
  assert.ok(locations.includes(path.join(mirror, CRD_TEMPLATE)));
});

test("a real cluster's /openapi/v2: int-or-string and Quantity accept numbers, as kubeconform's own conversion makes them", async () => {
  const dir = await makeRepo({ 'gitops.yaml': 'environments:\n  - {name: dev, cluster: minikube, overlayRoot: overlays}\nkubernetes:\n  version: 1.35.4\n' });
  dirs.push(dir);
  await schemas({ cwd: dir, inputs: [path.join(REPO_ROOT, 'tools/test/data/openapi-v2-kube-apiserver-1.35.4.json')], out: 'schemas', log: () => {} });
  const manifest = (targetPort: string, cpu: string) => `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports:
    - {port: 80, targetPort: ${targetPort}}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: q}
spec:
  hard: {cpu: ${cpu}, memory: 1Gi}
`;
  const kubeconform = (await findKubeconform()).cmd;
  const check = (text: string) => {
    const r = spawnSync(kubeconform, ['-strict', '-summary', '-output', 'text', '-kubernetes-version', '1.35.4', '-schema-location', path.join(dir, 'schemas', K8S_TEMPLATE), '-'], { input: text, encoding: 'utf8' });
    return `${r.stdout}${r.stderr}`.trim();
  };
  assert.match(check(manifest('8080', '1')), /Valid: 2, Invalid: 0, Errors: 0, Skipped: 0/);
  assert.match(check(manifest('http', '"500m"')), /Valid: 2, Invalid: 0, Errors: 0, Skipped: 0/);
  // The schemas do apply: a boolean is neither an int nor a string, and strict mode holds.
  assert.match(check(manifest('true', '1')), /Service web is invalid.*targetPort/);
  assert.match(check(manifest('8080', '1').replace('metadata: {name: q}', 'metadata: {name: q}\nextra: 1')), /ResourceQuota q is invalid.*additional properties 'extra'/);
});
