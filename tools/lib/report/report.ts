import { createHash } from 'node:crypto';
import type { Log, ReportingDescriptor, Result } from 'sarif';
import type { Finding, Severity } from '../core/finding.js';
import type { FormatOf } from '../core/formats.js';
import { oneLine, plainText, redactText } from '../core/redact.js';


/** validate's formats (core/formats.ts). */
export type Format = FormatOf<'validate'>;

const ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

export function summarize(findings: Finding[]): Record<Severity, number> {
  const s = { error: 0, warning: 0, info: 0 };
  for (const f of findings) s[f.severity]++;
  return s;
}

/** Human report grouped by overlay, then file and object. */
export function formatText(findings: Finding[], checked: { overlays: number; objects: number }): string {
  const lines: string[] = [];
  const byOverlay = new Map<string, Finding[]>();
  for (const f of [...findings].sort((a, b) => a.overlay.localeCompare(b.overlay) || (a.file ?? '').localeCompare(b.file ?? '') || ORDER[a.severity] - ORDER[b.severity])) {
    if (!byOverlay.has(f.overlay)) byOverlay.set(f.overlay, []);
    byOverlay.get(f.overlay)!.push(f);
  }
  for (const [overlay, fs] of byOverlay) {
    lines.push(oneLine(overlay));
    const byKey = new Map<string, Finding[]>();
    for (const f of fs) {
      const key = `${f.file ?? '(rendered)'}\u0000${f.resource}`;
      if (!byKey.has(key)) byKey.set(key, []);
      byKey.get(key)!.push(f);
    }
    for (const [key, group] of byKey) {
      const [file, resource] = key.split('\u0000');
      lines.push(`  ${oneLine(file)}${resource ? `  ${oneLine(resource)}` : ''}`);
      for (const f of group) {
        const loc = f.line ? `:${f.line}` : '';
        lines.push(`    ${f.severity.padEnd(7)} ${f.rule}${f.field ? `  ${f.field}` : ''}${loc ? `  (line ${f.line})` : ''}`);
        lines.push(`            ${f.message.split('\n').map(oneLine).join('\n            ')}`);
      }
    }
  }
  const s = summarize(findings);
  lines.push(`${checked.overlays} overlays, ${checked.objects} objects checked: ${s.error} errors, ${s.warning} warnings, ${s.info} notes`);
  // Repository text reaches a terminal or a CI log: no escape sequences, no credentials.
  return redactText(plainText(lines.join('\n')));
}

function escapeData(s: string): string {
  return plainText(redactText(s)).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function escapeProp(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** GitHub Actions workflow commands (::error file=…,line=…::message). */
export function formatGithub(findings: Finding[]): string {
  const level: Record<Severity, string> = { error: 'error', warning: 'warning', info: 'notice' };
  return redactText(findings
    .map((f) => {
      const props = [f.file ? `file=${escapeProp(f.file)}` : '', f.line ? `line=${f.line}` : '', `title=${escapeProp(`${f.rule} ${f.resource}`.trim())}`].filter(Boolean).join(',');
      return `::${level[f.severity]} ${props}::${escapeData(`${f.overlay}: ${f.field ? `${f.field}: ` : ''}${f.message}`)}`;
    })
    .join('\n'));
}

export function formatJson(findings: Finding[], checked: { overlays: number; objects: number }): string {
  return redactText(JSON.stringify({ summary: { ...summarize(findings), ...checked }, findings: findings.map(({ subjects: _s, ...f }) => f) }, null, 2));
}

/**
 * SARIF 2.1.0 for GitHub code scanning. Every result needs a location: a finding without a file
 * points at its overlay's kustomization (a run-wide one at gitops.yaml). The fingerprint ignores line numbers, so an alert
 * follows its finding when lines move.
 */
export function formatSarif(findings: Finding[], tool: { name?: string; version?: string } = {}): string {
  const level: Record<Severity, Result.level> = { error: 'error', warning: 'warning', info: 'note' };
  const ruleIds = [...new Set(findings.map((f) => f.rule))].sort();
  const rules: ReportingDescriptor[] = ruleIds.map((id) => ({ id, name: id, shortDescription: { text: id } }));
  const results: Result[] = findings.map((f) => {
    const file = f.file ?? (f.overlay && f.overlay !== '.' ? `${f.overlay}/kustomization.yaml` : 'gitops.yaml');
    // A relative URI reference: each path segment percent-encoded (a space, '#', '%' or '?' in a
    // folder name would otherwise end or change the path).
    const uri = file.split('/').map(encodeURIComponent).join('/');
    return {
      ruleId: f.rule,
      ruleIndex: ruleIds.indexOf(f.rule),
      level: level[f.severity],
      message: { text: plainText(redactText(`${f.overlay}${f.resource ? ` ${f.resource}` : ''}: ${f.field ? `${f.field}: ` : ''}${f.message}`)) },
      locations: [{ physicalLocation: { artifactLocation: { uri, uriBaseId: '%SRCROOT%' }, region: { startLine: f.line && f.line > 0 ? f.line : 1 } } }],
      partialFingerprints: { 'gitopsFinding/v1': createHash('sha256').update([f.rule, f.overlay, f.resource, f.field ?? '', file].join('\0')).digest('hex') },
    };
  });
  const log: Log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [{ tool: { driver: { name: tool.name ?? 'crianex-gitops validate', ...(tool.version ? { version: tool.version } : {}), rules } }, results }],
  };
  return redactText(JSON.stringify(log, null, 2));
}
