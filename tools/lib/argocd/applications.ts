// The one inventory of apps every command reads: the overlays the layout declares plus every
// Application Argo CD would create from the cluster entry points (expandApplications), each
// mapped to an environment (gitops.yaml environments[].applications) and either rendered (a
// kustomize folder of this repository at the revision under test) or listed with the reason it
// is not. Nothing is left out silently: an Application no environment covers is an error.
import { existsSync, realpathSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import { discoverLayout, slugOf, type AppOverlay, type Layout } from '../config/apps.js';
import { CONFIG_FILE, type AppSelector, type Config, type Environment } from '../config/config.js';
import { isValidId, KUSTOMIZATION_NAMES, normalizeId } from '../config/layout.js';
import { lineOf, parseYaml, YAML_LIMITS } from '../core/yamlfile.js';
import type { Tool } from '../core/tools.js';
import { kustomizationClosure } from '../render/kustomize.js';
import { resourceId } from '../core/k8s.js';
import { clusterTargets, locate, rel, workspaceFor } from '../render/render.js';
import { type Rendered } from '../render/rendered.js';
import { sha, Store, toolkitCodeHash } from '../core/workspace.js';
import type { Finding } from '../core/finding.js';
import { clusterRepoURL } from './argocd.js';
import { run } from '../core/exec.js';
import { expandApplications, renderLikeArgo, runRepoTree, sameRepo, tracksDefaultBranch, type GeneratedApp, type RepoTree } from './argocd.js';

/**
 * - `rendered`: a kustomize folder of this repository, rendered and checked as an app target;
 * - `entry`: deploys (part of) a cluster entry point, checked with it;
 * - `not-rendered`: mapped to an environment, but the toolkit does not render its source (`reason`);
 * - `unmapped`: no environment covers it (an error).
 */
export type AppState = 'rendered' | 'entry' | 'not-rendered' | 'unmapped';

export interface InventoryApp {
  /** The Application's name. */
  name: string;
  /** The cluster whose entry point renders it (or the ApplicationSet generating it). */
  cluster: string;
  state: AppState;
  /** App id (as in status and the release commands), for rendered and not-rendered Applications. */
  id?: string;
  env?: Environment;
  /** The target it is rendered as (state `rendered` by the toolkit's kustomize render). */
  overlay?: AppOverlay;
  /** `kustomize` (the toolkit renders it), else what kind of source it is (mapped Applications only). */
  source?: SourceKind | 'kustomize';
  /** Why it is not rendered (state `not-rendered` or `unmapped`). */
  reason?: string;
  /** The file (and line) declaring it: the Application, or the ApplicationSet that generates it. */
  file?: string;
  line?: number;
  generated: GeneratedApp;
}

export interface AppInventory {
  /** Every folder rendered as an app: the layout's overlays plus the kustomize folders Applications deploy outside them. */
  overlays: AppOverlay[];
  /** Every Application of every cluster entry point. */
  applications: InventoryApp[];
  /**
   * Applications mapped to an environment whose sources the toolkit does not render (Helm,
   * plain directories, jsonnet, plugins, other repositories or revisions), with the reason:
   * each is reported by validate. This is the list a repo-server render takes over.
   */
  uncovered: InventoryApp[];
  /** Layout findings (apps.ts) plus the mapping's: unmapped, ambiguous, not rendered, environment mismatches. */
  findings: InventoryFinding[];
  layout: Layout;
  /** The rendered cluster entry points (Argo CD's build options applied). */
  entries: Rendered[];
}

/** A finding with the cluster it belongs to (undefined: the repository), to report it only for that cluster. */
export type InventoryFinding = Finding & { cluster?: string };

/** One app of a command's view (validate, status): what exists, where, and whether it is rendered. */
export interface AppListing {
  id: string;
  env: string;
  /** Overlay folder rendered for it; absent when not rendered. */
  dir?: string;
  /** Argo CD Application names that deploy it. */
  applications: string[];
  /** Why it is not rendered. */
  notRendered?: string;
}

// Compiled once per glob: every Application is matched against every environment's selectors.
const matchers = new Map<string, (v: string | undefined) => boolean>();

// A glob where `*` matches anything (a destination server is a URL); `{a,b}` alternatives.
function valueMatcher(glob: string): (v: string | undefined) => boolean {
  let m = matchers.get(glob);
  if (!m) matchers.set(glob, (m = compileValueGlob(glob)));
  return m;
}

function compileValueGlob(glob: string): (v: string | undefined) => boolean {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '{' && glob.indexOf('}', i) > i) {
      const end = glob.indexOf('}', i);
      re += `(?:${glob.slice(i + 1, end).split(',').map((a) => a.replace(/[.+^$()|[\]\\*?/]/g, '\\$&')).join('|')})`;
      i = end;
    } else re += c.replace(/[.+^$()|[\]{}\\/]/g, '\\$&');
  }
  const rx = new RegExp(`^${re}$`, 's');
  return (v) => rx.test(v ?? '');
}

