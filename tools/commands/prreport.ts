// `npm run pr-report`: the sticky comment's body (and the job summary) from the JSON reports of
// validate and diff. Runs in the untrusted pull-request job; writes a file, talks to nobody.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatPrReport, readReports } from '../lib/report/prreport.js';

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

export async function prReport(opts: PrReportOptions): Promise<string> {
  const { validation, diff } = await readReports(opts.cwd, opts);
  // The rehearsal's report has validate's JSON shape (rehearse --format json); read as untrusted data too.
  const rehearsal = opts.rehearsal ? (await readReports(opts.cwd, { validation: opts.rehearsal })).validation : undefined;
  const body = formatPrReport(validation, diff, { rehearsal });
  if (opts.out) await writeFile(path.resolve(opts.cwd, opts.out), body);
  else (opts.write ?? ((t: string) => process.stdout.write(t)))(body);
  return body;
}
