// Rendered diff between two revisions: what Argo CD would change, per app and object.
import { isDeepStrictEqual } from 'node:util';
import { appInventory } from '../argocd/applications.js';
import { renderInventoryApps, REPO_SERVER_KINDS } from '../argocd/clusterapps.js';
import { CONFIG_FILE, loadConfig, type Config } from '../config/config.js';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { readReleaseFile } from '../config/releasefiles.js';
import path from 'node:path';
import { resourceId, type K8sObject } from '../core/k8s.js';
import { renderLikeArgo } from '../argocd/argocd.js';
import { affectedTargets, changedFiles, loadBaseConfig, resolveBase, trustRenderSettings, withWorktree } from '../render/changes.js';
import { appTargets, clusterTargets, targetKey } from '../render/render.js';
import { type Rendered, type Target } from '../render/rendered.js';
import { findKustomize } from '../core/tools.js';
import { CREDENTIAL_FLAG, htmlText, mdCode, oneLine, redactAll, redactText, redactValue, REDACTED, sensitiveKey } from '../core/redact.js';

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
  /** The folder at the base revision, when the layout moved it. */
  from?: string;
  app?: string;
  env?: string;
  objects: ObjectDiff[];
  /** Render errors on either side (the diff of that overlay is then incomplete). */
  errors: string[];
  /** gitops.yaml promotion.files of the overlay that differ (whether or not the render reads them). */
  releaseFiles?: Array<{ file: string; change: 'added' | 'removed' | 'changed' }>;
}

export interface DiffResult {
  base: string;
  head: string;
  overlays: OverlayDiff[];
  /** How a side was read, e.g. a base revision without gitops.yaml. */
  notes?: string[];
}


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

/** Where a changed field sits: each step's key and the object holding it (for redaction). */
interface Step {
  key: string;
  parent?: Record<string, unknown>;
  /** The `name` of a named-list item (env[DB_PASSWORD]). */
  item?: string;
  /** The list an index step is in (args: the item after `--db-password` is a credential). */
  list?: unknown[];
}

function walkDiff(before: unknown, after: unknown, at: string, trail: Step[]): Array<{ change: FieldChange; trail: Step[] }> {
  if (isDeepStrictEqual(before, after)) return [];
  if (isObj(before) && isObj(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => walkDiff(before[k], after[k], at ? `${at}.${k}` : k, [...trail, { key: k, parent: k in after ? after : before }]));
  }
  if (namedList(before) && namedList(after)) {
    const names = [...new Set([...before.map((x) => x.name), ...after.map((x) => x.name)])];
    return names.flatMap((n) => walkDiff(before.find((x) => x.name === n), after.find((x) => x.name === n), `${at}[${n}]`, [...trail, { key: n, item: n }]));
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((b, i) => walkDiff(b, after[i], `${at}[${i}]`, [...trail, { key: String(i), list: after }]));
  }
  const change: FieldChange = { path: at };
  if (before !== undefined) change.before = before;
  if (after !== undefined) change.after = after;
  return [{ change, trail }];
}

/**
 * A changed field with its values redacted: Secret data and stringData, values under keys that
 * look sensitive (or are configured in diff.sensitiveKeys), env entries with such a name, and
 * token-shaped strings. Key names stay: a change of a secret value is still a change.
 */
function redactChange(kind: string, change: FieldChange, trail: Step[], extra: string[]): FieldChange {
  const secretData = kind === 'Secret' && (trail[0]?.key === 'data' || trail[0]?.key === 'stringData');
  const flagged = (st: Step | undefined) => !!st?.list && Number(st.key) > 0 && typeof st.list[Number(st.key) - 1] === 'string' && CREDENTIAL_FLAG.test(st.list[Number(st.key) - 1] as string);
  const hidden = secretData || flagged(trail[trail.length - 1]) || trail.some((s, i) => (s.item !== undefined ? sensitiveKey(s.item, undefined, extra) && trail[i + 1]?.key === 'value' : sensitiveKey(s.key, s.parent, extra)));
  const last = trail[trail.length - 1];
  const redact = (v: unknown): unknown => {
    if (secretData && trail.length === 1 && isObj(v)) return Object.fromEntries(Object.keys(v).map((k) => [k, REDACTED]));
    if (hidden) return redactAll(v);
    return redactValue(v, last?.item === undefined ? last?.key : undefined, last?.parent, extra);
  };
  const out: FieldChange = { path: change.path };
  if ('before' in change) out.before = redact(change.before);
  if ('after' in change) out.after = redact(change.after);
  return out;
}

function idOf(o: K8sObject): string {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '';
  return `${group}|${resourceId(o)}`;
}

