// How bump, promote, scale and rollback turn an overlay edit into a pull request:
//   fetch origin -> temporary worktree at origin/<defaultBranch> -> edit (format-preserving) ->
//   validate the overlay -> commit on a deterministic branch -> push (atomic, with leases) ->
//   find-or-create the pull request -> close superseded ones.
// The user's checkout is never touched: the edit happens in a detached `git worktree` in a temp
// folder, so a dirty tree or another checked-out branch does not matter and cannot leak into the PR.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { discoverApps, resolveApp, type AppOverlay } from '../config/apps.js';
import { appInventory, describeApp, inventoryApps } from '../argocd/applications.js';
import { REPO_SERVER_KINDS } from '../argocd/clusterapps.js';
import { CONFIG_FILE, getEnvironment, loadConfig, type Config } from '../config/config.js';
import { ConfigError, FindingsError, GitError, GitopsError, NameError, UsageError } from '../core/errors.js';
import { formatMarkdown, renderedDiff } from '../report/diff.js';
import { classifyPush, Git, GitTimeoutError, parseRemoteUrl, PushRefusedError, scrub } from '../remote/git.js';
import { closeSuperseded, GitHub, MAX_BODY_CHARS, tokenApiUrl, upsertPull, type PullRequest } from '../remote/github.js';
import { parseKustomization, readImageEntries, type ImageEntry } from '../render/images.js';
import type { K8sObject } from '../core/k8s.js';
import { appTargets, renderTargets } from '../render/render.js';
import { formatText } from '../report/report.js';
import { withoutSecrets } from '../core/childenv.js';
import { mdCode } from '../core/redact.js';
import { networkTimeoutMs } from '../remote/network.js';
import { findKustomize } from '../core/tools.js';
import { runValidation } from '../validate/validation.js';
import { diffObjects } from '../report/diff.js';
import { targetLabel, targetsReading } from './inventory.js';
import { releaseInventory } from './helm.js';

export type ReleaseKind = 'bump' | 'promote' | 'scale' | 'rollback';

export interface ReleaseHooks {
  /** Runs after the fetch and the edit, right before each push attempt (tests inject a concurrent commit here). */
  beforePush?: (ctx: { attempt: number; base: string; branch: string }) => Promise<void> | void;
  /** Runs after the push and before any GitHub call (tests simulate a process killed here). */
  afterPush?: (ctx: { branch: string; commit: string }) => Promise<void> | void;
}

export interface ReleaseCommonOptions {
  cwd: string;
  /** Print branch, commit message, file diff and rendered diff; change nothing anywhere. */
  dryRun?: boolean;
  /** Stop after the local commit on the branch (no push, no pull request). */
  noPr?: boolean;
  /** Dry run only: also rehearse the sync of the edit (lib/server/rehearsal.ts) on the prepared worktree. */
  rehearse?: boolean;
  envVars?: NodeJS.ProcessEnv;
  /** Progress lines (default stderr). */
  log?: (line: string) => void;
  /** Results (default stdout). */
  write?: (text: string) => void;
  hooks?: ReleaseHooks;
}

/** One thing that moved: an image pin, a replica count, a release key. */
export interface Change {
  what: string;
  from: string;
  to: string;
}

export interface Edit {
  /** Repo-relative path -> new full text. */
  files: Record<string, string>;
  /** Commit subject and pull request title. */
  title: string;
  changes: Change[];
  /** Extra lines for the commit body and the PR body. */
  notes?: string[];
  /** Where the release comes from (promote: the source environment's commit). */
  source?: { label: string; sha: string; subject?: string };
  /**
   * Objects of other render targets whose change is the target's own (a Helm app's Application in
   * its cluster entry point), already proved by the plan to move only the target.
   */
  own?: Array<{ dir: string; resource: string }>;
}

export interface EditContext {
  /** Root of the temporary checkout of origin/<defaultBranch>. */
  root: string;
  config: Config;
  /** The target app, resolved in that checkout. */
  app: AppOverlay;
  apps: AppOverlay[];
  /** Commit of origin/<defaultBranch> the edit starts from. */
  base: string;
  /** Git on the main repository (shares objects and refs with the checkout). */
  git: Git;
  /** A config-root-relative path as git names it (the config root may be a subfolder of the repository). */
  repoPath: (file: string) => string;
  envVars: NodeJS.ProcessEnv;
  log: (line: string) => void;
}

export interface ReleasePlan {
  kind: ReleaseKind;
  /** App id (`system/service`), already resolved. */
  appId: string;
  env: string;
  /** Computes the edit on the checkout; null when there is nothing to change. */
  edit(ctx: EditContext): Promise<Edit | null>;
}

export type ReleaseStatus = 'unchanged' | 'dry-run' | 'committed' | 'pr-opened' | 'pr-updated';

export interface ReleaseResult {
  status: ReleaseStatus;
  branch: string;
  message?: string;
  commit?: string;
  base?: string;
  changes?: Change[];
  fileDiff?: string;
  renderedDiff?: string;
  pr?: { number: number; url: string };
  /** Pull requests closed as superseded by this one. */
  superseded?: number[];
}

export function branchName(kind: ReleaseKind, env: string, app: Pick<AppOverlay, 'slug'>): string {
  return `${kind}/${env}/${app.slug}`;
}

/**
 * The apps of the user's checkout: the overlays the layout declares when they hold the app, else
 * the whole inventory (overlays plus the kustomize folders Argo CD Applications deploy), which
 * renders the cluster entry points (and so writes .cache/ in the checkout) only when needed.
 */
async function checkoutApps(config: Config, envVars: NodeJS.ProcessEnv, found: (apps: AppOverlay[]) => unknown): Promise<AppOverlay[]> {
  const layout = await discoverApps(config);
  try {
    if (found(layout)) return layout;
  } catch {
    // not among the overlays: an app only an Application names
  }
  return (await releaseInventory(config, await findKustomize(envVars))).apps;
}

