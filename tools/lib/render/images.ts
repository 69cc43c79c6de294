// Image references, the pins of an overlay's `images:` block, and format-preserving edits of
// overlay kustomizations (images, replicas, release keys).
import { Document as YamlDocument, isAlias, isMap, isNode, isScalar, isSeq, parseDocument, Scalar, visit, YAMLMap, YAMLSeq, type Alias, type Document, type Node } from 'yaml';
import { assertYamlLimits } from '../core/yamlfile.js';
import { ConfigError, GitopsError, UsageError } from '../core/errors.js';
import type { K8sObject } from '../core/k8s.js';
import { pointerSegments } from '../core/pointer.js';

export const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$/;
const COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

/** `name[:tag][@sha256:…]` split into its parts. */
export interface ImageRef {
  name: string;
  tag?: string;
  digest?: string;
}

/** What an `images:` entry pins: a tag, a digest, or both (`newTag: <tag>@<digest>`). */
export interface Pin {
  tag?: string;
  digest?: string;
}

/** One entry of an overlay's `images:` block. */
export interface ImageEntry {
  /** The image name the base uses (what kustomize matches). */
  name: string;
  newName?: string;
  pin: Pin;
}

function isValidName(name: string): boolean {
  if (!name || name.length > 255) return false;
  const parts = name.split('/');
  const first = parts[0]!;
  const hasHost = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['));
  if (hasHost && !HOST_RE.test(first)) return false;
  return (hasHost ? parts.slice(1) : parts).every((p) => COMPONENT_RE.test(p));
}

/** Strips a tag and a digest from an image reference: what kustomize matches `images[].name` against. */
export function imageName(ref: string): string {
  return parseImageRef(ref, { requirePin: false }).name;
}

/**
 * Parses `name:tag`, `name@sha256:<hex>` or `name:tag@sha256:<hex>`. Throws UsageError for anything
 * else (a bare name has nothing to pin unless `requirePin` is false).
 */
export function parseImageRef(ref: string, opts: { requirePin?: boolean } = {}): ImageRef {
  const requirePin = opts.requirePin ?? true;
  const bad = (why: string) =>
    new UsageError(`invalid image reference '${ref}': ${why}`, "use name:tag, name@sha256:<64 hex> or name:tag@sha256:<64 hex>, e.g. registry.example.com/team/api:1.2.3");
  let rest = ref.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw bad(`digest '${digest}' is not sha256: followed by 64 lower-case hex characters`);
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw bad(`tag '${tag}' may only contain letters, digits, '_', '.', '-' (at most 128, not starting with '.' or '-')`);
  }
  if (!isValidName(rest)) throw bad(`image name '${rest}' is not a valid repository name (lower-case path components, optional registry host)`);
  if (requirePin && !tag && !digest) throw bad('it names no tag and no digest');
  return { name: rest, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** Registry host and repository path a name is pulled from; Docker Hub short names get their implicit parts. */
export function splitRegistry(name: string): { registry: string; repository: string } {
  const parts = name.split('/');
  const first = parts[0]!;
  let registry = 'docker.io';
  let repo = parts;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    registry = first;
    repo = parts.slice(1);
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = 'docker.io';
  if (registry === 'docker.io' && repo.length === 1) repo = ['library', ...repo];
  return { registry, repository: repo.join('/') };
}

/** `redis` and `docker.io/library/redis` are the same image. */
export function sameImage(a: string, b: string): boolean {
  if (a === b) return true;
  const x = splitRegistry(a);
  const y = splitRegistry(b);
  return x.registry === y.registry && x.repository === y.repository;
}

/** Reads the `newTag`/`digest` fields of an images entry. */
export function pinFromFields(newTag: unknown, digest: unknown): Pin {
  const pin: Pin = {};
  if (newTag !== undefined && newTag !== null && newTag !== '') {
    const t = String(newTag);
    const at = t.indexOf('@');
    if (at >= 0) {
      pin.tag = t.slice(0, at) || undefined;
      pin.digest = t.slice(at + 1);
    } else pin.tag = t;
  }
  if (digest !== undefined && digest !== null && digest !== '') pin.digest = String(digest);
  if (pin.tag === undefined) delete pin.tag;
  return pin;
}

export function shortDigest(digest: string | undefined): string {
  return digest ? digest.replace(/^sha256:/, '').slice(0, 12) : '';
}

/** `1.2.3@sha256:abcdef012345` (short) or with the full digest. */
export function formatPin(pin: Pin | undefined, opts: { full?: boolean } = {}): string {
  if (!pin || (!pin.tag && !pin.digest)) return '(none)';
  const d = pin.digest ? (opts.full ? pin.digest : `sha256:${shortDigest(pin.digest)}`) : '';
  return `${pin.tag ?? ''}${d ? `@${d}` : ''}`;
}

export function pinsEqual(a: Pin | undefined, b: Pin | undefined): boolean {
  return (a?.tag ?? '') === (b?.tag ?? '') && (a?.digest ?? '') === (b?.digest ?? '');
}

/**
 * Whether two environments run the same thing: digests decide when both have one, else tags.
 * (`1.0.0` and `1.0.0@sha256:…` count as the same release: the tag-only side cannot say otherwise.)
 */
export function sameRelease(a: Pin | undefined, b: Pin | undefined): boolean {
  if (a?.digest && b?.digest) return a.digest === b.digest;
  return (a?.tag ?? '') === (b?.tag ?? '') && (!!a?.tag || !!a?.digest) === (!!b?.tag || !!b?.digest);
}

// ---------------------------------------------------------------------------------------------
// Reading and editing overlay kustomizations.

export function parseKustomization(file: string, text: string): Document.Parsed {
  assertYamlLimits(file, text); // deep nesting would crash the parser, not throw
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) throw new ConfigError(file, doc.errors[0]!.message.split('\n')[0]!);
  if (doc.contents !== null && !isMap(doc.contents)) throw new ConfigError(file, 'a kustomization must be a YAML mapping');
  return doc;
}

function entryMaps(doc: Document, file: string, key: string): YAMLMap[] {
  const seq = doc.get(key, true);
  if (seq === undefined || seq === null || (isScalar(seq) && seq.value === null)) return [];
  if (!isSeq(seq)) throw new ConfigError(file, `${key}: must be a list`);
  return seq.items.map((it, i) => {
    if (!isMap(it)) throw new ConfigError(file, `${key}[${i}]: must be a mapping`);
    return it;
  });
}

/** The `images:` entries of an overlay kustomization. */
export function readImageEntries(doc: Document, file: string): ImageEntry[] {
  return entryMaps(doc, file, 'images').map((m, i) => {
    const name = m.get('name');
    if (typeof name !== 'string' || !name) throw new ConfigError(file, `images[${i}].name: missing`);
    const newName = m.get('newName');
    const pin = pinFromFields(m.get('newTag'), m.get('digest'));
    if (pin.digest && !DIGEST_RE.test(pin.digest)) throw new ConfigError(file, `images[${i}] (${name}): digest '${pin.digest}' is not sha256:<64 hex>`);
    return { name, ...(typeof newName === 'string' && newName ? { newName } : {}), pin };
  });
}

function findEntry(doc: Document, file: string, key: string, name: string, match: (a: string, b: string) => boolean = (a, b) => a === b): YAMLMap | undefined {
  const maps = entryMaps(doc, file, key);
  return maps.find((m) => m.get('name') === name) ?? maps.find((m) => typeof m.get('name') === 'string' && match(m.get('name') as string, name));
}

/** Sets a scalar in a map, keeping the existing node (its quotes and comments) when there is one. */
function setScalar(map: YAMLMap, key: string, value: string | number, style?: Scalar.Type): void {
  const node = map.get(key, true);
  if (isScalar(node)) {
    node.value = value;
    return;
  }
  const s = new Scalar(value);
  if (style && typeof value === 'string') s.type = style;
  map.set(key, s);
}

/** Quote style the file already uses for `newTag` values, so an added entry looks like its siblings. */
function newTagStyle(doc: Document, file: string): Scalar.Type | undefined {
  for (const m of entryMaps(doc, file, 'images')) {
    const n = m.get('newTag', true);
    if (isScalar(n) && n.type) return n.type;
  }
  return undefined;
}

function ensureSeq(doc: Document, key: string): YAMLSeq {
  const existing = doc.get(key, true);
  if (isSeq(existing)) {
    if (existing.flow && existing.items.length === 0) existing.flow = false;
    return existing;
  }
  const seq = new YAMLSeq();
  doc.set(key, seq);
  return seq;
}

/**
 * Writes `pin` into the images entry named `name` (added when absent): `newTag: <tag>@<digest>`,
 * `newTag: <tag>` or `digest: <digest>`, never both keys. Returns the previous pin (undefined when added).
 */
export function setImagePin(doc: Document, file: string, name: string, pin: Pin): { before?: Pin; added: boolean } {
  if (!pin.tag && !pin.digest) throw new UsageError(`nothing to pin for ${name}`);
  let entry = findEntry(doc, file, 'images', name, sameImage);
  const style = newTagStyle(doc, file);
  let before: Pin | undefined;
  let added = false;
  if (entry) {
    before = pinFromFields(entry.get('newTag'), entry.get('digest'));
  } else {
    entry = new YAMLMap();
    entry.set('name', name);
    ensureSeq(doc, 'images').items.push(entry);
    added = true;
  }
  if (pin.tag) {
    setScalar(entry, 'newTag', pin.digest ? `${pin.tag}@${pin.digest}` : pin.tag, style);
    entry.delete('digest');
  } else {
    setScalar(entry, 'digest', pin.digest!);
    entry.delete('newTag');
  }
  return { before, added };
}

/** The `replicas:` entries of a kustomization (name -> count). */
export function readReplicas(doc: Document, file: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of entryMaps(doc, file, 'replicas')) {
    const name = m.get('name');
    const count = m.get('count');
    if (typeof name === 'string') out.set(name, Number(count));
  }
  return out;
}

