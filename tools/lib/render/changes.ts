// What changed against a base revision, which targets that affects, and a checkout of the base
// revision to render it with the same machinery. Shared by validate and diff.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { existsSync } from 'node:fs';
import type { Config } from '../config/config.js';
import { CONFIG_FILE, loadConfig, parseConfig } from '../config/config.js';
import { ConfigError, UsageError } from '../core/errors.js';
import { run } from '../core/exec.js';
import { kustomizationClosure } from './kustomize.js';
import { rel } from './render.js';
import { type Target } from './rendered.js';
import type { Workspace } from '../core/workspace.js';

async function git(cwd: string, args: string[]): Promise<string> {
  return (await run('git', args, { cwd })).stdout;
}

async function commitExists(cwd: string, ref: string): Promise<boolean> {
  const r = await run('git', ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { cwd, allowFailure: true });
  return r.code === 0;
}

/**
 * The base revision's configuration, for the settings a pull request must not choose for its own
 * validation. Undefined when the base has no gitops.yaml this toolkit can read.
 */
async function baseConfigAt(cwd: string, rev: string, envVars: NodeJS.ProcessEnv): Promise<Config | undefined> {
  const shown = await run('git', ['show', `${rev}:./${CONFIG_FILE}`], { cwd, allowFailure: true });
  if (shown.code !== 0) return undefined;
  try {
    return parseConfig(cwd, shown.stdout, envVars);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return undefined;
  }
}

const sameList = (a: readonly string[] | undefined, b: readonly string[] | undefined) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * Against a base revision (a pull request), every setting that decides what is fetched, or from
 * where the rules that judge the change come, is the base revision's (or the command line's):
 * render.allowRemote and its timeout, schemas.locations (a permissive schema host would pass
 * anything) and the `urls` of the API server's CRD sets. Changes the head makes to them are not
 * used, and each is named in a note. A CRD set the base does not have keeps its known upstream
 * location (without one it is not loaded, and its kinds are reported as not served).
 */
export async function trustRenderSettings(config: Config, rev: string, envVars: NodeJS.ProcessEnv, allowRemote?: boolean): Promise<string[]> {
  const base = await baseConfigAt(config.root, rev, envVars);
  const notes: string[] = [];
  const against = `against base ${rev.slice(0, 12)}`;
  const why = 'settings that widen what is read or fetched, or choose the rules a change is judged by, come from the base revision or the command line, never from the change itself';
  const render = base?.render ?? { allowRemote: false, remoteTimeoutSeconds: 60 };
  if (config.render.allowRemote && !render.allowRemote && !allowRemote) notes.push(`${CONFIG_FILE} render.allowRemote: true is not used ${against} (--allow-remote on the command line can): ${why}`);
  config.render = { allowRemote: !!allowRemote || render.allowRemote, remoteTimeoutSeconds: render.remoteTimeoutSeconds };
  const locations = base?.schemaLocations ?? ['default'];
  if (!sameList(config.schemaLocations, locations)) {
    notes.push(`${CONFIG_FILE} schemas.locations (${config.schemaLocations.join(', ')}) is not used ${against}; the base's (${locations.join(', ')}) is: ${why}`);
    config.schemaLocations = [...locations];
  }
  for (const [cluster, server] of Object.entries(config.apiServers)) {
    server.crds = server.crds.map((set) => {
      if (set.urls === undefined) return set;
      const was = base?.apiServers[cluster]?.crds.find((b) => b.name === set.name);
      if (was && sameList(was.urls, set.urls)) return set;
      const { urls: _ignored, ...rest } = set;
      notes.push(`${CONFIG_FILE} clusters.${cluster}.apiServer.crds '${set.name}' urls are not used ${against}; ${was?.urls ? "the base's urls are" : 'its known upstream location is, if it has one'}: ${why}`);
      return was?.urls ? { ...rest, urls: was.urls } : { ...rest, urlsRefused: true };
    });
  }
  return notes;
}

/**
 * The revision to compare with: `ref` when given (it must exist), otherwise the merge base of
 * HEAD with origin/<defaultBranch>, or with <defaultBranch> when there is no such remote branch.
 */
