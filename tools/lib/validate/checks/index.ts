// Runs the cross-resource and Argo CD checks over the rendered targets, one cluster at a time.
// The checks themselves are pure; this module gathers what they need from the working tree
// (ApplicationSet expansion, the folders Applications point at).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { discoverApps } from '../../config/apps.js';
import { KUSTOMIZATION_NAMES } from '../../config/layout.js';
import { parseYamlData } from '../../core/yamlfile.js';
import { runRepoTree, sameRepo, type Expansion, type GeneratedApp, type RepoTree } from '../../argocd/argocd.js';
import { clusterRepoURL } from '../../argocd/argocd.js';
import { renderClusterApps } from '../../argocd/clusterapps.js';
import type { Config } from '../../config/config.js';
import { workspaceFor } from '../../render/render.js';
import { type Rendered } from '../../render/rendered.js';
import { sha, Store, toolkitCodeHash, type Workspace } from '../../core/workspace.js';
import { locateOrigins } from '../../render/origins.js';
import type { Finding } from '../../core/finding.js';
import type { Tool } from '../../core/tools.js';
import { checkArgo, type PathFacts } from './argocd.js';
import { buildView, type ClusterView } from './common.js';
import { checkHpas } from './hpa.js';
import { checkIngresses } from './ingress.js';
import { checkKeys, checkProbePorts, exampleRefusal, parseEnvExample, type ExampleKeys } from './keys.js';
import { checkDuplicates, checkPlacement } from './objects.js';
import { checkReferences } from './references.js';
import { checkPullCredentials } from './registry.js';
import { checkScheduling } from './scheduling.js';
import { checkServices } from './services.js';
import { checkStorage, checkStorageClasses } from './storage.js';
import { checkSyncWaves } from './syncwaves.js';

export { checkImmutable } from './immutable.js';

/** `namespace:` of a folder's kustomization (undefined when unset or unreadable). */
async function kustomizationNamespace(dir: string, read: (file: string) => Promise<string | undefined>): Promise<{ found: boolean; namespace?: string }> {
  for (const name of KUSTOMIZATION_NAMES) {
    const text = await read(path.posix.join(dir, name));
    if (text === undefined) continue;
    const ns = (parseYamlData(name, text).docs[0] as { namespace?: unknown } | null | undefined)?.namespace;
    return { found: true, namespace: typeof ns === 'string' ? ns : undefined };
  }
  return { found: false };
}

export { clusterRepoURL };

/**
 * Keys of the Secrets of gitops.yaml `external` that are made by hand from an
 * apps/<system>/<service>/secret.env.example (whose first comment names the Secret), by namespace/name.
 */
