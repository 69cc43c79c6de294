// Where a rendered value was written, from kustomize's own origin tracking: the file a human
// edits to change it (the overlay patch, the component, the base resource), also under
// namePrefix/nameSuffix.
//
// How: locate() (render.ts) answers at once by kind and name (stripping the closure's name
// prefixes and suffixes), and leaves a request on the finding (LOCATE). When validation is done,
// locateOrigins() renders once more each target that has such findings and where something
// besides the resource file can have written a value: through the long-lived renderer with
// `buildMetadata: [originAnnotations, transformerAnnotations]` injected (renderer/main.go says
// what kustomize records there). Each object then says which file it came from and, in order,
// which kustomizations' transformers ran over it; which patch of a kustomization wrote a field
// kustomize does not say, so the functions below follow the pointer through each candidate
// patch, last to first. Without the renderer (or for a build it declines) the quick answer stays.
//
// The functions that match paths are pure (tests: origins.test.ts); the driver at the end reads
// files and asks the renderer.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isScalar, type Document, type LineCounter } from 'yaml';
import { imageName } from './images.js';
import { ROOT_ONLY } from './kustomize.js';
import { parseStream, type K8sObject } from '../core/k8s.js';
import { KUSTOMIZATION_NAMES } from '../config/layout.js';
import { mapLimit } from '../core/exec.js';
import type { Rendered } from './rendered.js';
import { rendererSupports } from '../core/renderer.js';
import { patternMatches, selectorSelects } from './selector.js';
import type { Finding } from '../core/finding.js';
import { lineOf, parseYaml, parseYamlData } from '../core/yamlfile.js';
import { pointerToPath } from '../core/pointer.js';

export type Seg = string | number;
export interface Loc {
  file?: string;
  line?: number;
}

/** A parsed YAML file of the repository (repo-relative name). */
export interface YamlDocs {
  docs: Document[];
  lines: LineCounter;
}
export type Loader = (file: string) => YamlDocs | undefined;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

// ---------------------------------------------------------------------------------------------
// Names

/**
 * Names `name` may have had before the closure's prefixes and suffixes were added, fewest
 * strips first (the quick lookup when no origin render is at hand: kustomize applies them in an
 * order the closure alone does not tell).
 */
export function affixNames(name: string, prefixes: string[], suffixes: string[]): string[] {
  const out = [name];
  const seen = new Set(out);
  for (let i = 0; i < out.length && out.length < 64; i++) {
    const n = out[i];
    const next = [
      ...prefixes.filter((p) => p && n.startsWith(p) && n.length > p.length).map((p) => n.slice(p.length)),
      ...suffixes.filter((s) => s && n.endsWith(s) && n.length > s.length).map((s) => n.slice(0, -s.length)),
    ];
    for (const x of next) if (!seen.has(x)) seen.add(x), out.push(x);
  }
  return out;
}

