// rollback end to end: earlier pins found in the git history of the overlay kustomization.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { rollback } from '../commands/rollback.js';
import { NameError, UsageError } from '../lib/core/errors.js';
import { capture, overlayFile, startReleaseFixture, type ReleaseFixture, finishFixture } from './release-fixture.js';

const PROD = overlayFile('crianex', 'nofluxo/backend');
const BRANCH = 'rollback/prod/nofluxo-backend';
const T = { timeout: 180_000 };
const DA = `sha256:abcd${'1'.repeat(60)}`; // DA and DB share the prefix abcd
const DB = `sha256:abcd${'2'.repeat(60)}`;
const DC = `sha256:${'3'.repeat(64)}`;

let fx: ReleaseFixture | undefined;
afterEach(async () => {
  const f = fx;
  fx = undefined;
  await finishFixture(f);
});

/** prod history: seed 1.0.0 (tag only) -> 1.1.0@A -> comment-only change -> 1.2.0@B -> other file -> 1.3.0@C. */
async function withHistory(): Promise<ReleaseFixture> {
  fx = await startReleaseFixture();
  const f = fx;
  const seed = await f.remoteFile('main', PROD);
  const pinned = (pin: string) => seed.replace('newTag: "1.0.0"', `newTag: "${pin}"`);
  await f.pushToMain({ [PROD]: pinned(`1.1.0@${DA}`) }, 'prod 1.1.0');
  await f.pushToMain({ [PROD]: pinned(`1.1.0@${DA}`).replace('namespace: non-business-apps', 'namespace: non-business-apps # same namespace') }, 'comment only');
  await f.pushToMain({ [PROD]: pinned(`1.2.0@${DB}`) }, 'prod 1.2.0');
  await f.pushToMain({ 'overlays/README.md': 'unrelated\n' }, 'unrelated');
  await f.pushToMain({ [PROD]: pinned(`1.3.0@${DC}`) }, 'prod 1.3.0');
  return f;
}

describe('rollback', () => {
  test('--steps 1 (the default) goes back to the previous pin as a PR', T, async () => {
    const f = await withHistory();
    const c = capture();
    const r = await rollback({ cwd: f.work, app: 'backend', env: 'prod', envVars: f.envVars, log: c.log, write: c.write });
    assert.equal(r.status, 'pr-opened');
    assert.equal(r.branch, BRANCH);
    const main = await f.remoteFile('main', PROD);
    assert.equal(await f.remoteFile(BRANCH, PROD), main.replace(`newTag: "1.3.0@${DC}"`, `newTag: "1.2.0@${DB}"`));
    const msg = await f.remoteGit(['log', '-1', '--format=%B', BRANCH]);
    assert.match(msg, /^rollback nofluxo\/backend in prod: nofluxo-backend 1\.3\.0@sha256:333333333333 -> 1\.2\.0@sha256:abcd22222222\n/);
    assert.ok(msg.includes(`1.3.0@${DC} -> 1.2.0@${DB}`));
    const prodCommit = (await f.remoteGit(['log', '--format=%H %s', 'main', '--', PROD])).split('\n').find((l) => l.endsWith('prod 1.2.0'))!.split(' ')[0];
    assert.ok(msg.includes(`restores the pins of commit: ${prodCommit} (prod 1.2.0)`), msg);
    assert.equal(f.api.state.pulls.length, 1);
  });

  test('--steps 2 skips commits where the pin did not change', T, async () => {
    const f = await withHistory();
    const r = await rollback({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', steps: 2, noPr: true, envVars: f.envVars, log: () => {}, write: () => {} });
    assert.equal(r.status, 'committed');
    assert.match(await f.git(['show', `${BRANCH}:${PROD}`]), new RegExp(`newTag: "1\\.1\\.0@${DA}"`));
  });

  test('--to takes a full digest or a unique prefix seen in history', T, async () => {
    const f = await withHistory();
    const r = await rollback({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', to: 'abcd1', noPr: true, envVars: f.envVars, log: () => {}, write: () => {} });
    assert.equal(r.status, 'committed');
    assert.match(await f.git(['show', `${BRANCH}:${PROD}`]), new RegExp(`newTag: "1\\.1\\.0@${DA}"`));
    const full = await rollback({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', to: DB, noPr: true, envVars: f.envVars, log: () => {}, write: () => {} });
    assert.equal(full.status, 'committed');
    assert.match(await f.git(['show', `${BRANCH}:${PROD}`]), new RegExp(`newTag: "1\\.2\\.0@${DB}"`));
    // The digest prod runs now: nothing to change.
    assert.equal((await rollback({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', to: '3333', envVars: f.envVars, log: () => {}, write: () => {} })).status, 'unchanged');
  });

  test('ambiguous or unknown digest prefixes fail with candidates; a tag-only pin is refused where digests are required', T, async () => {
    const f = await withHistory();
    await assert.rejects(rollback({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', to: 'abcd', envVars: f.envVars, log: () => {} }), (e: unknown) => {
      assert.ok(e instanceof NameError);
      assert.match(e.message, /digest prefix 'abcd' is ambiguous/);
      assert.deepEqual([...e.candidates].sort(), [`sha256:abcd11111111`, `sha256:abcd22222222`], e.message);
      return true;
    });
    await assert.rejects(rollback({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', to: 'ffff', envVars: f.envVars, log: () => {} }), (e: unknown) => {
      assert.ok(e instanceof NameError && /no digest starting with 'ffff'/.test(e.message), String(e));
      assert.equal(e.candidates.length, 3, e.message);
      return true;
    });
    await assert.rejects(rollback({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', steps: 3, envVars: f.envVars, log: () => {} }), (e: unknown) => e instanceof UsageError && /as of [0-9a-f]{12} \(1\.0\.0\) has no digest, and 'prod' requires digests/.test(e.message) && /--to <digest>/.test(e.hint ?? ''));
    await assert.rejects(rollback({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', steps: 4, envVars: f.envVars, log: () => {} }), /has 3 earlier pins in its history; cannot go back 4/);
    await assert.rejects(rollback({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', steps: 1, to: 'abcd', envVars: f.envVars }), /either --to or --steps/);
    await assert.rejects(rollback({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', to: 'xyz!', envVars: f.envVars }), /at least 4 hex/);
    assert.deepEqual(f.api.requests, []);
  });

  test('in an environment without requireDigests a tag-only pin can be restored', T, async () => {
    fx = await startReleaseFixture();
    const f = fx;
    const DEV = overlayFile('minikube', 'nofluxo/backend');
    await f.pushToMain({ [DEV]: (await f.remoteFile('main', DEV)).replace('newTag: "1.0.0"', `newTag: "1.1.0@${DA}"`) }, 'dev 1.1.0');
    const r = await rollback({ cwd: f.work, app: 'nofluxo/backend', env: 'dev', noPr: true, envVars: f.envVars, log: () => {}, write: () => {} });
    assert.equal(r.status, 'committed');
    assert.match(await f.git(['show', `rollback/dev/nofluxo-backend:${DEV}`]), /newTag: "1\.0\.0"\n/);
  });
});
