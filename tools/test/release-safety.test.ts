// Release commands never destroy other people's work: a reviewer's commit on the release branch is
// never pushed over, only the tool's own pull requests are closed as superseded, numeric arguments
// are plain decimal integers.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { promote } from '../commands/promote.js';
import { scale } from '../commands/scale.js';
import { rollback } from '../commands/rollback.js';
import { parseWholeNumber } from '../lib/cli/args.js';
import { FindingsError, GitError, UsageError } from '../lib/core/errors.js';
import { hasMarker, prMarker } from '../lib/release/release.js';
import { capture, digestOf, finishFixture, overlayFile, startReleaseFixture, TOKEN, type ReleaseFixture } from './release-fixture.js';

const DEV = overlayFile('minikube', 'nofluxo/backend');
const PROD = overlayFile('crianex', 'nofluxo/backend');
const BRANCH = 'promote/prod/nofluxo-backend';
const D1 = digestOf('nofluxo-backend 1.1.0');
const T = { timeout: 180_000 };

let fx: ReleaseFixture | undefined;
afterEach(async () => {
  const f = fx;
  fx = undefined;
  await finishFixture(f);
});

async function withDevPin(pin = `1.1.0@${D1}`): Promise<ReleaseFixture> {
  fx = await startReleaseFixture();
  const text = (await readFile(path.join(fx.work, DEV), 'utf8')).replace('newTag: "1.0.0"', `newTag: "${pin}"`);
  await fx.pushToMain({ [DEV]: text }, 'bump nofluxo/backend in dev');
  await fx.pull();
  return fx;
}

/** A commit on top of `ref` in the bare remote, as a reviewer pushing a fix-up would make it. */
async function reviewerCommit(f: ReleaseFixture, ref: string, subject: string): Promise<string> {
  const tip = (await f.remoteGit(['rev-parse', ref])).trim();
  const tree = (await f.remoteGit(['rev-parse', `${tip}^{tree}`])).trim();
  const sha = (await f.remoteGit(['-c', 'user.name=Rita Reviewer', '-c', 'user.email=rita@example.invalid', 'commit-tree', tree, '-p', tip, '-m', subject])).trim();
  await f.remoteGit(['update-ref', `refs/heads/${ref}`, sha]);
  return sha;
}

