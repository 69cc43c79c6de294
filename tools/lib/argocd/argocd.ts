// Argo CD parity: expands the ApplicationSets rendered from clusters/<cluster> into the
// Applications the ApplicationSet controller would generate, evaluated against the working tree
// (the revision being validated), and reads the argocd-cm settings that change renders.
import { readdir, readFile, realpath } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import picomatch from 'picomatch';
import { parseYamlData } from '../core/yamlfile.js';
import { run } from '../core/exec.js';
import { resourceId, type K8sObject } from '../core/k8s.js';
import type { Config } from '../config/config.js';
import { locate, renderTargets, type Rendered, type Target } from '../render/render.js';
import { findHelm, type Tool } from '../core/tools.js';
import type { Finding } from '../core/finding.js';
import { renderFastTemplate, renderGoTemplate, TemplateError } from './gotemplate.js';

/** The repository files an ApplicationSet git generator can see (repo-relative, POSIX). */
export interface RepoTree {
  files: string[];
  read(file: string): Promise<string | undefined>;
}

/** Tracked and untracked-but-not-ignored files of the working tree (a plain walk outside git). */
export async function repoTree(root: string): Promise<RepoTree> {
  let files: string[];
  const git = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, allowFailure: true }).catch(() => undefined);
  if (git && git.code === 0) {
    files = [...new Set(git.stdout.split('\0').filter(Boolean))].filter((f) => existsSync(path.join(root, f)));
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
  return { files: files.sort(), read };
}

/** Every folder holding a file, minus dot-folders (the directory generator skips them). */
export function treeDirs(tree: RepoTree): string[] {
  const dirs = new Set<string>();
  for (const f of tree.files) {
    const parts = f.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return [...dirs].filter((d) => !d.split('/').some((s) => s.startsWith('.'))).sort();
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
}

export interface Expansion {
  apps: GeneratedApp[];
  findings: Finding[];
  /** Some generator could not be expanded: absent Applications may be a limit of this tool. */
  incomplete: boolean;
}

/**
 * Whether an Application deploys the revision being validated: it tracks the default branch
 * (or HEAD, Argo CD's default, which is the default branch). Anything else (another branch, a
 * tag, a commit) deploys files this checkout does not hold.
 */
export function tracksDefaultBranch(app: Pick<GeneratedApp, 'targetRevision'>, defaultBranch: string): boolean {
  const r = (app.targetRevision ?? '').trim();
  return r === '' || r === 'HEAD' || r === defaultBranch || r === `refs/heads/${defaultBranch}` || r === `origin/${defaultBranch}`;
}

/** Repository URLs compare without a trailing `.git` or slash, case-insensitively. */
export function sameRepo(a: string | undefined, b: string | undefined): boolean {
  const norm = (u: string | undefined) => (u ?? '').trim().replace(/\/+$/, '').replace(/\.git$/, '').toLowerCase();
  return !!norm(a) && norm(a) === norm(b);
}

/** Argo CD's SanitizeName: lower case, DNS-1123 characters, no leading or trailing - or '.'. */
export function sanitizeName(s: string): string {
  return s.toLowerCase().replace(/[^-a-z0-9.]/g, '-').slice(0, 253).replace(/^[-.]+|[-.]+$/g, '');
}

type Params = Record<string, unknown>;

function pathParams(dir: string, file?: string): Params {
  const basename = path.posix.basename(dir);
  const p: Params = { path: dir, basename, basenameNormalized: sanitizeName(basename), segments: dir.split('/') };
  if (file !== undefined) Object.assign(p, { filename: path.posix.basename(file), filenameNormalized: sanitizeName(path.posix.basename(file)) });
  return p;
}

/** Flat parameters of the legacy (non-goTemplate) renderer: `path`, `path.basename`, `path[0]`, `a.b`. */
function flatten(params: Params): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (v: unknown, key: string): void => {
    if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(x, `${key}.${k}`);
    else out[key] = v === null || v === undefined ? '' : String(v);
  };
  for (const [k, v] of Object.entries(params)) {
    const p = v as Params;
    if (k === 'path' && p && typeof p === 'object' && Array.isArray(p.segments)) {
      out.path = String(p.path);
      for (const f of ['basename', 'basenameNormalized', 'filename', 'filenameNormalized']) if (p[f] !== undefined) out[`path.${f}`] = String(p[f]);
      (p.segments as string[]).forEach((s, i) => (out[`path[${i}]`] = s));
    } else walk(v, k);
  }
  return out;
}

