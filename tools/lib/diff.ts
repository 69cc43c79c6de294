// Rendered diff between two revisions: what Argo CD would change, per app and object.
import { isDeepStrictEqual } from 'node:util';
import { discoverApps } from './apps.js';
import { loadConfig, type Config } from './config.js';
import { resourceId, type K8sObject } from './kustomize.js';
import { renderLikeArgo } from './argocd.js';
import { affectedTargets, changedFiles, resolveBase, withWorktree } from './changes.js';
import { appTargets, clusterTargets, type Rendered } from './render.js';
import { findKustomize } from './tools.js';

export interface FieldChange {
  /** Dotted path; list items with a `name` are addressed by it: containers[backend].image */
  path: string;
  before?: unknown;
  after?: unknown;
}

export interface ObjectDiff {
  resource: string;
  change: 'added' | 'removed' | 'changed';
  fields: FieldChange[];
}

export interface OverlayDiff {
  overlay: string;
  app?: string;
  env?: string;
  objects: ObjectDiff[];
  /** Render errors on either side (the diff of that overlay is then incomplete). */
  errors: string[];
}

export interface DiffResult {
  base: string;
  head: string;
  overlays: OverlayDiff[];
}

const REDACTED = '<redacted>';

/** Fields the API server or Argo CD own: never part of a desired-state diff. */
const IGNORED_METADATA = ['creationTimestamp', 'resourceVersion', 'uid', 'generation', 'managedFields', 'selfLink'];
const IGNORED_ANNOTATIONS = [/^kubectl\.kubernetes\.io\/last-applied-configuration$/, /^argocd\.argoproj\.io\/tracking-id$/, /^deployment\.kubernetes\.io\/revision$/, /^config\.kubernetes\.io\//, /^internal\.config\.kubernetes\.io\//];

export function normalize(o: K8sObject): K8sObject {
  const copy = structuredClone(o);
  delete copy.status;
  for (const k of IGNORED_METADATA) delete copy.metadata[k];
  const ann = copy.metadata.annotations;
  if (ann) {
    for (const k of Object.keys(ann)) if (IGNORED_ANNOTATIONS.some((re) => re.test(k))) delete ann[k];
    if (!Object.keys(ann).length) delete copy.metadata.annotations;
  }
  return copy;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function namedList(v: unknown): v is Array<{ name: string }> {
  return Array.isArray(v) && v.length > 0 && v.every((x) => isObj(x) && typeof x.name === 'string') && new Set(v.map((x) => (x as { name: string }).name)).size === v.length;
}

/** Field-level differences; lists of named items are matched by name, not position. */
export function diffValues(before: unknown, after: unknown, at = ''): FieldChange[] {
  if (isDeepStrictEqual(before, after)) return [];
  if (isObj(before) && isObj(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => diffValues(before[k], after[k], at ? `${at}.${k}` : k));
  }
  if (namedList(before) && namedList(after)) {
    const names = [...new Set([...before.map((x) => x.name), ...after.map((x) => x.name)])];
    return names.flatMap((n) => diffValues(before.find((x) => x.name === n), after.find((x) => x.name === n), `${at}[${n}]`));
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((b, i) => diffValues(b, after[i], `${at}[${i}]`));
  }
  const change: FieldChange = { path: at };
  if (before !== undefined) change.before = before;
  if (after !== undefined) change.after = after;
  return [change];
}

/** Secret values and any configured sensitive key never reach a PR comment. */
export function redact(o: K8sObject, sensitiveKeys: string[]): K8sObject {
  const keys = new Set(sensitiveKeys.map((k) => k.toLowerCase()));
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (!isObj(v)) return v;
    // env entries: {name: PASSWORD, value: ...}
    if (typeof v.name === 'string' && 'value' in v && keys.has(v.name.toLowerCase())) return { ...v, value: REDACTED };
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, keys.has(k.toLowerCase()) ? REDACTED : walk(x)]));
  };
  const out = walk(o) as K8sObject;
  if (o.kind === 'Secret') {
    for (const f of ['data', 'stringData']) {
      const d = out[f];
      if (isObj(d)) out[f] = Object.fromEntries(Object.keys(d).map((k) => [k, REDACTED]));
    }
  }
  return out;
}

