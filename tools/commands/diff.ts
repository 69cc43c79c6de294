import { formatDiffText, formatMarkdown, renderedDiff, type DiffResult } from '../lib/report/diff.js';
import type { FormatOf } from '../lib/core/formats.js';
import { createProgress } from '../lib/core/progress.js';
import { redactText } from '../lib/core/redact.js';

export interface DiffCommandOptions {
  cwd: string;
  base?: string;
  head?: string;
  format?: FormatOf<'diff'>;
  write?: (text: string) => void;
  envVars?: NodeJS.ProcessEnv;
  allowRemote?: boolean;
  /** Show progress on a terminal (the CLI sets it; lib/core/progress.ts decides whether anyone watches). */
  progress?: boolean;
}

/** `npm run diff`: rendered per-app, per-object diff between a base and the working tree. */
export async function diff(opts: DiffCommandOptions): Promise<DiffResult> {
  const progress = createProgress({ command: 'diff', format: opts.format, env: opts.envVars, enabled: opts.progress === true });
  let result: DiffResult;
  try {
    result = await renderedDiff({ ...opts, onProgress: progress.update });
  } finally {
    progress.done();
  }
  const write = opts.write ?? ((t: string) => process.stdout.write(t + '\n'));
  if (opts.format === 'json') write(redactText(JSON.stringify(result, null, 2)));
  else if (opts.format === 'markdown') write(formatMarkdown(result));
  else write(formatDiffText(result));
  return result;
}
