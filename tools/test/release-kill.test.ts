// A release command killed (SIGKILL) at any step leaves nothing the next run does not clean up:
// the CLI runs as a child process that kills itself at a named step (GITOPS_FAULT_KILL_AT), then
// the next run must succeed and no temporary worktree, worktree entry or temporary folder remains.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promote } from '../commands/promote.js';
import { REPO_ROOT } from '../lib/core/tools.js';
import { digestOf, finishFixture, overlayFile, startReleaseFixture, type ReleaseFixture } from './release-fixture.js';

const DEV = overlayFile('minikube', 'nofluxo/backend');
const BRANCH = 'promote/prod/nofluxo-backend';
const STEPS = ['fetched', 'worktree', 'edited', 'validated', 'committed', 'pushed', 'pr'] as const;

describe('killed at each step', () => {
  let f: ReleaseFixture;
  let tmp: string;
  const savedTmp = process.env.TMPDIR;
  before(async () => {
    f = await startReleaseFixture();
    const text = (await readFile(path.join(f.work, DEV), 'utf8')).replace('newTag: "1.0.0"', `newTag: "1.1.0@${digestOf('k')}"`);
    await f.pushToMain({ [DEV]: text }, 'bump nofluxo/backend in dev');
    await f.pull();
    // The killed CLI and the next run share a temporary folder of their own, so leftovers are visible.
    tmp = await mkdtemp(path.join(os.tmpdir(), 'kill-tmp-'));
    process.env.TMPDIR = tmp;
  });
  after(async () => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    await rm(tmp, { recursive: true, force: true });
    await finishFixture(f);
  });

  const leftovers = async () => (await readdir(tmp)).filter((n) => n.startsWith('gitops-release-'));
  const worktrees = async () => (await f.git(['worktree', 'list', '--porcelain'])).split('\n').filter((l) => l.startsWith('worktree '));

  for (const step of STEPS) {
    test(`at '${step}': the process dies there; the next run succeeds and leaves nothing behind`, { timeout: 240_000 }, async () => {
      const res = await new Promise<{ failed: boolean; stdout: string; stderr: string }>((resolve) => {
        execFile(
          'npx',
          ['tsx', 'tools/cli.ts', 'promote', 'nofluxo/backend', 'prod', '--cwd', f.work],
          { cwd: REPO_ROOT, env: { ...f.envVars, TMPDIR: tmp, GITOPS_FAULT_KILL_AT: step }, timeout: 180_000 },
          (err, stdout, stderr) => resolve({ failed: err !== null, stdout, stderr }),
        );
      });
      // The run died at that step: no result line, no error message of its own (a SIGKILL prints nothing).
      assert.ok(res.failed, `the killed run exited normally:\n${res.stdout}\n${res.stderr}`);
      assert.ok(!/pull request|nothing to change/.test(res.stdout), res.stdout);
      assert.ok(!/^error:/m.test(res.stderr), res.stderr);
      if (step === 'worktree' || step === 'edited' || step === 'validated' || step === 'committed') {
        assert.ok((await leftovers()).length > 0, `a killed run at '${step}' leaves its temporary worktree (the point of this test)`);
      }
      const log: string[] = [];
      const r = await promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', envVars: f.envVars, log: (l) => log.push(l), write: () => {} });
      assert.ok(r.status === 'pr-opened' || r.status === 'pr-updated', r.status);
      assert.deepEqual(await leftovers(), [], 'no temporary folder left');
      assert.equal((await worktrees()).length, 1, 'only the main worktree');
      assert.equal((await f.git(['status', '--porcelain'])).trim(), '');
      assert.deepEqual((await f.git(['for-each-ref', '--format=%(refname)', 'refs/heads'])).trim().split('\n'), ['refs/heads/main'], 'no local branches made');
      assert.equal(f.api.state.pulls.filter((p) => p.state === 'open' && p.head === BRANCH).length, 1, 'one pull request');
      assert.equal((await readdir(path.join(f.work, '.git'))).filter((n) => n.endsWith('.lock')).length, 0, 'no lock files');
    });
  }
});