/** Config, environment and app of a command line, checked before anything touches git or the network. */
export async function resolveTarget(cwd: string, appName: string, envName: string, envVars: NodeJS.ProcessEnv = process.env, opts: { helm?: boolean; command?: string } = {}): Promise<{ config: Config; app: AppOverlay; apps: AppOverlay[] }> {
  const config = await loadConfig(cwd, envVars);
  getEnvironment(config, envName);
  const apps = await checkoutApps(config, envVars, (list) => resolveApp(config, list, appName, envName));
  let app: AppOverlay;
  try {
    app = resolveApp(config, apps, appName, envName);
  } catch (e) {
    if (!(e instanceof NameError)) throw e;
    // The same inventory diff and status read: an app whose Application Argo CD's repo-server
    // code renders (plain directory, jsonnet, ...) exists, but has no overlay or chart to edit.
    const inv = await appInventory(config, await findKustomize(envVars), { rendersAlso: [...REPO_SERVER_KINDS] });
    const hit = inv.applications.find((a) => a.env?.name === envName && !a.overlay && (a.state === 'rendered' || a.state === 'not-rendered') && (a.id === appName || a.id?.endsWith(`/${appName}`)));
    if (hit) {
      throw new UsageError(`app '${hit.id}' in environment '${envName}' is ${describeApp(hit.generated)}, ${hit.state === 'rendered' ? `rendered by Argo CD's repo-server code (${hit.source}, path ${hit.generated.path ?? '?'})` : `not rendered (${hit.reason})`}: the release commands edit kustomize overlays only`, hit.state === 'rendered' ? "change its values or files by hand; 'npm run diff' and 'npm run status' show what it renders" : undefined);
    }
    throw e;
  }
  // bump and scale edit an overlay; a Helm app's release is its chart version and values (promote, rollback).
  if (app.helm && !opts.helm) throw new UsageError(`${app.id} in ${envName} is deployed by the Helm source of Argo CD Application ${app.application} (${app.kustomization}), not by an overlay: ${opts.command ?? 'this command'} edits overlays`, 'change its values file or chart version by pull request; promote and rollback carry Helm releases');
  return { config, app, apps };
}

/** Reads and parses an overlay kustomization of a checkout. */
export async function readOverlay(root: string, app: AppOverlay): Promise<{ file: string; text: string; entries: ImageEntry[] }> {
  const file = app.kustomization;
  const text = await readFile(path.join(root, file), 'utf8').catch(() => undefined);
  if (text === undefined) throw new ConfigError(file, 'not found');
  return { file, text, entries: readImageEntries(parseKustomization(file, text), file) };
}

/** Renders one app overlay of a checkout; a build error becomes a ConfigError naming the overlay. */
export async function renderApp(config: Config, app: AppOverlay, envVars: NodeJS.ProcessEnv): Promise<K8sObject[]> {
  const tool = await findKustomize(envVars);
  const [r] = await renderTargets(config, tool, appTargets([app]));
  const err = r!.findings.find((f) => f.severity === 'error');
  if (err) throw new ConfigError(err.file ?? app.dir, err.message);
  return r!.objects;
}

function defaultLog(line: string): void {
  process.stderr.write(`${line}\n`);
}

function defaultWrite(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** Paths in the environment (GITOPS_SCHEMA_MIRROR) made absolute, so they mean the same inside the temporary checkout. */
function absolutizeEnv(envVars: NodeJS.ProcessEnv, root: string): NodeJS.ProcessEnv {
  const out = { ...envVars };
  for (const k of ['GITOPS_SCHEMA_MIRROR', 'GITOPS_TOOLS_DIR', 'GITOPS_KUSTOMIZE', 'GITOPS_KUBECONFORM']) {
    const v = out[k];
    if (v && (v.includes('/') || v.startsWith('.')) && !path.isAbsolute(v)) out[k] = path.resolve(root, v);
  }
  return out;
}

/** The trailer that marks a commit as made by this tool for one release (kind, env, app). */
export const TRAILER_KEY = 'Gitops-Release';

export function trailerValue(plan: Pick<ReleasePlan, 'kind' | 'env' | 'appId'>): string {
  return `${plan.kind} ${plan.env} ${plan.appId}`;
}

/**
 * The line that seals a commit as the tool's own: a hash of the exact tree the tool wrote, its
 * parent and the rest of its message. The trailer alone survives an amend, a rebase or a
 * squashed fix-up; the seal does not (the tree, the parent or the message changed), so a commit a
 * person changed is never mistaken for the tool's and pushed over.
 */
export const SEAL_KEY = 'Gitops-Release-Seal';

/** The message as git stores it for sealing: no seal line, trailing blanks and blank runs folded. */
function sealedText(message: string): string {
  return message
    .split('\n')
    .map((l) => l.replace(/\s+$/, ''))
    .filter((l) => !l.startsWith(`${SEAL_KEY}:`))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

export function sealOf(tree: string, parents: string, message: string): string {
  return createHash('sha256').update(`gitops-release-seal v1\n${tree}\n${parents.trim()}\n${sealedText(message)}`).digest('hex');
}

/** `message` with its seal for a commit of `tree` on `parent`, placed just before the trailer paragraph. */
function sealMessage(message: string, tree: string, parent: string): string {
  const seal = `${SEAL_KEY}: ${sealOf(tree, parent, message)}`;
  const cut = message.lastIndexOf('\n\n');
  return `${message.slice(0, cut)}\n\n${seal}${message.slice(cut)}`;
}

function commitMessage(plan: ReleasePlan, edit: Edit): string {
  const lines = [edit.title, ''];
  for (const c of edit.changes) lines.push(`${c.what}: ${c.from} -> ${c.to}`);
  if (edit.source) lines.push('', `${edit.source.label}: ${edit.source.sha}${edit.source.subject ? ` (${edit.source.subject})` : ''}`);
  if (edit.notes?.length) lines.push('', ...edit.notes);
  // The last paragraph is the trailer: the tool recognises its own commits by it, never by author.
  lines.push('', `${TRAILER_KEY}: ${trailerValue(plan)}`);
  return lines.join('\n');
}

/** The HTML comment the tool writes into the body of every pull request it opens. */
export function prMarker(plan: Pick<ReleasePlan, 'kind' | 'env' | 'appId'>): string {
  return `<!-- gitops-release kind=${plan.kind} env=${plan.env} app=${plan.appId} -->`;
}

/**
 * Whether a pull request body ends with exactly this release's marker (the tool writes it as the
 * last line). A hand-made pull request, or one for another app or environment, has no such line.
 */
export function hasMarker(body: string | null | undefined, plan: Pick<ReleasePlan, 'kind' | 'env' | 'appId'>): boolean {
  const lines = (body ?? '').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] === prMarker(plan);
}

export interface ForeignCommit {
  sha: string;
  subject: string;
  author: string;
}

/**
 * Commits on `tip` that are not on `base` and were not made by the tool for this very release
 * (no `Gitops-Release: <kind> <env> <app>` trailer). A reviewer's fix-up or a merge of main into the
 * branch counts as foreign: the tool must not replace them.
 */
export async function foreignCommits(git: Git, base: string, tip: string, plan: Pick<ReleasePlan, 'kind' | 'env' | 'appId'>): Promise<ForeignCommit[]> {
  const out = await git.run(['log', '--format=%H%x1f%s%x1f%an <%ae>%x1f%(trailers:key=' + TRAILER_KEY + ',valueonly,separator=%x1e)%x1f%T%x1f%P%x1f%B%x1d', `${base}..${tip}`]);
  const want = trailerValue(plan);
  const foreign: ForeignCommit[] = [];
  for (const rec of out.split('\x1d')) {
    const r = rec.replace(/^\n+/, '');
    if (!r.trim()) continue;
    const [sha, subject, author, trailers, tree, parents, body] = r.split('\x1f') as [string, string, string, string | undefined, string, string, string];
    const values = (trailers ?? '').split('\x1e').map((v) => v.trim());
    // The trailer says which release; the seal that it is still exactly what the tool wrote.
    const seal = new RegExp(`^${SEAL_KEY}: ([0-9a-f]{64})$`, 'm').exec(body ?? '')?.[1];
    if (!values.includes(want) || seal !== sealOf(tree, parents, body ?? '')) foreign.push({ sha, subject, author });
  }
  return foreign;
}

function foreignError(where: 'origin/' | 'local branch ', branch: string, commits: ForeignCommit[], plan: ReleasePlan): GitError {
  const list = commits.slice(0, 20).map((c) => `  ${c.sha.slice(0, 12)} ${c.subject} (${c.author})`).join('\n');
  const more = commits.length > 20 ? `\n  ... and ${commits.length - 20} more` : '';
  return new GitError(
    `${where}${branch} holds ${commits.length} commit${commits.length === 1 ? '' : 's'} this tool did not make for this ${plan.kind}; not replacing ${commits.length === 1 ? 'it' : 'them'}:\n${list}${more}`,
    `merge or close that branch's pull request first (or move those commits elsewhere and delete the branch), then re-run`,
  );
}

/** The rendered diff of the affected overlays as markdown, or a line saying why it is unavailable. */
async function renderedDiffMarkdown(cwd: string, base: string, overlays: string[], maxChars: number, envVars: NodeJS.ProcessEnv, secrets: Array<string | undefined>): Promise<{ markdown: string; available: boolean }> {
  try {
    const d = await renderedDiff({ cwd, base, overlays, envVars });
    return { available: true, markdown: formatMarkdown(d, { maxChars }) };
  } catch (e) {
    return { available: false, markdown: `rendered diff unavailable: ${scrub((e as Error).message, secrets).split('\n')[0]}` };
  }
}

function prBody(plan: ReleasePlan, app: AppOverlay, edit: Edit, validation: { warnings: number }, rendered: string): string {
  const head = [
    // Repository text only in code spans (core/redact.ts mdCode), as in the PR comment.
    `**${plan.kind}** of ${mdCode(app.id)} in environment ${mdCode(plan.env)} (overlay ${mdCode(app.kustomization)}).`,
    '',
    '| what | from | to |',
    '| --- | --- | --- |',
    ...edit.changes.map((c) => `| ${mdCode(c.what)} | ${mdCode(c.from)} | ${mdCode(c.to)} |`),
    '',
  ];
  if (edit.source) head.push(`${edit.source.label}: ${edit.source.sha}${edit.source.subject ? ` ${mdCode(edit.source.subject)}` : ''}`, '');
  if (edit.notes?.length) head.push(...edit.notes.map((n) => `- ${mdCode(n)}`), '');
  head.push(`Validation of the overlay: 0 errors, ${validation.warnings} warning${validation.warnings === 1 ? '' : 's'}.`, '');
  const tail = ['', prMarker(plan)];
  const fixed = head.join('\n').length + tail.join('\n').length + 1;
  let diff = rendered;
  const budget = MAX_BODY_CHARS - fixed - 64;
  if (diff.length > budget) diff = `${diff.slice(0, Math.max(0, budget - 80))}\n\n… rendered diff cut to fit GitHub's body limit; run \`npm run diff\` locally for all of it.`;
  return [...head, diff, ...tail].join('\n');
}

/** Everything about the repository a release needs before it touches a checkout. */
interface Session {
  config: Config;
  /** The environment for validation and git children, paths made absolute. */
  childEnv: NodeJS.ProcessEnv;
  token?: string;
  wantPr: boolean;
  /** Git on the repository's top level, with the push credentials. */
  git: Git;
  /** The config root relative to the repository's top level ('' when they are the same). */
  sub: string;
  remote?: ReturnType<typeof parseRemoteUrl>;
  branch: string;
  /** The overlay folder in the user's checkout (for messages). */
  overlayDir: string;
  /** The caller's environment (tokens included; never handed to children other than a pushing git). */
  envVars: NodeJS.ProcessEnv;
  /** The GitHub API the token goes to (tokenApiUrl: the user's setting, never the repository's). */
  apiUrl: string;
}

async function openSession(plan: ReleasePlan, opts: ReleaseCommonOptions, envVars: NodeJS.ProcessEnv, log: (l: string) => void): Promise<Session> {
  const config = await loadConfig(opts.cwd, envVars);
  const token = envVars.GITHUB_TOKEN || envVars.GH_TOKEN || undefined;
  const wantPr = !opts.dryRun && !opts.noPr;
  if (wantPr && !token) throw new UsageError('set GITHUB_TOKEN (or GH_TOKEN) to push the branch and open the pull request', 'or use --no-pr to stop after a local commit, or --dry-run to only see the change');
  // Checked before anything is pushed: the token only goes to the API URL the user configured.
  const apiUrl = wantPr ? tokenApiUrl(envVars, config.githubApiUrl) : '';

  const probe = new Git(config.root, { envVars });
  const top = (await probe.topLevel().catch(() => {
    throw new GitError(`${config.root} is not inside a git repository`);
  })).trim();
  let remote: Session['remote'];
  try {
    remote = parseRemoteUrl(await probe.remoteUrl('origin'));
  } catch (e) {
    if (wantPr) throw e;
  }
  const appHere = (await checkoutApps(config, envVars, (list) => list.find((a) => a.id === plan.appId && a.env.name === plan.env))).find((a) => a.id === plan.appId && a.env.name === plan.env);
  if (!appHere) throw new UsageError(`app '${plan.appId}' is not deployed to environment '${plan.env}'`);
  if ((await probe.statusPorcelain()).trim()) log('note: your working tree has uncommitted changes; they are not part of this release, which starts from origin/' + config.defaultBranch);
  return {
    config,
    // kustomize, kubeconform and git children never see a token or a registry password.
    childEnv: withoutSecrets(absolutizeEnv(envVars, config.root)),
    token,
    wantPr,
    git: new Git(top, { envVars, token, httpBase: remote?.httpBase }),
    sub: path.relative(top, config.root),
    remote,
    branch: branchName(plan.kind, plan.env, appHere),
    overlayDir: appHere.dir,
    envVars,
    apiUrl,
  };
}

/** Temporary worktrees are `<tmp>/gitops-release-<pid>-XXXXXX`: the pid says whether their owner still runs. */
const WORKTREE_RE = /^gitops-release-(\d+)-[A-Za-z0-9]{6}$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes what a run that was killed left behind: its temporary worktrees (the folder and git's
 * entry for it) and temporary folders whose owning process is gone. Worktrees of a run still in
 * progress (its pid alive) are left alone.
 */
export async function cleanStale(git: Git, log: (l: string) => void): Promise<void> {
  const stale = (p: string) => {
    const m = WORKTREE_RE.exec(path.basename(p));
    return !!m && Number(m[1]) !== process.pid && !alive(Number(m[1]));
  };
  const list = (await git.tryRun(['worktree', 'list', '--porcelain'])) ?? '';
  for (const line of list.split('\n')) {
    const wt = line.startsWith('worktree ') ? line.slice('worktree '.length) : undefined;
    if (!wt || !stale(wt)) continue;
    log(`removing the temporary worktree ${wt} of an earlier run that did not finish`);
    await git.tryRun(['worktree', 'remove', '--force', '--force', wt]);
    await rm(wt, { recursive: true, force: true });
  }
  const tmp = os.tmpdir();
  for (const name of await readdir(tmp).catch(() => [] as string[])) {
    if (stale(name)) await rm(path.join(tmp, name), { recursive: true, force: true }).catch(() => {});
  }
  await git.tryRun(['worktree', 'prune']);
}

/**
 * For tests of crash safety: GITOPS_FAULT_KILL_AT=<step> makes the process SIGKILL itself at that
 * step (fetched, worktree, edited, validated, committed, pushed, pr), as a power cut would.
 */
function faultPoint(step: string, envVars: NodeJS.ProcessEnv): void {
  if (envVars.GITOPS_FAULT_KILL_AT === step) process.kill(process.pid, 'SIGKILL');
}

/** Runs `fn` in a detached temporary worktree at `base`, removed afterwards whatever happens. */
async function inWorktree<T>(git: Git, base: string, envVars: NodeJS.ProcessEnv, fn: (wt: string) => Promise<T>): Promise<T> {
  const wt = await mkdtemp(path.join(os.tmpdir(), `gitops-release-${process.pid}-`));
  let added = false;
  try {
    await git.run(['worktree', 'add', '--detach', '--quiet', wt, base]);
    added = true;
    faultPoint('worktree', envVars);
    return await fn(wt);
  } finally {
    if (added) await git.tryRun(['worktree', 'remove', '--force', wt]);
    await rm(wt, { recursive: true, force: true });
    await git.tryRun(['worktree', 'prune']);
  }
}

interface Checked {
  warnings: number;
  rendered: { markdown: string; available: boolean };
  /** Dry run only: the validation report and why a real run would stop here. */
  blocked?: { report: string; message: string };
}

/**
 * Validates the edited overlay (errors stop the release) and renders its diff for the PR body.
 * A dry run goes on past errors, so the user sees the edit that validation would block.
 */
async function checkEdit(plan: ReleasePlan, app: AppOverlay, root: string, base: string, s: Session, log: (l: string) => void, write: (t: string) => void, dryRun = false): Promise<Checked> {
  log(`validating ${app.dir}`);
  // A Helm app is an Application of its cluster entry point, not an overlay: its environment is validated.
  const v = await runValidation({ cwd: root, env: plan.env, ...(app.helm ? {} : { app: app.id }), envVars: s.childEnv, warn: log });
  const errors = v.findings.filter((f) => f.severity === 'error');
  let blocked: Checked['blocked'];
  if (errors.length) {
    const report = formatText(v.findings, { overlays: v.overlays, objects: v.objects });
    const message = `validation of ${app.dir} failed with ${errors.length} error${errors.length === 1 ? '' : 's'} after the ${plan.kind}; nothing was committed`;
    if (!dryRun) {
      write(report);
      throw new FindingsError(message);
    }
    blocked = { report, message };
  }
  log('rendering the diff');
  const rendered = await renderedDiffMarkdown(root, base, [app.dir], MAX_BODY_CHARS - 8_000, s.childEnv, [s.envVars.GITHUB_TOKEN, s.envVars.GH_TOKEN]);
  if (!rendered.available) log(rendered.markdown);
  return { warnings: v.findings.filter((f) => f.severity === 'warning').length, rendered, ...(blocked ? { blocked } : {}) };
}

/**
 * An edit moves only its target: every other app (and cluster entry point) whose inputs include
 * an edited file is rendered before and after the edit, and any that renders differently stops
 * the release, named with what would change. The files are put back as they were at `base`
 * for the "before" render, then rewritten.
 */
export async function checkOnlyTarget(config: Config, app: AppOverlay, files: Record<string, string>, base: string, repoPath: (f: string) => string, wtGit: Git, envVars: NodeJS.ProcessEnv, log: (l: string) => void, own: Edit['own'] = []): Promise<void> {
  const edited = Object.keys(files);
  const others = (await targetsReading(config, edited)).filter((t) => !(t.app?.id === app.id && t.env?.name === app.env.name));
  if (!others.length) return;
  log(`rendering ${others.length} other target${others.length === 1 ? '' : 's'} that read${others.length === 1 ? 's' : ''} ${edited.join(', ')}`);
  const tool = await findKustomize(envVars);
  const after = await renderTargets(config, tool, others);
  const originals = new Map<string, string | undefined>();
  for (const f of edited) originals.set(f, await wtGit.tryRun(['show', `${base}:${repoPath(f)}`]));
  let before: Awaited<ReturnType<typeof renderTargets>>;
  try {
    for (const [f, text] of originals) {
      if (text === undefined) await rm(path.join(config.root, f), { force: true });
      else await writeFile(path.join(config.root, f), text);
    }
    before = await renderTargets(config, tool, others);
  } finally {
    for (const [f, text] of Object.entries(files)) await writeFile(path.join(config.root, f), text);
  }
  const moved: string[] = [];
  for (const [i, t] of others.entries()) {
    const b = before[i]!;
    const a = after[i]!;
    const errs = (r: typeof a) => r.findings.filter((f) => f.severity === 'error').map((f) => f.message).join('\n');
    const changes = diffObjects(b.objects, a.objects, config.sensitiveKeys).filter((c) => !own.some((o) => o.dir === t.dir && o.resource === c.resource));
    if (errs(a) && errs(a) !== errs(b)) moved.push(`${targetLabel(t)}: no longer renders (${errs(a).split('\n')[0]})`);
    else if (changes.length) {
      const what = changes.slice(0, 3).map((c) => `${c.resource}${c.fields.length ? ` ${c.fields.slice(0, 2).map((f) => f.path).join(', ')}` : ` ${c.change}`}`).join('; ');
      moved.push(`${targetLabel(t)}: ${what}${changes.length > 3 ? `; and ${changes.length - 3} more` : ''}`);
    }
  }
  if (moved.length) {
    throw new UsageError(
      `this edit of ${edited.join(', ')} for ${app.id} in ${app.env.name} would also change ${moved.length === 1 ? 'another target' : `${moved.length} other targets`}; nothing was committed:\n  ${moved.join('\n  ')}`,
      `pin it where only ${app.dir} reads it (its own kustomization's images:, or a patch only it uses), or give that file its own copy for ${app.env.name}`,
    );
  }
}


/** Commits the staged edit in the worktree (with a fallback identity), sealed; returns the commit. */
async function commitEdit(wtGit: Git, files: string[], message: string): Promise<string> {
  await wtGit.run(['add', '--', ...files]);
  const identity = (await wtGit.tryRun(['config', 'user.email']))?.trim() ? [] : ['-c', 'user.name=gitops toolkit', '-c', 'user.email=gitops-toolkit@users.noreply.github.com'];
  // The seal covers the tree about to be committed and its parent (sealMessage).
  const tree = (await wtGit.run(['write-tree'])).trim();
  const parent = (await wtGit.run(['rev-parse', 'HEAD'])).trim();
  // --no-verify: the overlay was validated above; repository hooks may need node_modules the temporary checkout lacks.
  // --cleanup=whitespace: stored as written (sealedText folds the same way), whatever commit.cleanup says.
  await wtGit.run([...identity, 'commit', '--quiet', '--no-verify', '--cleanup=whitespace', '-m', sealMessage(message, tree, parent)]);
  return (await wtGit.run(['rev-parse', 'HEAD'])).trim();
}

/**
 * Pushes `commit` to the release branch atomically with a lease on the default branch, so the
 * push fails if either moved since the fetch. Returns the commit that is on the branch now, or
 * 'race' when the caller should redo the edit on the new origin state.
 */
async function pushBranch(s: Session, plan: ReleasePlan, commit: string, base: string, attempt: number, attempts: number, log: (l: string) => void): Promise<string | 'race'> {
  const { git, branch, config } = s;
  const remoteSha = await git.revParse(`refs/remotes/origin/${branch}`);
  const reuse =
    remoteSha &&
    (await git.tryRun(['rev-parse', `${remoteSha}^`]))?.trim() === base &&
    (await git.tryRun(['rev-parse', `${remoteSha}^{tree}`]))?.trim() === (await git.run(['rev-parse', `${commit}^{tree}`])).trim();
  if (reuse && !(await foreignCommits(git, base, remoteSha, plan)).length) {
    log(`origin/${branch} already holds this change (${remoteSha.slice(0, 12)}); not pushing again`);
    return remoteSha;
  }
  if (remoteSha) {
    // Never replace commits someone else put on the release branch (a reviewer's fix-up).
    const foreign = await foreignCommits(git, base, remoteSha, plan);
    if (foreign.length) throw foreignError('origin/', branch, foreign, plan);
  }
  log(`pushing ${branch} (attempt ${attempt}/${attempts})`);
  try {
    await git.run(
      [
        'push', '--atomic', '--porcelain',
        `--force-with-lease=refs/heads/${branch}:${remoteSha ?? ''}`,
        `--force-with-lease=refs/heads/${config.defaultBranch}:${base}`,
        'origin',
        `${commit}:refs/heads/${branch}`,
        // Pushes nothing while origin/<default> is still `base`; makes the atomic push fail if it moved.
        `${base}:refs/heads/${config.defaultBranch}`,
      ],
      { network: true },
    );
    return commit;
  } catch (e) {
    if (e instanceof GitTimeoutError) throw e;
    const out = `${(e as { stderr?: string }).stderr ?? ''}\n${(e as { stdout?: string }).stdout ?? ''}\n${(e as Error).message}`;
    const { kind, reason } = classifyPush(out);
    // A hook or branch protection said no: the server's reason first, and no retry (it would say no again).
    if (kind === 'refused') throw new PushRefusedError(`origin refused the push of ${branch}: ${reason}`, 'the server (a pre-receive hook or branch protection) rejected it; retrying cannot help: resolve what it says, then re-run');
    if (kind === 'auth') throw new GitError((e as Error).message, 'the token needs write access to the repository contents');
    if (attempt >= attempts) throw new GitError(`${(e as Error).message}\n(gave up after ${attempts} push attempts, gitops.yaml promotion.maxPushAttempts)`, 're-run the command: it starts over from the new origin state');
    log(kind === 'race' ? `push rejected: origin moved since the fetch; redoing the ${plan.kind} on the new origin/${config.defaultBranch}` : `push failed (${(e as Error).message.split('\n')[0]}); retrying`);
    await git.fetch();
    return 'race';
  }
}

/** Opens or updates the branch's pull request and closes the older ones it supersedes. */
async function openPullRequest(s: Session, plan: ReleasePlan, app: AppOverlay, edit: Edit, checked: Checked, log: (l: string) => void): Promise<{ pr: PullRequest; created: boolean; superseded: number[] }> {
  const { remote, config, branch } = s;
  const gh = new GitHub({ baseUrl: s.apiUrl, token: s.token!, owner: remote!.owner, repo: remote!.repo, timeoutMs: networkTimeoutMs(s.envVars, 30_000) });
  const body = prBody(plan, app, edit, { warnings: checked.warnings }, checked.rendered.markdown);
  const { pr, created, foreign } = await upsertPull(gh, { head: branch, base: config.defaultBranch, title: edit.title, body, labels: config.promotionLabels, owned: (p) => hasMarker(p.body, plan) });
  // Only pull requests this tool opened for exactly this kind, app and environment (its marker), from this repository.
  // A person can end a pull request of theirs with the marker too: only the tool's own account's
  // (the author of the pull request it just opened or updated) are closed.
  const older = foreign || !pr.user ? [] : (await gh.listOpenPulls()).filter((p: PullRequest) => p.number !== pr.number && p.user === pr.user && p.headRepo === `${remote!.owner}/${remote!.repo}` && p.base === config.defaultBranch && hasMarker(p.body, plan));
  faultPoint('pr', s.envVars);
  if (foreign) log(`note: pull request #${pr.number} of ${branch} was not opened by this tool; its title and description are left as they are`);
  return { pr, created, superseded: await closeSuperseded(gh, older, pr) };
}

/**
 * `--dry-run --rehearse`: the sync rehearsal of the edited worktree (the change) against `base`,
 * the edited app's Application only; its report is printed, and an error finding fails the dry run.
 */
async function rehearseEdit(root: string, env: string, appId: string, base: string, envVars: NodeJS.ProcessEnv, log: (l: string) => void, write: (t: string) => void): Promise<void> {
  log(`rehearsing the sync of ${appId} in ${env}`);
  const { rehearse } = await import('../server/rehearsal.js');
  const r = await rehearse({ cwd: root, env, app: appId, base, envVars, log });
  const apps = r.clusters.reduce((n, c) => n + c.apps.length, 0);
  write(`\nsync rehearsal of the edit (the real Argo CD, a simulated ${r.clusters.map((c) => c.cluster).join(', ') || 'cluster'}):\n${formatText(r.findings, { overlays: apps, objects: r.clusters.reduce((n, c) => n + c.apps.reduce((m, a) => m + a.tasks.length, 0), 0) })}`);
  const errors = r.findings.filter((f) => f.severity === 'error').length;
  if (errors) throw new FindingsError(`the sync rehearsal of this edit found ${errors} error${errors === 1 ? '' : 's'}; a real run would not check it (dry run: nothing was committed)`);
}

/** What the stages of one release share; `checks` outlives a push attempt, the rest is fixed at the start. */
interface ReleaseRun {
  plan: ReleasePlan;
  opts: ReleaseCommonOptions;
  s: Session;
  log: (l: string) => void;
  write: (t: string) => void;
  /** The checkout's gitops.yaml, compared with (and for a dry run, put over) the one on the base. */
  localConfig: string;
  /** Why origin could not be fetched (a dry run only; it then starts from HEAD). */
  noOrigin?: string;
  attempts: number;
  /** A retry on the same base with the same edit (a failed push) reuses the checks of the first attempt. */
  checks: Map<string, Checked>;
}

/** One push attempt: the temporary worktree and the commit it was made at. */
interface Attempt {
  wt: string;
  /** The config root inside the worktree. */
  root: string;
  base: string;
  /** How messages name the base: origin/<default>, or HEAD for a dry run without it. */
  baseName: string;
  attempt: number;
}

/** The edited target in the worktree, with the results of its checks. */
interface Edited {
  app: AppOverlay;
  edit: Edit;
  checked: Checked;
}

export async function release(plan: ReleasePlan, opts: ReleaseCommonOptions): Promise<ReleaseResult> {
  const log = opts.log ?? defaultLog;
  const write = opts.write ?? defaultWrite;
  const s = await openSession(plan, opts, opts.envVars ?? process.env, log);
  await cleanStale(s.git, log);
  const noOrigin = await fetchOrigin(s, opts.dryRun, log);
  faultPoint('fetched', s.envVars);
  const localConfig = await readFile(path.join(s.config.root, CONFIG_FILE), 'utf8');
  const run: ReleaseRun = { plan, opts, s, log, write, localConfig, noOrigin, attempts: s.wantPr ? s.config.maxPushAttempts : 1, checks: new Map() };
  for (let attempt = 1; attempt <= run.attempts; attempt++) {
    const { base, baseName } = await attemptBase(run);
    const outcome = await inWorktree(s.git, base, s.envVars, (wt) => releaseAttempt(run, { wt, root: path.join(wt, s.sub), base, baseName, attempt }));
    if (outcome !== 'retry') return outcome;
  }
  throw new GitError(`could not push ${s.branch} after ${run.attempts} attempts`);
}

/** Fetches origin; a dry run works before anything is pushed, so without a reachable origin it returns why and goes on. */
async function fetchOrigin(s: Session, dryRun: boolean | undefined, log: (l: string) => void): Promise<string | undefined> {
  log(`fetching origin`);
  try {
    await s.git.fetch();
    return undefined;
  } catch (e) {
    if (!dryRun) throw e;
    return `cannot fetch origin (${scrub((e as Error).message, [s.token]).split('\n')[0]})`;
  }
}

/** The commit an attempt starts from: origin/<default> as just fetched, or HEAD for a dry run without it. */
async function attemptBase(run: ReleaseRun): Promise<{ base: string; baseName: string }> {
  const { s: { git, config }, opts, noOrigin, log } = run;
  let base = noOrigin ? undefined : await git.revParse(`refs/remotes/origin/${config.defaultBranch}`);
  let baseName = `origin/${config.defaultBranch}`;
  if (!base && opts.dryRun) {
    base = await git.revParse('HEAD');
    baseName = 'HEAD';
    log(`note: ${noOrigin ?? `origin has no branch '${config.defaultBranch}'`}; the dry run starts from your HEAD${base ? ` (${base.slice(0, 12)})` : ''}`);
  }
  if (!base) throw new GitError(`origin has no branch '${config.defaultBranch}' (gitops.yaml defaultBranch)`, opts.dryRun ? 'commit something first' : `push ${config.defaultBranch} first, or use --dry-run to see the change from your checkout`);
  return { base, baseName };
}

/** One attempt in the worktree: edit and check, then stop at the dry run, the local commit or the pull request ('retry': origin moved). */
async function releaseAttempt(run: ReleaseRun, at: Attempt): Promise<ReleaseResult | 'retry'> {
  const { plan, opts, s, write } = run;
  const edited = await editTarget(run, at);
  if (!edited) return { status: 'unchanged', branch: s.branch, base: at.base };
  const { app, edit, checked } = edited;
  const wtGit = new Git(at.wt, { envVars: opts.envVars ?? process.env });
  const files = Object.keys(edit.files).map((f) => repoPathIn(s, f));
  const fileDiff = await wtGit.run(['diff', '--no-color', '--', ...files]);
  const message = commitMessage(plan, edit);
  const result: ReleaseResult = { status: 'dry-run', branch: s.branch, base: at.base, message, changes: edit.changes, fileDiff, renderedDiff: checked.rendered.markdown };
  if (opts.dryRun) {
    write([`branch: ${s.branch} (from origin/${s.config.defaultBranch} ${at.base.slice(0, 12)})`, '', 'commit message:', ...message.split('\n').map((l) => `  ${l}`), '', 'file diff:', fileDiff.trimEnd(), '', 'rendered diff:', checked.rendered.markdown, '', 'dry run: nothing was committed, pushed or opened'].join('\n'));
    await finishDryRun(run, at, app, checked);
    return result;
  }
  result.commit = await commitEdit(wtGit, files, message);
  faultPoint('committed', s.envVars);
  if (opts.noPr) return keepLocalCommit(run, at.base, result.commit, edit, result);
  return pushAndOpenPr(run, at, result.commit, edited, result);
}

/** A config-root-relative path as git names it (the config root may be a subfolder of the repository). */
function repoPathIn(s: Session, file: string): string {
  const prefix = s.sub.split(path.sep).join('/');
  return prefix ? path.posix.join(prefix, file) : file;
}

/** Puts the right gitops.yaml in the worktree: the base's for a real run (the release starts from what origin has), the checkout's for a dry run. */
async function settleConfig(run: ReleaseRun, at: Attempt): Promise<void> {
  const { opts, log, localConfig } = run;
  const { root, base, baseName } = at;
  const there = await readFile(path.join(root, CONFIG_FILE), 'utf8').catch(() => undefined);
  if (there !== localConfig) {
    if (!opts.dryRun && there === undefined) {
      throw new ConfigError(CONFIG_FILE, `not on ${baseName} (${base.slice(0, 12)}): the release starts from what origin has`, `commit and push ${CONFIG_FILE} first; --dry-run shows the change with your local ${CONFIG_FILE}`);
    }
    if (!opts.dryRun) log(`note: your checkout's ${CONFIG_FILE} differs from ${baseName}'s; this release uses ${baseName}'s (push yours first to use it)`);
  }
  if (there !== localConfig && opts.dryRun) {
    // The dry run uses the checkout's settings: what the user is trying out.
    log(`note: using your checkout's ${CONFIG_FILE}, which ${there === undefined ? `${baseName} does not have yet` : `differs from ${baseName}'s`} (a real run needs it pushed)`);
    await writeFile(path.join(root, CONFIG_FILE), localConfig);
  }
}

/** Resolves the target in the worktree, makes the plan's edit there and checks it (null: nothing to change, said to the user). */
async function editTarget(run: ReleaseRun, at: Attempt): Promise<Edited | null> {
  const { plan, opts, s, log, write } = run;
  const { root, base, wt } = at;
  await settleConfig(run, at);
  const wtConfig = await loadConfig(root, s.childEnv);
  const { apps } = await releaseInventory(wtConfig, await findKustomize(s.childEnv));
  const app = apps.find((a) => a.id === plan.appId && a.env.name === plan.env);
  if (!app) throw new ConfigError(s.overlayDir, `overlay does not exist on origin/${s.config.defaultBranch}; push the overlay first`);
  const repoPath = (file: string) => repoPathIn(s, file);
  const edit = await plan.edit({ root, config: wtConfig, app, apps, base, git: s.git, repoPath, envVars: s.childEnv, log });
  if (!edit) {
    write(`nothing to change: ${app.id} in ${plan.env} already is what ${plan.kind} would make it (origin/${s.config.defaultBranch} ${base.slice(0, 12)}); no branch, no pull request`);
    return null;
  }
  for (const [file, text] of Object.entries(edit.files)) await writeFile(path.join(root, file), text);
  faultPoint('edited', s.envVars);
  await checkOnlyTarget(wtConfig, app, edit.files, base, repoPath, new Git(wt, { envVars: s.childEnv }), s.childEnv, log, edit.own);

  const cacheKey = `${base}\0${JSON.stringify(edit.files)}`;
  const checked = run.checks.get(cacheKey) ?? (await checkEdit(plan, app, root, base, s, log, write, opts.dryRun));
  run.checks.set(cacheKey, checked);
  faultPoint('validated', s.envVars);
  return { app, edit, checked };
}

/** The end of a dry run (its diff already printed): fails as a real run would on blocking findings, then the optional rehearsal. */
async function finishDryRun(run: ReleaseRun, at: Attempt, app: AppOverlay, checked: Checked): Promise<void> {
  const { plan, opts, s, log, write } = run;
  if (checked.blocked) {
    write(`\nvalidation would block this ${plan.kind}:\n${checked.blocked.report}`);
    throw new FindingsError(checked.blocked.message.replace('; nothing was committed', '; a real run would stop here (dry run: nothing was committed)'));
  }
  if (opts.rehearse) await rehearseEdit(at.root, plan.env, app.id, at.base, s.childEnv, log, write);
}

/** --no-pr: points the local branch at the commit, refusing to drop commits on it that this tool did not make. */
async function keepLocalCommit(run: ReleaseRun, base: string, commit: string, edit: Edit, result: ReleaseResult): Promise<ReleaseResult> {
  const { plan, s: { git, branch }, write } = run;
  const local = await git.revParse(`refs/heads/${branch}`);
  if (local && local !== commit) {
    const foreign = await foreignCommits(git, base, local, plan);
    if (foreign.length) throw foreignError('local branch ', branch, foreign, plan);
  }
  await git.run(['branch', '--force', branch, commit]).catch((e: GitopsError) => {
    throw new GitError(`${e.message}`, `branch ${branch} is checked out; switch to another branch and re-run`);
  });
  write(`committed ${commit.slice(0, 12)} on local branch ${branch}: ${edit.title}\n(--no-pr: not pushed; push it and open the pull request yourself, or re-run without --no-pr)`);
  return { ...result, status: 'committed' };
}

/** Pushes the commit (atomically against the base) and opens or updates the pull request; 'retry' when origin moved. */
async function pushAndOpenPr(run: ReleaseRun, at: Attempt, commit: string, edited: Edited, result: ReleaseResult): Promise<ReleaseResult | 'retry'> {
  const { plan, opts, s, log, write, attempts } = run;
  const { base, attempt } = at;
  await opts.hooks?.beforePush?.({ attempt, base, branch: s.branch });
  const pushed = await pushBranch(s, plan, commit, base, attempt, attempts, log);
  if (pushed === 'race') return 'retry';
  result.commit = pushed;
  faultPoint('pushed', s.envVars);
  await opts.hooks?.afterPush?.({ branch: s.branch, commit: pushed });

  const { pr, created, superseded } = await openPullRequest(s, plan, edited.app, edited.edit, edited.checked, log);
  write(`${created ? 'opened' : 'updated'} pull request #${pr.number}: ${pr.url}${superseded.length ? ` (closed superseded ${superseded.map((n) => `#${n}`).join(', ')})` : ''}`);
  return { ...result, status: created ? 'pr-opened' : 'pr-updated', pr: { number: pr.number, url: pr.url }, superseded };
}
