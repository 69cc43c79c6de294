// Renders overlays and cluster entry points, keeping enough of their sources to point a
// finding at the file and line a human has to edit.
import { readdir, readFile, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { AppOverlay } from '../config/apps.js';
import type { Config, Environment } from '../config/config.js';
import { clusters, CONFIG_FILE, entryPoint } from '../config/config.js';
import { mapLimit } from '../core/exec.js';
import { CommandFailedError, GitopsError } from '../core/errors.js';
import { inspectClosure, kustomizeBuildObjects, REMOTE } from './kustomize.js';
import { type K8sObject } from '../core/k8s.js';
import { sha, Store, Workspace, writeAtomic } from '../core/workspace.js';
import type { Finding } from '../core/finding.js';
import { imageName } from './images.js';
import { KUSTOMIZATION_NAMES } from '../config/layout.js';
import type { Tool } from '../core/tools.js';
import { lineOf, parseYaml, parseYamlData } from '../core/yamlfile.js';
import { pointerToPath } from '../core/pointer.js';
import { scrubSecrets, secretValuesOf } from '../core/redact.js';
import { sourceByAffixes, withOriginRequest } from './origins.js';
import type { Rendered, SourceDoc, Target } from './rendered.js';


/**
 * What a target is across revisions and layouts: an app in an environment, or a cluster's entry
 * point. A folder that moves keeps its key, so a diff compares what it renders, not where it is.
 */
export function targetKey(t: Target): string {
  return t.app ? `app:${t.app.env.name}:${t.app.id}` : t.kind === 'cluster' ? `cluster:${t.cluster}` : `dir:${t.dir}`;
}

export function appTargets(apps: AppOverlay[]): Target[] {
  return apps.map((a) => ({ dir: a.dir, cluster: a.env.cluster, kind: 'app' as const, env: a.env, app: a }));
}

function hasKustomization(root: string, dir: string): boolean {
  return KUSTOMIZATION_NAMES.some((n) => existsSync(path.join(root, dir, n)));
}

/** Cluster entry points (the Argo CD bootstrap, gitops.yaml clusters.<name>.entryPoint) of the given environments. */
export function clusterTargets(config: Config, envs: Environment[]): Target[] {
  return clusters(config)
    .filter((c) => envs.some((e) => e.cluster === c))
    .flatMap((c) => {
      const dir = entryPoint(config, c);
      return dir !== null && hasKustomization(config.root, dir) ? [{ dir, cluster: c, kind: 'cluster' as const }] : [];
    });
}

/**
 * Why a cluster of the given environments has no entry point to check: a configured folder that
 * does not exist (error), a folder with YAML but no kustomization (error: those objects would
 * pass unchecked), or no clusters/<cluster> at all (a note).
 */
export async function entryPointFindings(config: Config, envs: Environment[]): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const c of clusters(config).filter((x) => envs.some((e) => e.cluster === x))) {
    const dir = entryPoint(config, c);
    if (dir === null || hasKustomization(config.root, dir)) continue;
    const configured = c in config.entryPoints;
    const entries = await readdir(path.join(config.root, dir), { withFileTypes: true }).catch(() => undefined);
    const base = { resource: '', overlay: dir };
    if (!entries) {
      out.push(configured
        ? { ...base, severity: 'error', rule: 'layout-root', file: CONFIG_FILE, message: `clusters.${c}.entryPoint: folder ${dir} does not exist` }
        : { ...base, severity: 'info', rule: 'no-entry-point', file: CONFIG_FILE, message: `cluster ${c} has no entry point (${dir} does not exist), so no Argo CD objects are checked for it; set clusters.${c}.entryPoint in ${CONFIG_FILE} (null if it has none)` });
      continue;
    }
    const yaml = entries.filter((e) => e.isFile() && /\.ya?ml$/.test(e.name)).map((e) => e.name).sort();
    out.push({
      ...base,
      severity: yaml.length ? 'error' : 'warning',
      rule: 'no-kustomization',
      file: dir,
      message: `cluster entry point ${dir} has no kustomization (kustomization.yaml, kustomization.yml or Kustomization)${yaml.length ? `, so ${yaml.join(', ')} ${yaml.length === 1 ? 'is' : 'are'} neither rendered nor checked` : ''}; add one that lists them, or set clusters.${c}.entryPoint in ${CONFIG_FILE}`,
    });
  }
  return out;
}

