// Image references, pins and the format-preserving overlay edits (byte for byte outside the edit).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDocument } from 'yaml';
import { UsageError, ConfigError } from '../lib/core/errors.js';
import {
  copyKey,
  diffLines,
  editYaml,
  formatPin,
  getKey,
  parseImageRef,
  parseKeyPath,
  parseKustomization,
  pinFromFields,
  readImageEntries,
  readReplicas,
  sameImage,
  sameRelease,
  setImagePin,
  setReplicas,
  shortDigest,
  splitRegistry,
  usedImageNames,
} from '../lib/render/images.js';
import type { K8sObject } from '../lib/core/k8s.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'ab'.repeat(32)}`;

describe('image references', () => {
  test('parses name:tag, name@digest and name:tag@digest, with registry hosts and ports', () => {
    assert.deepEqual(parseImageRef('redis:7.4-alpine'), { name: 'redis', tag: '7.4-alpine' });
    assert.deepEqual(parseImageRef(`registry.example.com/team/api@${D1}`), { name: 'registry.example.com/team/api', digest: D1 });
    assert.deepEqual(parseImageRef(`127.0.0.1:5000/api:1.2.3@${D1}`), { name: '127.0.0.1:5000/api', tag: '1.2.3', digest: D1 });
    assert.deepEqual(parseImageRef('localhost:5000/a/b'.concat(':v1')), { name: 'localhost:5000/a/b', tag: 'v1' });
  });

  test('rejects a bare name, a bad digest, an upper-case path and a tag that starts with a dot', () => {
    assert.throws(() => parseImageRef('registry.example.com/api'), (e: unknown) => e instanceof UsageError && /no tag and no digest/.test(e.message));
    assert.throws(() => parseImageRef('api@sha256:1234'), /64 lower-case hex/);
    assert.throws(() => parseImageRef(`api@sha256:${'A'.repeat(64)}`), /64 lower-case hex/);
    assert.throws(() => parseImageRef('Team/API:1'), /not a valid repository name/);
    assert.throws(() => parseImageRef('api:.hidden'), /tag '\.hidden'/);
    assert.throws(() => parseImageRef('api:1;rm -rf /'), UsageError);
  });

  test('Docker Hub short names get registry-1.docker.io and library/', () => {
    assert.deepEqual(splitRegistry('redis'), { registry: 'docker.io', repository: 'library/redis' });
    assert.deepEqual(splitRegistry('bitnami/redis'), { registry: 'docker.io', repository: 'bitnami/redis' });
    assert.deepEqual(splitRegistry('docker.io/library/redis'), { registry: 'docker.io', repository: 'library/redis' });
    assert.deepEqual(splitRegistry('ghcr.io/o/r'), { registry: 'ghcr.io', repository: 'o/r' });
    assert.deepEqual(splitRegistry('localhost:5000/r'), { registry: 'localhost:5000', repository: 'r' });
    assert.ok(sameImage('redis', 'docker.io/library/redis'));
    assert.ok(sameImage('redis', 'index.docker.io/library/redis'));
    assert.ok(!sameImage('redis', 'ghcr.io/library/redis'));
  });
});

describe('pins', () => {
  test('newTag may carry the digest; digest: alone pins by digest', () => {
    assert.deepEqual(pinFromFields(`1.2.3@${D1}`, undefined), { tag: '1.2.3', digest: D1 });
    assert.deepEqual(pinFromFields(undefined, D1), { digest: D1 });
    assert.deepEqual(pinFromFields('1.0', undefined), { tag: '1.0' });
    assert.equal(formatPin({ tag: '1.2.3', digest: D2 }), `1.2.3@sha256:${'ab'.repeat(6)}`);
    assert.equal(formatPin({ tag: '1.2.3', digest: D2 }, { full: true }), `1.2.3@${D2}`);
    assert.equal(formatPin(undefined), '(none)');
    assert.equal(shortDigest(D2), 'ab'.repeat(6));
  });

  test('same release: digests decide when both have one, else tags', () => {
    assert.ok(sameRelease({ tag: '1', digest: D1 }, { tag: '2', digest: D1 }));
    assert.ok(!sameRelease({ tag: '1', digest: D1 }, { tag: '1', digest: D2 }));
    assert.ok(sameRelease({ tag: '1' }, { tag: '1', digest: D1 }));
    assert.ok(!sameRelease({ tag: '1' }, undefined));
    assert.ok(sameRelease(undefined, undefined));
  });
});

