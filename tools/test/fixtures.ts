// Generic helpers for tests that need a repository on disk: write files into a temp folder,
// turn it into a git repository, commit, change files. Builds on repo-fixture.ts (makeRepo,
// removeRepo, the schema mirror), which also holds the small demo repository.
import { execFileSync } from 'node:child_process';

export { makeRepo, removeRepo, writeFiles, MIRROR, testEnv } from './repo-fixture.js';

/** Runs git in `dir` with a fixed identity (no global config needed); returns stdout. */
export function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', '-c', 'init.defaultBranch=main', ...args], {
    cwd: dir,
    stdio: 'pipe',
    encoding: 'utf8',
  });
}

/** `git init` on branch main and commit everything; returns the commit. */
export function gitInit(dir: string, message = 'fixture'): string {
  git(dir, 'init', '-q', '-b', 'main');
  return commitAll(dir, message);
}

/** Stages everything and commits; returns the new commit. */
export function commitAll(dir: string, message: string): string {
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '--allow-empty', '-m', message);
  return git(dir, 'rev-parse', 'HEAD').trim();
}