/** Sets (or adds) the kustomize `replicas:` entry for a workload. */
export function setReplicas(doc: Document, file: string, name: string, count: number): { before?: number } {
  const entry = findEntry(doc, file, 'replicas', name);
  if (entry) {
    const before = Number(entry.get('count'));
    setScalar(entry, 'count', count);
    return { before };
  }
  const m = new YAMLMap();
  m.set('name', name);
  m.set('count', count);
  ensureSeq(doc, 'replicas').items.push(m);
  return {};
}

// ---------------------------------------------------------------------------------------------
// Release keys: paths into a kustomization, JSON-pointer style (`/a/b/0/c`, `~1` for `/`) or dotted
// (`a.b.0.c`); a segment `key=value` selects the list item whose `key` equals `value`.

export type KeySegment = string | number | { key: string; value: string };

/** Top-level fields that are environment-specific: never copied by a promotion. */
export const ENV_SPECIFIC_KEYS = new Set(['namespace', 'replicas', 'resources', 'components', 'secretGenerator', 'images', 'namePrefix', 'nameSuffix', 'bases']);

export function parseKeyPath(key: string): KeySegment[] {
  const raw = key.startsWith('/') ? pointerSegments(key) : key.split('.');
  if (!key || raw.some((s) => s === '')) throw new ConfigError('gitops.yaml', `promotion.releaseKeys: '${key}' is not a path (use /a/b/0/c or a.b.0.c)`);
  const segs = raw.map((s): KeySegment => {
    if (/^\d+$/.test(s)) return Number(s);
    const eq = s.indexOf('=');
    if (eq > 0) return { key: s.slice(0, eq), value: s.slice(eq + 1) };
    return s;
  });
  const top = segs[0];
  if (typeof top !== 'string' || ENV_SPECIFIC_KEYS.has(top)) {
    throw new ConfigError('gitops.yaml', `promotion.releaseKeys: '${key}' names '${String(typeof top === 'object' ? `${top.key}=${top.value}` : top)}', which is environment-specific (or not a field) and is never promoted`, `release keys may not start with ${[...ENV_SPECIFIC_KEYS].join(', ')}`);
  }
  return segs;
}