// A kustomization written by a human: comments everywhere, padded and unpadded flow collections,
// odd quoting, blank lines, a comment after the last entry. The yaml library alone would re-pad the
// flow sequence (`[a, b]` -> `[ a, b ]`); the edit must not touch any line but its own.
const COMMENTED = `# Overlay of the demo app on crianex.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization   # two spaces before this comment
namespace: demo # trailing comment

resources: [../../../../apps/demo/web, extra.yaml]
commonAnnotations: { team: "web", tier: 'front' }
labels:
  - pairs: {app: demo}

# The images block.
images:
  # the API
  - name: registry.example.com/demo-web # base name
    newTag: "1.0.0" # pinned by hand
  - name: redis
    newTag: '7.4'
    digest: ${D1}
  # end of images
patches:
  - patch: |-
      - op: add
        path: /metadata/labels/x
        value: "y"
    target: {kind: Deployment}
`;

function changedLines(before: string, after: string): { removed: string[]; added: string[] } {
  const d = diffLines(before.split('\n'), after.split('\n'));
  return { removed: d.filter(([op]) => op === '-').map(([, l]) => l), added: d.filter(([op]) => op === '+').map(([, l]) => l) };
}

describe('format-preserving edits', () => {
  test('the library alone would change untouched lines (why editYaml splices)', () => {
    assert.notEqual(parseDocument(COMMENTED).toString({ lineWidth: 0 }), COMMENTED);
  });

  test('bumping one entry changes exactly its newTag line, keeping the comment and quote style', () => {
    const out = editYaml('k.yaml', COMMENTED, (doc) => setImagePin(doc, 'k.yaml', 'registry.example.com/demo-web', { tag: '1.1.0', digest: D2 }));
    assert.deepEqual(changedLines(COMMENTED, out), { removed: ['    newTag: "1.0.0" # pinned by hand'], added: [`    newTag: "1.1.0@${D2}" # pinned by hand`] });
    assert.equal(out, COMMENTED.replace('newTag: "1.0.0"', `newTag: "1.1.0@${D2}"`));
  });

  test('writing newTag removes a stale digest: key (never both), and the reverse', () => {
    const out = editYaml('k.yaml', COMMENTED, (doc) => setImagePin(doc, 'k.yaml', 'redis', { tag: '7.4.1', digest: D2 }));
    assert.deepEqual(changedLines(COMMENTED, out), { removed: ["    newTag: '7.4'", `    digest: ${D1}`], added: [`    newTag: '7.4.1@${D2}'`] });
    const back = editYaml('k.yaml', out, (doc) => setImagePin(doc, 'k.yaml', 'registry.example.com/demo-web', { digest: D1 }));
    assert.deepEqual(changedLines(out, back), { removed: ['    newTag: "1.0.0" # pinned by hand'], added: [`    digest: ${D1}`] });
    const entries = readImageEntries(parseKustomization('k.yaml', back), 'k.yaml');
    const web = parseKustomization('k.yaml', back).toJS().images[0];
    assert.deepEqual(Object.keys(web), ['name', 'digest']);
    assert.deepEqual(entries.map((e) => e.pin), [{ digest: D1 }, { tag: '7.4.1', digest: D2 }]);
  });

  test('an image without an entry gets one appended to images:, styled like its siblings', () => {
    const out = editYaml('k.yaml', COMMENTED, (doc) => setImagePin(doc, 'k.yaml', 'busybox', { tag: '1.36' }));
    const { removed, added } = changedLines(COMMENTED, out);
    assert.deepEqual(removed, []);
    assert.deepEqual(added, ['  - name: busybox', '    newTag: "1.36"']);
    assert.deepEqual(readImageEntries(parseKustomization('k.yaml', out), 'k.yaml').at(-1), { name: 'busybox', pin: { tag: '1.36' } });
  });

  test('an overlay without images: gets the block at the end', () => {
    const text = 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization # k\nresources: [a]\n';
    const out = editYaml('k.yaml', text, (doc) => setImagePin(doc, 'k.yaml', 'api', { tag: '2', digest: D1 }));
    assert.equal(out, `${text}images:\n  - name: api\n    newTag: 2@${D1}\n`);
  });

  test('a Docker Hub spelling matches the entry and keeps its name', () => {
    const out = editYaml('k.yaml', COMMENTED, (doc) => setImagePin(doc, 'k.yaml', 'docker.io/library/redis', { tag: '8' }));
    assert.match(out, /- name: redis\n {4}newTag: '8'\n/);
  });

  test('replicas: entries are added and updated in place', () => {
    const added = editYaml('k.yaml', COMMENTED, (doc) => setReplicas(doc, 'k.yaml', 'demo-web', 3));
    assert.deepEqual(changedLines(COMMENTED, added), { removed: [], added: ['replicas:', '  - name: demo-web', '    count: 3'] });
    const updated = editYaml('k.yaml', added, (doc) => setReplicas(doc, 'k.yaml', 'demo-web', 5));
    assert.deepEqual(changedLines(added, updated), { removed: ['    count: 3'], added: ['    count: 5'] });
    assert.deepEqual([...readReplicas(parseKustomization('k.yaml', updated), 'k.yaml')], [['demo-web', 5]]);
  });

  test('no change returns the very same text', () => {
    const out = editYaml('k.yaml', COMMENTED, (doc) => setImagePin(doc, 'k.yaml', 'registry.example.com/demo-web', { tag: '1.0.0' }));
    assert.equal(out, COMMENTED);
  });

  test('malformed overlays name the file and the field', () => {
    assert.throws(() => readImageEntries(parseKustomization('o/k.yaml', 'images: {a: 1}\n'), 'o/k.yaml'), (e: unknown) => e instanceof ConfigError && /o\/k\.yaml: images: must be a list/.test(e.message));
    assert.throws(() => readImageEntries(parseKustomization('o/k.yaml', 'images:\n  - newTag: x\n'), 'o/k.yaml'), /images\[0\]\.name: missing/);
    assert.throws(() => readImageEntries(parseKustomization('o/k.yaml', 'images:\n  - name: a\n    digest: sha256:12\n'), 'o/k.yaml'), /images\[0\] \(a\): digest/);
    assert.throws(() => parseKustomization('o/k.yaml', 'a: 1\na: 2\n'), ConfigError);
  });
});

