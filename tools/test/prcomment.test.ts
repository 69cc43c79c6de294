// The pull request's sticky comment: pr-report composes it (marker, validation summary, rendered
// diff, within GitHub's limit), pr-comment finds it by the marker and updates it in place, against
// the OpenAPI-checked GitHub stand-in.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { prComment } from '../commands/prcomment.js';
import { prReport } from '../commands/prreport.js';
import type { DiffResult } from '../lib/report/diff.js';
import { GitHubError, UsageError } from '../lib/core/errors.js';
import { GitHub, MAX_BODY_CHARS } from '../lib/remote/github.js';
import { formatPrReport, PR_REPORT_MARKER, type ValidationJson } from '../lib/report/prreport.js';
import { REPO_ROOT } from '../lib/core/tools.js';
import { startGitHubApi, type GitHubApiHandle } from './harness/github-api.js';

const TOKEN = 'ghs_prCommentToken123';
const owner = 'crianex';
const repo = 'gitops';
const BOT = 'github-actions[bot]';

const validation: ValidationJson = {
  summary: { error: 1, warning: 1, info: 0, overlays: 2, objects: 9 },
  findings: [
    { severity: 'warning', rule: 'prod-digest-pinned', overlay: 'overlays/crianex/demo/web', resource: 'Deployment/demo/demo-web', message: 'pin | by digest', file: 'overlays/crianex/demo/web/kustomization.yaml', line: 8 },
    { severity: 'error', rule: 'schema', overlay: 'overlays/minikube/demo/web', resource: 'Deployment/demo/demo-web', field: 'spec.replicas', message: 'expected integer' },
  ],
};

function diffOf(overlays: number, fieldsEach = 1): DiffResult {
  return {
    base: 'a'.repeat(40),
    head: 'working tree',
    overlays: Array.from({ length: overlays }, (_, i) => ({
      overlay: `overlays/minikube/sys/app${i}`,
      app: `sys/app${i}`,
      env: 'dev',
      errors: [],
      objects: [{ resource: `Deployment/sys/app${i}`, change: 'changed' as const, fields: Array.from({ length: fieldsEach }, (_, j) => ({ path: `spec.f${j}`, before: 'x'.repeat(150), after: 'y'.repeat(150) })) }],
    })),
  };
}

