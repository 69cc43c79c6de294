// The pull request's one sticky comment: validation summary plus rendered diff, behind a hidden
// marker that finds the comment again on the next push, always within GitHub's body limit.
import { formatMarkdown, type DiffResult } from './diff.js';
import { MAX_BODY_CHARS } from '../remote/github.js';
import { redactText } from '../core/redact.js';
import type { Finding } from '../core/finding.js';

/** Hidden first line of the sticky comment; `npm run pr-comment` finds the comment by it. */
export const PR_REPORT_MARKER = '<!-- crianex-gitops:pr-report -->';

export interface ValidationJson {
  summary: { error: number; warning: number; info: number; overlays: number; objects: number };
  findings: Finding[];
}

const MAX_FINDING_ROWS = 50;

function cell(s: string): string {
  const one = s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ').replace(/`/g, 'ˋ');
  return one.length > 300 ? `${one.slice(0, 297)}...` : one;
}

/** Markdown for the comment and the job summary, from `validate --format json` and `diff --format json`. */
export function formatPrReport(validation: ValidationJson | undefined, diff: DiffResult | undefined, opts: { maxChars?: number } = {}): string {
  const max = Math.min(opts.maxChars ?? MAX_BODY_CHARS, MAX_BODY_CHARS);
  const out: string[] = [PR_REPORT_MARKER, '## Validation', ''];
  if (!validation) {
    out.push('> ⚠️ validation did not produce a report: see the workflow run.', '');
  } else {
    const s = validation.summary;
    const icon = s.error ? '❌' : s.warning ? '⚠️' : '✅';
    out.push(`${icon} ${s.overlays} overlays, ${s.objects} objects checked: **${s.error} errors**, ${s.warning} warnings, ${s.info} notes`, '');
    const shown = [...validation.findings].sort((a, b) => rank(a) - rank(b)).slice(0, MAX_FINDING_ROWS);
    if (shown.length) {
      out.push('| severity | rule | where | message |', '| --- | --- | --- | --- |');
      for (const f of shown) {
        const where = `${f.file ?? f.overlay}${f.line ? `:${f.line}` : ''}${f.resource ? ` ${f.resource}` : ''}`;
        out.push(`| ${f.severity} | ${cell(f.rule)} | \`${cell(where)}\` | ${cell(`${f.field ? `${f.field}: ` : ''}${f.message}`)} |`);
      }
      if (validation.findings.length > shown.length) out.push('', `_${validation.findings.length - shown.length} more findings: see the annotations and the code scanning alerts._`);
      out.push('');
    }
  }
  const head = out.join('\n');
  // The diff gets the room left, so formatMarkdown drops whole overlays instead of cutting one in half.
  const room = max - head.length - 1;
  const body = diff ? formatMarkdown(diff, { maxChars: room }) : '### Rendered diff\n\n_The rendered diff was not produced: see the workflow run._';
  // Repository text in a public comment: no credentials, whatever a finding quotes.
  return redactText(`${head}\n${body}\n`).slice(0, max);
}

function rank(f: Finding): number {
  return { error: 0, warning: 1, info: 2 }[f.severity];
}
