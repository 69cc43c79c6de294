import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderFastTemplate, renderGoTemplate, TemplateError } from '../lib/argocd/gotemplate.js';

const data = {
  path: { path: 'overlays/minikube/shop/api', basename: 'api', segments: ['overlays', 'minikube', 'shop', 'api'] },
  namespace: 'shop',
  labels: { tier: 'web' },
  count: 3,
};

test('field access, nested fields, $ and literal text', () => {
  assert.equal(renderGoTemplate('{{.path.path}}', data), 'overlays/minikube/shop/api');
  assert.equal(renderGoTemplate('ns={{ .namespace }}!', data), 'ns=shop!');
  assert.equal(renderGoTemplate('{{$.labels.tier}}-{{.count}}', data), 'web-3');
  assert.equal(renderGoTemplate('no actions', data), 'no actions');
});

test('index on slices and maps, as in the repository ApplicationSets', () => {
  assert.equal(renderGoTemplate('{{index .path.segments 2}}-{{index .path.segments 3}}', data), 'shop-api');
  assert.equal(renderGoTemplate('{{ index .labels "tier" }}', data), 'web');
  assert.throws(() => renderGoTemplate('{{index .path.segments 9}}', data), /index out of range: 9/);
});

test('missingkey=error fails on a missing key; the default prints <no value>', () => {
  assert.throws(() => renderGoTemplate('{{.nope}}', data, { missingkey: 'error' }), (e: Error) => e instanceof TemplateError && /map has no entry for key "nope"/.test(e.message));
  assert.throws(() => renderGoTemplate('{{.path.nope}}', data, { missingkey: 'error' }), /no entry for key "nope"/);
  assert.equal(renderGoTemplate('{{.nope}}', data), '<no value>');
  assert.equal(renderGoTemplate('[{{.nope}}]', data, { missingkey: 'zero' }), '[]');
  assert.throws(() => renderGoTemplate('{{.namespace.x}}', data), /can't evaluate field x in type string/);
});

test('pipes, parentheses, functions and whitespace trimming', () => {
  assert.equal(renderGoTemplate('{{.path.basename | upper}}', data), 'API');
  assert.equal(renderGoTemplate('{{ printf "%s/%s" .namespace (index .path.segments 3) }}', data), 'shop/api');
  assert.equal(renderGoTemplate('{{ .nope | default "x" }}', data), 'x');
  assert.equal(renderGoTemplate('{{ replace "-" "_" "a-b-c" }}', data), 'a_b_c');
  assert.equal(renderGoTemplate('a  {{- .namespace -}}  b', data), 'ashopb');
  assert.equal(renderGoTemplate('{{/* comment */}}x', data), 'x');
  assert.equal(renderGoTemplate('{{ "}}" }}', data), '}}');
  assert.equal(renderGoTemplate('{{.path.segments}}', data), '[overlays minikube shop api]');
});

test('unsupported constructs and syntax errors fail loudly', () => {
  assert.throws(() => renderGoTemplate('{{if .namespace}}x{{end}}', data), /'if' actions are not supported/);
  assert.throws(() => renderGoTemplate('{{nosuchfunc .namespace}}', data), /function "nosuchfunc" not defined/);
  assert.throws(() => renderGoTemplate('{{.namespace', data), /unclosed action/);
  assert.throws(() => renderGoTemplate('{{ (index .path.segments 1 }}', data), /unclosed '\('/);
});

test('legacy fasttemplate parameters', () => {
  const params = { path: 'overlays/a/b', 'path.basename': 'b', 'path[1]': 'a' };
  assert.equal(renderFastTemplate('{{path.basename}}-{{ path[1] }}-{{path}}', params), 'b-a-overlays/a/b');
  assert.equal(renderFastTemplate('{{unknown}}', params), '{{unknown}}');
});
