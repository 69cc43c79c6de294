// Which file decides each rendered container image: the `images:` entry of the overlay or of a
// component or base kustomization, a patch that writes `image:`, or the resource file itself.
//
// kustomize does not say which transformer changed a field, so the kustomization tree is replayed
// here over the images only, in kustomize's order (resources, then components in order, then the
// kustomization's own patches, then its `images:`), and the result is checked against the real
// render: an origin is reported only when the replay reproduces the rendered image exactly;
// anything it cannot follow (replacements, generators, Helm, remote bases) is reported as unknown
// with the reason, never guessed.
//
// loadTree reads files; everything else here is pure.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { assertYamlLimits } from '../core/yamlfile.js';
import { patternMatches, selectorSelects } from './selector.js';
import type { K8sObject } from '../core/k8s.js';
import { parseImageRef, type Pin } from './images.js';
import { lineOf, parseYaml } from '../core/yamlfile.js';
import { pointerToPath } from '../core/pointer.js';

export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

/** A YAML file of the tree, parsed (repo-relative POSIX path). */
export interface TreeFile {
  file: string;
  text: string;
  docs: Document.Parsed[];
  lines: LineCounter;
}

export interface PatchRef {
  /** The patch file, or undefined for a patch written inline in the kustomization. */
  file?: TreeFile;
  /** Inline patch text. */
  inline?: string;
  /** Where the inline patch sits in the kustomization (for messages). */
  at: (string | number)[];
  target?: Selector;
  /** Which list it came from: JSON 6902 ops are recognised by content in `patches:` too. */
  list: 'patches' | 'patchesStrategicMerge' | 'patchesJson6902';
}

export interface Selector {
  kind?: string;
  name?: string;
  namespace?: string;
  labelSelector?: string;
}

export interface ImagesEntryRef {
  index: number;
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

/** A kustomization or component folder, with everything it reads that can touch an image. */
export interface KNode {
  kind: 'Kustomization' | 'Component';
  /** Folder, repo-relative. */
  dir: string;
  file: TreeFile;
  resources: Array<{ node: KNode } | { file: TreeFile } | { remote: string }>;
  components: KNode[];
  patches: PatchRef[];
  images: ImagesEntryRef[];
  namePrefix: string;
  nameSuffix: string;
  namespace?: string;
  /** Labels added to every object (commonLabels, labels[].pairs): patch label selectors see them. */
  labels: Record<string, string>;
  /** Fields the replay does not follow and that may change images. */
  unsupported: string[];
}

/** Where a value was written: a file, and the YAML path of the node inside it. */
export interface ImageOrigin {
  kind: 'images' | 'patch' | 'resource';
  file: string;
  /** Document index in a multi-document file. */
  doc: number;
  /** YAML path of the scalar (patch, resource) or of the images entry. */
  path: (string | number)[];
  line?: number;
  /** images: the entry's `name` (what setImagePin looks up). */
  entryName?: string;
  /** A patch written inline in a kustomization (its text is a block scalar of that file). */
  inline?: boolean;
}

/** One container of the rendered output, with where its image came from. */
export interface ContainerImage {
  /** `Kind/name` as rendered. */
  object: string;
  container: string;
  /** JSON pointer of the image field in the rendered object. */
  pointer: string;
  /** The image as rendered. */
  image: string;
  /** Name, tag and digest of the rendered image. */
  name: string;
  pin: Pin;
  /** The image name written in the resource file, before any transformer (what environments share). */
  key?: string;
  /** What set the tag/digest; undefined when the replay could not account for the rendered value. */
  pinFrom?: ImageOrigin;
  /** What set the name (differs from pinFrom after an `images:` entry with only newName). */
  nameFrom?: ImageOrigin;
  /** Why the origin is unknown. */
  unknown?: string;
}

// ---------------------------------------------------------------------------------------------
// Loading (the one side effect).

export function parseTreeFile(file: string, text: string): TreeFile {
  assertYamlLimits(file, text); // deep nesting would crash the parser, not throw
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false }) as Document.Parsed[];
  return { file, text, docs: Array.isArray(docs) ? docs : [docs], lines };
}

const REMOTE_RE = /^[a-z][a-z0-9+.-]*:\/\/|^git@|^github\.com\//;