/** Whether a selector of environment `env` matches Application `a` of cluster `cluster`. */
export function selectorMatches(sel: AppSelector, env: Environment, cluster: string, a: GeneratedApp): boolean {
  if ((sel.cluster ?? env.cluster) !== cluster) return false;
  const checks: Array<[string | undefined, string | undefined]> = [
    [sel.name, a.name], [sel.project, a.project], [sel.namespace, a.destination.namespace], [sel.server, a.destination.server], [sel.destination, a.destination.name],
  ];
  if (checks.some(([g, v]) => g !== undefined && !valueMatcher(g)(v))) return false;
  if (sel.path !== undefined && (a.path === undefined || !picomatch.isMatch(a.path, sel.path.replace(/\/+$/, ''), { dot: true }))) return false;
  return true;
}

/** The Application name as an app id: the environment's name dropped as a prefix or suffix (guestbook-dev in dev: guestbook). */
export function appIdOf(name: string, env: string): string {
  const stripped = name.startsWith(`${env}-`) ? name.slice(env.length + 1) : name.endsWith(`-${env}`) ? name.slice(0, -(env.length + 1)) : name;
  return normalizeId(stripped) || normalizeId(name);
}

interface Source {
  repoURL?: string;
  path?: string;
  chart?: string;
  targetRevision?: unknown;
  plugin?: unknown;
  helm?: unknown;
  kustomize?: Record<string, unknown>;
  directory?: { jsonnet?: unknown; recurse?: boolean };
}

const hasKustomization = (root: string, dir: string) => KUSTOMIZATION_NAMES.some((n) => existsSync(path.join(root, dir, n)));

/**
 * What kind of source an Application has that the toolkit's kustomize render does not take:
 * the seam for Argo CD's repo-server render (appInventory's `rendersAlso`).
 */
export type SourceKind = 'helm' | 'directory' | 'jsonnet' | 'overrides' | 'sources' | 'plugin' | 'chart' | 'repository' | 'revision' | 'outside' | 'missing' | 'none';

// The repository's real path, resolved once per process (it is asked for every Application).
const realRoots = new Map<string, string>();
const realRoot = (root: string): string => realRoots.get(root) ?? realRoots.set(root, realpathSync.native(root)).get(root)!;

