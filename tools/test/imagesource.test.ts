// Which file sets each rendered image: the replay of a kustomization tree checked against real
// kustomize output, and the byte-exact scalar edit the release commands make there.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { attributeImages, describeOrigin, loadTree, type ContainerImage } from '../lib/render/imagesource.js';
import { kustomizeBuild } from '../lib/render/kustomize.js';
import { parseStream } from '../lib/core/k8s.js';
import { applyPinEdit, pinPlaces, imageStates, type AppImages } from '../lib/release/releasestate.js';
import { findKustomize } from '../lib/core/tools.js';
import { replaceScalar } from '../lib/core/yamlfile.js';
import { makeRepo, removeRepo } from './repo-fixture.js';
import type { AppOverlay } from '../lib/config/apps.js';

const D = `sha256:${'b'.repeat(64)}`;
const DEPLOY = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {tier: front}}
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: reg/init:1
      containers:
        - name: a
          image: reg/a:0.1
        - name: b
          image: reg/b
        - name: c
          image: reg/c@sha256:${'a'.repeat(64)}
`;

/** Files of a tree exercising kustomize's order: resources, components in order, patches, images. */
const TREE: Record<string, string> = {
  'base/kustomization.yaml': 'resources: [d.yaml]\n',
  'base/d.yaml': DEPLOY,
  'comp/kustomization.yaml': `apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nimages:\n  - name: reg/a\n    newTag: "comp"\n  - name: reg/b\n    newTag: "t1"\n    digest: ${D}\n`,
  'comp2/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nimages:\n  - name: reg/b\n    newName: mirror/b\n',
  'ov/kustomization.yaml': 'namePrefix: p-\nresources: [../base]\ncomponents: [../comp, ../comp2]\npatches:\n  - path: patch.yaml\n  - target: {kind: Deployment, labelSelector: tier=front}\n    path: json.yaml\nimages:\n  - name: reg/c\n    newTag: "x"\n',
  'ov/patch.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          image: reg/a:patched # keep me\n',
  'ov/json.yaml': '- op: replace\n  path: /spec/template/spec/initContainers/0/image\n  value: reg/init:2\n',
};

async function attributed(files: Record<string, string>, dir = 'ov'): Promise<{ list: ContainerImage[]; root: string }> {
  const root = await makeRepo(files);
  try {
    const tool = await findKustomize();
    const rendered = parseStream(await kustomizeBuild(tool, `${root}/${dir}`));
    return { list: attributeImages(await loadTree(root, dir), rendered), root };
  } finally {
    await removeRepo(root);
  }
}

const byContainer = (list: ContainerImage[]) => Object.fromEntries(list.map((c) => [c.container, c]));

describe('image origins', () => {
  test('each rendered image is attributed to the layer kustomize applied last, with file and line', async () => {
    const { list } = await attributed(TREE);
    const c = byContainer(list);
    assert.equal(c.a!.image, 'reg/a:patched', 'the overlay patch runs after the component images');
    assert.equal(describeOrigin(c.a!.pinFrom!), 'ov/patch.yaml:9 (patch image:)');
    assert.equal(c.b!.image, `mirror/b:t1@${D}`);
    assert.equal(describeOrigin(c.b!.pinFrom!), 'comp/kustomization.yaml:6 (images entry reg/b)');
    assert.equal(describeOrigin(c.b!.nameFrom!), 'comp2/kustomization.yaml:4 (images entry reg/b)');
    assert.equal(c.c!.image, 'reg/c:x', 'a new tag replaces the digest');
    assert.equal(c.c!.pinFrom!.file, 'ov/kustomization.yaml');
    assert.equal(c.init!.image, 'reg/init:2');
    assert.deepEqual([c.init!.pinFrom!.file, c.init!.pinFrom!.path], ['ov/json.yaml', [0, 'value']]);
    assert.deepEqual(list.map((x) => x.key).sort(), ['reg/a', 'reg/b', 'reg/c', 'reg/init']);
    assert.ok(list.every((x) => x.object === 'Deployment/p-web' && !x.unknown));
  });

  test('an image written only in the resource is attributed to the resource', async () => {
    const { list } = await attributed({ 'base/kustomization.yaml': 'resources: [d.yaml]\n', 'base/d.yaml': DEPLOY }, 'base');
    const c = byContainer(list);
    assert.deepEqual([c.b!.pinFrom!.kind, c.b!.pinFrom!.file, c.b!.pinFrom!.line], ['resource', 'base/d.yaml', 14]);
  });

  test('what the replay cannot follow is unknown with the reason, never guessed', async () => {
    const files = {
      ...TREE,
      'ov/kustomization.yaml': `${TREE['ov/kustomization.yaml']}replacements:\n  - source: {kind: Deployment, name: web, fieldPath: spec.template.spec.initContainers.0.image}\n    targets:\n      - select: {kind: Deployment}\n        fieldPaths:\n          - spec.template.spec.containers.[name=c].image\n`,
    };
    const { list } = await attributed(files);
    const c = byContainer(list);
    assert.equal(c.c!.image, 'reg/init:2');
    assert.equal(c.c!.pinFrom, undefined);
    assert.match(c.c!.unknown!, /replacements in ov\/kustomization\.yaml is not followed \(replayed reg\/c:x, rendered reg\/init:2\)/);
    assert.ok(c.a!.pinFrom, 'containers the replay still reproduces keep their origin');
  });
});

describe('edits at the deciding place', () => {
  test('replaceScalar keeps every other byte, the quoting and the comment', () => {
    const text = '# head\napiVersion: apps/v1 # x\n---\nspec:\n  image: "reg/a:1"   # keep\n  other:   [1,2]\n';
    const r = replaceScalar('f.yaml', text, 1, ['spec', 'image'], () => 'reg/a:2@sha256:' + 'c'.repeat(64));
    assert.equal(r.text, text.replace('"reg/a:1"', `"reg/a:2@sha256:${'c'.repeat(64)}"`));
    assert.equal(r.before, 'reg/a:1');
    const plain = replaceScalar('f.yaml', 'a: reg/a:1 # c\n', 0, ['a'], () => 'reg/a:2');
    assert.equal(plain.text, 'a: reg/a:2 # c\n');
    // A value that would read back as a number is quoted.
    assert.equal(replaceScalar('f.yaml', 'newTag: 1.0\n', 0, ['newTag'], () => '1.1').text, 'newTag: "1.1"\n');
    assert.throws(() => replaceScalar('f.yaml', 'a: |\n  x\n', 0, ['a'], () => 'y'), /block scalar/);
    assert.throws(() => replaceScalar('f.yaml', 'a: {b: 1}\n', 0, ['a'], () => 'y'), /f\.yaml: a: not a scalar/);
  });

  test('a shared component or patch is refused naming the file and the other overlays; the own patch is edited in place', async () => {
    const root = await makeRepo(TREE);
    try {
      const tool = await findKustomize();
      const tree = await loadTree(root, 'ov');
      const containers = attributeImages(tree, parseStream(await kustomizeBuild(tool, `${root}/ov`)));
      const env = (name: string) => ({ name, cluster: name, overlays: [], promotesFrom: [], requireDigests: false });
      const app = (id: string, e: string, dir: string): AppOverlay => ({ id, system: 'demo', service: id, slug: id, env: env(e), dir, kustomization: `${dir}/kustomization.yaml` });
      const me = app('demo/web', 'dev', 'ov');
      const target: AppImages = { app: me, overlayFile: 'ov/kustomization.yaml', tree, containers };
      const states = imageStates(target);
      const solo = new Map([['me', { app: me, files: new Set(['ov/kustomization.yaml', 'ov/patch.yaml', 'comp/kustomization.yaml', 'base/d.yaml']) }]]);
      const shared = new Map([...solo, ['prod', { app: app('demo/web', 'prod', 'prod-ov'), files: new Set(['comp/kustomization.yaml', 'base/d.yaml']) }]]);
      // reg/b is pinned by the component: fine when only dev uses it, refused when prod does too.
      assert.deepEqual(pinPlaces(target, states.get('reg/b')!, solo).map((p) => [p.file, p.how, p.entryName]), [['comp/kustomization.yaml', 'images', 'reg/b']]);
      assert.throws(() => pinPlaces(target, states.get('reg/b')!, shared), /comp\/kustomization\.yaml:6 \(images entry reg\/b\) sets reg\/b for demo\/web in dev, and other environments use that file too: prod-ov \(prod\)/);
      // reg/a is set by the overlay's own patch: the scalar there is rewritten, comment kept.
      const [place] = pinPlaces(target, states.get('reg/a')!, shared);
      assert.deepEqual([place!.file, place!.how], ['ov/patch.yaml', 'scalar']);
      const edited = applyPinEdit(place!, TREE['ov/patch.yaml']!, { tag: '2.0', digest: D });
      assert.equal(edited.text, TREE['ov/patch.yaml']!.replace('reg/a:patched', `reg/a:2.0@${D}`));
      assert.deepEqual(edited.before, { tag: 'patched' });
      // reg/init is written by a JSON patch of the overlay: its value scalar.
      assert.deepEqual(pinPlaces(target, states.get('reg/init')!, shared).map((p) => [p.file, p.how, JSON.stringify(p.path)]), [['ov/json.yaml', 'scalar', '[0,"value"]']]);
      // An overlay images entry is rewritten in place too.
      const [own] = pinPlaces(target, states.get('reg/c')!, shared);
      assert.equal(applyPinEdit(own!, TREE['ov/kustomization.yaml']!, { tag: 'y' }).text, TREE['ov/kustomization.yaml']!.replace('newTag: "x"', 'newTag: "y"'));
    } finally {
      await removeRepo(root);
    }
  });
});
