import { readFile } from 'node:fs/promises';
import { LineCounter, parseAllDocuments, parseDocument, isNode, isCollection, isScalar, Scalar, type Document } from 'yaml';
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

/** Parses a (multi-document) YAML text; duplicate keys are errors, as in kubeconform -strict. */
export function parseYaml(file: string, text: string): { parsed: YamlFile; problems: YamlProblem[] } {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false }) as Document.Parsed[];
  const problems: YamlProblem[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    for (const e of doc.errors) {
      const { line, col } = lines.linePos(e.pos[0]);
      problems.push({ file, line, col, message: e.code === 'DUPLICATE_KEY' ? `duplicate key: ${firstLine(e.message)}` : firstLine(e.message) });
    }
  }
  return { parsed: { file, docs: Array.isArray(docs) ? docs : [docs], lines }, problems };
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

/** Reads and parses a YAML file; throws ConfigError naming file and line on a syntax error. */
export async function readYaml(file: string, displayName = file): Promise<YamlFile> {
  const text = await readFile(file, 'utf8');
  const { parsed, problems } = parseYaml(displayName, text);
  if (problems.length) {
    const p = problems[0];
    throw new ConfigError(`${displayName}:${p.line}:${p.col}`.replace(/^([^:]+):/, '$1:'), p.message);
  }
  return parsed;
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

/** Splits a JSON pointer ("/spec/template/0/x") into path segments, numbers for indices. */
export function pointerToPath(pointer: string): (string | number)[] {
  if (!pointer || pointer === '/') return [];
  return pointer
    .replace(/^\//, '')
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
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
  const node = d.getIn(path, true);
  const where = path.join('.');
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

/** Whether a string can be written as a plain scalar and read back as the same string. */
function plainSafe(s: string): boolean {
  if (!s || s !== s.trim() || /[\n#]|: |^[-?:,[\]{}&*!|>'"%@`]/.test(s)) return false;
  const d = parseDocument(s);
  return !d.errors.length && isScalar(d.contents) && d.contents.value === s;
}