type Reader = (file: string) => Promise<string | undefined>;

/** A repo-relative path, refused when it leaves the repository (the render refuses those too). */
function inRepo(p: string, from: string): string {
  const n = path.posix.normalize(p);
  if (n === '..' || n.startsWith('../') || path.posix.isAbsolute(n)) throw new Error(`${from}: ${p} is outside the repository`);
  return n;
}

async function findKustomization(read: Reader, dir: string): Promise<{ file: string; text: string } | undefined> {
  for (const name of KUSTOMIZATION_FILES) {
    const file = path.posix.join(dir, name);
    const text = await read(file);
    if (text !== undefined) return { file, text };
  }
  return undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : v === undefined || v === null ? undefined : String(v);
}

function selectorOf(v: unknown): Selector | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const t = v as Record<string, unknown>;
  return { kind: str(t.kind), name: str(t.name), namespace: str(t.namespace), labelSelector: str(t.labelSelector) };
}

/**
 * Reads a kustomization folder and everything below it that can set an image. `dir` is
 * repo-relative; `read` returns a repo-relative file's text (undefined when absent).
 */
export async function loadTree(root: string, dir: string, read: Reader = (f) => readFile(path.join(root, f), 'utf8').catch(() => undefined), seen = new Map<string, KNode>()): Promise<KNode> {
  const norm = inRepo(dir, dir);
  const cached = seen.get(norm);
  if (cached) return cached;
  const found = await findKustomization(read, norm);
  if (!found) throw new Error(`${norm}: no kustomization.yaml, kustomization.yml or Kustomization`);
  const file = parseTreeFile(found.file, found.text);
  const k = (file.docs[0]?.toJS() ?? {}) as Record<string, unknown>;
  const node: KNode = {
    kind: k.kind === 'Component' ? 'Component' : 'Kustomization',
    dir: norm,
    file,
    resources: [],
    components: [],
    patches: [],
    images: [],
    namePrefix: str(k.namePrefix) ?? '',
    nameSuffix: str(k.nameSuffix) ?? '',
    namespace: str(k.namespace),
    labels: {},
    unsupported: [],
  };
  seen.set(norm, node);
  const list = (key: string): unknown[] => (Array.isArray(k[key]) ? (k[key] as unknown[]) : []);
  for (const ref of [...list('resources'), ...list('bases')].map(str).filter((r): r is string => !!r)) {
    if (REMOTE_RE.test(ref)) {
      node.resources.push({ remote: ref });
      continue;
    }
    const target = inRepo(path.posix.join(norm, ref), found.file);
    if (await findKustomization(read, target)) node.resources.push({ node: await loadTree(root, target, read, seen) });
    else {
      const text = await read(target);
      if (text === undefined) throw new Error(`${found.file}: resource ${ref} not found`);
      node.resources.push({ file: parseTreeFile(target, text) });
    }
  }
  for (const ref of list('components').map(str).filter((r): r is string => !!r)) {
    if (REMOTE_RE.test(ref)) node.unsupported.push(`remote component ${ref}`);
    else node.components.push(await loadTree(root, inRepo(path.posix.join(norm, ref), found.file), read, seen));
  }
  const patchFile = async (p: string) => {
    const f = inRepo(path.posix.join(norm, p), found.file);
    const text = await read(f);
    if (text === undefined) throw new Error(`${found.file}: patch ${p} not found`);
    return parseTreeFile(f, text);
  };
  for (const [i, p] of list('patchesStrategicMerge').entries()) {
    const s = str(p);
    if (!s) continue;
    if (s.includes('\n')) node.patches.push({ inline: s, at: ['patchesStrategicMerge', i], list: 'patchesStrategicMerge' });
    else node.patches.push({ file: await patchFile(s), at: ['patchesStrategicMerge', i], list: 'patchesStrategicMerge' });
  }
  for (const key of ['patches', 'patchesJson6902'] as const) {
    for (const [i, p] of list(key).entries()) {
      if (!p || typeof p !== 'object') continue;
      const e = p as Record<string, unknown>;
      const ref: PatchRef = { at: [key, i], target: selectorOf(e.target), list: key };
      if (typeof e.path === 'string') ref.file = await patchFile(e.path);
      else if (typeof e.patch === 'string') ref.inline = e.patch;
      else continue;
      node.patches.push(ref);
    }
  }
  for (const [index, e] of list('images').entries()) {
    if (!e || typeof e !== 'object') continue;
    const m = e as Record<string, unknown>;
    const name = str(m.name);
    if (!name) continue;
    node.images.push({ index, name, newName: str(m.newName) || undefined, newTag: str(m.newTag) || undefined, digest: str(m.digest) || undefined });
  }
  const common = k.commonLabels;
  if (common && typeof common === 'object') for (const [a, b] of Object.entries(common)) node.labels[a] = String(b);
  for (const l of list('labels')) {
    const pairs = (l as { pairs?: Record<string, unknown> })?.pairs;
    if (pairs && typeof pairs === 'object') for (const [a, b] of Object.entries(pairs)) node.labels[a] = String(b);
  }
  for (const key of ['replacements', 'vars', 'helmCharts', 'generators', 'transformers']) if (list(key).length) node.unsupported.push(`${key}: in ${found.file}`);
  return node;
}

