// A small subset of Go's text/template, enough to render Argo CD ApplicationSet templates
// (goTemplate: true) the way the ApplicationSet controller does: field access (`.a.b`, `$.a`),
// literals, parenthesised pipelines, `|` pipes and a few functions (index, len, printf and the
// common sprig string helpers). Control actions (if, range, with, define) are not supported and
// fail loudly instead of rendering something Argo CD would not.

export class TemplateError extends Error {}

export interface TemplateOptions {
  /** Go's missingkey option: `error` fails on a missing map key, `default`/`zero` print `<no value>`/''. */
  missingkey?: 'error' | 'default' | 'zero' | 'invalid';
}

type Value = unknown;
const MISSING = Symbol('missing');

type Node =
  | { t: 'field'; root: 'dot' | 'dollar'; path: string[] }
  | { t: 'lit'; v: Value }
  | { t: 'ident'; name: string }
  | { t: 'pipe'; cmds: Node[][] };

/** Splits `text` into literal text and `{{ action }}` parts, honouring `{{-` / `-}}` trimming. */
function split(text: string): Array<{ text: string } | { action: string }> {
  const out: Array<{ text: string } | { action: string }> = [];
  let i = 0;
  let trimNext = false;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    let lit = open < 0 ? text.slice(i) : text.slice(i, open);
    if (trimNext) lit = lit.replace(/^\s+/, '');
    trimNext = false;
    if (open < 0) {
      out.push({ text: lit });
      break;
    }
    let start = open + 2;
    if (text.startsWith('- ', start) || /^-[\t\r\n]/.test(text.slice(start, start + 2))) {
      lit = lit.replace(/\s+$/, '');
      start += 1;
    }
    out.push({ text: lit });
    // The action ends at the first `}}` outside a string literal.
    let j = start;
    let quote: string | undefined;
    for (; j < text.length; j++) {
      const c = text[j];
      if (quote) {
        if (c === '\\' && quote === '"') j++;
        else if (c === quote) quote = undefined;
      } else if (c === '"' || c === '`') quote = c;
      else if (text.startsWith('}}', j)) break;
    }
    if (j >= text.length) throw new TemplateError(`unclosed action in ${JSON.stringify(text)}`);
    let body = text.slice(start, j);
    if (/\s-$/.test(body)) {
      body = body.slice(0, -1);
      trimNext = true;
    }
    out.push({ action: body.trim() });
    i = j + 2;
  }
  return out;
}

function tokenize(src: string): string[] {
  const tokens: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\(|\)|\||\$?(?:\.[A-Za-z_][\w]*)+|\$|\.|[A-Za-z_][\w]*|-?\d+(?:\.\d+)?)/y;
  let pos = 0;
  while (pos < src.length) {
    if (/^\s*$/.test(src.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(src);
    if (!m) throw new TemplateError(`unexpected ${JSON.stringify(src.slice(pos).trim())} in {{${src}}}`);
    tokens.push(m[1]);
    pos = re.lastIndex;
  }
  return tokens;
}

function parsePipeline(tokens: string[], pos: { i: number }, src: string): Node {
  const cmds: Node[][] = [[]];
  while (pos.i < tokens.length) {
    const tok = tokens[pos.i++];
    if (tok === ')') {
      pos.i--;
      break;
    }
    if (tok === '|') {
      cmds.push([]);
      continue;
    }
    let node: Node;
    if (tok === '(') {
      node = parsePipeline(tokens, pos, src);
      if (tokens[pos.i++] !== ')') throw new TemplateError(`unclosed '(' in {{${src}}}`);
    } else if (tok.startsWith('"')) node = { t: 'lit', v: JSON.parse(tok) };
    else if (tok.startsWith('`')) node = { t: 'lit', v: tok.slice(1, -1) };
    else if (/^-?\d/.test(tok)) node = { t: 'lit', v: Number(tok) };
    else if (tok === 'true' || tok === 'false') node = { t: 'lit', v: tok === 'true' };
    else if (tok === 'nil') node = { t: 'lit', v: null };
    else if (tok === '.' || tok === '$') node = { t: 'field', root: tok === '.' ? 'dot' : 'dollar', path: [] };
    else if (tok.startsWith('.') || tok.startsWith('$.')) {
      node = { t: 'field', root: tok.startsWith('$') ? 'dollar' : 'dot', path: tok.replace(/^\$/, '').slice(1).split('.') };
    } else node = { t: 'ident', name: tok };
    cmds[cmds.length - 1].push(node);
  }
  if (cmds.some((c) => !c.length)) throw new TemplateError(`missing command in {{${src}}}`);
  return { t: 'pipe', cmds };
}

const CONTROL = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue']);

function typeName(v: Value): string {
  if (v === null || v === undefined) return 'nil';
  if (Array.isArray(v)) return '[]interface {}';
  if (typeof v === 'object') return 'map[string]interface {}';
  return typeof v === 'number' ? 'int' : typeof v;
}

/** Go's fmt %v formatting of JSON-like values. */
export function formatValue(v: Value): string {
  if (v === null || v === undefined) return '<no value>';
  if (Array.isArray(v)) return `[${v.map(formatValue).join(' ')}]`;
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, Value>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `map[${entries.map(([k, x]) => `${k}:${formatValue(x)}`).join(' ')}]`;
  }
  return String(v);
}