/** Why the toolkit cannot render an Application's source, or undefined when it renders it with kustomize. */
function notRenderedReason(root: string, tree: RepoTree, a: GeneratedApp, repoURL: string, defaultBranch: string): { kind: SourceKind; reason: string; severity: Finding['severity'] | 'reported' } | undefined {
  const spec = (a.app.spec ?? {}) as { source?: Source; sources?: Source[] };
  const sources = spec.sources?.length ? spec.sources : spec.source ? [spec.source] : [];
  if (!sources.length) return { kind: 'none', reason: 'it has no source', severity: 'error' };
  if (sources.length > 1) return { kind: 'sources', reason: `it has ${sources.length} sources (spec.sources), which the toolkit does not render`, severity: 'error' };
  const src = sources[0]!;
  if (src.plugin) return { kind: 'plugin', reason: 'its source uses a Config Management Plugin, which the toolkit never runs', severity: 'error' };
  if (src.chart) return { kind: 'chart', reason: `its source is Helm chart ${src.chart} from ${src.repoURL ?? '(no repoURL)'}, which is not fetched offline`, severity: 'warning' };
  if (!sameRepo(src.repoURL, repoURL)) return { kind: 'repository', reason: `its source repository ${src.repoURL ?? '(none)'} is not this repository (${repoURL || 'unknown: set repoURL in gitops.yaml'})`, severity: 'warning' };
  // argo-revision and argo-path report these already.
  if (!tracksDefaultBranch(a, defaultBranch)) return { kind: 'revision', reason: `it tracks revision ${a.targetRevision}, not ${defaultBranch}`, severity: 'reported' };
  if (a.path === undefined) return { kind: 'none', reason: 'its source has no path', severity: 'error' };
  // Nothing is read from outside the repository: not through `..`, nor a symlinked folder.
  if (a.path.split('/').includes('..') || path.isAbsolute(a.path)) return { kind: 'outside', reason: `its source path ${a.path} leaves the repository`, severity: 'error' };
  if (!existsSync(path.join(root, a.path))) return { kind: 'missing', reason: `its source path ${a.path} does not exist`, severity: 'reported' };
  const real = realpathSync.native(path.join(root, a.path));
  const inside = path.relative(realRoot(root), real);
  if (inside.startsWith('..') || path.isAbsolute(inside) || inside.split(path.sep).includes('.git')) return { kind: 'outside', reason: `its source path ${a.path} resolves outside the repository (a symlink)`, severity: 'error' };
  if (hasKustomization(root, a.path)) {
    const overrides = Object.keys(src.kustomize ?? {});
    if (overrides.length) return { kind: 'overrides', reason: `its source sets kustomize overrides (${overrides.join(', ')}), which the toolkit's render does not apply`, severity: 'error' };
    return undefined;
  }
  const files = tree.files.filter((f) => f.startsWith(`${a.path}/`));
  if (src.helm || files.includes(`${a.path}/Chart.yaml`)) return { kind: 'helm', reason: `its source path ${a.path} is a Helm chart, which the toolkit does not render yet`, severity: 'error' };
  if (src.directory?.jsonnet || files.some((f) => /\.(jsonnet|libsonnet)$/.test(f))) return { kind: 'jsonnet', reason: `its source path ${a.path} holds jsonnet, which the toolkit does not render yet`, severity: 'error' };
  return { kind: 'directory', reason: `its source path ${a.path} is a plain directory of manifests${src.directory?.recurse ? ' (recurse)' : ''}, which the toolkit does not render yet`, severity: 'error' };
}

/** How the Application is named in a message: with the ApplicationSet that generates it. */
export function describeApp(a: GeneratedApp): string {
  return `Application ${a.name}${a.origin.o.kind === 'ApplicationSet' ? ` (generated by ApplicationSet ${a.origin.o.metadata?.name})` : ''}`;
}

/**
 * The inventory: discovers the layout, renders the cluster entry points and expands their
 * Applications, maps each to an environment and says how it is checked.
 */
