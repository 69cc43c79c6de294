import { Composer, LineCounter, Parser, parseAllDocuments, parseDocument, type CST, isAlias, isNode, isCollection, isScalar, Scalar, visit, type Document } from 'yaml';
import { ConfigError } from './errors.js';

export interface YamlFile {
  file: string;
  docs: Document.Parsed[];
  lines: LineCounter;
}

export interface YamlProblem {
  file: string;
  line: number;
  col: number;
  message: string;
}

/**
 * Limits on every YAML text the toolkit parses (repository files, kustomize output): a pull
 * request controls them, and the parser's time and memory must stay bounded. Stated in the
 * README. Deep nesting is refused before composing: the composer recurses and runs out of
 * stack or memory on some thousands of levels.
 */
export const YAML_LIMITS = {
  /** Bytes of one repository file. */
  maxFileBytes: 4 * 1024 * 1024,
  /** Bytes of one rendered stream (kustomize output). */
  maxStreamBytes: 64 * 1024 * 1024,
  /** Nesting of collections (block maps and sequences, flow collections). */
  maxDepth: 100,
  /** Alias expansions per document (the yaml library's resource-exhaustion guard). */
  maxAliasCount: 100,
};

function problemAt(file: string, text: string, index: number, message: string): YamlProblem {
  const before = text.slice(0, Math.max(0, index));
  const line = (before.match(/\n/g)?.length ?? 0) + 1;
  return { file, line, col: index - before.lastIndexOf('\n'), message };
}

/**
 * Where the nesting of collections (block maps and sequences, flow brackets) first exceeds
 * `limit` in the yaml package's own concrete syntax tree, or -1. The tree comes from its
 * parser, which keeps an explicit stack; only its composer recurses, so this runs before
 * composing. The walk keeps its own stack too.
 */
export function tokensTooDeep(tokens: Iterable<CST.Token>, limit: number): number {
  const stack: [CST.Token, number][] = [];
  for (const token of tokens) {
    if (token.type === 'document' && token.value) stack.push([token.value, 0]);
    while (stack.length) {
      const [t, depth] = stack.pop()!;
      if (t.type !== 'block-map' && t.type !== 'block-seq' && t.type !== 'flow-collection') continue;
      if (depth + 1 > limit) return t.offset;
      for (const item of t.items) {
        if (item.value) stack.push([item.value, depth + 1]);
        if ('key' in item && item.key) stack.push([item.key, depth + 1]);
      }
    }
  }
  return -1;
}

/** tokensTooDeep of a text (for callers that parse with the yaml library themselves). */
export function depthExceeded(text: string, limit: number): number {
  return tokensTooDeep(new Parser().parse(text), limit);
}

/**
 * Checks a file's bytes before parsing: size, UTF-8, byte-order mark, nesting depth. Returns
 * the text, or a problem naming the line.
 */
export function decodeYaml(file: string, bytes: Buffer | string, maxBytes = YAML_LIMITS.maxFileBytes): { text?: string; problem?: YamlProblem } {
  const { text, problem } = decodeText(file, bytes, maxBytes);
  if (problem) return { problem };
  const deep = depthExceeded(text!, YAML_LIMITS.maxDepth);
  if (deep >= 0) return { problem: tooDeep(file, text!, deep) };
  return { text };
}

function tooDeep(file: string, text: string, offset: number): YamlProblem {
  return problemAt(file, text, offset, `nesting deeper than ${YAML_LIMITS.maxDepth} levels`);
}

/** Size, UTF-8 and byte-order mark: what must hold before the parser sees a text. */
function decodeText(file: string, bytes: Buffer | string, maxBytes: number): { text?: string; problem?: YamlProblem } {
  const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length;
  if (size > maxBytes) return { problem: { file, line: 1, col: 1, message: `file is ${size} bytes, over the limit of ${maxBytes} bytes for a YAML file` } };
  let text: string;
  if (typeof bytes === 'string') text = bytes;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch {
      const loose = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
      return { problem: problemAt(file, loose, loose.indexOf('\uFFFD'), 'not valid UTF-8 (YAML files must be UTF-8 text)') };
    }
  }
  if (text.startsWith('\uFEFF')) return { problem: { file, line: 1, col: 1, message: 'file starts with a byte-order mark (BOM); save it as UTF-8 without BOM' } };
  const bom = text.indexOf('\uFEFF');
  if (bom >= 0) return { problem: problemAt(file, text, bom, 'byte-order mark (U+FEFF) inside the file; remove it') };
  return { text };
}

