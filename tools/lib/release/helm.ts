// Releases beyond images: Helm. An app deployed by an Argo CD Application with a Helm source has
// a release of its own there: the chart version (`targetRevision` of a chart from a chart
// repository, ordered by semver like image tags) and the values files gitops.yaml
// `promotion.helm.valueFiles` names (the files its `helm.valueFiles` resolve to in this
// repository, `$values/...` of a ref source included), which travel whole. Where a chart version
// is written is found by experiment and proved by Argo CD's own expansion: the edit must move the
// target Application's chart version and nothing else of any Application.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import { isMap, isScalar, isSeq, parseAllDocuments, parseDocument, type Document } from 'yaml';
import { appInventory, describeApp, type AppInventory, type InventoryApp } from '../argocd/applications.js';
import { sameRepo, tracksDefaultBranch, type AppSource } from '../argocd/argocd.js';
import { slugOf, type AppOverlay } from '../config/apps.js';
import type { Config, Environment } from '../config/config.js';
import { ConfigError, UsageError } from '../core/errors.js';
import { run } from '../core/exec.js';
import type { Tool } from '../core/tools.js';
import { replaceScalar } from '../core/yamlfile.js';
import { resourceId } from '../core/k8s.js';
import { locate } from '../render/render.js';
import { clusterRepoURL } from '../validate/checks/index.js';

export interface HelmChart {
  name: string;
  repoURL: string;
  version: string;
}

/** One app in one environment deployed by an Argo CD Application with a Helm source. */
export interface HelmApp {
  id: string;
  env: Environment;
  /** The Application's name and namespace. */
  name: string;
  namespace: string;
  cluster: string;
  /** The cluster entry point folder whose render holds the Application (or its ApplicationSet). */
  entryDir: string;
  /** The file declaring it: the Application, or the ApplicationSet that generates it. */
  file?: string;
  inv: InventoryApp;
  /** Index of the Helm source in the Application's sources. */
  source: number;
  /** A chart from a chart repository: its version is the source's targetRevision. */
  chart?: HelmChart;
  /** A chart in this repository: its folder (its version moves with the repository). */
  localChart?: string;
  /** The values files of this repository the Helm source reads, repo-relative, in order. */
  valueFiles: string[];
  /** Those that promotion.helm.valueFiles names: part of the release. */
  released: Array<{ pattern: string; file: string }>;
  /** Why its Helm release cannot be promoted or rolled back (several Helm sources, an ambiguous pattern). */
  problem?: string;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function sourcesOf(app: InventoryApp): AppSource[] {
  return app.generated.sources ?? [];
}

/** A repo-relative path from a values file reference, or undefined when it leaves the repository. */
function inRepo(p: string): string | undefined {
  const n = path.posix.normalize(p.replace(/^\.?\/+/, ''));
  return n === '.' || n.startsWith('../') || n === '..' || path.posix.isAbsolute(n) ? undefined : n;
}

function isHelmSource(config: Config, s: AppSource, repoURL: string): boolean {
  if (s.chart) return true;
  if (s.ref !== undefined && s.path === undefined) return false;
  if (s.helm) return true;
  return typeof s.path === 'string' && sameRepo(s.repoURL, repoURL) && existsSync(path.join(config.root, s.path, 'Chart.yaml'));
}

/** Every app of the inventory deployed (in some environment) by an Application with a Helm source. */
export function helmApps(config: Config, inv: AppInventory): HelmApp[] {
  const out: HelmApp[] = [];
  for (const a of inv.applications) {
    if (!a.env || !a.id || a.overlay || (a.state !== 'rendered' && a.state !== 'not-rendered')) continue;
    const g = a.generated;
    const repoURL = clusterRepoURL(config, g.origin.r);
    const sources = sourcesOf(a);
    const helm = sources.map((s, i) => [s, i] as const).filter(([s]) => isHelmSource(config, s, repoURL));
    if (!helm.length) continue;
    const [src, index] = helm[0]!;
    const valueFiles: string[] = [];
    const vfs = (src.helm as { valueFiles?: unknown } | undefined)?.valueFiles;
    for (const v of Array.isArray(vfs) ? vfs : []) {
      if (typeof v !== 'string') continue;
      const ref = /^\$([^/]+)\/(.+)$/.exec(v);
      let file: string | undefined;
      if (ref) {
        // `$values/...`: a file of the ref source, ours when it is this repository at the default branch.
        const r = sources.find((s) => s.ref === ref[1]);
        if (r && sameRepo(r.repoURL, repoURL) && tracksDefaultBranch({ targetRevision: r.targetRevision === undefined ? undefined : String(r.targetRevision) }, config.defaultBranch)) file = inRepo(ref[2]!);
      } else if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(v) && !src.chart && typeof src.path === 'string' && sameRepo(src.repoURL, repoURL)) {
        file = inRepo(path.posix.join(src.path, v));
      }
      if (file && !valueFiles.includes(file)) valueFiles.push(file);
    }
    const problems: string[] = [];
    if (helm.length > 1) problems.push(`it has ${helm.length} Helm sources; the toolkit releases one`);
    const released: HelmApp['released'] = [];
    for (const pattern of config.releaseHelm.valueFiles) {
      const isMatch = picomatch(pattern, { dot: true });
      const hits = valueFiles.filter((f) => isMatch(f));
      if (hits.length > 1) problems.push(`promotion.helm.valueFiles '${pattern}' matches ${hits.length} of its values files (${hits.join(', ')}); a pattern must name one per Application`);
      else if (hits.length === 1) released.push({ pattern, file: hits[0]! });
    }
    const meta = g.app.metadata ?? {};
    const where = locate(g.origin.r, g.origin.o);
    out.push({
      id: a.id, env: a.env, name: g.name, namespace: meta.namespace ?? 'argocd', cluster: a.cluster, entryDir: g.origin.r.target.dir, ...(where.file ? { file: where.file } : {}),
      inv: a, source: index, valueFiles, released,
      ...(src.chart ? { chart: { name: src.chart, repoURL: src.repoURL ?? '', version: src.targetRevision === undefined || src.targetRevision === null ? '' : String(src.targetRevision) } } : {}),
      ...(!src.chart && typeof src.path === 'string' ? { localChart: src.path } : {}),
      ...(problems.length ? { problem: problems.join('; ') } : {}),
    });
  }
  return out;
}