export async function appInventory(config: Config, tool: Tool, opts: { tree?: RepoTree; rendersAlso?: SourceKind[] } = {}): Promise<AppInventory> {
  const layout = await discoverLayout(config);
  const findings: InventoryFinding[] = [...layout.findings];
  const overlays = [...layout.apps];
  const entryTargets = clusterTargets(config, config.environments);
  const entries = entryTargets.length ? await renderLikeArgo(config, tool, entryTargets) : [];
  const applications: InventoryApp[] = [];
  const byDir = new Map(layout.apps.map((a) => [`${a.env.name}\0${a.dir}`, a]));
  const overlayOf = new Map(layout.apps.map((a) => [a.dir, a]));
  const tree = opts.tree ?? (entries.length ? await runRepoTree(config) : { root: config.root, files: [], read: async () => undefined });
  const closureOf = closureReader(config);
  for (const entry of entries) {
    const cluster = entry.target.cluster;
    const repoURL = clusterRepoURL(config, entry);
    // Without a repository URL nothing can be told to be ours; argo-repo reports that.
    for (const g of await cachedExpansion(config, entry, repoURL, tree)) {
      const item: InventoryApp = { name: g.name, cluster, state: 'unmapped', generated: g };
      applications.push(item);
      const at = findingAbout(entry, item);
      const ours = sameRepo(g.repoURL, repoURL) && tracksDefaultBranch(g, config.defaultBranch) && g.path !== undefined;
      // Deploys (part of) a cluster entry point: checked with that entry point's render.
      if (ours && (await deploysEntry(g, entries, closureOf))) {
        item.state = 'entry';
        continue;
      }
      const { env, selectedBy } = environmentOf(config, g, cluster, ours ? overlayOf.get(g.path!) : undefined);
      if (selectedBy.length > 1) {
        item.reason = `environments ${selectedBy.map((e) => e.name).join(' and ')} both select it`;
        findings.push(at('app-environment', 'error', `${item.reason} in ${CONFIG_FILE} environments[].applications: narrow one selector`));
        continue;
      }
      if (!env) {
        item.reason = 'no environment covers it';
        findings.push(at('app-unmapped', 'error', `no environment of ${CONFIG_FILE} covers it (project ${g.project}, destination ${g.destination.name ?? g.destination.server ?? '?'} namespace ${g.destination.namespace ?? '(none)'}${g.path !== undefined ? `, path ${g.path}` : ''}), so it is not checked: add a selector to environments[].applications in ${CONFIG_FILE} (or run 'npm run init -- --force' to write the mapping)`));
        continue;
      }
      item.env = env;
      item.id = appIdOf(g.name, env.name);
      const why = notRenderedReason(config.root, tree, g, repoURL, config.defaultBranch);
      item.source = why?.kind ?? 'kustomize';
      // Rendered by another renderer (Argo CD's repo-server code): checked, but not as an overlay.
      if (why && opts.rendersAlso?.includes(why.kind)) {
        item.state = 'rendered';
        continue;
      }
      if (why) {
        item.state = 'not-rendered';
        item.reason = why.reason;
        if (why.severity !== 'reported') findings.push(at('app-not-rendered', why.severity, `not rendered by the toolkit in environment ${env.name}: ${why.reason}, so its manifests are not checked`, g.path !== undefined ? [g.path] : undefined));
        continue;
      }
      item.state = 'rendered';
      const existing = byDir.get(`${env.name}\0${g.path!}`);
      if (existing) {
        item.overlay = existing;
        item.id = existing.id;
        continue;
      }
      const other = overlayOf.get(g.path!);
      // Two settings disagree: the overlay globs say one environment (or none), the mapping another.
      const mismatch = other
        ? `deploys ${g.path}, an overlay of environment ${other.env.name}, but ${CONFIG_FILE} maps it to environment ${env.name}: fix environments[].applications or the overlays patterns`
        : env.overlays.length && layout.apps.some((a) => a.env === env) ? `deploys ${g.path}, which no overlays pattern of environment ${env.name} (${env.overlayRoot ?? env.overlays.join(', ')}) matches: fix the pattern in ${CONFIG_FILE} (it is checked as an app of ${env.name} meanwhile)` : undefined;
      if (mismatch) findings.push(at('app-environment', 'error', mismatch, [g.path!]));
      const id = isValidId(item.id) && item.id ? item.id : slugOf(normalizeId(g.path!.split('/').join('-')));
      if (overlays.some((a) => a.env === env && a.id === id)) {
        findings.push(at('app-id', 'error', `app id '${id}' in environment ${env.name} is also the id of another app: rename the Application or set environments[].overlays/appId in ${CONFIG_FILE}`, [g.path!]));
        continue;
      }
      const overlay = overlayOfApp(config, g, env, id);
      item.id = id;
      item.overlay = overlay;
      overlays.push(overlay);
      byDir.set(`${env.name}\0${g.path!}`, overlay);
    }
  }
  findings.push(...emptyPatternFindings(config, layout, applications));
  return { overlays, applications, uncovered: applications.filter((a) => a.state === 'not-rendered'), findings, layout, entries };
}

