// The Applications of one cluster entry point as Argo CD renders them, for every command:
// expanded by Argo CD's ApplicationSet code, then each of this repository's Applications either
// through the fast path (the long-lived kustomize renderer, where tools/test/argocd.test.ts proves
// it byte-identical to the repo-server) or through the repo-server's own code (Helm, plain
// directories, jsonnet, kustomize overrides, several sources). validate's cross-checks, diff and
// status read the renders from here.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/config.js';
import type { AppOverlay } from '../config/apps.js';
import { KUSTOMIZATION_NAMES } from '../config/layout.js';
import { mapLimit } from '../core/exec.js';
import { findHelm, type Tool } from '../core/tools.js';
import { kustomizationClosure } from '../render/kustomize.js';
import { resourceId, type K8sObject } from '../core/k8s.js';
import { locate, renderTargets } from '../render/render.js';
import { type Rendered, type Target } from '../render/rendered.js';
import type { Finding } from '../core/finding.js';
import { buildOptions, clusterRepoURL, expandApplications, fastPathDir, renderApplication, repoContext, runRepoTree, sameRepo, tracksDefaultBranch, type AppSource, type Expansion, type GeneratedApp, type RepoTree } from './argocd.js';
import type { RepoContext } from './helper.js';
import type { AppInventory, InventoryApp } from './applications.js';

const clean = (p: string) => p.replace(/^\.?\/+/, '').replace(/\/+$/, '') || '.';
const under = (files: string[], dir: string) => (dir === '.' ? files : files.filter((f) => f.startsWith(`${dir}/`)));
/** A repo-relative path from `base`, or undefined when it leaves the repository or is a URL. */
function inRepo(base: string, p: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(p) || path.posix.isAbsolute(p)) return undefined;
  const n = path.posix.normalize(path.posix.join(base === '.' ? '' : base, p));
  return n === '..' || n.startsWith('../') ? undefined : n.replace(/\/+$/, '') || '.';
}

/**
 * The repository files an Application's render reads, as far as its spec tells: every file under
 * each source path of this repository (with a kustomization, its closure too, which may reach
 * `../base`), Helm valueFiles and fileParameters (relative to the chart, or `$ref/...` from a
 * `ref:` source's repository root), and jsonnet libs. What a changed file selects (diff,
 * `--changed-only`) and what counts as rendered (unrendered-file). A chart's `file://`
 * dependency or a jsonnet import outside these folders is not followed.
 */
export async function appSourceFiles(app: GeneratedApp, repoURL: string, tree: Pick<RepoTree, 'root' | 'files'>): Promise<string[]> {
  const out = new Set<string>();
  const ours = (s: AppSource) => sameRepo(s.repoURL, repoURL);
  const addPath = (p: string | undefined) => {
    if (p === undefined) return;
    if (tree.files.includes(p)) out.add(p);
    for (const f of under(tree.files, p)) out.add(f);
  };
  for (const s of app.sources) {
    if (!ours(s) || typeof s.path !== 'string') continue;
    const dir = clean(s.path);
    if (dir.split('/').includes('..')) continue;
    addPath(dir);
    if (KUSTOMIZATION_NAMES.some((n) => tree.files.includes(dir === '.' ? n : `${dir}/${n}`))) {
      const closure = await kustomizationClosure(path.join(tree.root, dir), tree.root).catch(() => [] as string[]);
      for (const f of closure) out.add(path.relative(tree.root, f).split(path.sep).join('/'));
    }
    const helm = (s.helm ?? {}) as { valueFiles?: unknown; fileParameters?: unknown };
    const files = [
      ...(Array.isArray(helm.valueFiles) ? helm.valueFiles : []),
      ...(Array.isArray(helm.fileParameters) ? helm.fileParameters.map((p) => (p as { path?: unknown } | null)?.path) : []),
    ].filter((v): v is string => typeof v === 'string');
    for (const v of files) {
      const ref = /^\$([^/]+)\/(.*)$/.exec(v);
      if (ref) {
        // `$values/x.yaml`: x.yaml from the root of the source whose `ref:` is `values`.
        const from = app.sources.find((o) => o.ref === ref[1]);
        if (from && ours(from)) addPath(inRepo('.', ref[2]!));
      } else addPath(inRepo(dir, v));
    }
    const libs = ((s.directory as { jsonnet?: { libs?: unknown } } | undefined)?.jsonnet?.libs);
    if (Array.isArray(libs)) for (const l of libs) if (typeof l === 'string') addPath(inRepo('.', l));
  }
  return [...out].sort();
}

/**
 * An Application rendered by Argo CD's repo-server code, as a target of its cluster: its objects
 * are checked like an overlay's. A source that does not render is an error naming the
 * Application; one that cannot be rendered offline (a chart repository, another repository, a
 * Config Management Plugin) is a warning saying why its objects are not checked.
 */
