// Argo CD parity: the Applications that the Applications and ApplicationSets rendered from
// clusters/<cluster> stand for, as Argo CD's own ApplicationSet code generates them
// (tools/go/argocd/helper, lib/argocd/helper.ts) against the working tree (the revision being
// validated), and the argocd-cm settings that change renders.
import { readdir, readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../core/exec.js';
import { resourceId, type K8sObject } from '../core/k8s.js';
import type { Config } from '../config/config.js';
import { locate, renderTargets, workspaceFor } from '../render/render.js';
import { type Rendered, type Target } from '../render/rendered.js';
import { findHelm, type Tool } from '../core/tools.js';
import type { Finding } from '../core/finding.js';
import { findArgoHelper, type ClusterSecret, type RepoContext, type SourceRender } from './helper.js';
import { KUSTOMIZATION_NAMES } from '../config/layout.js';

/** The repository files an ApplicationSet git generator can see (repo-relative, POSIX). */
export interface RepoTree {
  /** Absolute working tree the files are in (Argo CD's code reads them there). */
  root: string;
  files: string[];
  read(file: string): Promise<string | undefined>;
}

/**
 * The repository tree, listed once per validation run (render.ts beginRun: the inventory, the
 * cross-checks, coverage and the Flux scan all read it); outside a run every call lists it anew.
 */
export function runRepoTree(config: Config): Promise<RepoTree> {
  return workspaceFor(config).memo(`repoTree:${config.root}`, () => repoTree(config.root));
}

/** Tracked and untracked-but-not-ignored files of the working tree (a plain walk outside git). */
export async function repoTree(root: string): Promise<RepoTree> {
  let files: string[];
  // One git call (a spawn costs tens of ms): tracked (H, or another tag), untracked (?) and, to
  // leave out, tracked files deleted from the working tree (R): a generator cannot see those.
  const git = await run('git', ['ls-files', '-z', '-t', '--cached', '--others', '--exclude-standard', '--deleted'], { cwd: root, allowFailure: true }).catch(() => undefined);
  if (git && git.code === 0) {
    const entries = git.stdout.split('\0').filter(Boolean).map((e) => [e.slice(0, 1), e.slice(2)] as const);
    const gone = new Set(entries.filter(([t]) => t === 'R').map(([, f]) => f));
    files = [...new Set(entries.filter(([t, f]) => t !== 'R' && !gone.has(f)).map(([, f]) => f))];
  } else {
    files = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(path.join(root, dir), { withFileTypes: true })) {
        if (e.name === '.git' || e.name === 'node_modules') continue;
        const p = dir ? `${dir}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) files.push(p);
      }
    };
    await walk('');
  }
  // A generator reads only files inside the repository: a symlink out of it reads as absent.
  const realRoot = await realpath(root).catch(() => root);
  const read = async (f: string): Promise<string | undefined> => {
    const real = await realpath(path.join(root, f)).catch(() => undefined);
    const r = real && path.relative(realRoot, real);
    if (!r || r.startsWith('..') || path.isAbsolute(r) || r.split(path.sep).includes('.git')) return undefined;
    return readFile(real, 'utf8').catch(() => undefined);
  };
  return { root: path.resolve(root), files: files.sort(), read };
}

/** One source of an Application (spec.source, or an entry of spec.sources), as written. */
export interface AppSource {
  repoURL?: string;
  path?: string;
  targetRevision?: string;
  chart?: string;
  ref?: string;
  helm?: Record<string, unknown>;
  kustomize?: Record<string, unknown>;
  directory?: Record<string, unknown>;
  plugin?: Record<string, unknown>;
}

export interface GeneratedApp {
  name: string;
  project: string;
  repoURL?: string;
  path?: string;
  /** `source.targetRevision` as written (unset: HEAD). */
  targetRevision?: string;
  destination: { server?: string; name?: string; namespace?: string };
  /** The rendered Application (generated or written as such). */
  app: K8sObject;
  /** The ApplicationSet or Application in clusters/<cluster> it comes from. */
  origin: { r: Rendered; o: K8sObject };
  /** Every source (spec.source, or spec.sources in order); repoURL/path above are the first with a path. */
  sources: AppSource[];
  /** Index of the ApplicationSet generator that made it (absent: written as an Application). */
  generator?: number;
}

export interface Expansion {
  apps: GeneratedApp[];
  findings: Finding[];
  /** Some generator could not be expanded: absent Applications may be a limit of this tool. */
  incomplete: boolean;
  /** Repository files Argo CD's generators read (for cache keys). */
  reads?: string[];
}

/**
 * Whether an Application deploys the revision being validated: it tracks the default branch
 * (or HEAD, Argo CD's default, which is the default branch). Anything else (another branch, a
 * tag, a commit) deploys files this checkout does not hold.
 */
export function tracksDefaultBranch(app: Pick<GeneratedApp, 'targetRevision'>, defaultBranch: string): boolean {
  const r = (app.targetRevision ?? '').trim();
  return revisionsUnderTest(defaultBranch).includes(r);
}

/** The revision spellings that name the default branch (what the working tree will hold). */
export function revisionsUnderTest(defaultBranch: string): string[] {
  return ['', 'HEAD', defaultBranch, `refs/heads/${defaultBranch}`, `origin/${defaultBranch}`];
}

/** Repository URLs compare without a trailing `.git` or slash, case-insensitively. */
export function sameRepo(a: string | undefined, b: string | undefined): boolean {
  const norm = (u: string | undefined) => (u ?? '').trim().replace(/\/+$/, '').replace(/\.git$/, '').toLowerCase();
  return !!norm(a) && norm(a) === norm(b);
}

const isArgo = (o: K8sObject, kind: string) => !!o.apiVersion?.startsWith('argoproj.io/') && o.kind === kind;

function toGenerated(app: K8sObject, origin: GeneratedApp['origin'], generator?: number): GeneratedApp {
  const spec = (app.spec ?? {}) as { project?: string; source?: AppSource; sources?: AppSource[]; destination?: GeneratedApp['destination'] };
  const sources = spec.sources?.length ? spec.sources : spec.source ? [spec.source] : [];
  const source = sources.find((s) => s.path !== undefined && s.path !== null) ?? sources[0];
  const rev = source?.targetRevision;
  return {
    name: app.metadata?.name ?? '?', project: spec.project || 'default', repoURL: source?.repoURL,
    path: typeof source?.path === 'string' ? source.path.replace(/^\.?\/+/, '').replace(/\/+$/, '') || '.' : undefined,
    ...(rev !== undefined && rev !== null ? { targetRevision: String(rev) } : {}),
    destination: spec.destination ?? {}, app, origin, sources, ...(generator !== undefined ? { generator } : {}),
  };
}

export interface ExpandOptions {
  /** gitops.yaml defaultBranch (default main): the revisions that mean "the working tree". */
  defaultBranch?: string;
  /** The clusters the cluster generator sees (default: the cluster itself, as Argo CD's in-cluster). */
  clusters?: ClusterSecret[];
  env?: NodeJS.ProcessEnv;
}

/** The repository context the helper reads: the working tree standing for `repoURL` at the default branch. */
export function repoContext(tree: RepoTree, repoURL: string, defaultBranch = 'main'): RepoContext {
  return { root: tree.root, repoURL, revisions: revisionsUnderTest(defaultBranch), files: tree.files };
}

/**
 * The Applications that the ApplicationSets and Applications rendered from a cluster entry
 * point stand for, generated by Argo CD's own ApplicationSet code (every generator it can run
 * offline: list, git directories and files on `repoURL` at the revision under test, clusters,
 * matrix, merge; goTemplate, sprig, templatePatch). A generator Argo CD would fail on is an error
 * (the controller then updates none of the ApplicationSet's Applications); one that cannot run
 * offline (SCM provider, pull request, cluster decision resource, plugin, another repository or
 * revision) is a note, and makes the expansion incomplete.
 */
export async function expandApplications(cluster: Rendered, repoURL: string, tree: RepoTree, opts: ExpandOptions = {}): Promise<Expansion> {
  const out: Expansion = { apps: [], findings: [], incomplete: false, reads: [] };
  const sets = cluster.objects.filter((o) => isArgo(o, 'ApplicationSet'));
  for (const o of cluster.objects) if (isArgo(o, 'Application')) out.apps.push(toGenerated(o, { r: cluster, o }));
  if (!sets.length) return out;
  const helper = await findArgoHelper(opts.env);
  const clusters = opts.clusters ?? [{ name: cluster.target.cluster, server: 'https://kubernetes.default.svc' }];
  const { results, reads: read } = await helper.expand(repoContext(tree, repoURL, opts.defaultBranch), {
    applicationSets: sets, projects: cluster.objects.filter((o) => isArgo(o, 'AppProject')), clusters,
  });
  const reads = new Set<string>(read);
  for (const [i, o] of sets.entries()) {
    const res = results[i] ?? { apps: [], errors: [{ generator: -1, message: 'no answer from argocd-helper' }] };
    const at = (rule: string, severity: Finding['severity'], message: string, pointer?: string): Finding => ({
      severity, rule, overlay: cluster.target.dir, resource: resourceId(o), message, ...locate(cluster, o, pointer),
    });
    for (const a of res.apps) out.apps.push(toGenerated(a.application as K8sObject, { r: cluster, o }, a.generator));
    for (const e of res.errors) {
      const pointer = e.generator >= 0 ? `/spec/generators/${e.generator}` : undefined;
      const which = e.generator >= 0 ? `generator ${e.generator}` : 'the ApplicationSet';
      if (e.offline) {
        out.incomplete = true;
        out.findings.push(at('argo-generator', 'info', `${which} is not expanded: ${e.message}; its Applications are not checked`, pointer));
        continue;
      }
      // Filed under the cluster entry point, but about the folder whose file broke the generator.
      const file = /unable to process file '([^']+)'/.exec(e.message)?.[1];
      if (file) reads.add(file);
      const folder = file ? path.posix.dirname(file) : /template fails for ([^\s{"]+):/.exec(e.message)?.[1];
      out.findings.push({
        ...at('argo-template', 'error', `${which}: ${e.message}; the ApplicationSet controller stops with an error and updates none of its Applications`, pointer ?? '/spec'),
        ...(folder ? { subjects: [folder] } : {}),
      });
    }
  }
  // Read through the tree as well, so that a caller's reader records them (cache keys hash them).
  for (const f of reads) await tree.read(f);
  out.reads = [...reads].sort();
  return out;
}

/**
 * The folder the fast path renders for an Application (`kustomize build <path>` with the
 * cluster's build options, through the long-lived renderer), when Argo CD's repo-server renders
 * exactly that: one source, of the repository under test at the revision under test, a
 * kustomization in its path, no helm/kustomize/directory/plugin settings, no
 * .argocd-source*.yaml overrides. tools/test/argocd.test.ts proves the two byte-identical for
 * every such Application of this repository and the fixtures. Anything else: undefined (the
 * repo-server's own code renders it).
 */
export function fastPathDir(app: GeneratedApp, repoURL: string, defaultBranch: string, tree: Pick<RepoTree, 'files'>): string | undefined {
  if (app.sources.length !== 1 || app.path === undefined) return undefined;
  const s = app.sources[0];
  if (!sameRepo(s.repoURL, repoURL) || !tracksDefaultBranch({ targetRevision: s.targetRevision === undefined || s.targetRevision === null ? undefined : String(s.targetRevision) }, defaultBranch)) return undefined;
  if (s.chart || s.ref || s.helm || s.kustomize || s.directory || s.plugin) return undefined;
  const dir = app.path;
  const has = (f: string) => tree.files.includes(dir === '.' ? f : `${dir}/${f}`);
  if (!KUSTOMIZATION_NAMES.some(has)) return undefined;
  if (has('.argocd-source.yaml') || has(`.argocd-source-${app.name}.yaml`)) return undefined;
  return dir;
}

/** What the repo-server renders for an Application, source by source. */
export interface AppRender {
  objects: K8sObject[];
  sources: SourceRender[];
  /** The Application does not parse (no source rendered). */
  error?: string;
}

/**
 * The manifests of an Application, from Argo CD's repo-server code (GenerateManifests) over a
 * copy of the working tree: Helm (values, valueFiles, parameters, releaseName, $values from
 * another source, the pinned helm), kustomize (the cluster's vetted build options and the
 * Application's overrides), plain directories (recurse, include, exclude, jsonnet). Sources it
 * cannot render offline come back with `offline` set.
 */
export async function renderApplication(app: GeneratedApp, ctx: RepoContext, opts: { buildOptions: string[]; kubeVersion?: string; env?: NodeJS.ProcessEnv }): Promise<AppRender> {
  const helper = await findArgoHelper(opts.env);
  const res = await helper.manifests(ctx, { application: app.app, kustomizeBuildOptions: opts.buildOptions.join(' '), kubeVersion: opts.kubeVersion });
  return { objects: res.sources.flatMap((s) => s.manifests as K8sObject[]), sources: res.sources, ...(res.error !== undefined ? { error: res.error } : {}) };
}

/**
 * Build options a repository may ask for through argocd-cm: none runs a program or widens file
 * access. `--enable-helm` renders with the toolkit's pinned helm (`--helm-command` is ours,
 * never the repository's); the load restrictor is always LoadRestrictionsRootOnly.
 */
const ALLOWED_OPTIONS: Record<string, { value?: RegExp }> = {
  '--enable-helm': {},
  '--helm-debug': {},
  '--helm-kube-version': { value: /^v?\d+\.\d+(\.\d+)?$/ },
  '--helm-api-versions': { value: /^[a-z0-9.-]+(\/[A-Za-z0-9.-]+)*$/ },
  '--load-restrictor': { value: /^LoadRestrictionsRootOnly$/ },
};

/** Options that run programs or read outside the overlay: named in the finding. */
const DANGEROUS: Record<string, string> = {
  '--enable-exec': 'runs executables named by the repository',
  '--enable-alpha-plugins': 'runs plugins and KRM functions (executables or containers)',
  '--helm-command': 'runs a program named by the repository (the toolkit uses its own pinned helm)',
  '--mount': 'mounts host folders into function containers',
  '--network': 'gives function containers network access',
  '--network-name': 'gives function containers network access',
  '--env': 'passes environment variables to functions',
  '-e': 'passes environment variables to functions',
  '--as-current-user': 'runs function containers as the current user',
  '--output': 'writes files',
  '-o': 'writes files',
};

export interface BuildOptions {
  /** Vetted arguments for kustomize build (without the load restrictor, which is always set). */
  args: string[];
  findings: Finding[];
}

/**
 * `kustomize.buildOptions` of the argocd-cm rendered in a cluster entry point, through the
 * allowlist: every refused option is an error finding at the argocd-cm line and is never passed
 * on. `helm` is the pinned helm binary (undefined when not installed).
 */
export function checkBuildOptions(cluster: Rendered | undefined, helm?: string): BuildOptions {
  const out: BuildOptions = { args: [], findings: [] };
  const cm = cluster?.objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === 'argocd-cm');
  if (!cluster || !cm) return out;
  const data = (cm.data ?? {}) as Record<string, unknown>;
  const at = (key: string, message: string, severity: Finding['severity'] = 'error'): Finding => ({
    severity, rule: 'build-option', overlay: cluster.target.dir, resource: resourceId(cm), message, ...locate(cluster, cm, `/data/${key}`),
  });
  // Argo CD also reads per-version keys (kustomize.buildOptions.v5.8.1): the same rules apply.
  for (const key of Object.keys(data).filter((k) => k === 'kustomize.buildOptions' || k.startsWith('kustomize.buildOptions.')).sort()) {
    const tokens = String(data[key] ?? '').trim().split(/\s+/).filter(Boolean);
    const args: string[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const tok = tokens[i];
      const eq = tok.indexOf('=');
      const name = tok.startsWith('--') && eq > 0 ? tok.slice(0, eq) : tok;
      const rule = ALLOWED_OPTIONS[name];
      let value: string | undefined;
      if (rule?.value) value = eq > 0 && tok.startsWith('--') ? tok.slice(eq + 1) : tokens[++i];
      const shown = value === undefined ? name : `${name} ${value}`;
      if (!rule) {
        const why = DANGEROUS[name];
        const allowed = `${Object.keys(ALLOWED_OPTIONS).filter((o) => o !== '--load-restrictor').join(', ')}, --load-restrictor LoadRestrictionsRootOnly`;
        out.findings.push(at(key, `${key}: option '${name}' is refused: ${why ? `it ${why}` : `not on the toolkit's allowlist (${allowed})`}; it is not passed to kustomize`));
        // Skip the option's value too, so that it is not read as an option of its own.
        if (eq < 0 && tokens[i + 1] !== undefined && !tokens[i + 1].startsWith('-') && (DANGEROUS[name] || name.startsWith('--'))) i++;
        continue;
      }
      if (rule.value && (value === undefined || !rule.value.test(value))) {
        out.findings.push(at(key, `${key}: '${shown}' is refused${name === '--load-restrictor' ? ': only LoadRestrictionsRootOnly is allowed (LoadRestrictionsNone lets a render read files outside the overlay)' : `: the value must match ${rule.value}`}; it is not passed to kustomize`));
        continue;
      }
      if (name === '--load-restrictor') continue; // always RootOnly (kustomize.ts ROOT_ONLY)
      if (name === '--enable-helm') {
        if (!helm) {
          out.findings.push(at(key, `${key}: --enable-helm needs the toolkit's pinned helm, which is not installed: run 'npm run setup -- --helm' (renders never use a helm the repository names)`));
          continue;
        }
        args.push('--enable-helm', '--helm-command', helm);
        continue;
      }
      args.push(name, ...(value !== undefined ? [value] : []));
    }
    if (key === 'kustomize.buildOptions') out.args = args;
  }
  return out;
}