function str(v: Value): string {
  return v === null || v === undefined ? '' : typeof v === 'string' ? v : formatValue(v);
}

const FUNCS: Record<string, (...args: Value[]) => Value> = {
  index(coll, ...keys) {
    let cur = coll;
    for (const k of keys) {
      if (Array.isArray(cur)) {
        if (typeof k !== 'number' || !Number.isInteger(k)) throw new TemplateError(`error calling index: cannot index slice/array with type ${typeTypeOf(k)}`);
        if (k < 0 || k >= cur.length) throw new TemplateError(`error calling index: index out of range: ${k}`);
        cur = cur[k];
      } else if (cur && typeof cur === 'object') {
        cur = Object.hasOwn(cur, String(k)) ? (cur as Record<string, Value>)[String(k)] : undefined;
      } else if (cur === null || cur === undefined) {
        throw new TemplateError('error calling index: index of untyped nil');
      } else {
        throw new TemplateError(`error calling index: can't index item of type ${typeName(cur)}`);
      }
    }
    return cur;
  },
  len(v) {
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (v && typeof v === 'object') return Object.keys(v).length;
    throw new TemplateError(`error calling len: len of type ${typeName(v)}`);
  },
  printf(format, ...args) {
    let n = 0;
    return String(format).replace(/%[svdq%]/g, (m) => {
      if (m === '%%') return '%';
      const a = args[n++];
      return m === '%q' ? JSON.stringify(str(a)) : str(a);
    });
  },
  print: (...args) => args.map(str).join(''),
  lower: (s) => str(s).toLowerCase(),
  upper: (s) => str(s).toUpperCase(),
  trim: (s) => str(s).trim(),
  trimPrefix: (p, s) => (str(s).startsWith(str(p)) ? str(s).slice(str(p).length) : str(s)),
  trimSuffix: (p, s) => (str(s).endsWith(str(p)) && str(p) ? str(s).slice(0, -str(p).length) : str(s)),
  replace: (old, nw, s) => str(s).split(str(old)).join(str(nw)),
  default: (d, v) => (v === undefined || v === null || v === '' || v === false || v === 0 || (Array.isArray(v) && !v.length) ? d : v),
  join: (sep, list) => (Array.isArray(list) ? list.map(str).join(str(sep)) : str(list)),
  quote: (s) => JSON.stringify(str(s)),
  toString: (v: Value) => str(v),
  base: (s) => str(s).split('/').filter(Boolean).pop() ?? '',
  dir: (s) => str(s).split('/').slice(0, -1).join('/') || '.',
};

// Own names only: `hasOwnProperty` or `constructor` are not template functions.
const funcOf = (name: string) => (Object.hasOwn(FUNCS, name) ? FUNCS[name] : undefined);

function typeTypeOf(v: Value): string {
  return typeof v === 'string' ? 'string' : typeName(v);
}

