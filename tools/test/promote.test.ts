// promote end to end: a clone of this repository's config, a git remote over smart HTTP with token auth,
// the OpenAPI-checked GitHub API stand-in and (for tag-only pins) a real registry.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, test } from 'node:test';
import { promote } from '../commands/promote.js';
import { GitError, GitHubError, NameError, UsageError, ConfigError } from '../lib/core/errors.js';
import { parseRemoteUrl, scrub } from '../lib/remote/git.js';
import { REPO_ROOT } from '../lib/core/tools.js';
import { pushImage, startRegistry } from './harness/registry.js';
import { capture, digestOf, overlayFile, startReleaseFixture, TOKEN, treeHashes, type ReleaseFixture, finishFixture } from './release-fixture.js';

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

/** A fixture whose dev overlay pins nofluxo-backend 1.1.0 by digest (a merged bump). */
async function withDevPin(pin = `1.1.0@${D1}`): Promise<ReleaseFixture> {
  fx = await startReleaseFixture();
  const text = (await readFile(path.join(fx.work, DEV), 'utf8')).replace('newTag: "1.0.0"', `newTag: "${pin}"`);
  await fx.pushToMain({ [DEV]: text }, 'bump nofluxo/backend in dev');
  await fx.pull();
  return fx;
}

function run(f: ReleaseFixture, extra: Partial<Parameters<typeof promote>[0]> = {}) {
  const c = capture();
  return { c, p: promote({ cwd: f.work, app: 'backend', env: 'prod', envVars: f.envVars, log: c.log, write: c.write, ...extra }) };
}