async function openPull(f: ReleaseFixture, head: string, body: string): Promise<number> {
  const main = (await f.remoteRefs()).main!;
  const tree = (await f.remoteGit(['rev-parse', `${main}^{tree}`])).trim();
  const commit = (await f.remoteGit(['-c', 'user.name=Colleague', '-c', 'user.email=c@example.invalid', 'commit-tree', tree, '-p', main, '-m', `work on ${head}`])).trim();
  await f.remoteGit(['update-ref', `refs/heads/${head}`, commit]);
  const res = await fetch(`${f.api.url}/repos/crianex/gitops/pulls`, {
    method: 'POST',
    headers: { Authorization: `token ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ title: `hand-made ${head}`, head, base: 'main', body }),
  });
  const text = await res.text();
  assert.equal(res.status, 201, text);
  return (JSON.parse(text) as { number: number }).number;
}

describe('a reviewer commit on the release branch', () => {
  test('is never force-pushed over: the command stops and names the commit', T, async () => {
    const f = await withDevPin();
    const c = capture();
    assert.equal((await promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', envVars: f.envVars, log: c.log, write: c.write })).status, 'pr-opened');
    // The tool's own commit carries its trailer.
    assert.match(await f.remoteGit(['log', '-1', '--format=%B', BRANCH]), /\n\nGitops-Release: promote prod nofluxo\/backend\n*$/);
    const fixup = await reviewerCommit(f, BRANCH, 'fix-up: keep the old replica count');
    // dev moves on, so the tool wants to rewrite the branch.
    const D2 = digestOf('1.2.0');
    await f.pushToMain({ [DEV]: (await f.remoteFile('main', DEV)).replace(/newTag: ".*"/, `newTag: "1.2.0@${D2}"`) }, 'dev 1.2.0');
    const refs = await f.remoteRefs();
    const pullsBefore = JSON.stringify(f.api.state.pulls);
    await assert.rejects(promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', envVars: f.envVars, log: () => {}, write: () => {} }), (e: unknown) => {
      assert.ok(e instanceof GitError, String(e));
      assert.match(e.message, /origin\/promote\/prod\/nofluxo-backend holds 1 commit this tool did not make for this promote; not replacing it/);
      assert.ok(e.message.includes(`${fixup.slice(0, 12)} fix-up: keep the old replica count (Rita Reviewer <rita@example.invalid>)`), e.message);
      assert.ok(!e.message.includes(TOKEN));
      return true;
    });
    assert.deepEqual(await f.remoteRefs(), refs, 'the remote is as it was');
    assert.equal(JSON.stringify(f.api.state.pulls), pullsBefore, 'the pull request is as it was');
    assert.equal((await f.git(['worktree', 'list'])).trim().split('\n').length, 1);
  });

  test('the tool\'s own earlier commit is replaced; a commit for another app with the trailer is not its own', T, async () => {
    const f = await withDevPin();
    await promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', envVars: f.envVars, log: () => {}, write: () => {} });
    const first = (await f.remoteRefs())[BRANCH]!;
    const D2 = digestOf('1.2.0');
    await f.pushToMain({ [DEV]: (await f.remoteFile('main', DEV)).replace(/newTag: ".*"/, `newTag: "1.2.0@${D2}"`) }, 'dev 1.2.0');
    assert.equal((await promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', envVars: f.envVars, log: () => {}, write: () => {} })).status, 'pr-updated');
    const second = (await f.remoteRefs())[BRANCH]!;
    assert.notEqual(second, first, 'the tool rewrote its own branch');
    // A commit that claims another release (same tool, other env) is foreign here.
    const tip = second;
    const tree = (await f.remoteGit(['rev-parse', `${tip}^{tree}`])).trim();
    const other = (await f.remoteGit(['-c', 'user.name=gitops toolkit', '-c', 'user.email=gitops-toolkit@users.noreply.github.com', 'commit-tree', tree, '-p', tip, '-m', 'promote something\n\nGitops-Release: promote dev nofluxo/backend'])).trim();
    await f.remoteGit(['update-ref', `refs/heads/${BRANCH}`, other]);
    const D3 = digestOf('1.3.0');
    await f.pushToMain({ [DEV]: (await f.remoteFile('main', DEV)).replace(/newTag: ".*"/, `newTag: "1.3.0@${D3}"`) }, 'dev 1.3.0');
    await assert.rejects(promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', envVars: f.envVars, log: () => {}, write: () => {} }), (e: unknown) => e instanceof GitError && e.message.includes(other.slice(0, 12)));
    assert.equal((await f.remoteRefs())[BRANCH], other);
  });

  test('--no-pr does not move a local branch that holds the user\'s own commits', T, async () => {
    const f = await withDevPin();
    await f.git(['branch', BRANCH, 'main']);
    await f.git(['checkout', '--quiet', BRANCH]);
    await f.git(['commit', '--quiet', '--allow-empty', '-m', 'my local notes']);
    const mine = (await f.git(['rev-parse', 'HEAD'])).trim();
    await f.git(['checkout', '--quiet', 'main']);
    await assert.rejects(promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', noPr: true, envVars: f.envVars, log: () => {}, write: () => {} }), (e: unknown) => e instanceof GitError && /local branch promote\/prod\/nofluxo-backend holds 1 commit/.test(e.message) && e.message.includes('my local notes'));
    assert.equal((await f.git(['rev-parse', BRANCH])).trim(), mine);
  });
});

describe('superseded pull requests', () => {
  test('only the tool\'s own PRs for exactly that app and environment are closed; a hand-made look-alike stays open', T, async () => {
    const f = await withDevPin();
    const mine = prMarker({ kind: 'promote', env: 'prod', appId: 'nofluxo/backend' });
    const ownOld = await openPull(f, 'promote/prod/nofluxo/backend', `older run\n\n${mine}`);
    const lookAlike = await openPull(f, 'promote/prod/nofluxo-backend-hotfix', 'Hand-made: promote backend with a config tweak. Please do not close.');
    const quoted = await openPull(f, 'promote/prod/nofluxo-backend-quoted', `The bot writes this marker:\n\n    ${mine}\n\nbut I wrote this PR by hand.`);
    const otherEnv = await openPull(f, 'promote/dev/nofluxo-backend-x', `x\n\n${prMarker({ kind: 'promote', env: 'dev', appId: 'nofluxo/backend' })}`);
    const otherKind = await openPull(f, 'bump/prod/nofluxo-backend', `x\n\n${prMarker({ kind: 'bump', env: 'prod', appId: 'nofluxo/backend' })}`);
    const otherApp = await openPull(f, 'promote/prod/nofluxo-backend-v2', `x\n\n${prMarker({ kind: 'promote', env: 'prod', appId: 'nofluxo/backend-v2' })}`);
    const r = await promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', envVars: f.envVars, log: () => {}, write: () => {} });
    assert.deepEqual(r.superseded, [ownOld]);
    const state = (n: number) => f.api.state.pulls.find((p) => p.number === n)!.state;
    assert.equal(state(ownOld), 'closed');
    for (const n of [lookAlike, quoted, otherEnv, otherKind, otherApp]) assert.equal(state(n), 'open', `#${n} stays open`);
    assert.ok(!f.api.state.comments.some((c) => c.issue_number !== ownOld), 'no comment on anyone else\'s PR');
    // The PR the tool opened ends with its marker.
    assert.ok(hasMarker(f.api.state.pulls.find((p) => p.number === r.pr!.number)!.body, { kind: 'promote', env: 'prod', appId: 'nofluxo/backend' }));
  });

  test('a hand-made PR on the release branch itself keeps its title and description', T, async () => {
    const f = await withDevPin();
    // A colleague pushed the tool's change and opened the PR by hand with their own words.
    await promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', noPr: true, envVars: f.envVars, log: () => {}, write: () => {} });
    await f.git(['-c', `http.extraHeader=Authorization: Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`, 'push', '--quiet', 'origin', `${BRANCH}:refs/heads/${BRANCH}`]);
    const res = await fetch(`${f.api.url}/repos/crianex/gitops/pulls`, {
      method: 'POST',
      headers: { Authorization: `token ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: 'Promote backend (hand-written)', head: BRANCH, base: 'main', body: 'My own description.' }),
    });
    assert.equal(res.status, 201);
    const c = capture();
    const r = await promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', envVars: f.envVars, log: c.log, write: c.write });
    assert.equal(r.status, 'pr-updated');
    const pr = f.api.state.pulls[0]!;
    assert.equal(pr.title, 'Promote backend (hand-written)');
    assert.equal(pr.body, 'My own description.');
    assert.ok(c.err.some((l) => /was not opened by this tool/.test(l)));
  });
});

describe('numeric arguments', () => {
  test('plain decimal integers only', () => {
    assert.equal(parseWholeNumber('3', 'replicas', 0, 10), 3);
    assert.equal(parseWholeNumber('0', 'replicas', 0, 10), 0);
    assert.equal(parseWholeNumber(7, 'replicas', 0, 10), 7);
    for (const bad of ['0x2', '1e0', ' 3', '3 ', '+3', '-1', '03', '3.0', '1.5', '', '٣', '0b1', '0o7', 'Infinity', 'NaN', '11', '9007199254740993']) {
      assert.throws(() => parseWholeNumber(bad, 'replicas', 0, 10), (e: unknown) => e instanceof UsageError && /plain decimal digits \(got '/.test(e.message), JSON.stringify(bad));
    }
    for (const bad of [1.5, -1, Number.NaN, Infinity, 11]) assert.throws(() => parseWholeNumber(bad, 'n', 0, 10), UsageError, String(bad));
  });

  test('scale and rollback refuse 0x2, 1e0 and \' 3\' before touching git or the network', T, async () => {
    fx = await startReleaseFixture();
    const f = fx;
    const before = f.gitServer.requests.length;
    for (const bad of ['0x2', '1e0', ' 3', '+3', '03']) {
      await assert.rejects(scale({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', replicas: bad, envVars: f.envVars }), (e: unknown) => e instanceof UsageError && /replicas must be a whole number/.test(e.message));
      await assert.rejects(rollback({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', steps: bad, envVars: f.envVars }), (e: unknown) => e instanceof UsageError && /--steps must be a whole number/.test(e.message));
    }
    assert.equal(f.gitServer.requests.length, before);
    assert.deepEqual(f.api.requests, []);
  });
});

describe('--dry-run with an existing error in the overlay', () => {
  test('still shows the edit and the findings, then exits as a failed validation', T, async () => {
    fx = await startReleaseFixture();
    const f = fx;
    const dir = path.dirname(PROD);
    const broken = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken-settings\ndata:\n  retries: [1, 2]\n';
    const dev = (await f.remoteFile('main', DEV)).replace('newTag: "1.0.0"', `newTag: "1.1.0@${D1}"`);
    const prod = (await f.remoteFile('main', PROD)).replace(/^resources:\n/m, 'resources:\n  - broken.yaml\n');
    assert.notEqual(prod, await f.remoteFile('main', PROD), 'the overlay lists the broken file');
    await f.pushToMain({ [DEV]: dev, [PROD]: prod, [`${dir}/broken.yaml`]: broken }, 'dev 1.1.0; prod gains a broken ConfigMap');
    const refs = await f.remoteRefs();
    const c = capture();
    await assert.rejects(promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', dryRun: true, envVars: f.envVars, log: c.log, write: c.write }), (e: unknown) => {
      assert.ok(e instanceof FindingsError, String(e));
      assert.match(e.message, /^validation of overlays\/crianex\/nofluxo\/backend failed with \d+ errors? after the promote; a real run would stop here \(dry run: nothing was committed\)/);
      return true;
    });
    const out = c.out.join('\n');
    assert.ok(out.includes(`+    newTag: "1.1.0@${D1}"`), `the edit is shown:\n${out}`);
    assert.match(out, /validation would block this promote:/);
    assert.match(out, /broken-settings/, 'the finding names the object');
    assert.match(out, /dry run: nothing was committed, pushed or opened/);
    assert.deepEqual(await f.remoteRefs(), refs);
    assert.deepEqual(f.api.requests, []);
  });
});