/** The source document of a rendered object by kind and name, past the closure's namePrefix/nameSuffix. */
export function sourceByAffixes<S extends { file: string; kind?: string; name?: string; doc: Document }>(sources: S[], o: Pick<K8sObject, 'kind' | 'metadata'>): S | undefined {
  const name = o.metadata?.name;
  if (!name) return undefined;
  const prefixes: string[] = [];
  const suffixes: string[] = [];
  for (const s of sources) {
    if (!KUSTOMIZATION_NAMES.includes(path.posix.basename(s.file))) continue;
    const k = s.doc.toJS() as Obj | null;
    if (!isObj(k)) continue;
    if (typeof k.namePrefix === 'string') prefixes.push(k.namePrefix);
    if (typeof k.nameSuffix === 'string') suffixes.push(k.nameSuffix);
  }
  if (!prefixes.length && !suffixes.length) return undefined;
  for (const n of affixNames(name, prefixes, suffixes).slice(1)) {
    const hit = sources.find((s) => s.kind === o.kind && s.name === n);
    if (hit) return hit;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// kustomize's annotations

export interface Origin {
  path?: string;
  repo?: string;
  ref?: string;
  configuredIn?: string;
  configuredBy?: { kind?: string; name?: string };
}

export interface Transformation {
  configuredIn: string;
  kind: string;
}

export const ORIGIN_ANNOTATION = 'config.kubernetes.io/origin';
export const TRANSFORMATIONS_ANNOTATION = 'alpha.config.kubernetes.io/transformations';

function yamlData(text: string | undefined): unknown {
  if (!text) return undefined;
  const { docs, problem } = parseYamlData('annotation', text);
  return problem ? undefined : docs[0];
}

export function parseOrigin(text: string | undefined): Origin | undefined {
  const o = yamlData(text);
  return isObj(o) ? (o as Origin) : undefined;
}

export function parseTransformations(text: string | undefined): Transformation[] {
  const t = yamlData(text);
  if (!Array.isArray(t)) return [];
  return t.filter(isObj).map((e) => ({ configuredIn: str(e.configuredIn) ?? '', kind: str((e.configuredBy as Obj | undefined)?.kind) ?? '' }));
}

// ---------------------------------------------------------------------------------------------
// Paths

/** Kinds kustomize merges with Kubernetes' merge keys; other kinds (CRDs) replace lists whole. */
export function isBuiltinApi(apiVersion: string | undefined): boolean {
  const group = apiVersion?.includes('/') ? apiVersion.slice(0, apiVersion.lastIndexOf('/')) : '';
  return !group.includes('.') || group.endsWith('.k8s.io');
}

const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  imagePullSecrets: 'name',
  resourceClaims: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  conditions: 'type',
};

/** The strategic-merge key of list `field` given one of its rendered elements; undefined: the list is replaced whole. */
export function mergeKey(field: Seg | undefined, element: unknown, builtin = true): string | undefined {
  if (!builtin || typeof field !== 'string' || !isObj(element)) return undefined;
  if (field === 'ports') return 'containerPort' in element ? 'containerPort' : 'port' in element ? 'port' : undefined;
  const k = MERGE_KEYS[field];
  return k && k in element ? k : undefined;
}

export function valueAt(o: unknown, p: Seg[]): { found: boolean; value?: unknown } {
  let v: unknown = o;
  for (const s of p) {
    if (Array.isArray(v) && typeof s === 'number' && s < v.length) v = v[s];
    else if (isObj(v) && Object.prototype.hasOwnProperty.call(v, String(s))) v = v[String(s)];
    else return { found: false };
  }
  return { found: true, value: v };
}

/**
 * Follows the rendered path `p` through `doc` (a patch or a source document): map keys as they
 * are, list elements by their merge key (the rendered element at that index says which value),
 * lists without one by index. `path` is how far it got (in `doc`'s own indices, for lineOf);
 * `complete` whether `doc` writes the value at `p`: it holds the whole path, or a list on it that
 * a strategic merge replaces whole.
 */
export function mapPath(doc: unknown, rendered: unknown, p: Seg[], builtin = true): { path: Seg[]; complete: boolean } {
  const out: Seg[] = [];
  let d = doc;
  let r = rendered;
  for (let i = 0; i < p.length; i++) {
    const seg = p[i];
    if (Array.isArray(r)) {
      if (!Array.isArray(d) || typeof seg !== 'number') return { path: out, complete: false };
      const el = r[seg];
      const key = mergeKey(p[i - 1], el, builtin);
      if (key) {
        const j = d.findIndex((x) => isObj(x) && x[key] === (el as Obj)[key]);
        if (j < 0) return { path: out, complete: false };
        out.push(j);
        d = d[j];
      } else {
        // Replaced whole: whoever wrote the list wrote its elements.
        if (seg >= d.length) return { path: out, complete: true };
        out.push(seg);
        d = d[seg];
      }
      r = el;
    } else {
      if (!isObj(d) || !Object.prototype.hasOwnProperty.call(d, String(seg))) return { path: out, complete: false };
      out.push(seg);
      d = d[String(seg)];
      r = isObj(r) ? r[String(seg)] : undefined;
    }
  }
  return { path: out, complete: true };
}

/**
 * JSON6902 operations (in order) that write the value at `p`: add, replace, copy or move to a
 * path that equals `p` or holds it (`-`, the end of a list, holds any element). `rest` is what
 * is left of `p` inside the operation's value.
 */
export function jsonOpsSetting(ops: unknown[], p: Seg[]): Array<{ index: number; rest: Seg[]; hasValue: boolean }> {
  const out: Array<{ index: number; rest: Seg[]; hasValue: boolean }> = [];
  ops.forEach((op, index) => {
    if (!isObj(op) || !['add', 'replace', 'copy', 'move'].includes(String(op.op)) || typeof op.path !== 'string') return;
    const at = pointerToPath(op.path);
    if (at.length > p.length) return;
    const holds = at.every((s, i) => s === p[i] || String(s) === String(p[i]) || (s === '-' && typeof p[i] === 'number'));
    if (holds) out.push({ index, rest: p.slice(at.length), hasValue: op.op !== 'copy' && op.op !== 'move' && 'value' in op });
  });
  return out;
}

/** Whether a patch's `target:` selects the object (Go regexps as kustomize anchors them; names: any it has had). */
export function selectorMatches(sel: unknown, o: Pick<K8sObject, 'apiVersion' | 'kind' | 'metadata'>, names: Iterable<string>): boolean {
  if (!isObj(sel)) return true;
  const re = patternMatches;
  const av = o.apiVersion ?? '';
  const group = av.includes('/') ? av.slice(0, av.lastIndexOf('/')) : '';
  const version = av.includes('/') ? av.slice(av.lastIndexOf('/') + 1) : av;
  if (!re(sel.kind, o.kind) || !re(sel.group, group) || !re(sel.version, version)) return false;
  if (typeof sel.name === 'string' && sel.name && ![...names].some((n) => re(sel.name, n))) return false;
  return selectorSelects(sel.labelSelector, o.metadata?.labels) && selectorSelects(sel.annotationSelector, o.metadata?.annotations);
}

/** A replacement's fieldPath (`spec.containers.[name=web].image`, `metadata.annotations.[a.b/c]`) as segments. */
export function fieldPathSegs(fp: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  for (const c of fp) {
    if (c === '[') depth++;
    if (c === ']') depth = Math.max(0, depth - 1);
    if (c === '.' && depth === 0) out.push(cur), (cur = '');
    else cur += c;
  }
  out.push(cur);
  return out.filter((x) => x !== '').map((x) => (/^\[[^=]*\]$/.test(x) ? x.slice(1, -1) : x));
}

/**
 * The path of `fp` in `o` when it names `p` (`*` any key or index, `[k=v]` the list element
 * whose k is v); `fp` resolved inside `o` when `p` is undefined.
 */
export function resolveFieldPath(fp: string, o: unknown, p?: Seg[]): Seg[] | undefined {
  const segs = fieldPathSegs(fp);
  if (p && segs.length !== p.length) return undefined;
  const out: Seg[] = [];
  let v: unknown = o;
  for (const [i, s] of segs.entries()) {
    const sel = /^\[([^=\]]+)=(.*)\]$/.exec(s);
    let q: Seg | undefined;
    if (sel) {
      if (!Array.isArray(v)) return undefined;
      const j = p ? (typeof p[i] === 'number' ? (p[i] as number) : -1) : v.findIndex((x) => isObj(x) && String(x[sel[1]]) === sel[2]);
      if (j < 0 || !isObj(v[j]) || String((v[j] as Obj)[sel[1]]) !== sel[2]) return undefined;
      q = j;
    } else if (s === '*' && p) q = p[i];
    else if (Array.isArray(v) && /^\d+$/.test(s)) q = Number(s);
    else q = s;
    if (p && String(q) !== String(p[i])) return undefined;
    out.push(q);
    v = Array.isArray(v) ? v[q as number] : isObj(v) ? v[String(q)] : undefined;
  }
  return out;
}