/** The closure (repo-relative files) of a folder, each read once; undefined when it cannot be read. */
function closureReader(config: Config): (dir: string) => Promise<string[] | undefined> {
  const closures = new Map<string, Promise<string[] | undefined>>();
  return (dir) => {
    if (!closures.has(dir)) closures.set(dir, kustomizationClosure(path.join(config.root, dir), config.root).then((c) => c.map((f) => rel(config, f)), () => undefined));
    return closures.get(dir)!;
  };
}

/** A finding about a generated Application, at the line that declares it (which the item then records too). */
function findingAbout(entry: Rendered, item: InventoryApp) {
  const g = item.generated;
  return (rule: string, severity: Finding['severity'], message: string, subjects?: string[]): InventoryFinding => {
    // Where it is declared: looked up only for a finding (it parses the entry point's sources).
    const where = locate(g.origin.r, g.origin.o);
    if (where.file) item.file = where.file;
    if (where.line) item.line = where.line;
    return { severity, rule, overlay: entry.target.dir, resource: resourceId(g.origin.o), message: `${describeApp(g)}: ${message}`, ...where, cluster: item.cluster, ...(subjects ? { subjects } : {}) };
  };
}

/** The overlay an Application of this repository deploys, as the layout would list it. */
function overlayOfApp(config: Config, g: GeneratedApp, env: Environment, id: string): AppOverlay {
  const parts = id.split('/');
  const kustomization = KUSTOMIZATION_NAMES.map((n) => path.posix.join(g.path!, n)).find((f) => existsSync(path.join(config.root, f)))!;
  return { id, system: parts[0]!, service: parts[parts.length - 1]!, slug: slugOf(id), env, dir: g.path!, kustomization, application: g.name };
}

/**
 * Whether an Application of this repository deploys a cluster entry point or a folder inside it
 * that reads nothing the entry point does not (then it is checked with the entry point's render).
 */
async function deploysEntry(g: GeneratedApp, entries: Rendered[], closureOf: (dir: string) => Promise<string[] | undefined>): Promise<boolean> {
  const entry = entries.find((e) => g.path === e.target.dir || g.path!.startsWith(`${e.target.dir}/`));
  if (!entry) return false;
  if (g.path === entry.target.dir) return true;
  const own = await closureOf(g.path!);
  return !!own && own.filter((f) => !KUSTOMIZATION_NAMES.includes(path.posix.basename(f))).every((f) => entry.closure.includes(f));
}

/**
 * An Application's environment: the one whose selectors pick it (`selectedBy`: more than one is
 * an error), else the one whose overlay it deploys (`overlay`), else the only environment of its
 * cluster; those two only when the environment has no selectors of its own.
 */
function environmentOf(config: Config, g: GeneratedApp, cluster: string, overlay: AppOverlay | undefined): { env?: Environment; selectedBy: Environment[] } {
  const selectedBy = config.environments.filter((e) => e.applications?.some((s) => selectorMatches(s, e, cluster, g)));
  if (selectedBy.length) return { env: selectedBy.length === 1 ? selectedBy[0] : undefined, selectedBy };
  if (overlay && !overlay.env.applications) return { env: overlay.env, selectedBy };
  const onCluster = config.environments.filter((e) => e.cluster === cluster);
  return { env: onCluster.length === 1 && !onCluster[0]!.applications ? onCluster[0] : undefined, selectedBy };
}