/** The release commands' handle on a Helm app: an AppOverlay whose folder is its cluster entry point. */
export function helmOverlay(h: HelmApp): AppOverlay {
  const parts = h.id.split('/');
  return { id: h.id, system: parts[0]!, service: parts[parts.length - 1]!, slug: slugOf(h.id), env: h.env, dir: h.entryDir, kustomization: h.file ?? h.entryDir, application: h.name, helm: true };
}

/** The apps the release commands work on: the inventory's overlays plus the Helm apps no overlay stands for. */
export async function releaseInventory(config: Config, tool: Tool): Promise<{ apps: AppOverlay[]; helm: HelmApp[]; inventory: AppInventory }> {
  const inventory = await appInventory(config, tool);
  const helm = helmApps(config, inventory);
  const apps = [...inventory.overlays];
  for (const h of helm) if (!apps.some((a) => a.id === h.id && a.env.name === h.env.name)) apps.push(helmOverlay(h));
  return { apps, helm, inventory };
}

/** The released values files' contents as one hash (undefined when none is released). */
export async function valuesHash(root: string, h: HelmApp): Promise<{ sha256: string; files: string[] } | undefined> {
  if (!h.released.length) return undefined;
  const hash = createHash('sha256');
  for (const r of h.released) hash.update(`${r.pattern}\0${(await readFile(path.join(root, r.file)).catch(() => Buffer.from('<missing>')))}\0`);
  return { sha256: hash.digest('hex'), files: h.released.map((r) => r.file) };
}

export const contentHash = sha256;

/** Where a chart version is written: a scalar of a YAML (or JSON) document of the repository. */
export interface ChartPlace {
  file: string;
  doc: number;
  path: Array<string | number>;
}

/** Every Application of a fresh inventory as JSON, by cluster and name. */
async function snapshot(config: Config, tool: Tool): Promise<Map<string, { a: InventoryApp; json: string }>> {
  const inv = await appInventory(config, tool);
  return new Map(inv.applications.map((a) => [`${a.cluster}\0${a.name}`, { a, json: JSON.stringify(a.generated.app) }]));
}

/** The Application with its Helm source's targetRevision blanked. */
function withoutVersion(app: unknown, source: number): string {
  const copy = structuredClone(app) as { spec?: { source?: Record<string, unknown>; sources?: Array<Record<string, unknown>> } };
  const srcs = copy.spec?.sources?.length ? copy.spec.sources : copy.spec?.source ? [copy.spec.source] : [];
  if (srcs[source]) srcs[source]!.targetRevision = '\0';
  return JSON.stringify(copy);
}