async function argoRendered(config: Config, target: Target, app: GeneratedApp, ctx: RepoContext, buildArgs: string[], env?: NodeJS.ProcessEnv): Promise<Rendered> {
  const dir = app.path!;
  const res = await renderApplication(app, ctx, { buildOptions: buildArgs, kubeVersion: config.kubernetesVersion, env });
  const findings: Finding[] = [];
  const what = `Application ${app.name}${app.origin.o.kind === 'ApplicationSet' ? ` (generated by ApplicationSet ${app.origin.o.metadata.name})` : ''}`;
  const tpl = app.origin.o.kind === 'ApplicationSet' ? '/spec/template/spec' : '/spec';
  const at = (severity: Finding['severity'], rule: string, message: string, pointer: string): Finding => ({
    severity, rule, overlay: dir, resource: resourceId(app.origin.o), message: `${what}: ${message}`, ...locate(app.origin.r, app.origin.o, pointer),
  });
  if (res.error) findings.push(at('error', 'argo-render', res.error, tpl));
  const multi = app.sources.length > 1 || !!(app.app.spec as { sources?: unknown[] } | undefined)?.sources;
  for (const s of res.sources) {
    const pointer = multi ? `${tpl}/sources/${s.index}` : `${tpl}/source`;
    const which = multi ? `source ${s.index}` : 'its source';
    if (s.offline) findings.push(at('warning', 'argo-source', `${which} is not rendered: ${s.offline}; its objects are not checked`, pointer));
    else if (s.error !== undefined) findings.push(at('error', 'argo-render', `${which} does not render (${s.sourceType ?? 'Argo CD'}): ${s.error}`, pointer));
  }
  if (!res.objects.length && !findings.length) {
    findings.push(at('warning', 'argo-render', `renders no object (${res.sources.map((s) => s.sourceType ?? '?').join(', ')}): nothing of it is deployed or checked`, tpl));
  }
  // The files its sources read, as far as the spec tells (unrendered-file counts them as rendered).
  const closure = await appSourceFiles(app, ctx.repoURL, { root: ctx.root, files: ctx.files });
  return { target, objects: res.objects as K8sObject[], closure, sources: [], findings };
}

/** An Application rendered by the repo-server's code, with its render. */
export interface ArgoApp {
  app: GeneratedApp;
  rendered: Rendered;
}

export interface ClusterApps {
  /** The repository the entry point's Applications deploy (clusterRepoURL). */
  repoURL: string;
  expansion: Expansion;
  /** This repository's Applications at the revision under test that name a path. */
  ours: GeneratedApp[];
  /** Those of `ours` whose path exists and that the fast path does not render: Argo CD's repo-server code renders them. */
  byArgo: GeneratedApp[];
  /** The renders of the selected `byArgo` Applications, in order. */
  argo: ArgoApp[];
  /** Fast-path folders of `ours` that `known` did not hold, rendered here with the cluster's build options. */
  folders: Rendered[];
  /** The cluster's vetted kustomize build options. */
  buildArgs: string[];
}

export interface ClusterAppsOptions {
  /** Folders already rendered (the environment's overlays): not rendered again. */
  known?: Map<string, Rendered>;
  /** The expansion, when the caller has it (the inventory's cached one); else expanded here. */
  expansion?: Expansion;
  /** Render the fast-path folders `known` lacks (default true). */
  folders?: boolean;
  /** Which repo-server Applications to render (default all). */
  select?: (app: GeneratedApp) => boolean;
  /** The target an Application's render stands for (default: its path in the cluster). */
  targetOf?: (app: GeneratedApp) => Target;
  env?: NodeJS.ProcessEnv;
}

/**
 * The Applications of a cluster entry point and their renders, as Argo CD makes them: expanded by
 * its ApplicationSet code against the working tree, each of this repository's Applications
 * rendered through the fast path (kustomize build <path>, `folders`) or by the repo-server's own
 * code (`argo`, with findings naming the Application). `tree.read` is what reads repository
 * files (validate passes one that records their hashes for its cache keys).
 */
