// Hostile input, round two (issue 20, the medium and low items): patterns that backtrack,
// template names that reach JavaScript's prototypes, markdown and HTML in the PR comment, huge
// renders, killed runs, symlinked files, and credential-like values. Each case runs the real
// command (validate, diff, pr-comment, ...) on a fixture repository and asserts its outcome.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { classifyPush, Git } from '../lib/remote/git.js';
import { GitError } from '../lib/core/errors.js';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT } from '../lib/core/tools.js';
import type { Finding } from '../lib/core/finding.js';
import { describeFailure, GitHub } from '../lib/remote/github.js';
import { PR_REPORT_MARKER } from '../lib/report/prreport.js';
import { prComment } from '../commands/prcomment.js';
import { prReport } from '../commands/prreport.js';
import { goodRepo } from './crosscheck-fixture.js';
import { startGitHubApi } from './harness/github-api.js';
import { commitAll, gitInit, makeRepo, removeRepo, testEnv } from './fixtures.js';
import { baseFiles } from './repo-fixture.js';
import { digestOf, finishFixture, overlayFile, startReleaseFixture, TOKEN } from './release-fixture.js';
import { promote } from '../commands/promote.js';
import { prMarker } from '../lib/release/release.js';
import { recordedPids } from '../lib/server/pidfolder.js';
import { findApiServer } from '../lib/core/tools.js';

const dirs: string[] = [];
after(async () => {
  if (!process.env.KEEP_HOSTILE) await Promise.all(dirs.map(removeRepo));
});

async function repo(files: Record<string, string>): Promise<string> {
  const dir = await makeRepo(files);
  dirs.push(dir);
  return dir;
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

/**
 * Runs the toolkit's CLI (one node process, its own process group) and kills the whole group
 * after `timeoutMs`: a hung run is a failed assertion, never a hung test.
 */
export function cli(args: string[], cwd: string, opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<CliRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'tools/cli.ts'), args[0]!, '--cwd', cwd, ...args.slice(1)], {
      cwd: REPO_ROOT,
      env: { ...testEnv, CI: '', ...opts.env },
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, opts.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started, timedOut });
    });
  });
}

