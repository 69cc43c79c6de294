// Renovate itself (pinned in tools/renovate, on Node 24): renovate.json passes its strict validator,
// its offline extraction sees exactly the images the overlays render, and its own rule machinery
// does what each rule's description says.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { imageInventory, type ImageUse } from '../lib/argocd/inventory.js';
import { imageName } from '../lib/render/images.js';
import { GO_TOOLS, pinnedVersion, REPO_ROOT } from '../lib/core/tools.js';
import { gitInit, makeRepo, removeRepo, testEnv, writeFiles } from './fixtures.js';
import { baseFiles, DEPLOYMENT } from './repo-fixture.js';
import { compareImages, extract, packageFiles, refOf, renovateInstalled, simulateRules, validateConfig, type Extraction, type SimulatedUpdate } from './harness/renovate.js';

const FIRST_PARTY = 'registry.kubernetes.crianex.com/';

before(async () => {
  assert.ok(await renovateInstalled(), "Renovate is not installed in tools/renovate: run 'npm run setup'");
});

describe('renovate-config-validator --strict', () => {
  test("the repository's renovate.json passes", async () => {
    const r = await validateConfig(REPO_ROOT);
    assert.ok(r.ok, r.output);
    assert.match(r.output, /Config validated successfully/);
  });

  test('a config that needs migration (kustomize.fileMatch) fails strict validation', async () => {
    const dir = await makeRepo({ 'renovate.json': JSON.stringify({ extends: ['config:recommended'], kustomize: { fileMatch: ['(^|/)overlays/.+/kustomization\\.ya?ml$'] } }) });
    try {
      const r = await validateConfig(dir);
      assert.equal(r.ok, false, r.output);
      assert.match(r.output, /migration/i);
    } finally {
      await removeRepo(dir);
    }
  });
});

