import { FindingsError } from '../lib/errors.js';
import { createProgress } from '../lib/progress.js';
import { formatGithub, formatJson, formatSarif, formatText } from '../lib/report.js';
import { runValidation, type ValidateOptions, type ValidateResult } from '../lib/validation.js';

export type { ValidateOptions, ValidateResult } from '../lib/validation.js';

export async function validate(opts: ValidateOptions & { progress?: boolean }): Promise<ValidateResult> {
  const progress = createProgress({ command: 'validate', format: opts.format, env: opts.envVars, enabled: opts.progress === true });
  let result: ValidateResult;
  try {
    result = await runValidation({ ...opts, onProgress: opts.onProgress ?? progress.update });
  } finally {
    progress.done();
  }
  const write = opts.write ?? ((t: string) => process.stdout.write(t + '\n'));
  const checked = { overlays: result.overlays, objects: result.objects };
  const format = opts.format ?? 'text';
  if (format === 'json') write(formatJson(result.findings, checked));
  else if (format === 'github') write(formatGithub(result.findings));
  else if (format === 'sarif') write(formatSarif(result.findings));
  else write(formatText(result.findings, checked));
  const errors = result.findings.filter((f) => f.severity === 'error').length;
  if (errors) throw new FindingsError(`validation failed: ${errors} error${errors === 1 ? '' : 's'}`);
  return result;
}