function evalField(node: Extract<Node, { t: 'field' }>, dot: Value, root: Value, opts: TemplateOptions): Value {
  let cur = node.root === 'dot' ? dot : root;
  let where = node.root === 'dot' ? '' : '$';
  for (const key of node.path) {
    if (cur === MISSING || cur === null || cur === undefined) {
      // Go: a field of a missing map entry is nil, nil pointer evaluating ... is an error.
      throw new TemplateError(`nil pointer evaluating interface {}.${key}`);
    }
    if (typeof cur !== 'object' || Array.isArray(cur)) throw new TemplateError(`can't evaluate field ${key} in type ${typeName(cur)}`);
    // Own keys only: `.constructor` of a map is a missing key, as in Go, never a JavaScript prototype member.
    if (!Object.hasOwn(cur as object, key)) {
      if (opts.missingkey === 'error') throw new TemplateError(`map has no entry for key "${key}"${where ? ` (in ${where})` : ''}`);
      cur = MISSING;
    } else cur = (cur as Record<string, Value>)[key];
    where += `.${key}`;
  }
  return cur;
}

function evalPipe(node: Extract<Node, { t: 'pipe' }>, dot: Value, root: Value, opts: TemplateOptions): Value {
  let prev: Value | typeof MISSING = MISSING;
  let first = true;
  for (const cmd of node.cmds) {
    const [head, ...rest] = cmd;
    const args = rest.map((a) => evalArg(a, dot, root, opts));
    if (!first) args.push(prev);
    if (head.t === 'ident') {
      if (CONTROL.has(head.name)) throw new TemplateError(`'${head.name}' actions are not supported by this evaluator`);
      const fn = funcOf(head.name);
      if (!fn) throw new TemplateError(`function "${head.name}" not defined`);
      prev = fn(...args.map((a) => (a === MISSING ? undefined : a)));
    } else {
      if (args.length) throw new TemplateError(`can't give argument to non-function ${describe(head)}`);
      prev = evalArg(head, dot, root, opts);
    }
    first = false;
  }
  return prev;
}

function describe(n: Node): string {
  return n.t === 'field' ? `${n.root === 'dollar' ? '$' : ''}.${n.path.join('.')}` : n.t === 'lit' ? JSON.stringify(n.v) : n.t;
}

function evalArg(node: Node, dot: Value, root: Value, opts: TemplateOptions): Value {
  switch (node.t) {
    case 'lit':
      return node.v;
    case 'field':
      return evalField(node, dot, root, opts);
    case 'pipe':
      return evalPipe(node, dot, root, opts);
    case 'ident':
      if (CONTROL.has(node.name)) throw new TemplateError(`'${node.name}' actions are not supported by this evaluator`);
      const fn = funcOf(node.name);
      if (!fn) throw new TemplateError(`function "${node.name}" not defined`);
      return fn();
  }
}

/** Renders one template string against `data`; throws TemplateError like Go's Execute would. */
export function renderGoTemplate(text: string, data: Value, opts: TemplateOptions = {}): string {
  let out = '';
  for (const part of split(text)) {
    if ('text' in part) {
      out += part.text;
      continue;
    }
    if (part.action.startsWith('/*')) continue; // comment
    const tokens = tokenize(part.action);
    const pos = { i: 0 };
    const node = parsePipeline(tokens, pos, part.action);
    if (pos.i < tokens.length) throw new TemplateError(`unexpected ${tokens[pos.i]} in {{${part.action}}}`);
    const v = evalPipe(node as Extract<Node, { t: 'pipe' }>, data, data, opts);
    if (v === MISSING) out += opts.missingkey === 'zero' ? '' : '<no value>';
    else out += formatValue(v);
  }
  return out;
}

/**
 * Argo CD's legacy (fasttemplate) rendering: `{{key}}` and `{{ key }}` replaced by flat
 * parameters (`path`, `path.basename`, `path[0]`, `values.x`); unknown keys stay as written.
 */
export function renderFastTemplate(text: string, params: Record<string, string>): string {
  return text.replace(/\{\{\s*([^{}\s]+)\s*\}\}/g, (m, key: string) => (Object.hasOwn(params, key) ? params[key] : m));
}