describe('renovate extraction of this repository', () => {
  let ex: Extraction;
  let inventory: ImageUse[];
  let updates: SimulatedUpdate[];
  before(async () => {
    [ex, inventory] = await Promise.all([extract(REPO_ROOT), imageInventory({ cwd: REPO_ROOT, envVars: testEnv })]);
    updates = await simulateRules(path.join(REPO_ROOT, 'renovate.json'), ex.reportPath);
  });
  after(async () => {
    await ex?.cleanup();
  });

  test('runs offline: no HTTP request, no datasource lookup', () => {
    assert.equal(ex.httpRequests, 0);
    assert.equal(ex.lookups, 0);
  });

  test('the images Renovate extracts equal the rendered image inventory, overlay by overlay', () => {
    const cmp = compareImages(inventory, ex.report);
    assert.deepEqual(cmp, { unseen: [], unrendered: [], orphans: [] });
    const rendered = new Set(inventory.flatMap((u) => u.images));
    const extracted = new Set(packageFiles(ex.report, 'kustomize').flatMap((p) => p.deps.map(refOf)));
    assert.deepEqual([...extracted].sort(), [...rendered].sort());
    assert.ok(rendered.size >= 10, `expected the repo's images, got ${[...rendered].join(', ')}`);
  });

  test('every pinned Go tool is a dependency Renovate updates, at the version setup builds; other indirect requirements stay off', async () => {
    const gomod = packageFiles(ex.report, 'gomod');
    for (const tool of GO_TOOLS) {
      const file = gomod.find((p) => p.packageFile === `tools/go/${tool.module}/go.mod`);
      assert.ok(file, `Renovate did not extract tools/go/${tool.module}/go.mod`);
      const dep = file.deps.find((d) => d.depName === tool.versionOf);
      assert.ok(dep, `${tool.versionOf} missing from tools/go/${tool.module}/go.mod extraction`);
      assert.equal(dep.currentValue, await pinnedVersion(tool));
      assert.notEqual(dep.enabled, false, `${tool.versionOf} is disabled (indirect without a matching tool directive?)`);
      // Other tools pinned by the same module (etcd beside kube-apiserver) are that tool's own dependency.
      const others = file.deps.filter((d) => d.depType === 'indirect' && d !== dep && !GO_TOOLS.some((t) => t.module === tool.module && t.versionOf === d.depName));
      assert.ok(others.length && others.every((d) => d.enabled === false), 'the tool\'s own dependencies should stay disabled');
      // Direct requirements (the kustomize renderer links the kustomize API) and replace directives
      // (staging modules pinned to the tool's version) move with the tool, in one group.
      const direct = new Set(file.deps.filter((d) => d.depType === 'require' || d.depType === 'replace').map((d) => d.depName));
      const bumps = updates.filter((u) => u.manager === 'gomod' && u.packageFile === file.packageFile);
      assert.ok(bumps.some((u) => u.depName === tool.versionOf), `${tool.versionOf} is never bumped`);
      const siblings = new Set(GO_TOOLS.filter((t) => t.module === tool.module).map((t) => t.versionOf));
      for (const u of bumps) assert.ok(siblings.has(u.depName) || direct.has(u.depName), `${file.packageFile}: ${u.depName} bumped on its own`);
      assert.deepEqual([...new Set(bumps.map((u) => u.groupName))], [`Go tool ${tool.module}`]);
      assert.ok(bumps.every((u) => !u.automerge && u.labels.includes('toolkit')));
    }
  });

  test('prod first-party images are never bumped by Renovate (promotion moves them)', () => {
    const prodFirstParty = packageFiles(ex.report, 'kustomize').filter((p) => p.packageFile.startsWith('overlays/crianex/')).flatMap((p) => p.deps.filter((d) => d.depName!.startsWith(FIRST_PARTY)));
    assert.ok(prodFirstParty.length >= 4, 'expected first-party images in prod');
    const bumped = updates.filter((u) => u.packageFile.startsWith('overlays/crianex/') && u.depName.startsWith(FIRST_PARTY));
    assert.deepEqual(bumped, []);
  });

  test('prod third-party images are bumped by pull requests that need review', () => {
    const thirdParty = packageFiles(ex.report, 'kustomize').flatMap((p) => (p.packageFile.startsWith('overlays/crianex/') ? p.deps.filter((d) => !d.depName!.startsWith(FIRST_PARTY)).map((d) => `${p.packageFile} ${d.depName}`) : []));
    assert.ok(thirdParty.length >= 3, 'expected third-party images in prod');
    const prod = updates.filter((u) => u.manager === 'kustomize' && u.packageFile.startsWith('overlays/crianex/'));
    assert.deepEqual([...new Set(prod.map((u) => `${u.packageFile} ${u.depName}`))].sort(), thirdParty.sort());
    for (const u of prod) {
      assert.equal(u.automerge, false, `${u.branchName} would automerge in prod`);
      assert.ok(u.labels.includes('needs-review'), `${u.branchName}: ${u.labels.join(',')}`);
    }
  });

  test('dev pins, digests, patches and minors automerge; majors wait for review', () => {
    const dev = updates.filter((u) => u.manager === 'kustomize' && u.packageFile.startsWith('overlays/minikube/'));
    assert.ok(dev.length);
    for (const u of dev) assert.equal(u.automerge, u.updateType !== 'major', `${u.branchName} (${u.updateType})`);
  });

  test('local-only images (no registry host, never pulled) are ignored; every other dev image is bumped', () => {
    // No registry host in the name (so no registry to look up) and every container says pull: Never.
    const local = new Set(inventory.flatMap((u) => u.neverPulled).map(imageName).filter((name) => !/^[^/]*[.:][^/]*\//.test(name) && !name.startsWith('localhost/')));
    assert.ok(local.size >= 4, `expected the todo and taskflow images, got ${[...local].join(', ')}`);
    const devDeps = packageFiles(ex.report, 'kustomize').filter((p) => p.packageFile.startsWith('overlays/minikube/')).flatMap((p) => p.deps.map((d) => d.depName!));
    const bumped = new Set(updates.filter((u) => u.packageFile.startsWith('overlays/minikube/')).map((u) => u.depName));
    for (const name of devDeps) assert.equal(bumped.has(name), !local.has(name), `${name}: ${local.has(name) ? 'local-only but bumped' : 'not bumped'}`);
  });

  test('branch names are unique per overlay: one branch never carries two overlays', () => {
    const overlaysOf = new Map<string, Set<string>>();
    for (const u of updates.filter((x) => x.manager === 'kustomize')) {
      if (!overlaysOf.has(u.branchName)) overlaysOf.set(u.branchName, new Set());
      overlaysOf.get(u.branchName)!.add(path.posix.dirname(u.packageFile));
    }
    const shared = [...overlaysOf].filter(([, dirs]) => dirs.size > 1);
    assert.deepEqual(shared, []);
    // The same image in dev and prod (redis) gets two branches.
    const redis = updates.filter((u) => u.depName === 'redis' && u.updateType === 'minor').map((u) => u.branchName);
    assert.equal(new Set(redis).size, 2, redis.join(' '));
  });
});

describe('renovate extraction against fixtures', () => {
  async function compareFixture(files: Record<string, string | null>) {
    const dir = await makeRepo(baseFiles());
    try {
      await writeFiles(dir, files);
      gitInit(dir);
      const [ex, inventory] = await Promise.all([extract(dir), imageInventory({ cwd: dir, envVars: testEnv })]);
      try {
        return compareImages(inventory, ex.report);
      } finally {
        await ex.cleanup();
      }
    } finally {
      await removeRepo(dir);
    }
  }

  test('the fixture repo as is: equal', async () => {
    assert.deepEqual(await compareFixture({}), { unseen: [], unrendered: [], orphans: [] });
  });

  test('an image only in a base Deployment (no overlay pin) fails the comparison', async () => {
    const sidecar = DEPLOYMENT.replace('      containers:\n', '      containers:\n        - name: sidecar\n          image: busybox:1.36\n');
    const cmp = await compareFixture({ 'apps/demo/web/deployment.yaml': sidecar });
    assert.deepEqual(cmp.unseen, [
      { dir: 'overlays/crianex/demo/web', image: 'busybox:1.36' },
      { dir: 'overlays/minikube/demo/web', image: 'busybox:1.36' },
    ]);
  });

  test('an image set by an overlay patch instead of images: fails the comparison', async () => {
    const patched = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: demo
resources:
  - ../../../../apps/demo/web
patches:
  - target: {kind: Deployment, name: demo-web}
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/image
        value: registry.example.com/demo-web:2.0.0
`;
    const cmp = await compareFixture({ 'overlays/minikube/demo/web/kustomization.yaml': patched });
    assert.deepEqual(cmp.unseen, [{ dir: 'overlays/minikube/demo/web', image: 'registry.example.com/demo-web:2.0.0' }]);
  });
});