// ---------------------------------------------------------------------------------------------
// The replay.

interface SimContainer {
  /** JSON path of the containers list in the object, e.g. ['spec','template','spec','containers']. */
  list: (string | number)[];
  index: number;
  name: string;
  image: string;
  key?: string;
  pinFrom: ImageOrigin;
  nameFrom: ImageOrigin;
}

interface SimObject {
  kind: string;
  name: string;
  names: string[];
  namespace?: string;
  labels: Record<string, string>;
  containers: SimContainer[];
  /** Why this object's images may differ from the replay (noted once, reported per container). */
  caveat?: string;
}

const CONTAINER_LISTS = new Set(['containers', 'initContainers', 'ephemeralContainers']);

/** Every container list of a (plain JS) object: path of the list, index, container. */
export function containerLists(obj: unknown): Array<{ list: (string | number)[]; index: number; container: Record<string, unknown> }> {
  const out: Array<{ list: (string | number)[]; index: number; container: Record<string, unknown> }> = [];
  const walk = (v: unknown, at: (string | number)[], depth: number): void => {
    if (depth > 30 || v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, [...at, i], depth + 1));
      return;
    }
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (CONTAINER_LISTS.has(k) && Array.isArray(x)) {
        x.forEach((c, i) => {
          if (c && typeof c === 'object') out.push({ list: [...at, k], index: i, container: c as Record<string, unknown> });
        });
      }
      walk(x, [...at, k], depth + 1);
    }
  };
  walk(obj, [], 0);
  return out;
}

function splitImage(image: string): { name: string; pin: Pin } {
  try {
    const r = parseImageRef(image, { requirePin: false });
    return { name: r.name, pin: { ...(r.tag ? { tag: r.tag } : {}), ...(r.digest ? { digest: r.digest } : {}) } };
  } catch {
    // Not a reference kustomize could match either; keep it whole.
    return { name: image, pin: {} };
  }
}

function joinImage(name: string, pin: Pin): string {
  return `${name}${pin.tag ? `:${pin.tag}` : ''}${pin.digest ? `@${pin.digest}` : ''}`;
}

function withLine(f: TreeFile, o: Omit<ImageOrigin, 'line' | 'file'>): ImageOrigin {
  const doc = f.docs[o.doc];
  const line = doc ? lineOf(doc, f.lines, o.path) : 0;
  return { ...o, file: f.file, ...(line ? { line } : {}) };
}

function resourceObjects(f: TreeFile): SimObject[] {
  const out: SimObject[] = [];
  f.docs.forEach((doc, d) => {
    const js = doc.toJS() as K8sObject | null;
    if (!js || typeof js !== 'object' || typeof js.kind !== 'string') return;
    const items = js.kind.endsWith('List') && Array.isArray((js as { items?: unknown }).items) ? ((js as unknown as { items: K8sObject[] }).items.map((o, i) => ({ o, at: ['items', i] as (string | number)[] }))) : [{ o: js, at: [] as (string | number)[] }];
    for (const { o, at } of items) {
      if (!o || typeof o !== 'object' || typeof o.kind !== 'string') continue;
      const name = o.metadata?.name ?? '';
      const containers: SimContainer[] = [];
      for (const c of containerLists(o)) {
        if (typeof c.container.image !== 'string') continue;
        const origin = withLine(f, { kind: 'resource', doc: d, path: [...at, ...c.list, c.index, 'image'] });
        containers.push({ list: c.list, index: c.index, name: String(c.container.name ?? ''), image: c.container.image, key: splitImage(c.container.image).name, pinFrom: origin, nameFrom: origin });
      }
      out.push({ kind: o.kind, name, names: [name], namespace: o.metadata?.namespace, labels: { ...(o.metadata?.labels ?? {}) }, containers });
    }
  });
  return out;
}