/** The vetted `kustomize.buildOptions` of a cluster entry point's argocd-cm, as arguments. */
export function buildOptions(cluster: Rendered | undefined, helm?: string): string[] {
  return checkBuildOptions(cluster, helm).args;
}

/**
 * Renders targets the way Argo CD does: cluster entry points first, then every target of a
 * cluster with the kustomize.buildOptions of that cluster's argocd-cm (which the bootstrap
 * Application itself is rendered with, too).
 */
export async function renderLikeArgo(config: Config, tool: Tool, targets: Target[], opts: { concurrency?: number } = {}): Promise<Rendered[]> {
  const entry = targets.filter((t) => t.kind === 'cluster');
  const first = await renderTargets(config, tool, entry, opts);
  const helm = await findHelm();
  const checked = new Map(first.map((r) => [r.target.cluster, checkBuildOptions(r, helm)]));
  const args = new Map([...checked].map(([c, b]) => [c, b.args]));
  const again = new Set(entry.filter((t) => args.get(t.cluster)?.length));
  const rest = await renderTargets(config, tool, targets.filter((t) => t.kind !== 'cluster' || again.has(t)), { ...opts, buildArgs: (t) => args.get(t.cluster) ?? [] });
  // Refused options are reported once, on the cluster entry point that carries argocd-cm.
  for (const r of [...first, ...rest]) if (r.target.kind === 'cluster') r.findings.push(...(checked.get(r.target.cluster)?.findings ?? []).filter((f) => f.overlay === r.target.dir));
  const byTarget = new Map<Target, Rendered>([...first, ...rest].map((r) => [r.target, r]));
  return targets.map((t) => byTarget.get(t)!);
}

/**
 * The repository Argo CD reads a cluster folder from: gitops.yaml `repoURL` when set, else the
 * source of the Application in clusters/<cluster> that deploys (part of) that folder itself, the
 * app of apps. The repository is written once (clusters/components/repository), so a fork
 * changes that one file and the toolkit follows.
 */
export function clusterRepoURL(config: Config, entry: Rendered | undefined): string {
  if (config.repoURL || !entry) return config.repoURL;
  const dir = entry.target.dir;
  for (const o of entry.objects) {
    if (!o.apiVersion?.startsWith('argoproj.io/') || o.kind !== 'Application') continue;
    const src = (o.spec as { source?: { repoURL?: string; path?: string } } | undefined)?.source;
    const p = (src?.path ?? '').replace(/^\.?\/+/, '').replace(/\/+$/, '');
    if (src?.repoURL && (p === dir || p.startsWith(`${dir}/`))) return src.repoURL;
  }
  return '';
}
