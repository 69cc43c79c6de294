// End-to-end fixture for the release commands (bump, promote, scale, rollback): a copy of this
// repository's gitops.yaml, apps/, overlays/ and clusters/ as `main` of a bare remote served by the
// git harness with token auth, a clone of it to run the commands in, and the GitHub API harness.
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { REPO_ROOT } from '../lib/core/tools.js';
import { createBareRepo, startGitServer, type GitServerHandle } from './harness/git-server.js';
import { startGitHubApi, type GitHubApiHandle } from './harness/github-api.js';
import { cleanGitEnv, run } from './harness/proc.js';
import { MIRROR, writeFiles } from './repo-fixture.js';

export const OWNER = 'crianex';
export const REPO = 'gitops';
export const TOKEN = 'ghs_releaseFixtureToken0123456789';
export const IDENTITY = ['-c', 'user.name=Fixture', '-c', 'user.email=fixture@example.invalid', '-c', 'commit.gpgsign=false'];

export const digestOf = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

export interface ReleaseFixture {
  tmp: string;
  /** The clone the commands run in (origin = the git server, no credentials stored). */
  work: string;
  bare: string;
  gitServer: GitServerHandle;
  api: GitHubApiHandle;
  /** Environment for the commands: token, API URL, schema mirror. */
  envVars: NodeJS.ProcessEnv;
  /** git in the work clone (clean env, no credentials). */
  git(args: string[], cwd?: string): Promise<string>;
  /** Fast-forwards the work clone to origin/main (with the token, as a user would). */
  pull(): Promise<void>;
  /** git against the bare remote directly (no HTTP). */
  remoteGit(args: string[]): Promise<string>;
  /** refs/heads/* of the remote: name -> sha. */
  remoteRefs(): Promise<Record<string, string>>;
  /** Commits files onto the remote's main through a second clone (a merged PR, a concurrent change). */
  pushToMain(files: Record<string, string>, message: string): Promise<string>;
  /** Reads a file of the remote at a ref. */
  remoteFile(ref: string, file: string): Promise<string>;
  /** Mutating API requests (anything but GET) so far. */
  mutations(): string[];
  stop(): Promise<void>;
}

const gitEnv = () => cleanGitEnv({ GIT_CONFIG_GLOBAL: '/dev/null' });
const auth = () => `http.extraHeader=Authorization: Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`;

/** `files`: seed the remote with exactly these files instead of this repository's config (another layout). */
export async function startReleaseFixture(opts: { edit?: Record<string, string>; files?: Record<string, string> } = {}): Promise<ReleaseFixture> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gitops-release-test-'));
  const seed = path.join(tmp, 'seed');
  if (opts.files) await mkdir(seed, { recursive: true });
  else for (const p of ['gitops.yaml', 'apps', 'overlays', 'clusters']) await cp(path.join(REPO_ROOT, p), path.join(seed, p), { recursive: true });
  await writeFiles(seed, { ...opts.files, ...opts.edit });
  const remoteRoot = path.join(tmp, 'remote');
  const { path: bare } = await createBareRepo(remoteRoot, `${OWNER}/${REPO}.git`, seed);
  const gitServer = await startGitServer({ root: remoteRoot, token: TOKEN });
  const git = async (args: string[], cwd = work) => (await run('git', [...IDENTITY, ...args], { cwd, env: gitEnv(), timeoutMs: 30_000 })).stdout;
  const work = path.join(tmp, 'work');
  await run('git', ['-c', auth(), 'clone', '--quiet', gitServer.repoUrl(`${OWNER}/${REPO}.git`), work], { env: gitEnv(), timeoutMs: 30_000 });
  await git(['config', 'user.name', 'Fixture']);
  await git(['config', 'user.email', 'fixture@example.invalid']);
  await git(['config', 'commit.gpgsign', 'false']);
  const remoteGit = async (args: string[]) => (await run('git', [`--git-dir=${bare}`, ...args], { env: gitEnv(), timeoutMs: 30_000 })).stdout;
  const api = await startGitHubApi({
    owner: OWNER,
    repo: REPO,
    token: TOKEN,
    cloneUrl: gitServer.repoUrl(`${OWNER}/${REPO}.git`),
    resolveRef: async (ref) => (await remoteGit(['rev-parse', '--verify', '--quiet', `refs/heads/${ref}`]).catch(() => '')).trim() || undefined,
  });
  const envVars: NodeJS.ProcessEnv = {
    ...process.env,
    GITHUB_TOKEN: TOKEN,
    GH_TOKEN: undefined,
    GITHUB_API_URL: api.url,
    ...(MIRROR ? { GITOPS_SCHEMA_MIRROR: MIRROR } : {}),
  };
  let n = 0;
  return {
    tmp,
    work,
    bare,
    gitServer,
    api,
    envVars,
    git,
    remoteGit,
    async pull() {
      await git(['-c', auth(), 'pull', '--quiet', '--ff-only']);
    },
    async remoteRefs() {
      const out = await remoteGit(['for-each-ref', '--format=%(refname:strip=2) %(objectname)', 'refs/heads']);
      return Object.fromEntries(out.split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
    },
    async pushToMain(files, message) {
      const other = path.join(tmp, `other-${++n}`);
      await run('git', ['-c', auth(), 'clone', '--quiet', gitServer.repoUrl(`${OWNER}/${REPO}.git`), other], { env: gitEnv(), timeoutMs: 30_000 });
      await writeFiles(other, files);
      await git(['add', '-A'], other);
      await git(['commit', '--quiet', '-m', message], other);
      await git(['-c', auth(), 'push', '--quiet', 'origin', 'HEAD:refs/heads/main'], other);
      const sha = (await git(['rev-parse', 'HEAD'], other)).trim();
      await rm(other, { recursive: true, force: true });
      return sha;
    },
    async remoteFile(ref, file) {
      return remoteGit(['show', `${ref}:${file}`]);
    },
    mutations() {
      return api.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);
    },
    async stop() {
      await api.stop();
      await gitServer.stop();
      await rm(tmp, { recursive: true, force: true });
    },
  };
}

/** sha256 of every file under dir (except .git), for "nothing changed" assertions. */
export async function treeHashes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name === '.git') continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out[path.relative(dir, p)] = createHash('sha256').update(await readFile(p)).digest('hex');
    }
  };
  await walk(dir);
  return out;
}

/** Collects what a command logs and writes, instead of printing it. */
export function capture(): { log: (l: string) => void; write: (t: string) => void; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, log: (l) => err.push(l), write: (t) => out.push(t) };
}

export const overlayFile = (cluster: string, id: string) => `overlays/${cluster}/${id}/kustomization.yaml`;

/** Stops a fixture after its test, failing the test if the GitHub stand-in saw any request or response off GitHub's description. */
export async function finishFixture(f: ReleaseFixture | undefined): Promise<void> {
  if (!f) return;
  try {
    assert.deepEqual(f.api.violations, [], 'GitHub API harness violations');
  } finally {
    await f.stop();
  }
}
