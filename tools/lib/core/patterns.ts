// Patterns that come from repository content (kustomize patch targets, ApplicationSet and
// AppProject globs, gitops.yaml layouts) run on RE2 (re2js): linear in the input, no
// backtracking, so `(a+)+b` or `*a*a*a*a*b` cannot hang a run. kustomize's selectors are Go
// regexps, which are RE2 too, so the semantics are the ones kustomize applies.
import { RE2JS, RE2JSSyntaxException } from 're2js';

/** Longer patterns are refused: no glob or selector in a repository needs this many characters. */
export const MAX_PATTERN_LENGTH = 4096;

/** A pattern that does not compile (or is too long): `message` says why, without the pattern. */
export class PatternError extends Error {}

export interface Compiled {
  /** Whether the whole string matches. */
  test(s: string): boolean;
  /** The capture groups (1..n) when the whole string matches. */
  exec(s: string): Array<string | undefined> | undefined;
}

const cache = new Map<string, Compiled | PatternError>();

/** Compiles an RE2 (Go regexp) source, anchored at both ends. Throws PatternError. */
export function re2(source: string, flags = ''): Compiled {
  const key = `${flags}\0${source}`;
  let hit = cache.get(key);
  if (!hit) {
    if (source.length > MAX_PATTERN_LENGTH) hit = new PatternError(`longer than ${MAX_PATTERN_LENGTH} characters`);
    else {
      const full = `${flags ? `(?${flags})` : ''}^(?:${source})$`;
      try {
        const rx = RE2JS.compile(full);
        hit = {
          test: (s) => rx.matches(s),
          exec: (s) => {
            const m = rx.matcher(s);
            if (!m.matches()) return undefined;
            return Array.from({ length: m.groupCount() }, (_, i) => m.group(i + 1) ?? undefined);
          },
        };
      } catch (e) {
        if (!(e instanceof RE2JSSyntaxException)) throw e;
        // RE2's description, and the offending part when it is not the whole (wrapped) pattern.
        const part = e.getPattern();
        hit = new PatternError(e.getDescription() + (part && part !== full ? `: \`${part}\`` : ''));
      }
    }
    if (cache.size > 10_000) cache.clear();
    cache.set(key, hit);
  }
  if (hit instanceof PatternError) throw hit;
  return hit;
}

const SPECIAL = /[\\.+*?()|[\]{}^$]/g;
/** A literal as RE2 source. */
export const quote = (s: string): string => s.replace(SPECIAL, '\\$&');

/** A glob character class `[...]` (`!` or `^` negates) as RE2 source; undefined when unclosed. */
function classAt(glob: string, i: number): { re: string; end: number } | undefined {
  let j = i + 1;
  let neg = false;
  if (glob[j] === '!' || glob[j] === '^') {
    neg = true;
    j++;
  }
  const start = j;
  if (glob[j] === ']') j++;
  while (j < glob.length && glob[j] !== ']') j += glob[j] === '\\' ? 2 : 1;
  if (j >= glob.length) return undefined;
  let body = '';
  for (let k = start; k < j; k++) {
    const c = glob[k];
    if (c === '\\' && k + 1 < j) body += quoteClass(glob[++k]);
    else if (c === '-' && k > start && k < j - 1) body += '-';
    else body += quoteClass(c);
  }
  return { re: `[${neg ? '^' : ''}${body}]`, end: j };
}
const quoteClass = (c: string) => (/[A-Za-z0-9]/.test(c) || c.charCodeAt(0) > 127 ? c : `\\${c}`);

export interface GlobOptions {
  /** What `*` and `?` may match: within one path segment (default) or anything, `/` included. */
  star?: 'segment' | 'any';
  /** `**` spans folders (with star 'segment'). Default true. */
  globstar?: boolean;
  /** `{a,b}` alternatives. Default true. */
  braces?: boolean;
}

/** A glob as RE2 source (not anchored): `*`, `?`, `[..]`, `{a,b}`, `**`, `\` escapes. */
export function globSource(glob: string, opts: GlobOptions = {}): string {
  const seg = opts.star !== 'any';
  const star = seg ? '[^/]*' : '(?s:.*)';
  const one = seg ? '[^/]' : '(?s:.)';
  let out = '';
  let depth = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '\\' && i + 1 < glob.length) out += quote(glob[++i]);
    else if (c === '*') {
      let n = 1;
      while (glob[i + 1] === '*') {
        i++;
        n++;
      }
      if (n >= 2 && seg && opts.globstar !== false) {
        // `a/**/b` also matches `a/b`; a trailing `/**` matches the folder's contents.
        if (glob[i + 1] === '/' && (i - n < 0 || glob[i - n] === '/')) {
          out += '(?:[^/]*(?:/[^/]*)*/)?';
          i++;
        } else out += '(?s:.*)';
      } else out += star;
    } else if (c === '?') out += one;
    else if (c === '[') {
      const cls = classAt(glob, i);
      if (cls) {
        out += cls.re;
        i = cls.end;
      } else out += '\\[';
    } else if (c === '{' && opts.braces !== false && glob.indexOf('}', i) > 0) {
      depth++;
      out += '(?:';
    } else if (c === ',' && depth > 0) out += '|';
    else if (c === '}' && depth > 0) {
      depth--;
      out += ')';
    } else out += quote(c);
  }
  // An unclosed brace: the pattern is taken as written up to there, closed here.
  return out + ')'.repeat(depth);
}

/** Whether any of the globs matches the whole string (a glob that does not compile matches only itself). */
export function globMatcher(globs: string[], opts: GlobOptions = {}): (s: string) => boolean {
  const compiled = globs.map((g) => {
    try {
      return re2(globSource(g, opts), 's');
    } catch {
      return { test: (s: string) => s === g, exec: () => undefined };
    }
  });
  return (s) => compiled.some((c) => c.test(s));
}
