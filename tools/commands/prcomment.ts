// `npm run pr-comment`: finds the pull request's sticky comment by its hidden marker and updates it
// in place, or creates it. Runs in the trusted workflow_run job (default-branch code, write token);
// the reports come from the untrusted job's artifact, so they are data: read with every field
// type-checked, and the comment is rebuilt here by the default branch's code (every repository
// string in a code span, the diff fence or HTML-escaped: no HTML, mention or link of the fork's
// reaches the comment), posted only when the pull request's head is the commit that produced it.
import { GitHubError, UsageError } from '../lib/core/errors.js';
import { DEFAULT_API_URL, GitHub, MAX_BODY_CHARS } from '../lib/remote/github.js';
import { formatPrReport, PR_REPORT_MARKER, readReports } from '../lib/report/prreport.js';

export interface PrCommentOptions {
  cwd: string;
  pr: string;
  /** `validate --format json` output (from the artifact). */
  validation?: string;
  /** `diff --format json` output (from the artifact). */
  diff?: string;
  /** The commit the report was made for: refuse to comment when the PR's head moved elsewhere. */
  headSha?: string;
  /** owner/name (default GITHUB_REPOSITORY). */
  repo?: string;
  /** Login whose marked comment is the sticky one (default github-actions[bot], the workflow token's user). */
  author?: string;
  envVars?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

export interface PrCommentResult {
  commentId: number;
  action: 'created' | 'updated' | 'unchanged';
}

export async function prComment(opts: PrCommentOptions): Promise<PrCommentResult> {
  const env = opts.envVars ?? process.env;
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  if (!/^[1-9][0-9]{0,9}$/.test(opts.pr.trim())) throw new UsageError(`--pr must be a pull request number (got '${opts.pr.slice(0, 40)}')`);
  const number = Number(opts.pr.trim());
  if (opts.headSha !== undefined && !/^[0-9a-f]{40}$/.test(opts.headSha)) throw new UsageError(`--head-sha must be a 40-hex commit (got '${opts.headSha.slice(0, 50)}')`);
  const repoSpec = opts.repo ?? env.GITHUB_REPOSITORY ?? '';
  const m = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(repoSpec);
  if (!m) throw new UsageError(`--repo must be owner/name (got '${repoSpec}')`, 'GitHub Actions sets GITHUB_REPOSITORY; elsewhere pass --repo');
  const token = env.GITHUB_TOKEN || env.GH_TOKEN;
  if (!token) throw new UsageError('set GITHUB_TOKEN (or GH_TOKEN) to comment on the pull request');
  const { validation, diff } = await readReports(opts.cwd, opts);
  const body = formatPrReport(validation, diff, { maxChars: MAX_BODY_CHARS });

  const gh = new GitHub({ baseUrl: env.GITHUB_API_URL ?? DEFAULT_API_URL, token, owner: m[1]!, repo: m[2]! });
  if (opts.headSha) {
    const pull = await gh.getPull(number);
    if (pull.headSha !== opts.headSha) {
      throw new GitHubError(`pull request #${number} is at ${pull.headSha.slice(0, 12)}, not ${opts.headSha.slice(0, 12)}: the report belongs to another commit`, undefined, 'a newer run will comment for the new head');
    }
  }
  // Only our own marked comment counts: anyone can paste the marker into a comment of theirs.
  const author = opts.author ?? 'github-actions[bot]';
  const mine = (await gh.listComments(number)).filter((c) => c.user === author && c.body.startsWith(PR_REPORT_MARKER));
  // The oldest marked comment is the sticky one; later duplicates (a race of two runs) are left alone.
  const sticky = mine.sort((a, b) => a.id - b.id)[0];
  if (!sticky) {
    const id = await gh.createComment(number, body);
    log(`pull request #${number}: comment ${id} created`);
    return { commentId: id, action: 'created' };
  }
  if (sticky.body === body) {
    log(`pull request #${number}: comment ${sticky.id} already up to date`);
    return { commentId: sticky.id, action: 'unchanged' };
  }
  await gh.updateComment(sticky.id, body);
  log(`pull request #${number}: comment ${sticky.id} updated`);
  return { commentId: sticky.id, action: 'updated' };
}