/** Finds a document of the target's closure by kind and name (a replacement's source). */
export type SourceFinder = (kind: string, name: string) => { file: string; doc: Document; lines: LineCounter } | undefined;

// ---------------------------------------------------------------------------------------------
// Kustomizations and patches

interface KFile {
  file: string;
  dir: string;
  k: Obj;
  doc: Document;
  lines: LineCounter;
}

/** A patch's text: a file, or a string inside a kustomization (lines offset into it when a literal block). */
interface PatchText {
  file: string;
  docs: Document[];
  lines: LineCounter;
  inline?: { header?: number; entry: number };
}

function lineIn(t: PatchText, doc: number, p: Seg[]): number | undefined {
  const line = lineOf(t.docs[doc], t.lines, p);
  if (!t.inline) return line || undefined;
  return t.inline.header !== undefined && line ? t.inline.header + line : t.inline.entry || undefined;
}

function loadKustomization(load: Loader, file: string): KFile | undefined {
  const y = load(file);
  const doc = y?.docs[0];
  const k = doc?.toJS() as unknown;
  if (!y || !doc || !isObj(k)) return undefined;
  return { file, dir: path.posix.dirname(file), k, doc, lines: y.lines };
}

function patchText(load: Loader, kf: KFile, at: Seg[], ref: { path?: unknown; patch?: unknown }): PatchText | undefined {
  if (typeof ref.path === 'string') {
    const file = path.posix.join(kf.dir, ref.path);
    const y = load(file);
    return y ? { file, docs: y.docs, lines: y.lines } : undefined;
  }
  if (typeof ref.patch !== 'string') return undefined;
  const node = kf.doc.getIn(at, true);
  const entry = lineOf(kf.doc, kf.lines, at);
  const header = isScalar(node) && node.type === 'BLOCK_LITERAL' && node.range ? kf.lines.linePos(node.range[0]).line : undefined;
  const { parsed, problems } = parseYaml(kf.file, ref.patch);
  if (problems.length) return undefined;
  return { file: kf.file, docs: parsed.docs, lines: parsed.lines, inline: { header, entry } };
}