function idOf(o: K8sObject): string {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '';
  return `${group}|${resourceId(o)}`;
}

export function diffObjects(before: K8sObject[], after: K8sObject[], sensitiveKeys: string[] = []): ObjectDiff[] {
  const prep = (list: K8sObject[]) => new Map(list.map((o) => [idOf(o), redact(normalize(o), sensitiveKeys)]));
  const b = prep(before);
  const a = prep(after);
  const out: ObjectDiff[] = [];
  for (const [id, o] of a) {
    const old = b.get(id);
    if (!old) out.push({ resource: resourceId(o), change: 'added', fields: [] });
    else {
      const fields = diffValues(old, o);
      if (fields.length) out.push({ resource: resourceId(o), change: 'changed', fields });
    }
  }
  for (const [id, o] of b) if (!a.has(id)) out.push({ resource: resourceId(o), change: 'removed', fields: [] });
  return out.sort((x, y) => x.resource.localeCompare(y.resource));
}

/**
 * Renders the targets of the repo at `root` the way Argo CD does (with each cluster's
 * kustomize.buildOptions); with `changed`, only the targets whose inputs changed.
 */
async function renderAffected(root: string, envVars: NodeJS.ProcessEnv, changed?: string[], allowRemote?: boolean): Promise<{ config: Config; rendered: Rendered[] }> {
  const config = await loadConfig(root, envVars);
  if (allowRemote) config.render.allowRemote = true;
  const apps = await discoverApps(config);
  const tool = await findKustomize(envVars);
  const all = [...appTargets(apps), ...clusterTargets(config, config.environments)];
  const wanted = changed ? new Set(await affectedTargets(config, all, changed)) : new Set(all);
  // Cluster entry points are always rendered: they carry the build options for their overlays.
  const rendered = await renderLikeArgo(config, tool, all.filter((t) => wanted.has(t) || t.kind === 'cluster'));
  return { config, rendered: rendered.filter((r) => wanted.has(r.target)) };
}

export interface DiffOptions {
  cwd: string;
  /** Base revision (default: merge base with origin/<defaultBranch>). */
  base?: string;
  /** Head revision (default: the working tree). */
  head?: string;
  /** Restrict to these overlay folders (repo-relative). */
  overlays?: string[];
  envVars?: NodeJS.ProcessEnv;
  /** Fetch remote bases and Helm repositories (pinned ones only); default: offline. */
  allowRemote?: boolean;
}

/** Renders base and head for every overlay and cluster entry point whose inputs changed, and diffs them. */
export async function renderedDiff(opts: DiffOptions): Promise<DiffResult> {
  const envVars = opts.envVars ?? process.env;
  const headConfig = await loadConfig(opts.cwd, envVars);
  const base = await resolveBase(opts.cwd, opts.base, headConfig.defaultBranch);
  const head = opts.head ? await resolveBase(opts.cwd, opts.head, headConfig.defaultBranch) : undefined;
  // Against the working tree only changed inputs are rendered; between two commits, everything.
  const changed = head ? undefined : await changedFiles(opts.cwd, base);
  const [before, after] = await Promise.all([
    withWorktree(opts.cwd, base, (dir) => renderAffected(dir, envVars, changed, opts.allowRemote)),
    head ? withWorktree(opts.cwd, head, (dir) => renderAffected(dir, envVars, undefined, opts.allowRemote)) : renderAffected(opts.cwd, envVars, changed, opts.allowRemote),
  ]);
  const sensitive = after.config.sensitiveKeys;
  const beforeBy = new Map(before.rendered.map((r) => [r.target.dir, r]));
  const afterBy = new Map(after.rendered.map((r) => [r.target.dir, r]));
  const dirs = [...new Set([...beforeBy.keys(), ...afterBy.keys()])].filter((d) => !opts.overlays || opts.overlays.includes(d)).sort();
  const overlays: OverlayDiff[] = [];
  for (const dir of dirs) {
    const b = beforeBy.get(dir);
    const a = afterBy.get(dir);
    const errors = [...(b?.findings ?? []), ...(a?.findings ?? [])].filter((f) => f.severity === 'error').map((f) => `${f.file ?? dir}: ${f.message}`);
    const objects = diffObjects(b?.objects ?? [], a?.objects ?? [], sensitive);
    if (objects.length || errors.length) {
      const t = (a ?? b)!.target;
      overlays.push({ overlay: dir, app: t.app?.id, env: t.env?.name, objects, errors });
    }
  }
  return { base, head: head ?? 'working tree', overlays };
}