describe('pr-report', () => {
  test('marker first, summary with errors first, then the rendered diff', () => {
    const body = formatPrReport(validation, diffOf(2));
    const lines = body.split('\n');
    assert.equal(lines[0], PR_REPORT_MARKER);
    assert.match(body, /❌ 2 overlays, 9 objects checked: \*\*1 errors\*\*, 1 warnings, 0 notes/);
    assert.ok(body.indexOf('| error | `schema` |') < body.indexOf('| warning | `prod-digest-pinned` |'), 'errors come first');
    assert.match(body, /pin \\\| by digest/, 'a | in a message cannot break the table');
    assert.match(body, /### Rendered diff/);
    assert.match(body, /overlays\/minikube\/sys\/app1/);
  });

  test("a huge diff drops whole overlays to stay within GitHub's limit", () => {
    const body = formatPrReport(validation, diffOf(400, 3));
    assert.ok(body.length <= MAX_BODY_CHARS, `${body.length}`);
    assert.match(body, /Truncated to fit GitHub's comment limit/);
    assert.equal(body.split('<details>').length, body.split('</details>').length, 'no overlay cut in half');
  });

  test('the command reads the JSON reports; a missing validation report says so instead of failing', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pr-report-'));
    try {
      await writeFile(path.join(dir, 'v.json'), JSON.stringify(validation));
      await writeFile(path.join(dir, 'd.json'), JSON.stringify(diffOf(1)));
      const body = await prReport({ cwd: dir, validation: 'v.json', diff: 'd.json', out: 'c.md' });
      assert.match(body, /1 errors/);
      const missing = await prReport({ cwd: dir, validation: 'nope.json', diff: 'd.json', write: () => {} });
      assert.match(missing, /validation did not produce a report/);
      await writeFile(path.join(dir, 'bad.json'), '{"not":"a report"}');
      await assert.rejects(prReport({ cwd: dir, validation: 'bad.json', write: () => {} }), /bad\.json: not the output of npm run validate -- --format json/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('pr-comment against the GitHub API stand-in', () => {
  let api: GitHubApiHandle;
  let dir: string;
  let number: number;
  let headSha: string;
  const envVars = () => ({ GITHUB_TOKEN: TOKEN, GITHUB_API_URL: api.url, GITHUB_REPOSITORY: `${owner}/${repo}` });
  // pr-comment rebuilds the comment from the artifact's JSON reports.
  const post = async (v: ValidationJson, d: DiffResult, extra: { headSha?: string; pr?: string } = {}) => {
    await writeFile(path.join(dir, 'v.json'), JSON.stringify(v));
    await writeFile(path.join(dir, 'd.json'), JSON.stringify(d));
    return prComment({ cwd: dir, pr: extra.pr ?? String(number), validation: 'v.json', diff: 'd.json', headSha: extra.headSha ?? headSha, envVars: envVars(), log: () => {} });
  };
  const marked = () => api.state.comments.filter((c) => c.issue_number === number && c.body.startsWith(PR_REPORT_MARKER));

  before(async () => {
    api = await startGitHubApi({ owner, repo, token: TOKEN, login: BOT });
    dir = await mkdtemp(path.join(os.tmpdir(), 'pr-comment-'));
    const gh = new GitHub({ baseUrl: api.url, token: TOKEN, owner, repo });
    number = (await gh.createPull({ head: 'feature', base: 'main', title: 'replicas', body: '' })).number;
    headSha = (await gh.getPull(number)).headSha;
    await gh.createComment(number, 'LGTM'); // an unrelated comment stays untouched
  });
  after(async () => {
    await api?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('creates the comment once, then updates that same comment in place', async () => {
    const first = await post(validation, diffOf(1));
    assert.equal(first.action, 'created');
    const second = await post({ ...validation, summary: { ...validation.summary, error: 0 }, findings: [] }, diffOf(2));
    assert.deepEqual(second, { commentId: first.commentId, action: 'updated' });
    assert.equal(marked().length, 1);
    assert.match(marked()[0]!.body, /\*\*0 errors\*\*/);
    const third = await post({ ...validation, summary: { ...validation.summary, error: 0 }, findings: [] }, diffOf(2));
    assert.equal(third.action, 'unchanged');
    assert.ok(api.requests.some((r) => r.operationId === 'issues/update-comment'));
    assert.ok(api.state.comments.some((c) => c.body === 'LGTM'));
  });

  test("the body is the default branch's rendering of the reports; someone else's comment carrying the marker is left alone", async () => {
    api.state.comments.push({ id: 1, issue_number: number, body: `${PR_REPORT_MARKER}\nfake report`, user: 'mallory', created_at: '2024-01-01T00:00:00Z', updated_at: '2024-01-01T00:00:00Z' });
    const r = await post(validation, diffOf(4));
    assert.equal(r.action, 'updated');
    const ours = api.state.comments.find((c) => c.id === r.commentId)!;
    assert.equal(ours.body, formatPrReport(validation, diffOf(4)));
    assert.equal(api.state.comments.find((c) => c.id === 1)!.body, `${PR_REPORT_MARKER}\nfake report`);
  });

  test('refuses when the pull request moved to another commit, or the number is not a number', async () => {
    const before = api.state.comments.map((c) => c.body);
    await assert.rejects(post(validation, diffOf(5), { headSha: 'f'.repeat(40) }), (e: unknown) => e instanceof GitHubError && /belongs to another commit/.test(e.message));
    await assert.rejects(post(validation, diffOf(5), { pr: '1; rm -rf /' }), UsageError);
    await assert.rejects(post(validation, diffOf(5), { headSha: '../../etc' }), UsageError);
    assert.deepEqual(api.state.comments.map((c) => c.body), before);
  });

  test('an oversized body is cut to GitHub\'s limit, keeping the marker that finds it again', async () => {
    const r = await post({ ...validation, findings: Array.from({ length: 500 }, () => ({ ...validation.findings[0]!, message: 'z'.repeat(5000) })) }, diffOf(400, 3));
    const body = api.state.comments.find((c) => c.id === r.commentId)!.body;
    assert.ok(body.length <= MAX_BODY_CHARS);
    assert.ok(body.startsWith(`${PR_REPORT_MARKER}
`), body.slice(0, 80));
    assert.match(body, /Truncated/);
    // Found by that marker: the next report updates the same comment.
    assert.deepEqual(await post(validation, diffOf(1)), { commentId: r.commentId, action: 'updated' });
    assert.equal(marked().filter((c) => c.user === BOT).length, 1);
  });

  test('works from the command line as the workflow calls it', async () => {
    await writeFile(path.join(dir, 'cli-v.json'), JSON.stringify(validation));
    await writeFile(path.join(dir, 'cli-d.json'), JSON.stringify(diffOf(3)));
    const { stderr } = await promisify(execFile)('npx', ['tsx', 'tools/cli.ts', 'pr-comment', '--pr', String(number), '--head-sha', headSha, '--validation', path.join(dir, 'cli-v.json'), '--diff', path.join(dir, 'cli-d.json')], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...envVars() },
      timeout: 60_000,
    });
    assert.match(stderr, /comment \d+ updated/);
    assert.equal(marked().filter((c) => c.user === BOT).length, 1);
    assert.deepEqual(api.violations, []);
  });
});