async function handMadeSecretKeys(root: string, tree: RepoTree, read: (file: string) => Promise<string | undefined>, external: string[], findings: Finding[]): Promise<Map<string, ExampleKeys>> {
  const out = new Map<string, ExampleKeys>();
  const wanted = external.map((x) => /^Secret\/([^/*]+)\/([^/*]+)$/.exec(x)).filter((m): m is RegExpExecArray => !!m);
  if (!wanted.length) return out;
  const byName = new Map<string, ExampleKeys[]>();
  for (const file of tree.files.filter((f) => /^apps\/[^/]+\/[^/]+\/secret\.env\.example$/.test(f))) {
    const refused = await exampleRefusal(root, file);
    if (refused) {
      findings.push({ severity: 'error', rule: 'outside-repository', overlay: path.posix.dirname(file), resource: '', file, message: `${file} ${refused}; it is not read (nothing outside the repository is read), so the keys of the Secret it documents are not checked` });
      continue;
    }
    const text = await read(file);
    if (text === undefined) continue;
    const { secret, keys } = parseEnvExample(text);
    if (secret) byName.set(secret, [...(byName.get(secret) ?? []), { file, keys }]);
  }
  for (const [, ns, name] of wanted) {
    const found = byName.get(name);
    if (found?.length === 1) out.set(`${ns}/${name}`, found[0]); // ambiguous names are left unchecked
  }
  return out;
}

/**
 * Cross-resource and Argo CD findings for every cluster present in `rendered` (which should hold
 * every target of those clusters: the checks need the whole cluster even when only part of it
 * is reported).
 */
export async function crossChecks(config: Config, tool: Tool, rendered: Rendered[], renderedOut?: Rendered[]): Promise<Finding[]> {
  const findings: Finding[] = [];
  const ws = workspaceFor(config);
  const clusters = [...new Set(rendered.map((r) => r.target.cluster))];
  if (!clusters.length) return findings;
  const tree = await runRepoTree(config);
  const treeSig = sha(tree.files.join('\0'));
  const store = await Store.open<CrossEntry>(config.root, 'cross-checks', `${CROSS_CHECK_VERSION}:${toolkitCodeHash()}`);
  for (const cluster of clusters) {
    const inCluster = rendered.filter((r) => r.target.cluster === cluster);
    const key = sha(JSON.stringify([
      cluster, config.repoURL, config.external[cluster] ?? [], config.clusters[cluster] ?? null, config.environments.filter((e) => e.cluster === cluster), treeSig,
      await Promise.all(inCluster.map(async (r) => [r.target.dir, r.target.kind, await renderSignature(config, ws, r)])),
    ]));
    const hit = store.get(key);
    if (hit && (await unchanged(ws, config.root, hit.reads))) {
      findings.push(...hit.findings);
      continue;
    }
    // Every file the checks read beyond the renders (generator files, kustomization namespaces)
    // is recorded with its hash: the cached findings hold while those files are unchanged.
    const reads: Record<string, string> = {};
    const read = async (file: string): Promise<string | undefined> => {
      const abs = path.join(config.root, file);
      reads[file] = (await ws.hash(abs)) ?? '-';
      return ws.text(abs);
    };
    const checked = await checkCluster(config, tool, cluster, inCluster, tree, read, renderedOut);
    // Located for good before they are kept: cached findings carry no origin request.
    const out = await locateOrigins(checked.findings);
    findings.push(...out);
    // Folders outside the known overlays that Applications deploy are rendered here, outside the
    // key: findings that depend on such renders are not kept.
    if (!checked.renderedExtra) store.set(key, { reads, findings: out });
  }
  await store.save();
  return findings;
}

// With the hash of the toolkit's code, the key of cached cross-check findings (any code change invalidates them).
export const CROSS_CHECK_VERSION = 3;

interface CrossEntry {
  reads: Record<string, string>;
  findings: Finding[];
}

/** What a render's findings and objects depend on: its cache key, or its closure and outcome. */
async function renderSignature(config: Config, ws: Workspace, r: Rendered): Promise<string> {
  if (r.key) return r.key;
  const hashes = await Promise.all(r.closure.map((f) => ws.hash(path.join(config.root, f))));
  return sha(JSON.stringify([r.closure, hashes, r.findings, r.hashes ?? r.objects]));
}

/** Whether every file the checks read still has the hash it had. */
async function unchanged(ws: Workspace, root: string, reads: Record<string, string>): Promise<boolean> {
  for (const [file, h] of Object.entries(reads)) {
    if (((await ws.hash(path.join(root, file))) ?? '-') !== h) return false;
  }
  return true;
}

/** What the stages of checkCluster share: the cluster's renders, and what its Applications add to them. */
interface ClusterContext {
  config: Config;
  tool: Tool;
  cluster: string;
  inCluster: Rendered[];
  tree: RepoTree;
  read: (file: string) => Promise<string | undefined>;
  renderedOut?: Rendered[];
  /** The cluster entry point's render, when it is among the renders. */
  entry?: Rendered;
  repoURL: string;
  findings: Finding[];
  expansion: Expansion;
  /** Facts on every folder an Application of this repository deploys. */
  paths: Map<string, PathFacts>;
  /** The renders by folder. */
  byDir: Map<string, Rendered>;
  /** Renders the Applications add to the view (folders outside the overlays, the repo-server's renders). */
  extra: Rendered[];
  /** Overlays whose render the repo-server's render of the same folder replaces. */
  superseded: Set<Rendered>;
  /** Whether a render outside the cache key was used (the findings are then not cached). */
  renderedExtra: boolean;
}

// One cluster's findings, in stages: the repoURL warning, the Applications' renders, the view, the checks.
async function checkCluster(config: Config, tool: Tool, cluster: string, inCluster: Rendered[], tree: RepoTree, read: (file: string) => Promise<string | undefined>, renderedOut?: Rendered[]): Promise<{ findings: Finding[]; renderedExtra: boolean }> {
  const entry = inCluster.find((r) => r.target.kind === 'cluster');
  const ctx: ClusterContext = {
    config, tool, cluster, inCluster, tree, read, renderedOut, entry,
    repoURL: clusterRepoURL(config, entry),
    findings: [],
    expansion: { apps: [], findings: [], incomplete: false },
    paths: new Map(),
    byDir: new Map(inCluster.map((r) => [r.target.dir, r])),
    extra: [],
    superseded: new Set(),
    renderedExtra: false,
  };
  warnNoRepoURL(ctx);
  if (entry) await addApplicationRenders(ctx, entry);
  const view = await clusterView(ctx);
  await runChecks(ctx, view);
  return { findings: ctx.findings, renderedExtra: ctx.renderedExtra };
}

/** Whether a render holds an Argo CD Application or ApplicationSet. */
const hasApplications = (r: Rendered) => r.objects.some((o) => o.apiVersion?.startsWith('argoproj.io/') && (o.kind === 'Application' || o.kind === 'ApplicationSet'));

// Without a repository URL no Application can be told to deploy this repository: said once, as a warning.
function warnNoRepoURL(ctx: ClusterContext): void {
  const { entry } = ctx;
  if (entry && !ctx.repoURL && hasApplications(entry)) {
    ctx.findings.push({ severity: 'warning', rule: 'argo-repo', overlay: entry.target.dir, resource: '', file: `${entry.target.dir}/kustomization.yaml`, message: `no Application in ${entry.target.dir} deploys that folder (an app of apps) and gitops.yaml names no repoURL, so which Applications deploy this repository cannot be told and none is checked: set repoURL in gitops.yaml` });
  }
}

// The cluster's Applications, rendered once (lib/argocd/clusterapps.ts, shared with diff and status): the facts on their folders and the renders they add.
async function addApplicationRenders(ctx: ClusterContext, entry: Rendered): Promise<void> {
  const { config, paths, byDir, extra, renderedOut, findings } = ctx;
  const apps = await renderClusterApps(config, ctx.tool, entry, { ...ctx.tree, read: ctx.read }, { known: byDir });
  ctx.expansion = apps.expansion;
  for (const dir of new Set(apps.ours.map((a) => a.path!))) {
    const k = await kustomizationNamespace(dir, ctx.read);
    paths.set(dir, { exists: existsSync(path.join(config.root, dir)), kustomization: k.found, namespace: k.namespace, rendered: byDir.get(dir) });
  }
  // Folders Applications deploy that are not overlays of a known environment.
  for (const r of apps.folders) {
    paths.get(r.target.dir)!.rendered = r;
    // A part of the entry point (an app of apps over clusters/<cluster>/base, say: every file it
    // renders the entry point renders too) is in the view already: not counted twice.
    const files = r.closure.filter((f) => !KUSTOMIZATION_NAMES.includes(path.posix.basename(f)));
    if (!files.length || !files.every((f) => entry.closure.includes(f))) {
      extra.push(r);
      renderedOut?.push(r);
    }
    findings.push(...r.findings);
    ctx.renderedExtra = true;
  }
  for (const { app: a, rendered: r } of apps.argo) {
    const pf = paths.get(a.path!)!;
    // Rendered by the repo-server: whatever the source type, the path renders (or says why not).
    pf.renderedBy = 'argocd';
    // An overlay that Argo CD renders otherwise (the Application's overrides): its render stands in.
    const overlay = byDir.get(a.path!);
    if (overlay) ctx.superseded.add(overlay);
    pf.rendered = r;
    findings.push(...r.findings);
    if (r.objects.length) {
      extra.push(r);
      renderedOut?.push(r);
    }
    ctx.renderedExtra = true;
  }
}

// The view the pure checks read: the cluster's renders (the repo-server's standing in where it renders an overlay), with the Applications by folder.
async function clusterView(ctx: ClusterContext): Promise<ClusterView> {
  const { config, cluster, inCluster, entry } = ctx;
  const appsByPath = new Map<string, GeneratedApp[]>();
  for (const a of ctx.expansion.apps) {
    if (!sameRepo(a.repoURL, ctx.repoURL) || a.path === undefined) continue;
    if (!appsByPath.has(a.path)) appsByPath.set(a.path, []);
    appsByPath.get(a.path)!.push(a);
  }
  const overlayNamespaces = new Map<string, string | undefined>();
  for (const r of inCluster) if (r.target.kind === 'app') overlayNamespaces.set(r.target.dir, (await kustomizationNamespace(r.target.dir, ctx.read)).namespace);
  return buildView({
    cluster,
    rendered: [...inCluster.filter((r) => !ctx.superseded.has(r)), ...ctx.extra],
    appsByPath,
    projects: new Map((entry?.objects ?? []).filter((o) => o.kind === 'AppProject' && o.apiVersion.startsWith('argoproj.io/')).map((o) => [o.metadata.name!, o])),
    argocdCm: entry?.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'argocd-cm'),
    external: config.external[cluster] ?? [],
    overlayNamespaces,
    facts: config.clusters[cluster],
  });
}

// The cross-resource checks over the view, then the Argo CD checks (only where the entry point holds Applications: else Argo CD runs nothing).
async function runChecks(ctx: ClusterContext, view: ClusterView): Promise<void> {
  const { config, cluster, entry, expansion, findings } = ctx;
  // Read first: its own findings (a refused example file) come before the checks', as they always have.
  const secretKeys = await handMadeSecretKeys(config.root, ctx.tree, ctx.read, view.external, findings);
  findings.push(
    ...expansion.findings,
    ...checkServices(view),
    ...checkIngresses(view),
    ...checkKeys(view, secretKeys),
    ...checkProbePorts(view),
    ...checkReferences(view),
    ...checkHpas(view),
    ...checkStorage(view),
    ...checkStorageClasses(view),
    ...checkPullCredentials(view),
    ...checkScheduling(view),
    ...checkDuplicates(view),
    ...checkPlacement(view),
    ...checkSyncWaves(view),
  );
  if (entry && hasApplications(entry)) {
    const envs = config.environments.filter((e) => e.cluster === cluster);
    const overlayDirs = (await discoverApps(config, envs)).map((a) => ({ dir: a.dir, file: a.kustomization }));
    findings.push(...checkArgo(view, { entry: entry.target.dir, defaultBranch: config.defaultBranch, repoURL: ctx.repoURL, apps: expansion.apps, paths: ctx.paths, overlayDirs, incomplete: expansion.incomplete }));
  }
}
