// No token in any output, error message, commit, pull request body, temporary file or child
// environment. Every command runs with known fake credentials (GITHUB_TOKEN, GH_TOKEN, a registry
// password); kustomize, kubeconform and git are wrapped by spies that record their environment and
// arguments; then everything the run produced is scanned for every form of those credentials.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bump } from '../commands/bump.js';
import { promote } from '../commands/promote.js';
import { rollback } from '../commands/rollback.js';
import { scale } from '../commands/scale.js';
import { findKubeconform, findKustomize, REPO_ROOT } from '../lib/core/tools.js';
import { findExecutable } from './harness/proc.js';
import { pushImage, startRegistry, type RegistryHandle } from './harness/registry.js';
import { digestOf, finishFixture, overlayFile, startReleaseFixture, TOKEN, type ReleaseFixture } from './release-fixture.js';

const GH_TOKEN = 'gho_ghTokenThatMustNeverShow0000000001';
const REG_PASSWORD = 'reg-Pa55word-ThatMustNeverShow-0002';
const DEV = overlayFile('minikube', 'nofluxo/backend');
const PROD = overlayFile('crianex', 'nofluxo/backend');
const T = { timeout: 600_000 };

/** Every spelling of a secret that could leak: raw, URL-encoded, base64 alone and in Basic auth. */
function forms(secret: string): string[] {
  return [
    secret,
    encodeURIComponent(secret),
    Buffer.from(secret).toString('base64').replace(/=+$/, ''),
    Buffer.from(`x-access-token:${secret}`).toString('base64').replace(/=+$/, ''),
    Buffer.from(`ci:${secret}`).toString('base64').replace(/=+$/, ''),
  ];
}
const SECRETS = { GITHUB_TOKEN: TOKEN, GH_TOKEN, REGISTRY_PASSWORD: REG_PASSWORD };

function findLeaks(where: string, text: string): string[] {
  const out: string[] = [];
  for (const [name, secret] of Object.entries(SECRETS)) {
    for (const form of forms(secret)) if (text.includes(form)) out.push(`${where}: ${name} (as ${form === secret ? 'raw' : form.slice(0, 8) + '...'})`);
  }
  return out;
}

