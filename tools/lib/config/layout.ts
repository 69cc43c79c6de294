// Where overlays live and how an app id derives from an overlay's folder: gitops.yaml
// `environments[].overlays` (glob patterns) and `appId` (a template over the wildcards).
// Pure: apps.ts does the walking.

/** The file names kustomize accepts for a kustomization, in the order it looks for them. */
import { ConfigError } from '../core/errors.js';
import { PatternError, re2, type Compiled } from '../core/patterns.js';

export const KUSTOMIZATION_NAMES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

export interface CompiledPattern {
  pattern: string;
  /** RE2 (linear in the path): a pattern cannot hang a run. */
  regex: Compiled;
  /** Number of wildcard segments (capture groups). */
  wildcards: number;
  /** Leading folders without wildcards: where the overlays of this pattern must be. */
  prefix: string;
  /** Depth below `prefix` a match can have (Infinity with `**`). */
  depth: number;
}

const WILD = /[*?[{]/;

function escape(s: string): string {
  return s.replace(/[.+^$()|\\/]/g, '\\$&');
}

/** One folder name with `*`, `?`, `[...]` and `{a,b}` as a regular expression. */
function segmentRegex(seg: string): string {
  let out = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i + 2);
      if (end < 0) out += '\\[';
      else {
        const body = seg.slice(i + 1, end);
        out += `[${body.startsWith('!') ? '^' + body.slice(1) : body}]`;
        i = end;
      }
    } else if (c === '{') {
      const end = seg.indexOf('}', i);
      if (end < 0) out += '\\{';
      else {
        out += `(?:${seg.slice(i + 1, end).split(',').map((alt) => segmentRegex(alt)).join('|')})`;
        i = end;
      }
    } else out += escape(c);
  }
  return out;
}

/**
 * Compiles a folder glob: `*`/`?`/`[..]`/`{a,b}` within one folder name, `**` any number of
 * folders. Each segment holding a wildcard is one capture, numbered from 1 for `appId`. A
 * trailing kustomization file name is accepted (the ApplicationSet files-generator form).
 */
export function compilePattern(pattern: string): CompiledPattern {
  let segs = pattern.replace(/\/+$/, '').split('/').filter((s) => s !== '' && s !== '.');
  if (segs.length > 1 && KUSTOMIZATION_NAMES.includes(segs[segs.length - 1])) segs = segs.slice(0, -1);
  let re = '^';
  let wildcards = 0;
  let prefixLen = 0;
  while (prefixLen < segs.length && !WILD.test(segs[prefixLen])) prefixLen++;
  for (const [i, seg] of segs.entries()) {
    const last = i === segs.length - 1;
    const afterGlobstar = i > 0 && segs[i - 1] === '**' && i - 1 < segs.length - 1;
    if (seg === '**') {
      wildcards++;
      if (last) re += i === 0 ? '(.+)' : '(?:/(.+))?';
      else re += (i > 0 && !afterGlobstar ? '/' : '') + '((?:[^/]+/)*)';
      continue;
    }
    if (i > 0 && !afterGlobstar) re += '/';
    if (WILD.test(seg)) {
      wildcards++;
      re += `(${segmentRegex(seg)})`;
    } else re += escape(seg);
  }
  re += '$';
  let regex: Compiled;
  try {
    regex = re2(re);
  } catch (e) {
    if (!(e instanceof PatternError)) throw e;
    throw new ConfigError('gitops.yaml', `overlays pattern '${pattern.slice(0, 200)}' is not a valid glob: ${e.message}`);
  }
  return {
    pattern,
    regex,
    wildcards,
    prefix: segs.slice(0, prefixLen).join('/'),
    depth: segs.includes('**') ? Infinity : segs.length - prefixLen,
  };
}

/** What each wildcard matched (`**` without its trailing slash), or undefined when `dir` does not match. */
export function matchPattern(p: CompiledPattern, dir: string): string[] | undefined {
  const m = p.regex.exec(dir);
  return m ? m.map((x) => (x ?? '').replace(/\/$/, '')) : undefined;
}

const TOKEN = /\{(\d+|path)\}/g;

/** The id template applied to one match; undefined template: the non-empty wildcards joined with '/'. */
export function fillAppId(template: string | undefined, captures: string[], dir: string): string {
  if (template === undefined) return captures.filter(Boolean).join('/');
  return template.replace(TOKEN, (_, k: string) => (k === 'path' ? dir : captures[Number(k) - 1] ?? ''));
}

const SEGMENT = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/**
 * App ids are folder-safe, branch-safe and label-safe: lower-case segments of [a-z0-9-]
 * joined by '/'. Anything else is mapped onto that alphabet (never dropped): `My_App` ->
 * `my-app`. Returns '' when nothing is left.
 */
export function normalizeId(raw: string): string {
  return raw
    .split('/')
    .map((s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, ''))
    .filter(Boolean)
    .join('/');
}

export function isValidId(id: string): boolean {
  return id.split('/').every((s) => SEGMENT.test(s));
}

/** A problem with an environment's `overlays`/`appId` (config.ts reports it with its line). */
export function layoutProblem(overlays: string[], appId: string | undefined): { field: 'overlays' | 'appId'; message: string } | undefined {
  for (const p of overlays) {
    let c: CompiledPattern;
    try {
      c = compilePattern(p);
    } catch (e) {
      if (e instanceof ConfigError) return { field: 'overlays', message: e.message.replace(/^gitops\.yaml: /, '') };
      throw e;
    }
    if (!c.wildcards && appId === undefined) {
      return { field: 'appId', message: `required: pattern '${p}' has no wildcard to derive an app id from (e.g. appId: my-app for a single app per environment)` };
    }
    if (/^\*\*(\/|$)/.test(p)) return { field: 'overlays', message: `pattern '${p}' starts with '**': name the folder the overlays are under` };
    for (const m of (appId ?? '').matchAll(TOKEN)) {
      if (m[1] !== 'path' && (Number(m[1]) < 1 || Number(m[1]) > c.wildcards)) {
        return { field: 'appId', message: `{${m[1]}} refers to a wildcard that pattern '${p}' does not have (it has ${c.wildcards})` };
      }
    }
  }
  if (appId !== undefined && !normalizeId(appId.replace(TOKEN, 'x'))) return { field: 'appId', message: `'${appId}' leaves no id characters` };
  return undefined;
}
