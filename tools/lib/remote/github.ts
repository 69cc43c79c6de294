// Pull requests through @octokit/rest: find-or-create by branch, labels, superseding older ones.
import { Octokit } from '@octokit/rest';
import { ConfigError, GitHubError } from '../core/errors.js';
import { scrub } from './git.js';

export const DEFAULT_API_URL = 'https://api.github.com';
/** GitHub rejects issue and PR bodies and comments longer than this. */
export const MAX_BODY_CHARS = 65_536;

/**
 * Where the token goes: the API URL the user configured (GITHUB_API_URL, which GitHub Actions
 * sets), else api.github.com; never a URL named by repository content. gitops.yaml's
 * `github.apiUrl` (a pull request's branch can change it) may only repeat that URL: naming
 * another host is an error before any request is made.
 */
export function tokenApiUrl(env: NodeJS.ProcessEnv, repoSetting?: string): string {
  const url = (env.GITHUB_API_URL || DEFAULT_API_URL).replace(/\/+$/, '');
  if (repoSetting !== undefined) {
    const norm = (u: string) => {
      try {
        const x = new URL(u);
        return `${x.protocol}//${x.host}${x.pathname.replace(/\/+$/, '')}`;
      } catch {
        return undefined;
      }
    };
    if (norm(repoSetting) !== norm(url)) {
      throw new ConfigError('gitops.yaml: github.apiUrl', `names ${JSON.stringify(repoSetting)}, but the GitHub token is only sent to the API URL you configure (GITHUB_API_URL, else ${DEFAULT_API_URL}: now ${url}); repository content never decides where a credential goes`, `set GITHUB_API_URL to your GitHub's API URL (GitHub Enterprise: https://<host>/api/v3), or remove github.apiUrl from gitops.yaml`);
    }
  }
  return url;
}

export interface PullRequest {
  number: number;
  url: string;
  head: string;
  base: string;
  title: string;
  body: string;
  /** owner/repo the head branch lives in (null when that fork was deleted). */
  headRepo: string | null;
  /** Login of the author ('' when GitHub does not say). */
  user: string;
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
  user?: { login?: string } | null;
};

function toPull(p: RawPull): PullRequest {
  return { number: p.number, url: p.html_url, head: p.head.ref, base: p.base.ref, title: p.title, body: p.body ?? '', headRepo: p.head.repo?.full_name ?? null, user: p.user?.login ?? '' };
}

type FailedRequest = {
  name?: string;
  status?: number;
  message?: string;
  cause?: { name?: string; message?: string; code?: string };
  response?: { headers?: Record<string, string | undefined>; data?: { message?: string; errors?: unknown[] } };
};

/**
 * The real cause of a failed API call, first: a rate limit with its reset time, a timeout as a
 * timeout, then the status and GitHub's own message.
 */
export function describeFailure(e: unknown, what: string, timeoutMs: number, ctx: { owner: string; repo: string; token: string }, now = Date.now()): GitHubError {
  const err = e as FailedRequest;
  const status = typeof err.status === 'number' ? err.status : undefined;
  const headers = err.response?.headers ?? {};
  const clean = (t: string) => scrub(t, [ctx.token]);
  const timedOut = err.name === 'TimeoutError' || err.cause?.name === 'TimeoutError' || /aborted due to timeout|timeout/i.test(`${err.message ?? ''} ${err.cause?.message ?? ''}`);
  if (timedOut && (status === undefined || status === 500)) {
    return new GitHubError(clean(`GitHub API timed out after ${timeoutMs / 1000} s: ${what} got no answer`), undefined, 'GitHub (or the network to it) did not answer in time; re-run the command (GITOPS_NETWORK_TIMEOUT sets the limit in seconds): it finds the branch and the pull request where it stopped');
  }
  const remaining = headers['x-ratelimit-remaining'];
  const reset = Number(headers['x-ratelimit-reset']);
  const retryAfter = Number(headers['retry-after']);
  if ((status === 403 || status === 429) && (remaining === '0' || Number.isFinite(retryAfter) || /rate limit/i.test(err.message ?? ''))) {
    let when = '';
    if (remaining === '0' && Number.isFinite(reset) && reset > 0) {
      const mins = Math.ceil((reset * 1000 - now) / 60_000);
      // A reset time already past (a skewed clock, a proxy's header): say so, never "1970".
      when = mins > 0 ? `; it resets at ${new Date(reset * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')} (in ${mins} min)` : '; its reset time has already passed, so a retry now should work';
    } else if (Number.isFinite(retryAfter)) when = `; retry after ${retryAfter} s`;
    const kind = remaining === '0' ? 'rate limit exhausted' : 'secondary rate limit hit';
    return new GitHubError(clean(`GitHub API ${kind}${when} (while trying to ${what}; ${status})`), status, 'wait until then and re-run the command: it finds the branch and the pull request where it stopped');
  }
  const detail = err.response?.data?.errors?.length ? ` ${JSON.stringify(err.response.data.errors)}` : '';
  const reason = status === undefined ? `${err.cause?.code ?? err.cause?.message ?? err.message ?? String(e)}` : err.message ?? String(e);
  const hint =
    status === 401 ? 'check GITHUB_TOKEN (or GH_TOKEN): it is missing, expired or revoked'
    : status === 403 || status === 404 ? `the token needs pull-request write access to ${ctx.owner}/${ctx.repo} (fine-grained: Pull requests + Contents read/write)`
    : 're-run the command: it finds the branch and the pull request where it stopped';
  return new GitHubError(clean(`GitHub API: ${what} failed${status ? ` (${status})` : ''}: ${reason}${detail}`), status, hint);
}

export class GitHub {
  private readonly octokit: Octokit;
  readonly owner: string;
  readonly repo: string;
  private readonly maxPages: number;
  private readonly token: string;
  private readonly timeoutMs: number;

  constructor(opts: GitHubOptions) {
    this.owner = opts.owner;
    this.repo = opts.repo;
    this.token = opts.token;
    this.maxPages = opts.maxPages ?? 10;
    const timeoutMs = (this.timeoutMs = opts.timeoutMs ?? 30_000);
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
      throw describeFailure(e, what, this.timeoutMs, { owner: this.owner, repo: this.repo, token: this.token });
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
export async function upsertPull(
  gh: GitHub,
  spec: { head: string; base: string; title: string; body: string; labels: string[]; owned?: (p: PullRequest) => boolean },
): Promise<{ pr: PullRequest; created: boolean; foreign?: boolean }> {
  let pr = await gh.findOpenPull(spec.head);
  let created = false;
  if (pr && spec.owned && !spec.owned(pr)) {
    // Someone opened this branch's pull request by hand: its title and description are theirs.
    return { pr, created: false, foreign: true };
  }
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
      if (spec.owned && !spec.owned(existing)) return { pr: existing, created: false, foreign: true };
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
