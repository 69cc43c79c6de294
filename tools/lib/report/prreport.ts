// The pull request's one sticky comment: validation summary plus rendered diff, behind a hidden
// marker that finds the comment again on the next push, always within GitHub's body limit.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { formatMarkdown, type DiffResult, type ObjectDiff, type OverlayDiff } from './diff.js';
import { ConfigError } from '../core/errors.js';
import { MAX_BODY_CHARS } from '../remote/github.js';
import { mdCode, redactText } from '../core/redact.js';
import type { Finding } from '../core/finding.js';

/** Hidden first line of the sticky comment; `npm run pr-comment` finds the comment by it. */
export const PR_REPORT_MARKER = '<!-- crianex-gitops:pr-report -->';

export interface ValidationJson {
  summary: { error: number; warning: number; info: number; overlays: number; objects: number };
  findings: Finding[];
}

const MAX_FINDING_ROWS = 50;

/**
 * Repository text in a table cell: an inline code span (HTML, mentions, links and issue
 * references are inert there), one line, no backtick or pipe to leave it, at most 300 characters.
 */
function cell(s: string): string {
  return mdCode(s.length > 300 ? `${s.slice(0, 297)}...` : s);
}

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const text = (v: unknown, max = 4000): string => (typeof v === 'string' ? v.slice(0, max) : '');
const count = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);
const SEVERITIES = new Set(['error', 'warning', 'info']);
const CHANGES = new Set(['added', 'removed', 'changed']);

/**
 * `validate --format json` output as data, every field of the type the report uses (anything
 * else dropped): the trusted pr-comment job reads it from a fork's artifact. Undefined when it
 * is not such a report.
 */
export function sanitizeValidation(v: unknown): ValidationJson | undefined {
  if (!isObj(v) || !isObj(v.summary) || typeof v.summary.error !== 'number' || !Array.isArray(v.findings)) return undefined;
  const s = v.summary;
  const findings: Finding[] = v.findings.filter(isObj).slice(0, 10_000).map((f) => ({
    severity: (SEVERITIES.has(f.severity as string) ? f.severity : 'error') as Finding['severity'],
    rule: text(f.rule, 100),
    overlay: text(f.overlay, 1000),
    resource: text(f.resource, 1000),
    message: text(f.message),
    ...(typeof f.file === 'string' ? { file: text(f.file, 1000) } : {}),
    ...(count(f.line) ? { line: count(f.line) } : {}),
    ...(typeof f.field === 'string' ? { field: text(f.field, 1000) } : {}),
  }));
  return { summary: { error: count(s.error), warning: count(s.warning), info: count(s.info), overlays: count(s.overlays), objects: count(s.objects) }, findings };
}

/** `diff --format json` output as data (see sanitizeValidation). */
export function sanitizeDiff(v: unknown): DiffResult | undefined {
  if (!isObj(v) || typeof v.base !== 'string' || !Array.isArray(v.overlays)) return undefined;
  const overlays: OverlayDiff[] = v.overlays.filter(isObj).slice(0, 10_000).map((o) => ({
    overlay: text(o.overlay, 1000),
    ...(typeof o.from === 'string' ? { from: text(o.from, 1000) } : {}),
    ...(typeof o.app === 'string' ? { app: text(o.app, 200) } : {}),
    ...(typeof o.env === 'string' ? { env: text(o.env, 200) } : {}),
    errors: (Array.isArray(o.errors) ? o.errors : []).map((e) => text(e)),
    objects: (Array.isArray(o.objects) ? o.objects : []).filter(isObj).map((x) => ({
      resource: text(x.resource, 1000),
      change: (CHANGES.has(x.change as string) ? x.change : 'changed') as ObjectDiff['change'],
      fields: (Array.isArray(x.fields) ? x.fields : []).filter(isObj).map((f) => ({
        path: text(f.path, 1000),
        ...('before' in f ? { before: f.before } : {}),
        ...('after' in f ? { after: f.after } : {}),
      })),
    })),
  }));
  const notes = Array.isArray(v.notes) ? v.notes.map((n) => text(n)) : undefined;
  return { base: text(v.base, 100), head: text(v.head, 100) || 'working tree', overlays, ...(notes?.length ? { notes } : {}) };
}

/** Larger report files are not read: a validate or diff report of any real pull request is far smaller. */
const MAX_REPORT_BYTES = 32 * 1024 * 1024;

async function readReport<T>(cwd: string, file: string | undefined, sanitize: (v: unknown) => T | undefined, what: string): Promise<T | undefined> {
  if (!file) return undefined;
  const abs = path.resolve(cwd, file);
  const size = await stat(abs).then((st) => st.size, () => undefined);
  if (size === undefined) return undefined;
  if (size > MAX_REPORT_BYTES) throw new ConfigError(file, `larger than ${MAX_REPORT_BYTES / 1024 / 1024} MiB; expected the output of ${what}`);
  const raw = await readFile(abs, 'utf8');
  if (!raw.trim()) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new ConfigError(file, `not JSON (${(e as Error).message.slice(0, 200)}); expected the output of ${what}`);
  }
  const clean = sanitize(v);
  if (!clean) throw new ConfigError(file, `not the output of ${what}`);
  return clean;
}

