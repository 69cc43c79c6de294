// The closure walk kept across runs (closurememo.ts): reused while nothing it depends on
// changed, walked again on every change that could alter it, never kept when it cannot be trusted.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspectClosure } from '../lib/render/kustomize.js';
import { ClosureMemo } from '../lib/render/closurememo.js';
import { Workspace } from '../lib/core/workspace.js';
import { writeFiles } from './fixtures.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const DEPLOY = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n';

async function repo(): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'closurememo-'));
  dirs.push(root);
  await writeFiles(root, {
    'base/kustomization.yaml': 'resources: [deployment.yaml]\n',
    'base/deployment.yaml': DEPLOY,
    'base/service.yaml': 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\n',
    'a/kustomization.yaml': 'resources: [../base]\npatches: [{path: patch.yaml}]\n',
    'a/patch.yaml': DEPLOY,
    'b/kustomization.yaml': 'resources: [../base]\n',
    'other/kustomization.yaml': 'resources: [deployment.yaml]\n',
    'other/deployment.yaml': DEPLOY,
    // As after a first run: .cache's creation would change the root's signature.
    '.cache/.keep': '',
  });
  return root;
}

/** A paths changed this recently is not kept (mtime granularity): let the fixture age first. */
const settle = () => sleep(2100);

/** One run: a fresh Workspace, the closure of each folder (repo-relative, sorted), then what it learnt saved. */
async function walk(root: string, ...folders: string[]): Promise<string[][]> {
  const ws = new Workspace(root, {});
  const out = [];
  for (const f of folders) out.push((await inspectClosure(path.join(root, f), { root, ws })).files.map((x) => path.relative(root, x)).sort());
  await ws.save();
  return out;
}

async function kept(root: string, folder: string): Promise<string[] | undefined> {
  const memo = await ClosureMemo.forRun(new Workspace(root, {}), root);
  return memo?.get(`local:${path.join(root, folder)}`)?.files.map((x) => path.relative(root, x)).sort();
}

test('an unchanged closure is kept and reused; a file changed since is walked again', async () => {
  const root = await repo();
  await settle();
  const [a] = await walk(root, 'a');
  assert.deepEqual(a, ['a/kustomization.yaml', 'a/patch.yaml', 'base/deployment.yaml', 'base/kustomization.yaml']);
  assert.deepEqual(await kept(root, 'a'), a);
  // The base now lists a second resource: the kept closure must not be used.
  await writeFile(path.join(root, 'base/kustomization.yaml'), 'resources: [deployment.yaml, service.yaml]\n');
  assert.equal(await kept(root, 'a'), undefined);
  const [again] = await walk(root, 'a');
  assert.deepEqual(again, [...a, 'base/service.yaml'].sort());
});

test('a closure recorded before a shared file changed is not revived when another closure records the new state', async () => {
  const root = await repo();
  await settle();
  await walk(root, 'a', 'b');
  await writeFile(path.join(root, 'base/kustomization.yaml'), 'resources: [deployment.yaml, service.yaml]\n');
  await settle();
  // Only a is walked (and kept with the base's new signature); b's entry is from before the change.
  await walk(root, 'a');
  assert.ok(await kept(root, 'a'));
  assert.equal(await kept(root, 'b'), undefined);
  const [b] = await walk(root, 'b');
  assert.ok(b.includes('base/service.yaml'), b.join(', '));
});

test('a folder entry added, renamed or swapped for a symlink walks again', async () => {
  const root = await repo();
  await settle();
  await walk(root, 'a');
  // The kustomization file renamed (another of the three names): its folder's signature changed.
  await rename(path.join(root, 'base/kustomization.yaml'), path.join(root, 'base/Kustomization'));
  assert.equal(await kept(root, 'a'), undefined);
  assert.ok((await walk(root, 'a'))[0].includes('base/Kustomization'));
  await settle();
  await walk(root, 'a');
  assert.ok(await kept(root, 'a'));
  // The base folder swapped for a symlink to another kustomization: the walk follows it, and a
  // closure that meets a symlink is never kept.
  await rename(path.join(root, 'base'), path.join(root, 'base-old'));
  await symlink('other', path.join(root, 'base'));
  assert.equal(await kept(root, 'a'), undefined);
  const [a] = await walk(root, 'a');
  assert.ok(a.includes('other/deployment.yaml'), a.join(', '));
  await settle();
  await walk(root, 'a');
  assert.equal(await kept(root, 'a'), undefined);
});

test('nothing is kept while its files are within the mtime granularity window, or with caching off', async () => {
  const root = await repo();
  await walk(root, 'a'); // just written
  assert.equal(await kept(root, 'a'), undefined);
  await settle();
  const ws = new Workspace(root, { GITOPS_NO_CACHE: '1' });
  await inspectClosure(path.join(root, 'a'), { root, ws });
  await ws.save();
  assert.equal(await kept(root, 'a'), undefined);
});

test('a closure that refuses a reference is not kept (the refusal may be about a path it does not name)', async () => {
  const root = await repo();
  await writeFiles(root, { 'a/kustomization.yaml': 'resources: [../base, ../links/x]\n' });
  await symlink('/etc', path.join(root, 'links-x')); // outside the repository
  await writeFiles(root, { 'links/.keep': '' });
  await symlink('../links-x', path.join(root, 'links/x'));
  await settle();
  const ws = new Workspace(root, {});
  const c = await inspectClosure(path.join(root, 'a'), { root, ws });
  await ws.save();
  assert.ok(c.issues.some((i) => i.rule === 'outside-repository'), JSON.stringify(c.issues));
  assert.equal(await kept(root, 'a'), undefined);
});

test('a kustomization file name that is a broken symlink keeps the closure from being kept (fixing it changes the walk)', async () => {
  const root = await repo();
  await writeFiles(root, { 'a/kustomization.yaml': 'resources: [../base2]\n', 'base2/deployment.yaml': DEPLOY, 'shared/.keep': '' });
  await symlink('../shared/base-k.yaml', path.join(root, 'base2/kustomization.yaml'));
  await settle();
  const [before] = await walk(root, 'a');
  assert.ok(before.includes('base2'), before.join(', ')); // read as a plain resource folder
  assert.equal(await kept(root, 'a'), undefined);
  await writeFiles(root, { 'shared/base-k.yaml': 'resources: [../../../outside]\n' });
  const ws = new Workspace(root, {});
  const c = await inspectClosure(path.join(root, 'a'), { root, ws });
  assert.ok(c.issues.some((i) => i.rule === 'outside-repository'), JSON.stringify(c.issues));
});

test('a path under a file (ENOTDIR) is missing, not a crash; a file created where a missing folder was walks again', async () => {
  const root = await repo();
  // (`plain`, not `x.yaml/`: a first segment with a dot that does not exist reads as a host.)
  await writeFiles(root, { 'a/kustomization.yaml': 'resources: [../base, plain/extra.yaml, ../extra/cm.yaml]\n', 'a/plain': 'a file\n' });
  await settle();
  const [a] = await walk(root, 'a');
  assert.ok(a.includes('a/plain/extra.yaml') && a.includes('extra/cm.yaml'), a.join(', '));
  assert.deepEqual(await kept(root, 'a'), a);
  await writeFiles(root, { extra: 'not a folder\n' });
  assert.equal(await kept(root, 'a'), undefined);
  assert.deepEqual((await walk(root, 'a'))[0], a);
});
