// Hostile input, round two (issue 20, the critical and high items): helm argument injection,
// the deprecated helmChartInflationGenerator, the push token sent where the repository says,
// remote fetching switched on by the pull request itself, secret values in error messages, a
// reviewer's amended release commit, and YAML that kustomize and the toolkit could read
// differently. Each test fails on the code before the fix.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { baseFiles, makeRepo, removeRepo, testEnv } from './repo-fixture.js';

const hostile = (name: string) => `overlays/minikube/hostile/${name}`;

function overlay(name: string, body: string): Record<string, string> {
  return { [`${hostile(name)}/kustomization.yaml`]: `namespace: hostile\n${body}` };
}

function argocdCm(buildOptions: string): Record<string, string> {
  return {
    'clusters/minikube/kustomization.yaml': 'resources:\n  - argocd-cm.yaml\n',
    'clusters/minikube/argocd-cm.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\ndata:\n  kustomize.buildOptions: ${buildOptions}\n`,
  };
}

/** A local chart in `<overlay>/charts/chart` (what kustomize renders without any fetch). */
function chart(name: string, chartName = 'chart'): Record<string, string> {
  return {
    [`${hostile(name)}/charts/${chartName}/Chart.yaml`]: `apiVersion: v2\nname: ${chartName}\nversion: 0.1.0\n`,
    [`${hostile(name)}/charts/${chartName}/values.yaml`]: '{}\n',
    [`${hostile(name)}/charts/${chartName}/templates/cm.yaml`]: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: chart\n',
  };
}

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/**
 * A stand-in for the pinned helm (GITOPS_HELM) that records every argv kustomize gives it, one
 * line of NUL-separated arguments per call, and prints one object for `template`.
 */
async function recordingHelm(): Promise<{ bin: string; calls: () => Promise<string[][]> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gitops-r2-helm-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'calls.log');
  const bin = path.join(dir, 'helm');
  await writeFile(bin, `#!/bin/sh\nfor a in "$@"; do printf '%s\\037' "$a"; done >> '${log}'\necho >> '${log}'\n[ "$1" = version ] && { echo v3.19.5+g0; exit 0; }\nprintf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: from-helm\\n'\n`);
  await chmod(bin, 0o755);
  return {
    bin,
    calls: async () => ((await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => l.split('\x1f').filter((a, i, all) => i < all.length - 1 || a !== ''))),
  };
}

async function withHelm<T>(bin: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.GITOPS_HELM;
  process.env.GITOPS_HELM = bin;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.GITOPS_HELM;
    else process.env.GITOPS_HELM = saved;
  }
}