/** Resolves segments to a concrete Document path (indices for `key=value`); undefined when absent. */
function concretePath(doc: Document, segs: KeySegment[]): (string | number)[] | undefined {
  const out: (string | number)[] = [];
  let node: unknown = doc.contents;
  for (const seg of segs) {
    if (typeof seg === 'object') {
      if (!isSeq(node)) return undefined;
      const i = node.items.findIndex((it) => isMap(it) && String(it.get(seg.key)) === seg.value);
      if (i < 0) return undefined;
      out.push(i);
      node = node.items[i];
    } else {
      if (!isMap(node) && !isSeq(node)) return undefined;
      if (!(node as YAMLMap | YAMLSeq).has(seg)) return undefined;
      out.push(seg);
      node = (node as YAMLMap | YAMLSeq).get(seg, true);
    }
  }
  return out;
}

export function getKey(doc: Document, segs: KeySegment[]): { found: boolean; value?: unknown; node?: unknown } {
  const p = concretePath(doc, segs);
  if (!p) return { found: false };
  const node = doc.getIn(p, true);
  return { found: true, node, value: (node as Node | undefined)?.toJSON?.() ?? doc.getIn(p) };
}

/**
 * Copies the value at `segs` from `src` into `dst` (creating parent maps, never list items).
 * Returns whether the value changed. A value missing in `src` is left alone in `dst`.
 */
