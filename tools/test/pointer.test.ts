// core/pointer.ts: RFC 6901 escaping both ways, and the annotation keys policies point at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pointerSegments, pointerToDotted, pointerToPath, toPointer } from '../lib/core/pointer.js';

test('~ and / in a segment round-trip; ~01 is ~1, not /', () => {
  const segs = ['metadata', 'annotations', 'a/b~c', '~1'];
  assert.equal(toPointer(segs), '/metadata/annotations/a~1b~0c/~01');
  assert.deepEqual(pointerSegments(toPointer(segs)), segs);
  assert.deepEqual(pointerToPath('/spec/containers/0/image'), ['spec', 'containers', 0, 'image']);
  assert.equal(pointerToDotted('/metadata/labels/app.kubernetes.io~1name'), 'metadata.labels.app.kubernetes.io/name');
  assert.deepEqual(pointerToPath(''), []);
});
