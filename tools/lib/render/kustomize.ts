import { readFileSync, realpathSync } from 'node:fs';
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Document, LineCounter } from 'yaml';
import { run, childEnv } from '../core/exec.js';
import { CommandFailedError, ConfigError } from '../core/errors.js';
import { targetProblems } from './selector.js';
import { KUSTOMIZATION_NAMES } from '../config/layout.js';
import { rendererSupports } from '../core/renderer.js';
import type { Workspace } from '../core/workspace.js';
import type { Tool } from '../core/tools.js';
import { lineOf, parseYaml, parseYamlData, YAML_LIMITS } from '../core/yamlfile.js';
import { parseStream, type K8sObject } from '../core/k8s.js';
/** @public re-export while branches are in flight */
export { parseStream, resourceId, type K8sObject } from '../core/k8s.js';

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
export async function kustomizeBuildObjects(tool: Tool, dir: string, extraArgs: string[] = [], opts: { network?: boolean; timeoutMs?: number; parse?: boolean } = {}): Promise<{ yaml: string; objects: K8sObject[] }> {
  const args = [...ROOT_ONLY, ...extraArgs];
  const parse = opts.parse ?? true;
  if (tool.renderer && !opts.network && rendererSupports(args)) {
    const answer = await tool.renderer.render(path.resolve(dir), args, { json: parse });
    if ('yaml' in answer) return { yaml: answer.yaml, objects: parse ? ((answer.objects as K8sObject[] | undefined) ?? parseStream(answer.yaml)) : [] };
    if ('error' in answer) throw new CommandFailedError([tool.cmd, ...tool.args, ...args, dir].join(' '), 1, `Error: ${answer.error}\n`);
  }
  const { stdout } = await run(tool.cmd, [...tool.args, ...args, dir], { env: childEnv({ network: opts.network }), timeoutMs: opts.timeoutMs });
  return { yaml: stdout, objects: parse ? parseStream(stdout) : [] };
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
  const { parsed, problems } = parseYaml(file, bytes);
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
      parsed = await ws.parsedFile(file, 'kustomization-walk', (_text, raw) => parseKustomization(file, raw));
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
        const p = parseYaml(file, raw).parsed;
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

/** Synchronous: one native call, much cheaper than the thread-pool round trip of fs.promises. */
function realpathOrUndefined(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
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

/**
 * Walks a kustomization and everything it references, the way kustomize will read it, and
 * refuses before any render what must never reach one: a path that leaves the repository
 * (absolute, `..` past the root, or a symlink whose real path is outside), anything inside
 * `.git`, KRM functions and external plugins, and remote references that are not allowed or not
 * pinned to an immutable ref. Issues carry the kustomization file and line.
 */
export async function inspectClosure(dir: string, opts: ClosureOptions): Promise<Closure> {
  const root = path.resolve(opts.root);
  const realRoot = await realpath(root).catch(() => root);
  const out: Closure = { files: [], issues: [], remotes: [] };
  const files = new Set<string>();
  const seen = new Set<string>();

  /** The real path of a local reference when it may be read, else an issue and undefined. */
  const local = async (from: string, ref: string, at: { file: string; line?: number }, what: string): Promise<string | undefined> => {
    const refuse = (message: string) => {
      out.issues.push({ severity: 'error', rule: 'outside-repository', ...at, message: `${what} '${ref}' ${message}; nothing outside the repository is read into a render` });
      return undefined;
    };
    if (path.isAbsolute(ref) || /^~/.test(ref)) return refuse('is an absolute path');
    const resolved = path.resolve(from, ref);
    if (!within(root, resolved)) return refuse('points outside the repository');
    if (inGitDir(root, resolved)) return refuse("points into the repository's .git folder");
    const real = opts.ws ? await opts.ws.memo(`realpath:${resolved}`, async () => realpathOrUndefined(resolved)) : await realpath(resolved).catch(() => undefined);
    if (real === undefined) {
      // Missing (kustomize reports it), unless a dangling symlink on the way could point anywhere.
      for (let p = resolved; within(root, p) && p !== root; p = path.dirname(p)) {
        if ((await lstat(p).catch(() => undefined))?.isSymbolicLink()) return refuse('is a symlink that does not resolve');
      }
      return resolved;
    }
    if (!within(realRoot, real)) return refuse('leaves the repository through a symlink');
    if (inGitDir(realRoot, real)) return refuse("reaches the repository's .git folder through a symlink");
    return resolved;
  };

  const remote = (ref: string, at: { file: string; line?: number }, what: string) => {
    out.remotes.push(ref);
    files.add(REMOTE);
    const pin = remotePin(ref);
    if (!pin.pinned) {
      out.issues.push({ severity: 'error', rule: 'remote-unpinned', ...at, message: `${what} '${ref}' is not pinned to an immutable ref: add ?ref=<tag or full commit id>${pin.ref ? ` ('${pin.ref}' looks like a branch)` : ''}` });
    }
    if (!opts.allowRemote) {
      out.issues.push({ severity: 'error', rule: 'remote-resource', ...at, message: `${what} '${ref}' would be fetched from the network: validation and diff run offline; pass --allow-remote (or set render.allowRemote in gitops.yaml) to fetch it` });
    } else if (pin.pinned) {
      out.issues.push({ severity: 'info', rule: 'remote-fetch', ...at, message: `fetches ${what} '${ref}' from the network (remote references allowed)` });
    }
  };

  /** Function configs and plugins never run: refuse them with the line that asks for one. */
  const scanPluginConfigs = (docs: unknown[], at: { file: string; line?: number }, where: string) => {
    for (const d of docs) {
      if (!d || typeof d !== 'object') continue;
      const o = d as { apiVersion?: unknown; kind?: unknown; metadata?: { annotations?: Record<string, unknown> } };
      const ann = o.metadata?.annotations ?? {};
      const fn = ann['config.kubernetes.io/function'] ?? ann['config.k8s.io/function'];
      if (fn !== undefined) {
        const how = typeof fn === 'string' && /^\s*exec\s*:/m.test(fn) ? 'an exec' : typeof fn === 'string' && /^\s*container\s*:/m.test(fn) ? 'a container' : 'a';
        out.issues.push({ severity: 'error', rule: 'krm-function', ...at, message: `${where} requests ${how} KRM function (${String(o.kind ?? '?')}): the toolkit never runs functions or plugins from the repository` });
      } else if (o.apiVersion !== 'builtin') {
        out.issues.push({ severity: 'error', rule: 'kustomize-plugin', ...at, message: `${where} configures an external plugin (${String(o.apiVersion ?? '?')} ${String(o.kind ?? '?')}): only kustomize's builtin generators and transformers run` });
      }
    }
  };

  const visit = async (kdir: string, at?: { file: string; line?: number }, pluginDir = false): Promise<void> => {
    const abs = path.resolve(kdir);
    if (seen.has(abs)) return;
    seen.add(abs);
    const found = await readKustomization(abs, opts.ws);
    if (!found) {
      if (!at) throw new ConfigError(abs, 'no kustomization (kustomization.yaml, kustomization.yml or Kustomization) in this folder');
      return;
    }
    files.add(found.file);
    if (found.problem) {
      out.issues.push({ severity: 'error', rule: 'yaml-syntax', file: found.file, line: found.problem.line, message: found.problem.message });
      return;
    }
    const { k } = found;
    // The line is looked up only when an issue is reported (spreading `at` reads it).
    const lineAt = (p: (string | number)[]) => ({
      file: found.file,
      get line() {
        const d = found.doc?.();
        return (d?.doc && lineOf(d.doc, d.lines, p)) || undefined;
      },
    });

    const addFile = async (ref: string, p: (string | number)[], what: string) => {
      const target = await local(abs, ref, lineAt(p), what);
      if (target) files.add(target);
      return target;
    };

    const scanFile = async (target: string, at: { file: string; line?: number }, where: string) => {
      const bytes = await readFile(target).catch(() => undefined);
      if (bytes === undefined) return;
      const { docs, problem } = parseYamlData(target, bytes);
      if (problem) out.issues.push({ severity: 'error', rule: 'yaml-syntax', file: target, line: problem.line, message: problem.message });
      else scanPluginConfigs(docs, at, where);
    };

    for (const field of ['resources', 'bases', 'components'] as const) {
      for (const [i, ref] of strings(k[field]).entries()) {
        const at = lineAt([field, i]);
        if (isRemoteRef(ref) || (HOST_LIKE.test(ref) && !(await stat(path.resolve(abs, ref)).catch(() => undefined)))) {
          remote(ref, at, field === 'components' ? 'component' : 'remote base');
          continue;
        }
        const target = await local(abs, ref, at, field === 'components' ? 'component' : 'resource');
        if (!target) continue;
        if (await readKustomization(target, opts.ws)) await visit(target, at, pluginDir);
        else {
          files.add(target);
          if (pluginDir) await scanFile(target, at, `${field} entry '${ref}'`);
        }
      }
    }

    for (const field of ['generators', 'transformers', 'validators'] as const) {
      for (const [i, ref] of strings(k[field]).entries()) {
        const at = lineAt([field, i]);
        if (ref.includes('\n')) {
          const { docs, problem } = parseYamlData(found.file, ref);
          if (problem) out.issues.push({ severity: 'error', rule: 'yaml-syntax', ...at, message: `inline ${field} entry: ${problem.message}` });
          else scanPluginConfigs(docs, at, `inline ${field} entry`);
          continue;
        }
        if (isRemoteRef(ref)) {
          remote(ref, at, `${field} entry`);
          continue;
        }
        const target = await local(abs, ref, at, `${field} entry`);
        if (!target) continue;
        if (await readKustomization(target, opts.ws)) await visit(target, at, true);
        else {
          files.add(target);
          await scanFile(target, at, `${field} entry '${ref}'`);
        }
      }
    }

    // kustomize refuses the build on a target it cannot compile; say which field, and where.
    for (const t of targetProblems(k as Record<string, unknown>)) out.issues.push({ severity: 'error', rule: 'patch-target', ...lineAt(t.path), message: t.message });

    const fileRefs: Array<[string, (string | number)[], string]> = [];
    for (const [i, p] of objects(k.patches).entries()) if (typeof p.path === 'string') fileRefs.push([p.path, ['patches', i, 'path'], 'patch']);
    for (const [i, p] of strings(k.patchesStrategicMerge).entries()) if (!p.includes('\n')) fileRefs.push([p, ['patchesStrategicMerge', i], 'patch']);
    for (const [i, p] of objects(k.patchesJson6902).entries()) if (typeof p.path === 'string') fileRefs.push([p.path, ['patchesJson6902', i, 'path'], 'patch']);
    for (const [i, p] of objects(k.replacements).entries()) if (typeof p.path === 'string') fileRefs.push([p.path, ['replacements', i, 'path'], 'replacement']);
    for (const [i, p] of strings(k.crds).entries()) fileRefs.push([p, ['crds', i], 'crd']);
    for (const [i, p] of strings(k.configurations).entries()) fileRefs.push([p, ['configurations', i], 'configuration']);
    if (typeof k.openapi?.path === 'string') fileRefs.push([k.openapi.path, ['openapi', 'path'], 'openapi schema']);
    for (const field of ['configMapGenerator', 'secretGenerator'] as const) {
      for (const [i, g] of (objects(k[field]) as GeneratorArgs[]).entries()) {
        for (const [j, f] of strings(g.files).entries()) fileRefs.push([f.includes('=') ? f.slice(f.indexOf('=') + 1) : f, [field, i, 'files', j], `${field} file`]);
        for (const [j, f] of strings(g.envs).entries()) fileRefs.push([f, [field, i, 'envs', j], `${field} env file`]);
        if (typeof g.env === 'string') fileRefs.push([g.env, [field, i, 'env'], `${field} env file`]);
      }
    }
    for (const [ref, p, what] of fileRefs) {
      if (isRemoteRef(ref)) remote(ref, lineAt(p), what);
      else await addFile(ref, p, what);
    }

    // Helm charts: a chart from a repository is a network fetch; a local chart must stay inside.
    const charts = objects(k.helmCharts);
    if (charts.length) {
      files.add(REMOTE); // helm's output is not a function of the closure alone
      const home = typeof k.helmGlobals?.chartHome === 'string' ? k.helmGlobals.chartHome : 'charts';
      for (const [field, v] of [['chartHome', k.helmGlobals?.chartHome], ['configHome', k.helmGlobals?.configHome]] as const) {
        if (typeof v === 'string') await local(abs, v, lineAt(['helmGlobals', field]), `helmGlobals.${field}`);
      }
      for (const [i, c] of charts.entries()) {
        const at = lineAt(['helmCharts', i]);
        if (typeof c.repo === 'string' && c.repo) {
          const ref = `${c.repo}${typeof c.name === 'string' ? ` chart ${c.name}` : ''}`;
          out.remotes.push(c.repo);
          if (typeof c.version !== 'string' || !c.version) out.issues.push({ severity: 'error', rule: 'remote-unpinned', ...at, message: `Helm chart from '${ref}' has no version: pin it with version:` });
          if (!opts.allowRemote) out.issues.push({ severity: 'error', rule: 'remote-resource', ...at, message: `Helm chart from '${ref}' would be fetched from the network: validation and diff run offline; pass --allow-remote (or set render.allowRemote in gitops.yaml) to fetch it` });
          else out.issues.push({ severity: 'info', rule: 'remote-fetch', ...at, message: `fetches the Helm chart from '${ref}' from the network (remote references allowed)` });
        } else if (typeof c.name === 'string') {
          const dirOk = await local(abs, path.join(home, c.name), at, 'Helm chart');
          if (dirOk) await walkChart(dirOk, at);
        }
        for (const [field, v] of [['valuesFile', c.valuesFile], ...strings(c.additionalValuesFiles).map((f) => ['additionalValuesFiles', f] as const)] as const) {
          if (typeof v !== 'string') continue;
          if (isRemoteRef(v)) remote(v, at, `Helm ${field}`);
          else await addFile(v, ['helmCharts', i, field], `Helm ${field}`);
        }
      }
    }
  };

  /** Every file of a local chart (helm follows symlinks inside a chart). */
  const walkChart = async (dir: string, at: { file: string; line?: number }, depth = 0): Promise<void> => {
    if (depth > 20) return;
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(dir, e.name);
      const rel = path.relative(root, p);
      const ok = await local(root, rel, at, 'Helm chart file');
      if (!ok) continue;
      if (e.isDirectory()) await walkChart(p, at, depth + 1);
      else files.add(p);
    }
  };

  const top = path.resolve(dir);
  if (!within(root, top)) {
    out.issues.push({ severity: 'error', rule: 'outside-repository', file: top, message: `${top} is outside the repository` });
    return out;
  }
  const realTop = await realpath(top).catch(() => top);
  if (!within(realRoot, realTop)) {
    out.issues.push({ severity: 'error', rule: 'outside-repository', file: top, message: 'the folder leaves the repository through a symlink; nothing outside the repository is read into a render' });
    return out;
  }
  await visit(top);
  out.files = [...files];
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
