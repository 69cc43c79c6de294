// `npm run rehearse`: the real Argo CD syncs the change into simulated copies of the clusters
// (lib/server/rehearsal.ts) and reports, per Application, what it did and how it ended.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, FindingsError } from '../lib/core/errors.js';
import { formatGithub, formatJson, formatSarif, formatText, type Format } from '../lib/report/report.js';
import { type Finding } from '../lib/core/finding.js';
import { rehearse as runRehearsal, type ClusterReport, type RehearsalResult, type RehearseOptions } from '../lib/server/rehearsal.js';

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
  const result = await runRehearsal({ ...opts, log: opts.log ?? (opts.format === 'json' || opts.format === 'sarif' ? undefined : (l) => process.stderr.write(l + '\n')) });
  output(result, opts.format, opts.write);
  return result;
}

/** Prints the report in `format`; exit 1 (FindingsError) on any error finding. */
function output(result: RehearsalResult, format: Format | undefined, writeTo?: (text: string) => void): void {
  const write = writeTo ?? ((t: string) => void process.stdout.write(t + '\n'));
  const checked = { overlays: result.clusters.reduce((n, c) => n + c.apps.length, 0), objects: result.clusters.reduce((n, c) => n + c.apps.reduce((m, a) => m + a.tasks.length, 0), 0) };
  const f = result.findings;
  if (format === 'json') {
    const doc = JSON.parse(formatJson(f, checked)) as Record<string, unknown>;
    doc.rehearsal = { clusters: result.clusters, timings: result.timings, peakRssMiB: result.peakRssMiB, notes: result.notes, ...(result.scope ? { scope: result.scope } : {}) };
    write(JSON.stringify(doc, null, 2));
  } else if (format === 'github') write(formatGithub(f));
  else if (format === 'sarif') write(formatSarif(f, { name: 'crianex-gitops rehearse' }));
  else write([...summaryLines(result), '', formatText(f, checked)].join('\n'));
  const errors = f.filter((x) => x.severity === 'error').length;
  if (errors) throw new FindingsError(`sync rehearsal failed: ${errors} error${errors === 1 ? '' : 's'}`);
}

type ShardDoc = { findings: Finding[]; rehearsal: Pick<RehearsalResult, 'clusters' | 'timings' | 'peakRssMiB' | 'notes' | 'scope'> };

/**
 * One report from the JSON reports of `rehearse --shard i/n --format json` (a CI job matrix):
 * each shard rehearsed its own Applications in its own simulated clusters, so the clusters'
 * Applications are joined, the findings concatenated in shard order (a repeated one once), and
 * each shard's scope findings (the other shards' Applications it skipped) replaced by one saying
 * what the shards could not see together.
 */
export async function mergeRehearsals(opts: { cwd: string; files: string[]; format?: Format; write?: (t: string) => void }): Promise<RehearsalResult> {
  const docs: ShardDoc[] = [];
  for (const f of opts.files) {
    const file = path.resolve(opts.cwd, f);
    let data: Partial<ShardDoc>;
    try {
      data = JSON.parse(await readFile(file, 'utf8')) as Partial<ShardDoc>;
    } catch (e) {
      throw new ConfigError(file, `not a rehearse --format json report: ${(e as Error).message.split('\n')[0]}`);
    }
    if (!Array.isArray(data.findings) || !Array.isArray(data.rehearsal?.clusters)) throw new ConfigError(file, 'not a rehearse --format json report (no findings or rehearsal.clusters)');
    docs.push(data as ShardDoc);
  }
  const clusters = new Map<string, ClusterReport>();
  for (const d of docs) {
    for (const c of d.rehearsal.clusters) {
      const m = clusters.get(c.cluster);
      if (!m) {
        clusters.set(c.cluster, { ...c, apps: [...c.apps], unsettled: [...c.unsettled], bootstrap: [...c.bootstrap], timings: { ...c.timings } });
        continue;
      }
      m.apps.push(...c.apps.filter((a) => !m.apps.some((x) => x.name === a.name)));
      m.unsettled = [...new Set([...m.unsettled, ...c.unsettled])];
      m.bootstrap = [...new Set([...m.bootstrap, ...c.bootstrap])];
      m.skipped = [...(m.skipped ?? []), ...(c.skipped ?? [])];
      m.excluded = [...new Set([...(m.excluded ?? []), ...(c.excluded ?? [])])];
      m.unscoped = [...new Set([...(m.unscoped ?? []), ...(c.unscoped ?? [])])];
      // The slowest shard's figure: the shards run side by side.
      for (const [k, v] of Object.entries(c.timings)) m.timings[k] = Math.max(m.timings[k] ?? 0, v);
    }
  }
  // Skipped by one shard but rehearsed by another is not skipped.
  for (const c of clusters.values()) {
    const ran = new Set(c.apps.flatMap((a) => [a.name, a.path]));
    c.skipped = c.skipped?.filter((k, i, all) => !ran.has(k.name) && all.findIndex((x) => x.name === k.name) === i);
    c.excluded = c.excluded?.filter((d) => !ran.has(d));
    c.unscoped = c.unscoped?.filter((n) => !ran.has(n));
  }
  const seen = new Set<string>();
  const findings: Finding[] = [];
  for (const d of docs) {
    for (const f of d.findings) {
      const k = JSON.stringify(f);
      if (f.rule === 'rehearsal-scope' || seen.has(k)) continue;
      seen.add(k);
      findings.push(f);
    }
  }
  const shards = docs.map((d) => d.rehearsal.scope?.shard).filter((s): s is { index: number; count: number } => !!s);
  const apps = docs.reduce((n, d) => n + (d.rehearsal.scope?.apps.length ?? 0), 0);
  const of = Math.max(0, ...docs.map((d) => d.rehearsal.scope?.of ?? 0));
  const missing = shards.length ? Array.from({ length: shards[0].count }, (_, i) => i + 1).filter((i) => !shards.some((s) => s.index === i)) : [];
  const note = `merged from ${docs.length} shard reports: ${apps} of ${of} Applications rehearsed${missing.length ? ` (shards ${missing.join(', ')} of ${shards[0].count} missing)` : ''}; each shard ran its own simulated clusters, so node capacity shared by Applications of different shards, and objects they both manage, were not checked`;
  findings.unshift({ severity: missing.length ? 'error' : 'info', rule: 'rehearsal-scope', overlay: '.', resource: '', message: note });
  const rest = docs.flatMap((d) => d.rehearsal.notes.filter((n) => !n.startsWith('shard ') && !n.startsWith('Argo CD pulled this repository from')));
  const result: RehearsalResult = {
    clusters: [...clusters.values()],
    findings,
    timings: { totalMs: Math.max(0, ...docs.map((d) => d.rehearsal.timings.totalMs ?? 0)) },
    peakRssMiB: Math.max(0, ...docs.map((d) => d.rehearsal.peakRssMiB)),
    notes: [note, ...new Set(rest)],
    scope: { apps: docs.flatMap((d) => d.rehearsal.scope?.apps ?? []), of },
  };
  output(result, opts.format, opts.write);
  return result;
}
