import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, FindingsError } from '../lib/core/errors.js';
import { createProgress } from '../lib/core/progress.js';
import { formatGithub, formatJson, formatSarif, formatText, type Format } from '../lib/report/report.js';
import { type Finding } from '../lib/core/finding.js';
import { runValidation, type ValidateOptions, type ValidateResult } from '../lib/validate/validation.js';

export type { ValidateOptions, ValidateResult } from '../lib/validate/validation.js';

export async function validate(opts: ValidateOptions & { progress?: boolean; rehearse?: boolean }): Promise<ValidateResult> {
  const progress = createProgress({ command: 'validate', format: opts.format, env: opts.envVars, enabled: opts.progress === true });
  let result: ValidateResult;
  try {
    result = await runValidation({ ...opts, onProgress: opts.onProgress ?? progress.update });
  } finally {
    progress.done();
  }
  if (opts.rehearse) {
    // --rehearse: the sync rehearsal's findings join the report (same scope: env, app, base, changed-only).
    const { rehearse } = await import('../lib/server/rehearsal.js');
    const machine = opts.format === 'json' || opts.format === 'sarif';
    const r = await rehearse({ cwd: opts.cwd, env: opts.env, app: opts.app, base: opts.base, changedOnly: opts.changedOnly, envVars: opts.envVars, log: machine ? undefined : opts.warn ?? ((l) => process.stderr.write(l + '\n')) });
    result = { ...result, findings: [...result.findings, ...r.findings] };
  }
  report(result.findings, { overlays: result.overlays, objects: result.objects }, opts.format, opts.write);
  return result;
}

function report(findings: Finding[], checked: { overlays: number; objects: number }, format: Format = 'text', write: (t: string) => void = (t) => void process.stdout.write(t + '\n')): void {
  if (format === 'json') write(formatJson(findings, checked));
  else if (format === 'github') write(formatGithub(findings));
  else if (format === 'sarif') write(formatSarif(findings));
  else write(formatText(findings, checked));
  const errors = findings.filter((f) => f.severity === 'error').length;
  if (errors) throw new FindingsError(`validation failed: ${errors} error${errors === 1 ? '' : 's'}`);
}

/**
 * One report from the JSON reports of `validate --shard i/n --format json` (a CI job matrix):
 * findings concatenated in shard order (shards own disjoint clusters), counts summed.
 */
export async function mergeReports(opts: { cwd: string; files: string[]; format?: Format; write?: (t: string) => void }): Promise<{ findings: Finding[]; overlays: number; objects: number }> {
  const findings: Finding[] = [];
  // Repository-level findings (layout, gitops.yaml) come from every shard: reported once (by the
  // first shard that has them).
  const seen = new Set<string>();
  let overlays = 0;
  let objects = 0;
  for (const f of opts.files) {
    const file = path.resolve(opts.cwd, f);
    let data: { summary?: { overlays?: number; objects?: number }; findings?: Finding[] };
    try {
      data = JSON.parse(await readFile(file, 'utf8'));
    } catch (e) {
      throw new ConfigError(file, `not a validate --format json report: ${(e as Error).message.split('\n')[0]}`);
    }
    if (!Array.isArray(data.findings) || typeof data.summary?.overlays !== 'number') throw new ConfigError(file, 'not a validate --format json report (no summary.overlays or findings)');
    const earlier = new Set(seen);
    for (const f of data.findings) {
      const key = JSON.stringify(f);
      seen.add(key);
      if (!earlier.has(key)) findings.push(f);
    }
    overlays += data.summary.overlays;
    objects += data.summary.objects ?? 0;
  }
  report(findings, { overlays, objects }, opts.format, opts.write);
  return { findings, overlays, objects };
}