describe('helm argument injection: every chart value that reaches helm is checked before kustomize runs', () => {
  // Each case: the chart entry's fields (YAML flow), the field the finding must name, its line.
  const CASES: Array<{ name: string; entry: string; field: RegExp; generator?: 'legacy' | 'builtin' }> = [
    { name: 'release-name', entry: 'name: chart\n    releaseName: "--post-renderer=/bin/sh"', field: /releaseName/ },
    { name: 'release-name-space', entry: 'name: chart\n    releaseName: "r --post-renderer /bin/sh"', field: /releaseName/ },
    { name: 'chart-name', entry: 'name: "--post-renderer=/bin/sh"\n    releaseName: r', field: /\bname\b/ },
    { name: 'chart-name-path', entry: 'name: "../../../../../etc"\n    releaseName: r', field: /\bname\b/ },
    { name: 'namespace', entry: 'name: chart\n    releaseName: r\n    namespace: "--post-renderer=/bin/sh"', field: /namespace/ },
    { name: 'name-template', entry: 'name: chart\n    nameTemplate: "{{ env \\"HOME\\" }}"', field: /nameTemplate/ },
    { name: 'version', entry: 'name: chart\n    releaseName: r\n    version: "--post-renderer=/bin/sh"', field: /version/ },
    { name: 'repo', entry: 'name: chart\n    releaseName: r\n    version: 1.0.0\n    repo: "--post-renderer=/bin/sh"', field: /repo/ },
    { name: 'repo-file', entry: 'name: chart\n    releaseName: r\n    version: 1.0.0\n    repo: "file:///etc"', field: /repo/ },
    { name: 'kube-version', entry: 'name: chart\n    releaseName: r\n    kubeVersion: "--post-renderer=/bin/sh"', field: /kubeVersion/ },
    { name: 'api-versions', entry: 'name: chart\n    releaseName: r\n    apiVersions: ["--post-renderer=/bin/sh"]', field: /apiVersions/ },
    { name: 'include-crds', entry: 'name: chart\n    releaseName: r\n    includeCRDs: "--post-renderer=/bin/sh"', field: /includeCRDs/ },
    { name: 'skip-tests', entry: 'name: chart\n    releaseName: r\n    skipTests: "--x"', field: /skipTests/ },
    { name: 'skip-hooks', entry: 'name: chart\n    releaseName: r\n    skipHooks: "--x"', field: /skipHooks/ },
    { name: 'debug', entry: 'name: chart\n    releaseName: r\n    debug: "--x"', field: /debug/ },
    { name: 'devel', entry: 'name: chart\n    releaseName: r\n    devel: "--x"', field: /devel/ },
    { name: 'values-merge', entry: 'name: chart\n    releaseName: r\n    valuesMerge: "--x"', field: /valuesMerge/ },
    { name: 'values-file', entry: 'name: chart\n    releaseName: r\n    valuesFile: "--post-renderer=/bin/sh"', field: /valuesFile/ },
    { name: 'additional-values', entry: 'name: chart\n    releaseName: r\n    additionalValuesFiles: ["--post-renderer=/bin/sh"]', field: /additionalValuesFiles/ },
    // The deprecated form, converted by kustomize into the same helm call.
    { name: 'legacy-release', entry: 'chartName: chart\n    releaseName: "--post-renderer=/bin/sh"', field: /releaseName/, generator: 'legacy' },
    { name: 'legacy-chart', entry: 'chartName: "--post-renderer=/bin/sh"\n    releaseName: r', field: /chartName/, generator: 'legacy' },
    { name: 'legacy-version', entry: 'chartName: chart\n    releaseName: r\n    chartVersion: "--x"', field: /chartVersion/, generator: 'legacy' },
    { name: 'legacy-helm-bin', entry: 'chartName: chart\n    releaseName: r\n    helmBin: /bin/sh', field: /helmBin/, generator: 'legacy' },
    { name: 'legacy-helm-home', entry: 'chartName: chart\n    releaseName: r\n    helmHome: /root/.config/helm', field: /helmHome/, generator: 'legacy' },
    { name: 'legacy-extra-args', entry: 'chartName: chart\n    releaseName: r\n    extraArgs: ["--post-renderer=/bin/sh"]', field: /extraArgs/, generator: 'legacy' },
    // A builtin generator config file: kustomize runs helm for it just the same.
    { name: 'builtin-release', entry: 'name: chart\nreleaseName: "--post-renderer=/bin/sh"', field: /releaseName/, generator: 'builtin' },
  ];

  function caseFiles(c: (typeof CASES)[number]): Record<string, string> {
    if (c.generator === 'builtin') {
      return {
        ...overlay(c.name, 'generators:\n  - helm.yaml\n'),
        [`${hostile(c.name)}/helm.yaml`]: `apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata:\n  name: h\n${c.entry}\n`,
        ...chart(c.name),
      };
    }
    const key = c.generator === 'legacy' ? 'helmChartInflationGenerator' : 'helmCharts';
    return { ...overlay(c.name, `${key}:\n  - ${c.entry}\n`), ...chart(c.name) };
  }

  test('each hostile value is an error naming file, entry and field; helm never sees it; a clean chart still renders', async () => {
    const { runValidation } = await import('../lib/validate/validation.js');
    const helm = await recordingHelm();
    const files: Record<string, string> = { ...baseFiles(), ...argocdCm('--enable-helm'), ...overlay('clean', 'helmCharts:\n  - name: chart\n    releaseName: clean\n    namespace: hostile\n'), ...chart('clean') };
    for (const c of CASES) Object.assign(files, caseFiles(c));
    const repo = await makeRepo(files);
    cleanups.push(() => removeRepo(repo));
    const r = await withHelm(helm.bin, () => runValidation({ cwd: repo, envVars: { ...testEnv, GITOPS_NO_CACHE: '1' }, env: 'dev' }));
    const calls = await helm.calls();
    // Control: the clean chart went through kustomize to our helm.
    assert.ok(calls.some((a) => a[0] === 'template' && a[1] === 'clean'), `the clean chart was not rendered: ${JSON.stringify(calls)}`);
    assert.ok(r.rendered.find((x) => x.target.dir === hostile('clean'))?.objects.some((o) => o.metadata.name === 'from-helm'));
    for (const c of CASES) {
      const f = r.findings.find((x) => x.rule === 'helm-chart' && x.overlay === hostile(c.name));
      assert.ok(f, `${c.name}: no helm-chart finding:\n${r.findings.filter((x) => x.overlay === hostile(c.name)).map((x) => `${x.rule} ${x.file}:${x.line} ${x.message}`).join('\n')}`);
      assert.equal(f.severity, 'error');
      assert.match(f.message, c.field, c.name);
      assert.equal(f.file, `${hostile(c.name)}/${c.generator === 'builtin' ? 'kustomization.yaml' : 'kustomization.yaml'}`);
      assert.ok(f.line && f.line >= 2, `${c.name}: no line`);
      assert.ok(!r.findings.some((x) => x.overlay === hostile(c.name) && x.rule === 'kustomize-build'), `${c.name}: kustomize ran`);
    }
    // No call of helm carried anything a case injected.
    for (const a of calls) for (const arg of a) assert.doesNotMatch(arg, /post-renderer|\/bin\/sh|^--x$|\/etc$/, `helm got ${JSON.stringify(a)}`);
  });

  test('helmGlobals.configHome (helm\'s registry logins and repositories) is refused', async () => {
    const { runValidation } = await import('../lib/validate/validation.js');
    const helm = await recordingHelm();
    const repo = await makeRepo({ ...baseFiles(), ...argocdCm('--enable-helm'), ...overlay('config-home', 'helmGlobals:\n  configHome: helm-home\nhelmCharts:\n  - name: chart\n    releaseName: r\n'), ...chart('config-home') });
    cleanups.push(() => removeRepo(repo));
    const r = await withHelm(helm.bin, () => runValidation({ cwd: repo, envVars: { ...testEnv, GITOPS_NO_CACHE: '1' }, app: 'hostile/config-home' }));
    const f = r.findings.find((x) => x.rule === 'helm-chart' && /configHome/.test(x.message));
    assert.equal(f?.line, 3);
    assert.deepEqual((await helm.calls()).filter((a) => a[0] === 'template'), []);
  });
});