function regexMatch(pattern: string | undefined, value: string | undefined): boolean {
  return value === undefined ? !pattern : patternMatches(pattern, value);
}

function labelsMatch(selector: string | undefined, labels: Record<string, string>): boolean {
  return selectorSelects(selector, labels);
}

function selects(s: Selector, o: SimObject): boolean | undefined {
  if (s.kind && s.kind !== o.kind) return false;
  if (!o.names.some((n) => regexMatch(s.name, n))) return false;
  if (s.namespace && !regexMatch(s.namespace, o.namespace)) return false;
  return labelsMatch(s.labelSelector, o.labels);
}

/** Image writes of one patch document: strategic merge (containers by name) or JSON 6902 ops (by index). */
type PatchWrite =
  | { by: 'name'; container: string; image: string; path: (string | number)[] }
  | { by: 'index'; list: (string | number)[]; index: number; image: string; path: (string | number)[] };

const parsePointer = pointerToPath;

function patchWrites(js: unknown): { writes: PatchWrite[]; json6902: boolean; unfollowed?: string } {
  if (Array.isArray(js)) {
    const writes: PatchWrite[] = [];
    let unfollowed: string | undefined;
    js.forEach((op, i) => {
      const o = op as { op?: string; path?: string; value?: unknown };
      if (!o || typeof o.path !== 'string' || (o.op !== 'add' && o.op !== 'replace')) return;
      const segs = parsePointer(o.path);
      let li = -1;
      segs.forEach((s, k) => {
        if (typeof s === 'string' && CONTAINER_LISTS.has(s)) li = k;
      });
      if (li < 0) return;
      const rest = segs.slice(li + 1);
      if (rest.length === 2 && typeof rest[0] === 'number' && rest[1] === 'image' && typeof o.value === 'string') {
        writes.push({ by: 'index', list: segs.slice(0, li + 1), index: rest[0], image: o.value, path: [i, 'value'] });
      } else if (rest.length === 1 && typeof rest[0] === 'number' && o.value && typeof (o.value as { image?: unknown }).image === 'string') {
        writes.push({ by: 'index', list: segs.slice(0, li + 1), index: rest[0], image: (o.value as { image: string }).image, path: [i, 'value', 'image'] });
      } else if (rest.length <= 1) {
        unfollowed = `JSON patch op ${o.op} ${o.path}`;
      }
    });
    return { writes, json6902: true, unfollowed };
  }
  const writes: PatchWrite[] = [];
  for (const c of containerLists(js)) {
    if (typeof c.container.image === 'string' && typeof c.container.name === 'string') {
      writes.push({ by: 'name', container: c.container.name, image: c.container.image, path: [...c.list, c.index, 'image'] });
    }
  }
  return { writes, json6902: false };
}

function applyPatch(node: KNode, p: PatchRef, objs: SimObject[]): void {
  const f = p.file ?? parseTreeFile(node.file.file, p.inline ?? '');
  f.docs.forEach((doc, d) => {
    const js = doc.toJS() as unknown;
    if (js === null || typeof js !== 'object') return;
    const { writes, json6902, unfollowed } = patchWrites(js);
    const meta = (js as { kind?: string; metadata?: { name?: string; namespace?: string } });
    const sel: Selector | undefined = p.target ?? (json6902 ? undefined : { kind: meta.kind, name: meta.metadata?.name?.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), namespace: meta.metadata?.namespace });
    if (!sel) return;
    for (const o of objs) {
      const hit = selects(sel, o);
      if (hit === false) continue;
      const where = p.file ? p.file.file : `${node.file.file} (${p.at.join('.')}, inline)`;
      if (hit === undefined) {
        o.caveat ??= `patch ${where} uses a label selector the replay does not follow`;
        continue;
      }
      if (unfollowed) o.caveat ??= `patch ${where} (${unfollowed}) is not followed`;
      for (const w of writes) {
        const targets = w.by === 'name' ? o.containers.filter((c) => c.name === w.container) : o.containers.filter((c) => c.index === w.index && c.list.join('/') === w.list.join('/'));
        for (const c of targets) {
          const origin: ImageOrigin = p.file
            ? withLine(p.file, { kind: 'patch', doc: d, path: w.path })
            : { kind: 'patch', file: node.file.file, doc: 0, path: p.at, inline: true, line: lineOf(node.file.docs[0]!, node.file.lines, p.at) || undefined };
          c.image = w.image;
          c.pinFrom = origin;
          c.nameFrom = origin;
        }
      }
    }
  });
}

