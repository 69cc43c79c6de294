// Hostile input, round two (issue 20, the medium and low items): patterns that backtrack,
// template names that reach JavaScript's prototypes, markdown and HTML in the PR comment, huge
// renders, killed runs, symlinked files, and credential-like values. Each case runs the real
// command (validate, diff, pr-comment, ...) on a fixture repository and asserts its outcome.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../lib/core/tools.js';
import type { Finding } from '../lib/report/report.js';
import { goodRepo } from './crosscheck-fixture.js';
import { makeRepo, removeRepo, testEnv } from './fixtures.js';

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
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'tools/cli.ts'), ...args, '--cwd', cwd], {
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
    assert.match(templ('ctor-field')?.message ?? '', /nil pointer evaluating interface \{\}\.name/);
    assert.match(templ('ctor-index')?.message ?? '', /len of type/);
    assert.doesNotMatch(run.stdout + run.stderr, /native code|function Object/);
  });
});