const findingsOf = (r: CliRun): Finding[] => (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
const show = (r: CliRun) => `exit ${r.code}${r.timedOut ? ' (killed at the timeout)' : ''}\n${r.stdout.slice(0, 4000)}\n${r.stderr.slice(0, 4000)}`;
const STACK = /\n\s+at .+\(.+:\d+:\d+\)/;

/** validate --format json --no-server, bounded in time; asserts it ended on its own with a report. */
async function validate(dir: string, extra: string[] = [], timeoutMs = 90_000): Promise<{ run: CliRun; findings: Finding[] }> {
  const run = await cli(['validate', '--format', 'json', '--no-server', ...extra], dir, { timeoutMs });
  assert.equal(run.timedOut, false, `validate did not finish within ${timeoutMs / 1000} s: ${show(run)}`);
  assert.ok(run.code === 0 || run.code === 1, show(run));
  assert.doesNotMatch(run.stdout + run.stderr, STACK, 'a stack trace');
  return { run, findings: findingsOf(run) };
}

const errorsOf = (fs: Finding[], rule: RegExp) => fs.filter((f) => f.severity === 'error' && rule.test(f.rule)).map((f) => `${f.rule} ${f.resource} ${f.message}`);

const A = (n: number) => 'a'.repeat(n);
// `*a*a...*a*c`: polynomial backtracking (C(n, 20) steps) on a name of n a's in a backtracking engine.
const STARS = `${'*a'.repeat(20)}*c`;

describe('ReDoS: every pattern from the repository is matched in linear time', () => {
  test('an ApplicationSet files generator glob', async () => {
    const appset = goodRepo()['clusters/kind/applicationset.yaml'].replace(
      '          - path: overlays/kind/*/*/kustomization.yaml\n',
      `          - path: overlays/kind/*/*/kustomization.yaml\n          - path: 'overlays/${STARS}/kustomization.yaml'\n`,
    );
    assert.notEqual(appset, goodRepo()['clusters/kind/applicationset.yaml']);
    const dir = await repo({ ...goodRepo(), 'clusters/kind/applicationset.yaml': appset, [`overlays/${A(80)}.md`]: 'x\n' });
    const { findings } = await validate(dir);
    assert.deepEqual(errorsOf(findings, /^argo-/), []);
  });

  test('a patch target name `(a+)+b` (a Go regexp: RE2 semantics, as kustomize matches it)', async () => {
    const name = A(40);
    const dir = await repo({
      ...goodRepo(),
      'overlays/kind/shop/web/kustomization.yaml': `namespace: shop
resources:
  - ../../../../apps/shop/web
  - long.yaml
patches:
  - target: {kind: Deployment, name: "(a+)+b"}
    patch: |-
      - op: add
        path: /metadata/labels/x
        value: y
  - target: {kind: Deployment, name: "a+"}
    patch: |-
      - op: add
        path: /spec/template/spec/containers/0/image
        value: registry.example.com/long:latest
`,
      'overlays/kind/shop/web/long.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  selector: {matchLabels: {app: long}}
  template:
    metadata: {labels: {app: long}}
    spec:
      containers:
        - name: c
          image: registry.example.com/long:1.0.0
`,
    });
    const { findings } = await validate(dir);
    // The `a+` patch wrote the :latest image: the finding points at that patch, found through both targets.
    const latest = findings.find((f) => f.resource === `Deployment/shop/${name}` && /latest/.test(f.message));
    assert.ok(latest, findings.map((f) => `${f.rule} ${f.resource} ${f.message}`).join('\n'));
    assert.equal(latest.file, 'overlays/kind/shop/web/kustomization.yaml');
    const status = await cli(['status', '--format', 'json'], dir, { timeoutMs: 90_000 });
    assert.equal(status.timedOut, false, show(status));
  });

  test('a gitops.yaml overlays glob', async () => {
    const files = goodRepo();
    const dir = await repo({
      ...files,
      'gitops.yaml': files['gitops.yaml'].replace('    overlayRoot: overlays/kind\n', `    overlays: ["overlays/kind/shop/*", "overlays/kind/${STARS}/*"]\n`),
      [`overlays/kind/${A(70)}c/x/kustomization.yaml`]: 'namespace: shop\nresources:\n  - cm.yaml\n',
      [`overlays/kind/${A(70)}c/x/cm.yaml`]: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n',
      [`overlays/kind/${A(70)}/y/kustomization.yaml`]: 'resources: []\n',
    });
    const { findings } = await validate(dir);
    // The long folder ending in c is an overlay of the second pattern; the one without is unmatched.
    assert.deepEqual(errorsOf(findings, /^(layout-|empty-render|app-id|nothing-)/), []);
    assert.ok(findings.some((f) => f.resource === 'ConfigMap/shop/x'), 'the overlay the glob matches was validated');
    const status = await cli(['status', '--format', 'json'], dir, { timeoutMs: 90_000 });
    assert.equal(status.timedOut, false, show(status));
  });

  test('a gitops.yaml glob that is not a valid pattern is a finding at its line, not a crash', async () => {
    const files = goodRepo();
    const dir = await repo({ ...files, 'gitops.yaml': files['gitops.yaml'].replace('    overlayRoot: overlays/kind\n', '    overlays: ["overlays/kind/[[:nope:]]/*"]\n') });
    const run = await cli(['validate', '--format', 'json', '--no-server'], dir, { timeoutMs: 60_000 });
    assert.doesNotMatch(run.stdout + run.stderr, STACK);
    assert.match(run.stdout + run.stderr, /gitops\.yaml.*overlays.*not a valid glob/s, show(run));
  });
});

/** An ApplicationSet with a list generator whose Application name is `name` (a template). */
const listAppSet = (setName: string, name: string, goTemplate: boolean) => `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: ${setName}
  namespace: argocd
spec:
${goTemplate ? '  goTemplate: true\n' : ''}  generators:
    - list:
        elements:
          - {app: web}
  template:
    metadata:
      name: ${JSON.stringify(name)}
    spec:
      project: shop
      source:
        repoURL: https://example.com/gitops.git
        targetRevision: main
        path: overlays/kind/shop/web
      destination:
        server: https://kubernetes.default.svc
        namespace: shop
`;

describe('ApplicationSet templates: names of JavaScript prototype members are not template functions or keys', () => {
  test('{{ hasOwnProperty }}, {{ constructor }} and {{ .constructor }} fail as in Argo CD: a clear argo-template finding each, no crash', async () => {
    const files = goodRepo();
    const dir = await repo({
      ...files,
      'clusters/kind/kustomization.yaml': `${files['clusters/kind/kustomization.yaml']}  - hostile-appsets.yaml\n`,
      'clusters/kind/hostile-appsets.yaml': [
        listAppSet('own', 'x-{{ hasOwnProperty }}', true),
        listAppSet('ctor', 'x-{{ constructor }}', true),
        listAppSet('ctor-field', 'x-{{ .constructor.name }}', true),
        listAppSet('ctor-index', 'x-{{ index . "constructor" | len }}', true),
      ].join('---\n'),
    });
    const { run, findings } = await validate(dir);
    assert.equal(run.code, 1, show(run));
    const templ = (set: string) => findings.find((f) => f.rule === 'argo-template' && f.resource === `ApplicationSet/argocd/${set}`);
    assert.match(templ('own')?.message ?? '', /function "hasOwnProperty" not defined/, findings.map((f) => `${f.rule} ${f.resource} ${f.message}`).join('\n'));
    assert.match(templ('ctor')?.message ?? '', /function "constructor" not defined/);
    // Argo CD's own template code decides `.constructor.name` (a missing key): never a JavaScript member.
    assert.doesNotMatch(templ('ctor-field')?.message ?? '', /native code|function Object/);
    assert.match(templ('ctor-index')?.message ?? '', /error calling len|len of type/);
    assert.doesNotMatch(run.stdout + run.stderr, /native code|function Object/);
  });
});

const HOSTILE_MD = '<img src=x onerror=alert(1)></summary></details>@octocat #1 [x](https://evil.example) <!-- c -->';

/**
 * The prose of a markdown comment (outside code spans, <code> elements and the diff fences the toolkit writes):
 * it may hold no HTML but the toolkit's own tags, no comment but the marker, no mention,
 * issue reference or link.
 */
function assertInertMarkdown(md: string): void {
  let inFence = false;
  const prose: string[] = [];
  for (const l of md.split('\n')) {
    if (l.startsWith('```')) {
      assert.ok(inFence ? l === '```' : l === '```diff', `a fence line the toolkit did not write: ${l}`);
      inFence = !inFence;
    } else if (!inFence) prose.push(l.replace(/`[^`\n]*`/g, '').replace(/<code>[^<]*<\/code>/g, '').replace(/<\/?(details|summary)>/g, ''));
  }
  assert.equal(inFence, false, 'an unclosed fence');
  const text = prose.join('\n').replace(PR_REPORT_MARKER, '');
  assert.doesNotMatch(text, /<[a-z!/]|@octocat|#1\b|\]\(|https?:/i, text);
}

describe('the pull request comment: no HTML, mention or link from the repository or the artifact', () => {
  test("a finding's message quoting repository text sits in a code span (validate, diff, pr-report as CI runs them)", async () => {
    const files = goodRepo();
    const dir = await repo({ ...files });
    gitInit(dir, 'base');
    await writeFile(path.join(dir, 'overlays/kind/shop/web/kustomization.yaml'), `${files['overlays/kind/shop/web/kustomization.yaml']}${JSON.stringify(HOSTILE_MD)}: 1\n`);
    commitAll(dir, 'hostile key');
    const v = await cli(['validate', '--format', 'json', '--no-server', '--base', 'HEAD~1', '--changed-only'], dir, { timeoutMs: 90_000 });
    assert.ok(v.stdout.includes('@octocat'), `the finding quotes the hostile key: ${show(v)}`);
    const d = await cli(['diff', '--base', 'HEAD~1', '--format', 'json'], dir, { timeoutMs: 90_000 });
    await writeFile(path.join(dir, 'v.json'), v.stdout);
    await writeFile(path.join(dir, 'd.json'), d.stdout);
    const body = await prReport({ cwd: dir, validation: 'v.json', diff: 'd.json', write: () => {} });
    assert.ok(body.includes('@octocat'), 'the message is shown, in a code span');
    assertInertMarkdown(body);
  });

  test("pr-comment rebuilds the comment from the artifact's JSON: a forged report's HTML, mentions and links are never posted", async () => {
    const api = await startGitHubApi({ owner: 'o', repo: 'r', token: 'ghs_hostileRound2', login: 'github-actions[bot]' });
    try {
      const gh = new GitHub({ baseUrl: api.url, token: 'ghs_hostileRound2', owner: 'o', repo: 'r' });
      const number = (await gh.createPull({ head: 'fork', base: 'main', title: 't', body: '' })).number;
      const dir = await repo({
        // Every field of the artifact is the fork's: strings where numbers go, HTML in the enums.
        'validate.json': JSON.stringify({
          summary: { error: `1 <img src=x onerror=alert(1)>`, warning: 0, info: 0, overlays: '@octocat', objects: 1 },
          findings: [
            { severity: HOSTILE_MD, rule: HOSTILE_MD, overlay: HOSTILE_MD, resource: HOSTILE_MD, message: HOSTILE_MD, file: HOSTILE_MD, line: HOSTILE_MD, field: HOSTILE_MD },
          ],
        }).replace('"1 <img src=x onerror=alert(1)>"', '1'),
        'diff.json': JSON.stringify({
          base: HOSTILE_MD,
          head: HOSTILE_MD,
          notes: [HOSTILE_MD],
          overlays: [{ overlay: HOSTILE_MD, app: HOSTILE_MD, env: HOSTILE_MD, errors: [HOSTILE_MD], objects: [{ resource: `${HOSTILE_MD}\n\`\`\`\n${HOSTILE_MD}`, change: HOSTILE_MD, fields: [{ path: HOSTILE_MD, before: HOSTILE_MD, after: { x: HOSTILE_MD } }] }] }],
        }),
        // The old artifact's ready-made comment: never read any more.
        'comment.md': `${PR_REPORT_MARKER}\n${HOSTILE_MD}\n`,
      });
      const r = await prComment({ cwd: dir, pr: String(number), validation: 'validate.json', diff: 'diff.json', envVars: { GITHUB_TOKEN: 'ghs_hostileRound2', GITHUB_API_URL: api.url, GITHUB_REPOSITORY: 'o/r' }, log: () => {} });
      const posted = api.state.comments.find((c) => c.id === r.commentId)!.body;
      assert.ok(posted.startsWith(PR_REPORT_MARKER));
      assert.ok(posted.includes('@octocat'), 'the forged text is shown as text');
      assertInertMarkdown(posted);
      assert.deepEqual(api.violations, []);
    } finally {
      await api.stop();
    }
  });
});

