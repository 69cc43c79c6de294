// npm run init: adopts a repository by its Argo CD objects. Finds every Application,
// ApplicationSet and AppProject in the repository, the folders Argo CD is bootstrapped from
// (the top kustomizations that render them: the cluster entry points, an app of apps among
// them), expands the Applications the way validate does (lib/argocd/applications.ts) and
// writes a gitops.yaml whose environments cover every one of them. Prints what it found, and
// what it could not place and why.
import { existsSync } from 'node:fs';
import { rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { appInventory, type AppInventory, type InventoryApp } from '../lib/argocd/applications.js';
import { repoTree, sameRepo, type RepoTree } from '../lib/argocd/argocd.js';
import { CONFIG_FILE, parseConfig, type Config } from '../lib/config/config.js';
import { KUSTOMIZATION_NAMES } from '../lib/config/layout.js';
import { run } from '../lib/core/exec.js';
import { UsageError } from '../lib/core/errors.js';
import { findKustomize, GO_TOOLS, pinnedVersion } from '../lib/core/tools.js';
import { parseYamlData, YAML_LIMITS } from '../lib/core/yamlfile.js';
import { kustomizationClosure } from '../lib/render/kustomize.js';
import { clusterRepoURL } from '../lib/argocd/argocd.js';

export interface InitOptions {
  cwd: string;
  /** Overwrite an existing gitops.yaml. */
  force?: boolean;
  write?: (text: string) => void;
  envVars?: NodeJS.ProcessEnv;
}

export interface FoundObject {
  file: string;
  kind: string;
  name: string;
}

export interface InitResult {
  file: string;
  text: string;
  objects: FoundObject[];
  clusters: Array<{ name: string; entryPoint: string; appOfApps: string[] }>;
  environments: Array<{ name: string; cluster: string; applications: string[] }>;
  /** Objects that no entry point renders, or that the toolkit cannot read, with the reason. */
  unplaced: Array<{ file: string; object?: string; reason: string }>;
  /** Applications covered by an environment whose sources the toolkit does not render. */
  notRendered: Array<{ name: string; env: string; reason: string }>;
}

const ARGO_KINDS = new Set(['Application', 'ApplicationSet', 'AppProject']);
const FLUX = /^(kustomize\.toolkit\.fluxcd\.io\/[^/]+\/Kustomization|helm\.toolkit\.fluxcd\.io\/[^/]+\/HelmRelease)$/;
// Environment words, in promotion order (only used to name environments, never to order them).
const ENV_WORDS = ['dev', 'development', 'test', 'testing', 'qa', 'uat', 'stage', 'staging', 'preprod', 'prod', 'production'];

interface Scan {
  objects: FoundObject[];
  unplaced: InitResult['unplaced'];
  /** repoURL -> how often an Application or generator names it. */
  repoURLs: Map<string, number>;
  /** targetRevision / generator revision -> how often it is named (HEAD and empty left out). */
  revisions: Map<string, number>;
}

type Doc = { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown }; spec?: Record<string, unknown> } | null;

/** The nearest folder above `file` holding a Chart.yaml: the object is a Helm template. */
function chartOf(files: Set<string>, file: string): string | undefined {
  for (let d = path.posix.dirname(file); d !== '.' && d !== ''; d = path.posix.dirname(d)) if (files.has(`${d}/Chart.yaml`)) return d;
  return files.has('Chart.yaml') ? '.' : undefined;
}