describe('promote', () => {
  test('opens a PR whose branch holds exactly the digest change', T, async () => {
    const f = await withDevPin();
    const { c, p } = run(f);
    const r = await p;
    assert.equal(r.status, 'pr-opened');
    assert.equal(r.branch, BRANCH);
    const refs = await f.remoteRefs();
    assert.ok(refs[BRANCH]);
    // The branch starts from main and changes one line of one file: the prod images entry.
    assert.equal((await f.remoteGit(['rev-parse', `${BRANCH}^`])).trim(), refs.main);
    assert.equal((await f.remoteGit(['diff', '--name-only', `main..${BRANCH}`])).trim(), PROD);
    const diff = await f.remoteGit(['diff', '-U0', `main..${BRANCH}`]);
    const changed = diff.split('\n').filter((l) => /^[-+]/.test(l) && !/^(---|\+\+\+)/.test(l));
    assert.deepEqual(changed, ['-    newTag: "1.0.0"', `+    newTag: "1.1.0@${D1}"`]);
    const before = await f.remoteFile('main', PROD);
    assert.equal(await f.remoteFile(BRANCH, PROD), before.replace('newTag: "1.0.0"', `newTag: "1.1.0@${D1}"`));
    // Commit message: what moved from which digest to which.
    const msg = await f.remoteGit(['log', '-1', '--format=%B', BRANCH]);
    assert.match(msg, /^promote nofluxo\/backend dev -> prod: nofluxo-backend 1\.1\.0@sha256:[a-f0-9]{12}\n/);
    assert.ok(msg.includes(`registry.kubernetes.crianex.com/nofluxo-backend: 1.0.0 -> 1.1.0@${D1}`));
    // The PR: one, labelled, body with from/to digests, the source commit and the rendered diff.
    assert.equal(f.api.state.pulls.length, 1);
    const pr = f.api.state.pulls[0]!;
    assert.equal(pr.head, BRANCH);
    assert.equal(pr.base, 'main');
    assert.deepEqual(f.api.state.labels[pr.number], ['release']);
    assert.ok(pr.body?.includes(`\`1.1.0@${D1}\``));
    assert.ok(pr.body?.includes('`1.0.0`'));
    assert.ok(pr.body?.includes(`at commit: ${refs.main}`), 'source environment commit');
    assert.match(pr.body ?? '', /### Rendered diff/);
    assert.ok(pr.body?.includes(`+   spec.template.spec.containers[backend].image: registry.kubernetes.crianex.com/nofluxo-backend:1.1.0@${D1}`), pr.body ?? '');
    assert.equal(r.pr?.number, pr.number);
    assert.ok(c.out.some((l) => l.includes(`opened pull request #${pr.number}`)));
    // The token is never printed nor stored.
    assert.ok(![...c.out, ...c.err].join('\n').includes(TOKEN));
    assert.ok(!(await readFile(path.join(f.work, '.git', 'config'), 'utf8')).includes(TOKEN));
    // The user's checkout is where it was: on main, clean, no worktrees left.
    assert.equal((await f.git(['status', '--porcelain'])).trim(), '');
    assert.equal((await f.git(['rev-parse', '--abbrev-ref', 'HEAD'])).trim(), 'main');
    assert.equal((await f.git(['worktree', 'list'])).trim().split('\n').length, 1);
  });

  test('a second run updates that PR instead of opening another', T, async () => {
    const f = await withDevPin();
    await run(f).p;
    const sha = (await f.remoteRefs())[BRANCH];
    const r2 = await run(f).p;
    assert.equal(r2.status, 'pr-updated');
    assert.equal(f.api.state.pulls.length, 1);
    assert.equal((await f.remoteRefs())[BRANCH], sha, 'same change: the branch is not rewritten');
    assert.equal(f.api.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/pulls') && r.status === 201).length, 1);
    // dev moves on: the same branch and PR carry the new pin.
    const D2 = digestOf('1.2.0');
    const text = (await f.remoteFile('main', DEV)).replace(/newTag: ".*"/, `newTag: "1.2.0@${D2}"`);
    await f.pushToMain({ [DEV]: text }, 'bump dev 1.2.0');
    const r3 = await run(f).p;
    assert.equal(r3.status, 'pr-updated');
    assert.equal(f.api.state.pulls.length, 1);
    assert.ok(f.api.state.pulls[0]!.body?.includes(D2));
    assert.ok((await f.remoteFile(BRANCH, PROD)).includes(`newTag: "1.2.0@${D2}"`));
  });

  test('killed after the push and before the PR: the re-run ends with one PR', T, async () => {
    const f = await withDevPin();
    const killed = run(f, { hooks: { afterPush: () => { throw new Error('SIGKILL (simulated)'); } } });
    await assert.rejects(killed.p, /SIGKILL/);
    assert.ok((await f.remoteRefs())[BRANCH], 'the branch was pushed');
    assert.equal(f.api.state.pulls.length, 0);
    const again = run(f);
    const r = await again.p;
    assert.equal(r.status, 'pr-opened');
    assert.ok(again.c.err.some((l) => l.includes('already holds this change')));
    assert.equal(f.api.state.pulls.length, 1);
  });

  test('a GitHub API failure is reported with a hint; the re-run converges to one PR', T, async () => {
    const f = await withDevPin();
    f.api.failNext('pulls/create', 502);
    await assert.rejects(run(f).p, (e: unknown) => e instanceof GitHubError && e.status === 502 && /re-run/.test(e.hint ?? '') && !e.message.includes(TOKEN));
    const r = await run(f).p;
    assert.equal(r.status, 'pr-opened');
    assert.equal(f.api.state.pulls.filter((p) => p.state === 'open').length, 1);
    f.api.failNext('issues/add-labels', 503);
    await assert.rejects(run(f).p, GitHubError);
    assert.equal((await run(f).p).status, 'pr-updated');
    assert.equal(f.api.state.pulls.length, 1);
    assert.deepEqual(f.api.state.labels[1], ['release']);
  });

  test('--dry-run leaves the remote, the API and the working tree untouched', T, async () => {
    const f = await withDevPin();
    await f.pull();
    const refs = await f.remoteRefs();
    const status = await f.git(['status', '--porcelain', '--ignored']);
    const hashes = await treeHashes(f.work);
    const gitRefs = await f.git(['for-each-ref']);
    const pushesBefore = f.gitServer.requests.filter((r) => r.path.endsWith('git-receive-pack')).length;
    const { c, p } = run(f, { dryRun: true });
    const r = await p;
    assert.equal(r.status, 'dry-run');
    assert.deepEqual(await f.remoteRefs(), refs);
    assert.equal(f.gitServer.requests.filter((x) => x.path.endsWith('git-receive-pack')).length, pushesBefore);
    assert.deepEqual(f.api.requests, [], 'no API requests at all');
    assert.equal(await f.git(['status', '--porcelain', '--ignored']), status);
    assert.deepEqual(await treeHashes(f.work), hashes);
    assert.equal(await f.git(['for-each-ref']), gitRefs);
    assert.equal((await f.git(['worktree', 'list'])).trim().split('\n').length, 1);
    const out = c.out.join('\n');
    assert.match(out, new RegExp(`branch: ${BRANCH}`));
    assert.match(out, /commit message:\n {2}promote nofluxo\/backend dev -> prod/);
    assert.ok(out.includes(`+    newTag: "1.1.0@${D1}"`), 'file diff');
    assert.match(out, /rendered diff:\n(### Rendered diff|rendered diff unavailable)/);
  });

  test('an ambiguous app name and an unknown environment fail with candidates, before any network', T, async () => {
    fx = await startReleaseFixture();
    const f = fx;
    const before = f.gitServer.requests.length;
    await assert.rejects(promote({ cwd: f.work, app: 'backend', env: 'dev', envVars: f.envVars }), (e: unknown) => {
      assert.ok(e instanceof NameError);
      assert.match(e.message, /ambiguous in environment 'dev'/);
      assert.deepEqual([...e.candidates].sort(), ['nofluxo/backend', 'taskflow/backend', 'todo-chatbot/backend']);
      return true;
    });
    await assert.rejects(promote({ cwd: f.work, app: 'backend', env: 'staging', envVars: f.envVars }), (e: unknown) => {
      assert.ok(e instanceof NameError);
      assert.match(e.message, /unknown environment 'staging'/);
      assert.deepEqual(e.candidates, ['dev', 'prod']);
      return true;
    });
    await assert.rejects(promote({ cwd: f.work, app: '../../etc', env: 'prod', envVars: f.envVars }), /invalid app name/);
    await assert.rejects(promote({ cwd: f.work, app: 'nofluxo/backend', env: 'dev', envVars: f.envVars }), (e: unknown) => e instanceof UsageError && /'dev' is not promoted from any environment/.test(e.message));
    await assert.rejects(promote({ cwd: f.work, app: 'backend', env: 'prod', from: 'prod', envVars: f.envVars }), (e: unknown) => e instanceof UsageError && /not on its promotion path\n {2}allowed sources: dev/.test(e.message));
    await assert.rejects(promote({ cwd: f.work, app: 'backend', env: 'prod', from: 'qa', envVars: f.envVars }), (e: unknown) => e instanceof NameError && /unknown environment 'qa'/.test(e.message));
    assert.equal(f.gitServer.requests.length, before);
    assert.deepEqual(f.api.requests, []);
  });

  test('nothing to promote: says so, exits cleanly, no branch and no PR', T, async () => {
    fx = await startReleaseFixture();
    const f = fx;
    // dev and prod both pin 1.0.0 by tag; prod requires digests, so pin it in both first.
    const pinned = (await f.remoteFile('main', PROD)).replace('newTag: "1.0.0"', `newTag: "1.0.0@${D1}"`);
    const devPinned = (await f.remoteFile('main', DEV)).replace('newTag: "1.0.0"', `newTag: "1.0.0@${D1}"`);
    await f.pushToMain({ [PROD]: pinned, [DEV]: devPinned }, 'pin both');
    const refs = await f.remoteRefs();
    const { c, p } = run(f);
    const r = await p;
    assert.equal(r.status, 'unchanged');
    assert.match(c.out.join('\n'), /nothing to change/);
    assert.deepEqual(await f.remoteRefs(), refs);
    assert.deepEqual(f.api.requests, []);
  });

  test('a tag-only source pin gets its digest from the registry for a requireDigests target, or fails with --no-resolve', T, async () => {
    const regDir = await mkdtemp(path.join(os.tmpdir(), 'promote-registry-'));
    const registry = await startRegistry({ dir: regDir, username: 'ci', password: 'pw' });
    try {
      const pushed = await pushImage(registry, { name: 'nofluxo-backend', tag: '1.3.0' });
      fx = await startReleaseFixture();
      const f = fx;
      const dev = (await f.remoteFile('main', DEV)).replace('newTag: "1.0.0"', `newName: ${registry.host}/nofluxo-backend\n    newTag: "1.3.0"`);
      await f.pushToMain({ [DEV]: dev }, 'dev runs 1.3.0 from the local registry');
      const envVars = { ...f.envVars, GITOPS_REGISTRY_HOST: registry.host, GITOPS_REGISTRY_USER: 'ci', GITOPS_REGISTRY_PASSWORD: 'pw' };
      await assert.rejects(promote({ cwd: f.work, app: 'backend', env: 'prod', resolve: false, envVars, log: () => {} }), (e: unknown) => {
        assert.ok(e instanceof UsageError);
        assert.match(e.message, /pinned by tag only \(1\.3\.0\) and 'prod' requires digests; --no-resolve/);
        assert.match(e.message, new RegExp(DEV.replace(/[./]/g, '\\$&')));
        return true;
      });
      const r = await promote({ cwd: f.work, app: 'backend', env: 'prod', envVars, log: () => {}, write: () => {} });
      assert.equal(r.status, 'pr-opened');
      const prod = await f.remoteFile(BRANCH, PROD);
      assert.ok(prod.includes(`newTag: "1.3.0@${pushed.digest}"`), prod);
      assert.ok(!prod.includes('newName'), 'newName is environment-specific and not copied');
    } finally {
      await registry.stop();
      await rm(regDir, { recursive: true, force: true });
    }
  });

  test('release keys are copied; environment-specific settings never are', T, async () => {
    fx = await startReleaseFixture();
    const f = fx;
    const cfg = (await f.remoteFile('main', 'gitops.yaml')).replace('  labels: [release]', '  labels: [release]\n  releaseKeys: ["/commonAnnotations/crianex.com~1release"]');
    const dev = (await f.remoteFile('main', DEV)).replace(/^(namespace: nofluxo.*)$/m, '$1\ncommonAnnotations:\n  crianex.com/release: "2024.7" # dev note that must not travel').replace('newTag: "1.0.0"', `newTag: "1.1.0@${D1}"`) + 'replicas:\n  - name: nofluxo-backend\n    count: 5\n';
    await f.pushToMain({ 'gitops.yaml': cfg, [DEV]: dev }, 'dev: release 2024.7');
    await f.pull();
    const r = await run(f).p;
    assert.equal(r.status, 'pr-opened');
    const prod = await f.remoteFile(BRANCH, PROD);
    assert.match(prod, /commonAnnotations:\n {2}crianex\.com\/release: "2024\.7"\n/);
    assert.ok(prod.includes(`1.1.0@${D1}`));
    assert.ok(!prod.includes('replicas'), 'replicas are environment-specific');
    assert.match(prod, /namespace: non-business-apps/);
    assert.ok(r.changes?.some((ch) => ch.what === '/commonAnnotations/crianex.com~1release' && ch.to === '"2024.7"'));
    // A release key that names an environment-specific field is a config error.
    const bad = cfg.replace('releaseKeys: ["/commonAnnotations/crianex.com~1release"]', 'releaseKeys: ["/namespace"]');
    await writeFile(path.join(f.work, 'gitops.yaml'), bad);
    await assert.rejects(promote({ cwd: f.work, app: 'backend', env: 'prod', envVars: f.envVars, log: () => {} }), (e: unknown) => e instanceof ConfigError && /gitops\.yaml: promotion\.releaseKeys: '\/namespace'.*environment-specific/.test(e.message));
    await f.git(['checkout', '--', 'gitops.yaml']);
  });

  test('an older open promotion PR of the same app and environment is closed as superseded', T, async () => {
    const f = await withDevPin();
    // An older naming (`promote/prod/<system>/<service>`) with an open PR.
    const main = (await f.remoteRefs()).main!;
    await f.remoteGit(['branch', 'promote/prod/nofluxo/backend', main]);
    await f.remoteGit(['branch', 'promote/prod/nofluxo-backend-old', main]);
    await f.remoteGit(['branch', 'promote/prod/nofluxo-ai-agent', main]);
    // Opened by an earlier run of the tool: the body ends with the tool's marker for its app and environment.
    const marker = (app: string) => `old\n\n<!-- gitops-release kind=promote env=prod app=${app} -->`;
    const open = async (head: string) => {
      const res = await fetch(`${f.api.url}/repos/crianex/gitops/pulls`, {
        method: 'POST',
        headers: { Authorization: `token ${TOKEN}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ title: `old ${head}`, head, base: 'main', body: marker(head.endsWith('ai-agent') ? 'nofluxo/ai-agent' : 'nofluxo/backend') }),
      });
      assert.equal(res.status, 201, await res.text());
    };
    // The harness refuses a PR with no commits: give each old branch one.
    for (const b of ['promote/prod/nofluxo/backend', 'promote/prod/nofluxo-backend-old', 'promote/prod/nofluxo-ai-agent']) {
      const tree = (await f.remoteGit(['rev-parse', `${main}^{tree}`])).trim();
      const commit = (await f.remoteGit(['-c', 'user.name=o', '-c', 'user.email=o@example.invalid', 'commit-tree', tree, '-p', main, '-m', `old ${b}`])).trim();
      await f.remoteGit(['update-ref', `refs/heads/${b}`, commit]);
      await open(b);
    }
    const r = await run(f).p;
    assert.equal(r.status, 'pr-opened');
    const byHead = Object.fromEntries(f.api.state.pulls.map((p) => [p.head, p]));
    assert.equal(byHead['promote/prod/nofluxo/backend']!.state, 'closed');
    assert.equal(byHead['promote/prod/nofluxo-backend-old']!.state, 'closed');
    assert.equal(byHead['promote/prod/nofluxo-ai-agent']!.state, 'open', 'another app is not superseded');
    assert.equal(byHead[BRANCH]!.state, 'open');
    assert.deepEqual([...(r.superseded ?? [])].sort(), [byHead['promote/prod/nofluxo/backend']!.number, byHead['promote/prod/nofluxo-backend-old']!.number].sort());
    const comments = f.api.state.comments.filter((c) => c.issue_number === byHead['promote/prod/nofluxo/backend']!.number);
    assert.equal(comments.length, 1);
    assert.match(comments[0]!.body, new RegExp(`Superseded by #${byHead[BRANCH]!.number} \\(http://127\\.0\\.0\\.1:\\d+/crianex/gitops/pull/${byHead[BRANCH]!.number}\\)`));
  });

  test('push race: a commit lands on main between fetch and push; the promotion is redone on it', T, async () => {
    const f = await withDevPin();
    let concurrent = '';
    const { c, p } = run(f, {
      hooks: {
        beforePush: async ({ attempt }) => {
          if (attempt === 1) concurrent = await f.pushToMain({ 'overlays/README.md': 'changed concurrently\n' }, 'concurrent change');
        },
      },
    });
    const r = await p;
    assert.equal(r.status, 'pr-opened');
    const refs = await f.remoteRefs();
    assert.equal(refs.main, concurrent, 'main was not rewound');
    assert.equal((await f.remoteGit(['rev-parse', `${BRANCH}^`])).trim(), concurrent, 'the branch starts from the new main');
    assert.equal((await f.remoteGit(['diff', '--name-only', `main..${BRANCH}`])).trim(), PROD);
    assert.ok(c.err.some((l) => /origin moved since the fetch/.test(l)), c.err.join('\n'));
    assert.ok(c.err.some((l) => /attempt 2\/3/.test(l)));
  });

  test('a push rejected by the server is retried; after maxPushAttempts it fails without leaking the token', T, async () => {
    const f = await withDevPin();
    f.gitServer.failNextPush(500, 1);
    const ok = await run(f).p;
    assert.equal(ok.status, 'pr-opened');
    const D2 = digestOf('x');
    await f.pushToMain({ [DEV]: (await f.remoteFile('main', DEV)).replace(/newTag: ".*"/, `newTag: "1.4.0@${D2}"`) }, 'dev 1.4.0');
    f.gitServer.failNextPush(500, 3);
    await assert.rejects(run(f).p, (e: unknown) => {
      const text = `${(e as Error).message} ${(e as { hint?: string }).hint ?? ''}`;
      assert.match(text, /gave up after 3 push attempts/);
      assert.ok(!text.includes(TOKEN) && !text.includes(Buffer.from(`x-access-token:${TOKEN}`).toString('base64')));
      return true;
    });
    assert.equal((await run(f).p).status, 'pr-updated');
    assert.equal(f.api.state.pulls.length, 1);
  });

  test('works as written on the command line: npx tsx tools/cli.ts promote backend prod', T, async () => {
    const f = await withDevPin();
    const { stdout, stderr } = await promisify(execFile)('npx', ['tsx', 'tools/cli.ts', 'promote', 'backend', 'prod', '--cwd', f.work], {
      cwd: REPO_ROOT,
      env: f.envVars as NodeJS.ProcessEnv,
      timeout: 150_000,
    });
    assert.match(stdout, /opened pull request #1: http:\/\/127\.0\.0\.1:\d+\/crianex\/gitops\/pull\/1/);
    assert.ok(!stdout.includes(TOKEN) && !stderr.includes(TOKEN));
    assert.equal(f.api.state.pulls.length, 1);
    // Usage errors exit 2 with the candidates.
    const fail = await promisify(execFile)('npx', ['tsx', 'tools/cli.ts', 'promote', 'backend', 'dev', '--cwd', f.work], { cwd: REPO_ROOT, env: f.envVars as NodeJS.ProcessEnv, timeout: 60_000 }).then(
      () => assert.fail('expected exit 2'),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(fail.code, 2);
    assert.match(fail.stderr, /candidates: nofluxo\/backend, taskflow\/backend, todo-chatbot\/backend/);
  });
});

describe('release plumbing', () => {
  test('owner/repo from https, ssh scp-style and ssh:// origin URLs', () => {
    assert.deepEqual(parseRemoteUrl('https://github.com/crianex/gitops.git'), { url: 'https://github.com/crianex/gitops.git', host: 'github.com', owner: 'crianex', repo: 'gitops', httpBase: 'https://github.com/' });
    assert.deepEqual(parseRemoteUrl('https://x-access-token:abc@github.com/crianex/gitops'), { url: 'https://github.com/crianex/gitops', host: 'github.com', owner: 'crianex', repo: 'gitops', httpBase: 'https://github.com/' });
    assert.deepEqual(parseRemoteUrl('git@github.com:crianex/gitops.git'), { url: 'git@github.com:crianex/gitops.git', host: 'github.com', owner: 'crianex', repo: 'gitops', httpBase: undefined });
    assert.deepEqual(parseRemoteUrl('ssh://git@ghe.example.com:2222/crianex/gitops.git'), { url: 'ssh://ghe.example.com:2222/crianex/gitops.git', host: 'ghe.example.com:2222', owner: 'crianex', repo: 'gitops', httpBase: undefined });
    assert.equal(parseRemoteUrl('http://127.0.0.1:8080/crianex/gitops.git').httpBase, 'http://127.0.0.1:8080/');
    assert.throws(() => parseRemoteUrl('/srv/git/gitops.git'), GitError);
    assert.throws(() => parseRemoteUrl('https://github.com/only-owner'), (e: unknown) => e instanceof GitError && /owner\/repo/.test(e.message));
  });

  test('tokens are scrubbed from error text in every form', () => {
    const b64 = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');
    const text = `fatal: https://x-access-token:${TOKEN}@github.com/o/r.git\nAuthorization: Basic ${b64}\n${TOKEN}\nAuthorization: token ${TOKEN}`;
    const out = scrub(text, [TOKEN]);
    assert.ok(!out.includes(TOKEN) && !out.includes(b64), out);
    assert.match(out, /https:\/\/\*\*\*@github\.com/);
  });
});