describe('helmChartInflationGenerator (deprecated) is inspected like helmCharts', () => {
  test('a chart from a repository is offline by default: no helm pull, no request, an error at its line', async () => {
    const { runValidation } = await import('../lib/validate/validation.js');
    const helm = await recordingHelm();
    let requests = 0;
    const srv = createServer((_req, res) => {
      requests++;
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => srv.close(() => r())));
    const port = (srv.address() as AddressInfo).port;
    const repo = await makeRepo({
      ...baseFiles(),
      ...argocdCm('--enable-helm'),
      ...overlay('legacy-pull', `helmChartInflationGenerator:\n  - chartName: remote-chart\n    chartRepoUrl: http://127.0.0.1:${port}/charts\n    chartVersion: 1.0.0\n    releaseName: r\n`),
    });
    cleanups.push(() => removeRepo(repo));
    const r = await withHelm(helm.bin, () => runValidation({ cwd: repo, envVars: { ...testEnv, GITOPS_NO_CACHE: '1' }, app: 'hostile/legacy-pull' }));
    const f = r.findings.find((x) => x.rule === 'remote-resource');
    assert.ok(f, r.findings.map((x) => `${x.rule} ${x.message}`).join('\n'));
    assert.equal(f.file, `${hostile('legacy-pull')}/kustomization.yaml`);
    assert.equal(f.line, 4);
    assert.equal(requests, 0);
    assert.deepEqual((await helm.calls()).filter((a) => a[0] === 'pull' || a[0] === 'template'), []);
    assert.equal(existsSync(path.join(repo, hostile('legacy-pull'), 'charts')), false, 'a chart was unpacked into the repository');
  });

  test('its local chart must stay inside the repository (chartHome)', async () => {
    const { runValidation } = await import('../lib/validate/validation.js');
    const helm = await recordingHelm();
    const repo = await makeRepo({ ...baseFiles(), ...argocdCm('--enable-helm'), ...overlay('legacy-home', 'helmChartInflationGenerator:\n  - chartName: chart\n    chartHome: /tmp\n    releaseName: r\n') });
    cleanups.push(() => removeRepo(repo));
    const r = await withHelm(helm.bin, () => runValidation({ cwd: repo, envVars: { ...testEnv, GITOPS_NO_CACHE: '1' }, app: 'hostile/legacy-home' }));
    assert.ok(r.findings.some((x) => x.rule === 'outside-repository' && x.file === `${hostile('legacy-home')}/kustomization.yaml`), r.findings.map((x) => `${x.rule} ${x.message}`).join('\n'));
    assert.deepEqual((await helm.calls()).filter((a) => a[0] === 'template'), []);
  });
});

describe('the push token goes only where the user configured, never where the repository says', () => {
  test('promote with GITHUB_API_URL unset and gitops.yaml github.apiUrl naming another host: an error, no request carries the token', { timeout: 180_000 }, async () => {
    const { startReleaseFixture, finishFixture, TOKEN, digestOf } = await import('./release-fixture.js');
    const { promote } = await import('../commands/promote.js');
    const { ConfigError } = await import('../lib/core/errors.js');
    const seen: string[] = [];
    const evil = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      res.statusCode = 404;
      res.end('{}');
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    const evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
    const gitopsYaml = await readFile(path.join(path.dirname(new URL(import.meta.url).pathname), '../../gitops.yaml'), 'utf8');
    // The pull request's branch (here: main of the clone the user runs promote in) names the host.
    const f = await startReleaseFixture({ edit: { 'gitops.yaml': `${gitopsYaml}github:\n  apiUrl: ${evilUrl}\n` } });
    try {
      const dev = 'overlays/minikube/nofluxo/backend/kustomization.yaml';
      const text = (await readFile(path.join(f.work, dev), 'utf8')).replace('newTag: "1.0.0"', `newTag: "1.1.0@${digestOf('nofluxo-backend 1.1.0')}"`);
      await f.pushToMain({ [dev]: text }, 'bump dev');
      await f.pull();
      const envVars = { ...f.envVars, GITHUB_API_URL: undefined };
      await assert.rejects(promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', envVars, log: () => {}, write: () => {} }), (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.match(e.message, /github\.apiUrl/);
        assert.ok(!e.message.includes(TOKEN));
        return true;
      });
      assert.deepEqual(seen, [], 'the repository-named host got a request');
      assert.deepEqual(Object.keys(await f.remoteRefs()), ['main'], 'something was pushed before the check');
      // The same URL in GITHUB_API_URL (the user's own setting) is accepted: gitops.yaml may repeat it.
      const { tokenApiUrl } = await import('../lib/remote/github.js');
      assert.equal(tokenApiUrl({ GITHUB_API_URL: `${evilUrl}/` }, evilUrl), evilUrl);
      assert.equal(tokenApiUrl({}, undefined), 'https://api.github.com');
    } finally {
      evil.close();
      await finishFixture(f);
    }
  });
});

