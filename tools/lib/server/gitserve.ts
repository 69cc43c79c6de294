// The repository as the rehearsal's Argo CD pulls it: a bare repository in the run folder
// (objects borrowed from the project's own through alternates, so nothing is copied), holding
// one commit for the base revision and one for the change (the working tree, untracked files
// included), served by `git daemon` on 127.0.0.1. Every file naming the repository Argo CD deploys
// from names the served one instead, in both commits: the only difference from the real
// repository, and the report says so.
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GitopsError } from '../core/errors.js';
import { childEnv, run } from '../core/exec.js';
import type { RunDir, Spawned } from './rundir.js';
import { freePort, listening } from './ports.js';

export class GitServeError extends GitopsError {}

/** A fixed identity and date: the served commits of one tree are always the same commit. */
const COMMIT_ENV = { GIT_AUTHOR_NAME: 'gitops rehearse', GIT_AUTHOR_EMAIL: 'rehearse@localhost', GIT_COMMITTER_NAME: 'gitops rehearse', GIT_COMMITTER_EMAIL: 'rehearse@localhost', GIT_AUTHOR_DATE: '2000-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2000-01-01T00:00:00Z', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };

export class ServedRepo {
  private daemon?: Spawned;
  private readonly commits = new Map<string, Promise<string>>();
  url = '';

  private constructor(readonly gitDir: string, readonly cwd: string, private readonly run: RunDir) {}

  /** An empty bare repository borrowing the objects of the repository at `cwd`. */
  static async create(rd: RunDir, cwd: string): Promise<ServedRepo> {
    const root = path.join(rd.dir, 'git');
    const gitDir = path.join(root, 'repo.git');
    await mkdir(root, { recursive: true });
    await run('git', ['init', '--quiet', '--bare', gitDir], { env: childEnv({ set: COMMIT_ENV }) });
    const common = path.resolve(cwd, (await run('git', ['rev-parse', '--git-common-dir'], { cwd })).stdout.trim());
    await writeFile(path.join(gitDir, 'objects', 'info', 'alternates'), `${path.join(common, 'objects')}\n`);
    return new ServedRepo(gitDir, cwd, rd);
  }

  private git(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}): Promise<string> {
    return run('git', args, { cwd: opts.cwd ?? this.gitDir, input: opts.input, env: childEnv({ set: { ...COMMIT_ENV, GIT_DIR: this.gitDir, ...opts.env } }) }).then((r) => r.stdout);
  }

  /**
   * A commit of `rev`'s tree (undefined: the working tree at cwd, untracked files included, as
   * validate sees it), with `from` replaced by `to` in every file, on top of `parent`.
   */
  async commit(rev: string | undefined, rewrite: { from: string; to: string } | undefined, parent: string | undefined, message: string): Promise<string> {
    // One snapshot per run: the clusters rehearsed one after the other get the same commit (and
    // the working tree is read once).
    const key = JSON.stringify([rev, rewrite, parent, message]);
    let made = this.commits.get(key);
    if (!made) this.commits.set(key, (made = this.makeCommit(rev, rewrite, parent, message)));
    made.catch(() => this.commits.delete(key));
    return made;
  }

  private async makeCommit(rev: string | undefined, rewrite: { from: string; to: string } | undefined, parent: string | undefined, message: string): Promise<string> {
    const index = path.join(this.run.dir, 'git', `index-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    const env = { GIT_INDEX_FILE: index };
    if (rev) {
      const tree = (await run('git', ['rev-parse', '--verify', `${rev}^{tree}`], { cwd: this.cwd })).stdout.trim();
      await this.git(['read-tree', tree], { env });
    } else {
      // The gitops repo may be a sub-folder of its git repository: the served one is the git repository.
      const top = (await run('git', ['rev-parse', '--show-toplevel'], { cwd: this.cwd })).stdout.trim();
      // Seeded with a copy of the repository's own index (its stat data spares rehashing every
      // unchanged file; objects shared through the alternates), then every change added.
      const own = path.resolve(this.cwd, (await run('git', ['rev-parse', '--git-path', 'index'], { cwd: this.cwd })).stdout.trim());
      await copyFile(own, index).catch(() => undefined); // a repository without commits has no index yet
      await this.git(['--work-tree', top, 'add', '-A', '.'], { env, cwd: top });
    }
    if (rewrite && rewrite.from) {
      const files = (await this.git(['grep', '--cached', '-l', '-F', '-z', '-e', rewrite.from], { env }).catch(() => '')).split('\0').filter(Boolean);
      for (const f of files) {
        const [mode] = (await this.git(['ls-files', '-s', '--', f], { env })).split(' ');
        const text = await this.git(['cat-file', 'blob', `:${f}`], { env });
        const blob = (await this.git(['hash-object', '-w', '--stdin'], { input: text.split(rewrite.from).join(rewrite.to) })).trim();
        await this.git(['update-index', '--cacheinfo', `${mode},${blob},${f}`], { env });
      }
    }
    const tree = (await this.git(['write-tree'], { env })).trim();
    return (await this.git(['commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', message])).trim();
  }

  async treeOf(commit: string): Promise<string> {
    return (await this.git(['rev-parse', `${commit}^{tree}`])).trim();
  }

  /** Points each branch (and HEAD, through the first) at `commit`. */
  async publish(branches: string[], commit: string): Promise<void> {
    for (const b of branches) await this.git(['update-ref', `refs/heads/${b}`, commit]);
    if (branches[0]) await this.git(['symbolic-ref', 'HEAD', `refs/heads/${branches[0]}`]);
  }

  /** Checks `commit` out into `dir` (for rendering the cluster's entry point as served). */
  async checkout(commit: string, dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    const index = path.join(this.run.dir, 'git', `index-co-${Date.now()}`);
    await this.git(['--work-tree', dir, 'checkout', '-f', commit, '--', '.'], { env: { GIT_INDEX_FILE: index } });
  }

  /** Serves the repository with `git daemon` on 127.0.0.1; sets `url`. */
  async serve(): Promise<string> {
    const port = await freePort();
    const base = path.dirname(this.gitDir);
    // git-daemon itself, not `git daemon` (which execs it): the recorded binary must stay the one running.
    const execPath = (await run('git', ['--exec-path'])).stdout.trim();
    this.daemon = this.run.spawn('git-daemon', path.join(execPath, 'git-daemon'), ['--listen=127.0.0.1', `--port=${port}`, `--base-path=${base}`, '--export-all', '--reuseaddr', '--informative-errors', base], { env: { GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' } });
    const deadline = Date.now() + 30_000;
    for (;;) {
      await this.run.check(this.daemon);
      const ok = await listening(port);
      if (ok) break;
      if (Date.now() > deadline) throw new GitServeError(`git daemon not listening on 127.0.0.1:${port} within 30 s`);
      await sleep(100);
    }
    this.url = `git://127.0.0.1:${port}/repo.git`;
    return this.url;
  }
}
