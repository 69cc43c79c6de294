import { FindingsError } from '../lib/errors.js';
import { formatGithub, formatJson, formatText } from '../lib/report.js';
import { runValidation, type ValidateOptions, type ValidateResult } from '../lib/validation.js';

export type { ValidateOptions, ValidateResult } from '../lib/validation.js';

export async function validate(opts: ValidateOptions): Promise<ValidateResult> {
  const result = await runValidation(opts);
  const write = opts.write ?? ((t: string) => process.stdout.write(t + '\n'));
  const checked = { overlays: result.overlays, objects: result.objects };
  const format = opts.format ?? 'text';
  if (format === 'json') write(formatJson(result.findings, checked));
  else if (format === 'github') write(formatGithub(result.findings));
  else write(formatText(result.findings, checked));
  const errors = result.findings.filter((f) => f.severity === 'error').length;
  if (errors) throw new FindingsError(`validation failed: ${errors} error${errors === 1 ? '' : 's'}`);
  return result;
}