/**
 * An environment whose overlays patterns match nothing while Applications are mapped to it: the
 * patterns are wrong (a typo in overlayRoot), not the Applications.
 */
function emptyPatternFindings(config: Config, layout: { apps: AppOverlay[] }, applications: InventoryApp[]): InventoryFinding[] {
  const findings: InventoryFinding[] = [];
  for (const env of config.environments) {
    const mapped = applications.filter((a) => a.env === env);
    if (!env.overlays.length || !mapped.length || layout.apps.some((a) => a.env === env)) continue;
    const shown = env.overlayRoot !== undefined ? `overlayRoot '${env.overlayRoot}'` : `overlays ${env.overlays.map((p) => `'${p}'`).join(', ')}`;
    findings.push({
      severity: 'error', rule: 'app-environment', overlay: '.', resource: '', file: CONFIG_FILE, cluster: env.cluster,
      message: `environment ${env.name}: ${shown} matches no overlay, yet ${mapped.length} Application${mapped.length === 1 ? '' : 's'} of cluster ${env.cluster} deploy to it (${mapped.slice(0, 5).map((a) => `${a.name} from ${a.generated.path ?? '?'}`).join(', ')}${mapped.length > 5 ? ', ...' : ''}): fix the ${env.overlayRoot !== undefined ? 'overlayRoot' : 'overlays'} of ${env.name} in ${CONFIG_FILE}`,
    });
  }
  return findings;
}

// With the hash of the toolkit's code, the key of cached expansions.
const EXPANSION_VERSION = 1;

interface ExpansionEntry {
  /** Files the generators read, with their hashes: the entry holds while they are unchanged. */
  reads: Record<string, string>;
  /** The Applications, each with the index of the object in the entry point's render it comes from. */
  apps: Array<Omit<GeneratedApp, 'origin'> & { origin: number }>;
}

/**
 * The Applications of one cluster entry point, kept in .cache/ by the entry point's render key,
 * the repository URL and the list of files, and the hashes of the files its generators read:
 * a warm run expands nothing. (The expansion's own findings are cross-checks' to report.)
 */
async function cachedExpansion(config: Config, entry: Rendered, repoURL: string, tree: RepoTree): Promise<GeneratedApp[]> {
  const ws = workspaceFor(config);
  // Opened once per run: every cluster entry point reads it (half a megabyte at 600 Applications).
  const store = await ws.memo('store:expansions', () => Store.open<ExpansionEntry>(config.root, 'expansions', `${EXPANSION_VERSION}:${toolkitCodeHash()}`));
  // The clusters and branch of gitops.yaml are in the key: a clusters generator or the revision may read them.
  const key = entry.key && sha(JSON.stringify([entry.key, repoURL, config.defaultBranch, config.environments.map((e) => e.cluster), config.clusters, sha(tree.files.join('\0'))]));
  const hit = key ? store.get(key) : undefined;
  if (hit && (await Promise.all(Object.entries(hit.reads).map(async ([f, h]) => ((await ws.hash(path.join(config.root, f))) ?? '-') === h))).every(Boolean)) {
    return hit.apps.map((a) => ({ ...a, origin: { r: entry, o: entry.objects[a.origin]! } }));
  }
  const reads: Record<string, string> = {};
  const read = async (f: string): Promise<string | undefined> => {
    const text = await tree.read(f);
    reads[f] = (await ws.hash(path.join(config.root, f))) ?? '-';
    return text;
  };
  const expansion = await expandApplications(entry, repoURL, { ...tree, read }, { defaultBranch: config.defaultBranch });
  // An expansion that reads files itself (a helper process) lists them.
  for (const f of (expansion as { reads?: string[] }).reads ?? []) reads[f] ??= (await ws.hash(path.join(config.root, f))) ?? '-';
  if (key && expansion.apps.every((a) => entry.objects.includes(a.origin.o))) {
    store.set(key, { reads, apps: expansion.apps.map((a) => ({ ...a, origin: entry.objects.indexOf(a.origin.o) })) });
    await store.save();
  }
  return expansion.apps;
}

