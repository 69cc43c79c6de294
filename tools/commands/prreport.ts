// `npm run pr-report`: the sticky comment's body (and the job summary) from the JSON reports of
// validate and diff. Runs in the untrusted pull-request job; writes a file, talks to nobody.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DiffResult } from '../lib/report/diff.js';
import { ConfigError } from '../lib/core/errors.js';
import { formatPrReport, type ValidationJson } from '../lib/report/prreport.js';

export interface PrReportOptions {
  cwd: string;
  /** `validate --format json` output; missing file = validation crashed (reported as such). */
  validation?: string;
  /** `diff --format json` output. */
  diff?: string;
  /** `rehearse --format json` output (its findings make the "Sync rehearsal" section). */
  rehearsal?: string;
  /** Write here instead of stdout. */
  out?: string;
  write?: (text: string) => void;
}

async function readJson<T>(cwd: string, file: string | undefined, check: (v: unknown) => boolean, what: string): Promise<T | undefined> {
  if (!file) return undefined;
  const text = await readFile(path.resolve(cwd, file), 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (text === undefined || !text.trim()) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, `not JSON (${(e as Error).message}); expected the output of ${what}`);
  }
  if (!check(v)) throw new ConfigError(file, `not the output of ${what}`);
  return v as T;
}

export async function prReport(opts: PrReportOptions): Promise<string> {
  const validation = await readJson<ValidationJson>(opts.cwd, opts.validation, (v) => typeof (v as ValidationJson)?.summary?.error === 'number' && Array.isArray((v as ValidationJson).findings), 'npm run validate -- --format json');
  const diff = await readJson<DiffResult>(opts.cwd, opts.diff, (v) => Array.isArray((v as DiffResult)?.overlays) && typeof (v as DiffResult).base === 'string', 'npm run diff -- --format json');
  const rehearsal = await readJson<ValidationJson>(opts.cwd, opts.rehearsal, (v) => Array.isArray((v as ValidationJson)?.findings), 'npm run rehearse -- --format json');
  const body = formatPrReport(validation, diff, { rehearsal });
  if (opts.out) await writeFile(path.resolve(opts.cwd, opts.out), body);
  else (opts.write ?? ((t: string) => process.stdout.write(t)))(body);
  return body;
}