describe('release keys', () => {
  const SRC = 'configMapGenerator:\n  - name: app\n    literals: [VERSION=2]\ncommonAnnotations:\n  crianex.com/release: "2024.2"\n';
  const DST = 'namespace: prod\nconfigMapGenerator:\n  - name: app # keep\n    literals: [VERSION=1]\n';

  test('JSON-pointer and dotted paths, list items selected by key=value', () => {
    assert.deepEqual(parseKeyPath('/configMapGenerator/name=app/literals'), ['configMapGenerator', { key: 'name', value: 'app' }, 'literals']);
    assert.deepEqual(parseKeyPath('/commonAnnotations/crianex.com~1release'), ['commonAnnotations', 'crianex.com/release']);
    assert.deepEqual(parseKeyPath('configMapGenerator.0.literals'), ['configMapGenerator', 0, 'literals']);
  });

  test('environment-specific keys are refused', () => {
    for (const k of ['/namespace', '/replicas', 'resources', '/components/0', '/secretGenerator/0', '/images']) {
      assert.throws(() => parseKeyPath(k), (e: unknown) => e instanceof ConfigError && /environment-specific/.test(e.message), k);
    }
  });

  test('copies the value, creating maps but never list items, and keeps the rest of the target', () => {
    const src = parseKustomization('s', SRC);
    const out = editYaml('d', DST, (doc) => {
      assert.deepEqual(copyKey(src, doc, parseKeyPath('/configMapGenerator/name=app/literals')), { changed: true, missingInSource: false });
      assert.deepEqual(copyKey(src, doc, parseKeyPath('/commonAnnotations/crianex.com~1release')), { changed: true, missingInSource: false });
      assert.deepEqual(copyKey(src, doc, parseKeyPath('/labels')), { changed: false, missingInSource: true });
    });
    const d = parseKustomization('d', out);
    assert.deepEqual(getKey(d, parseKeyPath('/configMapGenerator/name=app/literals')).value, ['VERSION=2']);
    assert.equal(getKey(d, parseKeyPath('/commonAnnotations/crianex.com~1release')).value, '2024.2');
    assert.ok(out.startsWith('namespace: prod\nconfigMapGenerator:\n  - name: app # keep\n'), out);
    assert.throws(() => copyKey(src, parseKustomization('d', 'namespace: x\n'), parseKeyPath('/configMapGenerator/name=app/literals')), /no list item/);
  });
});

describe('images an app uses', () => {
  test('rendered images, with newName mapped back to the entry name', () => {
    const objects = [
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'a' }, spec: { template: { spec: { initContainers: [{ image: 'busybox:1.36' }], containers: [{ image: `127.0.0.1:5000/api:1@${D1}` }] } } } },
      { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'c' }, spec: { jobTemplate: { spec: { template: { spec: { containers: [{ image: 'redis' }] } } } } } },
    ] as K8sObject[];
    assert.deepEqual(usedImageNames(objects, [{ name: 'registry.example.com/api', newName: '127.0.0.1:5000/api', pin: {} }]), ['busybox', 'redis', 'registry.example.com/api']);
  });
});