export function diffObjects(before: K8sObject[], after: K8sObject[], sensitiveKeys: string[] = []): ObjectDiff[] {
  // Compared unredacted (a change of a secret value is a change), shown redacted.
  const prep = (list: K8sObject[]) => new Map(list.map((o) => [idOf(o), normalize(o)]));
  const b = prep(before);
  const a = prep(after);
  const out: ObjectDiff[] = [];
  for (const [id, o] of a) {
    const old = b.get(id);
    if (!old) out.push({ resource: resourceId(o), change: 'added', fields: [] });
    else {
      const fields = walkDiff(old, o, '', []).map(({ change, trail }) => redactChange(o.kind, change, trail, sensitiveKeys));
      if (fields.length) out.push({ resource: resourceId(o), change: 'changed', fields });
    }
  }
  for (const [id, o] of b) if (!a.has(id)) out.push({ resource: resourceId(o), change: 'removed', fields: [] });
  // A Secret's value copied elsewhere (a ConfigMap, an env value, an annotation) stays hidden there too.
  const values = secretValues([...before, ...after]);
  if (values.length) for (const d of out) d.fields = d.fields.map((f) => ({ path: f.path, ...('before' in f ? { before: scrubIn(f.before, values) } : {}), ...('after' in f ? { after: scrubIn(f.after, values) } : {}) }));
  return out.sort((x, y) => x.resource.localeCompare(y.resource));
}

/** The values of every Secret's data (raw and base64-decoded) and stringData, longest first (short ones would blank out words). */
function secretValues(objects: K8sObject[]): string[] {
  const out = new Set<string>();
  for (const o of objects) {
    if (o.kind !== 'Secret') continue;
    for (const f of ['data', 'stringData'] as const) {
      const d = (o as Record<string, unknown>)[f];
      if (!isObj(d)) continue;
      for (const v of Object.values(d)) {
        if (typeof v !== 'string') continue;
        out.add(v.trim());
        if (f === 'data') out.add(Buffer.from(v, 'base64').toString('utf8').trim());
      }
    }
  }
  return [...out].filter((v) => v.length >= 6 && v !== REDACTED).sort((x, y) => y.length - x.length);
}

function scrubIn(v: unknown, values: string[]): unknown {
  if (typeof v === 'string') return values.reduce((s, x) => (s.includes(x) ? s.split(x).join(REDACTED) : s), v);
  if (Array.isArray(v)) return v.map((x) => scrubIn(x, values));
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, scrubIn(x, values)]));
  return v;
}

/**
 * Renders the targets of the repo at `root` the way Argo CD does (with each cluster's
 * kustomize.buildOptions); with `changed`, only the targets whose inputs changed.
 */
async function renderAffected(root: string, envVars: NodeJS.ProcessEnv, changed?: string[], allowRemote?: boolean, base?: { current: string }, baseRev?: string): Promise<{ config?: Config; rendered: Rendered[]; note?: string; files: Map<string, Record<string, string | null>> }> {
  let config: Config;
  let note: string | undefined;
  if (base) {
    const loaded = await loadBaseConfig(root, envVars, base.current);
    if (!loaded.config) return { rendered: [], note: loaded.note, files: new Map() };
    config = loaded.config;
    note = loaded.note;
  } else config = await loadConfig(root, envVars);
  if (allowRemote) config.render.allowRemote = true;
  // The head's render settings that widen what is fetched come from the base revision (or --allow-remote).
  if (!base && baseRev) await trustRenderSettings(config, baseRev, envVars, allowRemote);
  const tool = await findKustomize(envVars);
  // The one inventory (validate's): overlays, plus the Applications Argo CD's repo-server code renders.
  const inventory = await appInventory(config, tool, { rendersAlso: [...REPO_SERVER_KINDS] });
  const all = [...appTargets(inventory.overlays), ...clusterTargets(config, config.environments)];
  const wanted = changed ? new Set(await affectedTargets(config, all, changed)) : new Set(all);
  // A release file the render does not read is still part of the release: its overlay counts as affected.
  if (changed) for (const t of all) if (t.app && config.releaseFiles.some((f) => changed.includes(path.posix.join(t.dir, f)))) wanted.add(t);
  const files = new Map<string, Record<string, string | null>>();
  for (const t of all) {
    if (!t.app || !wanted.has(t) || !config.releaseFiles.length) continue;
    const per: Record<string, string | null> = {};
    for (const f of config.releaseFiles) {
      const bytes = await readReleaseFile(config.root, t.dir, f).catch(() => undefined);
      per[f] = bytes === undefined ? null : createHash('sha256').update(bytes).digest('hex');
    }
    files.set(targetKey(t), per);
  }
  // Helm, plain, jsonnet, overridden and multi-source Applications: rendered by Argo CD's
  // repo-server code, matched by app id and environment; selected by the files their sources read.
  const argo = await renderInventoryApps(config, tool, inventory, { env: envVars, ...(changed ? { select: (ts: Target[]) => affectedTargets(config, ts, changed) } : {}) });
  // Where Argo CD renders an overlay otherwise (its Application's settings), its render stands in.
  const argoKeys = new Set(argo.targets.map(targetKey));
  // Cluster entry points are always rendered: they carry the build options for their overlays.
  const rendered = await renderLikeArgo(config, tool, all.filter((t) => (wanted.has(t) && !argoKeys.has(targetKey(t))) || t.kind === 'cluster'));
  return { config, rendered: [...rendered.filter((r) => wanted.has(r.target) && !argoKeys.has(targetKey(r.target))), ...argo.renders.map((x) => x.rendered)], files, ...(note ? { note } : {}) };
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
  /** Called as each phase starts (the CLI shows it on a terminal: lib/core/progress.ts). */
  onProgress?: (phase: string) => void;
}

