// scale end to end: a kustomize replicas: entry in the overlay (never the base), refused under an HPA.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { scale } from '../commands/scale.js';
import { UsageError } from '../lib/core/errors.js';
import { capture, overlayFile, startReleaseFixture, type ReleaseFixture, finishFixture } from './release-fixture.js';

const PROD = overlayFile('crianex', 'nofluxo/backend');
const T = { timeout: 180_000 };

let fx: ReleaseFixture | undefined;
afterEach(async () => {
  const f = fx;
  fx = undefined;
  await finishFixture(f);
});

describe('scale', () => {
  test('writes a replicas: entry for the workload in the overlay and opens a PR', T, async () => {
    fx = await startReleaseFixture();
    const f = fx;
    const before = await f.remoteFile('main', PROD);
    const c = capture();
    const r = await scale({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', replicas: '3', envVars: f.envVars, log: c.log, write: c.write });
    assert.equal(r.status, 'pr-opened');
    assert.equal(r.branch, 'scale/prod/nofluxo-backend');
    assert.equal(await f.remoteFile(r.branch, PROD), `${before}replicas:\n  - name: nofluxo-backend\n    count: 3\n`);
    assert.equal((await f.remoteGit(['diff', '--name-only', `main..${r.branch}`])).trim(), PROD, 'the base is never edited');
    assert.match(await f.remoteGit(['log', '-1', '--format=%s', r.branch]), /^scale nofluxo\/backend in prod: Deployment nofluxo-backend 1 -> 3 replicas/);
    assert.equal(f.api.state.pulls.length, 1);
    assert.match(f.api.state.pulls[0]!.body ?? '', /replicas of Deployment nofluxo-backend/);
    // Again with another count: the entry is updated in place on the same branch and PR.
    const r2 = await scale({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', replicas: 2, envVars: f.envVars, log: () => {}, write: () => {} });
    assert.equal(r2.status, 'pr-updated');
    assert.equal(await f.remoteFile(r.branch, PROD), `${before}replicas:\n  - name: nofluxo-backend\n    count: 2\n`);
    assert.equal(f.api.state.pulls.length, 1);
  });

  test('refuses a workload an HPA manages, saying to change the HPA min/max instead', T, async () => {
    fx = await startReleaseFixture();
    const f = fx;
    const refs = await f.remoteRefs();
    await assert.rejects(scale({ cwd: f.work, app: 'producer', env: 'prod', replicas: 4, envVars: f.envVars, log: () => {} }), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /Deployment automation-producer of automation\/producer in prod is managed by HorizontalPodAutoscaler automation-producer \(min 2, max 10\)/);
      assert.match(e.hint ?? '', /change the HPA's minReplicas\/maxReplicas instead/);
      return true;
    });
    assert.deepEqual(await f.remoteRefs(), refs);
    assert.deepEqual(f.api.requests, []);
  });

  test('the count it already has is nothing to change; bad counts are usage errors', T, async () => {
    fx = await startReleaseFixture();
    const f = fx;
    const c = capture();
    const r = await scale({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', replicas: 1, envVars: f.envVars, log: c.log, write: c.write });
    assert.equal(r.status, 'unchanged');
    assert.match(c.out.join('\n'), /nothing to change/);
    for (const bad of ['-1', 'three', '1.5', '100000', '']) {
      await assert.rejects(scale({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', replicas: bad, envVars: f.envVars }), (e: unknown) => e instanceof UsageError && /replicas must be a whole number/.test(e.message), bad);
    }
    assert.deepEqual(f.api.requests, []);
  });

  test('--dry-run shows the replicas entry and changes nothing', T, async () => {
    fx = await startReleaseFixture();
    const f = fx;
    const refs = await f.remoteRefs();
    const c = capture();
    const r = await scale({ cwd: f.work, app: 'ai-agent', env: 'dev', replicas: 2, dryRun: true, envVars: f.envVars, log: c.log, write: c.write });
    assert.equal(r.status, 'dry-run');
    assert.match(c.out.join('\n'), /\+replicas:\n\+ {2}- name: nofluxo-ai-agent\n\+ {4}count: 2/);
    assert.deepEqual(await f.remoteRefs(), refs);
    assert.deepEqual(f.api.requests, []);
    assert.equal((await f.git(['status', '--porcelain'])).trim(), '');
  });
});