export async function resolveBase(cwd: string, ref: string | undefined, defaultBranch: string): Promise<string> {
  if (ref !== undefined) {
    if (ref.startsWith('-') || !(await commitExists(cwd, ref))) throw new UsageError(`--base ${ref}: no such commit in ${cwd}`);
    return (await git(cwd, ['rev-parse', '--verify', `${ref}^{commit}`])).trim();
  }
  for (const candidate of [`origin/${defaultBranch}`, defaultBranch]) {
    if (!(await commitExists(cwd, candidate))) continue;
    const mb = await run('git', ['merge-base', 'HEAD', candidate], { cwd, allowFailure: true });
    if (mb.code === 0 && mb.stdout.trim()) return mb.stdout.trim();
  }
  throw new UsageError(
    `cannot find a base revision: neither origin/${defaultBranch} nor ${defaultBranch} shares history with HEAD`,
  );
}

/** Repo-relative paths changed between `base` and the working tree, untracked files included. */
export async function changedFiles(cwd: string, base: string): Promise<string[]> {
  // --relative keeps paths relative to cwd when the gitops repo is a sub-folder of the git repo.
  const diff = await git(cwd, ['diff', '--name-only', '--no-renames', '--relative', '-z', base, '--']);
  const untracked = await git(cwd, ['ls-files', '--others', '--exclude-standard', '-z']);
  return [...new Set([...diff.split('\0'), ...untracked.split('\0')].filter(Boolean))].sort();
}

/**
 * The targets whose file closure (every file their kustomization reads) contains a changed
 * file. A change to gitops.yaml affects every target; a target whose closure cannot be
 * computed (broken kustomization) counts as affected, so that validation reports why.
 */
export async function affectedTargets(config: Config, targets: Target[], changed: string[], ws?: Workspace): Promise<Target[]> {
  const set = new Set(changed);
  if (set.has(CONFIG_FILE)) return targets;
  const out: Target[] = [];
  for (const t of targets) {
    // An Application rendered by Argo CD's repo-server code: the files of its sources.
    if (t.files) {
      if (t.files.some((f) => set.has(f))) out.push(t);
      continue;
    }
    let closure: string[];
    try {
      closure = (await kustomizationClosure(path.join(config.root, t.dir), config.root, ws)).map((f) => rel(config, f));
    } catch {
      out.push(t);
      continue;
    }
    if (closure.some((f) => set.has(f))) out.push(t);
  }
  return out;
}

/**
 * The configuration of a base revision's checkout. A revision without a gitops.yaml this toolkit
 * can read (before adoption, or an incompatible one) is read with `current` (the head's
 * gitops.yaml text) when given, and the note says so; without `current` nothing is read and
 * everything the head renders counts as added.
 */
export async function loadBaseConfig(dir: string, envVars: NodeJS.ProcessEnv, current?: string): Promise<{ config?: Config; note?: string }> {
  let why: string;
  if (!existsSync(path.join(dir, CONFIG_FILE))) why = `the base revision has no ${CONFIG_FILE}`;
  else {
    try {
      return { config: await loadConfig(dir, envVars) };
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      why = `the base revision's ${CONFIG_FILE} cannot be read by this toolkit (${e.message})`;
    }
  }
  if (current === undefined) return { note: `${why}: everything rendered counts as added` };
  try {
    return { config: parseConfig(path.resolve(dir), current, envVars), note: `${why}: it is read with the current ${CONFIG_FILE}` };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { note: `${why}, and the current one does not fit it (${e.message}): everything rendered counts as added` };
  }
}

/** Runs `fn` on a detached worktree of `ref`, removed afterwards whatever happens. */
export async function withWorktree<T>(cwd: string, ref: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const parent = await mkdtemp(path.join(os.tmpdir(), 'gitops-base-'));
  const dir = path.join(parent, 'tree');
  try {
    await git(cwd, ['worktree', 'add', '--detach', '--quiet', dir, ref]);
    // The gitops repo may be a sub-folder of the git repository.
    const prefix = (await git(cwd, ['rev-parse', '--show-prefix'])).trim();
    return await fn(path.join(dir, prefix));
  } finally {
    await run('git', ['worktree', 'remove', '--force', dir], { cwd, allowFailure: true }).catch(() => undefined);
    await rm(parent, { recursive: true, force: true });
    await run('git', ['worktree', 'prune'], { cwd, allowFailure: true }).catch(() => undefined);
  }
}