async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walkFiles(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

describe('no credential anywhere', () => {
  let f: ReleaseFixture;
  let registry: RegistryHandle;
  let tmp: string;
  let spyDir: string;
  let env: NodeJS.ProcessEnv;
  const outputs: Array<[string, string]> = [];
  const savedTmp = process.env.TMPDIR;

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'token-scan-'));
    spyDir = path.join(tmp, 'spy');
    const bin = path.join(tmp, 'bin');
    await mkdir(spyDir, { recursive: true });
    await mkdir(bin, { recursive: true });
    const realGit = (await findExecutable('git'))!;
    const kustomize = (await findKustomize(process.env)).cmd;
    const kubeconform = (await findKubeconform(process.env)).cmd;
    // Spies: record environment and arguments, then run the real program.
    const spy = (name: string, real: string) => `#!/bin/sh\nenv > "${spyDir}/${name}-$$.env"\nprintf '%s\\n' "$@" > "${spyDir}/${name}-$$.args"\nexec "${real}" "$@"\n`;
    for (const [name, real] of [['git', realGit], ['kustomize', kustomize], ['kubeconform', kubeconform]] as const) {
      await writeFile(path.join(bin, name), spy(name, real));
      await chmod(path.join(bin, name), 0o755);
    }
    registry = await startRegistry({ dir: path.join(tmp, 'registry'), username: 'ci', password: REG_PASSWORD });
    await pushImage(registry, { name: 'nofluxo-backend', tag: '1.5.0' });
    f = await startReleaseFixture({
      edit: {
        [PROD]: (await readFile(path.join(REPO_ROOT, PROD), 'utf8')).replace('newTag: "1.0.0"', `newName: ${registry.host}/nofluxo-backend\n    newTag: "1.0.0"`),
      },
    });
    const dev = (await f.remoteFile('main', DEV)).replace('newTag: "1.0.0"', `newTag: "1.1.0@${digestOf('scan')}"`);
    await f.pushToMain({ [DEV]: dev }, 'dev 1.1.0');
    await f.pull();
    const docker = path.join(tmp, 'docker');
    await mkdir(docker, { recursive: true });
    await writeFile(path.join(docker, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(`ci:${REG_PASSWORD}`).toString('base64') } } }));
    env = {
      ...f.envVars,
      PATH: `${bin}${path.delimiter}${process.env.PATH}`,
      GITHUB_TOKEN: TOKEN,
      GH_TOKEN,
      GITOPS_REGISTRY_HOST: registry.host,
      GITOPS_REGISTRY_USER: 'ci',
      GITOPS_REGISTRY_PASSWORD: REG_PASSWORD,
      DOCKER_CONFIG: docker,
      GITOPS_KUSTOMIZE: path.join(bin, 'kustomize'),
      GITOPS_KUBECONFORM: path.join(bin, 'kubeconform'),
      GITOPS_NO_RENDERER: '1',
      TMPDIR: path.join(tmp, 'run-tmp'),
    };
    await mkdir(env.TMPDIR!, { recursive: true });
    process.env.TMPDIR = env.TMPDIR;
  });
  after(async () => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    await registry?.stop();
    await finishFixture(f);
    await rm(tmp, { recursive: true, force: true });
  });

  const cli = (args: string[]) =>
    new Promise<void>((resolve) => {
      execFile('npx', ['tsx', 'tools/cli.ts', ...args, '--cwd', f.work], { cwd: REPO_ROOT, env, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        outputs.push([`${args[0]} stdout`, stdout], [`${args[0]} stderr`, stderr]);
        if (err && !/validate|diff/.test(args[0]!)) outputs.push([`${args[0]} error`, `${err.message}`]);
        resolve();
      });
    });

  /** Runs a release command in-process, keeping its output and any error message. */
  async function inProcess(name: string, fn: (io: { log: (l: string) => void; write: (t: string) => void }) => Promise<unknown>): Promise<void> {
    const lines: string[] = [];
    try {
      await fn({ log: (l) => lines.push(l), write: (t) => lines.push(t) });
    } catch (e) {
      lines.push(`${(e as Error).message}\n${(e as { hint?: string }).hint ?? ''}\n${(e as Error).stack ?? ''}`);
    }
    outputs.push([name, lines.join('\n')]);
  }

  test('validate, diff, status and every release command (--dry-run, --no-pr, pull request), then scan everything', T, async () => {
    await cli(['validate', '--env', 'prod', '--app', 'nofluxo/backend']);
    await cli(['diff', '--base', 'HEAD~1', '--format', 'markdown']);
    await cli(['status']);
    await cli(['promote', 'nofluxo/backend', 'prod']);
    const common = { cwd: f.work, envVars: env };
    for (const mode of [{ dryRun: true }, { noPr: true }, {}]) {
      const tag = JSON.stringify(mode);
      await inProcess(`bump ${tag}`, (io) => bump({ ...common, ...io, ...mode, app: 'nofluxo/backend', env: 'prod', image: 'registry.kubernetes.crianex.com/nofluxo-backend:1.5.0' }));
      await inProcess(`promote ${tag}`, (io) => promote({ ...common, ...io, ...mode, app: 'nofluxo/ai-agent', env: 'prod' }));
      await inProcess(`scale ${tag}`, (io) => scale({ ...common, ...io, ...mode, app: 'nofluxo/backend', env: 'dev', replicas: '2' }));
      await inProcess(`rollback ${tag}`, (io) => rollback({ ...common, ...io, ...mode, app: 'nofluxo/backend', env: 'dev' }));
      // Local branches made by --no-pr would block the next mode's branch name: drop them.
      for (const b of (await f.git(['for-each-ref', '--format=%(refname:short)', 'refs/heads'])).split('\n').filter((x) => x && x !== 'main')) await f.git(['branch', '-D', b]);
    }
    // Error paths: a refused token, a wrong registry password.
    await inProcess('bad token', (io) => promote({ ...common, ...io, envVars: { ...env, GITHUB_TOKEN: `${TOKEN}x` }, app: 'nofluxo/backend', env: 'prod' }));
    await inProcess('bad registry password', (io) => bump({ ...common, ...io, envVars: { ...env, DOCKER_CONFIG: '/nonexistent', GITOPS_REGISTRY_PASSWORD: `${REG_PASSWORD}-wrong` }, app: 'nofluxo/backend', env: 'prod', image: 'registry.kubernetes.crianex.com/nofluxo-backend:1.5.0' }));

    // The runs did something real: pull requests were opened, commits pushed.
    assert.ok(f.api.state.pulls.length >= 3, `pull requests: ${f.api.state.pulls.map((p) => p.head).join(', ')}`);
    assert.ok(outputs.some(([n, t]) => n === 'promote stdout' && /opened pull request/.test(t)), outputs.map(([n, t]) => `${n}: ${t.slice(0, 200)}`).join('\n'));

    // The detector itself finds every form.
    for (const form of forms(TOKEN)) assert.equal(findLeaks('self-check', `x ${form} y`).length > 0, true, form);
    const leaks: string[] = [];
    for (const [where, text] of outputs) leaks.push(...findLeaks(`output of ${where}`, text));
    // Commits (all refs of the remote and of the clone), PR titles, bodies and comments as the stand-in received them.
    leaks.push(...findLeaks('remote commits', await f.remoteGit(['log', '--all', '--format=%H %an %ae %B'])));
    leaks.push(...findLeaks('local commits', await f.git(['log', '--all', '--format=%H %an %ae %B'])));
    for (const r of f.api.requests) leaks.push(...findLeaks(`API ${r.method} ${r.path} body`, JSON.stringify(r.body ?? '')));
    for (const p of f.api.state.pulls) leaks.push(...findLeaks(`PR #${p.number}`, JSON.stringify(p)));
    for (const c of f.api.state.comments) leaks.push(...findLeaks(`comment ${c.id}`, c.body));
    // Configuration and temporary files.
    for (const file of [path.join(f.work, '.git', 'config'), path.join(f.bare, 'config')]) leaks.push(...findLeaks(file, await readFile(file, 'utf8')));
    for (const file of await walkFiles(env.TMPDIR!)) leaks.push(...findLeaks(`temporary file ${file}`, await readFile(file, 'utf8').catch(() => '')));
    for (const file of await walkFiles(path.join(f.work, '.git'))) {
      if ((await stat(file)).size < 1_000_000) leaks.push(...findLeaks(`.git file ${path.relative(f.work, file)}`, await readFile(file, 'latin1')));
    }

    // Child environments: kustomize, kubeconform and every git that does not talk to origin see no
    // credential at all; a fetching or pushing git sees only its origin-scoped Authorization header.
    const spies = (await readdir(spyDir)).filter((n) => n.endsWith('.env'));
    const kinds = new Set(spies.map((n) => n.split('-')[0]));
    assert.deepEqual([...kinds].sort(), ['git', 'kubeconform', 'kustomize'], 'every kind of child was spied on');
    let network = 0;
    for (const name of spies) {
      const childEnv = await readFile(path.join(spyDir, name), 'utf8');
      const args = await readFile(path.join(spyDir, name.replace(/\.env$/, '.args')), 'utf8').catch(() => '');
      const talksToOrigin = name.startsWith('git-') && /^(fetch|push|clone|pull|ls-remote)$/m.test(args.split('\n')[0] ?? '');
      if (talksToOrigin && childEnv.includes('GIT_CONFIG_KEY_0=http.')) {
        network++;
        const header = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');
        const withoutHeader = childEnv.split('\n').filter((l) => !(l.startsWith('GIT_CONFIG_VALUE_0=Authorization: Basic ') && l.includes(header))).join('\n');
        leaks.push(...findLeaks(`environment of ${name} (${args.split('\n')[0]}, apart from its Authorization header)`, withoutHeader));
        assert.match(childEnv, new RegExp(`GIT_CONFIG_KEY_0=http\\.http://127\\.0\\.0\\.1:\\d+/\\.extraHeader`), 'the header is scoped to origin');
      } else {
        leaks.push(...findLeaks(`environment of ${name} (${args.split('\n')[0]})`, childEnv));
      }
    }
    assert.ok(network > 0, 'fetches and pushes were spied on');
    assert.deepEqual(leaks, []);
  });
});