interface GitGenerator {
  repoURL?: string;
  revision?: string;
  pathParamPrefix?: string;
  directories?: Array<{ path: string; exclude?: boolean }>;
  files?: Array<{ path: string; exclude?: boolean }>;
  values?: Record<string, string>;
}

function withPath(gen: GitGenerator, p: Params, extra: Params = {}): Params {
  return gen.pathParamPrefix ? { ...extra, [gen.pathParamPrefix]: { path: p } } : { ...extra, path: p };
}

// Directories generator: Go's path.Match, where `*` matches within one path segment.
const matcher = (glob: string) => picomatch(glob, { dot: true });

// Files generator: by default Argo CD lists files with `git ls-files <glob>`, and in git's
// pathspec matching (wildmatch without WM_PATHNAME) `*` and `?` also match `/`:
// `a/*/x.yaml` matches `a/b/c/x.yaml` too. (Argo CD's --enable-new-git-file-globbing switches
// to segment-bound globs; a pattern pair that excludes the deeper level is exact under both.)
// A pathspec without wildcards matches that path or anything under it.
export function gitFilesMatcher(glob: string): (file: string) => boolean {
  if (!/[*?[]/.test(glob)) {
    const p = glob.replace(/\/+$/, '');
    return (f) => f === p || f.startsWith(`${p}/`);
  }
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i];
    if (ch === '*') {
      while (glob[i + 1] === '*') i++;
      re += '.*';
    } else if (ch === '?') re += '.';
    else if (ch === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let cls = glob.slice(i + 1, end);
        if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        re += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += ch.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  const rx = new RegExp(`^${re}$`, 's');
  return (f) => rx.test(f);
}

async function gitParams(gen: GitGenerator, tree: RepoTree): Promise<{ params: Params[]; errors: Array<{ file: string; message: string }> }> {
  const errors: Array<{ file: string; message: string }> = [];
  if (gen.directories) {
    const inc = gen.directories.filter((d) => !d.exclude).map((d) => matcher(d.path));
    const exc = gen.directories.filter((d) => d.exclude).map((d) => matcher(d.path));
    const dirs = treeDirs(tree).filter((d) => inc.some((m) => m(d)) && !exc.some((m) => m(d)));
    return { params: dirs.map((d) => withPath(gen, pathParams(d))), errors };
  }
  const inc = (gen.files ?? []).filter((f) => !f.exclude).map((f) => gitFilesMatcher(f.path));
  const exc = (gen.files ?? []).filter((f) => f.exclude).map((f) => gitFilesMatcher(f.path));
  const params: Params[] = [];
  for (const file of tree.files.filter((f) => inc.some((m) => m(f)) && !exc.some((m) => m(f)))) {
    const { docs, problem } = parseYamlData(file, (await tree.read(file)) ?? '');
    if (problem) {
      errors.push({ file, message: `${file}: unable to parse file: line ${problem.line}: ${problem.message}` });
      continue;
    }
    const doc: unknown = docs[0];
    // A file holding a list yields one parameter set per element.
    for (const el of Array.isArray(doc) ? doc : [doc ?? {}]) {
      params.push(withPath(gen, pathParams(path.posix.dirname(file), file), typeof el === 'object' && el ? (el as Params) : {}));
    }
  }
  return { params, errors };
}

function renderDeep(v: unknown, render: (s: string) => string): unknown {
  if (typeof v === 'string') return render(v);
  if (Array.isArray(v)) return v.map((x) => renderDeep(x, render));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, renderDeep(x, render)]));
  return v;
}

function toGenerated(app: K8sObject, origin: GeneratedApp['origin']): GeneratedApp {
  type Source = { repoURL?: string; path?: string; targetRevision?: unknown };
  const spec = (app.spec ?? {}) as { project?: string; source?: Source; sources?: Source[]; destination?: GeneratedApp['destination'] };
  const source = spec.source ?? spec.sources?.find((s) => s.path !== undefined) ?? spec.sources?.[0];
  const rev = source?.targetRevision;
  return {
    name: app.metadata?.name ?? '?', project: spec.project ?? 'default', repoURL: source?.repoURL, path: source?.path?.replace(/^\.?\/+/, '').replace(/\/+$/, ''),
    ...(rev !== undefined && rev !== null ? { targetRevision: String(rev) } : {}),
    destination: spec.destination ?? {}, app, origin,
  };
}