/**
 * An overlay whose render is 2^levels copies of a ConfigMap of `mib` MiB: every file is small
 * enough, the render is not (namePrefix keeps the copies distinct).
 */
function generatedRender(levels: number, mib: number): Record<string, string> {
  const files: Record<string, string> = {
    'apps/gen/l0/kustomization.yaml': 'resources:\n  - cm.yaml\n',
    'apps/gen/l0/cm.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  blob: "${'x'.repeat(mib * 1024 * 1024)}"\n`,
  };
  const below = (k: number) => (k === 0 ? ['../l0'] : [`../l${k}a`, `../l${k}b`]);
  for (let k = 1; k < levels; k++) {
    for (const side of ['a', 'b']) files[`apps/gen/l${k}${side}/kustomization.yaml`] = `namePrefix: ${side}-\nresources:\n${below(k - 1).map((r) => `  - ${r}\n`).join('')}`;
  }
  files['overlays/kind/shop/gen/kustomization.yaml'] = `namespace: shop\nresources:\n${below(levels - 1).map((r) => `  - ../../../../apps/gen/${r.slice(3)}\n`).join('')}`;
  return files;
}

describe('the rendered-output limit holds for generated renders', () => {
  test('a render of 72 MiB from small files is a kustomize-build error naming the overlay, with the renderer and with the kustomize binary', async () => {
    const dir = await repo({ ...goodRepo(), ...generatedRender(6, 2.25) });
    for (const env of [{}, { GITOPS_NO_RENDERER: '1' }]) {
      const run = await cli(['validate', '--format', 'json', '--no-server', '--app', 'shop/gen'], dir, { timeoutMs: 300_000, env });
      assert.equal(run.timedOut, false, show(run));
      assert.equal(run.code, 1, show(run));
      const f = findingsOf(run).find((x) => x.rule === 'kustomize-build' && x.overlay === 'overlays/kind/shop/gen');
      assert.match(f?.message ?? '', /larger than 64 MiB/, `${JSON.stringify(env)}: ${show(run)}`);
    }
  });
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('a SIGKILLed validate leaves nothing the next run does not reap', () => {
  test('kube-apiserver, etcd and their folder of a killed run are removed by the next validate', async (t) => {
    if ('missing' in (await findApiServer(testEnv))) return t.skip('kube-apiserver and etcd are not installed (npm run setup)');
    const dir = await repo(baseFiles());
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'tools/cli.ts'), 'validate', '--format', 'json', '--cwd', dir], { cwd: REPO_ROOT, env: { ...testEnv, CI: '' }, stdio: 'ignore' });
    const pids: number[] = [];
    let folder = '';
    try {
      // Wait until the run recorded both servers, then kill it as the OOM killer or a CI timeout would.
      for (let i = 0; i < 240 && pids.length < 2; i++) {
        await sleep(500);
        const name = (await readdir(os.tmpdir())).find((n) => n.startsWith(`gitops-apiserver-${child.pid}-`));
        if (!name) continue;
        folder = path.join(os.tmpdir(), name);
        // What the run recorded for the next one to reap (server/pidfolder.ts).
        pids.splice(0, pids.length, ...recordedPids(folder).map((r) => r.pid));
      }
      assert.equal(pids.length, 2, 'the run recorded etcd and kube-apiserver');
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      await sleep(200);
      assert.ok(pids.every(alive), 'control: a SIGKILLed run leaves its servers running');
      assert.ok(existsSync(folder));
      const next = await cli(['validate', '--format', 'json'], dir, { timeoutMs: 240_000 });
      assert.equal(next.timedOut, false, show(next));
      assert.equal(existsSync(folder), false, 'the killed run\'s folder is gone');
      await sleep(200);
      assert.deepEqual(pids.filter(alive), [], 'its etcd and kube-apiserver are gone');
    } finally {
      child.kill('SIGKILL');
      for (const pid of pids) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  });
});

