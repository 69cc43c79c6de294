import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from './exec.js';
import { UsageError } from './errors.js';

/** Resolves a ref to a commit id; a clear error when it does not exist. */
export async function revParse(cwd: string, ref: string): Promise<string> {
  const { stdout, code } = await run('git', ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { cwd, allowFailure: true });
  if (code !== 0) throw new UsageError(`git ref '${ref}' does not exist in ${cwd}`);
  return stdout.trim();
}

/**
 * Default base for PR checks: the merge base with origin/<branch> (or <branch>), as CI sees it.
 * Undefined when neither exists (a fresh repository).
 */
export async function defaultBase(cwd: string, branch: string): Promise<string | undefined> {
  for (const ref of [`origin/${branch}`, branch]) {
    const { stdout, code } = await run('git', ['merge-base', 'HEAD', ref], { cwd, allowFailure: true });
    if (code === 0 && stdout.trim()) return stdout.trim();
  }
  return undefined;
}

/** Checks out `ref` in a temporary detached worktree for the duration of `fn`; always removed. */
export async function withWorktree<T>(cwd: string, ref: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const commit = await revParse(cwd, ref);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gitops-base-'));
  await run('git', ['worktree', 'add', '--detach', '--quiet', dir, commit], { cwd });
  try {
    return await fn(dir);
  } finally {
    await run('git', ['worktree', 'remove', '--force', dir], { cwd, allowFailure: true });
    await rm(dir, { recursive: true, force: true });
  }
}