export function copyKey(src: Document, dst: Document, segs: KeySegment[]): { changed: boolean; missingInSource: boolean } {
  const from = getKey(src, segs);
  if (!from.found) return { changed: false, missingInSource: true };
  const to = getKey(dst, segs);
  if (to.found && JSON.stringify(to.value) === JSON.stringify(from.value)) return { changed: false, missingInSource: false };
  let p = concretePath(dst, segs);
  if (!p) {
    // Create along plain keys only; a `key=value` or index segment that does not exist in dst cannot be made up.
    if (segs.some((s) => typeof s !== 'string')) {
      throw new ConfigError('gitops.yaml', `promotion.releaseKeys: the target overlay has no list item for ${JSON.stringify(segs)}; add it there once by hand`);
    }
    p = segs as string[];
  }
  const srcNode = from.node;
  const clone = srcNode && typeof (srcNode as Node).clone === 'function' ? (srcNode as Node).clone() : from.value;
  // The source's comments describe the source environment; the value travels without them.
  if (isNode(clone)) {
    visit(clone, {
      Node(_, n) {
        n.comment = undefined;
        n.commentBefore = undefined;
      },
    });
  }
  if (isScalar(clone) && to.found && isScalar(to.node)) {
    (to.node as Scalar).value = clone.value;
  } else {
    dst.setIn(p, clone);
  }
  return { changed: true, missingInSource: false };
}

// ---------------------------------------------------------------------------------------------
// Format preservation: the edit is made with the Document API, and only what it changed reaches
// the file. An edit that only changes scalar values (a pin, a count) is spliced into the original
// text at the scalar's own source range: every other byte stays (quotes, comments and their
// spacing, flow style, CRLF, a BOM). An edit that adds or removes entries is merged line by line:
// every line it did not touch is copied byte for byte, added lines use the file's line ending.
// A value behind a YAML anchor, or an alias, is never edited: that would silently change (or
// unlink) its other uses.

