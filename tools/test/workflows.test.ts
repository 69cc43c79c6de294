// .github/workflows: actionlint (pinned, with Debian's shellcheck) passes; every `npm run` they call
// is a script with flags the CLI knows; actions pinned by commit; least-privilege permissions; the
// job holding a write token never runs the pull request's code.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { COMMANDS } from '../lib/cli/cliargs.js';
import { findActionlint, REPO_ROOT } from '../lib/core/tools.js';

const WORKFLOWS = path.join(REPO_ROOT, '.github', 'workflows');

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  if?: string;
}
interface Job {
  permissions?: Record<string, string> | string;
  steps: Step[];
  if?: string;
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string> | string;
  jobs: Record<string, Job>;
}

async function workflows(): Promise<Array<{ file: string; text: string; wf: Workflow }>> {
  const files = (await readdir(WORKFLOWS)).filter((f) => /\.ya?ml$/.test(f)).sort();
  return Promise.all(files.map(async (file) => {
    const text = await readFile(path.join(WORKFLOWS, file), 'utf8');
    return { file, text, wf: parse(text) as Workflow };
  }));
}

function shellcheck(): string {
  return execFileSync('sh', ['-c', 'command -v shellcheck'], { encoding: 'utf8' }).trim();
}

function actionlint(bin: string, files: string[]): { code: number; out: string } {
  try {
    return { code: 0, out: execFileSync(bin, ['-no-color', '-shellcheck', shellcheck(), ...files], { encoding: 'utf8', stdio: 'pipe' }) };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { code: err.status, out: `${err.stdout}${err.stderr}` };
  }
}