/** A strategic-merge patch document writes `p` of the object it patches (its own name and kind only identify it). */
function smpWrites(t: PatchText, doc: number, o: K8sObject, p: Seg[]): Loc | undefined {
  if (p[0] === 'kind' || p[0] === 'apiVersion' || (p[0] === 'metadata' && (p[1] === 'name' || p[1] === 'namespace'))) return undefined;
  const m = mapPath(t.docs[doc].toJS(), o, p, isBuiltinApi(o.apiVersion));
  return m.complete ? { file: t.file, line: lineIn(t, doc, m.path) } : undefined;
}

function jsonWrites(t: PatchText, o: K8sObject, p: Seg[]): Loc[] {
  const ops = t.docs[0]?.toJS() as unknown;
  if (!Array.isArray(ops)) return [];
  return jsonOpsSetting(ops, p).map(({ index, rest, hasValue }) => {
    const op = ops[index] as Obj;
    const at = p.slice(0, p.length - rest.length);
    const inner = hasValue ? mapPath(op.value, valueAt(o, at).value, rest, isBuiltinApi(o.apiVersion)).path : [];
    return { file: t.file, line: lineIn(t, 0, hasValue ? [index, 'value', ...inner] : [index]) };
  });
}

const isJsonPatch = (t: PatchText): boolean => Array.isArray(t.docs[0]?.toJS());

/** The patch documents of a strategic-merge patch that apply to the object (no target: by kind and name). */
function smpDocs(t: PatchText, o: K8sObject, names: Set<string>, targeted: boolean): number[] {
  return t.docs
    .map((d, i) => ({ js: d.toJS() as unknown, i }))
    .filter(({ js }) => isObj(js) && (targeted || (js.kind === o.kind && names.has(String((js.metadata as Obj | undefined)?.name ?? '')))))
    .map(({ i }) => i);
}

interface Step {
  kind: string;
  kf: KFile;
  /** Which entry of this kustomization's list (PatchTransformer: patches[index], ...). */
  index: number;
  /** Every name the object had up to this step (patches match any of them, as kustomize does). */
  names: Set<string>;
}

/** Where one step writes `p`. */
type Writer = (step: Step, load: Loader, o: K8sObject, p: Seg[], find?: SourceFinder) => Loc[];

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** patches and patchesJson6902: the entry's patch, when its target selects the object. */
const patchWrites: Writer = (step, load, o, p, find) => {
  const { kf, index, names } = step;
  const k = kf.k;
  const field = step.kind === 'PatchTransformer' ? 'patches' : 'patchesJson6902';
  const e = list(k[field])[index];
  if (!isObj(e)) return [];
  if (e.target !== undefined && !selectorMatches(e.target, o, names)) return [];
  const t = patchText(load, kf, [field, index, 'patch'], e);
  if (!t) return [];
  if (field === 'patchesJson6902' || isJsonPatch(t)) return jsonWrites(t, o, p);
  return smpDocs(t, o, names, e.target !== undefined).flatMap((d) => smpWrites(t, d, o, p) ?? []);
};

/** patchesStrategicMerge: every entry (kustomize records them as one transformer). */
const strategicMergeWrites: Writer = (step, load, o, p, find) => {
  const { kf, names } = step;
  const k = kf.k;
  return list(k.patchesStrategicMerge).flatMap((e, i) => {
    if (typeof e !== 'string') return [];
    const t = patchText(load, kf, ['patchesStrategicMerge', i], e.includes('\n') ? { patch: e } : { path: e });
    return t ? smpDocs(t, o, names, false).flatMap((d) => smpWrites(t, d, o, p) ?? []) : [];
  });
};