interface AppSetSpec {
  goTemplate?: boolean;
  goTemplateOptions?: string[];
  generators?: Array<Record<string, unknown>>;
  template?: { metadata?: Record<string, unknown>; spec?: Record<string, unknown> };
}

/**
 * The Applications that the ApplicationSets and Applications rendered from a cluster entry
 * point stand for. Only git generators on `repoURL` (the repository being validated) and list
 * generators are expanded; anything else is reported once as a note.
 */
export async function expandApplications(cluster: Rendered, repoURL: string, tree: RepoTree): Promise<Expansion> {
  const out: Expansion = { apps: [], findings: [], incomplete: false };
  for (const o of cluster.objects) {
    if (o.apiVersion?.startsWith('argoproj.io/') && o.kind === 'Application') out.apps.push(toGenerated(o, { r: cluster, o }));
    if (!o.apiVersion?.startsWith('argoproj.io/') || o.kind !== 'ApplicationSet') continue;
    const spec = (o.spec ?? {}) as AppSetSpec;
    const at = (rule: string, severity: Finding['severity'], message: string, pointer?: string): Finding => ({
      severity, rule, overlay: cluster.target.dir, resource: resourceId(o), message, ...locate(cluster, o, pointer),
    });
    const missingkey = (spec.goTemplateOptions ?? []).map((s) => /^missingkey=(\w+)$/.exec(s)?.[1]).find(Boolean) as 'error' | 'default' | 'zero' | undefined;
    for (const [gi, g] of (spec.generators ?? []).entries()) {
      let params: Params[];
      if (g.git) {
        const gen = g.git as GitGenerator;
        if (!sameRepo(gen.repoURL, repoURL)) continue; // another repository's revision: not ours to evaluate
        const res = await gitParams(gen, tree);
        // Filed under the cluster entry point, but about the folder whose file broke the generator.
        for (const e of res.errors) out.findings.push({ ...at('argo-template', 'error', `generator ${gi}: ${e.message}`, `/spec/generators/${gi}`), subjects: [path.posix.dirname(e.file)] });
        params = res.params;
        if (gen.values) params = params.map((p) => ({ ...p, values: renderDeep(gen.values, (s) => (spec.goTemplate ? renderGoTemplate(s, p, { missingkey }) : renderFastTemplate(s, flatten(p)))) }));
      } else if (g.list) {
        params = ((g.list as { elements?: Params[] }).elements ?? []).map((e) => ({ ...e }));
      } else {
        out.incomplete = true;
        out.findings.push(at('argo-generator', 'info', `generator ${gi} (${Object.keys(g).join(', ')}) is not expanded by the toolkit: its Applications are not checked`, `/spec/generators/${gi}`));
        continue;
      }
      if (g.template || g.selector) {
        out.incomplete = true;
        out.findings.push(at('argo-generator', 'info', `generator ${gi} has a per-generator template or selector, which the toolkit does not apply`, `/spec/generators/${gi}`));
      }
      for (const p of params) {
        try {
          const render = spec.goTemplate ? (s: string) => renderGoTemplate(s, p, { missingkey }) : (s: string) => renderFastTemplate(s, flatten(p));
          const t = renderDeep(spec.template ?? {}, render) as AppSetSpec['template'];
          const app: K8sObject = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: (t?.metadata ?? {}) as K8sObject['metadata'], spec: t?.spec ?? {} };
          out.apps.push(toGenerated(app, { r: cluster, o }));
        } catch (e) {
          if (!(e instanceof TemplateError)) throw e;
          const from = (p.path as Params | undefined)?.path ?? JSON.stringify(p).slice(0, 80);
          const dir = (p.path as Params | undefined)?.path;
          out.findings.push({ ...at('argo-template', 'error', `template fails for ${from}: ${e.message}; the ApplicationSet controller stops with an error and updates none of its Applications`, '/spec/template'), ...(typeof dir === 'string' ? { subjects: [dir] } : {}) });
        }
      }
    }
  }
  return out;
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