describe('workflows', () => {
  test('actionlint, with shellcheck on the run: scripts, finds nothing', async () => {
    const bin = await findActionlint();
    const files = (await workflows()).map((w) => path.join(WORKFLOWS, w.file));
    assert.ok(files.length >= 4, `expected the workflows, got ${files.join(', ')}`);
    const r = actionlint(bin, files);
    assert.equal(r.code, 0, r.out);
  });

  test('actionlint really runs shellcheck: an unquoted variable in a fixture workflow is reported', async () => {
    const bin = await findActionlint();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'actionlint-'));
    try {
      const file = path.join(dir, 'bad.yml');
      await writeFile(file, 'on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo $HOME/$1\n');
      const r = actionlint(bin, [file]);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /shellcheck reported issue.*SC2086/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('every `npm run X` is a package.json script, and every flag passed is one the CLI declares for X', async () => {
    const scripts = (JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const calls: string[] = [];
    for (const { file, wf } of await workflows()) {
      for (const job of Object.values(wf.jobs)) {
        for (const step of job.steps) {
          for (const m of (step.run ?? '').matchAll(/npm run (?:-s )?([a-z][\w:-]*)([^\n|;&>]*)/g)) {
            const [, name, rest] = m as unknown as [string, string, string];
            calls.push(`${file}: ${name}`);
            assert.ok(scripts[name], `${file}: npm run ${name} is not a script in package.json`);
            const cmd = /tsx tools\/cli\.ts ([\w-]+)/.exec(scripts[name]!)?.[1];
            if (!cmd) continue; // a script that is not a toolkit command
            const spec = COMMANDS[cmd];
            assert.ok(spec, `${file}: npm run ${name} runs '${cmd}', which tools/lib/cli/cliargs.ts does not declare`);
            const args = rest.includes(' -- ') || rest.startsWith(' --') ? rest.slice(rest.indexOf('--') + 2) : '';
            for (const flag of args.match(/(?<=\s|^)--[a-z][\w-]*/g) ?? []) {
              assert.ok(flag.slice(2) in spec.options || flag === '--cwd' || flag === '--help', `${file}: npm run ${name} passes ${flag}, which '${cmd}' does not declare`);
            }
          }
        }
      }
    }
    for (const needed of ['validate', 'diff', 'pr-report', 'pr-comment', 'promote', 'bump', 'status']) {
      assert.ok(calls.some((c) => c.endsWith(`: ${needed}`)), `no workflow runs npm run ${needed}`);
    }
  });

  test('every action is pinned by a full commit SHA with its version in a comment', async () => {
    for (const { file, text } of await workflows()) {
      for (const line of text.split('\n').filter((l) => /^\s*(-\s*)?uses:/.test(l))) {
        const m = /uses:\s*([^@\s]+)@([^\s#]+)\s*(#\s*(\S+))?/.exec(line);
        assert.ok(m, `${file}: cannot read '${line.trim()}'`);
        if (m[1]!.startsWith('./')) continue;
        assert.match(m[2]!, /^[0-9a-f]{40}$/, `${file}: ${m[1]} is not pinned by commit`);
        assert.match(m[4] ?? '', /^v\d+(\.\d+)*$/, `${file}: ${m[1]}@${m[2]} has no '# vX.Y.Z' comment`);
      }
    }
  });

  test('least privilege: no workflow-wide grants, every job declares its permissions', async () => {
    for (const { file, wf } of await workflows()) {
      assert.deepEqual(wf.permissions, {}, `${file}: set permissions: {} at the top and grant per job`);
      for (const [name, job] of Object.entries(wf.jobs)) {
        assert.equal(typeof job.permissions, 'object', `${file}: job ${name} declares no permissions`);
        for (const [scope, level] of Object.entries(job.permissions as Record<string, string>)) {
          assert.ok(['read', 'write', 'none'].includes(level), `${file}: ${name}: ${scope}: ${level}`);
        }
      }
    }
  });

  test('the pull-request workflow (which runs the PR code) holds no write token but code scanning, and no secrets', async () => {
    const all = await workflows();
    const pr = all.filter(({ wf }) => 'pull_request' in wf.on || 'pull_request_target' in wf.on);
    assert.ok(pr.length);
    for (const { file, text, wf } of pr) {
      assert.ok(!('pull_request_target' in wf.on), `${file}: pull_request_target runs with a write token`);
      assert.doesNotMatch(text, /secrets\./, `${file} reads secrets`);
      for (const [name, job] of Object.entries(wf.jobs)) {
        const writes = Object.entries(job.permissions as Record<string, string>).filter(([, l]) => l === 'write').map(([s]) => s);
        assert.deepEqual(writes.filter((s) => s !== 'security-events'), [], `${file}: ${name} can write ${writes.join(', ')}`);
      }
    }
  });

  test('the workflow_run comment job never checks out or runs the pull request\'s code', async () => {
    const all = await workflows();
    const runs = all.filter(({ wf }) => 'workflow_run' in wf.on);
    assert.equal(runs.length, 1);
    for (const { file, wf } of runs) {
      for (const [name, job] of Object.entries(wf.jobs)) {
        for (const step of job.steps) {
          if (step.uses?.startsWith('actions/checkout@')) {
            assert.equal(step.with?.ref, '${{ github.event.repository.default_branch }}', `${file}: ${name} checks out something other than the default branch`);
            assert.equal(step.with?.['persist-credentials'], false);
          }
          assert.doesNotMatch(JSON.stringify(step), /head_branch|head_repository|pull_requests\[|refs\/pull/, `${file}: ${name} refers to the PR's code`);
        }
        assert.ok(job.steps.some((s) => s.uses?.startsWith('actions/download-artifact@')), `${file}: ${name} does not read the artifact`);
      }
    }
  });

  test('release jobs run one at a time per app and environment', async () => {
    const all = await workflows();
    const release = all.filter(({ wf }) => 'workflow_dispatch' in wf.on && 'repository_dispatch' in wf.on);
    assert.equal(release.length, 1);
    const { text } = release[0]!;
    assert.match(text, /concurrency:\n\s+group: release-\$\{\{ github\.event\.inputs\.app \|\| github\.event\.client_payload\.app \}\}-\$\{\{ github\.event\.inputs\.env \|\| github\.event\.client_payload\.env \}\}\n\s+cancel-in-progress: false/);
  });
});