/** images (and imageTags): the entry naming the container's image. */
const imageWrites: Writer = (step, load, o, p, find) => {
  const { kf, index } = step;
  const k = kf.k;
  const images = [...list(k.images), ...list(k.imageTags)];
  const e = images[index];
  const image = valueAt(o, p).value;
  if (!isObj(e) || typeof image !== 'string' || !/^(containers|initContainers|ephemeralContainers)$/.test(String(p[p.length - 3])) || p[p.length - 1] !== 'image') return [];
  let name: string;
  try {
    name = imageName(image);
  } catch {
    return [];
  }
  if ((str(e.newName) ?? str(e.name)) !== name) return [];
  const at = index < list(k.images).length ? ['images', index] : ['imageTags', index - list(k.images).length];
  return [{ file: kf.file, line: lineOf(kf.doc, kf.lines, at) || undefined }];
};

/** commonLabels, labels and commonAnnotations: every entry setting the key where it applies. */
const labelWrites: Writer = (step, load, o, p, find) => {
  const { kf } = step;
  const k = kf.k;
  // Every entry is checked (kustomize records these per kustomization, not per entry).
  const key = String(p[p.length - 1]);
  const where = p.slice(0, -1).join('/');
  const own = where === 'metadata/labels' || where === 'metadata/annotations';
  const selector = /(^|\/)(selector|matchLabels)$/.test(where);
  // Pod templates, volumeClaimTemplates, a CronJob's jobTemplate: metadata below the object's own.
  const template = !own && /\/metadata\/(labels|annotations)$/.test(where);
  const hits: Loc[] = [];
  const hit = (at: Seg[]) => hits.push({ file: kf.file, line: lineOf(kf.doc, kf.lines, at) || undefined });
  if (step.kind === 'AnnotationsTransformer') {
    if ((own || template) && where.endsWith('annotations') && isObj(k.commonAnnotations) && key in k.commonAnnotations) hit(['commonAnnotations', key]);
    return hits;
  }
  if (!where.endsWith('labels') && !selector) return [];
  if (isObj(k.commonLabels) && key in k.commonLabels) hit(['commonLabels', key]);
  list(k.labels).forEach((e, i) => {
    if (!isObj(e) || !isObj(e.pairs) || !(key in e.pairs)) return;
    if (own || (selector && e.includeSelectors === true) || (template && (e.includeSelectors === true || e.includeTemplates === true))) hit(['labels', i, 'pairs', key]);
  });
  return hits;
};

/** replacements: the source of each one that writes `p` (where a human changes the value). */
const replacementWrites: Writer = (step, load, o, p, find) => {
  const { kf, names } = step;
  const k = kf.k;
  // One transformer for all of a kustomization's replacements: the last one that writes p
  // took its value from its source, where a human changes it.
  const entries: unknown[] = [];
  for (const e of list(k.replacements)) {
    if (isObj(e) && typeof e.path === 'string') {
      for (const d of load(path.posix.join(kf.dir, e.path))?.docs ?? []) {
        const js = d.toJS() as unknown;
        entries.push(...(Array.isArray(js) ? js : [js]));
      }
    } else entries.push(e);
  }
  const hits: Loc[] = [];
  for (const e of entries) {
    if (!isObj(e) || !isObj(e.source)) continue;
    const writes = list(e.targets).some((t) => isObj(t)
      && selectorMatches(t.select ?? {}, o, names)
      && !list(t.reject).some((rj) => isObj(rj) && Object.keys(rj).length > 0 && selectorMatches(rj, o, names))
      && list(t.fieldPaths).some((fp) => typeof fp === 'string' && !!resolveFieldPath(fp, o, p)));
    if (!writes) continue;
    const src = find?.(String(e.source.kind ?? ''), String(e.source.name ?? ''));
    if (!src) continue;
    const at = resolveFieldPath(typeof e.source.fieldPath === 'string' ? e.source.fieldPath : 'metadata.name', src.doc.toJS());
    hits.push({ file: src.file, line: lineOf(src.doc, src.lines, at ?? []) || undefined });
  }
  return hits;
};

/** namespace: the kustomization's own namespace field. */
const namespaceWrites: Writer = (step, load, o, p, find) => {
  const { kf } = step;
  const k = kf.k;
  return p.join('/') === 'metadata/namespace' && typeof k.namespace === 'string' ? [{ file: kf.file, line: lineOf(kf.doc, kf.lines, ['namespace']) || undefined }] : [];
};