function applyImages(node: KNode, objs: SimObject[]): void {
  for (const e of node.images) {
    const origin = withLine(node.file, { kind: 'images', doc: 0, path: ['images', e.index], entryName: e.name });
    for (const o of objs) {
      for (const c of o.containers) {
        const cur = splitImage(c.image);
        if (cur.name !== e.name) continue;
        let { name, pin } = cur;
        if (e.newName) {
          name = e.newName;
          c.nameFrom = origin;
        }
        // kustomize: a new tag or digest replaces both the tag and the digest.
        if (e.newTag || e.digest) {
          pin = { ...(e.newTag ? { tag: e.newTag } : {}), ...(e.digest ? { digest: e.digest } : {}) };
          c.pinFrom = origin;
        }
        c.image = joinImage(name, pin);
      }
    }
  }
}

/** Replays one kustomization or component over `objs` (the accumulated resources). */
function accumulate(node: KNode, objs: SimObject[], stack: string[]): void {
  if (stack.includes(node.dir)) return;
  const inner = [...stack, node.dir];
  for (const r of node.resources) {
    if ('node' in r) objs.push(...build(r.node, inner));
    else if ('file' in r) objs.push(...resourceObjects(r.file));
  }
  for (const c of node.components) accumulate(c, objs, inner);
  const caveat = node.unsupported.find((u) => !u.startsWith('remote'));
  for (const p of node.patches) applyPatch(node, p, objs);
  for (const o of objs) {
    if (node.namePrefix || node.nameSuffix) {
      o.name = `${node.namePrefix}${o.name}${node.nameSuffix}`;
      o.names.push(o.name);
    }
    if (node.namespace) o.namespace = node.namespace;
    Object.assign(o.labels, node.labels);
    if (caveat) o.caveat ??= `${caveat.replace(/:.*/, '')} in ${node.file.file} is not followed`;
  }
  applyImages(node, objs);
}

function build(node: KNode, stack: string[] = []): SimObject[] {
  const objs: SimObject[] = [];
  accumulate(node, objs, stack);
  return objs;
}

/** Files of the tree (kustomizations, resources, patch files), repo-relative. */
export function treeFiles(node: KNode, out = new Set<string>()): Set<string> {
  if (out.has(node.file.file)) return out;
  out.add(node.file.file);
  for (const r of node.resources) {
    if ('node' in r) treeFiles(r.node, out);
    else if ('file' in r) out.add(r.file.file);
  }
  for (const c of node.components) treeFiles(c, out);
  for (const p of node.patches) if (p.file) out.add(p.file.file);
  return out;
}

/**
 * Attributes every container image of `rendered` (the real kustomize output of `tree`) to the
 * file that set it. A container whose replayed image differs from the rendered one gets no
 * origin and an `unknown` reason.
 */
