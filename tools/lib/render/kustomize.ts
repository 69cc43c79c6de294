import { readdirSync, readFileSync, realpathSync, type Dirent } from 'node:fs';
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Document, LineCounter } from 'yaml';
import { run, renderEnv } from '../core/exec.js';
import { CommandFailedError, ConfigError, GitopsError } from '../core/errors.js';
import { targetProblems } from './selector.js';
import { ClosureMemo } from './closurememo.js';
import { KUSTOMIZATION_NAMES } from '../config/layout.js';
import { rendererSupports } from '../core/renderer.js';
import type { Workspace } from '../core/workspace.js';
import type { Tool } from '../core/tools.js';
import { lineOf, parseYaml, parseYamlData, YAML_LIMITS } from '../core/yamlfile.js';
import { parseStream, type K8sObject } from '../core/k8s.js';

/** Always passed to kustomize: files load only from within each kustomization's own folder. */
export const ROOT_ONLY = ['--load-restrictor', 'LoadRestrictionsRootOnly'];

/**
 * Renders one kustomization folder; returns the YAML stream. `extraArgs` must already be
 * vetted (argocd.ts checkBuildOptions). The long-lived renderer answers when there is one and
 * it takes these options (its output is byte-identical to the binary's); otherwise, or when it
 * declines, one kustomize process, which sees the scrubbed environment (plus the proxy settings
 * when remote bases are allowed: those builds never go to the renderer). A build error reads
 * the same either way.
 */
export async function kustomizeBuild(tool: Tool, dir: string, extraArgs: string[] = [], opts: { network?: boolean; timeoutMs?: number } = {}): Promise<string> {
  return (await kustomizeBuildObjects(tool, dir, extraArgs, { ...opts, parse: false })).yaml;
}

/** kustomizeBuild plus the parsed objects (parsed by the renderer, in Go, when it answers). */
export async function kustomizeBuildObjects(tool: Tool, dir: string, extraArgs: string[] = [], opts: { network?: boolean; timeoutMs?: number; parse?: boolean; root?: string } = {}): Promise<{ yaml: string; objects: K8sObject[]; reads?: string[] }> {
  const args = [...ROOT_ONLY, ...extraArgs];
  const parse = opts.parse ?? true;
  if (tool.renderer && !opts.network && rendererSupports(args)) {
    // With `root`, the renderer's guard records every read and refuses those outside it (guard.go).
    const answer = await tool.renderer.render(path.resolve(dir), args, { json: parse, root: opts.root ? path.resolve(opts.root) : undefined });
    if ('yaml' in answer) return { yaml: answer.yaml, objects: parse ? ((answer.objects as K8sObject[] | undefined) ?? parseStream(answer.yaml)) : [], reads: answer.reads };
    if ('error' in answer) throw new CommandFailedError([tool.cmd, ...tool.args, ...args, dir].join(' '), 1, `Error: ${answer.error}\n`);
  }
  const { stdout } = await run(tool.cmd, [...tool.args, ...args, dir], { env: renderEnv({ network: opts.network }), timeoutMs: opts.timeoutMs, maxStdoutBytes: YAML_LIMITS.maxStreamBytes });
  return { yaml: stdout, objects: parse ? parseStream(stdout) : [] };
}