describe('a pull request cannot switch remote fetching on for itself', () => {
  test('render.allowRemote in the pull request\'s own gitops.yaml is not used against the base: nothing is fetched', async () => {
    const { runValidation } = await import('../lib/validate/validation.js');
    const { renderedDiff } = await import('../lib/report/diff.js');
    const { gitInit, commitAll, writeFiles } = await import('./fixtures.js');
    const seen: string[] = [];
    const srv = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.end('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fetched\n');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => srv.close(() => r())));
    const port = (srv.address() as AddressInfo).port;
    const repo = await makeRepo(baseFiles());
    cleanups.push(() => removeRepo(repo));
    const base = gitInit(repo, 'main');
    await writeFiles(repo, {
      'gitops.yaml': `${baseFiles()['gitops.yaml']}render:\n  allowRemote: true\n`,
      ...overlay('fetch', `resources:\n  - http://127.0.0.1:${port}/${'e'.repeat(40)}/cm.yaml\n`),
    });
    commitAll(repo, 'the pull request');
    const envVars = { ...testEnv, GITOPS_NO_CACHE: '1' };
    const r = await runValidation({ cwd: repo, envVars, base, changedOnly: true, env: 'dev' });
    const f = r.findings.find((x) => x.rule === 'remote-resource' && x.overlay === hostile('fetch'));
    assert.equal(f?.severity, 'error', r.findings.map((x) => `${x.rule} ${x.message}`).join('\n'));
    assert.ok(r.findings.some((x) => x.rule === 'untrusted-setting' && /render\.allowRemote/.test(x.message)));
    const d = await renderedDiff({ cwd: repo, base, envVars });
    assert.ok(d.overlays.some((o) => o.overlay === hostile('fetch')));
    assert.deepEqual(seen, [], 'the pull request fetched a remote resource');
    // The command line still can (the person running it decides).
    const allowed = await runValidation({ cwd: repo, envVars, base, changedOnly: true, env: 'dev', allowRemote: true });
    assert.ok(!allowed.findings.some((x) => x.rule === 'remote-resource'));
    assert.equal(seen.length, 1);
  });

  test('kustomize\'s git gets no HOME: the user\'s credential helper is never asked, and file:// is refused', { timeout: 120_000 }, async () => {
    const { runValidation } = await import('../lib/validate/validation.js');
    const { startGitServer, createBareRepo } = await import('./harness/git-server.js');
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'gitops-r2-home-'));
    cleanups.push(() => rm(tmp, { recursive: true, force: true }));
    // A base repository on a git server that wants a password, and one on this machine.
    const seed = path.join(tmp, 'seed');
    const { writeFiles } = await import('./fixtures.js');
    await writeFiles(seed, { 'base/kustomization.yaml': 'resources:\n  - cm.yaml\n', 'base/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: private-base\ndata:\n  secret: CANARY-private-repository\n' });
    const { head } = await createBareRepo(path.join(tmp, 'remote'), 'o/private.git', seed);
    const gitServer = await startGitServer({ root: path.join(tmp, 'remote'), token: 'server-password-0123456789' });
    cleanups.push(() => gitServer.stop());
    // The user's own git config: a credential helper that would hand over their password.
    const home = path.join(tmp, 'home');
    const marker = path.join(tmp, 'credential-helper-ran');
    await writeFiles(home, { '.gitconfig': `[credential]\n\thelper = "!f() { touch '${marker}'; echo username=x; echo password=server-password-0123456789; }; f"\n[protocol "file"]\n\tallow = always\n` });
    const repo = await makeRepo({
      ...baseFiles(),
      ...overlay('private', `resources:\n  - git::${gitServer.repoUrl('o/private.git')}//base?ref=${head}\n`),
      ...overlay('local-file', `resources:\n  - git::file://${path.join(tmp, 'remote', 'o/private.git')}//base?ref=${head}\n`),
    });
    cleanups.push(() => removeRepo(repo));
    const saved = process.env.HOME;
    process.env.HOME = home;
    try {
      const r = await runValidation({ cwd: repo, envVars: { ...testEnv, HOME: home, GITOPS_NO_CACHE: '1' }, env: 'dev', allowRemote: true });
      assert.equal(existsSync(marker), false, 'the user\'s credential helper ran for kustomize\'s git');
      for (const dir of ['private', 'local-file']) {
        const rendered = r.rendered.find((x) => x.target.dir === hostile(dir));
        assert.ok(!rendered?.objects.some((o) => o.metadata.name === 'private-base'), `${dir}: the private base was read`);
        assert.ok(r.findings.some((x) => x.overlay === hostile(dir) && x.severity === 'error'), `${dir}: no error`);
      }
      assert.ok(r.findings.some((x) => x.overlay === hostile('local-file') && x.rule === 'outside-repository' && x.line === 3), 'file:// is refused before kustomize runs');
    } finally {
      if (saved === undefined) delete process.env.HOME;
      else process.env.HOME = saved;
    }
  });
});

