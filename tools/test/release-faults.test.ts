// Faults of the release commands: bounded, clear, honest. A remote that never answers, a GitHub
// API that never answers or is rate-limited, a push refused by a server hook.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { promote } from '../commands/promote.js';
import { GitHubError } from '../lib/core/errors.js';
import { PushRefusedError } from '../lib/remote/git.js';
import { describeFailure } from '../lib/remote/github.js';
import { REPO_ROOT } from '../lib/core/tools.js';
import { processesMentioning } from './harness/proc.js';
import { digestOf, finishFixture, overlayFile, startReleaseFixture, TOKEN, type ReleaseFixture } from './release-fixture.js';

const DEV = overlayFile('minikube', 'nofluxo/backend');
const T = { timeout: 180_000 };

let fx: ReleaseFixture | undefined;
const servers: net.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) s.close();
  const f = fx;
  fx = undefined;
  await finishFixture(f);
});

async function withDevPin(): Promise<ReleaseFixture> {
  fx = await startReleaseFixture();
  const text = (await readFile(path.join(fx.work, DEV), 'utf8')).replace('newTag: "1.0.0"', `newTag: "1.1.0@${digestOf('x')}"`);
  await fx.pushToMain({ [DEV]: text }, 'bump nofluxo/backend in dev');
  await fx.pull();
  return fx;
}

/** A 127.0.0.1 server that accepts connections and never says a word. */
async function silentServer(): Promise<{ url: string; port: number }> {
  const sockets: net.Socket[] = [];
  const srv = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
  });
  srv.on('close', () => sockets.forEach((s) => s.destroy()));
  const origClose = srv.close.bind(srv);
  srv.close = ((cb?: (err?: Error) => void) => {
    sockets.forEach((s) => s.destroy());
    return origClose(cb);
  }) as typeof srv.close;
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  servers.push(srv);
  const port = (srv.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, port };
}

describe('a remote that never answers', () => {
  test('git fetch times out, the CLI says so first and exits; no git child is left behind', T, async () => {
    const f = await withDevPin();
    const silent = await silentServer();
    await f.git(['remote', 'set-url', 'origin', `${silent.url}/crianex/gitops.git`]);
    const t0 = Date.now();
    const res = await new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) => {
      execFile('npx', ['tsx', 'tools/cli.ts', 'promote', 'nofluxo/backend', 'prod', '--cwd', f.work], { cwd: REPO_ROOT, env: { ...f.envVars, GITOPS_NETWORK_TIMEOUT: '2' }, timeout: 120_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
      );
    });
    const elapsed = Date.now() - t0;
    assert.equal(res.code, 3, res.stderr);
    assert.match(res.stderr, /^error: git fetch timed out after 2 s: origin did not answer\n/m);
    assert.ok(!res.stderr.includes(TOKEN) && !res.stdout.includes(TOKEN));
    // tsx start-up dominates; the fetch itself is bounded by 2 s.
    assert.ok(elapsed < 60_000, `took ${elapsed} ms`);
    assert.deepEqual(await processesMentioning(`127.0.0.1:${silent.port}`), [], 'no git-remote-http left running');
  });

  test('the GitHub API never answering is a timeout, reported as one', T, async () => {
    const f = await withDevPin();
    const silent = await silentServer();
    const t0 = Date.now();
    await assert.rejects(
      promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', envVars: { ...f.envVars, GITHUB_API_URL: silent.url, GITOPS_NETWORK_TIMEOUT: '1' }, log: () => {}, write: () => {} }),
      (e: unknown) => {
        assert.ok(e instanceof GitHubError, String(e));
        assert.match(e.message, /^GitHub API timed out after 1 s: list pull requests of promote\/prod\/nofluxo-backend got no answer/);
        assert.match(e.hint ?? '', /re-run/);
        return true;
      },
    );
    assert.ok(Date.now() - t0 < 60_000);
  });
});

describe('GitHub rate limit', () => {
  test('the error states the rate limit and its reset time first', T, async () => {
    const f = await withDevPin();
    const reset = Math.floor(Date.now() / 1000) + 25 * 60;
    f.api.rateLimitNext('pulls/list', reset);
    await assert.rejects(promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', envVars: f.envVars, log: () => {}, write: () => {} }), (e: unknown) => {
      assert.ok(e instanceof GitHubError, String(e));
      const iso = new Date(reset * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      assert.ok(e.message.startsWith(`GitHub API rate limit exhausted; it resets at ${iso} (in 25 min)`), e.message);
      assert.equal(e.status, 403);
      return true;
    });
    // The re-run after the reset converges.
    assert.equal((await promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', envVars: f.envVars, log: () => {}, write: () => {} })).status, 'pr-opened');
  });

  test('describeFailure: secondary limits, timeouts and plain failures', () => {
    const ctx = { owner: 'o', repo: 'r', token: TOKEN };
    const secondary = describeFailure({ status: 403, message: 'You have exceeded a secondary rate limit', response: { headers: { 'retry-after': '60' } } }, 'open a pull request', 1000, ctx);
    assert.match(secondary.message, /^GitHub API secondary rate limit hit; retry after 60 s/);
    const timeout = describeFailure({ name: 'HttpError', status: 500, message: 'The operation was aborted due to timeout' }, 'x', 2000, ctx);
    assert.match(timeout.message, /^GitHub API timed out after 2 s/);
    const plain = describeFailure({ status: 422, message: `Validation Failed ${TOKEN}` }, 'open a pull request', 1000, ctx);
    assert.match(plain.message, /^GitHub API: open a pull request failed \(422\)/);
    assert.ok(!plain.message.includes(TOKEN));
  });
});

describe('a push refused by a server hook', () => {
  test('is not retried; the error gives the server\'s reason first', T, async () => {
    const f = await withDevPin();
    const hook = path.join(f.bare, 'hooks', 'pre-receive');
    await writeFile(hook, '#!/bin/sh\necho "policy: release branches are frozen until Friday" >&2\nexit 1\n');
    await chmod(hook, 0o755);
    const refs = await f.remoteRefs();
    const pushes = () => f.gitServer.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/git-receive-pack')).length;
    const before = pushes();
    const log: string[] = [];
    await assert.rejects(promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', envVars: f.envVars, log: (l) => log.push(l), write: () => {} }), (e: unknown) => {
      assert.ok(e instanceof PushRefusedError, String(e));
      assert.match(e.message, /^origin refused the push of promote\/prod\/nofluxo-backend: pre-receive hook declined\n {2}remote: policy: release branches are frozen until Friday/);
      assert.match(e.hint ?? '', /retrying cannot help/);
      assert.ok(!e.message.includes(TOKEN));
      return true;
    });
    assert.equal(pushes() - before, 1, 'one push attempt, no retry');
    assert.ok(!log.some((l) => /retrying|attempt 2/.test(l)), log.join('\n'));
    assert.deepEqual(await f.remoteRefs(), refs);
    assert.deepEqual(f.api.requests, []);
  });
});