/** replicas: the entry naming the object. */
const replicaWrites: Writer = (step, load, o, p, find) => {
  const { kf, index, names } = step;
  const k = kf.k;
  const e = list(k.replicas)[index];
  return p.join('/') === 'spec/replicas' && isObj(e) && names.has(String(e.name)) ? [{ file: kf.file, line: lineOf(kf.doc, kf.lines, ['replicas', index]) || undefined }] : [];
};

const WRITERS: Record<string, Writer> = {
  PatchTransformer: patchWrites,
  PatchJson6902Transformer: patchWrites,
  PatchStrategicMergeTransformer: strategicMergeWrites,
  ImageTagTransformer: imageWrites,
  LabelTransformer: labelWrites,
  AnnotationsTransformer: labelWrites,
  ReplacementTransformer: replacementWrites,
  NamespaceTransformer: namespaceWrites,
  ReplicaCountTransformer: replicaWrites,
};

/** Where each step writes `p`, in the order kustomize applied them. */
function writesOf(step: Step, load: Loader, o: K8sObject, p: Seg[], find?: SourceFinder): Loc[] {
  return WRITERS[step.kind]?.(step, load, o, p, find) ?? [];
}

const GENERATORS: Record<string, string> = { ConfigMapGenerator: 'configMapGenerator', SecretGenerator: 'secretGenerator' };

export interface OriginInput {
  /** The target folder (repo-relative): kustomize's paths are relative to it. */
  targetDir: string;
  origin?: string;
  transformations?: string;
  /** The rendered object (values and list elements are read from it). */
  object: K8sObject;
  /** Path of the field (empty: the object). */
  pointer: Seg[];
  load: Loader;
  /** The closure's documents by kind and name (replacement sources). */
  find?: SourceFinder;
}

/**
 * Where the value at `pointer` of a rendered object was written, from its origin annotations.
 * A value (a scalar, a list replaced whole) belongs to the last patch that wrote it, else to the
 * file the object came from. A map or a merged list element (a container, the object itself)
 * belongs to the file the object came from when that has it, else to the first patch that
 * added it. A missing field is looked up as its deepest existing parent. Undefined: the object
 * comes from a remote base, or the annotations say nothing usable.
 */
export function originLocation(inp: OriginInput): Loc | undefined {
  const origin = parseOrigin(inp.origin);
  if (!origin || origin.repo) return undefined;
  const { object: o, load } = inp;
  const rel = (f: string) => path.posix.normalize(path.posix.join(inp.targetDir, f));
  const kcache = new Map<string, KFile | undefined>();
  const kfile = (configuredIn: string): KFile | undefined => {
    const f = rel(configuredIn);
    if (!kcache.has(f)) kcache.set(f, loadKustomization(load, f));
    return kcache.get(f);
  };
  const generator = GENERATORS[origin.configuredBy?.kind ?? ''];
  const replay = replayNames(o, parseTransformations(inp.transformations), kfile, !!generator);

  // The field as rendered: a missing one is looked up as its deepest existing parent.
  let q = inp.pointer;
  while (q.length && !valueAt(o, q).found) q = q.slice(0, -1);
  const value = valueAt(o, q).value;
  const builtin = isBuiltinApi(o.apiVersion);
  const element = Array.isArray(valueAt(o, q.slice(0, -1)).value) && !!mergeKey(q[q.length - 2], value, builtin);
  const whole = isObj(value) || element || (Array.isArray(value) && !!mergeKey(q[q.length - 1], value[0], builtin));

  const home = generator && origin.configuredIn
    ? generatorHome(kfile(origin.configuredIn), generator, replay)
    : origin.path ? fileHome(inp, rel(origin.path), replay, builtin) : undefined;
  const writes = replay.steps.flatMap((s) => writesOf(s, load, o, q, inp.find));
  const at = (l: Loc | undefined): Loc | undefined => (l ? { file: l.file, line: l.line } : undefined);
  if (!whole) return at(writes[writes.length - 1] ?? home);
  const homeHas = !!home?.doc && mapPath(home.doc.js, o, q, builtin).complete;
  return at(homeHas || !writes.length ? home : writes[0]);
}

/** The object's name as its source file writes it, every name it had on the way, and kustomize's steps with those names. */
interface Replay {
  orig: string;
  names: Set<string>;
  steps: Step[];
}

