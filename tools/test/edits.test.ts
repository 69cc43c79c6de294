// Overlay edits keep every byte outside the edited scalar: kustomize edit's non-indented sequences,
// CRLF, flow style, comments (and their spacing), a BOM; values behind anchors are refused.
// Property checks over generated kustomizations, and a bounded seeded fuzz run (the long run is
// `npm run fuzz`).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../lib/core/errors.js';
import { copyKey, editYaml, parseKeyPath, parseKustomization, setImagePin, setReplicas } from '../lib/render/images.js';
import { applyPinEdit } from '../lib/release/releasestate.js';
import { checkOneEdit, generate, prng } from './kustomization-gen.js';

const F = 'overlays/x/kustomization.yaml';
const D = `sha256:${'b'.repeat(64)}`;
const pin = (text: string, name: string, p: { tag?: string; digest?: string }) => editYaml(F, text, (doc) => void setImagePin(doc, F, name, p));

describe('edits keep every byte outside the edited scalar', () => {
  test('non-indented sequence as kustomize edit writes it', () => {
    const text = 'resources:\n- ../../base\nimages:\n- name: app\n  newName: registry.example.com/app\n  newTag: 1.0.0\n- name: side\n  newTag: 2.0.0\n';
    assert.equal(pin(text, 'app', { tag: '1.1.0' }), text.replace('newTag: 1.0.0', 'newTag: 1.1.0'));
    // An added entry is added in the same (non-indented) style, the rest unchanged.
    assert.equal(pin(text, 'new', { tag: '3.0.0' }), `${text}- name: new\n  newTag: 3.0.0\n`);
  });

  test('CRLF line endings stay CRLF, also for added lines', () => {
    const text = 'images:\r\n  - name: app\r\n    newTag: "1.0.0"\r\n';
    assert.equal(pin(text, 'app', { tag: '1.1.0' }), text.replace('1.0.0', '1.1.0'));
    const added = editYaml(F, text, (doc) => void setReplicas(doc, F, 'app', 3));
    assert.equal(added, `${text}replicas:\r\n  - name: app\r\n    count: 3\r\n`);
  });

  test('flow style, quotes and a comment after the last entry', () => {
    const flow = 'images: [{name: app, newTag: \'1.0.0\'}, {name: b, newTag: "2"}]   # pinned\n';
    assert.equal(pin(flow, 'app', { tag: '1.1.0' }), flow.replace("'1.0.0'", "'1.1.0'"));
    const maps = 'images:\n- {name: app, newTag: 1.0.0}  # a\n- {name: b,   newTag: "2"}\n# keep me after the last entry\n';
    assert.equal(pin(maps, 'b', { tag: '3' }), maps.replace('"2"', '"3"'));
    const last = 'images:\n  - name: app\n    newTag: "1.0.0"\n  # renovate: keep this comment\n';
    assert.equal(pin(last, 'app', { tag: '1.2.0', digest: D }), last.replace('"1.0.0"', `"1.2.0@${D}"`));
  });

  test('the spacing of a trailing comment on the edited line, and a BOM', () => {
    const text = '\uFEFFimages:\n  - name: app\n    newTag: "1.0.0"     #   bumped by hand\n';
    assert.equal(pin(text, 'app', { tag: '1.0.1' }), text.replace('1.0.0', '1.0.1'));
    // Switching digest: -> newTag (a key change) keeps the comment spacing of the line it rewrites.
    const dig = 'images:\n  - name: app\n    digest: sha256:' + 'c'.repeat(64) + '   #  old\n  - name: other\n    newTag: x\n';
    const out = pin(dig, 'app', { tag: '2.0.0', digest: D });
    assert.ok(out.endsWith('  - name: other\n    newTag: x\n'), out);
    assert.match(out, new RegExp(`^images:\\n {2}- name: app\\n {4}newTag: 2\\.0\\.0@${D}`));
  });

  test('a value behind a YAML anchor, or an alias, is refused with the file and line', () => {
    const anchored = 'images:\n  - name: app\n    newTag: &v "1.0.0"\n  - name: side\n    newTag: *v\n';
    assert.throws(() => pin(anchored, 'app', { tag: '1.1.0' }), (e: unknown) => e instanceof ConfigError && /kustomization\.yaml:3: the value to change is behind YAML anchor &v/.test(e.message));
    assert.throws(() => pin(anchored, 'side', { tag: '1.1.0' }), (e: unknown) => e instanceof ConfigError && /:5: the value to change is the alias \*v/.test(e.message));
    const entry = 'images:\n  - &e\n    name: app\n    newTag: "1.0.0"\nx-copy: *e\n';
    assert.throws(() => pin(entry, 'app', { tag: '2' }), (e: unknown) => e instanceof ConfigError && /anchor &e/.test(e.message));
    // An anchor nobody references is harmless.
    const unused = 'images:\n  - name: app\n    newTag: &v "1.0.0"\n';
    assert.equal(pin(unused, 'app', { tag: '1.1.0' }), unused.replace('1.0.0', '1.1.0'));
    // Release keys through an alias are refused too.
    const src = parseKustomization(F, 'commonAnnotations:\n  crianex.com/release: "2"\n');
    const dst = 'base: &b\n  crianex.com/release: "1"\ncommonAnnotations: *b\n';
    assert.throws(() => editYaml(F, dst, (doc) => void copyKey(src, doc, parseKeyPath('/commonAnnotations/crianex.com~1release'))), (e: unknown) => e instanceof ConfigError && /alias/.test(e.message));
  });

  test('the commands\' edit path (images entries and image: values in patches) refuses anchors too', () => {
    const anchored = 'images:\n  - name: app\n    newTag: &v "1.0.0"\n  - name: side\n    newTag: *v\n';
    assert.throws(() => applyPinEdit({ file: F, how: 'images', entryName: 'app', why: 't' }, anchored, { tag: '1.1.0' }), (e: unknown) => e instanceof ConfigError && /:3: images\.0\.newTag: the value to change is behind YAML anchor &v/.test(e.message));
    assert.throws(() => applyPinEdit({ file: F, how: 'images', entryName: 'side', why: 't' }, anchored, { tag: '1.1.0' }), (e: unknown) => e instanceof ConfigError && /alias \*v/.test(e.message));
    const patch = 'spec:\n  template:\n    spec:\n      containers:\n        - &c\n          name: app\n          image: registry.example.com/app:1.0.0\n      initContainers:\n        - *c\n';
    assert.throws(() => applyPinEdit({ file: 'patch.yaml', how: 'scalar', doc: 0, path: ['spec', 'template', 'spec', 'containers', 0, 'image'], why: 't' }, patch, { tag: '2.0.0' }), (e: unknown) => e instanceof ConfigError && /patch\.yaml:6: spec\.template\.spec\.containers\.0\.image: .*anchor &c/.test(e.message));
    // Without an alias using it, the same edit is a plain in-place rewrite.
    const free = 'images:\n  - name: app\n    newTag: &v "1.0.0"   # note\n';
    assert.equal(applyPinEdit({ file: F, how: 'images', entryName: 'app', why: 't' }, free, { tag: '1.1.0' }).text, free.replace('1.0.0', '1.1.0'));
  });

  test('a layout the printer cannot reproduce line for line is refused, not reformatted', () => {
    const text = 'images: [\n  {name: app, newTag: "1"},\n]\n';
    assert.throws(() => pin(text, 'new', { tag: '2' }), (e: unknown) => e instanceof ConfigError && /cannot make this edit without reformatting/.test(e.message));
    // The scalar edit on the same file is still exact.
    assert.equal(pin(text, 'app', { tag: '2' }), text.replace('"1"', '"2"'));
  });
});

describe('property: generated kustomizations', () => {
  test('every layout generator branch is exercised', () => {
    const seen = new Set<string>();
    for (let s = 0; s < 400; s++) {
      const g = generate(prng(s));
      seen.add(`${g.crlf ? 'crlf' : 'lf'}`).add(g.flowSeq ? 'flowSeq' : /^- /m.test(g.text) ? 'non-indented' : 'indented').add(g.text.startsWith('\uFEFF') ? 'bom' : 'nobom');
    }
    assert.deepEqual([...seen].sort(), ['bom', 'crlf', 'flowSeq', 'indented', 'lf', 'nobom', 'non-indented']);
  });

  test('bounded seeded fuzz: 600 edits (scalar pins and counts, added entries, re-pins)', () => {
    const ops = new Map<string, number>();
    for (let seed = 1; seed <= 600; seed++) {
      const op = checkOneEdit(seed);
      ops.set(op, (ops.get(op) ?? 0) + 1);
    }
    assert.deepEqual([...ops.keys()].sort(), ['add image', 'add replicas', 'repin', 'scalar count', 'scalar pin']);
  });
});