/** The target's own kustomization file (repo-relative), whichever of the three names it uses. */
export function kustomizationOf(r: Pick<Rendered, 'target' | 'closure'>): string {
  if (r.target.app) return r.target.app.kustomization;
  return r.closure.find((f) => path.posix.dirname(f) === r.target.dir && KUSTOMIZATION_NAMES.includes(path.posix.basename(f))) ?? `${r.target.dir}/kustomization.yaml`;
}

export function rel(config: Config, abs: string): string {
  return path.relative(config.root, abs).split(path.sep).join('/');
}

/** Per-run state shared by every render of one repository root (see workspace.ts). */
interface RenderContext {
  ws: Workspace;
  /** yaml-syntax problems of a file, by content hash: a file is parsed for them once, ever. */
  problems?: Promise<Store<Array<{ line: number; message: string }>>>;
  /** Parsed source documents by file, only for files a finding points into. */
  docs: Map<string, SourceDoc[]>;
  binSig?: Promise<string>;
}

function readCacheEntry(file: string): CacheEntry | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CacheEntry;
  } catch {
    return undefined;
  }
}

const contexts = new Map<string, RenderContext>();

/**
 * A validation run: until endRun, renders of this repository share one context (each file read
 * and hashed once). Outside a run every renderTargets call has its own, so a command that edits
 * files between two renders (scale, promote) never sees an earlier read.
 */
export function beginRun(config: Config, env: NodeJS.ProcessEnv = process.env): void {
  // The caller's environment decides caching (GITOPS_NO_CACHE), as for the other stores.
  contexts.set(config.root, { ws: new Workspace(config.root, env), docs: new Map() });
}

function contextFor(config: Config): RenderContext {
  return contexts.get(config.root) ?? { ws: new Workspace(config.root), docs: new Map() };
}

/** The run's file reader for this repository (shared with the checks). */
export function workspaceFor(config: Config): Workspace {
  return contextFor(config).ws;
}

/** Persists what this run learnt (file hashes, per-file problems) and forgets the run's reads. */
export async function endRun(config: Config): Promise<void> {
  const c = contexts.get(config.root);
  if (!c) return;
  contexts.delete(config.root);
  await Promise.all([c.ws.save(), c.problems?.then((s) => s.save())]);
}

function isYamlSource(file: string): boolean {
  return /\.ya?ml$/.test(file) || path.posix.basename(file) === 'Kustomization';
}

/** Syntax errors, duplicate keys and missing files of a target's closure, with file and line. */
async function sourceFindings(config: Config, ctx: RenderContext, target: Target, closure: string[]): Promise<Finding[]> {
  ctx.problems ??= Store.open(config.root, 'yaml-problems', `${PROBLEMS_VERSION}`);
  const store = await ctx.problems;
  const out = await Promise.all(
    closure.filter(isYamlSource).map(async (file): Promise<Finding[]> => {
      const abs = path.join(config.root, file);
      const hash = await ctx.ws.hash(abs);
      if (hash === undefined || hash === 'dir') return [{ severity: 'error', rule: 'missing-file', overlay: target.dir, resource: '', file, message: `${file} is referenced but does not exist` }];
      let problems = store.get(hash);
      if (!problems) {
        const bytes = (await ctx.ws.read(abs)) ?? Buffer.from('');
        problems = parseYaml(file, bytes).problems.map((p) => ({ line: p.line, message: p.message }));
        store.set(hash, problems);
      }
      return problems.map((p) => ({ severity: 'error' as const, rule: 'yaml-syntax', overlay: target.dir, resource: '', file, line: p.line, message: p.message }));
    }),
  );
  return out.flat();
}

