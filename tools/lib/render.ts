// Renders overlays and cluster entry points, keeping enough of their sources to point a
// finding at the file and line a human has to edit.
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Document, LineCounter } from 'yaml';
import type { AppOverlay } from './apps.js';
import type { Config, Environment } from './config.js';
import { clusters, CONFIG_FILE, entryPoint } from './config.js';
import { mapLimit } from './exec.js';
import { CommandFailedError, GitopsError } from './errors.js';
import { inspectClosure, kustomizeBuild, parseStream, REMOTE, type K8sObject } from './kustomize.js';
import type { Finding } from './report.js';
import { imageName } from './images.js';
import { KUSTOMIZATION_NAMES } from './layout.js';
import type { Tool } from './tools.js';
import { lineOf, parseYaml, pointerToPath } from './yamlfile.js';
import { rememberBuild, sourceByAffixes, withOriginRequest } from './origins.js';

export interface Target {
  /** Folder relative to the repo root: an overlay (apps.ts) or a cluster entry point (clusters/<cluster>). */
  dir: string;
  cluster: string;
  kind: 'app' | 'cluster';
  env?: Environment;
  app?: AppOverlay;
}

interface SourceDoc {
  file: string;
  kind?: string;
  name?: string;
  doc: Document;
  lines: LineCounter;
}

export interface Rendered {
  target: Target;
  objects: K8sObject[];
  /** Files (repo-relative) the overlay reads. */
  closure: string[];
  sources: SourceDoc[];
  findings: Finding[];
}

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

/** Parses every YAML file of a target's closure: syntax errors and duplicate keys with file and line. */
async function readSources(config: Config, target: Target, closure: string[], cache: Map<string, { sources: SourceDoc[]; findings: Finding[] }>): Promise<{ sources: SourceDoc[]; findings: Finding[] }> {
  const sources: SourceDoc[] = [];
  const findings: Finding[] = [];
  for (const abs of closure) {
    if (!/\.ya?ml$/.test(abs) && path.basename(abs) !== 'Kustomization') continue;
    const file = rel(config, abs);
    let entry = cache.get(file);
    if (!entry) {
      entry = { sources: [], findings: [] };
      const text = await readFile(abs).catch(() => undefined);
      if (text === undefined) {
        entry.findings.push({ severity: 'error', rule: 'missing-file', overlay: '', resource: '', file, message: `${file} is referenced but does not exist` });
      } else {
        const { parsed, problems } = parseYaml(file, text);
        for (const p of problems) entry.findings.push({ severity: 'error', rule: 'yaml-syntax', overlay: '', resource: '', file, line: p.line, message: p.message });
        if (!problems.length) {
          entry.sources = parsed.docs.map((doc) => {
            const js = doc.toJS() as { kind?: string; metadata?: { name?: string } } | null;
            return { file, kind: js?.kind, name: js?.metadata?.name, doc, lines: parsed.lines };
          });
        }
      }
      cache.set(file, entry);
    }
    sources.push(...entry.sources);
    findings.push(...entry.findings.map((f) => ({ ...f, overlay: target.dir })));
  }
  return { sources, findings };
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
  // By kind and name (past namePrefix/nameSuffix) now; lib/origins.ts refines it once validation is done.
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
async function cacheKey(config: Config, tool: Tool, closure: string[], args: string[]): Promise<string | undefined> {
  if (process.env.GITOPS_NO_CACHE || closure.includes(REMOTE) || !closure.length) return undefined;
  const h = createHash('sha256').update(JSON.stringify([CACHE_VERSION, tool.cmd, tool.args, args]));
  const bin = await stat(tool.cmd).catch(() => undefined);
  h.update(bin ? `${bin.size}:${bin.mtimeMs}` : 'PATH');
  for (const file of [...closure].sort()) {
    const text = await readFile(path.join(config.root, file)).catch(() => undefined);
    h.update(`\0${file}\0`).update(text ?? '<missing>');
  }
  return h.digest('hex');
}

const CACHE_VERSION = 1;

async function writeCache(config: Config, key: string, yaml: string): Promise<void> {
  const dir = renderCache(config);
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `${key}.${process.pid}.tmp`);
  await writeFile(tmp, yaml);
  await rename(tmp, path.join(dir, `${key}.yaml`)); // atomic: a concurrent run never reads half a file
}

export async function renderTargets(config: Config, tool: Tool, targets: Target[], opts: { concurrency?: number; buildArgs?: (t: Target) => string[] } = {}): Promise<Rendered[]> {
  const cache = new Map<string, { sources: SourceDoc[]; findings: Finding[] }>();
  // Sources are read sequentially (shared cache), builds run in parallel.
  const prepared: Array<{ target: Target; closure: string[]; sources: SourceDoc[]; findings: Finding[]; remote: boolean }> = [];
  for (const target of targets) {
    let closure: string[] = [];
    let remote = false;
    const findings: Finding[] = [];
    try {
      // Refused references (outside the repository, functions, remote bases) stop the render here.
      const c = await inspectClosure(path.join(config.root, target.dir), { root: config.root, allowRemote: config.render.allowRemote });
      closure = c.files;
      remote = c.remotes.length > 0;
      for (const i of c.issues) findings.push({ severity: i.severity, rule: i.rule, overlay: target.dir, resource: '', file: rel(config, i.file), line: i.line, message: i.message });
    } catch (e) {
      if (!(e instanceof GitopsError)) throw e;
      findings.push({ severity: 'error', rule: 'kustomize-build', overlay: target.dir, resource: '', file: target.dir, message: e.message });
    }
    const src = await readSources(config, target, closure.filter((c) => c !== REMOTE), cache);
    prepared.push({ target, closure: closure.map((c) => (c === REMOTE ? REMOTE : rel(config, c))), sources: src.sources, findings: [...findings, ...src.findings], remote });
  }
  return mapLimit(prepared, opts.concurrency ?? 4, async (p) => {
    const { remote: _remote, ...rest } = p;
    const out: Rendered = { ...rest, objects: [] };
    if (p.findings.some((f) => f.severity === 'error')) return out; // syntax errors first; kustomize would only repeat them less clearly
    try {
      const args = opts.buildArgs?.(p.target) ?? [];
      const key = await cacheKey(config, tool, p.closure, args);
      const cached = key ? await readFile(path.join(renderCache(config), `${key}.yaml`), 'utf8').catch(() => undefined) : undefined;
      const network = p.remote && config.render.allowRemote;
      const yaml = cached ?? (await kustomizeBuild(tool, path.join(config.root, p.target.dir), args, network ? { network, timeoutMs: config.render.remoteTimeoutSeconds * 1000 } : {}));
      if (key && cached === undefined) await writeCache(config, key, yaml);
      rememberBuild(out, config, tool, args, !!network);
      out.objects = parseStream(yaml);
    } catch (e) {
      if (!(e instanceof CommandFailedError) && !(e instanceof GitopsError)) throw e;
      const timedOut = e instanceof CommandFailedError && e.code === null && p.remote && config.render.allowRemote;
      const msg = timedOut
        ? `kustomize did not finish within ${config.render.remoteTimeoutSeconds} s (render.remoteTimeoutSeconds) while fetching remote references`
        : e instanceof CommandFailedError ? e.stderr.trim().replace(/^Error: /, '') : e.message;
      out.findings.push({ severity: 'error', rule: 'kustomize-build', overlay: p.target.dir, resource: '', file: kustomizationOf(out), message: msg });
    }
    return out;
  });
}