describe('files symlinked out of the repository are refused with a finding', () => {
  test('a secret.env.example symlinked outside: not read, its key names never shown, an outside-repository error', async () => {
    const outside = await repo({ 'leak.env': '# Keys of Secret `api-credentials`\nCANARY_KEY_NAME_7d1f=\nOTHER_CANARY_KEY=\n' });
    const dir = await repo(goodRepo());
    await symlink(path.join(outside, 'leak.env'), path.join(dir, 'apps/shop/api/secret.env.example'));
    gitInit(dir, 'a symlink out of the repository');
    const { run, findings } = await validate(dir);
    assert.doesNotMatch(run.stdout + run.stderr, /CANARY_KEY_NAME_7d1f|OTHER_CANARY_KEY/);
    const f = findings.find((x) => x.rule === 'outside-repository' && x.file === 'apps/shop/api/secret.env.example');
    assert.match(f?.message ?? '', /leaves the repository through a symlink/, findings.map((x) => `${x.rule} ${x.file} ${x.message}`).join('\n'));
    assert.equal(f?.severity, 'error');
  });
});

describe('small things (low)', () => {
  test('SARIF location URIs are percent-encoded per path segment', async () => {
    const files = goodRepo();
    const dir = await repo({ ...files, 'overlays/kind/shop/we b#1%/kustomization.yaml': 'namespace: shop\nresources:\n  - cm.yaml\n', 'overlays/kind/shop/we b#1%/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: [\n' });
    const run = await cli(['validate', '--format', 'sarif', '--no-server'], dir, { timeoutMs: 90_000 });
    const sarif = JSON.parse(run.stdout) as { runs: Array<{ results: Array<{ locations: Array<{ physicalLocation: { artifactLocation: { uri: string } } }> }> }> };
    const uris = sarif.runs[0]!.results.map((r) => r.locations[0]!.physicalLocation.artifactLocation.uri);
    assert.ok(uris.includes('overlays/kind/shop/we%20b%231%25/cm.yaml'), uris.join('\n'));
    for (const u of uris) assert.doesNotMatch(u, /[ #?]|%(?![0-9A-F]{2})/, u);
  });

  test('scale with a negative count says it is a negative number, not an unknown option', async () => {
    const dir = await repo(baseFiles());
    for (const args of [['scale', 'web', 'dev', '-1'], ['rollback', 'web', 'dev', '--steps', '-2']]) {
      const r = await cli(args, dir, { timeoutMs: 60_000 });
      assert.equal(r.code, 2, show(r));
      assert.match(r.stderr, /'-\d' is a negative number; counts are whole numbers from 0 up/, show(r));
      assert.doesNotMatch(r.stderr, /unknown option|ambiguous/);
    }
  });

  test('a rate-limit reset time already past is said so, never shown as 1970', () => {
    const e = describeFailure({ status: 403, message: 'API rate limit exceeded', response: { headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' } } }, 'open a pull request', 30_000, { owner: 'o', repo: 'r', token: 't' });
    assert.doesNotMatch(e.message, /1970/);
    assert.match(e.message, /rate limit exhausted; its reset time has already passed, so a retry now should work/);
    const future = describeFailure({ status: 403, message: 'x', response: { headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 600) } } }, 'x', 30_000, { owner: 'o', repo: 'r', token: 't' });
    assert.match(future.message, /resets at \d{4}-.* \(in 1\d min\)/);
  });
});

describe('release.yml', () => {
  const wf = async () => parseYaml(await readFile(path.join(REPO_ROOT, '.github/workflows/release.yml'), 'utf8')) as { jobs: Record<string, { if?: string; environment?: unknown; steps: Array<{ run?: string }> }> };

  test('runs only on the default branch, in a protected GitHub environment', async () => {
    const job = (await wf()).jobs.release!;
    assert.equal(job.if, "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)");
    assert.equal(job.environment, 'release');
  });

  test("inputs reach the toolkit after '--': an app named --help is an unknown app (exit 2), not the help (exit 0, no release)", async () => {
    const dir = await repo(baseFiles());
    const lines = (await wf()).jobs.release!.steps.flatMap((s) => (s.run ?? '').split('\n')).filter((l) => /npm run -s (promote|bump) /.test(l));
    assert.equal(lines.length, 2);
    const values: Record<string, string> = { APP: '--help', TARGET_ENV: 'prod', IMAGE: 'registry.example.com/demo-web:1.0.0' };
    for (const line of lines) {
      // As the shell and npm pass them: npm consumes the first '--'.
      const words = line.trim().split(/\s+/).slice(4).map((w) => w.replace(/^"\$(\w+)"$/, (_, v: string) => values[v]!));
      assert.equal(words.shift(), '--');
      const r = await cli([line.includes('promote') ? 'promote' : 'bump', '--dry-run', ...words], dir, { timeoutMs: 60_000, env: { GITHUB_TOKEN: 'x' } });
      assert.notEqual(r.code, 0, `${line}: ${show(r)}`);
      assert.doesNotMatch(r.stdout, /^usage:|Options:/m, 'the help was printed');
    }
  });
});

describe('kustomizations (low)', () => {
  test('a one-line (flow style) inline transformer is scanned like a block: a KRM function is refused', async () => {
    const files = goodRepo();
    const dir = await repo({
      ...files,
      'overlays/kind/shop/web/kustomization.yaml': `${files['overlays/kind/shop/web/kustomization.yaml']}transformers:\n  - '{apiVersion: example.com/v1, kind: Exfil, metadata: {name: x, annotations: {config.kubernetes.io/function: "container: {image: evil.example.com/exfil:1}"}}}'\n`,
    });
    const { findings } = await validate(dir);
    const f = findings.find((x) => x.rule === 'krm-function' && x.file === 'overlays/kind/shop/web/kustomization.yaml');
    assert.match(f?.message ?? '', /inline transformers entry requests a container KRM function \(Exfil\)/, findings.map((x) => `${x.rule} ${x.file} ${x.message}`).join('\n'));
  });
});

describe('symlinked kustomizations (low)', () => {
  test('an overlay whose kustomization is a symlink out of the repository is refused; a `self -> .` loop is one cycle error', async () => {
    const outside = await repo({ 'kustomization.yaml': 'namespace: shop\nresources:\n  - cm.yaml\n', 'cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: outside-canary-3c9e\n' });
    const files = goodRepo();
    const dir = await repo({ ...files, 'overlays/kind/shop/web/kustomization.yaml': `${files['overlays/kind/shop/web/kustomization.yaml']}  - self\n` });
    await mkdir(path.join(dir, 'overlays/kind/shop/evil'));
    await symlink(path.join(outside, 'kustomization.yaml'), path.join(dir, 'overlays/kind/shop/evil/kustomization.yaml'));
    await symlink('.', path.join(dir, 'overlays/kind/shop/web/self'));
    gitInit(dir, 'symlinks');
    const { run, findings } = await validate(dir);
    assert.doesNotMatch(run.stdout, /outside-canary-3c9e/);
    const all = findings.map((x) => `${x.rule} ${x.file}:${x.line ?? ''} ${x.message}`).join('\n');
    assert.ok(findings.some((x) => x.rule === 'outside-repository' && x.file === 'overlays/kind/shop/evil/kustomization.yaml' && /leaves the repository through a symlink/.test(x.message)), all);
    const web = findings.filter((x) => x.severity === 'error' && x.overlay === 'overlays/kind/shop/web' && !/^(no-latest-image|schema)/.test(x.rule));
    assert.equal(web.length, 1, all);
    assert.equal(web[0]!.rule, 'kustomization-cycle');
    assert.equal(web[0]!.line, 4);
    assert.match(web[0]!.message, /overlays\/kind\/shop\/web(\/self)? is overlays\/kind\/shop\/web again \(through a symlink\)/);
    assert.doesNotMatch(all, /self\/self/);
  });
});

describe('credential-like values outside the token shapes are redacted in the diff (low)', () => {
  test('a DSN Password=, properties password=, JSON, --db-password args, last-applied Secret JSON and a Secret value copied into a ConfigMap', async () => {
    const SECRETS = ['dsn-hunter2-41', 'props-hunter2-42', 'json-hunter2-43', 'args-hunter2-44', 'argsEq-hunter2-45', 'lastapplied-hunter2-46', 'copied-hunter2-47'];
    const files = goodRepo();
    const b64 = (v: string) => Buffer.from(v).toString('base64');
    // Changed objects (not added ones, which the diff lists without values): base with placeholders.
    const creds = (S: string[]) => `apiVersion: v1
kind: ConfigMap
metadata:
  name: looks-harmless
data:
  dsn: "Server=db;Database=shop;User Id=app;Password=${S[0]};"
  app.properties: |
    spring.datasource.url=jdbc:postgresql://db/shop
    spring.datasource.password=${S[1]}
  config.json: '{"db": {"host": "db", "password": "${S[2]}"}}'
  last-applied: '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"},"data":{"k":"${b64(S[5]!)}"},"stringData":{"s":"${S[5]}"}}'
  copy: "prefix ${S[6]} suffix"
---
apiVersion: v1
kind: Secret
metadata:
  name: real-secret
stringData:
  value: ${S[6]}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: m
          image: registry.example.com/migrate:1.0.0
          args: ["--db-password", "${S[3]}", "--api-token=${S[4]}", "--port", "5432"]
`;
    const dir = await repo({
      ...files,
      'overlays/kind/shop/web/kustomization.yaml': `${files['overlays/kind/shop/web/kustomization.yaml']}  - creds.yaml\n`,
      'overlays/kind/shop/web/creds.yaml': creds(SECRETS.map((_, i) => `placeholder-${i}`)),
    });
    gitInit(dir, 'base');
    await writeFile(path.join(dir, 'overlays/kind/shop/web/creds.yaml'), creds(SECRETS));
    commitAll(dir, 'credentials in plain sight');
    for (const format of ['json', 'text', 'markdown']) {
      const r = await cli(['diff', '--base', 'HEAD~1', '--format', format], dir, { timeoutMs: 90_000 });
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /looks-harmless/);
      assert.match(r.stdout, /migrate/);
      assert.match(r.stdout, /spring\.datasource\.url|placeholder-0/, 'the changed values are shown, redacted where they are credentials');
      for (const s of SECRETS) assert.ok(!r.stdout.includes(s) && !r.stdout.includes(b64(s)), `${format} shows ${s}:\n${r.stdout.slice(0, 3000)}`);
    }
  });
});

describe('release pull requests (low)', () => {
  test("a colleague's pull request ending with the tool's exact marker is not closed as superseded; the tool's own older one is", { timeout: 240_000 }, async () => {
    const f = await startReleaseFixture();
    try {
      const dev = overlayFile('minikube', 'nofluxo/backend');
      const text = (await readFile(path.join(f.work, dev), 'utf8')).replace('newTag: "1.0.0"', `newTag: "1.1.0@${digestOf('nofluxo-backend 1.1.0')}"`);
      await f.pushToMain({ [dev]: text }, 'bump nofluxo/backend in dev');
      await f.pull();
      const marker = prMarker({ kind: 'promote', env: 'prod', appId: 'nofluxo/backend' });
      const main = (await f.remoteRefs()).main!;
      const tree = (await f.remoteGit(['rev-parse', `${main}^{tree}`])).trim();
      const pulls: Record<string, number> = {};
      for (const [head, user] of [['promote/prod/nofluxo-backend-old', undefined], ['colleague/backend-tweak', 'colleague']] as const) {
        const commit = (await f.remoteGit(['-c', 'user.name=C', '-c', 'user.email=c@example.invalid', 'commit-tree', tree, '-p', main, '-m', `work on ${head}`])).trim();
        await f.remoteGit(['update-ref', `refs/heads/${head}`, commit]);
        const res = await fetch(`${f.api.url}/repos/crianex/gitops/pulls`, { method: 'POST', headers: { Authorization: `token ${TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ title: head, head, base: 'main', body: `by hand\n\n${marker}` }) });
        const body = await res.text();
        assert.equal(res.status, 201, body);
        const n = (JSON.parse(body) as { number: number }).number;
        // Opened by another account: the harness records the author; a colleague's token is another user.
        if (user) f.api.state.pulls.find((p) => p.number === n)!.user = user;
        pulls[head] = n;
      }
      const r = await promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', envVars: f.envVars, log: () => {}, write: () => {} });
      const state = (n: number) => f.api.state.pulls.find((p) => p.number === n)!.state;
      assert.equal(state(pulls['colleague/backend-tweak']!), 'open', "the colleague's pull request stays open");
      assert.equal(state(pulls['promote/prod/nofluxo-backend-old']!), 'closed');
      assert.deepEqual(r.superseded, [pulls['promote/prod/nofluxo-backend-old']]);
    } finally {
      await finishFixture(f);
    }
  });
});

describe('git against origin (low)', () => {
  test('an origin that redirects elsewhere is reported as a redirect, not as the token refused', async () => {
    const elsewhere = createServer((_req, res) => {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="x"' });
      res.end('no');
    });
    await new Promise<void>((r) => elsewhere.listen(0, '127.0.0.1', r));
    const other = (elsewhere.address() as AddressInfo).port;
    const origin = createServer((req, res) => {
      res.writeHead(301, { Location: `http://127.0.0.1:${other}${req.url}` });
      res.end();
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const port = (origin.address() as AddressInfo).port;
    try {
      const dir = await repo({ 'README.md': 'x\n' });
      gitInit(dir, 'x');
      execFileSync('git', ['remote', 'add', 'origin', `http://127.0.0.1:${port}/crianex/gitops.git`], { cwd: dir });
      const g = new Git(dir, { token: 'ghs_redirectTestToken0123456789abcdef', httpBase: `http://127.0.0.1:${port}/`, timeoutMs: 30_000, envVars: testEnv });
      await assert.rejects(g.fetch(), (e: Error) => {
        assert.ok(e instanceof GitError, String(e));
        assert.match(e.message, new RegExp(`origin redirected to http://127\\.0\\.0\\.1:${other}\\b`), e.message);
        assert.doesNotMatch(`${e.message} ${(e as GitError).hint ?? ''}`, /was refused|ghs_redirect/);
        return true;
      });
    } finally {
      origin.close();
      elsewhere.close();
    }
  });

  test('a push that lost a race for the ref is a race, not a server refusal', () => {
    for (const out of [
      // git push --porcelain, as the toolkit runs it
      'To http://127.0.0.1/x.git\n!\trefs/heads/promote/prod/x:refs/heads/promote/prod/x\t[remote rejected] (failed to lock)\nDone',
      '!\trefs/heads/promote/prod/x:refs/heads/promote/prod/x\t[remote rejected] (reference already exists)\n',
      '!\trefs/heads/main:refs/heads/main\t[remote rejected] (atomic transaction failed)\n',
    ]) assert.equal(classifyPush(out).kind, 'race', out);
    assert.equal(classifyPush('remote: no pushes on Fridays\n!\trefs/heads/x:refs/heads/x\t[remote rejected] (pre-receive hook declined)\n').kind, 'refused');
  });
});