// 2: parseYaml enforces size, depth, alias and encoding limits.
const PROBLEMS_VERSION = 2;

/**
 * Secret values written in a target's sources (its render failed, so there are no objects):
 * Secrets and sensitive keys in every YAML file, and secretGenerator literals, env files and files.
 */
async function sourceSecrets(config: Config, ctx: RenderContext, closure: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const file of closure.filter(isYamlSource)) {
    const bytes = await ctx.ws.read(path.join(config.root, file));
    if (!bytes) continue;
    const { docs } = parseYamlData(file, bytes);
    for (const d of docs) {
      out.push(...secretValuesOf(d, config.sensitiveKeys));
      const gens = (d as { secretGenerator?: unknown } | null)?.secretGenerator;
      if (!Array.isArray(gens)) continue;
      for (const g of gens as Array<{ literals?: unknown; envs?: unknown; env?: unknown; files?: unknown }>) {
        for (const l of Array.isArray(g?.literals) ? g.literals : []) if (typeof l === 'string' && l.includes('=')) out.push(l.slice(l.indexOf('=') + 1));
        const refs = [...(Array.isArray(g?.envs) ? g.envs : []), ...(typeof g?.env === 'string' ? [g.env] : [])].filter((x): x is string => typeof x === 'string');
        for (const ref of refs) {
          const text = (await ctx.ws.read(path.join(config.root, path.posix.dirname(file), ref)))?.toString('utf8') ?? '';
          for (const line of text.split(/\r?\n/)) if (line.includes('=') && !line.trimStart().startsWith('#')) out.push(line.slice(line.indexOf('=') + 1));
        }
        for (const f of Array.isArray(g?.files) ? g.files : []) {
          if (typeof f !== 'string') continue;
          const text = (await ctx.ws.read(path.join(config.root, path.posix.dirname(file), f.includes('=') ? f.slice(f.indexOf('=') + 1) : f)))?.toString('utf8');
          if (text) out.push(text, ...text.split(/\r?\n/));
        }
      }
    }
  }
  return out;
}

/** Parsed documents of the closure's YAML files, read when a finding needs a line number. */
function loadSources(config: Config, ctx: RenderContext, closure: string[]): SourceDoc[] {
  const out: SourceDoc[] = [];
  for (const file of closure.filter(isYamlSource)) {
    let docs = ctx.docs.get(file);
    if (!docs) {
      let text: Buffer | undefined;
      try {
        text = readFileSync(path.join(config.root, file));
      } catch {
        text = undefined;
      }
      docs = [];
      if (text !== undefined) {
        const { parsed, problems } = parseYaml(file, text);
        if (!problems.length) {
          docs = parsed.docs.map((doc) => {
            const js = doc.toJS() as { kind?: string; metadata?: { name?: string } } | null;
            return { file, kind: js?.kind, name: js?.metadata?.name, doc, lines: parsed.lines };
          });
        }
      }
      ctx.docs.set(file, docs);
    }
    out.push(...docs);
  }
  return out;
}

/** A Rendered whose `sources` are parsed on first use (most overlays never need them). */
function makeRendered(config: Config, ctx: RenderContext, target: Target, closure: string[], findings: Finding[]): Rendered {
  let sources: SourceDoc[] | undefined;
  // Sources are parsed only when a finding needs a line.
  return { target, objects: [], closure, findings, get sources() { return (sources ??= loadSources(config, ctx, closure)); } };
}