/** Renders base and head for every overlay and cluster entry point whose inputs changed, and diffs them. */
export async function renderedDiff(opts: DiffOptions): Promise<DiffResult> {
  const envVars = opts.envVars ?? process.env;
  const headConfig = await loadConfig(opts.cwd, envVars);
  // A base revision without a usable gitops.yaml is read with this one (and the diff says so).
  const headText = await readFile(path.join(headConfig.root, CONFIG_FILE), 'utf8');
  const base = await resolveBase(opts.cwd, opts.base, headConfig.defaultBranch);
  const head = opts.head ? await resolveBase(opts.cwd, opts.head, headConfig.defaultBranch) : undefined;
  // Against the working tree only changed inputs are rendered; between two commits, everything.
  const changed = head ? undefined : await changedFiles(opts.cwd, base);
  opts.onProgress?.(`rendering ${base.slice(0, 12)} and ${head ? head.slice(0, 12) : 'the working tree'}${changed ? ` (${changed.length} changed files)` : ''}`);
  const [before, after] = await Promise.all([
    withWorktree(opts.cwd, base, (dir) => renderAffected(dir, envVars, changed, opts.allowRemote, { current: headText })),
    head ? withWorktree(opts.cwd, head, (dir) => renderAffected(dir, envVars, undefined, opts.allowRemote, undefined, base)) : renderAffected(opts.cwd, envVars, changed, opts.allowRemote, undefined, base),
  ]);
  opts.onProgress?.('comparing objects');
  const sensitive = after.config?.sensitiveKeys ?? [];
  // Matched by app and environment (or cluster), not folder: a layout change diffs what renders.
  const beforeBy = new Map(before.rendered.map((r) => [targetKey(r.target), r]));
  const afterBy = new Map(after.rendered.map((r) => [targetKey(r.target), r]));
  const dirOf = (k: string) => (afterBy.get(k) ?? beforeBy.get(k))!.target.dir;
  const keys = [...new Set([...beforeBy.keys(), ...afterBy.keys()])]
    .filter((k) => !opts.overlays || opts.overlays.includes(dirOf(k)) || opts.overlays.includes(beforeBy.get(k)?.target.dir ?? ''))
    .sort((x, y) => dirOf(x).localeCompare(dirOf(y)));
  const overlays: OverlayDiff[] = [];
  for (const key of keys) {
    const dir = dirOf(key);
    const b = beforeBy.get(key);
    const a = afterBy.get(key);
    const errors = [...(b?.findings ?? []), ...(a?.findings ?? [])].filter((f) => f.severity === 'error').map((f) => `${f.file ?? dir}: ${f.message}`);
    const objects = diffObjects(b?.objects ?? [], a?.objects ?? [], sensitive);
    const fb = before.files.get(key) ?? {};
    const fa = after.files.get(key) ?? {};
    const releaseFiles = [...new Set([...Object.keys(fb), ...Object.keys(fa)])].sort().flatMap((f) => {
      const x = fb[f] ?? null;
      const y = fa[f] ?? null;
      if (x === y) return [];
      return [{ file: f, change: (x === null ? 'added' : y === null ? 'removed' : 'changed') as 'added' | 'removed' | 'changed' }];
    });
    if (objects.length || errors.length || releaseFiles.length) {
      const t = (a ?? b)!.target;
      const moved = a && b && a.target.dir !== b.target.dir ? { from: b.target.dir } : {};
      overlays.push({ overlay: dir, ...moved, app: t.app?.id, env: t.env?.name, objects, errors, ...(releaseFiles.length ? { releaseFiles } : {}) });
    }
  }
  const notes = [before.note, after.note].filter((n): n is string => !!n);
  return { base, head: head ?? 'working tree', overlays, ...(notes.length ? { notes } : {}) };
}

/** A value on one line, redacted, at most 200 characters. */
function show(v: unknown): string {
  if (v === undefined) return '∅';
  const s = redactText(oneLine(typeof v === 'string' ? v : JSON.stringify(v)));
  return s.length > 200 ? `${s.slice(0, 197)}...` : s;
}

