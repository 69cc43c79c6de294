// kustomize's target selection (types.Selector): the group, version, kind, name and namespace
// of a patch or replacement target are Go regular expressions (RE2 syntax, anchored as
// `^(?:pattern)$`), compiled by core/patterns.ts (re2js, a port of RE2: the same syntax, the same
// errors, the same matches, linear in the input).
import { PatternError, re2, type Compiled } from '../core/patterns.js';

/** The fields of a target kustomize compiles as regular expressions. */
const REGEX_FIELDS = ['group', 'version', 'kind', 'name', 'namespace'] as const;

/** The anchored pattern, or kustomize's reason for refusing it. */
function compileTargetPattern(pattern: string): Compiled | string {
  try {
    return re2(pattern);
  } catch (e) {
    if (!(e instanceof PatternError)) throw e;
    return e.message;
  }
}

/**
 * Whether a target field selects a value: an absent or empty pattern selects everything; one
 * kustomize cannot compile selects nothing (kustomize fails the build; targetProblems says why).
 */
export function patternMatches(pattern: unknown, value: string | undefined): boolean {
  if (typeof pattern !== 'string' || pattern === '') return true;
  const re = compileTargetPattern(pattern);
  return typeof re !== 'string' && re.test(value ?? '');
}

export interface TargetProblem {
  /** Path of the field in the kustomization (`['patches', 1, 'target', 'name']`). */
  path: (string | number)[];
  message: string;
}

const dotted = (p: (string | number)[]) => p.map((s, i) => (typeof s === 'number' ? `[${s}]` : i ? `.${s}` : s)).join('');

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Target patterns of a kustomization that kustomize would refuse to compile. */
export function targetProblems(k: Record<string, unknown>): TargetProblem[] {
  const out: TargetProblem[] = [];
  const check = (sel: unknown, at: (string | number)[]) => {
    if (!isObj(sel)) return;
    for (const field of REGEX_FIELDS) {
      const p = sel[field];
      if (typeof p !== 'string' || p === '') continue;
      const re = compileTargetPattern(p);
      if (typeof re === 'string') out.push({ path: [...at, field], message: `${dotted([...at, field])}: '${p.slice(0, 200)}' is not a valid regular expression (kustomize reads Go RE2 syntax): ${re}` });
    }
    for (const field of ['labelSelector', 'annotationSelector']) {
      const s = sel[field];
      if (typeof s !== 'string' || !s.trim()) continue;
      const reqs = parseSelector(s);
      if (typeof reqs === 'string') out.push({ path: [...at, field], message: `${dotted([...at, field])}: ${reqs}` });
    }
  };
  for (const field of ['patches', 'patchesJson6902'] as const) {
    const list = k[field];
    if (Array.isArray(list)) list.forEach((p, i) => isObj(p) && check(p.target, [field, i, 'target']));
  }
  return out;
}

type Requirement =
  | { key: string; op: 'exists' | '!' }
  | { key: string; op: '=' | '!='; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: '>' | '<'; value: number };

const KEY = String.raw`[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?`;
const VALUE = String.raw`(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?`;
const TERMS: Array<[RegExp, (m: RegExpExecArray) => Requirement]> = [
  [new RegExp(`^!\\s*(${KEY})$`), (m) => ({ key: m[1]!, op: '!' })],
  [new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*(${VALUE})$`), (m) => ({ key: m[1]!, op: m[2] === '!=' ? '!=' : '=', value: m[3]! })],
  [new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\(\\s*(${VALUE}(?:\\s*,\\s*${VALUE})*)\\s*\\)$`), (m) => ({ key: m[1]!, op: m[2] as 'in' | 'notin', values: m[3]!.split(',').map((v) => v.trim()) })],
  [new RegExp(`^(${KEY})\\s*([<>])\\s*(-?\\d+)$`), (m) => ({ key: m[1]!, op: m[2] as '>' | '<', value: Number(m[3]) })],
  [new RegExp(`^(${KEY})$`), (m) => ({ key: m[1]!, op: 'exists' })],
];

/**
 * A label (or annotation) selector in the syntax kustomize reads with Kubernetes' labels.Parse:
 * `a=b`, `a==b`, `a!=b`, `a in (b,c)`, `a notin (b)`, `a`, `!a`, `a>1`, `a<1`, joined by
 * commas. The requirements, or why it does not parse.
 */
export function parseSelector(selector: string): Requirement[] | string {
  const terms: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of selector) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ',' && depth === 0) {
      terms.push(cur);
      cur = '';
    } else cur += c;
  }
  terms.push(cur);
  const out: Requirement[] = [];
  for (const raw of terms) {
    const term = raw.trim();
    if (!term && terms.length === 1) return [];
    const hit = TERMS.map(([re, make]) => {
      const m = re.exec(term);
      return m ? make(m) : undefined;
    }).find((r) => r !== undefined);
    if (!hit) return `cannot parse '${term}' (expected key=value, key!=value, key in (a,b), key notin (a,b), key or !key)`;
    out.push(hit);
  }
  return out;
}

/** Whether labels (or annotations) satisfy a selector; an absent or empty one selects all, an invalid one nothing. */
export function selectorSelects(selector: unknown, labels: Record<string, string> | undefined): boolean {
  if (typeof selector !== 'string' || !selector.trim()) return true;
  const reqs = parseSelector(selector);
  if (typeof reqs === 'string') return false;
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case 'exists':
        return has;
      case '!':
        return !has;
      case '=':
        return has && v === r.value;
      case '!=':
        return !has || v !== r.value;
      case 'in':
        return has && r.values.includes(v!);
      case 'notin':
        return !has || !r.values.includes(v!);
      case '>':
      case '<':
        return has && /^-?\d+$/.test(v!) && (r.op === '>' ? Number(v) > r.value : Number(v) < r.value);
    }
  });
}