/** The overlay's `images:` entry that pins `image`, if any: where a human changes the pin. */
function locateImagePin(r: Rendered, image: string): { file: string; line?: number } | undefined {
  const file = kustomizationOf(r);
  const src = r.sources.find((s) => s.file === file);
  const images = (src?.doc.toJS() as { images?: Array<{ name?: string; newName?: string }> } | null)?.images;
  if (!src || !Array.isArray(images)) return undefined;
  let name: string;
  try {
    name = imageName(image);
  } catch {
    return undefined; // a malformed reference has no pin to point at; the finding says why
  }
  const i = images.findIndex((e) => e.newName === name || (!e.newName && e.name === name));
  return i < 0 ? undefined : { file, line: lineOf(src.doc, src.lines, ['images', i]) || undefined };
}

/**
 * Where a rendered object (and optionally one of its fields) was written. An image field
 * points at the overlay's `images:` pin when there is one, since that is what to edit.
 */
export function locate(r: Rendered, o: Pick<K8sObject, 'kind' | 'metadata'>, pointer?: string): { file?: string; line?: number } {
  if (pointer && /\/(containers|initContainers)\/\d+\/image$/.test(pointer)) {
    let image: unknown = o;
    for (const seg of pointerToPath(pointer)) image = (image as Record<string | number, unknown> | undefined)?.[seg];
    const pin = typeof image === 'string' ? locateImagePin(r, image) : undefined;
    if (pin) return pin;
  }
  // By kind and name (past namePrefix/nameSuffix) now; lib/render/origins.ts refines it once validation is done.
  const src = r.sources.find((s) => s.kind === o.kind && s.name === o.metadata?.name) ?? sourceByAffixes(r.sources, o);
  return withOriginRequest(src ? { file: src.file, line: lineOf(src.doc, src.lines, pointer ? pointerToPath(pointer) : []) || undefined } : {}, { r, o, pointer });
}

function renderCache(config: Config): string {
  return path.join(config.root, '.cache', 'render');
}

/**
 * A render is a pure function of the files kustomize reads (the closure), the build options
 * and the kustomize binary: unchanged overlays are not rebuilt. Undefined (no caching) when
 * the closure reaches outside the repository or GITOPS_NO_CACHE is set.
 */
async function cacheKey(config: Config, ctx: RenderContext, tool: Tool, closure: string[], args: string[]): Promise<string | undefined> {
  if (!ctx.ws.persist || closure.includes(REMOTE) || !closure.length) return undefined;
  ctx.binSig ??= stat(tool.cmd).then((b) => `${b.size}:${b.mtimeMs}`, () => 'PATH');
  const h = createHash('sha256').update(JSON.stringify([CACHE_VERSION, tool.cmd, tool.args, args, await ctx.binSig]));
  const files = [...closure].sort();
  const hashes = await Promise.all(files.map((f) => ctx.ws.hash(path.join(config.root, f))));
  files.forEach((file, i) => h.update(`\0${file}\0${hashes[i] ?? '<missing>'}`));
  return h.digest('hex');
}

// 2: the cache holds the parsed objects (JSON) and their hashes instead of the YAML stream.
// 3: entries are written only after the renderer's record of reads matched the closure.
// 4: entries say whether that record existed (verified).
const CACHE_VERSION = 4;

interface CacheEntry {
  objects: K8sObject[];
  hashes: string[];
  verified?: boolean;
}

/** Hash of one rendered object: the key of its schema and policy outcomes. */
export function objectHash(o: K8sObject): string {
  return sha(JSON.stringify(o));
}

