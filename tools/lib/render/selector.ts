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
      if (typeof re === 'string') out.push({ path: [...at, field], message: `${[...at, field].map((s, i) => (typeof s === 'number' ? `[${s}]` : i ? `.${s}` : s)).join('')}: '${p.slice(0, 200)}' is not a valid regular expression (kustomize reads Go RE2 syntax): ${re}` });
    }
  };
  for (const field of ['patches', 'patchesJson6902'] as const) {
    const list = k[field];
    if (Array.isArray(list)) list.forEach((p, i) => isObj(p) && check(p.target, [field, i, 'target']));
  }
  return out;
}