export function attributeImages(tree: KNode, rendered: K8sObject[]): ContainerImage[] {
  const sim = build(tree);
  const out: ContainerImage[] = [];
  for (const o of rendered) {
    const lists = containerLists(o);
    if (!lists.length) continue;
    const name = o.metadata?.name ?? '';
    const candidates = sim.filter((s) => s.kind === o.kind && s.name === name);
    const so = candidates.find((s) => s.namespace === o.metadata?.namespace) ?? candidates[0];
    for (const c of lists) {
      const image = c.container.image;
      if (typeof image !== 'string') continue;
      const split = splitImage(image);
      const ci: ContainerImage = {
        object: `${o.kind}/${name}`,
        container: String(c.container.name ?? ''),
        pointer: `/${[...c.list, c.index, 'image'].join('/')}`,
        image,
        name: split.name,
        pin: split.pin,
      };
      const sc = so?.containers.find((x) => x.list.join('/') === c.list.join('/') && x.name === ci.container) ?? so?.containers.find((x) => x.list.join('/') === c.list.join('/') && x.index === c.index);
      if (!so) ci.unknown = `${ci.object} does not come from a resource file the replay can read (generated, remote or Helm)`;
      else if (!sc) ci.unknown = `container ${ci.container} of ${ci.object} is added by something the replay does not follow`;
      else {
        ci.key = sc.key;
        if (sc.image !== image) ci.unknown = `${so.caveat ?? 'a transformer the replay does not follow'} (replayed ${sc.image}, rendered ${image})`;
        else {
          ci.pinFrom = sc.pinFrom;
          ci.nameFrom = sc.nameFrom;
        }
      }
      out.push(ci);
    }
  }
  return out;
}

/**
 * The container images of objects that no kustomization tree made (rendered by Argo CD's
 * repo-server code: Helm, plain directories, jsonnet): each keyed by its rendered name, with
 * `unknown` saying why the file that sets it is not traced.
 */
export function untracedImages(rendered: K8sObject[], why: string): ContainerImage[] {
  const out: ContainerImage[] = [];
  for (const o of rendered) {
    for (const c of containerLists(o)) {
      const image = c.container.image;
      if (typeof image !== 'string') continue;
      const split = splitImage(image);
      out.push({ object: `${o.kind}/${o.metadata?.name ?? ''}`, container: String(c.container.name ?? ''), pointer: `/${[...c.list, c.index, 'image'].join('/')}`, image, name: split.name, pin: split.pin, key: split.name, unknown: why });
    }
  }
  return out;
}

/**
 * Points images rendered from a plain directory (Argo CD's Directory source: each object is a
 * document of one file) at the file and line that write them: the one document of `files` with
 * the object's kind and name whose image field holds exactly the rendered value. Anything else
 * keeps its `unknown`. `read` returns a file's text (undefined: not readable).
 */
export async function tracePlainImages(containers: ContainerImage[], files: string[], read: (file: string) => Promise<string | undefined>): Promise<void> {
  if (!containers.length) return;
  const docs = new Map<string, Array<{ file: string; index: number; doc: Document; lines: LineCounter; value: unknown }>>();
  for (const file of files.filter((f) => /\.(ya?ml|json)$/.test(f))) {
    const text = await read(file);
    if (text === undefined) continue;
    let parsed: ReturnType<typeof parseYaml>['parsed'];
    try {
      parsed = parseYaml(file, text).parsed;
    } catch {
      continue; // the render reports what does not parse
    }
    parsed.docs.forEach((doc, index) => {
      const v = doc.toJS() as { kind?: unknown; metadata?: { name?: unknown } } | null;
      if (!v || typeof v.kind !== 'string' || typeof v.metadata?.name !== 'string') return;
      const key = `${v.kind}/${v.metadata.name}`;
      docs.set(key, [...(docs.get(key) ?? []), { file, index, doc, lines: parsed.lines, value: v }]);
    });
  }
  for (const c of containers) {
    const at = c.pointer.split('/').slice(1).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    const get = (v: unknown) => at.reduce<unknown>((x, k) => (x && typeof x === 'object' ? (x as Record<string | number, unknown>)[k] : undefined), v);
    const found = (docs.get(c.object) ?? []).filter((d) => get(d.value) === c.image);
    if (found.length !== 1) continue;
    const d = found[0]!;
    const origin: ImageOrigin = { kind: 'resource', file: d.file, doc: d.index, path: at, line: lineOf(d.doc, d.lines, at) || undefined };
    c.pinFrom = origin;
    c.nameFrom = origin;
    delete c.unknown;
  }
}

/** `file:line (what)`: where a human edits the value. */
export function describeOrigin(o: ImageOrigin): string {
  const what = o.kind === 'images' ? `images entry ${o.entryName}` : o.kind === 'patch' ? (o.inline ? `inline patch ${o.path.join('.')}` : 'patch image:') : 'image: in the resource';
  return `${o.file}${o.line ? `:${o.line}` : ''} (${what})`;
}