/** The name before each step: the recorded prefixes and suffixes stripped backwards, then replayed. */
function replayNames(o: K8sObject, trans: Transformation[], kfile: (configuredIn: string) => KFile | undefined, generated: boolean): Replay {
  const rendered = o.metadata?.name ?? '';
  const affix = (t: Transformation): { prefix?: string; suffix?: string } => {
    const k = t.kind === 'PrefixTransformer' || t.kind === 'SuffixTransformer' ? kfile(t.configuredIn)?.k : undefined;
    return t.kind === 'PrefixTransformer' ? { prefix: str(k?.namePrefix) } : t.kind === 'SuffixTransformer' ? { suffix: str(k?.nameSuffix) } : {};
  };
  const strip = (n: string) => {
    for (const t of [...trans].reverse()) {
      const { prefix, suffix } = affix(t);
      if (prefix && n.startsWith(prefix)) n = n.slice(prefix.length);
      if (suffix && n.endsWith(suffix)) n = n.slice(0, -suffix.length);
    }
    return n;
  };
  const hashless = generated ? rendered.replace(/-[a-z0-9]{10}$/, '') : rendered;
  const orig = strip(hashless);
  let name = orig;
  const names = new Set([name]);
  const steps: Step[] = [];
  const counters = new Map<string, number>();
  let run = '';
  for (const t of trans) {
    if (t.configuredIn !== run) counters.clear(), (run = t.configuredIn);
    const index = counters.get(t.kind) ?? 0;
    counters.set(t.kind, index + 1);
    const { prefix, suffix } = affix(t);
    if (prefix) names.add((name = prefix + name));
    if (suffix) names.add((name = name + suffix));
    const kf = kfile(t.configuredIn);
    if (kf) steps.push({ kind: t.kind, kf, index, names: new Set(names) });
  }
  if (name !== hashless) names.add(hashless).add(rendered); // an order the replay got wrong: match the rendered name too
  return { orig, names, steps };
}

type Home = Loc & { doc?: { js: unknown; d: Document; lines: LineCounter } };

/** A generated object's home: its generator entry in the kustomization that configured it. */
function generatorHome(kf: KFile | undefined, generator: string, replay: Replay): Home | undefined {
  if (!kf) return undefined;
  const gens = Array.isArray(kf.k[generator]) ? (kf.k[generator] as unknown[]) : [];
  const i = gens.findIndex((g) => isObj(g) && (g.name === replay.orig || replay.names.has(String(g.name))));
  return { file: kf.file, line: lineOf(kf.doc, kf.lines, i >= 0 ? [generator, i] : [generator]) || undefined };
}

/** A resource's home: its document in the file it came from, and the line of the field there. */
function fileHome(inp: OriginInput, file: string, replay: Replay, builtin: boolean): Home {
  const o = inp.object;
  const y = inp.load(file);
  if (!y) return { file };
  const docs = y.docs.map((d) => ({ d, js: d.toJS() as unknown }));
  const pick = docs.find(({ js }) => isObj(js) && js.kind === o.kind && (js.metadata as Obj | undefined)?.name === replay.orig)
    ?? docs.find(({ js }) => isObj(js) && js.kind === o.kind && replay.names.has(String((js.metadata as Obj | undefined)?.name)))
    ?? (docs.length === 1 ? docs[0] : undefined);
  if (!pick) return { file };
  return { file, doc: { ...pick, lines: y.lines }, line: lineOf(pick.d, y.lines, mapPath(pick.js, o, inp.pointer, builtin).path) || undefined };
}

// ---------------------------------------------------------------------------------------------
// The driver: lazy origin renders for the findings that need them

/** The key under which locate() leaves its request on a finding (spread along with file and line). */
export const LOCATE = Symbol('gitops.locate');

export interface LocateRequest {
  r: Rendered;
  o: Pick<K8sObject, 'kind' | 'metadata'>;
  pointer?: string;
}

/** Adds the request to a quick answer of locate(). */
export function withOriginRequest<T extends Loc>(at: T, req: LocateRequest): T & { [LOCATE]?: LocateRequest } {
  return { ...at, [LOCATE]: req };
}

/**
 * The target rendered with origin annotations, once per target per run; undefined when only the
 * kustomize binary could render it (no renderer, declined options, remote bases): the quick
 * answer stays. Never written to the render cache.
 */