/** Longest-common-subsequence line diff: a list of [op, line] with op '=' | '-' | '+'. */
export function diffLines(a: string[], b: string[]): Array<['=' | '-' | '+', string]> {
  const n = a.length;
  const m = b.length;
  // Trim the common prefix and suffix first: edits are small, files are short.
  let pre = 0;
  while (pre < n && pre < m && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < n - pre && suf < m - pre && a[n - 1 - suf] === b[m - 1 - suf]) suf++;
  const A = a.slice(pre, n - suf);
  const B = b.slice(pre, m - suf);
  if (A.length * B.length > 4_000_000) throw new Error('file too large to diff');
  const dp: Uint32Array[] = Array.from({ length: A.length + 1 }, () => new Uint32Array(B.length + 1));
  for (let i = A.length - 1; i >= 0; i--) {
    for (let j = B.length - 1; j >= 0; j--) {
      dp[i]![j] = A[i] === B[j] ? dp[i + 1]![j + 1]! + 1 : Math.max(dp[i + 1]![j]!, dp[i]![j + 1]!);
    }
  }
  const out: Array<['=' | '-' | '+', string]> = a.slice(0, pre).map((l) => ['=', l] as ['=', string]);
  let i = 0;
  let j = 0;
  while (i < A.length && j < B.length) {
    if (A[i] === B[j]) {
      out.push(['=', A[i]!]);
      i++;
      j++;
    } else if (dp[i + 1]![j]! >= dp[i]![j + 1]!) out.push(['-', A[i++]!]);
    else out.push(['+', B[j++]!]);
  }
  while (i < A.length) out.push(['-', A[i++]!]);
  while (j < B.length) out.push(['+', B[j++]!]);
  for (const l of a.slice(n - suf)) out.push(['=', l]);
  return out;
}


const STRINGIFY = { lineWidth: 0 } as const;

