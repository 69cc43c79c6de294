// bump end to end: tag -> digest through a real registry with auth, entry matching, --no-pr, --no-resolve.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { bump } from '../commands/bump.js';
import { UsageError } from '../lib/core/errors.js';
import { pushImage, startRegistry, type RegistryHandle } from './harness/registry.js';
import { capture, digestOf, overlayFile, startReleaseFixture, TOKEN, treeHashes, type ReleaseFixture, finishFixture } from './release-fixture.js';

const PROD = overlayFile('crianex', 'nofluxo/backend');
const DEV_WORKER = overlayFile('minikube', 'automation/worker');
const BASE_NAME = 'registry.kubernetes.crianex.com/nofluxo-backend';
const T = { timeout: 180_000 };

let fx: ReleaseFixture | undefined;
afterEach(async () => {
  const f = fx;
  fx = undefined;
  await finishFixture(f);
});

describe('bump', () => {
  let regDir: string;
  let registry: RegistryHandle;
  before(async () => {
    regDir = await mkdtemp(path.join(os.tmpdir(), 'bump-registry-'));
    registry = await startRegistry({ dir: regDir, username: 'pusher', password: 'pw-123' });
  });
  after(async () => {
    await registry?.stop();
    await rm(regDir, { recursive: true, force: true });
  });

  test('resolves a tag pushed to the local registry (with auth) to the registry\'s digest and opens a PR', T, async () => {
    const pushed = await pushImage(registry, { name: 'nofluxo-backend', tag: '1.5.0' });
    // prod pulls this image from the local registry (newName); the bump names the base image.
    fx = await startReleaseFixture({
      edit: {
        [PROD]: (await readFile(path.resolve(import.meta.dirname, '../..', PROD), 'utf8')).replace('newTag: "1.0.0"', `newName: ${registry.host}/nofluxo-backend\n    newTag: "1.0.0"`),
      },
    });
    const f = fx;
    const c = capture();
    const envVars = { ...f.envVars, GITOPS_REGISTRY_HOST: registry.host, GITOPS_REGISTRY_USER: 'pusher', GITOPS_REGISTRY_PASSWORD: 'pw-123' };
    const r = await bump({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', image: `${BASE_NAME}:1.5.0`, envVars, log: c.log, write: c.write });
    assert.equal(r.status, 'pr-opened');
    assert.equal(r.branch, 'bump/prod/nofluxo-backend');
    const text = await f.remoteFile(r.branch, PROD);
    assert.ok(text.includes(`    newName: ${registry.host}/nofluxo-backend\n    newTag: "1.5.0@${pushed.digest}"\n`), text);
    assert.ok(!/^\s+digest:/m.test(text), 'newTag carries the digest; no digest: key');
    assert.equal((await f.remoteGit(['diff', '--name-only', `main..${r.branch}`])).trim(), PROD);
    const msg = await f.remoteGit(['log', '-1', '--format=%B', r.branch]);
    assert.ok(msg.includes(`${BASE_NAME}: 1.0.0 -> 1.5.0@${pushed.digest}`), msg);
    assert.equal(f.api.state.pulls.length, 1);
    assert.deepEqual(f.api.state.labels[1], ['release']);
    assert.ok(![...c.out, ...c.err].join('\n').includes('pw-123'));
  });

  test('--no-pr commits on the local branch only; the checkout returns to where it was', T, async () => {
    fx = await startReleaseFixture();
    const f = fx;
    const D = digestOf('worker 2.0.0');
    const refs = await f.remoteRefs();
    const hashes = await treeHashes(f.work);
    const c = capture();
    const r = await bump({ cwd: f.work, app: 'worker', env: 'dev', image: `registry.kubernetes.crianex.com/automation-worker:2.0.0@${D}`, noPr: true, envVars: f.envVars, log: c.log, write: c.write });
    assert.equal(r.status, 'committed');
    assert.deepEqual(await f.remoteRefs(), refs, 'nothing pushed');
    assert.deepEqual(f.api.requests, []);
    assert.equal((await f.git(['rev-parse', '--abbrev-ref', 'HEAD'])).trim(), 'main');
    assert.equal((await f.git(['status', '--porcelain'])).trim(), '');
    assert.deepEqual(await treeHashes(f.work), hashes);
    const branchText = await f.git(['show', `bump/dev/automation-worker:${DEV_WORKER}`]);
    assert.match(branchText, new RegExp(`- name: registry\\.kubernetes\\.crianex\\.com/automation-worker\\n {4}newTag: "2\\.0\\.0@${D}"\\n {2}- name: docker\\n {4}newTag: "27-dind" # seed: docker:dind`));
    assert.equal((await f.git(['rev-parse', 'bump/dev/automation-worker^'])).trim(), refs.main);
    assert.match(c.out.join('\n'), /committed [0-9a-f]{12} on local branch bump\/dev\/automation-worker/);
    // Without a token the private remote cannot even be fetched: say what to set.
    await assert.rejects(bump({ cwd: f.work, app: 'worker', env: 'dev', image: `registry.kubernetes.crianex.com/automation-worker:2.0.0@${D}`, noPr: true, envVars: { ...f.envVars, GITHUB_TOKEN: undefined }, log: () => {} }), (e: unknown) => /set GITHUB_TOKEN/.test((e as { hint?: string }).hint ?? ''));
  });

  test('a digest-only ref writes digest: and drops newTag; a Docker Hub spelling matches the short name', T, async () => {
    fx = await startReleaseFixture();
    const f = fx;
    const D = digestOf('dind');
    const r = await bump({ cwd: f.work, app: 'automation/worker', env: 'dev', image: `docker.io/library/docker@${D}`, noPr: true, envVars: f.envVars, log: () => {}, write: () => {} });
    assert.equal(r.status, 'committed');
    const text = await f.git(['show', `bump/dev/automation-worker:${DEV_WORKER}`]);
    assert.match(text, new RegExp(`  - name: docker\\n    digest: ${D}\\n`));
    assert.ok(!text.includes('27-dind'));
  });

  test('an image the app does not use fails naming the images it uses; nothing is pushed', T, async () => {
    fx = await startReleaseFixture();
    const f = fx;
    const refs = await f.remoteRefs();
    await assert.rejects(bump({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', image: `registry.kubernetes.crianex.com/other@${digestOf('o')}`, envVars: f.envVars, log: () => {} }), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /image 'registry\.kubernetes\.crianex\.com\/other' is not used by nofluxo\/backend in prod \(overlays\/crianex\/nofluxo\/backend\/kustomization\.yaml\); it uses: registry\.kubernetes\.crianex\.com\/nofluxo-backend/);
      return true;
    });
    assert.deepEqual(await f.remoteRefs(), refs);
    assert.deepEqual(f.api.requests, []);
  });

  test('--no-resolve with a tag only is refused where digests are required; bad refs are usage errors', T, async () => {
    fx = await startReleaseFixture();
    const f = fx;
    await assert.rejects(bump({ cwd: f.work, app: 'backend', env: 'prod', image: `${BASE_NAME}:2.0.0`, resolve: false, envVars: f.envVars }), (e: unknown) => e instanceof UsageError && /'prod' requires digests/.test(e.message) && /--no-resolve/.test(e.hint ?? ''));
    await assert.rejects(bump({ cwd: f.work, app: 'backend', env: 'prod', image: BASE_NAME, envVars: f.envVars }), /no tag and no digest/);
    await assert.rejects(bump({ cwd: f.work, app: 'backend', env: 'prod', image: `${BASE_NAME}:1; touch /tmp/x`, envVars: f.envVars }), UsageError);
    // In dev (no requireDigests) --no-resolve pins the tag alone.
    const r = await bump({ cwd: f.work, app: 'nofluxo/backend', env: 'dev', image: `${BASE_NAME}:1.1.0`, resolve: false, noPr: true, envVars: f.envVars, log: () => {}, write: () => {} });
    assert.equal(r.status, 'committed');
    assert.match(await f.git(['show', `bump/dev/nofluxo-backend:${overlayFile('minikube', 'nofluxo/backend')}`]), /newTag: "1\.1\.0"\n/);
  });

  test('the pin it already has: nothing to change, no branch, no PR', T, async () => {
    fx = await startReleaseFixture();
    const f = fx;
    const refs = await f.remoteRefs();
    const c = capture();
    const r = await bump({ cwd: f.work, app: 'nofluxo/backend', env: 'dev', image: `${BASE_NAME}:1.0.0`, resolve: false, envVars: f.envVars, log: c.log, write: c.write });
    assert.equal(r.status, 'unchanged');
    assert.match(c.out.join('\n'), /nothing to change/);
    assert.deepEqual(await f.remoteRefs(), refs);
    assert.equal((await f.git(['branch', '--list', 'bump/*'])).trim(), '');
    assert.deepEqual(f.api.requests, []);
    assert.ok(!(await readFile(path.join(f.work, '.git', 'config'), 'utf8')).includes(TOKEN));
  });
});
