// Exercises the test harnesses for real: git over smart HTTP, a real OCI registry, and the schema-checked GitHub API.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { Octokit } from '@octokit/rest';
import { createBareRepo, startGitServer, type GitServerHandle } from './harness/git-server.js';
import { startGitHubApi, type GitHubApiHandle } from './harness/github-api.js';
import { sharedValidator } from './harness/openapi.js';
import { cleanGitEnv, run } from './harness/proc.js';
import { headManifest, MEDIA_TYPES, pushImage, startRegistry } from './harness/registry.js';

const TOKEN = 'ghs_harnessToken123';
const env = cleanGitEnv();
// Credential helpers or askpass from the developer's config must not rescue an unauthenticated clone.
const git = (args: string[], cwd?: string) => run('git', ['-c', 'credential.helper=', ...args], { cwd, env, timeoutMs: 20_000 });
const basic = (token: string) => `Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;

describe('git server harness', () => {
  let tmp: string;
  let server: GitServerHandle;
  let seedHead: string | undefined;

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'harness-git-test-'));
    const seed = path.join(tmp, 'seed');
    await mkdir(path.join(seed, 'apps', 'api'), { recursive: true });
    await writeFile(path.join(seed, 'apps', 'api', 'kustomization.yaml'), 'images: []\n');
    seedHead = (await createBareRepo(path.join(tmp, 'root'), 'gitops.git', seed)).head;
    server = await startGitServer({ root: path.join(tmp, 'root'), token: TOKEN });
  });
  after(async () => {
    await server?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  test('clones with the token as an extra header and as URL userinfo', async () => {
    await git(['-c', `http.extraHeader=${basic(TOKEN)}`, 'clone', '--quiet', server.repoUrl('gitops.git'), path.join(tmp, 'c1')]);
    assert.equal(await readFile(path.join(tmp, 'c1', 'apps', 'api', 'kustomization.yaml'), 'utf8'), 'images: []\n');
    await git(['clone', '--quiet', server.authedRepoUrl('gitops.git'), path.join(tmp, 'c2')]);
    assert.equal((await git(['rev-parse', 'HEAD'], path.join(tmp, 'c2'))).stdout.trim(), seedHead);
    assert.ok(server.requests.some((r) => r.authorized && r.status === 200));
  });

  test('refuses clones without the token or with a wrong one', async () => {
    await assert.rejects(git(['clone', '--quiet', server.repoUrl('gitops.git'), path.join(tmp, 'c3')]));
    await assert.rejects(git(['clone', '--quiet', server.authedRepoUrl('gitops.git', 'wrong'), path.join(tmp, 'c4')]));
    const denied = server.requests.filter((r) => !r.authorized);
    assert.ok(denied.length >= 2 && denied.every((r) => r.status === 401));
  });

  test('accepts pushes, and failNextPush fails exactly one', async () => {
    const work = path.join(tmp, 'c1');
    await writeFile(path.join(work, 'apps', 'api', 'kustomization.yaml'), 'images: [{name: api, newTag: v2}]\n');
    await git(['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '--quiet', '-am', 'bump'], work);
    const pushArgs = ['-c', `http.extraHeader=${basic(TOKEN)}`, 'push', '--quiet', 'origin', 'HEAD:refs/heads/promote/api'];
    server.failNextPush(500);
    await assert.rejects(git(pushArgs, work), /500/);
    await git(pushArgs, work);
    const bare = path.join(tmp, 'root', 'gitops.git');
    const pushed = (await run('git', ['--git-dir', bare, 'rev-parse', 'refs/heads/promote/api'], { env })).stdout.trim();
    assert.equal(pushed, (await git(['rev-parse', 'HEAD'], work)).stdout.trim());
    const packs = server.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/git-receive-pack'));
    assert.deepEqual(packs.map((r) => r.status), [500, 200]);
  });

  test('inflates gzip request bodies (protocol v2 ls-refs)', async () => {
    const pkt = (s: string) => (s.length + 4).toString(16).padStart(4, '0') + s;
    const body = gzipSync(Buffer.from(`${pkt('command=ls-refs\n')}00010000`));
    const res = await fetch(`${server.repoUrl('gitops.git')}/git-upload-pack`, {
      method: 'POST',
      headers: {
        Authorization: basic(TOKEN).slice('Authorization: '.length),
        'Content-Type': 'application/x-git-upload-pack-request',
        'Content-Encoding': 'gzip',
        'Git-Protocol': 'version=2',
      },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /refs\/heads\/main/);
  });
});

describe('registry harness', () => {
  for (const auth of [false, true]) {
    test(`pushes a manifest and an index ${auth ? 'with' : 'without'} basic auth; HEAD digests match skopeo`, async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'harness-registry-test-'));
      const registry = await startRegistry(auth ? { dir, username: 'ci', password: 's3cret' } : { dir });
      try {
        const single = await pushImage(registry, { name: 'crianex/api', tag: 'v1.0.0' });
        assert.match(single.digest, /^sha256:[0-9a-f]{64}$/);
        assert.equal(single.digest, single.skopeoDigest);
        assert.equal(single.mediaType, MEDIA_TYPES.ociManifest);
        assert.equal(single.manifestDigest, single.digest);
        const head = await headManifest(registry, 'crianex/api', 'v1.0.0');
        assert.deepEqual([head.status, head.digest], [200, single.digest]);

        const index = await pushImage(registry, { name: 'crianex/api', tag: 'v1.1.0', asIndex: true });
        assert.equal(index.digest, index.skopeoDigest);
        assert.equal(index.mediaType, MEDIA_TYPES.ociIndex);
        assert.notEqual(index.manifestDigest, index.digest);
        assert.notEqual(index.digest, single.digest);
        const byDigest = await headManifest(registry, 'crianex/api', index.manifestDigest);
        assert.deepEqual([byDigest.status, byDigest.digest], [200, index.manifestDigest]);

        const anonymous = await headManifest(registry, 'crianex/api', 'v1.0.0', { auth: false });
        assert.equal(anonymous.status, auth ? 401 : 200);
      } finally {
        await registry.stop();
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  test('explains how to install missing binaries', async () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await assert.rejects(startRegistry({ dir: os.tmpdir() }), /apt-get install -y docker-registry skopeo/);
    } finally {
      process.env.PATH = saved;
    }
  });
});

describe('GitHub API harness', () => {
  const owner = 'crianex';
  const repo = 'gitops';
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  let gh: GitHubApiHandle;
  let octokit: Octokit;

  before(async () => {
    gh = await startGitHubApi({ owner, repo, token: TOKEN });
    octokit = new Octokit({ baseUrl: gh.url, auth: TOKEN, log: quiet });
  });
  after(async () => {
    await gh?.stop();
  });

  test('serves the promotion flow through @octokit/rest with zero schema violations', async () => {
    const { data: r } = await octokit.repos.get({ owner, repo });
    assert.equal(r.default_branch, 'main');

    const created = await octokit.pulls.create({ owner, repo, head: 'promote/api-prod', base: 'main', title: 'Promote api', body: 'v1' });
    assert.equal(created.status, 201);
    assert.equal(created.data.number, 1);
    assert.equal(created.data.html_url, `${gh.url}/${owner}/${repo}/pull/1`);

    const listed = await octokit.pulls.list({ owner, repo, head: `${owner}:promote/api-prod`, state: 'open', base: 'main' });
    assert.deepEqual(listed.data.map((p) => p.number), [1]);
    assert.equal((await octokit.pulls.list({ owner, repo, head: `${owner}:other` })).data.length, 0);

    const dup = await octokit.pulls.create({ owner, repo, head: 'promote/api-prod', base: 'main', title: 'again' }).catch((e: unknown) => e);
    assert.equal((dup as { status?: number }).status, 422);
    assert.match(JSON.stringify((dup as { response?: { data?: unknown } }).response?.data), /A pull request already exists for crianex:promote\/api-prod/);

    const updated = await octokit.pulls.update({ owner, repo, pull_number: 1, title: 'Promote api v2', body: 'v2' });
    assert.equal(updated.data.title, 'Promote api v2');

    const labels = await octokit.issues.addLabels({ owner, repo, issue_number: 1, labels: ['promotion', 'env:prod'] });
    assert.deepEqual(labels.data.map((l) => l.name), ['promotion', 'env:prod']);
    await octokit.issues.addLabels({ owner, repo, issue_number: 1, labels: ['Promotion'] });
    assert.deepEqual(gh.state.labels[1], ['promotion', 'env:prod']);

    const comment = await octokit.issues.createComment({ owner, repo, issue_number: 1, body: 'digest sha256:abc' });
    assert.equal(comment.status, 201);
    const comments = await octokit.issues.listComments({ owner, repo, issue_number: 1 });
    assert.deepEqual(comments.data.map((c) => c.body), ['digest sha256:abc']);

    const closed = await octokit.pulls.update({ owner, repo, pull_number: 1, state: 'closed' });
    assert.equal(closed.data.state, 'closed');
    assert.ok(closed.data.closed_at);
    assert.equal((await octokit.pulls.get({ owner, repo, pull_number: 1 })).data.state, 'closed');
    assert.equal((await octokit.pulls.list({ owner, repo, head: `${owner}:promote/api-prod` })).data.length, 0);
    assert.equal((await octokit.pulls.list({ owner, repo, head: `${owner}:promote/api-prod`, state: 'all' })).data.length, 1);
    // Closed, so a new PR for the same head is allowed again.
    assert.equal((await octokit.pulls.create({ owner, repo, head: 'promote/api-prod', base: 'main', title: 'retry' })).data.number, 2);

    const notFound = await octokit.pulls.get({ owner, repo, pull_number: 99 }).catch((e: unknown) => e);
    assert.equal((notFound as { status?: number }).status, 404);

    assert.equal(gh.state.pulls.length, 2);
    assert.equal(gh.state.comments.length, 1);
    assert.deepEqual(gh.violations, []);
  });

  test('pages lists with a Link header that octokit.paginate follows', async () => {
    for (let i = 0; i < 3; i++) await octokit.issues.createComment({ owner, repo, issue_number: 2, body: `c${i}` });
    const all = await octokit.paginate(octokit.issues.listComments, { owner, repo, issue_number: 2, per_page: 2 });
    assert.deepEqual(all.map((c) => c.body), ['c0', 'c1', 'c2']);
    assert.deepEqual(gh.violations, []);
  });

  test('answers 401 in GitHub\'s shape without or with a wrong token', async () => {
    const anon = new Octokit({ baseUrl: gh.url, log: quiet });
    assert.equal(((await anon.repos.get({ owner, repo }).catch((e: unknown) => e)) as { status?: number }).status, 401);
    const bad = new Octokit({ baseUrl: gh.url, auth: 'nope', log: quiet });
    const err = (await bad.pulls.list({ owner, repo }).catch((e: unknown) => e)) as { status?: number; response?: { data?: { message?: string } } };
    assert.equal(err.status, 401);
    assert.equal(err.response?.data?.message, 'Bad credentials');
    const bearer = await fetch(`${gh.url}/repos/${owner}/${repo}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(bearer.status, 200);
    await bearer.arrayBuffer();
    assert.deepEqual(gh.violations, []);
  });

  test('failNext injects one failure per call, before any state change', async () => {
    const before = gh.state.pulls.length;
    gh.failNext('pulls/create', 502);
    const first = await octokit.pulls.create({ owner, repo, head: 'promote/web', base: 'main', title: 'web' }).catch((e: unknown) => e);
    assert.equal((first as { status?: number }).status, 502);
    assert.equal(gh.state.pulls.length, before);
    await octokit.pulls.create({ owner, repo, head: 'promote/web', base: 'main', title: 'web' });
    assert.equal(gh.state.pulls.length, before + 1);
    gh.failNext(`GET /repos/${owner}/${repo}`, 503);
    assert.equal(((await octokit.repos.get({ owner, repo }).catch((e: unknown) => e)) as { status?: number }).status, 503);
    assert.deepEqual(gh.violations, []);
  });

  test('records malformed requests, unknown endpoints and ignored filters as violations', async () => {
    const strict = await startGitHubApi({ owner, repo, token: TOKEN });
    try {
      const res = await fetch(`${strict.url}/repos/${owner}/${repo}/pulls`, {
        method: 'POST',
        headers: { Authorization: `token ${TOKEN}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ base: 'main', title: 'no head' }),
      });
      assert.equal(res.status, 422);
      await res.arrayBuffer();
      assert.equal(strict.state.pulls.length, 0);
      assert.equal(strict.violations.length, 1);
      assert.match(strict.violations[0]!, /pulls\/create request: .*required property 'head'/);

      const ok = new Octokit({ baseUrl: strict.url, auth: TOKEN, log: quiet });
      await ok.pulls.list({ owner, repo, head: 'promote/api' }); // missing "owner:" prefix
      await ok.request('GET /repos/{owner}/{repo}/branches', { owner, repo }).catch(() => undefined);
      await ok.request('GET /nonsense/path').catch(() => undefined);
      assert.equal(strict.violations.length, 4);
      assert.match(strict.violations[1]!, /lacks the "owner:" prefix/);
      assert.match(strict.violations[2]!, /not implemented by the harness: repos\/list-branches/);
      assert.match(strict.violations[3]!, /unknown endpoint: GET \/nonsense\/path/);
    } finally {
      await strict.stop();
    }
  });

  test('validates branches through resolveRef like GitHub does', async () => {
    const branches = new Map([
      ['main', 'a'.repeat(40)],
      ['promote/same', 'a'.repeat(40)],
      ['promote/new', 'b'.repeat(40)],
    ]);
    const api = await startGitHubApi({ owner, repo, token: TOKEN, resolveRef: (ref) => branches.get(ref) });
    try {
      const ok = new Octokit({ baseUrl: api.url, auth: TOKEN, log: quiet });
      const status = (p: Promise<unknown>) => p.then(() => 0, (e: { status?: number }) => e.status);
      assert.equal(await status(ok.pulls.create({ owner, repo, head: 'missing', base: 'main', title: 't' })), 422);
      assert.equal(await status(ok.pulls.create({ owner, repo, head: 'promote/same', base: 'main', title: 't' })), 422);
      const pr = await ok.pulls.create({ owner, repo, head: 'promote/new', base: 'main', title: 't' });
      assert.equal(pr.data.head.sha, 'b'.repeat(40));
      assert.deepEqual(api.violations, []);
    } finally {
      await api.stop();
    }
  });

  test('the validator rejects responses that break the schema (so passing means something)', async () => {
    const v = await sharedValidator();
    const get = v.getOperation('pulls/get')!;
    assert.ok(v.validateResponse(get, 200, {}).length > 0);
    const list = v.getOperation('issues/list-comments')!;
    assert.ok(v.validateResponse(list, 200, [{ id: 'not-a-number' }]).length > 0);
    // nullable: true became a type union, so null is accepted where GitHub allows it and nowhere else.
    const label = { id: 1, node_id: 'x', url: 'http://127.0.0.1/l', name: 'a', color: 'ededed', default: false };
    const add = v.getOperation('issues/add-labels')!;
    assert.deepEqual(v.validateResponse(add, 200, [{ ...label, description: null }]), []);
    assert.ok(v.validateResponse(add, 200, [{ ...label, name: null, description: null }]).length > 0);
  });
});