/** What an edit did, by Argo CD's own expansion: undefined when exactly the target's chart version became `version`. */
function judge(before: Map<string, { a: InventoryApp; json: string }>, after: Map<string, { a: InventoryApp; json: string }>, h: HelmApp, version: string): string | undefined {
  const key = `${h.cluster}\0${h.name}`;
  const moved: string[] = [];
  for (const [k, b] of before) {
    const a = after.get(k);
    if (!a) moved.push(`removes ${describeApp(b.a.generated)}`);
    else if (k !== key && a.json !== b.json) moved.push(`also changes ${describeApp(b.a.generated)}`);
  }
  for (const [k, a] of after) if (!before.has(k)) moved.push(`adds ${describeApp(a.a.generated)}`);
  const t = after.get(key);
  if (t) {
    const srcs = sourcesOf(t.a);
    const now = srcs[h.source]?.targetRevision;
    if (String(now ?? '') !== version) moved.push(`leaves ${h.name}'s chart version at ${String(now ?? '(unset)')}`);
    else if (withoutVersion(t.a.generated.app, h.source) !== withoutVersion(before.get(key)!.a.generated.app, h.source)) moved.push(`changes more of ${h.name} than its chart version`);
  }
  return moved.length ? moved.join('; ') : undefined;
}

/** Scalars equal to `value` in a YAML stream, with their document and path. */
function scalarsEqual(file: string, text: string, value: string): ChartPlace[] {
  const out: ChartPlace[] = [];
  let docs: Document.Parsed[];
  try {
    docs = parseAllDocuments(text) as Document.Parsed[];
  } catch {
    return out;
  }
  const walk = (node: unknown, doc: number, at: Array<string | number>) => {
    if (isMap(node)) for (const p of node.items) walk(p.value, doc, [...at, isScalar(p.key) ? (p.key.value as string) : String(p.key)]);
    else if (isSeq(node)) node.items.forEach((n, i) => walk(n, doc, [...at, i]));
    else if (isScalar(node) && node.value !== null && String(node.value) === value) out.push({ file, doc, path: at });
  };
  (Array.isArray(docs) ? docs : [docs]).forEach((d, i) => walk(d.contents, i, []));
  return out;
}

/**
 * The places that may set the chart version of `h`, most likely first: the Application's own
 * `targetRevision` where it is written as an Application; then every scalar with the current
 * version in the file declaring it (an ApplicationSet's template or list elements), then in the
 * repository's other YAML and JSON files (a git files generator's config).
 */
async function candidatePlaces(config: Config, h: HelmApp): Promise<ChartPlace[]> {
  const version = h.chart!.version;
  const out: ChartPlace[] = [];
  const seen = new Set<string>();
  const add = (p: ChartPlace) => {
    const k = JSON.stringify(p);
    if (!seen.has(k)) (seen.add(k), out.push(p));
  };
  const o = h.inv.generated.origin.o;
  if (h.file) {
    const text = await readFile(path.join(config.root, h.file), 'utf8').catch(() => '');
    if (o.kind === 'Application') {
      const docs = parseAllDocuments(text) as Document.Parsed[];
      (Array.isArray(docs) ? docs : [docs]).forEach((d, i) => {
        const js = d.toJS() as { kind?: string; metadata?: { name?: string }; spec?: { sources?: unknown[] } } | null;
        if (js?.kind !== 'Application' || js.metadata?.name !== o.metadata?.name) return;
        add({ file: h.file!, doc: i, path: js.spec?.sources ? ['spec', 'sources', h.source, 'targetRevision'] : ['spec', 'source', 'targetRevision'] });
      });
    }
    for (const p of scalarsEqual(h.file, text, version)) add(p);
  }
  const grep = await run('git', ['grep', '-l', '-I', '-z', '--untracked', '-F', '-e', version, '--', '*.yaml', '*.yml', '*.json'], { cwd: config.root, allowFailure: true }).catch(() => undefined);
  for (const f of (grep?.code === 0 ? grep.stdout.split('\0').filter(Boolean) : []).filter((f) => f !== h.file && !f.startsWith('node_modules/') && !f.startsWith('.cache/')).sort()) {
    for (const p of scalarsEqual(f, await readFile(path.join(config.root, f), 'utf8').catch(() => ''), version)) add(p);
  }
  return out.slice(0, 24);
}