function show(v: unknown): string {
  if (v === undefined) return '∅';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > 200 ? `${s.slice(0, 197)}...` : s;
}

export function formatDiffText(d: DiffResult): string {
  if (!d.overlays.length) return `no rendered changes between ${d.base.slice(0, 12)} and ${d.head.slice(0, 12)}`;
  const lines: string[] = [];
  for (const o of d.overlays) {
    lines.push(`${o.overlay}${o.app ? ` (${o.app} in ${o.env})` : ''}`);
    for (const e of o.errors) lines.push(`  ! ${e}`);
    for (const obj of o.objects) {
      const sign = obj.change === 'added' ? '+' : obj.change === 'removed' ? '-' : '~';
      lines.push(`  ${sign} ${obj.resource}`);
      for (const f of obj.fields) lines.push(`      ${f.path}: ${show(f.before)} -> ${show(f.after)}`);
    }
  }
  return lines.join('\n');
}

const MD_LIMIT = 65_536;

function mdEscape(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/`/g, 'ˋ');
}

/** A PR comment: summary table first, details collapsed per app, always within GitHub's limit. */
export function formatMarkdown(d: DiffResult, opts: { maxChars?: number } = {}): string {
  const max = Math.min(opts.maxChars ?? MD_LIMIT, MD_LIMIT);
  const head = [`### Rendered diff`, '', `Base \`${d.base.slice(0, 12)}\` → head \`${d.head.slice(0, 12)}\``, ''];
  if (!d.overlays.length) return [...head, 'No rendered changes.'].join('\n');
  const count = (o: OverlayDiff, c: ObjectDiff['change']) => o.objects.filter((x) => x.change === c).length;
  const table = ['| overlay | app | env | added | changed | removed |', '| --- | --- | --- | --- | --- | --- |'];
  for (const o of d.overlays) table.push(`| \`${o.overlay}\`${o.errors.length ? ' ⚠️' : ''} | ${o.app ?? ''} | ${o.env ?? ''} | ${count(o, 'added')} | ${count(o, 'changed')} | ${count(o, 'removed')} |`);
  let out = [...head, ...table, '', ''].join('\n');
  const omitted: string[] = [];
  for (const [i, o] of d.overlays.entries()) {
    const body: string[] = [`<details><summary><code>${o.overlay}</code></summary>`, ''];
    for (const e of o.errors) body.push(`> ⚠️ ${mdEscape(e)}`, '');
    body.push('```diff');
    for (const obj of o.objects) {
      body.push(`${obj.change === 'added' ? '+' : obj.change === 'removed' ? '-' : '!'} ${obj.resource}`);
      for (const f of obj.fields) {
        if (f.before !== undefined) body.push(`-   ${f.path}: ${show(f.before)}`);
        if (f.after !== undefined) body.push(`+   ${f.path}: ${show(f.after)}`);
      }
    }
    body.push('```', '</details>', '');
    const chunk = body.join('\n');
    const reserve = 200 + d.overlays.slice(i).reduce((n, x) => n + x.overlay.length + 4, 0);
    if (out.length + chunk.length + reserve > max) omitted.push(o.overlay);
    else out += chunk;
  }
  if (omitted.length) {
    let note = `\n_Truncated to fit GitHub's comment limit: details of ${omitted.length} overlay(s) left out: ${omitted.map((x) => `\`${x}\``).join(', ')}. Run \`npm run diff -- --base ${d.base.slice(0, 12)}\` for the full diff._\n`;
    if (out.length + note.length > max) note = note.slice(0, Math.max(0, max - out.length - 1));
    out += note;
  }
  return out.slice(0, max);
}