/** The apps of the inventory as every command lists them: one row per app and environment. */
export function listApps(inv: AppInventory): AppListing[] {
  const rows = new Map<string, AppListing>();
  const key = (env: string, id: string) => `${env}\0${id}`;
  for (const o of inv.overlays) rows.set(key(o.env.name, o.id), { id: o.id, env: o.env.name, dir: o.dir, applications: [] });
  for (const a of inv.applications) {
    if (!a.env || !a.id || (a.state !== 'rendered' && a.state !== 'not-rendered')) continue;
    const row = rows.get(key(a.env.name, a.id)) ?? { id: a.id, env: a.env.name, applications: [], ...(a.reason ? { notRendered: a.reason } : {}) };
    row.applications.push(a.name);
    rows.set(key(a.env.name, a.id), row);
  }
  return [...rows.values()].sort((x, y) => x.env.localeCompare(y.env) || x.id.localeCompare(y.id));
}

/** The overlays every command works on (layout plus the kustomize folders Applications deploy). */
export async function inventoryApps(config: Config, tool: Tool): Promise<AppOverlay[]> {
  return (await appInventory(config, tool)).overlays;
}

const FLUX = /^(kustomize\.toolkit\.fluxcd\.io\/[^/]+\/Kustomization|helm\.toolkit\.fluxcd\.io\/[^/]+\/HelmRelease)$/;

/**
 * Flux objects in the repository: the toolkit does not render what a Flux Kustomization or
 * HelmRelease deploys, so each is a finding naming its file and object, never passed over.
 */
export async function fluxFindings(config: Config, tree?: RepoTree): Promise<Finding[]> {
  const t = tree ?? (await runRepoTree(config));
  const out: Finding[] = [];
  // git grep names the few files that mention Flux at all (one process, no file read here);
  // outside git every YAML file of the tree is read.
  const grep = await run('git', ['grep', '-l', '-I', '-z', '--untracked', '-F', 'toolkit.fluxcd.io', '--', '*.yaml', '*.yml'], { cwd: config.root, allowFailure: true }).catch(() => undefined);
  const mention = grep && (grep.code === 0 || (grep.code === 1 && !grep.stderr.trim())) ? new Set(grep.stdout.split('\0').filter(Boolean)) : undefined;
  for (const file of t.files.filter((f) => /\.ya?ml$/.test(f) && !f.split('/').includes('node_modules') && (!mention || mention.has(f)))) {
    const size = await stat(path.join(config.root, file)).then((s) => s.size, () => Infinity);
    if (size > YAML_LIMITS.maxFileBytes) continue;
    const text = (await t.read(file)) ?? ''; // undefined for a symlink out of the repository
    if (!text.includes('toolkit.fluxcd.io')) continue;
    const { parsed } = parseYaml(file, text);
    for (const doc of parsed.docs) {
      const o = doc.toJS() as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: string; namespace?: string }; spec?: { path?: string; chart?: { spec?: { chart?: string } } } } | null;
      if (!o || typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || !FLUX.test(`${o.apiVersion}/${o.kind}`)) continue;
      const what = o.kind === 'Kustomization' ? `path ${o.spec?.path ?? '(none)'}` : `chart ${o.spec?.chart?.spec?.chart ?? '(none)'}`;
      out.push({
        severity: 'warning', rule: 'flux-not-rendered', overlay: path.posix.dirname(file), resource: `${o.kind}/${o.metadata?.namespace ?? '-'}/${o.metadata?.name ?? '?'}`, file, line: lineOf(doc, parsed.lines, ['metadata', 'name']) || undefined,
        message: `Flux ${o.kind} ${o.metadata?.name ?? '?'} (${o.apiVersion}, ${what}) is not rendered by the toolkit: what it deploys is checked only where an environment's overlays or an Argo CD Application cover it`,
      });
    }
  }
  return out;
}
