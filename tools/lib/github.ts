// Pull requests through @octokit/rest: find-or-create by branch, labels, superseding older ones.
import { Octokit } from '@octokit/rest';
import { GitHubError } from './errors.js';
import { scrub } from './git.js';

export const DEFAULT_API_URL = 'https://api.github.com';
/** GitHub rejects issue and PR bodies and comments longer than this. */
export const MAX_BODY_CHARS = 65_536;

export interface PullRequest {
  number: number;
  url: string;
  head: string;
  base: string;
  title: string;
  body: string;
  /** owner/repo the head branch lives in (null when that fork was deleted). */
  headRepo: string | null;
}

export interface IssueComment {
  id: number;
  body: string;
  /** Login of the author. */
  user: string;
}

export interface GitHubOptions {
  baseUrl?: string;
  token: string;
  owner: string;
  repo: string;
  /** Per request (default 30 s). */
  timeoutMs?: number;
  /** At most this many pages of 100 when listing (default 10). */
  maxPages?: number;
}

type RawPull = {
  number: number;
  html_url: string;
  title: string;
  body?: string | null;
  head: { ref: string; repo: { full_name: string } | null };
  base: { ref: string };
};

function toPull(p: RawPull): PullRequest {
  return { number: p.number, url: p.html_url, head: p.head.ref, base: p.base.ref, title: p.title, body: p.body ?? '', headRepo: p.head.repo?.full_name ?? null };
}

export class GitHub {
  private readonly octokit: Octokit;
  readonly owner: string;
  readonly repo: string;
  private readonly maxPages: number;
  private readonly token: string;