/** The limits of decodeYaml as an exception (for callers that parse with the yaml library themselves). */
export function assertYamlLimits(file: string, text: string): void {
  // Edits keep every byte, a leading BOM included: only the limits that protect the parser apply.
  const { problem } = decodeYaml(file, text.replace(/^\uFEFF/, ''));
  if (problem) throw new ConfigError(`${file}:${problem.line}`, problem.message);
}

/**
 * Parses a (multi-document) YAML text; duplicate keys are errors, as in kubeconform -strict.
 * Limits (YAML_LIMITS) and encoding problems are problems with a line, never exceptions; a
 * document that does not convert to plain data (an alias bomb) is a problem too.
 */
export function parseYaml(file: string, input: string | Buffer, opts: ParseOptions = {}): { parsed: YamlFile; problems: YamlProblem[] } {
  const { parsed, problems } = parseChecked(file, input, opts);
  return { parsed, problems };
}

export interface ParseOptions {
  maxBytes?: number;
  /**
   * Resolve YAML 1.1 merge keys (`<<: *anchor`) as kustomize's Go YAML parsers do: for text that
   * kustomize reads (kustomizations, plugin configs), so the toolkit sees the fields kustomize sees.
   */
  merge?: boolean;
}

function parseChecked(file: string, input: string | Buffer, opts: ParseOptions): { parsed: YamlFile; problems: YamlProblem[]; data: unknown[] } {
  const lines = new LineCounter();
  const { text, problem } = decodeText(file, input, opts.maxBytes ?? YAML_LIMITS.maxFileBytes);
  if (problem) return { parsed: { file, docs: [], lines }, problems: [problem], data: [] };
  // One parse: the syntax tree is measured before the (recursive) composer sees it.
  const tokens = Array.from(new Parser(lines.addNewLine).parse(text!));
  const deep = tokensTooDeep(tokens, YAML_LIMITS.maxDepth);
  if (deep >= 0) return { parsed: { file, docs: [], lines }, problems: [tooDeep(file, text!, deep)], data: [] };
  const list = Array.from(new Composer({ uniqueKeys: true, prettyErrors: false, merge: !!opts.merge }).compose(tokens)) as Document.Parsed[];
  const problems: YamlProblem[] = [];
  const data: unknown[] = [];
  for (const doc of list) {
    for (const e of doc.errors) {
      const { line, col } = lines.linePos(e.pos[0]);
      problems.push({ file, line, col, message: e.code === 'DUPLICATE_KEY' ? `duplicate key: ${firstLine(e.message)}` : firstLine(e.message) });
    }
    if (doc.errors.length) continue;
    try {
      data.push(doc.toJS({ maxAliasCount: YAML_LIMITS.maxAliasCount }));
    } catch (e) {
      let at = doc.contents?.range?.[0] ?? 0;
      const bomb = /alias/i.test((e as Error).message);
      if (bomb) {
        visit(doc, {
          Alias(_, node) {
            if (node.range) at = node.range[0];
            return visit.BREAK;
          },
        });
      }
      const { line, col } = lines.linePos(at);
      problems.push({ file, line, col, message: bomb ? `aliases expand beyond the limit of ${YAML_LIMITS.maxAliasCount} (a YAML alias bomb?)` : firstLine((e as Error).message) });
    }
  }
  return { parsed: { file, docs: list, lines }, problems, data };
}