/** Repository text on one line, redacted (names, paths, error messages). */
const line = (s: string) => redactText(oneLine(s));

export function formatDiffText(d: DiffResult): string {
  const notes = (d.notes ?? []).map((n) => `note: ${line(n)}`);
  if (!d.overlays.length) return [...notes, `no rendered changes between ${line(d.base.slice(0, 12))} and ${line(d.head.slice(0, 12))}`].join('\n');
  const lines: string[] = [...notes];
  for (const o of d.overlays) {
    lines.push(line(`${o.overlay}${o.from ? ` (was ${o.from})` : ''}${o.app ? ` (${o.app} in ${o.env})` : ''}`));
    for (const e of o.errors) lines.push(`  ! ${line(e)}`);
    for (const f of o.releaseFiles ?? []) lines.push(`  ${f.change === 'added' ? '+' : f.change === 'removed' ? '-' : '~'} release file ${line(f.file)}`);
    for (const obj of o.objects) {
      const sign = obj.change === 'added' ? '+' : obj.change === 'removed' ? '-' : '~';
      lines.push(`  ${sign} ${line(obj.resource)}`);
      for (const f of obj.fields) lines.push(`      ${line(f.path)}: ${show(f.before)} -> ${show(f.after)}`);
    }
  }
  return redactText(lines.join('\n'));
}

const MD_LIMIT = 65_536;

/** Repository text in an inline code span: no way out of the span, the cell or the line. */
const code = (s: string) => mdCode(redactText(s));

/**
 * A PR comment: summary table first, details collapsed per app, always within GitHub's limit.
 * Repository text (paths, names, values, error messages) sits only in code spans, in the diff
 * fence one line per field (so it cannot close the fence), or HTML-escaped in <summary>: it
 * cannot add markdown, HTML, comments, @-mentions or #-links to the comment.
 */
export function formatMarkdown(d: DiffResult, opts: { maxChars?: number } = {}): string {
  const max = Math.min(opts.maxChars ?? MD_LIMIT, MD_LIMIT);
  const head = [`### Rendered diff`, '', `Base ${code(d.base.slice(0, 12))} → head ${code(d.head.slice(0, 12))}`, '', ...(d.notes ?? []).map((n) => `> note: ${code(n)}\n`)];
  if (!d.overlays.length) return [...head, 'No rendered changes.'].join('\n');
  const count = (o: OverlayDiff, c: ObjectDiff['change']) => o.objects.filter((x) => x.change === c).length;
  const table = ['| overlay | app | env | added | changed | removed |', '| --- | --- | --- | --- | --- | --- |'];
  for (const o of d.overlays) table.push(`| ${code(o.overlay)}${o.errors.length ? ' ⚠️' : ''} | ${o.app ? code(o.app) : ''} | ${o.env ? code(o.env) : ''} | ${count(o, 'added')} | ${count(o, 'changed')} | ${count(o, 'removed')} |`);
  let out = [...head, ...table, '', ''].join('\n');
  const omitted: string[] = [];
  for (const [i, o] of d.overlays.entries()) {
    const body: string[] = [`<details><summary><code>${htmlText(redactText(o.overlay))}</code></summary>`, ''];
    for (const e of o.errors) body.push(`> ⚠️ ${code(e)}`, '');
    body.push('```diff');
    for (const f of o.releaseFiles ?? []) body.push(`${f.change === 'added' ? '+' : f.change === 'removed' ? '-' : '!'} release file ${line(f.file)}`);
    for (const obj of o.objects) {
      body.push(`${obj.change === 'added' ? '+' : obj.change === 'removed' ? '-' : '!'} ${line(obj.resource)}`);
      for (const f of obj.fields) {
        if (f.before !== undefined) body.push(`-   ${line(f.path)}: ${show(f.before)}`);
        if (f.after !== undefined) body.push(`+   ${line(f.path)}: ${show(f.after)}`);
      }
    }
    body.push('```', '</details>', '');
    const chunk = body.join('\n');
    const reserve = 200 + d.overlays.slice(i).reduce((n, x) => n + x.overlay.length + 4, 0);
    if (out.length + chunk.length + reserve > max) omitted.push(o.overlay);
    else out += chunk;
  }
  if (omitted.length) {
    let note = `\n_Truncated to fit GitHub's comment limit: details of ${omitted.length} overlay(s) left out: ${omitted.map((x) => code(x)).join(', ')}. Run \`npm run diff -- --base ${oneLine(d.base.slice(0, 12)).replace(/`/g, '')}\` for the full diff._\n`;
    if (out.length + note.length > max) note = note.slice(0, Math.max(0, max - out.length - 1));
    out += note;
  }
  return out.slice(0, max);
}