  constructor(opts: GitHubOptions) {
    this.owner = opts.owner;
    this.repo = opts.repo;
    this.token = opts.token;
    this.maxPages = opts.maxPages ?? 10;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    this.octokit = new Octokit({
      auth: opts.token,
      baseUrl: (opts.baseUrl ?? DEFAULT_API_URL).replace(/\/+$/, ''),
      userAgent: 'crianex-gitops-toolkit',
      log: { debug() {}, info() {}, warn() {}, error() {} },
      request: { fetch: (url: string, init: RequestInit) => fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) }) },
    });
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const err = e as { status?: number; message?: string; response?: { data?: { message?: string; errors?: unknown[] } } };
      const detail = err.response?.data?.errors?.length ? ` ${JSON.stringify(err.response.data.errors)}` : '';
      const status = typeof err.status === 'number' ? err.status : undefined;
      const hint =
        status === 401 ? 'check GITHUB_TOKEN (or GH_TOKEN): it is missing, expired or revoked'
        : status === 403 || status === 404 ? `the token needs pull-request write access to ${this.owner}/${this.repo} (fine-grained: Pull requests + Contents read/write)`
        : 're-run the command: it finds the branch and the pull request where it stopped';
      throw new GitHubError(scrub(`GitHub API: ${what} failed${status ? ` (${status})` : ''}: ${err.message ?? String(e)}${detail}`, [this.token]), status, hint);
    }
  }

  private get repoParams() {
    return { owner: this.owner, repo: this.repo };
  }

  /** The open pull request whose head is `<owner>:<branch>`, if any. */
  async findOpenPull(branch: string): Promise<PullRequest | undefined> {
    const { data } = await this.call(`list pull requests of ${branch}`, () =>
      this.octokit.rest.pulls.list({ ...this.repoParams, state: 'open', head: `${this.owner}:${branch}`, per_page: 100 }),
    );
    return (data as RawPull[]).map(toPull).find((p) => p.head === branch);
  }

  /** Every open pull request (bounded by maxPages pages of 100). */
  async listOpenPulls(): Promise<PullRequest[]> {
    const out: PullRequest[] = [];
    for (let page = 1; page <= this.maxPages; page++) {
      const { data } = await this.call('list open pull requests', () => this.octokit.rest.pulls.list({ ...this.repoParams, state: 'open', per_page: 100, page }));
      out.push(...(data as RawPull[]).map(toPull));
      if (data.length < 100) break;
    }
    return out;
  }

  async createPull(spec: { head: string; base: string; title: string; body: string }): Promise<PullRequest> {
    const { data } = await this.call(`open a pull request for ${spec.head}`, () => this.octokit.rest.pulls.create({ ...this.repoParams, ...spec, maintainer_can_modify: true }));
    return toPull(data as RawPull);
  }

  async updatePull(number: number, spec: { title?: string; body?: string; state?: 'open' | 'closed' }): Promise<PullRequest> {
    const { data } = await this.call(`update pull request #${number}`, () => this.octokit.rest.pulls.update({ ...this.repoParams, pull_number: number, ...spec }));
    return toPull(data as RawPull);
  }

  async addLabels(number: number, labels: string[]): Promise<void> {
    if (!labels.length) return;
    await this.call(`label pull request #${number}`, () => this.octokit.rest.issues.addLabels({ ...this.repoParams, issue_number: number, labels }));
  }

  async comment(number: number, body: string): Promise<void> {
    await this.createComment(number, body);
  }

  /** One pull request, with the commit its head points at. */
  async getPull(number: number): Promise<PullRequest & { headSha: string }> {
    const { data } = await this.call(`get pull request #${number}`, () => this.octokit.rest.pulls.get({ ...this.repoParams, pull_number: number }));
    return { ...toPull(data as RawPull), headSha: (data as { head: { sha: string } }).head.sha };
  }

  /** Every comment of an issue or pull request (bounded by maxPages pages of 100). */
  async listComments(number: number): Promise<IssueComment[]> {
    const out: IssueComment[] = [];
    for (let page = 1; page <= this.maxPages; page++) {
      const { data } = await this.call(`list comments of #${number}`, () => this.octokit.rest.issues.listComments({ ...this.repoParams, issue_number: number, per_page: 100, page }));
      out.push(...data.map((c) => ({ id: c.id, body: c.body ?? '', user: c.user?.login ?? '' })));
      if (data.length < 100) break;
    }
    return out;
  }

  async createComment(number: number, body: string): Promise<number> {
    const { data } = await this.call(`comment on #${number}`, () => this.octokit.rest.issues.createComment({ ...this.repoParams, issue_number: number, body }));
    return data.id;
  }

  async updateComment(id: number, body: string): Promise<void> {
    await this.call(`update comment ${id}`, () => this.octokit.rest.issues.updateComment({ ...this.repoParams, comment_id: id, body }));
  }
}

/**
 * Updates the open pull request of `head`, or opens one. A create that races another run (422
 * "already exists") falls back to finding and updating it.
 */
export async function upsertPull(gh: GitHub, spec: { head: string; base: string; title: string; body: string; labels: string[] }): Promise<{ pr: PullRequest; created: boolean }> {
  let pr = await gh.findOpenPull(spec.head);
  let created = false;
  if (pr) {
    if (pr.title !== spec.title || pr.body !== spec.body) pr = await gh.updatePull(pr.number, { title: spec.title, body: spec.body });
  } else {
    try {
      pr = await gh.createPull({ head: spec.head, base: spec.base, title: spec.title, body: spec.body });
      created = true;
    } catch (e) {
      if (!(e instanceof GitHubError) || e.status !== 422) throw e;
      const existing = await gh.findOpenPull(spec.head);
      if (!existing) throw e;
      pr = await gh.updatePull(existing.number, { title: spec.title, body: spec.body });
    }
  }
  await gh.addLabels(pr.number, spec.labels);
  return { pr, created };
}

/** Closes each pull request with a comment pointing at its replacement. */
export async function closeSuperseded(gh: GitHub, older: PullRequest[], by: PullRequest): Promise<number[]> {
  const closed: number[] = [];
  for (const p of older) {
    if (p.number === by.number) continue;
    await gh.comment(p.number, `Superseded by #${by.number} (${by.url}), which carries the same change from branch \`${by.head}\`. Closing this one.`);
    await gh.updatePull(p.number, { state: 'closed' });
    closed.push(p.number);
  }
  return closed;
}