/** The two JSON reports, read as untrusted data (a missing file: that step did not produce one). */
export async function readReports(cwd: string, files: { validation?: string; diff?: string }): Promise<{ validation?: ValidationJson; diff?: DiffResult }> {
  return {
    validation: await readReport(cwd, files.validation, sanitizeValidation, 'npm run validate -- --format json'),
    diff: await readReport(cwd, files.diff, sanitizeDiff, 'npm run diff -- --format json'),
  };
}

/** Markdown for the comment and the job summary, from `validate --format json` and `diff --format json`. */
export function formatPrReport(validation: ValidationJson | undefined, diff: DiffResult | undefined, opts: { maxChars?: number; rehearsal?: { findings: Finding[] } } = {}): string {
  const max = Math.min(opts.maxChars ?? MAX_BODY_CHARS, MAX_BODY_CHARS);
  const out: string[] = [PR_REPORT_MARKER, '## Validation', ''];
  if (!validation) {
    out.push('> ⚠️ validation did not produce a report: see the workflow run.', '');
  } else {
    const s = validation.summary;
    const icon = s.error ? '❌' : s.warning ? '⚠️' : '✅';
    out.push(`${icon} ${count(s.overlays)} overlays, ${count(s.objects)} objects checked: **${count(s.error)} errors**, ${count(s.warning)} warnings, ${count(s.info)} notes`, '');
    const shown = [...validation.findings].sort((a, b) => rank(a) - rank(b)).slice(0, MAX_FINDING_ROWS);
    if (shown.length) {
      out.push('| severity | rule | where | message |', '| --- | --- | --- | --- |');
      for (const f of shown) {
        const where = `${f.file ?? f.overlay}${f.line ? `:${f.line}` : ''}${f.resource ? ` ${f.resource}` : ''}`;
        out.push(`| ${SEVERITIES.has(f.severity) ? f.severity : 'error'} | ${cell(f.rule)} | ${cell(where)} | ${cell(`${f.field ? `${f.field}: ` : ''}${f.message}`)} |`);
      }
      if (validation.findings.length > shown.length) out.push('', `_${validation.findings.length - shown.length} more findings: see the annotations and the code scanning alerts._`);
      out.push('');
    }
  }
  out.push(...rehearsalSection([...(validation?.findings ?? []), ...(opts.rehearsal?.findings ?? [])]));
  const head = out.join('\n');
  // The diff gets the room left, so formatMarkdown drops whole overlays instead of cutting one in half.
  const room = max - head.length - 1;
  const body = diff ? formatMarkdown(diff, { maxChars: room }) : '### Rendered diff\n\n_The rendered diff was not produced: see the workflow run._';
  // Repository text in a public comment: no credentials, whatever a finding quotes.
  return redactText(`${head}\n${body}\n`).slice(0, max);
}

/**
 * "Sync rehearsal": one row per Application from the rehearsal's findings (rules rehearsal-*, from
 * `validate --rehearse` or `rehearse --format json`): its sync and health as Argo CD reported
 * them, then every problem. Empty when nothing was rehearsed.
 */
export function rehearsalSection(findings: Finding[]): string[] {
  const rh = findings.filter((f) => f.rule.startsWith('rehearsal-'));
  if (!rh.length) return [];
  const out = ['## Sync rehearsal', ''];
  const errors = rh.filter((f) => f.severity === 'error').length;
  out.push(`${errors ? '❌' : '✅'} the real Argo CD synced the change into simulated clusters: **${errors} errors**, ${rh.filter((f) => f.severity === 'warning').length} warnings`, '');
  // What the run did not rehearse (--app, --changed-only, a shard) and what shards cannot see
  // (a code span: the message comes from a report read as untrusted data).
  for (const f of rh.filter((x) => x.rule === 'rehearsal-scope')) out.push(`Scope: ${cell(f.message)}`, '');
  const apps = rh.filter((f) => f.rule === 'rehearsal-sync');
  if (apps.length) {
    out.push('| Application | result |', '| --- | --- |');
    for (const f of apps) {
      const m = /^(\S+): Application (\S+): ([\s\S]*)$/.exec(f.message);
      out.push(m ? `| \`${cell(`${m[1]}/${m[2]}`)}\` | ${cell(m[3])} |` : `| \`${cell(f.resource)}\` | ${cell(f.message)} |`);
    }
    out.push('');
  }
  const problems = rh.filter((f) => f.rule !== 'rehearsal-sync' && f.severity !== 'info').sort((a, b) => rank(a) - rank(b)).slice(0, MAX_FINDING_ROWS);
  if (problems.length) {
    out.push('| severity | rule | object | message |', '| --- | --- | --- | --- |');
    for (const f of problems) out.push(`| ${f.severity} | ${cell(f.rule)} | \`${cell(f.resource || f.overlay)}\` | ${cell(f.message)} |`);
    out.push('');
  }
  const simulated = rh.filter((f) => f.rule === 'rehearsal-simulated' || f.rule === 'rehearsal-unhealthy-expected').length;
  if (simulated) out.push(`_${simulated} results depend on add-ons the rehearsal simulates or does not run (rules rehearsal-simulated, rehearsal-unhealthy-expected): see the full report._`, '');
  return out;
}

function rank(f: Finding): number {
  return { error: 0, warning: 1, info: 2 }[f.severity];
}