export function originRender(r: Rendered): Promise<K8sObject[] | undefined> {
  let p = r.originObjects;
  if (!p) {
    const b = r.build;
    const args = [...ROOT_ONLY, ...(b?.args ?? [])];
    p = !b || b.network || !b.tool.renderer || !rendererSupports(args)
      ? Promise.resolve(undefined)
      : b.tool.renderer.render(path.resolve(b.config.root, r.target.dir), args, { origins: true, json: true, root: path.resolve(b.config.root) }).then((a) => {
          if (!('yaml' in a)) return undefined;
          try {
            return (a.objects as K8sObject[] | undefined) ?? parseStream(a.yaml);
          } catch {
            return undefined;
          }
        });
    r.originObjects = p;
  }
  return p;
}

/** Reads and parses repository files (repo-relative), once each; nothing outside the root. */
export function fileLoader(root: string): Loader {
  const cache = new Map<string, YamlDocs | undefined>();
  return (file) => {
    if (!cache.has(file)) {
      let y: YamlDocs | undefined;
      if (!path.posix.isAbsolute(file) && !path.posix.normalize(file).startsWith('../')) {
        try {
          const { parsed, problems } = parseYaml(file, readFileSync(path.join(root, file)));
          if (!problems.length) y = { docs: parsed.docs, lines: parsed.lines };
        } catch {
          y = undefined;
        }
      }
      cache.set(file, y);
    }
    return cache.get(file);
  };
}

const TRANSFORMING = ['replacements', 'labels', 'commonLabels', 'commonAnnotations', 'patches', 'patchesStrategicMerge', 'patchesJson6902', 'components', 'namePrefix', 'nameSuffix', 'images', 'imageTags', 'replicas', 'namespace', 'configMapGenerator', 'secretGenerator'];

/** Something in the closure can put a value elsewhere than the resource file, or rename it. */
function transforms(r: Rendered, load: Loader): boolean {
  return r.closure.some((f) => {
    if (!KUSTOMIZATION_NAMES.includes(path.posix.basename(f))) return false;
    const js = load(f)?.docs[0]?.toJS() as unknown;
    return isObj(js) && TRANSFORMING.some((k) => js[k] !== undefined);
  });
}

const sameId = (a: Pick<K8sObject, 'kind' | 'metadata'> | undefined, b: Pick<K8sObject, 'kind' | 'metadata'> | undefined): boolean =>
  !!a && !!b && a.kind === b.kind && a.metadata?.name === b.metadata?.name && (a.metadata?.namespace ?? '') === (b.metadata?.namespace ?? '');

/**
 * Points the findings that locate() left a request on at the file and line that wrote their
 * value (see the top of this file), and removes the requests. Only targets with such findings,
 * and where a patch, a component, a generator or a name prefix can be involved, are rendered
 * again. Findings keep their quick location when the origin render is not possible.
 */
export async function locateOrigins(findings: Finding[]): Promise<Finding[]> {
  const byTarget = new Map<Rendered, Array<{ f: Finding; req: LocateRequest }>>();
  for (const f of findings as Array<Finding & { [LOCATE]?: LocateRequest }>) {
    const req = f[LOCATE];
    if (!req) continue;
    delete f[LOCATE];
    const list = byTarget.get(req.r) ?? [];
    list.push({ f, req });
    byTarget.set(req.r, list);
  }
  const loaders = new Map<string, Loader>();
  await mapLimit([...byTarget], 4, async ([r, items]) => {
    const b = r.build;
    if (!b) return;
    let load = loaders.get(b.config.root);
    if (!load) loaders.set(b.config.root, (load = fileLoader(b.config.root)));
    if (items.every(({ f }) => f.file) && !transforms(r, load)) return;
    const annotated = await originRender(r);
    if (!annotated) return;
    // The closure's parsed documents, by kind and name (a replacement's source).
    const find: SourceFinder = (kind, name) => r.sources.find((x) => x.kind === kind && x.name === name);
    for (const { f, req } of items) {
      const i = r.objects.indexOf(req.o as K8sObject);
      const plain = i >= 0 ? r.objects[i] : r.objects.find((x) => sameId(x, req.o));
      const ann = i >= 0 && sameId(annotated[i], plain) ? annotated[i] : annotated.find((x) => sameId(x, plain));
      if (!plain || !ann) continue;
      const at = originLocation({
        targetDir: r.target.dir,
        origin: ann.metadata.annotations?.[ORIGIN_ANNOTATION],
        transformations: ann.metadata.annotations?.[TRANSFORMATIONS_ANNOTATION],
        object: plain,
        pointer: pointerToPath(req.pointer ?? ''),
        load,
        find,
      });
      if (!at?.file) continue;
      f.file = at.file;
      if (at.line) f.line = at.line;
      else delete f.line;
    }
  });
  return findings;
}