/** Plain data of every document of a YAML text, or the first problem (never an exception). */
export function parseYamlData(file: string, input: string | Buffer, opts: ParseOptions = {}): { docs: unknown[]; problem?: YamlProblem } {
  const { problems, data } = parseChecked(file, input, opts);
  return problems.length ? { docs: [], problem: problems[0] } : { docs: data };
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

/** 1-based line of the deepest node along `path` that exists in `doc` (0 when none). */
export function lineOf(doc: Document, lines: LineCounter, path: (string | number)[]): number {
  let node: unknown = doc.contents;
  let best = isNode(node) && node.range ? node.range[0] : -1;
  for (const key of path) {
    if (!isCollection(node)) break;
    const pair = (node.items as unknown[]).find((it, i) => {
      if (typeof key === 'number') return i === key;
      const k = (it as { key?: { value?: unknown } }).key;
      return k !== undefined && String((k as { value?: unknown }).value ?? k) === String(key);
    });
    if (pair === undefined) break;
    const keyNode = (pair as { key?: unknown }).key;
    const valueNode = typeof key === 'number' ? pair : (pair as { value?: unknown }).value;
    const anchor = isNode(keyNode) && keyNode.range ? keyNode.range[0] : isNode(valueNode) && valueNode.range ? valueNode.range[0] : best;
    best = anchor;
    node = valueNode;
  }
  return best >= 0 ? lines.linePos(best).line : 0;
}


/**
 * Replaces the value of one scalar (document `doc`, YAML `path`) in `text`, keeping every other
 * byte, its quoting style where the new value allows it, and its comments. `value` maps the old
 * value to the new one. Block scalars and aliases are refused.
 */
export function replaceScalar(file: string, text: string, doc: number, path: (string | number)[], value: (old: unknown) => string): { text: string; before: unknown } {
  const docs = parseAllDocuments(text, { prettyErrors: false }) as Document.Parsed[];
  const d = (Array.isArray(docs) ? docs : [docs])[doc];
  if (!d) throw new ConfigError(file, `has no YAML document ${doc + 1}`);
  if (d.errors.length) throw new ConfigError(file, firstLine(d.errors[0]!.message));
  const where = path.join('.');
  refuseShared(file, text, d, path, where);
  const node = d.getIn(path, true);
  if (!isScalar(node) || !node.range) throw new ConfigError(file, `${where}: not a scalar value`);
  if (node.type === Scalar.BLOCK_LITERAL || node.type === Scalar.BLOCK_FOLDED) throw new ConfigError(file, `${where}: a block scalar; edit it by hand`);
  const next = value(node.value);
  const [start, end] = node.range;
  let src: string;
  if (node.type === Scalar.QUOTE_SINGLE) src = `'${next.replace(/'/g, "''")}'`;
  else if (node.type === Scalar.QUOTE_DOUBLE || !plainSafe(next)) src = JSON.stringify(next);
  else src = next;
  const out = text.slice(0, start) + src + text.slice(end);
  // The edit is the contract: the new text must parse to the new value at the same place.
  const check = (parseAllDocuments(out) as Document.Parsed[])[doc]?.getIn(path);
  if (check !== next) throw new ConfigError(file, `${where}: internal: the edit does not read back as ${next}`);
  return { text: out, before: node.value };
}

/**
 * Refuses an edit at `path` that goes through a YAML alias, or changes a node whose anchor an
 * alias uses elsewhere: either would silently change (or unlink) the value's other uses.
 */
function refuseShared(file: string, text: string, d: Document, path: (string | number)[], where: string): void {
  const referenced = new Set<string>();
  visit(d, {
    Alias(_, a) {
      referenced.add(a.source);
    },
  });
  const lineOfNode = (n: { range?: [number, number, number] | null }) => text.slice(0, n.range?.[0] ?? 0).split('\n').length;
  let cur: unknown = d.contents;
  for (let i = 0; ; i++) {
    if (isAlias(cur)) {
      throw new ConfigError(`${file}:${lineOfNode(cur)}`, `${where}: the value to change is reached through the alias *${cur.source}; refusing to change &${cur.source} and its other uses`, `edit ${file} by hand`);
    }
    if (isNode(cur) && cur.anchor && referenced.has(cur.anchor)) {
      throw new ConfigError(`${file}:${lineOfNode(cur)}`, `${where}: the value to change is behind YAML anchor &${cur.anchor}, which *${cur.anchor} uses elsewhere in the file; changing it would change those too`, `edit ${file} by hand (or drop the anchor) and re-run`);
    }
    if (i >= path.length || !isCollection(cur)) return;
    cur = cur.get(path[i], true);
  }
}

/** Whether a string can be written as a plain scalar and read back as the same string. */
function plainSafe(s: string): boolean {
  if (!s || s !== s.trim() || /[\n#]|: |^[-?:,[\]{}&*!|>'"%@`]/.test(s)) return false;
  const d = parseDocument(s);
  return !d.errors.length && isScalar(d.contents) && d.contents.value === s;
}
