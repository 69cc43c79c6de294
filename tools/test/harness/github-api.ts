// Stateful stand-in for the slice of GitHub's REST API that release promotion uses. Every request and every
// response is checked against GitHub's published OpenAPI description, so passing tests mean real GitHub would agree.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sharedValidator, type Operation, type OpenApiValidator } from './openapi.js';

export interface GitHubApiOptions {
  owner: string;
  repo: string;
  token: string;
  /** Login of the token's user, author of PRs and comments. */
  login?: string;
  defaultBranch?: string;
  /** clone_url reported for the repository (e.g. the git harness's repoUrl). */
  cloneUrl?: string;
  /**
   * Resolves a branch to its commit sha; undefined means the branch does not exist, which GitHub answers with 422.
   * Without it every branch exists and gets a stable fake sha.
   */
  resolveRef?: (ref: string) => string | undefined | Promise<string | undefined>;
}

export interface PullRecord {
  id: number;
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  /** Branch name without owner. */
  head: string;
  headOwner: string;
  base: string;
  draft: boolean;
  maintainer_can_modify: boolean;
  user: string;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
}

export interface CommentRecord {
  id: number;
  issue_number: number;
  body: string;
  user: string;
  created_at: string;
  updated_at: string;
}

export interface GitHubApiState {
  pulls: PullRecord[];
  comments: CommentRecord[];
  /** Label names per issue/PR number, in the order they were added. */
  labels: Record<number, string[]>;
}

export interface ApiRequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  operationId?: string;
  status: number;
}