describe('a reviewer\'s amended, rebased or fixed-up release commit is never pushed over', () => {
  const DEV = 'overlays/minikube/nofluxo/backend/kustomization.yaml';
  const PROD = 'overlays/crianex/nofluxo/backend/kustomization.yaml';
  const BRANCH = 'promote/prod/nofluxo-backend';
  const IDENT = ['-c', 'user.name=Rita Reviewer', '-c', 'user.email=rita@example.invalid', '-c', 'commit.gpgsign=false'];

  for (const how of ['amend', 'rebase', 'fixup'] as const) {
    test(`${how}: the next promote stops and names the commit`, { timeout: 240_000 }, async () => {
      const { startReleaseFixture, finishFixture, digestOf } = await import('./release-fixture.js');
      const { run, cleanGitEnv } = await import('./harness/proc.js');
      const { promote } = await import('../commands/promote.js');
      const { GitError } = await import('../lib/core/errors.js');
      const f = await startReleaseFixture();
      try {
        const pin = (v: string) => `newTag: "${v}@${digestOf(`nofluxo-backend ${v}`)}"`;
        const devAt = async (v: string) => (await f.remoteFile('main', DEV)).replace(/newTag: ".*"/, pin(v));
        await f.pushToMain({ [DEV]: await devAt('1.1.0') }, 'dev 1.1.0');
        await f.pull();
        assert.equal((await promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', envVars: f.envVars, log: () => {}, write: () => {} })).status, 'pr-opened');
        // The reviewer works in a clone of the bare repository, with real git.
        const clone = path.join(f.tmp, `reviewer-${how}`);
        const env = cleanGitEnv({ GIT_CONFIG_GLOBAL: '/dev/null' });
        const g = async (...args: string[]) => (await run('git', [...IDENT, ...args], { cwd: clone, env, timeoutMs: 30_000 })).stdout;
        await run('git', ['clone', '--quiet', '--branch', BRANCH, f.bare, clone], { env, timeoutMs: 30_000 });
        if (how === 'rebase') await f.pushToMain({ 'README-ops.md': 'unrelated\n' }, 'unrelated change on main');
        await g('fetch', '--quiet', 'origin');
        const prodFile = path.join(clone, PROD);
        if (how === 'amend') {
          await writeFile(prodFile, `${await readFile(prodFile, 'utf8')}# keep 3 replicas until the migration is done\n`);
          await g('commit', '--quiet', '--all', '--amend', '--no-edit');
        } else if (how === 'rebase') {
          await g('rebase', '--quiet', 'origin/main');
        } else {
          await writeFile(prodFile, `${await readFile(prodFile, 'utf8')}# reviewed\n`);
          await g('commit', '--quiet', '--all', '--fixup=HEAD');
          await run('git', [...IDENT, 'rebase', '--quiet', '-i', '--autosquash', 'HEAD~2'], { cwd: clone, env: { ...env, GIT_SEQUENCE_EDITOR: 'true' }, timeoutMs: 30_000 });
        }
        // The person's commit still carries the tool's trailer: that alone must not make it the tool's.
        assert.match(await g('log', '-1', '--format=%B'), /Gitops-Release: promote prod nofluxo\/backend/);
        const theirs = (await g('rev-parse', 'HEAD')).trim();
        await g('push', '--quiet', '--force', 'origin', `HEAD:refs/heads/${BRANCH}`);
        // dev moves on: the tool wants to rewrite its branch.
        await f.pushToMain({ [DEV]: await devAt('1.2.0') }, 'dev 1.2.0');
        await assert.rejects(promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', envVars: f.envVars, log: () => {}, write: () => {} }), (e: unknown) => {
          assert.ok(e instanceof GitError, String(e));
          assert.match(e.message, /holds 1 commit this tool did not make/);
          assert.ok(e.message.includes(theirs.slice(0, 12)), e.message);
          return true;
        });
        assert.equal((await f.remoteRefs())[BRANCH], theirs, 'the reviewer\'s commit was pushed over');
      } finally {
        await finishFixture(f);
      }
    });
  }
});

describe('secret values in error messages are redacted in every output', () => {
  const VALUE = 'hunter2-plain-secret-value-5150';
  const SERVER_VALUE = 'wrong-typed-secret-value-8086';

  test('kustomize quoting a Secret\'s value and the API server quoting a wrong-typed stringData value: redacted in text, json, github, sarif, the diff and the PR comment', { timeout: 240_000 }, async () => {
    const { runValidation } = await import('../lib/validate/validation.js');
    const { formatText, formatJson, formatGithub, formatSarif } = await import('../lib/report/report.js');
    const { renderedDiff, formatDiffText, formatMarkdown } = await import('../lib/report/diff.js');
    const { formatPrReport } = await import('../lib/report/prreport.js');
    const { gitInit, commitAll, writeFiles } = await import('./fixtures.js');
    const { findApiServer } = await import('../lib/core/tools.js');
    const repo = await makeRepo(baseFiles());
    cleanups.push(() => removeRepo(repo));
    const base = gitInit(repo, 'main');
    await writeFiles(repo, {
      // A replacement aimed below a Secret value: kustomize prints the node it found.
      ...overlay('dump', 'resources:\n  - secret.yaml\nreplacements:\n  - source: {kind: ConfigMap, name: c, fieldPath: data.a}\n    targets:\n      - select: {kind: Secret}\n        fieldPaths: [stringData.password.sub]\n'),
      [`${hostile('dump')}/secret.yaml`]: `apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  password: ${VALUE}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n`,
      // A stringData value of the wrong type: the API server quotes what it could not decode.
      ...overlay('typed', 'resources:\n  - secret.yaml\n'),
      [`${hostile('typed')}/secret.yaml`]: `apiVersion: v1\nkind: Secret\nmetadata:\n  name: t\nstringData:\n  password: [${SERVER_VALUE}]\n`,
    });
    commitAll(repo, 'the pull request');
    const haveServer = !('missing' in (await findApiServer()));
    const r = await runValidation({ cwd: repo, envVars: { ...testEnv, GITOPS_NO_CACHE: '1' }, env: 'dev', ...(haveServer ? { server: 'local' as const } : {}) });
    const dump = r.findings.find((f) => f.rule === 'kustomize-build' && f.overlay === hostile('dump'));
    assert.ok(dump, r.findings.map((f) => `${f.rule} ${f.overlay} ${f.message}`).join('\n'));
    assert.match(dump.message, /node contents/, 'kustomize\'s error is still there');
    const d = await renderedDiff({ cwd: repo, base, envVars: testEnv });
    const validationJson = formatJson(r.findings, { overlays: r.overlays, objects: r.objects });
    const outputs: Record<string, string> = {
      findings: JSON.stringify(r.findings),
      text: formatText(r.findings, { overlays: r.overlays, objects: r.objects }),
      json: validationJson,
      github: formatGithub(r.findings),
      sarif: formatSarif(r.findings),
      diffText: formatDiffText(d),
      diffMarkdown: formatMarkdown(d),
      diffJson: JSON.stringify(d),
      prComment: formatPrReport(JSON.parse(validationJson), JSON.parse(JSON.stringify(d))),
    };
    for (const [what, text] of Object.entries(outputs)) {
      assert.ok(!text.includes(VALUE), `${what} shows the Secret value kustomize quoted`);
      assert.ok(!text.includes(SERVER_VALUE), `${what} shows the stringData value`);
    }
    if (haveServer) {
      const typed = r.findings.filter((f) => f.overlay === hostile('typed') && f.severity === 'error');
      assert.ok(typed.length, 'the wrong-typed value is an error');
    }
  });
});

describe('a YAML merge key cannot hide what a kustomization reads', () => {
  const DEPLOY = (image: string, privileged: boolean) => `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hidden\nspec:\n  selector:\n    matchLabels: {app: hidden}\n  template:\n    metadata:\n      labels: {app: hidden}\n    spec:\n      containers:\n        - name: c\n          image: ${image}\n          securityContext: {privileged: ${privileged}}\n`;

  test('resources under <<: are seen: a git::file:// base elsewhere on the machine is refused, never fetched', { timeout: 120_000 }, async () => {
    const { runValidation } = await import('../lib/validate/validation.js');
    const { createBareRepo } = await import('./harness/git-server.js');
    const { writeFiles } = await import('./fixtures.js');
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'gitops-r2-merge-'));
    cleanups.push(() => rm(tmp, { recursive: true, force: true }));
    await writeFiles(path.join(tmp, 'seed'), { 'base/kustomization.yaml': 'resources:\n  - cm.yaml\n', 'base/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other-repository\ndata:\n  secret: CANARY-other-repository-on-this-machine\n' });
    const { path: bare, head } = await createBareRepo(path.join(tmp, 'remote'), 'other.git', path.join(tmp, 'seed'));
    const repo = await makeRepo({
      ...baseFiles(),
      ...overlay('merge-file', `<<:\n  resources:\n    - git::file://${bare}//base?ref=${head}\n`),
      ...overlay('merge-anchor', `x-hidden: &hidden\n  resources:\n    - git::file://${bare}//base?ref=${head}\n<<: *hidden\n`),
    });
    cleanups.push(() => removeRepo(repo));
    const r = await runValidation({ cwd: repo, envVars: { ...testEnv, GITOPS_NO_CACHE: '1' }, env: 'dev' });
    for (const dir of ['merge-file', 'merge-anchor']) {
      const rendered = r.rendered.find((x) => x.target.dir === hostile(dir));
      assert.ok(!JSON.stringify(rendered?.objects ?? []).includes('CANARY'), `${dir}: another repository on this machine was read`);
      assert.ok(r.findings.some((f) => f.overlay === hostile(dir) && f.rule === 'outside-repository' && f.severity === 'error'), `${dir}: ${r.findings.filter((f) => f.overlay === hostile(dir)).map((f) => `${f.rule} ${f.message}`).join('\n')}`);
    }
  });

  test('validate --base --changed-only sees a file listed under <<: change (pull-request.yml\'s step)', { timeout: 180_000 }, async () => {
    const { runValidation } = await import('../lib/validate/validation.js');
    const { gitInit, commitAll, writeFiles } = await import('./fixtures.js');
    const repo = await makeRepo({
      ...baseFiles(),
      ...overlay('merge-deploy', '<<:\n  resources:\n    - deploy.yaml\n'),
      [`${hostile('merge-deploy')}/deploy.yaml`]: DEPLOY('registry.example.com/hidden:1.0.0', false),
    });
    cleanups.push(() => removeRepo(repo));
    const base = gitInit(repo, 'main');
    await writeFiles(repo, { [`${hostile('merge-deploy')}/deploy.yaml`]: DEPLOY('registry.example.com/hidden:latest', true) });
    commitAll(repo, 'the pull request');
    const r = await runValidation({ cwd: repo, envVars: { ...testEnv, GITOPS_NO_CACHE: '1' }, base, changedOnly: true });
    assert.ok(!r.findings.some((f) => f.rule === 'nothing-changed'), 'nothing to validate');
    assert.ok(r.rendered.some((x) => x.target.dir === hostile('merge-deploy')));
    assert.ok(r.findings.some((f) => f.overlay === hostile('merge-deploy') && f.severity === 'error' && /latest/.test(f.message)), r.findings.map((f) => `${f.rule} ${f.overlay} ${f.message}`).join('\n'));
  });
});