/**
 * Finds the one place that decides `h`'s chart version (and nothing else of any Application):
 * each candidate is set to a probe version, the inventory expanded again with Argo CD's own code,
 * and the file put back. A UsageError names what each candidate would also move.
 */
export async function findChartPlace(config: Config, tool: Tool, h: HelmApp): Promise<ChartPlace> {
  if (!h.chart) throw new UsageError(`${describeApp(h.inv.generated)} deploys no chart from a chart repository: it has no chart version to release`);
  const before = await snapshot(config, tool);
  const probe = `0.0.0-gitops-probe.${process.pid}`;
  const tried: string[] = [];
  for (const place of await candidatePlaces(config, h)) {
    const abs = path.join(config.root, place.file);
    const text = await readFile(abs, 'utf8');
    let edited: string;
    try {
      edited = replaceScalar(place.file, text, place.doc, place.path, () => probe).text;
    } catch (e) {
      tried.push(`${place.file} ${place.path.join('.')}: ${(e as Error).message}`);
      continue;
    }
    let verdict: string | undefined;
    try {
      await writeFile(abs, edited);
      verdict = judge(before, await snapshot(config, tool), h, probe);
    } finally {
      await writeFile(abs, text);
    }
    if (!verdict) return place;
    tried.push(`${place.file} ${place.path.join('.')}: ${verdict}`);
  }
  throw new UsageError(
    `cannot find the one place that sets the chart version of ${describeApp(h.inv.generated)} (${h.chart.name} ${h.chart.version}) for ${h.id} in ${h.env.name} alone${tried.length ? `:\n  ${tried.slice(0, 8).join('\n  ')}` : ': no file holds it'}`,
    `write the chart version where only that Application reads it (its own targetRevision, or its list element), then re-run`,
  );
}

/** Writes `version` at `place` and proves, by a fresh expansion, that only `h`'s chart version moved; returns the file's new text. */
export async function writeChartVersion(config: Config, tool: Tool, h: HelmApp, place: ChartPlace, version: string): Promise<{ file: string; text: string }> {
  const abs = path.join(config.root, place.file);
  const text = await readFile(abs, 'utf8');
  const before = await snapshot(config, tool);
  const edited = replaceScalar(place.file, text, place.doc, place.path, () => version).text;
  await writeFile(abs, edited);
  const verdict = judge(before, await snapshot(config, tool), h, version);
  if (verdict) {
    await writeFile(abs, text);
    throw new UsageError(`setting the chart version of ${h.name} to ${version} in ${place.file} ${verdict}; nothing was committed`);
  }
  return { file: place.file, text: edited };
}

/** Reads the chart version at `place` from a revision of its file (undefined when absent or unreadable). */
export function chartVersionAt(place: ChartPlace, text: string): string | undefined {
  try {
    const docs = parseAllDocuments(text) as Document.Parsed[];
    const v = (Array.isArray(docs) ? docs : [docs])[place.doc]?.getIn(place.path);
    return v === undefined || v === null ? undefined : String(v);
  } catch {
    return undefined;
  }
}

/** The Argo CD object whose change in the cluster entry point's render is the target's own (the Application, or its ApplicationSet). */
export function ownObject(h: HelmApp): { dir: string; resource: string } {
  return { dir: h.entryDir, resource: resourceId(h.inv.generated.origin.o) };
}

/**
 * Refuses to write a values file another Application reads too (another environment's, or
 * another app's): the edit would move it as well.
 */
export function checkValuesOwner(all: HelmApp[], h: HelmApp, file: string): void {
  const others = all.filter((o) => !(o.id === h.id && o.env.name === h.env.name) && o.valueFiles.includes(file));
  if (others.length) {
    throw new UsageError(
      `values file ${file} of ${h.id} in ${h.env.name} is also read by ${others.map((o) => `${describeApp(o.inv.generated)} (${o.id} in ${o.env.name})`).join(', ')}; writing it would change ${others.length === 1 ? 'that one' : 'those'} too; nothing was committed`,
      `give ${h.env.name} its own values file (a valueFiles entry only its Application reads), matched by promotion.helm.valueFiles`,
    );
  }
}

/** A values file may be a YAML document; one that does not parse is refused before it travels. */
export function checkValuesText(file: string, text: string): void {
  const d = parseDocument(text);
  if (d.errors.length) throw new ConfigError(file, `not valid YAML: ${d.errors[0]!.message.split('\n')[0]}`);
}