/** Whether a one-line generators/transformers entry is inline YAML objects rather than a path. */
function isInlineConfig(ref: string): boolean {
  if (!/^\s*[{[]/.test(ref) && !/:\s/.test(ref)) return false;
  const { docs, problem } = parseYamlData('inline', ref);
  return !problem && docs.some((d) => d !== null && typeof d === 'object');
}

interface GeneratorArgs {
  files?: unknown;
  envs?: unknown;
  env?: unknown;
}

interface Kustomization {
  resources?: unknown;
  components?: unknown;
  bases?: unknown;
  patches?: unknown;
  patchesStrategicMerge?: unknown;
  patchesJson6902?: unknown;
  configMapGenerator?: unknown;
  secretGenerator?: unknown;
  replacements?: unknown;
  crds?: unknown;
  generators?: unknown;
  transformers?: unknown;
  validators?: unknown;
  openapi?: { path?: unknown };
  configurations?: unknown;
  helmCharts?: unknown;
  helmGlobals?: { chartHome?: unknown; configHome?: unknown };
  /** Deprecated form of helmCharts (kustomize still converts and runs it). */
  helmChartInflationGenerator?: unknown;
}

/** Closure marker: the kustomization reads something outside the repository. */
export const REMOTE = '<remote>';


interface KFile {
  file: string;
  k: Kustomization;
  /** The parsed document with line positions, built only when an issue needs a line. */
  doc?: () => { doc?: Document; lines: LineCounter };
  problem?: { line: number; message: string };
}

/** What the walk needs of a kustomization file, as plain data (kept across runs by content hash). */
function parseKustomization(file: string, bytes: Buffer): { k: Kustomization; problem?: { line: number; message: string } } {
  // Merge keys resolved as kustomize's parser does: `<<: *x` cannot hide resources or patches.
  const { parsed, problems } = parseYaml(file, bytes, { merge: true });
  if (problems.length) return { k: {}, problem: { line: problems[0].line, message: problems[0].message } };
  const k = parsed.docs[0]?.toJS({ maxAliasCount: YAML_LIMITS.maxAliasCount });
  if (k !== null && k !== undefined && (typeof k !== 'object' || Array.isArray(k))) return { k: {}, problem: { line: 1, message: 'a kustomization must be a mapping' } };
  return { k: (k ?? {}) as Kustomization };
}

async function readKustomization(dir: string, ws?: Workspace): Promise<KFile | undefined> {
  // A Workspace reads and parses a kustomization once per run, however many overlays share it,
  // and an unchanged one not at all (its parse is kept by content hash).
  return ws ? ws.memo(`kustomization:${dir}`, () => readKustomizationOnce(dir, ws)) : readKustomizationOnce(dir);
}

async function readKustomizationOnce(dir: string, ws?: Workspace): Promise<KFile | undefined> {
  for (const name of KUSTOMIZATION_NAMES) {
    const file = path.join(dir, name);
    let parsed: { k: Kustomization; problem?: { line: number; message: string } } | undefined;
    let bytes: Buffer | undefined;
    if (ws) {
      parsed = await ws.parsedFile(file, 'kustomization-walk-2', (_text, raw) => parseKustomization(file, raw));
    } else {
      bytes = await readFile(file).catch(() => undefined);
      if (bytes !== undefined) parsed = parseKustomization(file, bytes);
    }
    if (!parsed) continue;
    let doc: { doc?: Document; lines: LineCounter } | undefined;
    const lazyDoc = () => {
      if (!doc) {
        const raw = bytes ?? (() => {
          try {
            return readFileSync(file);
          } catch {
            return Buffer.from('');
          }
        })();
        const p = parseYaml(file, raw, { merge: true }).parsed;
        doc = { doc: p.docs[0], lines: p.lines };
      }
      return doc;
    };
    return { file, ...parsed, doc: parsed.problem ? undefined : lazyDoc };
  }
  return undefined;
}

/** Something the closure walk refuses or reports, at a kustomization's line. */
export interface ClosureIssue {
  severity: 'error' | 'info';
  rule: string;
  /** Absolute path of the file the reference is written in. */
  file: string;
  line?: number;
  message: string;
}

export interface Closure {
  /** Absolute paths of the local files kustomize reads; REMOTE when it fetches something. */
  files: string[];
  issues: ClosureIssue[];
  /** Remote references (URLs) the render would fetch. */
  remotes: string[];
}

export interface ClosureOptions {
  /** Repository root: nothing outside it (after symlinks) is ever read into a render. */
  root: string;
  /** Remote bases and Helm repositories may be fetched (--allow-remote / render.allowRemote). */
  allowRemote?: boolean;
  /** The run's file reader: shared kustomizations read and parsed once, real paths resolved once. */
  ws?: Workspace;
}

/**
 * A git URL or a raw HTTP(S) file as kustomize accepts them in `resources:`; a relative path that
 * exists locally is local even when it looks like a host name, as kustomize decides.
 */
export function isRemoteRef(ref: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(ref) || /^git@|^git::/.test(ref) || /^(github\.com|gitlab\.com|bitbucket\.org)[/:]/.test(ref);
}

const HOST_LIKE = /^[a-z0-9-]+(\.[a-z0-9-]+)+(:\d+)?\//i;

/**
 * Immutable reference of a remote base: `?ref=`/`?version=` with a full commit id or a
 * version-like tag (v1.2.3, 1.2, v2.0.0-rc.1). A branch name, or no ref, is not immutable.
 */
export function remotePin(ref: string): { pinned: boolean; ref?: string } {
  const q = /[?&](?:ref|version)=([^&#]+)/.exec(ref);
  if (q) return { pinned: isImmutableRef(decodeURIComponent(q[1])), ref: decodeURIComponent(q[1]) };
  // A raw file URL pinned by a commit id in its path (raw.githubusercontent.com/o/r/<sha>/f.yaml).
  const sha = /\/([0-9a-f]{40}|[0-9a-f]{64})\//.exec(ref);
  return sha ? { pinned: true, ref: sha[1] } : { pinned: false };
}

export function isImmutableRef(ref: string): boolean {
  return /^([0-9a-f]{40}|[0-9a-f]{64})$/.test(ref) || /^v?\d+(\.\d+){0,3}([-+][0-9A-Za-z.-]+)?$/.test(ref) || /^(refs\/)?tags\/\S+$/.test(ref);
}

/** A path's real path (undefined when missing), resolved once per run when there is a Workspace. */
function realOnce(p: string, ws?: Workspace): Promise<string | undefined> {
  return ws ? ws.memo(`realpath:${p}`, async () => realpathOrUndefined(p)) : realpath(p).catch(() => undefined);
}

/** Synchronous: one native call, much cheaper than the thread-pool round trip of fs.promises. */
function realpathOrUndefined(p: string): string | undefined {
  try {
    return realpathSync.native(p);
  } catch {
    return undefined;
  }
}

function readdirOrEmpty(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

function within(root: string, p: string): boolean {
  const r = path.relative(root, p);
  return r === '' || (!r.startsWith('..') && !path.isAbsolute(r));
}

function inGitDir(root: string, p: string): boolean {
  return path.relative(root, p).split(path.sep).includes('.git');
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const objects = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? v.filter((x): x is Record<string, unknown> => !!x && typeof x === 'object' && !Array.isArray(x)) : []);

/** A Helm release name as helm itself validates it (a DNS subdomain, at most 53 characters). */
const RELEASE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const CHART_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const CHART_VERSION = /^v?[0-9]+(\.[0-9]+)*(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;
const API_VERSION = /^[a-z0-9.-]+(\/[A-Za-z0-9.-]+)*$/;
const KUBE_VERSION = /^v?\d+\.\d+(\.\d+)?$/;

/**
 * One Helm chart entry in kustomize's current shape (helmCharts:, or the builtin
 * HelmChartInflationGenerator's config). The deprecated `helmChartInflationGenerator:` is mapped
 * onto it the way kustomize's SplitHelmParameters does, keeping its own field names for findings.
 */
interface ChartEntry {
  /** The entry's fields by kustomize's (helmCharts) name. */
  fields: Record<string, unknown>;
  /** kustomize name -> the name written in the file (legacy entries differ). */
  written: Record<string, string>;
  /** Fields written in the file that must never be passed on (legacy helmBin, extraArgs, helmHome). */
  refused: Array<{ field: string; why: string }>;
}

const LEGACY_FIELDS: Record<string, string> = { chartName: 'name', chartVersion: 'version', chartRepoUrl: 'repo', values: 'valuesFile', valuesLocal: 'valuesInline', valuesMerge: 'valuesMerge', releaseName: 'releaseName', releaseNamespace: 'namespace', chartHome: 'chartHome' };

function legacyChart(c: Record<string, unknown>): ChartEntry {
  const fields: Record<string, unknown> = {};
  const written: Record<string, string> = {};
  const refused: ChartEntry['refused'] = [];
  for (const [k, v] of Object.entries(c)) {
    if (k in LEGACY_FIELDS) {
      fields[LEGACY_FIELDS[k]] = v;
      written[LEGACY_FIELDS[k]] = k;
    } else if (k === 'helmBin') refused.push({ field: k, why: 'names a helm program; renders only ever use the toolkit\'s pinned helm' });
    else if (k === 'extraArgs') refused.push({ field: k, why: 'passes arguments to helm' });
    else if (k === 'helmHome') refused.push({ field: k, why: 'sets helm\'s config home (repositories, registry logins); helm always gets a temporary one' });
  }
  return { fields, written, refused };
}

/**
 * Every value of a chart entry that kustomize puts on helm's command line (`helm template
 * <releaseName> <chart> --namespace ... -f ...`, `helm pull --repo ... --version ...`) or into a
 * path, checked as the value it is: kustomize passes them without `--`, so a release name
 * `--post-renderer=/bin/sh` would be an option to helm. Returns the problems as `field: why`.
 */
export function chartProblems(c: ChartEntry): Array<{ field: string; message: string }> {
  const out: Array<{ field: string; message: string }> = c.refused.map((r) => ({ field: r.field, message: `is refused: it ${r.why}` }));
  const f = c.fields;
  const str = (k: string, re: RegExp, what: string, max = 253, required = false) => {
    const v = f[k];
    if (v === undefined || v === null) {
      if (required) out.push({ field: c.written[k] ?? k, message: 'is missing' });
      return;
    }
    if (typeof v !== 'string') out.push({ field: c.written[k] ?? k, message: `must be a string (${what})` });
    else if (!re.test(v) || v.length > max) out.push({ field: c.written[k] ?? k, message: `${JSON.stringify(v.slice(0, 80))} is not ${what}; kustomize would pass it to helm as an argument` });
  };
  str('name', CHART_NAME, 'a chart name (letters, digits, \'.\', \'_\' and \'-\', not starting with \'-\' or \'.\')', 253, true);
  str('releaseName', RELEASE_NAME, 'a Helm release name (a DNS name: lowercase letters, digits, \'-\' and \'.\', at most 53 characters)', 53);
  str('nameTemplate', RELEASE_NAME, 'a plain release name (templates are not run)', 53);
  str('namespace', DNS_LABEL, 'a namespace name (a DNS label, at most 63 characters)', 63);
  str('version', CHART_VERSION, 'a chart version (1.2.3, v1.2.3-rc.1)', 128);
  str('kubeVersion', KUBE_VERSION, 'a Kubernetes version (v1.32 or 1.32.0)', 32);
  const repo = f.repo;
  if (repo !== undefined && repo !== null && repo !== '') {
    let ok = typeof repo === 'string' && !/\s/.test(repo);
    if (ok) {
      try {
        ok = ['https:', 'http:', 'oci:'].includes(new URL(repo as string).protocol);
      } catch {
        ok = false;
      }
    }
    if (!ok) out.push({ field: c.written.repo ?? 'repo', message: `${JSON.stringify(String(repo).slice(0, 80))} is not a chart repository URL (https://, http:// or oci://); kustomize would pass it to helm as an argument` });
  }
  const av = f.apiVersions;
  if (av !== undefined && av !== null) {
    if (!Array.isArray(av)) out.push({ field: 'apiVersions', message: 'must be a list of API versions' });
    else for (const v of av) if (typeof v !== 'string' || !API_VERSION.test(v)) out.push({ field: 'apiVersions', message: `${JSON.stringify(String(v).slice(0, 80))} is not an API version (group/version); kustomize would pass it to helm as an argument` });
  }
  for (const k of ['includeCRDs', 'skipTests', 'skipHooks', 'debug', 'devel']) {
    if (f[k] !== undefined && f[k] !== null && typeof f[k] !== 'boolean') out.push({ field: k, message: 'must be true or false' });
  }
  const vm = f.valuesMerge;
  if (vm !== undefined && vm !== null && vm !== '' && !['merge', 'override', 'replace'].includes(vm as string)) out.push({ field: c.written.valuesMerge ?? 'valuesMerge', message: 'must be merge, override or replace' });
  for (const k of ['valuesFile', 'chartHome']) {
    const v = f[k];
    if (v !== undefined && v !== null && (typeof v !== 'string' || v.startsWith('-'))) out.push({ field: c.written[k] ?? k, message: 'must be a path inside the repository' });
  }
  const extra = f.additionalValuesFiles;
  if (extra !== undefined && extra !== null && (!Array.isArray(extra) || extra.some((v) => typeof v !== 'string' || v.startsWith('-')))) out.push({ field: 'additionalValuesFiles', message: 'must be a list of paths inside the repository' });
  const vi = f.valuesInline;
  if (vi !== undefined && vi !== null && (typeof vi !== 'object' || Array.isArray(vi))) out.push({ field: c.written.valuesInline ?? 'valuesInline', message: 'must be a mapping' });
  return out;
}

/** A kustomization being visited: its folder, file, content and the line of a field. */
interface KAt {
  abs: string;
  file: string;
  k: Kustomization;
  lineAt: (p: (string | number)[]) => { file: string; line?: number };
}

/** The walk of inspectClosure: what it found so far, and the kustomizations on its way. */
class ClosureWalk {
  readonly out: Closure = { files: [], issues: [], remotes: [] };
  readonly files = new Set<string>();
  private readonly seen = new Set<string>();
  // Kustomizations being visited, by real path: one that includes itself (a `self -> .` symlink)
  // is one cycle error, not a walk down self/self/self/... until the path is too long.
  private readonly stack: string[] = [];
  private readonly seenReal = new Set<string>();

  constructor(readonly root: string, readonly realRoot: string, readonly opts: ClosureOptions) {}

  /** A path's real path, undefined when missing: once per run with a Workspace (600 overlays share their bases and components). */
  real(p: string): Promise<string | undefined> {
    return realOnce(p, this.opts.ws);
  }

  /** The folder's entries that are symlinks (name -> true) or not (false): once per run with a Workspace. */
  private entries(dir: string): Promise<Map<string, boolean>> {
    // Synchronous, like realOnce: a thousand folders cost far less than a thread-pool round trip each.
    const read = async () => new Map(readdirOrEmpty(dir).map((e) => [e.name, e.isSymbolicLink()] as const));
    return this.opts.ws ? this.opts.ws.memo(`entries:${dir}`, read) : read();
  }

  /** The real path of a local reference when it may be read, else an issue and undefined. */
  async local(from: string, ref: string, at: { file: string; line?: number }, what: string): Promise<string | undefined> {
    const refuse = (message: string) => {
      this.out.issues.push({ severity: 'error', rule: 'outside-repository', ...at, message: `${what} '${ref}' ${message}; nothing outside the repository is read into a render` });
      return undefined;
    };
    if (path.isAbsolute(ref) || /^~/.test(ref)) return refuse('is an absolute path');
    const resolved = path.resolve(from, ref);
    if (!within(this.root, resolved)) return refuse('points outside the repository');
    if (inGitDir(this.root, resolved)) return refuse("points into the repository's .git folder");
    const real = await this.real(resolved);
    if (real === undefined) {
      // Missing (kustomize reports it), unless a dangling symlink on the way could point anywhere.
      for (let p = resolved; within(this.root, p) && p !== this.root; p = path.dirname(p)) {
        if ((await lstat(p).catch(() => undefined))?.isSymbolicLink()) return refuse('is a symlink that does not resolve');
      }
      return resolved;
    }
    if (!within(this.realRoot, real)) return refuse('leaves the repository through a symlink');
    if (inGitDir(this.realRoot, real)) return refuse("reaches the repository's .git folder through a symlink");
    const canonical = path.join(this.root, path.relative(this.realRoot, real));
    if (canonical !== resolved) {
      // kustomize reads a symlink's target by its real path (the renderer's record says so); the
      // symlinks on the way are part of the closure too: retargeting one changes the render.
      for (let p = resolved; within(this.root, p) && p !== this.root; p = path.dirname(p)) {
        if ((await lstat(p).catch(() => undefined))?.isSymbolicLink()) this.files.add(p);
      }
    }
    return canonical;
  }

  remote(ref: string, at: { file: string; line?: number }, what: string): void {
    this.out.remotes.push(ref);
    this.files.add(REMOTE);
    // Another repository on this machine, or a command (git's ext:: transport): never, allowed or not.
    if (/^(git::)?(file:|ext::)/i.test(ref) || /^git::[a-z0-9+.-]*::/i.test(ref)) {
      this.out.issues.push({ severity: 'error', rule: 'outside-repository', ...at, message: `${what} '${ref}' reads from this machine or runs a command (file:// and ext:: are always refused); nothing outside the repository is read into a render` });
      return;
    }
    const pin = remotePin(ref);
    if (!pin.pinned) {
      this.out.issues.push({ severity: 'error', rule: 'remote-unpinned', ...at, message: `${what} '${ref}' is not pinned to an immutable ref: add ?ref=<tag or full commit id>${pin.ref ? ` ('${pin.ref}' looks like a branch)` : ''}` });
    }
    if (!this.opts.allowRemote) {
      this.out.issues.push({ severity: 'error', rule: 'remote-resource', ...at, message: `${what} '${ref}' would be fetched from the network: validation and diff run offline; pass --allow-remote (or set render.allowRemote in gitops.yaml) to fetch it` });
    } else if (pin.pinned) {
      this.out.issues.push({ severity: 'info', rule: 'remote-fetch', ...at, message: `fetches ${what} '${ref}' from the network (remote references allowed)` });
    }
  }

  /**
   * Function configs and plugins never run: refuse them with the line that asks for one. A
   * builtin HelmChartInflationGenerator config (`kdir`: the kustomization it is loaded for) is
   * inspected like a helmCharts entry.
   */
  async scanPluginConfigs(docs: unknown[], at: { file: string; line?: number }, where: string, kdir: string): Promise<void> {
    for (const d of docs) {
      if (!d || typeof d !== 'object') continue;
      const o = d as { apiVersion?: unknown; kind?: unknown; metadata?: { annotations?: Record<string, unknown> } };
      const ann = o.metadata?.annotations ?? {};
      const fn = ann['config.kubernetes.io/function'] ?? ann['config.k8s.io/function'];
      if (fn !== undefined) {
        const how = typeof fn === 'string' && /^\s*exec\s*:/m.test(fn) ? 'an exec' : typeof fn === 'string' && /^\s*container\s*:/m.test(fn) ? 'a container' : 'a';
        this.out.issues.push({ severity: 'error', rule: 'krm-function', ...at, message: `${where} requests ${how} KRM function (${String(o.kind ?? '?')}): the toolkit never runs functions or plugins from the repository` });
      } else if (o.apiVersion !== 'builtin') {
        this.out.issues.push({ severity: 'error', rule: 'kustomize-plugin', ...at, message: `${where} configures an external plugin (${String(o.apiVersion ?? '?')} ${String(o.kind ?? '?')}): only kustomize's builtin generators and transformers run` });
      } else if (o.kind === 'HelmChartInflationGenerator') {
        const { apiVersion: _a, kind: _k, metadata: _m, configHome, ...fields } = d as Record<string, unknown>;
        const refused = configHome !== undefined ? [{ field: 'configHome', why: 'sets helm\'s config home (repositories, registry logins); helm always gets a temporary one' }] : [];
        await this.inspectChart(kdir, { fields, written: {}, refused }, () => at, `${where} (HelmChartInflationGenerator)`, 'charts');
      }
    }
  }

  async visit(kdir: string, at?: { file: string; line?: number }, pluginDir = false): Promise<void> {
    const abs = path.resolve(kdir);
    const real = (await this.real(abs)) ?? abs;
    const where = at ?? { file: path.join(abs, KUSTOMIZATION_NAMES[0]) };
    if (this.stack.includes(real)) {
      this.out.issues.push({ severity: 'error', rule: 'kustomization-cycle', ...where, message: `${path.relative(this.root, abs)} is ${path.relative(this.realRoot, real) || '.'} again (through a symlink), a kustomization that includes itself: kustomize cannot build it; remove the reference or the symlink` });
      return;
    }
    if (this.seenReal.has(real)) return;
    this.seenReal.add(real);
    // The kustomization file itself may be a symlink out of the repository.
    // Only a symlink can lead a file of a folder inside the repository out of it.
    const entries = await this.entries(abs);
    for (const name of KUSTOMIZATION_NAMES) {
      if (!entries.has(name)) continue;
      const f = entries.get(name) ? await this.real(path.join(abs, name)) : path.join(real, name);
      if (f && (!within(this.realRoot, f) || inGitDir(this.realRoot, f))) {
        this.out.issues.push({ severity: 'error', rule: 'outside-repository', file: path.join(abs, name), message: `${path.relative(this.root, path.join(abs, name))} leaves the repository through a symlink; nothing outside the repository is read into a render` });
        return;
      }
    }
    this.stack.push(real);
    try {
      await this.visitOne(kdir, at, pluginDir);
    } finally {
      this.stack.pop();
    }
  }

  /** One kustomization, in stages: its reference lists, resources, plugin entries, patch targets, files, Helm charts. */
  async visitOne(kdir: string, at?: { file: string; line?: number }, pluginDir = false): Promise<void> {
    const abs = path.resolve(kdir);
    if (this.seen.has(abs)) return;
    this.seen.add(abs);
    const found = await readKustomization(abs, this.opts.ws);
    if (!found) {
      if (!at) throw new ConfigError(abs, 'no kustomization (kustomization.yaml, kustomization.yml or Kustomization) in this folder');
      return;
    }
    this.files.add(found.file);
    if (found.problem) {
      this.out.issues.push({ severity: 'error', rule: 'yaml-syntax', file: found.file, line: found.problem.line, message: found.problem.message });
      return;
    }
    // The line is looked up only when an issue is reported (spreading `at` reads it).
    const lineAt = (p: (string | number)[]) => ({
      file: found.file,
      get line() {
        const d = found.doc?.();
        return (d?.doc && lineOf(d.doc, d.lines, p)) || undefined;
      },
    });
    const kz: KAt = { abs, file: found.file, k: found.k, lineAt };
    this.refListsAreStrings(kz);
    await this.visitResources(kz, pluginDir);
    await this.visitPluginEntries(kz);
    this.targetProblems(kz);
    await this.fileReferences(kz);
    await this.helmCharts(kz);
  }

  /** A file a kustomization reads as generator, transformer or validator configs. */
  private async scanFile(kz: KAt, target: string, at: { file: string; line?: number }, where: string): Promise<void> {
    const bytes = await readFile(target).catch(() => undefined);
    if (bytes === undefined) return;
    const { docs, problem } = parseYamlData(target, bytes, { merge: true });
    if (problem) this.out.issues.push({ severity: 'error', rule: 'yaml-syntax', file: target, line: problem.line, message: problem.message });
    else await this.scanPluginConfigs(docs, at, where, kz.abs);
  }

  private async addFile(kz: KAt, ref: string, p: (string | number)[], what: string): Promise<string | undefined> {
    const target = await this.local(kz.abs, ref, kz.lineAt(p), what);
    if (target) this.files.add(target);
    return target;
  }

  private refListsAreStrings(kz: KAt): void {
    // A reference list the toolkit cannot read as kustomize does (not a list of strings) is refused, not skipped.
    for (const field of ['resources', 'bases', 'components', 'generators', 'transformers', 'validators', 'crds', 'configurations', 'patchesStrategicMerge'] as const) {
      const v = kz.k[field];
      if (v === undefined || v === null) continue;
      if (!Array.isArray(v)) this.out.issues.push({ severity: 'error', rule: 'yaml-ambiguous', ...kz.lineAt([field]), message: `${field} must be a list of strings` });
      else v.forEach((x, i) => typeof x !== 'string' && this.out.issues.push({ severity: 'error', rule: 'yaml-ambiguous', ...kz.lineAt([field, i]), message: `${field} entry ${i} is ${x === null ? 'null' : typeof x}, not a string: YAML 1.1 (kustomize) and 1.2 (the toolkit) may read it differently; quote it` }));
    }
  }

  /** resources, bases and components: remote, another kustomization (visited), or a file. */
  private async visitResources(kz: KAt, pluginDir: boolean): Promise<void> {
    for (const field of ['resources', 'bases', 'components'] as const) {
      for (const [i, ref] of strings(kz.k[field]).entries()) {
        const at = kz.lineAt([field, i]);
        if (isRemoteRef(ref) || (HOST_LIKE.test(ref) && !(await stat(path.resolve(kz.abs, ref)).catch(() => undefined)))) {
          this.remote(ref, at, field === 'components' ? 'component' : 'remote base');
          continue;
        }
        const target = await this.local(kz.abs, ref, at, field === 'components' ? 'component' : 'resource');
        if (!target) continue;
        if (await readKustomization(target, this.opts.ws)) await this.visit(target, at, pluginDir);
        else {
          this.files.add(target);
          if (pluginDir) await this.scanFile(kz, target, at, `${field} entry '${ref}'`);
        }
      }
    }
  }

  /** generators, transformers and validators: inline configs, remote, a kustomization of plugins, or a config file. */
  private async visitPluginEntries(kz: KAt): Promise<void> {
    for (const field of ['generators', 'transformers', 'validators'] as const) {
      for (const [i, ref] of strings(kz.k[field]).entries()) {
        const at = kz.lineAt([field, i]);
        // kustomize takes any entry that parses as objects as an inline config, one line of
        // flow style (`{apiVersion: ..., kind: ...}`) as well as a block.
        if (ref.includes('\n') || isInlineConfig(ref)) {
          const { docs, problem } = parseYamlData(kz.file, ref, { merge: true });
          if (problem) this.out.issues.push({ severity: 'error', rule: 'yaml-syntax', ...at, message: `inline ${field} entry: ${problem.message}` });
          else await this.scanPluginConfigs(docs, at, `inline ${field} entry`, kz.abs);
          continue;
        }
        if (isRemoteRef(ref)) {
          this.remote(ref, at, `${field} entry`);
          continue;
        }
        const target = await this.local(kz.abs, ref, at, `${field} entry`);
        if (!target) continue;
        if (await readKustomization(target, this.opts.ws)) await this.visit(target, at, true);
        else {
          this.files.add(target);
          await this.scanFile(kz, target, at, `${field} entry '${ref}'`);
        }
      }
    }
  }

  private targetProblems(kz: KAt): void {
    // kustomize refuses the build on a target it cannot compile; say which field, and where.
    for (const t of targetProblems(kz.k as Record<string, unknown>)) this.out.issues.push({ severity: 'error', rule: 'patch-target', ...kz.lineAt(t.path), message: t.message });
  }

  /** Patches, replacements, CRDs, configurations, the OpenAPI schema and generator files. */
  private async fileReferences(kz: KAt): Promise<void> {
    const fileRefs: Array<[string, (string | number)[], string]> = [];
    for (const [i, p] of objects(kz.k.patches).entries()) if (typeof p.path === 'string') fileRefs.push([p.path, ['patches', i, 'path'], 'patch']);
    for (const [i, p] of strings(kz.k.patchesStrategicMerge).entries()) if (!p.includes('\n')) fileRefs.push([p, ['patchesStrategicMerge', i], 'patch']);
    for (const [i, p] of objects(kz.k.patchesJson6902).entries()) if (typeof p.path === 'string') fileRefs.push([p.path, ['patchesJson6902', i, 'path'], 'patch']);
    for (const [i, p] of objects(kz.k.replacements).entries()) if (typeof p.path === 'string') fileRefs.push([p.path, ['replacements', i, 'path'], 'replacement']);
    for (const [i, p] of strings(kz.k.crds).entries()) fileRefs.push([p, ['crds', i], 'crd']);
    for (const [i, p] of strings(kz.k.configurations).entries()) fileRefs.push([p, ['configurations', i], 'configuration']);
    if (typeof kz.k.openapi?.path === 'string') fileRefs.push([kz.k.openapi.path, ['openapi', 'path'], 'openapi schema']);
    for (const field of ['configMapGenerator', 'secretGenerator'] as const) {
      for (const [i, g] of (objects(kz.k[field]) as GeneratorArgs[]).entries()) {
        for (const [j, f] of strings(g.files).entries()) fileRefs.push([f.includes('=') ? f.slice(f.indexOf('=') + 1) : f, [field, i, 'files', j], `${field} file`]);
        for (const [j, f] of strings(g.envs).entries()) fileRefs.push([f, [field, i, 'envs', j], `${field} env file`]);
        if (typeof g.env === 'string') fileRefs.push([g.env, [field, i, 'env'], `${field} env file`]);
      }
    }
    for (const [ref, p, what] of fileRefs) {
      if (isRemoteRef(ref)) this.remote(ref, kz.lineAt(p), what);
      else await this.addFile(kz, ref, p, what);
    }
  }

  private async helmCharts(kz: KAt): Promise<void> {
    // Helm charts (helmCharts:, and the deprecated helmChartInflationGenerator: kustomize still
    // runs): every value that reaches helm's argv is checked, a chart from a repository is a
    // network fetch, a local chart must stay inside.
    const legacy = objects(kz.k.helmChartInflationGenerator);
    const charts = objects(kz.k.helmCharts);
    if (charts.length || legacy.length) {
      const configHome = kz.k.helmGlobals?.configHome;
      if (configHome !== undefined && configHome !== null) this.out.issues.push({ severity: 'error', rule: 'helm-chart', ...kz.lineAt(['helmGlobals', 'configHome']), message: 'helmGlobals.configHome is refused: it sets helm\'s config home (repositories, registry logins); helm always gets a temporary one' });
      // kustomize's SplitHelmParameters: the last non-empty legacy chartHome wins over helmGlobals.
      const legacyHome = legacy.map((c) => c.chartHome).filter((h): h is string => typeof h === 'string' && !!h).pop();
      const globalHome = typeof kz.k.helmGlobals?.chartHome === 'string' ? kz.k.helmGlobals.chartHome : undefined;
      const home = legacyHome ?? globalHome ?? 'charts';
      if (globalHome !== undefined) await this.local(kz.abs, globalHome, kz.lineAt(['helmGlobals', 'chartHome']), 'helmGlobals.chartHome');
      for (const [i, c] of charts.entries()) await this.inspectChart(kz.abs, { fields: c, written: {}, refused: [] }, (f) => kz.lineAt(f ? ['helmCharts', i, f] : ['helmCharts', i]), `helmCharts[${i}]`, home);
      for (const [i, c] of legacy.entries()) await this.inspectChart(kz.abs, legacyChart(c), (f) => kz.lineAt(f ? ['helmChartInflationGenerator', i, f] : ['helmChartInflationGenerator', i]), `helmChartInflationGenerator[${i}]`, home);
    }
  }

  /**
   * One Helm chart entry: argv values (chartProblems), the repository fetch, the local chart and
   * values files. `at(field)` is the line of a field of the entry (or of the entry).
   */
  async inspectChart(kdir: string, c: ChartEntry, at: (field?: string) => { file: string; line?: number }, label: string, home: string): Promise<void> {
    this.files.add(REMOTE); // helm's output is not a function of the closure alone
    const name = typeof c.fields.name === 'string' ? c.fields.name : undefined;
    const what = `${label}${name ? ` (chart '${name.slice(0, 80)}')` : ''}`;
    const problems = chartProblems(c);
    for (const p of problems) this.out.issues.push({ severity: 'error', rule: 'helm-chart', ...at(p.field), message: `${what} ${p.field} ${p.message}; the toolkit refuses it before kustomize runs` });
    if (problems.length) return;
    const repo = c.fields.repo;
    const repoField = c.written.repo ?? 'repo';
    if (typeof repo === 'string' && repo) {
      const ref = `${repo}${name ? ` chart ${name}` : ''}`;
      this.out.remotes.push(repo);
      if (typeof c.fields.version !== 'string' || !c.fields.version) this.out.issues.push({ severity: 'error', rule: 'remote-unpinned', ...at(repoField), message: `Helm chart from '${ref}' has no version: pin it with ${c.written.version ?? 'version'}:` });
      if (!this.opts.allowRemote) this.out.issues.push({ severity: 'error', rule: 'remote-resource', ...at(repoField), message: `Helm chart from '${ref}' would be fetched from the network: validation and diff run offline; pass --allow-remote (or set render.allowRemote in gitops.yaml) to fetch it` });
      else this.out.issues.push({ severity: 'info', rule: 'remote-fetch', ...at(repoField), message: `fetches the Helm chart from '${ref}' from the network (remote references allowed)` });
    } else if (name) {
      const chartHome = typeof c.fields.chartHome === 'string' ? c.fields.chartHome : home;
      const dirOk = await this.local(kdir, path.join(chartHome, name), at(), 'Helm chart');
      if (dirOk) await this.walkChart(dirOk, at());
    }
    const values = [['valuesFile', c.fields.valuesFile], ...(Array.isArray(c.fields.additionalValuesFiles) ? c.fields.additionalValuesFiles : []).map((f) => ['additionalValuesFiles', f] as const)] as const;
    for (const [field, v] of values) {
      if (typeof v !== 'string') continue;
      const written = c.written[field] ?? field;
      if (isRemoteRef(v)) this.remote(v, at(written), `Helm ${written}`);
      else {
        const target = await this.local(kdir, v, at(written), `Helm ${written}`);
        if (target) this.files.add(target);
      }
    }
  }

  /** Every file of a local chart (helm follows symlinks inside a chart). */
  async walkChart(dir: string, at: { file: string; line?: number }, depth = 0): Promise<void> {
    if (depth > 20) return;
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(dir, e.name);
      const rel = path.relative(this.root, p);
      const ok = await this.local(this.root, rel, at, 'Helm chart file');
      if (!ok) continue;
      if (e.isDirectory()) await this.walkChart(p, at, depth + 1);
      else this.files.add(p);
    }
  }
}

/**
 * Walks a kustomization and everything it references, the way kustomize will read it, and
 * refuses before any render what must never reach one: a path that leaves the repository
 * (absolute, `..` past the root, or a symlink whose real path is outside), anything inside
 * `.git`, KRM functions and external plugins, and remote references that are not allowed or not
 * pinned to an immutable ref. Issues carry the kustomization file and line.
 */
export async function inspectClosure(dir: string, opts: ClosureOptions): Promise<Closure> {
  const root = path.resolve(opts.root);
  // With a Workspace, an unchanged kustomization is not walked again (closurememo.ts).
  const memo = opts.ws ? await ClosureMemo.forRun<Closure>(opts.ws, root) : undefined;
  const key = `${opts.allowRemote ? 'remote' : 'local'}:${path.resolve(dir)}`;
  const kept = memo?.get(key);
  if (kept) return copyClosure(kept);
  const out = await walkClosure(dir, root, opts);
  // Only closures of local files (what is fetched, or rendered by helm, is not a function of
  // them) that refuse nothing: a refusal may be about a path the closure does not name.
  if (!out.remotes.length && !out.files.includes(REMOTE) && !out.issues.some((i) => i.severity === 'error')) memo?.set(key, copyClosure(out));
  return out;
}

/** The memo's copy and the caller's never share arrays: callers extend theirs. */
const copyClosure = (c: Closure): Closure => ({ files: [...c.files], issues: c.issues.map((i) => ({ ...i })), remotes: [...c.remotes] });

async function walkClosure(dir: string, root: string, opts: ClosureOptions): Promise<Closure> {
  const realRoot = (await realOnce(root, opts.ws)) ?? root;
  const walk = new ClosureWalk(root, realRoot, opts);
  const out = walk.out;
  const top = path.resolve(dir);
  if (!within(root, top)) {
    out.issues.push({ severity: 'error', rule: 'outside-repository', file: top, message: `${top} is outside the repository` });
    return out;
  }
  const realTop = (await walk.real(top)) ?? top;
  if (!within(realRoot, realTop)) {
    out.issues.push({ severity: 'error', rule: 'outside-repository', file: top, message: 'the folder leaves the repository through a symlink; nothing outside the repository is read into a render' });
    return out;
  }
  await walk.visit(top);
  out.files = [...walk.files];
  return out;
}

/**
 * Every local file a kustomization reads, following resources, components and patches
 * (absolute paths; REMOTE for remote references). References that leave `root` are not
 * followed (inspectClosure reports them).
 */
export async function kustomizationClosure(dir: string, root: string, ws?: Workspace): Promise<string[]> {
  return (await inspectClosure(dir, { root, allowRemote: true, ws })).files;
}
