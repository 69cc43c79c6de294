// `npm run rehearse`: the real Argo CD syncs the change into simulated copies of the clusters
// (lib/server/rehearsal.ts) and reports, per Application, what it did and how it ended.
import { FindingsError } from '../lib/core/errors.js';
import { formatGithub, formatJson, formatSarif, formatText, type Format } from '../lib/report/report.js';
import { rehearse as runRehearsal, type RehearsalResult, type RehearseOptions } from '../lib/server/rehearsal.js';

export type { RehearsalResult } from '../lib/server/rehearsal.js';

export interface RehearseCommandOptions extends RehearseOptions {
  format?: Format;
  write?: (text: string) => void;
}

/** One line per Application: the table at the top of the text report. */
export function summaryLines(result: RehearsalResult): string[] {
  const lines: string[] = [];
  for (const c of result.clusters) {
    const t = c.timings;
    const s = (ms?: number) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);
    lines.push(`${c.cluster}: cluster up ${s(t.upMs)}, Argo CD up ${s(t.argoUpMs)}, base synced ${s(t.baseSyncMs)}, change synced ${s(t.changeSyncMs)}`);
    for (const a of c.apps) {
      lines.push(`  ${a.name.padEnd(28)} ${a.sync.status.padEnd(9)} ${a.health.status.padEnd(11)} ${a.operation ? `${a.operation.phase}` : 'no sync needed'}`);
    }
  }
  for (const n of result.notes) lines.push(`note: ${n}`);
  lines.push(`peak memory (sum of the processes' peaks): ${result.peakRssMiB} MiB; total ${((result.timings.totalMs ?? 0) / 1000).toFixed(1)} s`);
  return lines;
}

export async function rehearse(opts: RehearseCommandOptions): Promise<RehearsalResult> {
  const write = opts.write ?? ((t: string) => void process.stdout.write(t + '\n'));
  const result = await runRehearsal({ ...opts, log: opts.log ?? (opts.format === 'json' || opts.format === 'sarif' ? undefined : (l) => process.stderr.write(l + '\n')) });
  const checked = { overlays: result.clusters.reduce((n, c) => n + c.apps.length, 0), objects: result.clusters.reduce((n, c) => n + c.apps.reduce((m, a) => m + a.tasks.length, 0), 0) };
  const f = result.findings;
  if (opts.format === 'json') {
    const doc = JSON.parse(formatJson(f, checked)) as Record<string, unknown>;
    doc.rehearsal = { clusters: result.clusters, timings: result.timings, peakRssMiB: result.peakRssMiB, notes: result.notes };
    write(JSON.stringify(doc, null, 2));
  } else if (opts.format === 'github') write(formatGithub(f));
  else if (opts.format === 'sarif') write(formatSarif(f, { name: 'crianex-gitops rehearse' }));
  else write([...summaryLines(result), '', formatText(f, checked)].join('\n'));
  const errors = f.filter((x) => x.severity === 'error').length;
  if (errors) throw new FindingsError(`sync rehearsal failed: ${errors} error${errors === 1 ? '' : 's'}`);
  return result;
}