export async function renderTargets(config: Config, tool: Tool, targets: Target[], opts: { concurrency?: number; buildArgs?: (t: Target) => string[] } = {}): Promise<Rendered[]> {
  const ctx = contextFor(config);
  // Setup (closure, hashes, syntax checks) of one target overlaps the builds of others; the
  // renderer builds one per core, so keep enough requests in flight to keep them all busy.
  return mapLimit(targets, opts.concurrency ?? (tool.renderer ? 32 : 4), async (target) => {
    let closure: string[] = [];
    const findings: Finding[] = [];
    let remote = false;
    try {
      // Refused references (outside the repository, functions, remote bases) stop the render here.
      const c = await inspectClosure(path.join(config.root, target.dir), { root: config.root, allowRemote: config.render.allowRemote, ws: ctx.ws });
      closure = c.files.map((f) => (f === REMOTE ? REMOTE : rel(config, f)));
      remote = c.remotes.length > 0;
      for (const i of c.issues) findings.push({ severity: i.severity, rule: i.rule, overlay: target.dir, resource: '', file: rel(config, i.file), line: i.line, message: i.message });
    } catch (e) {
      if (!(e instanceof GitopsError)) throw e;
      findings.push({ severity: 'error', rule: 'kustomize-build', overlay: target.dir, resource: '', file: target.dir, message: e.message });
    }
    findings.push(...(await sourceFindings(config, ctx, target, closure.filter((c) => c !== REMOTE))));
    const out = makeRendered(config, ctx, target, closure, findings);
    if (findings.some((f) => f.severity === 'error')) return out; // syntax errors first; kustomize would only repeat them less clearly
    try {
      const args = opts.buildArgs?.(target) ?? [];
      const key = await cacheKey(config, ctx, tool, closure, args);
      const file = key ? path.join(renderCache(config), `${key}.json`) : undefined;
      // Read synchronously: 600 small cache entries take several times longer through fs.promises' thread pool.
      const entry = file ? readCacheEntry(file) : undefined;
      // An entry no renderer's record vouches for is rebuilt when the renderer can now vouch.
      const cached = entry && (entry.verified || !tool.renderer) ? entry : undefined;
      const network = remote && config.render.allowRemote;
      out.build = { config, tool, args, network: !!network };
      if (cached) {
        out.objects = cached.objects;
        out.hashes = cached.hashes;
        if (cached.verified) out.verified = true;
      } else {
        const built = await kustomizeBuildObjects(tool, path.join(config.root, target.dir), args, network ? { network, timeoutMs: config.render.remoteTimeoutSeconds * 1000 } : { root: config.root });
        if (built.reads) {
          // The renderer's record against the toolkit's view: a file kustomize read that the
          // closure does not name (YAML the two read differently) means every guard and cache
          // built on the closure was blind to it. Fail closed: no objects, no cache entry.
          out.reads = built.reads.map((f) => rel(config, f));
          const known = new Set(closure);
          const unaccounted = out.reads.filter((f) => !known.has(f));
          if (unaccounted.length) {
            for (const f of unaccounted) out.findings.push({ severity: 'error', rule: 'unaccounted-read', overlay: target.dir, resource: '', file: kustomizationOf(out), message: `kustomize read ${f}, which the toolkit's reading of the kustomizations does not account for (YAML that kustomize and the toolkit read differently?); the render is refused` });
            return out;
          }
          out.verified = true;
        }
        out.objects = built.objects;
        out.hashes = out.objects.map(objectHash);
        if (file) await writeAtomic(file, JSON.stringify({ objects: out.objects, hashes: out.hashes, ...(out.verified ? { verified: true } : {}) } satisfies CacheEntry));
      }
      out.key = key;
    } catch (e) {
      if (!(e instanceof CommandFailedError) && !(e instanceof GitopsError)) throw e;
      const timedOut = e instanceof CommandFailedError && e.code === null && remote && config.render.allowRemote;
      const msg = timedOut
        ? `kustomize did not finish within ${config.render.remoteTimeoutSeconds} s (render.remoteTimeoutSeconds) while fetching remote references`
        : e instanceof CommandFailedError ? e.stderr.trim().replace(/^Error: /, '') : e.message;
      // kustomize may quote a node of a Secret (or dump one) in its error: never a secret value in a finding.
      out.findings.push({ severity: 'error', rule: 'kustomize-build', overlay: target.dir, resource: '', file: kustomizationOf(out), message: scrubSecrets(msg, await sourceSecrets(config, ctx, closure)) });
    }
    return out;
  });
}