export async function renderClusterApps(config: Config, tool: Tool, entry: Rendered, tree: RepoTree, opts: ClusterAppsOptions = {}): Promise<ClusterApps> {
  const cluster = entry.target.cluster;
  const repoURL = clusterRepoURL(config, entry);
  const expansion = opts.expansion ?? (await expandApplications(entry, repoURL, tree, { defaultBranch: config.defaultBranch, ...(opts.env ? { env: opts.env } : {}) }));
  const ours = expansion.apps.filter((a) => sameRepo(a.repoURL, repoURL) && a.path !== undefined && tracksDefaultBranch(a, config.defaultBranch));
  const buildArgs = buildOptions(entry, await findHelm(opts.env));
  const known = opts.known ?? new Map<string, Rendered>();
  // Applications the fast path renders (kustomize build of the folder, proven identical to the
  // repo-server's render); every other Application of ours is rendered by Argo CD's own code.
  const byArgo = ours.filter((a) => fastPathDir(a, repoURL, config.defaultBranch, tree) === undefined && existsSync(path.join(config.root, a.path!)));
  const toRender: Target[] = [];
  if (opts.folders !== false) {
    const argoPaths = new Set(byArgo.map((a) => a.path!));
    for (const dir of new Set(ours.map((a) => a.path!))) {
      if (known.has(dir) || !(await hasKustomization(dir, tree))) continue;
      // Folders Applications deploy that are not overlays of a known environment.
      if (!argoPaths.has(dir) || ours.some((a) => a.path === dir && !byArgo.includes(a))) toRender.push({ dir, cluster, kind: 'app' });
    }
  }
  const folders = toRender.length ? await renderTargets(config, tool, toRender, { buildArgs: () => buildArgs }) : [];
  const ctx = repoContext(tree, repoURL, config.defaultBranch);
  const selected = opts.select ? byArgo.filter(opts.select) : byArgo;
  // The helper renders several at a time; results are taken in order.
  const renders = await mapLimit(selected, 4, (a) => argoRendered(config, opts.targetOf?.(a) ?? { dir: a.path!, cluster, kind: 'app' }, a, ctx, buildArgs, opts.env));
  return { repoURL, expansion, ours, byArgo, argo: selected.map((app, i) => ({ app, rendered: renders[i]! })), folders, buildArgs };
}

async function hasKustomization(dir: string, tree: RepoTree): Promise<boolean> {
  for (const n of KUSTOMIZATION_NAMES) if ((await tree.read(path.posix.join(dir, n))) !== undefined) return true;
  return false;
}

/** The repo-server source kinds of the inventory (applications.ts SourceKind) that `argo` renders. */
export const REPO_SERVER_KINDS = ['helm', 'directory', 'jsonnet', 'overrides', 'sources'] as const;

/** A target standing for an app of the inventory that Argo CD's repo-server code renders: matched by app id and environment. */
export function argoAppTarget(app: GeneratedApp, cluster: string, id: string, env: AppOverlay['env'], files: string[]): Target {
  const parts = id.split('/');
  const overlay: AppOverlay = { id, system: parts[0]!, service: parts[parts.length - 1]!, slug: id.replaceAll('/', '-'), env, dir: app.path!, kustomization: '', application: app.name };
  return { dir: app.path!, cluster, kind: 'app', env, app: overlay, files };
}

/** An app of the inventory rendered by Argo CD's repo-server code. */
export interface InventoryRender {
  item: InventoryApp;
  rendered: Rendered;
}

/**
 * The Applications of the inventory (appInventory with `rendersAlso: REPO_SERVER_KINDS`) that
 * are mapped to an environment and that Argo CD's repo-server code renders, as targets keyed by
 * app id and environment (`targets`, with the files their sources read), and the renders of those
 * `select` keeps (default all): what diff and status show beside the overlays. The expansion is
 * the inventory's; nothing is expanded again.
 */
export async function renderInventoryApps(config: Config, tool: Tool, inv: AppInventory, opts: { tree?: RepoTree; select?: (targets: Target[]) => Promise<Target[]>; env?: NodeJS.ProcessEnv } = {}): Promise<{ targets: Target[]; renders: InventoryRender[] }> {
  const tree = opts.tree ?? (await runRepoTree(config));
  const perEntry: Array<{ entry: Rendered; expansion: Expansion; byGen: Map<GeneratedApp, { item: InventoryApp; target: Target }> }> = [];
  for (const entry of inv.entries) {
    const cluster = entry.target.cluster;
    const inCluster = inv.applications.filter((a) => a.cluster === cluster);
    const expansion: Expansion = { apps: inCluster.map((a) => a.generated), findings: [], incomplete: false };
    // Which of them the repo-server renders: the same rule as validate's (nothing rendered yet).
    const { byArgo, repoURL } = await renderClusterApps(config, tool, entry, tree, { expansion, folders: false, select: () => false, env: opts.env });
    const byGen = new Map<GeneratedApp, { item: InventoryApp; target: Target }>();
    for (const a of byArgo) {
      const item = inCluster.find((x) => x.generated === a);
      if (!item || item.state !== 'rendered' || !item.env || !item.id) continue;
      byGen.set(a, { item, target: argoAppTarget(a, cluster, item.id, item.env, await appSourceFiles(a, repoURL, tree)) });
    }
    perEntry.push({ entry, expansion, byGen });
  }
  const targets = perEntry.flatMap((p) => [...p.byGen.values()].map((x) => x.target));
  const chosen = new Set(opts.select ? await opts.select(targets) : targets);
  const renders: InventoryRender[] = [];
  for (const { entry, expansion, byGen } of perEntry) {
    if (![...byGen.values()].some((x) => chosen.has(x.target))) continue;
    const { argo } = await renderClusterApps(config, tool, entry, tree, {
      expansion, folders: false, env: opts.env,
      select: (a) => chosen.has(byGen.get(a)?.target as Target),
      targetOf: (a) => byGen.get(a)!.target,
    });
    for (const r of argo) renders.push({ item: byGen.get(r.app)!.item, rendered: r.rendered });
  }
  return { targets, renders };
}