function lineAt(text: string, offset: number): number {
  let n = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/** Every node and pair of a document, in document order (object identity is what matters). */
function allNodes(doc: Document): unknown[] {
  const out: unknown[] = [];
  visit(doc, {
    Node(_, n) {
      out.push(n);
    },
    Pair(_, p) {
      out.push(p);
    },
  });
  return out;
}

/** The rendering of one scalar in its own style, or undefined when it would need more than one line. */
function renderScalar(node: Scalar): string | undefined {
  const s = new Scalar(node.value);
  if (node.type) s.type = node.type;
  const text = new YamlDocument(s).toString(STRINGIFY).replace(/\n$/, '');
  return text.includes('\n') ? undefined : text;
}

function sameData(a: Document, b: Document): boolean {
  return a.errors.length === 0 && JSON.stringify(a.toJS()) === JSON.stringify(b.toJS());
}

/**
 * Applies `mutate` to the parsed document and returns the new text: bytes the edit did not change
 * are copied from `text`. Throws ConfigError when the edit would go through a YAML anchor or alias,
 * or cannot be made without reformatting lines outside it.
 */
export function editYaml(file: string, text: string, mutate: (doc: Document.Parsed) => void): string {
  const doc = parseKustomization(file, text);
  const nodesBefore = allNodes(doc);
  const scalars = new Map<Scalar, { value: unknown; type: Scalar['type'] }>();
  const aliases: Alias[] = [];
  for (const n of nodesBefore) {
    if (isScalar(n)) scalars.set(n, { value: n.value, type: n.type });
    if (isAlias(n)) aliases.push(n);
  }
  const referenced = new Set(aliases.map((a) => a.source));
  const anchored = new Map<Node, string>();
  for (const n of nodesBefore) {
    if (isNode(n) && !isAlias(n) && n.anchor && referenced.has(n.anchor)) anchored.set(n, JSON.stringify(n.toJSON()));
  }
  // Print sequences the way the file writes them (kustomize edit writes `- ` at the key's column).
  // and with the file's indentation, so added lines line up with their siblings.
  const indented = /^[^\s#][^\n]*:[ \t]*(?:#[^\n]*)?\r?\n(?:[ \t]*(?:#[^\n]*)?\r?\n)*( +)\S/m.exec(text);
  const fmt = { ...STRINGIFY, indentSeq: !/^([ \t]*)[^\s#-][^\n]*:[ \t]*(?:#[^\n]*)?\r?\n(?:[ \t]*(?:#[^\n]*)?\r?\n)*\1- /m.test(text), indent: indented ? Math.min(8, indented[1]!.length) : 2 };
  const before = doc.toString(fmt);
  try {
    mutate(doc);
  } catch (e) {
    if (e instanceof GitopsError) throw e;
    throw new ConfigError(file, `cannot make the edit: ${(e as Error).message}${aliases.length ? ' (the path goes through a YAML alias)' : ''}`, `edit ${file} by hand`);
  }
  const after = doc.toString(fmt);
  if (after === before) return text;

  const nodesAfter = allNodes(doc);
  const present = new Set(nodesAfter);
  for (const a of aliases) {
    if (!present.has(a)) {
      throw new ConfigError(`${file}:${lineAt(text, a.range?.[0] ?? 0)}`, `the value to change is the alias *${a.source} (a copy of &${a.source}); refusing to replace it silently`, `edit ${file} by hand: change the anchored value or write the new value in place of the alias`);
    }
  }
  for (const [n, json] of anchored) {
    if (!present.has(n) || JSON.stringify(n.toJSON()) !== json) {
      throw new ConfigError(`${file}:${lineAt(text, n.range?.[0] ?? 0)}`, `the value to change is behind YAML anchor &${n.anchor}, which *${n.anchor} uses elsewhere in the file; changing it would change those too`, `edit ${file} by hand (or drop the anchor) and re-run`);
    }
  }

  // Only scalar values changed: splice each at its source range.
  if (nodesAfter.length === nodesBefore.length && nodesAfter.every((n, i) => n === nodesBefore[i])) {
    const edits: Array<{ start: number; end: number; text: string }> = [];
    let spliceable = true;
    for (const [node, old] of scalars) {
      if (node.value === old.value && node.type === old.type) continue;
      const rendered = renderScalar(node);
      if (!node.range || rendered === undefined) {
        spliceable = false;
        break;
      }
      edits.push({ start: node.range[0], end: node.range[1], text: rendered });
    }
    if (spliceable) {
      let out = text;
      for (const e of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
      // A plain value that means something else in its place (a flow collection) falls back to the line merge.
      try {
        if (sameData(parseDocument(out, { uniqueKeys: true }), doc)) return out;
      } catch {
        // fall through
      }
    }
  }
  return mergeLines(file, text, before, after, doc);
}

/**
 * Line merge of an edit that adds or removes lines. The printer's rendering before the edit is
 * aligned with the file on content lines (comments, blank lines, spacing and quotes aside: the
 * printer moves comments around), then the printer's own diff is applied to the file: removed
 * content lines are dropped, added ones inserted after the content line they follow, a line
 * replaced by one line keeps its original bytes around the change.
 */
function mergeLines(file: string, text: string, before: string, after: string, doc: Document): string {
  const crlf = /\r\n/.test(text);
  const orig = text.split('\n');
  const norm = before.split('\n');
  const squash = (l: string) => l.replace(/\r$/, '').replace(/^\uFEFF/, '').replace(/(^|\s)#.*$/, '').replace(/[\s'"]/g, '');
  const oc = orig.map((l, i) => [i, squash(l)] as const).filter(([, q]) => q !== '');
  const nc = norm.map((l, i) => [i, squash(l)] as const).filter(([, q]) => q !== '');
  const refuse = () =>
    new ConfigError(file, 'cannot make this edit without reformatting lines outside it (the file has a layout the YAML printer does not reproduce line for line, e.g. a flow collection over several lines)', `make the change by hand in ${file}`);
  if (oc.length !== nc.length || oc.some(([, q], k) => q !== nc[k]![1])) throw refuse();
  const toOrig = new Map(nc.map(([n], k) => [n, oc[k]![0]]));
  const content = (l: string) => squash(l) !== '';

  const dropped = new Set<number>();
  const replaced = new Map<number, string>();
  const inserted = new Map<number, string[]>();
  let last = -1;
  let n = 0;
  const ops = diffLines(norm, after.split('\n'));
  for (let i = 0; i < ops.length; i++) {
    const [op, line] = ops[i]!;
    if (op === '=') {
      if (toOrig.has(n)) last = toOrig.get(n)!;
      n++;
    } else if (op === '-') {
      const o = toOrig.get(n);
      if (o !== undefined) {
        const next = ops[i + 1];
        if (next?.[0] === '+' && content(next[1]) && ops[i - 1]?.[0] !== '-' && ops[i + 2]?.[0] !== '+') {
          replaced.set(o, patchLine(orig[o]!, norm[n]!, next[1]));
          i++;
        } else dropped.add(o);
        last = o;
      }
      n++;
    } else if (content(line)) {
      const list = inserted.get(last) ?? [];
      list.push(line);
      inserted.set(last, list);
    }
  }
  const out: string[] = [];
  const added = new Set<number>();
  const push = (l: string, isNew: boolean) => {
    if (isNew) added.add(out.length);
    out.push(l);
  };
  for (const l of inserted.get(-1) ?? []) push(l, true);
  orig.forEach((l, o) => {
    if (!dropped.has(o)) push(replaced.get(o) ?? l, false);
    for (const x of inserted.get(o) ?? []) push(x, true);
  });
  if (crlf) {
    for (let k = 0; k < out.length - 1; k++) if ((added.has(k) || added.has(k + 1)) && !out[k]!.endsWith('\r')) out[k] = `${out[k]}\r`;
    if (added.has(out.length - 1)) out[out.length - 1] = out[out.length - 1]!.replace(/\r$/, '');
  }
  const result = out.join('\n');
  let ok = false;
  try {
    ok = sameData(parseDocument(result, { uniqueKeys: true }), doc);
  } catch {
    ok = false;
  }
  if (!ok) throw refuse();
  return result;
}

/** `origLine` with the part where `normLine` and `newLine` differ replaced; the new line as is when they do not line up. */
function patchLine(origLine: string, normLine: string, newLine: string): string {
  const cr = origLine.endsWith('\r') ? '\r' : '';
  const o = cr ? origLine.slice(0, -1) : origLine;
  let p = 0;
  while (p < normLine.length && p < newLine.length && normLine[p] === newLine[p]) p++;
  let s = 0;
  while (s < normLine.length - p && s < newLine.length - p && normLine[normLine.length - 1 - s] === newLine[newLine.length - 1 - s]) s++;
  const changedEnd = normLine.length - s;
  if (o.startsWith(normLine.slice(0, changedEnd))) {
    // The original may differ after the change (spacing before a comment): keep its tail.
    const tail = o.slice(changedEnd);
    const normTail = normLine.slice(changedEnd);
    if (tail.replace(/\s+/g, ' ') === normTail.replace(/\s+/g, ' ') || tail.trim() === normTail.trim()) return `${o.slice(0, p)}${newLine.slice(p, newLine.length - s)}${tail}${cr}`;
  }
  return `${newLine}${cr}`;
}

// ---------------------------------------------------------------------------------------------
// Images a rendered app uses.

/** Every container image string in rendered objects (containers, initContainers, ephemeralContainers, at any depth). */
export function containerImages(objects: K8sObject[]): string[] {
  const found = new Set<string>();
  const walk = (v: unknown, depth: number): void => {
    if (depth > 30 || v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      for (const x of v) walk(x, depth + 1);
      return;
    }
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if ((k === 'containers' || k === 'initContainers' || k === 'ephemeralContainers') && Array.isArray(x)) {
        for (const c of x) if (c && typeof (c as { image?: unknown }).image === 'string') found.add((c as { image: string }).image);
      }
      walk(x, depth + 1);
    }
  };
  for (const o of objects) walk(o, 0);
  return [...found].sort();
}

/**
 * The base image names (what `images[].name` matches) an app uses: rendered image names, with a
 * `newName` mapped back to the entry that set it.
 */
export function usedImageNames(objects: K8sObject[], entries: ImageEntry[]): string[] {
  const names = new Set<string>();
  for (const ref of containerImages(objects)) {
    let name: string;
    try {
      name = imageName(ref);
    } catch {
      continue;
    }
    const renamed = entries.find((e) => e.newName && sameImage(e.newName, name));
    names.add(renamed ? renamed.name : name);
  }
  return [...names].sort();
}

