import { formatDiffText, formatMarkdown, renderedDiff, type DiffResult } from '../lib/diff.js';
import { redactText } from '../lib/redact.js';

export interface DiffCommandOptions {
  cwd: string;
  base?: string;
  head?: string;
  format?: 'text' | 'markdown' | 'json';
  write?: (text: string) => void;
  envVars?: NodeJS.ProcessEnv;
  allowRemote?: boolean;
}

/** `npm run diff`: rendered per-app, per-object diff between a base and the working tree. */
export async function diff(opts: DiffCommandOptions): Promise<DiffResult> {
  const result = await renderedDiff(opts);
  const write = opts.write ?? ((t: string) => process.stdout.write(t + '\n'));
  if (opts.format === 'json') write(redactText(JSON.stringify(result, null, 2)));
  else if (opts.format === 'markdown') write(formatMarkdown(result));
  else write(formatDiffText(result));
  return result;
}