async function scan(root: string, tree: RepoTree): Promise<Scan> {
  const out: Scan = { objects: [], unplaced: [], repoURLs: new Map(), revisions: new Map() };
  const all = new Set(tree.files);
  const count = (u: unknown) => typeof u === 'string' && u && out.repoURLs.set(u, (out.repoURLs.get(u) ?? 0) + 1);
  const revision = (r: unknown) => typeof r === 'string' && /^[A-Za-z][\w./-]*$/.test(r) && r !== 'HEAD' && !r.includes('{{') && out.revisions.set(r.replace(/^refs\/heads\//, ''), (out.revisions.get(r) ?? 0) + 1);
  for (const file of tree.files.filter((f) => /\.ya?ml$/.test(f) && !f.split('/').includes('node_modules'))) {
    if ((await stat(path.join(root, file)).then((s) => s.size, () => Infinity)) > YAML_LIMITS.maxFileBytes) continue;
    const text = (await tree.read(file)) ?? ''; // undefined for a symlink out of the repository
    if (!text.includes('argoproj.io') && !text.includes('toolkit.fluxcd.io')) continue;
    const chart = chartOf(all, file);
    const { docs, problem } = parseYamlData(file, text);
    if (problem) {
      if (/argoproj\.io/.test(text)) out.unplaced.push({ file, reason: chart !== undefined ? `a template of Helm chart ${chart} (an app of apps rendered by Helm), which the toolkit does not render yet` : `not valid YAML (line ${problem.line}: ${problem.message})` });
      continue;
    }
    for (const d of docs as Doc[]) {
      if (!d || typeof d.apiVersion !== 'string' || typeof d.kind !== 'string') continue;
      const name = typeof d.metadata?.name === 'string' ? d.metadata.name : '?';
      if (FLUX.test(`${d.apiVersion}/${d.kind}`)) {
        out.unplaced.push({ file, object: `${d.kind} ${name}`, reason: 'a Flux object: the toolkit does not render what Flux deploys (validate reports it as flux-not-rendered)' });
        continue;
      }
      if (!d.apiVersion.startsWith('argoproj.io/') || !ARGO_KINDS.has(d.kind)) continue;
      if (chart !== undefined) {
        out.unplaced.push({ file, object: `${d.kind} ${name}`, reason: `a template of Helm chart ${chart} (an app of apps rendered by Helm), which the toolkit does not render yet` });
        continue;
      }
      out.objects.push({ file, kind: d.kind, name });
      const spec = d.spec ?? {};
      const tpl = (spec.template as { spec?: Record<string, unknown> } | undefined)?.spec ?? {};
      const sources = [spec.source, ...((spec.sources as unknown[]) ?? []), tpl.source] as Array<{ repoURL?: unknown; path?: unknown; targetRevision?: unknown } | undefined>;
      for (const s of sources) {
        if (!s || typeof s.path !== 'string') continue;
        const p = s.path.replace(/^\.?\/+|\/+$/g, '');
        if (p.includes('{{') || [...all].some((f) => f.startsWith(`${p}/`))) {
          count(s.repoURL);
          revision(s.targetRevision);
        }
      }
      for (const g of (spec.generators as Array<{ git?: { repoURL?: unknown; revision?: unknown } }> | undefined) ?? []) {
        count(g?.git?.repoURL);
        revision(g?.git?.revision);
      }
    }
  }
  return out;
}

/** Lower-case [a-z0-9-], starting with a letter, at most `max` characters. */
function dnsName(s: string, max: number, fallback: string): string {
  let n = s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  if (!/^[a-z]/.test(n)) n = `${fallback}-${n}`.replace(/-+$/, '');
  return n.slice(0, max).replace(/-+$/, '') || fallback;
}

/** The folders Argo CD is bootstrapped from: the top kustomizations whose render holds Argo CD objects. */
async function entryPoints(root: string, tree: RepoTree, argoFiles: Set<string>): Promise<Array<{ dir: string; closure: string[] }>> {
  const dirs = [...new Set(tree.files.filter((f) => KUSTOMIZATION_NAMES.includes(path.posix.basename(f))).map((f) => path.posix.dirname(f)))].sort();
  const candidates: Array<{ dir: string; closure: string[] }> = [];
  for (const dir of dirs) {
    const k = KUSTOMIZATION_NAMES.map((n) => path.posix.join(dir, n)).find((f) => tree.files.includes(f))!;
    if (/^kind:\s*Component\s*$/m.test((await tree.read(k)) ?? '')) continue;
    const closure = await kustomizationClosure(path.join(root, dir), root).then((c) => c.map((f) => path.relative(root, f).split(path.sep).join('/')), () => [] as string[]);
    if (closure.some((f) => argoFiles.has(f))) candidates.push({ dir, closure });
  }
  // A candidate another one renders (clusters/x/base inside clusters/x) is part of it.
  return candidates.filter((c) => !candidates.some((o) => o !== c && o.closure.some((f) => path.posix.dirname(f) === c.dir && KUSTOMIZATION_NAMES.includes(path.posix.basename(f)))));
}

interface EnvPlan {
  name: string;
  cluster: string;
  selectors: Array<Record<string, string>>;
  comment: string;
}

/** Splits a cluster's Applications into environments: by destination cluster, else by an environment word in their names or namespaces, else one. */
function planEnvironments(cluster: string, apps: InventoryApp[]): EnvPlan[] {
  const dest = (a: InventoryApp) => (a.generated.destination.name ? `destination\0${a.generated.destination.name}` : `server\0${a.generated.destination.server ?? ''}`);
  const dests = [...new Set(apps.map(dest))];
  if (dests.length > 1) {
    return dests.map((d) => {
      const [field, value] = d.split('\0') as [string, string];
      const label = field === 'destination' ? value : /kubernetes\.default\.svc/.test(value) ? 'in-cluster' : value.replace(/^https?:\/\//, '').split(/[.:/]/)[0]!;
      return { name: dnsName(label, 31, 'env'), cluster, selectors: [{ [field]: value }], comment: `Applications deployed to ${field === 'destination' ? `cluster ${value}` : value}` };
    });
  }
  for (const field of ['name', 'namespace'] as const) {
    const valueOf = (a: InventoryApp) => (field === 'name' ? a.name : a.generated.destination.namespace ?? '');
    const word = (v: string) => {
      const parts = v.split('-');
      if (parts.length > 1 && ENV_WORDS.includes(parts[parts.length - 1]!)) return { w: parts[parts.length - 1]!, pattern: `*-${parts[parts.length - 1]}` };
      if (parts.length > 1 && ENV_WORDS.includes(parts[0]!)) return { w: parts[0]!, pattern: `${parts[0]}-*` };
      if (field === 'namespace' && ENV_WORDS.includes(v)) return { w: v, pattern: v };
      return undefined;
    };
    const words = apps.map((a) => word(valueOf(a)));
    if (!apps.length || words.some((w) => !w) || new Set(words.map((w) => w!.w)).size < 2) continue;
    const byWord = new Map<string, Set<string>>();
    for (const w of words) byWord.set(w!.w, (byWord.get(w!.w) ?? new Set()).add(w!.pattern));
    return [...byWord].sort((a, b) => ENV_WORDS.indexOf(a[0]) - ENV_WORDS.indexOf(b[0])).map(([w, patterns]) => ({
      name: w, cluster, selectors: [...patterns].sort().map((p) => ({ [field]: p })), comment: `Applications whose ${field} says ${w}`,
    }));
  }
  return [{ name: dnsName(cluster, 31, 'env'), cluster, selectors: [{ name: '*' }], comment: `every Application of cluster ${cluster}` }];
}

const q = (s: string) => JSON.stringify(s);

function configText(opts: { repoURL?: string; defaultBranch: string; kubernetes: string; clusters: Array<{ name: string; entryPoint: string }>; envs: EnvPlan[] }): string {
  const lines = [
    `# Written by 'npm run init' from this repository's Argo CD objects; edit freely (README: "Adopting a repository").`,
    '# Every Application the cluster entry points create must be covered by one environment: validate',
    '# reports one that none covers as an error (app-unmapped).',
  ];
  if (opts.repoURL) lines.push(`repoURL: ${q(opts.repoURL)}`);
  lines.push(`defaultBranch: ${q(opts.defaultBranch)}`, '', 'environments:');
  for (const e of opts.envs) {
    lines.push(`  - name: ${e.name}`, `    cluster: ${e.cluster}`, `    # ${e.comment}`, '    applications:');
    for (const s of e.selectors) lines.push(`      - {${Object.entries(s).map(([k, v]) => `${k}: ${q(v)}`).join(', ')}}`);
  }
  lines.push('', 'kubernetes:', `  version: ${opts.kubernetes}`);
  const custom = opts.clusters.filter((c) => c.entryPoint !== `clusters/${c.name}`);
  if (custom.length) {
    lines.push('', '# Where each cluster is bootstrapped from: the kustomization that renders its Argo CD objects.', 'clusters:');
    for (const c of custom) lines.push(`  ${c.name}:`, `    entryPoint: ${q(c.entryPoint)}`);
  }
  return `${lines.join('\n')}\n`;
}

async function currentBranch(root: string): Promise<string> {
  const r = await run('git', ['symbolic-ref', '--quiet', '--short', 'HEAD'], { cwd: root, allowFailure: true }).catch(() => undefined);
  const b = r && r.code === 0 ? r.stdout.trim() : '';
  return b || 'main';
}

/** `<major>.<minor>.0` of the pinned kube-apiserver: the schemas and the server dry run follow it. */
async function kubernetesVersion(): Promise<string> {
  const tool = GO_TOOLS.find((t) => t.name === 'kube-apiserver');
  const v = tool ? await pinnedVersion(tool).catch(() => 'v1.35.0') : 'v1.35.0';
  const m = /^v?(\d+)\.(\d+)/.exec(v);
  return m ? `${m[1]}.${m[2]}.0` : '1.35.0';
}

export async function init(opts: InitOptions): Promise<InitResult> {
  const root = path.resolve(opts.cwd);
  const envVars = opts.envVars ?? process.env;
  const write = opts.write ?? ((t: string) => process.stdout.write(`${t}\n`));
  const file = path.join(root, CONFIG_FILE);
  if (existsSync(file) && !opts.force) throw new UsageError(`${file} exists: init does not overwrite it`, "pass --force to replace it (your edits to it are lost), or edit it by hand");
  const tree = await repoTree(root);
  const found = await scan(root, tree);
  const argoFiles = new Set(found.objects.map((o) => o.file));
  const roots = await entryPoints(root, tree, argoFiles);
  const unplaced = [...found.unplaced];
  for (const f of argoFiles) {
    if (roots.some((r) => r.closure.includes(f))) continue;
    for (const o of found.objects.filter((x) => x.file === f)) {
      unplaced.push({ file: f, object: `${o.kind} ${o.name}`, reason: 'no kustomization renders this file, so no cluster entry point holds it: list it in a kustomization (or add one beside it) and run init again' });
    }
  }
  if (!roots.length) {
    throw new UsageError(`no kustomization in ${root} renders an Argo CD Application, ApplicationSet or AppProject (${found.objects.length} found${unplaced.length ? `; ${unplaced.map((u) => `${u.file}: ${u.reason}`).join('; ')}` : ''})`, 'init adopts a repository by its Argo CD objects; without any, write gitops.yaml with environments[].overlays by hand (README "Other repository layouts")');
  }
  // Cluster names: clusters/<name>, else the entry point folder's path.
  const clusters: Array<{ name: string; entryPoint: string }> = [];
  for (const r of roots) {
    const m = /^clusters\/([^/]+)$/.exec(r.dir);
    let name = dnsName(m ? m[1]! : r.dir === '.' ? 'cluster' : r.dir, 50, 'cluster');
    while (clusters.some((c) => c.name === name)) name = `${name}-${clusters.length + 1}`;
    clusters.push({ name, entryPoint: r.dir });
  }
  let defaultBranch = [...found.revisions].sort((a, b) => b[1] - a[1])[0]?.[0] ?? (await currentBranch(root));
  const kubernetes = await kubernetesVersion();
  const tool = await findKustomize(envVars);
  const oneEach = clusters.map((c) => ({ name: dnsName(c.name, 31, 'env'), cluster: c.name, selectors: [{ name: '*' }], comment: '' }));
  let repoURL: string | undefined;
  const inventoryOf = async (text: string): Promise<{ config: Config; inv: AppInventory }> => {
    const config = parseConfig(root, text, envVars);
    return { config, inv: await appInventory(config, tool, { tree }) };
  };
  let first = await inventoryOf(configText({ defaultBranch, kubernetes, clusters, envs: oneEach }));
  // Without an app of apps the repository's own URL is not written anywhere validate reads it:
  // the URL the Applications and generators name most for folders of this repository.
  if (first.inv.entries.some((e) => !clusterRepoURL(first.config, e))) {
    repoURL = [...found.repoURLs].sort((a, b) => b[1] - a[1])[0]?.[0];
    if (repoURL) first = await inventoryOf(configText({ repoURL, defaultBranch, kubernetes, clusters, envs: oneEach }));
  }
  // The branch the rendered Applications of this repository track (validate checks those), else git's.
  const revisions = new Map<string, number>();
  for (const a of first.inv.applications) {
    const entry = first.inv.entries.find((e) => e.target.cluster === a.cluster);
    const r = a.generated.targetRevision?.replace(/^refs\/heads\//, '');
    if (!r || r === 'HEAD' || !/^[A-Za-z][\w./-]*$/.test(r) || /^v?\d/.test(r) || !sameRepo(a.generated.repoURL, repoURL ?? (entry && clusterRepoURL(first.config, entry)))) continue;
    revisions.set(r, (revisions.get(r) ?? 0) + 1);
  }
  const tracked = [...revisions].sort((a, b) => b[1] - a[1])[0]?.[0];
  if (tracked && tracked !== defaultBranch) {
    defaultBranch = tracked;
    first = await inventoryOf(configText({ repoURL, defaultBranch, kubernetes, clusters, envs: oneEach }));
  }
  const envs: EnvPlan[] = [];
  for (const c of clusters) {
    for (const e of planEnvironments(c.name, first.inv.applications.filter((a) => a.cluster === c.name && a.state !== 'entry'))) {
      let name = e.name;
      if (envs.some((x) => x.name === name)) name = dnsName(`${c.name}-${e.name}`, 31, 'env');
      while (envs.some((x) => x.name === name)) name = `${name.slice(0, 28)}-${envs.length}`;
      envs.push({ ...e, name });
    }
  }
  const text = configText({ repoURL, defaultBranch, kubernetes, clusters, envs });
  const final = await inventoryOf(text); // the file is checked by the same parser every command uses
  await rm(file, { force: true }); // a symlinked gitops.yaml is replaced, never written through
  await writeFile(file, text);

  const result: InitResult = {
    file: CONFIG_FILE,
    text,
    objects: found.objects,
    clusters: clusters.map((c) => ({ ...c, appOfApps: final.inv.applications.filter((a) => a.cluster === c.name && a.state === 'entry').map((a) => a.name) })),
    environments: envs.map((e) => ({ name: e.name, cluster: e.cluster, applications: final.inv.applications.filter((a) => a.env?.name === e.name).map((a) => a.name).sort() })),
    unplaced: [
      ...unplaced,
      ...final.inv.applications.filter((a) => a.state === 'unmapped').map((a) => ({ file: a.file ?? '?', object: `Application ${a.name}`, reason: a.reason ?? 'no environment covers it' })),
    ],
    notRendered: final.inv.uncovered.map((a) => ({ name: a.name, env: a.env!.name, reason: a.reason! })),
  };
  const kinds = (k: string) => found.objects.filter((o) => o.kind === k).length;
  const out = [`found ${kinds('Application')} Application(s), ${kinds('ApplicationSet')} ApplicationSet(s), ${kinds('AppProject')} AppProject(s) in ${argoFiles.size} file(s)`];
  for (const c of result.clusters) out.push(`cluster ${c.name}: entry point ${c.entryPoint}${c.appOfApps.length ? ` (app of apps: ${c.appOfApps.join(', ')})` : ''}`);
  for (const e of result.environments) {
    out.push(`  environment ${e.name} (cluster ${e.cluster}): ${e.applications.length} Application(s)`);
    for (const a of final.inv.applications.filter((x) => x.env?.name === e.name).sort((x, y) => x.name.localeCompare(y.name))) {
      out.push(`    ${a.name}  ${a.generated.path ?? a.generated.repoURL ?? ''}  ${a.state === 'rendered' ? 'checked (kustomize)' : `not rendered: ${a.reason}`}`);
    }
  }
  if (repoURL) out.push(`repoURL: ${repoURL} (no app of apps names this repository; the URL its Applications use most)`);
  if (result.unplaced.length) {
    out.push(`could not place ${result.unplaced.length}:`);
    for (const u of result.unplaced) out.push(`  ${u.file}${u.object ? ` ${u.object}` : ''}: ${u.reason}`);
  }
  const others = [...found.repoURLs.keys()].filter((u) => repoURL && !sameRepo(u, repoURL));
  if (others.length) out.push(`other repositories named (not checked offline): ${others.join(', ')}`);
  out.push(`wrote ${CONFIG_FILE}; next: npm run validate`);
  write(out.join('\n'));
  return result;
}