export interface GitHubApiHandle {
  /** Pass as Octokit's baseUrl. */
  url: string;
  state: GitHubApiState;
  requests: ApiRequestRecord[];
  /** Every schema mismatch (request or response), unknown endpoint and ignored parameter. Tests assert it is empty. */
  violations: string[];
  /**
   * Makes the next `times` calls matching an operationId (`pulls/create`), `METHOD /path` or `/path` answer `status`
   * with GitHub's error shape, before any state changes. `reply` sets the message and extra headers
   * (a rate limit: 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`).
   */
  failNext(match: string, status: number, times?: number, reply?: { message?: string; headers?: Record<string, string> }): void;
  /** Answers GitHub's primary rate-limit error (403, remaining 0, reset at `resetEpoch`) to the next `times` calls matching. */
  rateLimitNext(match: string, resetEpoch: number, times?: number): void;
  stop(): Promise<void>;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

interface Ctx {
  op: Operation;
  params: Record<string, string>;
  query: URLSearchParams;
  body: Record<string, unknown>;
  docs: string;
}

const MAX_BODY_BYTES = 5 * 1024 * 1024;
const BODY_TIMEOUT_MS = 10_000;
const IMPLEMENTED = new Set([
  'repos/get',
  'pulls/list',
  'pulls/create',
  'pulls/get',
  'pulls/update',
  'issues/add-labels',
  'issues/create-comment',
  'issues/list-comments',
]);

/** Fields of `pull-request` that list results (`pull-request-simple`) leave out. */
const FULL_ONLY_PULL_FIELDS = [
  'merged',
  'mergeable',
  'rebaseable',
  'mergeable_state',
  'merged_by',
  'comments',
  'review_comments',
  'maintainer_can_modify',
  'commits',
  'additions',
  'deletions',
  'changed_files',
];

/** GitHub timestamps are second precision, UTC, with Z. */
const iso = (d = new Date()) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const fakeSha = (ref: string) => createHash('sha1').update(`harness:${ref}`).digest('hex');
const nodeId = (kind: string, id: number) => `${kind}_${Buffer.from(`harness:${kind}:${id}`).toString('base64url')}`;

export async function startGitHubApi(opts: GitHubApiOptions): Promise<GitHubApiHandle> {
  const validator: OpenApiValidator = await sharedValidator();
  const login = opts.login ?? 'promote-bot';
  const defaultBranch = opts.defaultBranch ?? 'main';
  const state: GitHubApiState = { pulls: [], comments: [], labels: {} };
  const requests: ApiRequestRecord[] = [];
  const violations: string[] = [];
  const failures: { match: string; status: number; remaining: number; reply?: { message?: string; headers?: Record<string, string> } }[] = [];
  const labelDefs = new Map<string, { id: number; name: string }>();
  const createdAt = iso(new Date(Date.UTC(2024, 0, 1)));
  let nextPull = 1;
  let nextId = 1_000;
  let base = '';

  const sameName = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  const resolve = async (ref: string) => (opts.resolveRef ? opts.resolveRef(ref) : fakeSha(ref));

  // ---- factories: complete objects as GitHub returns them ----------------------------------------------------------
  const user = (name: string, id: number, type: 'User' | 'Organization' = 'User') => ({
    login: name,
    id,
    node_id: nodeId(type === 'User' ? 'U' : 'O', id),
    avatar_url: `${base}/avatars/u/${id}?v=4`,
    gravatar_id: '',
    url: `${base}/users/${name}`,
    html_url: `${base}/${name}`,
    followers_url: `${base}/users/${name}/followers`,
    following_url: `${base}/users/${name}/following{/other_user}`,
    gists_url: `${base}/users/${name}/gists{/gist_id}`,
    starred_url: `${base}/users/${name}/starred{/owner}{/repo}`,
    subscriptions_url: `${base}/users/${name}/subscriptions`,
    organizations_url: `${base}/users/${name}/orgs`,
    repos_url: `${base}/users/${name}/repos`,
    events_url: `${base}/users/${name}/events{/privacy}`,
    received_events_url: `${base}/users/${name}/received_events`,
    type,
    user_view_type: 'public',
    site_admin: false,
  });
  const ownerUser = () => user(opts.owner, 100, 'Organization');
  const actor = (name: string) => user(name, name === login ? 200 : 300);

  const repository = () => {
    const api = `${base}/repos/${opts.owner}/${opts.repo}`;
    const openPulls = state.pulls.filter((p) => p.state === 'open').length;
    return {
      id: 500,
      node_id: nodeId('R', 500),
      name: opts.repo,
      full_name: `${opts.owner}/${opts.repo}`,
      owner: ownerUser(),
      private: true,
      visibility: 'private',
      html_url: `${base}/${opts.owner}/${opts.repo}`,
      description: null,
      fork: false,
      url: api,
      archive_url: `${api}/{archive_format}{/ref}`,
      assignees_url: `${api}/assignees{/user}`,
      blobs_url: `${api}/git/blobs{/sha}`,
      branches_url: `${api}/branches{/branch}`,
      collaborators_url: `${api}/collaborators{/collaborator}`,
      comments_url: `${api}/comments{/number}`,
      commits_url: `${api}/commits{/sha}`,
      compare_url: `${api}/compare/{base}...{head}`,
      contents_url: `${api}/contents/{+path}`,
      contributors_url: `${api}/contributors`,
      deployments_url: `${api}/deployments`,
      downloads_url: `${api}/downloads`,
      events_url: `${api}/events`,
      forks_url: `${api}/forks`,
      git_commits_url: `${api}/git/commits{/sha}`,
      git_refs_url: `${api}/git/refs{/sha}`,
      git_tags_url: `${api}/git/tags{/sha}`,
      git_url: `git://${base.replace(/^https?:\/\//, '')}/${opts.owner}/${opts.repo}.git`,
      issue_comment_url: `${api}/issues/comments{/number}`,
      issue_events_url: `${api}/issues/events{/number}`,
      issues_url: `${api}/issues{/number}`,
      keys_url: `${api}/keys{/key_id}`,
      labels_url: `${api}/labels{/name}`,
      languages_url: `${api}/languages`,
      merges_url: `${api}/merges`,
      milestones_url: `${api}/milestones{/number}`,
      notifications_url: `${api}/notifications{?since,all,participating}`,
      pulls_url: `${api}/pulls{/number}`,
      releases_url: `${api}/releases{/id}`,
      ssh_url: `git@127.0.0.1:${opts.owner}/${opts.repo}.git`,
      stargazers_url: `${api}/stargazers`,
      statuses_url: `${api}/statuses/{sha}`,
      subscribers_url: `${api}/subscribers`,
      subscription_url: `${api}/subscription`,
      tags_url: `${api}/tags`,
      teams_url: `${api}/teams`,
      trees_url: `${api}/git/trees{/sha}`,
      clone_url: opts.cloneUrl ?? `${base}/${opts.owner}/${opts.repo}.git`,
      mirror_url: null,
      hooks_url: `${api}/hooks`,
      svn_url: `${base}/${opts.owner}/${opts.repo}`,
      homepage: null,
      language: 'TypeScript',
      forks: 0,
      forks_count: 0,
      stargazers_count: 0,
      watchers: 0,
      watchers_count: 0,
      size: 1,
      default_branch: defaultBranch,
      open_issues: openPulls,
      open_issues_count: openPulls,
      is_template: false,
      topics: [],
      has_issues: true,
      has_projects: false,
      has_wiki: false,
      has_pages: false,
      has_downloads: true,
      has_discussions: false,
      archived: false,
      disabled: false,
      pushed_at: iso(),
      created_at: createdAt,
      updated_at: iso(),
      permissions: { admin: false, maintain: false, push: true, triage: true, pull: true },
      allow_rebase_merge: true,
      allow_squash_merge: true,
      allow_merge_commit: true,
      allow_auto_merge: false,
      delete_branch_on_merge: true,
      allow_forking: false,
      web_commit_signoff_required: false,
      license: null,
      subscribers_count: 1,
      network_count: 0,
    };
  };

  const labelObject = (name: string) => {
    let def = labelDefs.get(name.toLowerCase());
    if (!def) {
      def = { id: nextId++, name };
      labelDefs.set(name.toLowerCase(), def);
    }
    return {
      id: def.id,
      node_id: nodeId('LA', def.id),
      url: `${base}/repos/${opts.owner}/${opts.repo}/labels/${encodeURIComponent(def.name)}`,
      name: def.name,
      // '' rather than null: pull-request-simple declares label descriptions non-nullable, unlike `label`.
      description: '',
      color: 'ededed',
      default: false,
    };
  };

  const pullObject = async (p: PullRecord, simple: boolean) => {
    const api = `${base}/repos/${opts.owner}/${opts.repo}`;
    const url = `${api}/pulls/${p.number}`;
    const html = `${base}/${opts.owner}/${opts.repo}/pull/${p.number}`;
    const headSha = (await resolve(p.head)) ?? fakeSha(p.head);
    const baseSha = (await resolve(p.base)) ?? fakeSha(p.base);
    const side = (ref: string, sha: string, owner: string) => ({
      label: `${owner}:${ref}`,
      ref,
      sha,
      user: ownerUser(),
      repo: repository(),
    });
    const comments = state.comments.filter((c) => c.issue_number === p.number).length;
    const full = {
      url,
      id: p.id,
      node_id: nodeId('PR', p.id),
      html_url: html,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      issue_url: `${api}/issues/${p.number}`,
      commits_url: `${url}/commits`,
      review_comments_url: `${url}/comments`,
      review_comment_url: `${api}/pulls/comments{/number}`,
      comments_url: `${api}/issues/${p.number}/comments`,
      statuses_url: `${api}/statuses/${headSha}`,
      number: p.number,
      state: p.state,
      locked: false,
      title: p.title,
      user: actor(p.user),
      body: p.body,
      labels: (state.labels[p.number] ?? []).map(labelObject),
      milestone: null,
      active_lock_reason: null,
      created_at: p.created_at,
      updated_at: p.updated_at,
      closed_at: p.closed_at,
      merged_at: null,
      merge_commit_sha: null,
      assignee: null,
      assignees: [],
      requested_reviewers: [],
      requested_teams: [],
      head: side(p.head, headSha, p.headOwner),
      base: side(p.base, baseSha, opts.owner),
      _links: {
        self: { href: url },
        html: { href: html },
        issue: { href: `${api}/issues/${p.number}` },
        comments: { href: `${api}/issues/${p.number}/comments` },
        review_comments: { href: `${url}/comments` },
        review_comment: { href: `${api}/pulls/comments{/number}` },
        commits: { href: `${url}/commits` },
        statuses: { href: `${api}/statuses/${headSha}` },
      },
      author_association: 'MEMBER',
      auto_merge: null,
      draft: p.draft,
      // Fields only the single-PR representation has; GitHub computes mergeability lazily, hence null/unknown.
      merged: false,
      mergeable: null,
      rebaseable: null,
      mergeable_state: 'unknown',
      merged_by: null,
      comments,
      review_comments: 0,
      maintainer_can_modify: p.maintainer_can_modify,
      commits: 1,
      additions: 1,
      deletions: 1,
      changed_files: 1,
    };
    const out: Record<string, unknown> = full;
    if (simple) for (const k of FULL_ONLY_PULL_FIELDS) delete out[k];
    return out;
  };

  const commentObject = (c: CommentRecord) => {
    const api = `${base}/repos/${opts.owner}/${opts.repo}`;
    return {
      id: c.id,
      node_id: nodeId('IC', c.id),
      url: `${api}/issues/comments/${c.id}`,
      html_url: `${base}/${opts.owner}/${opts.repo}/pull/${c.issue_number}#issuecomment-${c.id}`,
      body: c.body,
      user: actor(c.user),
      created_at: c.created_at,
      updated_at: c.updated_at,
      issue_url: `${api}/issues/${c.issue_number}`,
      author_association: 'MEMBER',
      performed_via_github_app: null,
      reactions: {
        url: `${api}/issues/comments/${c.id}/reactions`,
        total_count: 0,
        '+1': 0,
        '-1': 0,
        laugh: 0,
        confused: 0,
        heart: 0,
        hooray: 0,
        eyes: 0,
        rocket: 0,
      },
    };
  };

  // ---- GitHub's error shapes ----------------------------------------------------------------------------------------
  const error = (status: number, message: string, docs: string): Reply => ({
    status,
    body: { message, documentation_url: docs, status: String(status) },
  });
  const validationFailed = (docs: string, errors: Record<string, unknown>[]): Reply => ({
    status: 422,
    body: { message: 'Validation Failed', errors, documentation_url: docs, status: '422' },
  });
  const notFound = (docs: string) => error(404, 'Not Found', docs);

  /** Slices a list the way GitHub pages it, with a Link header octokit.paginate follows. */
  const paginate = <T>(items: T[], ctx: Ctx, pathname: string): { page: T[]; headers: Record<string, string> } => {
    const perPage = Math.min(100, Math.max(1, Number(ctx.query.get('per_page') ?? 30) || 30));
    const page = Math.max(1, Number(ctx.query.get('page') ?? 1) || 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const link = (n: number, rel: string) => {
      const q = new URLSearchParams(ctx.query);
      q.set('per_page', String(perPage));
      q.set('page', String(n));
      return `<${base}${pathname}?${q}>; rel="${rel}"`;
    };
    const links: string[] = [];
    if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'));
    if (page > 1) links.push(link(1, 'first'), link(page - 1, 'prev'));
    return { page: items.slice((page - 1) * perPage, page * perPage), headers: links.length ? { Link: links.join(', ') } : {} };
  };

  const findPull = (n: string | undefined) => state.pulls.find((p) => p.number === Number(n));
  const openDuplicate = (p: { head: string; headOwner: string; base: string }, except?: number) =>
    state.pulls.find(
      (o) => o.state === 'open' && o.number !== except && o.head === p.head && sameName(o.headOwner, p.headOwner) && o.base === p.base,
    );

  // ---- handlers -------------------------------------------------------------------------------------------------------
  const handlers: Record<string, (ctx: Ctx, pathname: string) => Promise<Reply>> = {
    'repos/get': async () => ({ status: 200, body: repository() }),

    'pulls/list': async (ctx, pathname) => {
      const st = ctx.query.get('state') ?? 'open';
      const head = ctx.query.get('head');
      const baseRef = ctx.query.get('base');
      let list = state.pulls.filter((p) => st === 'all' || p.state === st);
      if (head !== null) {
        const colon = head.indexOf(':');
        if (colon < 0) {
          // Real GitHub silently ignores a head filter without `owner:`, returning unrelated PRs.
          violations.push(`pulls/list request: head=${JSON.stringify(head)} lacks the "owner:" prefix; GitHub ignores such a filter`);
        } else {
          const owner = head.slice(0, colon);
          const ref = head.slice(colon + 1);
          list = list.filter((p) => sameName(p.headOwner, owner) && p.head === ref);
        }
      }
      if (baseRef !== null) list = list.filter((p) => p.base === baseRef);
      const sort = ctx.query.get('sort') ?? 'created';
      const direction = ctx.query.get('direction') ?? (sort === 'created' ? 'desc' : 'asc');
      const key = (p: PullRecord) => (sort === 'updated' ? p.updated_at : p.created_at) + String(p.number).padStart(9, '0');
      list = [...list].sort((a, b) => (key(a) < key(b) ? -1 : 1) * (direction === 'desc' ? -1 : 1));
      const { page, headers } = paginate(list, ctx, pathname);
      return { status: 200, body: await Promise.all(page.map((p) => pullObject(p, true))), headers };
    },

    'pulls/create': async (ctx) => {
      const b = ctx.body;
      const missing = ['head', 'base'].filter((f) => typeof b[f] !== 'string');
      if (typeof b.title !== 'string' && b.issue === undefined) missing.push('title');
      if (missing.length) {
        return validationFailed(ctx.docs, missing.map((field) => ({ resource: 'PullRequest', code: 'missing_field', field })));
      }
      const headSpec = b.head as string;
      const colon = headSpec.indexOf(':');
      const headOwner = colon < 0 ? opts.owner : headSpec.slice(0, colon);
      const head = colon < 0 ? headSpec : headSpec.slice(colon + 1);
      const baseRef = b.base as string;
      // No forks here: a head owned by someone else cannot exist.
      const headSha = sameName(headOwner, opts.owner) ? await resolve(head) : undefined;
      if (headSha === undefined) return validationFailed(ctx.docs, [{ resource: 'PullRequest', field: 'head', code: 'invalid' }]);
      const baseSha = await resolve(baseRef);
      if (baseSha === undefined) return validationFailed(ctx.docs, [{ resource: 'PullRequest', field: 'base', code: 'invalid' }]);
      const dup = openDuplicate({ head, headOwner, base: baseRef });
      if (dup) {
        return validationFailed(ctx.docs, [
          { resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${headOwner}:${head}.` },
        ]);
      }
      if (head === baseRef || headSha === baseSha) {
        return validationFailed(ctx.docs, [{ resource: 'PullRequest', code: 'custom', message: `No commits between ${baseRef} and ${head}` }]);
      }
      const now = iso();
      const pull: PullRecord = {
        id: nextId++,
        number: nextPull++,
        title: typeof b.title === 'string' ? b.title : `Issue ${String(b.issue)}`,
        body: typeof b.body === 'string' ? b.body : null,
        state: 'open',
        head,
        headOwner: opts.owner,
        base: baseRef,
        draft: b.draft === true,
        maintainer_can_modify: b.maintainer_can_modify !== false,
        user: login,
        created_at: now,
        updated_at: now,
        closed_at: null,
      };
      state.pulls.push(pull);
      const body = await pullObject(pull, false);
      return { status: 201, body, headers: { Location: String(body.url) } };
    },

    'pulls/get': async (ctx) => {
      const pull = findPull(ctx.params.pull_number);
      return pull ? { status: 200, body: await pullObject(pull, false) } : notFound(ctx.docs);
    },

    'pulls/update': async (ctx) => {
      const pull = findPull(ctx.params.pull_number);
      if (!pull) return notFound(ctx.docs);
      const b = ctx.body;
      if (typeof b.base === 'string' && (await resolve(b.base)) === undefined) {
        return validationFailed(ctx.docs, [{ resource: 'PullRequest', field: 'base', code: 'invalid' }]);
      }
      if (b.state === 'open' && pull.state === 'closed') {
        const dup = openDuplicate({ ...pull, base: typeof b.base === 'string' ? b.base : pull.base }, pull.number);
        if (dup) {
          return validationFailed(ctx.docs, [
            { resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${pull.headOwner}:${pull.head}.` },
          ]);
        }
      }
      const now = iso();
      if (typeof b.title === 'string') pull.title = b.title;
      if (typeof b.body === 'string') pull.body = b.body;
      if (typeof b.base === 'string') pull.base = b.base;
      if (typeof b.maintainer_can_modify === 'boolean') pull.maintainer_can_modify = b.maintainer_can_modify;
      if (b.state === 'closed' && pull.state === 'open') {
        pull.state = 'closed';
        pull.closed_at = now;
      } else if (b.state === 'open' && pull.state === 'closed') {
        pull.state = 'open';
        pull.closed_at = null;
      }
      pull.updated_at = now;
      return { status: 200, body: await pullObject(pull, false) };
    },

    'issues/add-labels': async (ctx) => {
      const pull = findPull(ctx.params.issue_number);
      if (!pull) return notFound(ctx.docs);
      const wanted = Array.isArray(ctx.body.labels) ? ctx.body.labels : [];
      const names = wanted.map((l) => (typeof l === 'string' ? l : String((l as { name: unknown }).name)));
      const current = (state.labels[pull.number] ??= []);
      for (const name of names) {
        // Labels are case-insensitive on GitHub; unknown ones are created on the fly.
        const canonical = labelObject(name).name;
        if (!current.some((c) => sameName(c, canonical))) current.push(canonical);
      }
      pull.updated_at = iso();
      return { status: 200, body: current.map(labelObject) };
    },

    'issues/create-comment': async (ctx) => {
      const pull = findPull(ctx.params.issue_number);
      if (!pull) return notFound(ctx.docs);
      const now = iso();
      const comment: CommentRecord = {
        id: nextId++,
        issue_number: pull.number,
        body: String(ctx.body.body),
        user: login,
        created_at: now,
        updated_at: now,
      };
      state.comments.push(comment);
      pull.updated_at = now;
      const body = commentObject(comment);
      return { status: 201, body, headers: { Location: body.url } };
    },

    'issues/list-comments': async (ctx, pathname) => {
      const pull = findPull(ctx.params.issue_number);
      if (!pull) return notFound(ctx.docs);
      const since = ctx.query.get('since');
      const list = state.comments.filter((c) => c.issue_number === pull.number && (!since || c.updated_at >= iso(new Date(since))));
      const { page, headers } = paginate(list, ctx, pathname);
      return { status: 200, body: page.map(commentObject), headers };
    },
  };

  // ---- HTTP plumbing --------------------------------------------------------------------------------------------------
  const readBody = (req: http.IncomingMessage) =>
    new Promise<string>((resolveBody, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const timer = setTimeout(() => reject(new Error('request body timed out')), BODY_TIMEOUT_MS);
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) {
          clearTimeout(timer);
          reject(new Error('request body too large'));
          req.destroy();
        } else chunks.push(c);
      });
      req.on('end', () => {
        clearTimeout(timer);
        resolveBody(Buffer.concat(chunks).toString('utf8'));
      });
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });

  const authorized = (header: string | undefined) => {
    const m = /^(?:token|bearer)\s+(\S+)$/i.exec(header ?? '');
    return m?.[1] === opts.token;
  };

  const takeFailure = (op: Operation | undefined, method: string, pathname: string) => {
    const idx = failures.findIndex(
      (f) => f.match === op?.operationId || f.match === pathname || f.match === `${method} ${pathname}`,
    );
    if (idx < 0) return undefined;
    const f = failures[idx]!;
    if (--f.remaining <= 0) failures.splice(idx, 1);
    return f;
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', base);
    const pathname = url.pathname.replace(/\/+$/, '') || '/';
    const record: ApiRequestRecord = { method, path: pathname, query: Object.fromEntries(url.searchParams), body: undefined, status: 0 };
    requests.push(record);
    const matched = validator.findOperation(method, pathname);
    const op = matched?.operation;
    record.operationId = op?.operationId;
    const docs = (op?.raw as { externalDocs?: { url?: string } } | undefined)?.externalDocs?.url ?? 'https://docs.github.com/rest';

    const send = (reply: Reply) => {
      record.status = reply.status;
      if (op) {
        for (const p of validator.validateResponse(op, reply.status, reply.body)) violations.push(`${op.operationId} response: ${p}`);
      }
      const payload = reply.body === undefined ? '' : JSON.stringify(reply.body);
      res.writeHead(reply.status, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': String(Buffer.byteLength(payload)),
        'X-GitHub-Media-Type': 'github.v3; format=json',
        'X-GitHub-Request-Id': `HARNESS:${requests.length}`,
        'X-RateLimit-Limit': '5000',
        'X-RateLimit-Remaining': '4999',
        'X-RateLimit-Reset': String(Math.floor(Date.now() / 1000) + 3600),
        'X-RateLimit-Resource': 'core',
        ...reply.headers,
      });
      res.end(payload);
    };

    let raw: string;
    try {
      raw = await readBody(req);
    } catch (e) {
      violations.push(`${method} ${pathname}: ${(e as Error).message}`);
      send(error(400, (e as Error).message, docs));
      return;
    }
    let body: unknown;
    if (raw.trim() !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        violations.push(`${op?.operationId ?? `${method} ${pathname}`} request: body is not JSON`);
        send(error(400, 'Problems parsing JSON', docs));
        return;
      }
    }
    record.body = body;

    // GitHub authenticates before routing: a bad token is a 401 on any path.
    if (!req.headers.authorization) {
      send(error(401, 'Requires authentication', docs));
      return;
    }
    if (!authorized(req.headers.authorization)) {
      send(error(401, 'Bad credentials', docs));
      return;
    }
    if (!matched || !op) {
      violations.push(`unknown endpoint: ${method} ${pathname}`);
      send(error(404, 'Not Found', docs));
      return;
    }
    if (!IMPLEMENTED.has(op.operationId)) {
      violations.push(`not implemented by the harness: ${op.operationId} (${method} ${op.pathTemplate})`);
      send(error(404, 'Not Found', docs));
      return;
    }
    const params = matched.pathParams;
    if (!sameName(params.owner ?? '', opts.owner) || !sameName(params.repo ?? '', opts.repo)) {
      send(error(404, 'Not Found', docs));
      return;
    }
    const check = validator.validateRequest(op, { pathParams: params, query: url.searchParams, body });
    for (const w of check.warnings) violations.push(`${op.operationId} request: ${w}`);
    if (check.errors.length) {
      for (const e of check.errors) violations.push(`${op.operationId} request: ${e}`);
      send({
        status: 422,
        body: { message: `Invalid request.\n\n${check.errors.join('\n')}`, documentation_url: docs, status: '422' },
      });
      return;
    }
    const injected = takeFailure(op, method, pathname);
    if (injected !== undefined) {
      const status = injected.status;
      send({ ...error(status, injected.reply?.message ?? (status >= 500 ? 'Server Error' : 'Injected failure'), docs), headers: injected.reply?.headers });
      return;
    }
    const ctx: Ctx = { op, params, query: url.searchParams, body: (body ?? {}) as Record<string, unknown>, docs };
    send(await handlers[op.operationId]!(ctx, pathname));
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      violations.push(`harness error on ${req.method} ${req.url}: ${(e as Error).stack ?? String(e)}`);
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: 'harness error', documentation_url: 'https://docs.github.com/rest' }));
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolveListen());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: base,
    state,
    requests,
    violations,
    failNext(match, status, times = 1, reply) {
      failures.push({ match, status, remaining: times, reply });
    },
    rateLimitNext(match, resetEpoch, times = 1) {
      failures.push({
        match,
        status: 403,
        remaining: times,
        reply: {
          // GitHub's wording and headers for an exhausted primary rate limit.
          message: `API rate limit exceeded for installation ID 1. If you reach out to GitHub Support for help, please include the request ID HARNESS:${requests.length}.`,
          headers: { 'X-RateLimit-Remaining': '0', 'X-RateLimit-Used': '5000', 'X-RateLimit-Reset': String(resetEpoch) },
        },
      });
    },
    stop: () =>
      new Promise<void>((resolveStop) => {
        server.close(() => resolveStop());
        server.closeAllConnections();
      }),
  };
}