describe('the renderer is the record of what a target reads, and the toolkit\'s view agrees with it', () => {
  /** Kustomizations in the shapes people write: every field that names a file, and YAML variants. */
  function shapes(): Record<string, string> {
    const cm = (n: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${n}\ndata:\n  a: b\n`;
    const files: Record<string, string> = {
      ...baseFiles(),
      'apps/shapes/base/kustomization.yml': 'resources:\n  - cm.yaml\n',
      'apps/shapes/base/cm.yaml': cm('base'),
      'apps/shapes/comp/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n  - path: patch.yaml\n',
      'apps/shapes/comp/patch.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: base\ndata:\n  comp: "1"\n',
      'apps/shapes/capital/Kustomization': 'resources:\n  - cm.yaml\n',
      'apps/shapes/capital/cm.yaml': cm('capital'),
    };
    const add = (name: string, body: string, extra: Record<string, string> = {}) => {
      files[`${hostile(name)}/kustomization.yaml`] = body;
      for (const [f, t] of Object.entries(extra)) files[`${hostile(name)}/${f}`] = t;
    };
    const common = { 'cm.yaml': cm('own'), 'p.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: own\ndata:\n  p: "1"\n', 'j.yaml': '- op: add\n  path: /data/j\n  value: "1"\n', 'f.txt': 'file\n', 'e.env': 'A=1\n', 'r.yaml': 'source: {kind: ConfigMap, name: own, fieldPath: data.a}\ntargets:\n  - select: {kind: ConfigMap, name: own}\n    fieldPaths: [data.r]\n    options: {create: true}\n', 'conf.yaml': 'nameReference: []\n' };
    add('block', 'resources:\n  - cm.yaml\n  - ../../../../apps/shapes/base\n  - ../../../../apps/shapes/capital\ncomponents:\n  - ../../../../apps/shapes/comp\npatches:\n  - path: p.yaml\n  - path: j.yaml\n    target: {kind: ConfigMap, name: own}\nconfigMapGenerator:\n  - name: gen\n    files: [f.txt, key=f.txt]\n    envs: [e.env]\nreplacements:\n  - path: r.yaml\nconfigurations:\n  - conf.yaml\n', common);
    add('flow', '{resources: [cm.yaml, ../../../../apps/shapes/base], patches: [{path: p.yaml}], configMapGenerator: [{name: gen, envs: [e.env]}]}\n', common);
    add('merge', '<<: &common\n  resources: [cm.yaml]\n  patches:\n    - path: p.yaml\nconfigMapGenerator:\n  - <<: {name: gen}\n    files: [f.txt]\n', common);
    add('merge-list', '<<: [{resources: [cm.yaml]}, {replacements: [{path: r.yaml}]}]\n', common);
    add('anchors', 'resources:\n  - &cm cm.yaml\npatchesStrategicMerge:\n  - p.yaml\nconfigMapGenerator:\n  - name: gen\n    files: [*cm]\n', common);
    add('psm-json', 'resources: [cm.yaml]\npatchesJson6902:\n  - target: {version: v1, kind: ConfigMap, name: own}\n    path: j.yaml\nsecretGenerator:\n  - name: s\n    envs: [e.env]\n', common);
    files[`${hostile('yml')}/kustomization.yml`] = 'resources:\n  - cm.yaml\n';
    files[`${hostile('yml')}/cm.yaml`] = cm('yml');
    files[`${hostile('capital-overlay')}/Kustomization`] = 'resources:\n  - cm.yaml\n';
    files[`${hostile('capital-overlay')}/cm.yaml`] = cm('cap');
    // Duplicate keys: refused by the toolkit before kustomize runs (it would read one of them).
    add('duplicate', 'resources:\n  - cm.yaml\nresources:\n  - p.yaml\n', common);
    return files;
  }

  async function compare(root: string, label: string): Promise<number> {
    const { loadConfig } = await import('../lib/config/config.js');
    const { discoverApps } = await import('../lib/config/apps.js');
    const { appTargets, clusterTargets, renderTargets } = await import('../lib/render/render.js');
    const { findKustomize } = await import('../lib/core/tools.js');
    const config = await loadConfig(root, testEnv);
    const tool = await findKustomize(testEnv);
    assert.ok(tool.renderer, 'the long-lived renderer is installed (npm run setup)');
    const targets = [...appTargets(await discoverApps(config)), ...clusterTargets(config, config.environments)];
    const rendered = await renderTargets(config, tool, targets);
    let compared = 0;
    for (const r of rendered) {
      if (r.findings.some((f) => f.rule === 'yaml-syntax')) continue; // refused before kustomize runs
      assert.ok(r.reads, `${label} ${r.target.dir}: the renderer gave no record of reads (rebuild it: npm run setup): ${r.findings.map((f) => `${f.rule} ${f.message}`).join('; ')}`);
      // Symlinks in the closure are there for change detection; kustomize reads their targets.
      const { lstatSync } = await import('node:fs');
      const closure = r.closure.filter((f) => f !== '<remote>' && !lstatSync(path.join(root, f), { throwIfNoEntry: false })?.isSymbolicLink()).sort();
      assert.deepEqual([...new Set(r.reads)].sort(), closure, `${label} ${r.target.dir}: the renderer's record and the toolkit's view differ`);
      assert.ok(!r.findings.some((f) => f.rule === 'unaccounted-read'), `${label} ${r.target.dir}`);
      compared++;
    }
    return compared;
  }

  test('over every overlay and entry point of this repository', { timeout: 120_000 }, async () => {
    const { REPO_ROOT } = await import('../lib/core/tools.js');
    const saved = process.env.GITOPS_NO_CACHE;
    process.env.GITOPS_NO_CACHE = '1';
    try {
      assert.ok((await compare(REPO_ROOT, 'repository')) >= 10);
    } finally {
      if (saved === undefined) delete process.env.GITOPS_NO_CACHE;
      else process.env.GITOPS_NO_CACHE = saved;
    }
  });

  test('over kustomizations in every shape: block and flow style, merge keys, anchors, .yml and Kustomization, every field that names a file', { timeout: 120_000 }, async () => {
    const repo = await makeRepo({ ...shapes(), [`${hostile('linked')}/kustomization.yaml`]: 'resources:\n  - ../../../../apps/shapes/linked\n  - cm-link.yaml\n', [`${hostile('linked')}/cm.yaml`]: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: linked-file\n' });
    cleanups.push(() => removeRepo(repo));
    // Symlinks inside the repository: to a base folder and to a file.
    const { symlink } = await import('node:fs/promises');
    await symlink('base', path.join(repo, 'apps/shapes/linked'));
    await symlink('cm.yaml', path.join(repo, hostile('linked'), 'cm-link.yaml'));
    const n = await compare(repo, 'shapes');
    assert.ok(n >= 8, `${n} compared`);
    const { runValidation } = await import('../lib/validate/validation.js');
    const r = await runValidation({ cwd: repo, envVars: { ...testEnv, GITOPS_NO_CACHE: '1' }, app: 'hostile/duplicate' });
    assert.ok(r.findings.some((f) => f.rule === 'yaml-syntax' && /duplicate key/.test(f.message)));
  });

  test('the renderer refuses reads outside the repository, through a symlink, in .git and under /proc, whatever the toolkit let through', { timeout: 60_000 }, async () => {
    const { findKustomize } = await import('../lib/core/tools.js');
    const tool = await findKustomize(testEnv);
    assert.ok(tool.renderer);
    const { symlink } = await import('node:fs/promises');
    const outside = await mkdtemp(path.join(os.tmpdir(), 'gitops-r2-out-'));
    cleanups.push(() => rm(outside, { recursive: true, force: true }));
    await writeFile(path.join(outside, 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: outside\n');
    const repo = await makeRepo({ 'o/kustomization.yaml': 'resources:\n  - link.yaml\n', 'g/kustomization.yaml': 'configMapGenerator:\n  - name: g\n    files: [config=../.git/config]\n', 'p/kustomization.yaml': 'resources:\n  - ../../outside\n', '.git/config': '[core]\n' });
    cleanups.push(() => removeRepo(repo));
    await symlink(path.join(outside, 'cm.yaml'), path.join(repo, 'o/link.yaml'));
    const args = ['--load-restrictor', 'LoadRestrictionsNone'];
    for (const [dir, why] of [['o', /leaves the repository through a symlink/], ['g', /\.git folder/], ['p', /outside the repository/]] as const) {
      const a = await tool.renderer.render(path.join(repo, dir), args, { root: repo });
      assert.ok('error' in a, `${dir}: rendered ${JSON.stringify(a).slice(0, 200)}`);
      assert.ok(a.refused?.some((x) => why.test(x.why)), `${dir}: ${JSON.stringify(a)}`);
    }
  });
});
