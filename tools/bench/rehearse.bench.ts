// `npm run bench:rehearse`: the sync rehearsal of this repository, warm (binaries built): both
// clusters, then one Application. Wall time per phase (cluster up, Argo CD up, syncs) and the
// peak resident memory of the whole process tree (sampled from /proc every 250 ms). Writes the
// figures under `rehearse` in bench/results.json (other keys kept). Targets (issue 17): both
// clusters under 60 s, one Application under 30 s, peak under 2.5 GiB. Asserts nothing.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../lib/core/tools.js';
import { rehearse, type RehearsalResult } from '../lib/server/rehearsal.js';

const OUT = path.join(REPO_ROOT, 'bench', 'results.json');
const env = { ...process.env };
for (const k of ['GITOPS_SCHEMA_MIRROR', 'GITOPS_CRD_MIRROR']) if (env[k]) env[k] = path.resolve(env[k]!);

/** Resident memory (bytes) of this process and every descendant. */
function treeRss(root: number): number {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid)!.push(Number(d));
    } catch {
      /* exited */
    }
  }
  let total = 0;
  const walk = (p: number): void => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) total += Number(m[1]) * 1024;
    } catch {
      /* exited */
    }
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(root);
  return total;
}

async function measure(label: string, opts: { env?: string; app?: string }): Promise<Record<string, unknown>> {
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, treeRss(process.pid))), 250);
  const t0 = performance.now();
  let r: RehearsalResult | undefined;
  let error: string | undefined;
  try {
    r = await rehearse({ cwd: REPO_ROOT, envVars: env, base: 'HEAD', ...opts, log: (l) => process.stderr.write(`${l}\n`) });
  } catch (e) {
    error = (e as Error).message;
  } finally {
    clearInterval(timer);
  }
  const wall = performance.now() - t0;
  const s = (ms?: number) => (ms === undefined ? undefined : +(ms / 1000).toFixed(1));
  const out = {
    label,
    wall_s: s(wall),
    peak_tree_rss_mib: Math.round(peak / 1048576),
    clusters: r?.clusters.map((c) => ({ cluster: c.cluster, up_s: s(c.timings.upMs), argocd_up_s: s(c.timings.argoUpMs), base_sync_s: s(c.timings.baseSyncMs), change_sync_s: s(c.timings.changeSyncMs), total_s: s(c.timings.totalMs), apps: c.apps.length, unsettled: c.unsettled.length })),
    errors: r?.findings.filter((f) => f.severity === 'error').length,
    error,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  return out;
}

const results = [await measure('this repository, both clusters (base = HEAD: the bootstrap and one sync)', {}), await measure('one Application (dev nofluxo/backend)', { env: 'dev', app: 'nofluxo/backend' })];
const prev = JSON.parse(await readFile(OUT, 'utf8').catch(() => '{}')) as Record<string, unknown>;
await mkdir(path.dirname(OUT), { recursive: true });
await writeFile(OUT, JSON.stringify({ ...prev, rehearse: { date: new Date().toISOString(), machine: { cores: os.cpus().length, loadavg: os.loadavg().map((l) => +l.toFixed(1)) }, results } }, null, 2) + '\n');
