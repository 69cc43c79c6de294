// status: every app by environment, what waits for promotion, which environments differ (text and JSON).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { collectStatus, status } from '../commands/status.js';
import { type StatusReport } from '../lib/report/status.js';
import { REPO_ROOT } from '../lib/core/tools.js';
import { D_DEV, D_PROD, D_API, WEB, componentPinnedRepo, imagePatch, patchPinnedRepo } from './pin-fixture.js';
import { GITOPS_YAML, makeRepo, removeRepo, testEnv } from './repo-fixture.js';

const D1 = `sha256:${'0123456789ab'.repeat(5)}cdef`;
const D2 = `sha256:${'f'.repeat(64)}`;

describe('status', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'status-test-'));
    for (const p of ['gitops.yaml', 'apps', 'overlays', 'clusters']) await cp(path.join(REPO_ROOT, p), path.join(dir, p), { recursive: true });
    const edit = async (file: string, from: string, to: string) => {
      const p = path.join(dir, file);
      await writeFile(p, (await readFile(p, 'utf8')).replace(from, to));
    };
    // nofluxo/backend: dev runs 1.1.0@D1, prod 1.0.0 -> waiting. ai-agent: same digest, different tags -> in sync.
    await edit('overlays/minikube/nofluxo/backend/kustomization.yaml', 'newTag: "1.0.0"', `newTag: "1.1.0@${D1}"`);
    await edit('overlays/minikube/nofluxo/ai-agent/kustomization.yaml', 'newTag: "1.0.0"', `newTag: "1.0.0@${D2}"`);
    await edit('overlays/crianex/nofluxo/ai-agent/kustomization.yaml', 'newTag: "1.0.0"', `newTag: "1.0.0-prod@${D2}"`);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('text: a row per app and image, tag and 12-hex digest per environment, waiting promotions, differing environments', async () => {
    const out: string[] = [];
    await status({ cwd: dir, write: (t) => out.push(t) });
    const text = out.join('\n');
    const lines = text.split('\n');
    assert.match(lines[0]!, /^APP\s+IMAGE\s+dev\s+prod\s+STATUS$/);
    assert.match(text, new RegExp(`^nofluxo/backend\\s+nofluxo-backend\\s+1\\.1\\.0 @${D1.slice(7, 19)}\\s+1\\.0\\.0\\s+dev -> prod waiting$`, 'm'));
    assert.match(text, new RegExp(`^nofluxo/ai-agent\\s+nofluxo-ai-agent\\s+1\\.0\\.0 @ffffffffffff\\s+1\\.0\\.0-prod @ffffffffffff\\s+in sync$`, 'm'));
    assert.match(text, /^taskflow\/backend\s+taskflow-backend\s+1\.0\.0\s+-\s+only dev$/m);
    assert.match(text, /^automation\/worker\s+docker\s+27-dind\s+27-dind\s+in sync\n\s+automation-worker\s+1\.0\.0\s+1\.0\.0$/m);
    assert.match(text, /^waiting to be promoted: nofluxo\/backend \(dev -> prod\)$/m);
    assert.match(text, /^dev vs prod: 1 app differ \(nofluxo\/backend\)$/m);
    assert.match(text, /set by the overlay's images: entry unless marked \* and listed here:\n {2}\(none\)\n/);
  });

  test('json: the same model, machine-readable', async () => {
    const { stdout } = await promisify(execFile)('npx', ['tsx', 'tools/cli.ts', 'status', '--format', 'json', '--cwd', dir], { cwd: REPO_ROOT, timeout: 60_000 });
    const r = JSON.parse(stdout) as StatusReport;
    assert.deepEqual(r.environments, [
      { name: 'dev', promotesFrom: [], requireDigests: false },
      { name: 'prod', promotesFrom: ['dev'], requireDigests: true },
    ]);
    const backend = r.apps.find((a) => a.id === 'nofluxo/backend')!;
    const NAME = 'registry.kubernetes.crianex.com/nofluxo-backend';
    // The line of the overlay's images entry (where a human edits the pin).
    const entryLine = async (f: string) => (await readFile(path.join(dir, f), 'utf8')).split('\n').findIndex((l) => l.includes(`- name: ${NAME}`)) + 1;
    const devLine = await entryLine('overlays/minikube/nofluxo/backend/kustomization.yaml');
    const prodLine = await entryLine('overlays/crianex/nofluxo/backend/kustomization.yaml');
    // The line of the base's image field (where the name is set).
    const baseLine = (await readFile(path.join(dir, 'apps/nofluxo/backend/deployment.yaml'), 'utf8')).split('\n').findIndex((l) => l.includes(`image: ${NAME}`)) + 1;
    const devBy = { file: 'overlays/minikube/nofluxo/backend/kustomization.yaml', line: devLine, kind: 'images', overlay: true };
    const prodBy = { file: 'overlays/crianex/nofluxo/backend/kustomization.yaml', line: prodLine, kind: 'images', overlay: true };
    const nameBy = { file: 'apps/nofluxo/backend/deployment.yaml', line: baseLine, kind: 'resource', overlay: false };
    assert.deepEqual(backend.images[NAME], {
      dev: { name: NAME, tag: '1.1.0', digest: D1, short: D1.slice(7, 19), setBy: devBy, nameSetBy: nameBy, containers: [{ object: 'Deployment/nofluxo-backend', container: 'backend', image: `${NAME}:1.1.0@${D1}`, setBy: devBy }] },
      prod: { name: NAME, tag: '1.0.0', setBy: prodBy, nameSetBy: nameBy, containers: [{ object: 'Deployment/nofluxo-backend', container: 'backend', image: `${NAME}:1.0.0`, setBy: prodBy }] },
    });
    assert.deepEqual(backend.pending, [{ from: 'dev', to: 'prod', images: ['registry.kubernetes.crianex.com/nofluxo-backend'] }]);
    assert.equal(backend.differs, true);
    assert.deepEqual(r.pending, [{ app: 'nofluxo/backend', from: 'dev', to: 'prod', images: ['registry.kubernetes.crianex.com/nofluxo-backend'] }]);
    assert.deepEqual(r.differences, [{ envs: ['dev', 'prod'], apps: ['nofluxo/backend'] }]);
    assert.deepEqual(r.apps.find((a) => a.id === 'todo-chatbot/backend')!.deployedTo, ['dev']);
    assert.equal(r.apps.length, 12);
  });

  test('an unknown --format is a usage error; an overlay that does not render is reported by name and fails the command', async () => {
    const fail = await promisify(execFile)('npx', ['tsx', 'tools/cli.ts', 'status', '--format', 'yaml', '--cwd', dir], { cwd: REPO_ROOT, timeout: 60_000 }).then(
      () => assert.fail('expected a failure'),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(fail.code, 2);
    assert.match(fail.stderr, /--format must be one of text, json/);
    const broken = await mkdtemp(path.join(os.tmpdir(), 'status-broken-'));
    try {
      await cp(dir, broken, { recursive: true });
      await writeFile(path.join(broken, 'overlays/crianex/nofluxo/backend/kustomization.yaml'), 'images: {oops: 1}\n');
      const r = await collectStatus(broken);
      assert.match(r.apps.find((a) => a.id === 'nofluxo/backend')!.errors!.prod!, /overlays\/crianex\/nofluxo\/backend\/kustomization\.yaml/);
      const fail2 = await promisify(execFile)('npx', ['tsx', 'tools/cli.ts', 'status', '--cwd', broken], { cwd: REPO_ROOT, timeout: 60_000 }).then(
        () => assert.fail('expected a failure'),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
      assert.equal(fail2.code, 1);
      assert.match(fail2.stdout, /^nofluxo\/backend\s.*prod: render failed/m);
      assert.match(fail2.stdout, /^nofluxo\/ai-agent\s/m, 'the other apps are still shown');
      assert.match(fail2.stderr, /1 overlay did not render\n {2}nofluxo\/backend in prod: overlays\/crianex\/nofluxo\/backend\/kustomization\.yaml/);
    } finally {
      await rm(broken, { recursive: true, force: true });
    }
  });
});

describe('status reads the render: pins set by a patch, a component, or several promotion sources', () => {
  const dirs: string[] = [];
  after(async () => Promise.all(dirs.map(removeRepo)));
  const statusOf = async (files: Record<string, string>) => {
    const dir = await makeRepo(files);
    dirs.push(dir);
    const out: string[] = [];
    const r = await status({ cwd: dir, envVars: testEnv, write: (t) => out.push(t) });
    return { r, text: out.join('\n'), dir };
  };

  test('a patch pins the image: the rendered tags differ, so dev -> prod waits, and the patch is named', async () => {
    const { r, text } = await statusOf(patchPinnedRepo());
    const web = r.apps.find((a) => a.id === 'demo/web')!;
    const by = { file: 'overlays/crianex/demo/web/image.yaml', line: 11, kind: 'patch', overlay: false };
    assert.deepEqual(web.images[WEB]!.prod, { name: WEB, tag: '1.0.0', digest: D_PROD, short: '222222222222', setBy: by, containers: [{ object: 'Deployment/demo-web', container: 'web', image: `${WEB}:1.0.0@${D_PROD}`, setBy: by }] });
    assert.equal(web.images[WEB]!.dev!.setBy!.file, 'overlays/minikube/demo/web/image.yaml');
    assert.deepEqual(web.pending, [{ from: 'dev', to: 'prod', images: [WEB] }]);
    assert.deepEqual(r.differences, [{ envs: ['dev', 'prod'], apps: ['demo/web'] }]);
    assert.match(text, /^demo\/web\s+demo-web\s+1\.1\.0 @111111111111 \*\s+1\.0\.0 @222222222222 \*\s+dev -> prod waiting$/m);
    assert.match(text, /^ {2}demo\/web prod demo-web: registry\.example\.com\/demo-web:1\.0\.0@sha256:222222222222 set by patch overlays\/crianex\/demo\/web\/image\.yaml:11$/m);
    assert.match(text, /^demo\/api\s+demo-api\s+2\.0\.0 @333333333333 \*\s+2\.0\.0 @333333333333 \*\s+in sync$/m);
    assert.match(text, /^ {2}demo\/api dev demo-api: .* set by patch overlays\/components\/api-image\/image\.yaml:11$/m);
  });

  test('a component pins the image: the images: entry of the component is named, with its line', async () => {
    const { r, text } = await statusOf(componentPinnedRepo());
    const web = r.apps.find((a) => a.id === 'demo/web')!;
    assert.deepEqual(web.images[WEB]!.dev!.setBy, { file: 'overlays/components/dev-release/kustomization.yaml', line: 5, kind: 'images', overlay: false });
    assert.equal(web.images[WEB]!.prod!.digest, D_PROD);
    assert.deepEqual(r.pending, [{ app: 'demo/web', from: 'dev', to: 'prod', images: [WEB] }]);
    assert.match(text, /^ {2}demo\/web dev demo-web: registry\.example\.com\/demo-web:1\.1\.0@sha256:111111111111 set by images: overlays\/components\/dev-release\/kustomization\.yaml:5$/m);
  });

  test('the same images through different files are in sync: the overlay block alone no longer decides', async () => {
    const files = patchPinnedRepo();
    files['overlays/crianex/demo/web/image.yaml'] = imagePatch('web', `"${WEB}:1.1.0@${D_DEV}"`);
    // An overlay images: entry that the patch makes irrelevant for the name but not for the pin.
    const { r } = await statusOf(files);
    assert.deepEqual(r.pending, []);
    assert.deepEqual(r.differences, [{ envs: ['dev', 'prod'], apps: [] }]);
  });

  test('containers of one app that render one image differently are listed each with its origin, and marked mixed', async () => {
    const files = componentPinnedRepo();
    // A second Deployment of demo/web runs the same image; dev's overlay patches its tag.
    files['apps/demo/web/worker.yaml'] = files['apps/demo/web/deployment.yaml']!.replace(/name: demo-web\n/, 'name: demo-web-worker\n');
    files['apps/demo/web/kustomization.yaml'] = files['apps/demo/web/kustomization.yaml']!.replace('  - deployment.yaml\n', '  - deployment.yaml\n  - worker.yaml\n');
    files['overlays/minikube/demo/web/worker-image.yaml'] = `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: demo-web-worker\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: ${WEB}:0.9.0\n`;
    files['overlays/minikube/demo/web/kustomization.yaml'] += 'patches:\n  - path: worker-image.yaml\n';
    const { r, text } = await statusOf(files);
    const dev = r.apps.find((a) => a.id === 'demo/web')!.images[WEB]!.dev!;
    assert.equal(dev.mixed, true);
    assert.deepEqual(dev.containers.map((c) => [c.object, c.image, c.setBy?.file]).sort(), [
      ['Deployment/demo-web', `${WEB}:1.1.0@${D_DEV}`, 'overlays/components/dev-release/kustomization.yaml'],
      // Components run before the overlay's own patches: the patch decides the worker's image.
      ['Deployment/demo-web-worker', `${WEB}:0.9.0`, 'overlays/minikube/demo/web/worker-image.yaml'],
    ].sort());
    assert.match(text, /^demo\/web\s+demo-web\s+1\.1\.0 @111111111111 \(mixed\) \*/m);
    assert.match(text, /^ {2}demo\/web dev demo-web: Deployment\/demo-web-worker web runs registry\.example\.com\/demo-web:0\.9\.0, set by patch overlays\/minikube\/demo\/web\/worker-image\.yaml:10$/m);
  });

  test('promotesFrom: [dev, hotfix]: status shows what waits from each source', async () => {
    const files = componentPinnedRepo();
    files['gitops.yaml'] = GITOPS_YAML.replace('  - name: prod\n', '  - name: hotfix\n    cluster: minikube\n    overlayRoot: overlays/hotfix\n  - name: prod\n').replace('promotesFrom: dev\n', 'promotesFrom: [dev, hotfix]\n');
    files['overlays/hotfix/demo/web/kustomization.yaml'] = files['overlays/minikube/demo/web/kustomization.yaml']!.replace('dev-release', 'hotfix-release');
    files['overlays/components/hotfix-release/kustomization.yaml'] = files['overlays/components/prod-release/kustomization.yaml']!.replace(`1.0.0@${D_PROD}`, `1.0.1@${D_API}`);
    const { r, text } = await statusOf(files);
    assert.deepEqual(r.environments.map((e) => [e.name, e.promotesFrom]), [['dev', []], ['hotfix', []], ['prod', ['dev', 'hotfix']]]);
    assert.deepEqual(r.apps.find((a) => a.id === 'demo/web')!.pending, [
      { from: 'dev', to: 'prod', images: [WEB] },
      { from: 'hotfix', to: 'prod', images: [WEB] },
    ]);
    assert.match(text, /^demo\/web\s+demo-web\s+1\.1\.0 @111111111111 \*\s+1\.0\.1 @333333333333 \*\s+1\.0\.0 @222222222222 \*\s+dev -> prod waiting; hotfix -> prod waiting$/m);
  });
});
