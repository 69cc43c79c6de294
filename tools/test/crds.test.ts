// CRD sets from a mirror: parsed once, kept by content; a warm run reads neither the bundles nor
// their hashes again (crds.ts contentKey), and a rewritten file is read again.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadCrdSet } from '../lib/server/crds.js';
import type { Config, CrdSet } from '../lib/config/config.js';
import { writeFiles } from './fixtures.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const crd = (plural: string) => `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: ${plural}.example.com}\nspec: {group: example.com, names: {kind: X, plural: ${plural}}, scope: Namespaced, versions: []}\n`;

test('a CRD file is hashed once while unchanged, and read again once rewritten', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'crds-'));
  dirs.push(root);
  const mirror = path.join(root, 'mirror');
  const set: CrdSet = { name: 'x', version: 'v1', urls: ['https://example.com/x/crd.yaml'] };
  const file = path.join(mirror, 'x', 'v1', 'crd.yaml');
  const config = { root: path.join(root, 'repo'), crdMirror: mirror } as unknown as Config;
  const past = (s: number) => new Date(Date.now() - s * 1000);
  await writeFiles(root, { 'mirror/x/v1/crd.yaml': crd('alphas') });
  await utimes(file, past(60), past(60)); // older than the mtime granularity window
  assert.deepEqual((await loadCrdSet(config, set)).map((o) => o.metadata.name), ['alphas.example.com']);
  const memo = JSON.parse(await readFile(path.join(config.root, '.cache', 'crds', 'hashes.json'), 'utf8')) as Record<string, { sig: string; key: string }>;
  assert.ok(memo[file]?.key, 'the content hash is kept by the file\'s signature');
  // Rewritten (another size and mtime): the same process and the kept hash must not answer for it.
  await writeFiles(root, { 'mirror/x/v1/crd.yaml': crd('betas-and-more') });
  await utimes(file, past(30), past(30));
  assert.deepEqual((await loadCrdSet(config, set)).map((o) => o.metadata.name), ['betas-and-more.example.com']);
});
