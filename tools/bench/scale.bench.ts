// `npm run bench`: validation at scale on synthetic repositories shaped like ours (synth.ts),
// against the shell loops people run instead, interleaved and reported as medians and ratios.
// Writes a table to stdout and bench/results.json. Asserts nothing: targets live here, not in tests.
//
//   BENCH_SIZES=50,200,1000  apps per repository (x3 environments)
//   BENCH_RUNS=3             interleaved rounds per size (medians); per size: 50:3,200:2,1000:1
//   BENCH_BASELINE_MAX=200   largest size the baseline loops run at (they take minutes)
//   BENCH_FULL_MAX=200       largest size warm and --changed-only runs are measured at
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../lib/config/config.js';
import { schemaLocations } from '../lib/validate/kubeconform.js';
import { mapLimit, run } from '../lib/core/exec.js';
import { findKubeconform, findKustomize, REPO_ROOT } from '../lib/core/tools.js';
import { synthApps, SYNTH_CLUSTERS, writeSynth } from './synth.js';

const env = { ...process.env };
// The synthetic repositories live elsewhere: mirrors given relative to here must still be found.
for (const k of ['GITOPS_SCHEMA_MIRROR', 'GITOPS_CRD_MIRROR']) if (env[k]) env[k] = path.resolve(env[k]!);
const SIZES = (env.BENCH_SIZES ?? '50,200,1000').split(',').map(Number);
const RUNS_SPEC = env.BENCH_RUNS ?? '3';
const runsFor = (n: number): number => {
  const per = Object.fromEntries(RUNS_SPEC.split(',').filter((x) => x.includes(':')).map((x) => x.split(':').map(Number)));
  return per[n] ?? (RUNS_SPEC.includes(':') ? 1 : Number(RUNS_SPEC));
};
const BASELINE_MAX = Number(env.BENCH_BASELINE_MAX ?? 200);
// Above this size only the cold run (with the process tree's peak memory) is measured.
const FULL_MAX = Number(env.BENCH_FULL_MAX ?? 200);
const OUT = path.join(REPO_ROOT, 'bench', 'results.json');

/** Peak resident memory of a process and all its descendants, sampled from /proc. */
function treeRss(pid: number): number {
  const children = new Map<number, number[]>();
  let total = 0;
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
  const walk = (p: number): void => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) total += Number(m[1]) * 1024;
    } catch {
      /* exited */
    }
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return total;
}

/** Runs a command; wall time and (when asked) the process tree's peak memory. */
function timed(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; memory?: boolean } = {}): Promise<{ ms: number; peak: number; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let peak = 0;
    const timer = opts.memory ? setInterval(() => (peak = Math.max(peak, treeRss(child.pid!))), 50) : undefined;
    child.on('error', reject);
    child.on('close', (code) => {
      if (timer) clearInterval(timer);
      resolve({ ms: performance.now() - t, peak, code, stderr });
    });
  });
}

/** `kustomize build dir | kubeconform -strict -` for one overlay, the pipe made in Node. */
function pipeline(kustomize: string, kubeconform: string, dir: string, kcArgs: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const k = spawn(kustomize, ['build', '--load-restrictor', 'LoadRestrictionsRootOnly', dir], { stdio: ['ignore', 'pipe', 'ignore'] });
    const c = spawn(kubeconform, [...kcArgs, '-'], { stdio: ['pipe', 'ignore', 'ignore'] });
    k.stdout.pipe(c.stdin);
    k.on('error', reject);
    c.on('error', reject);
    c.on('close', () => resolve());
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

/** The CLI as `npm run validate` runs it (compiled JavaScript when fresh, see tools/run.mjs). */
const CLI = [path.join(REPO_ROOT, 'tools', 'run.mjs')];

async function synthRepo(n: number): Promise<string> {
  const dir = path.join(REPO_ROOT, '.cache', 'bench', `synth-${n}`);
  const stamp = path.join(dir, '.synth-stamp');
  const want = `${n}:${readFileSync(path.join(REPO_ROOT, 'tools', 'bench', 'synth.ts'), 'utf8').length}`;
  if (existsSync(stamp) && (await readFile(stamp, 'utf8')) === want) return dir;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeSynth(dir, { apps: n });
  const git = (...a: string[]) => run('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@example.com', '-c', 'init.defaultBranch=main', ...a], { cwd: dir });
  await git('init', '-q', '-b', 'main');
  await writeFile(path.join(dir, '.git', 'info', 'exclude'), '.synth-stamp\n');
  await git('add', '-A');
  await git('commit', '-q', '-m', 'synthetic repository');
  await writeFile(stamp, want);
  return dir;
}

interface SizeResult {
  apps: number;
  overlays: number;
  medians_ms: Record<string, number>;
  runs_ms: Record<string, number[]>;
  peak_mib?: Record<string, number>;
  ratios: Record<string, number>;
}

const kustomize = (await findKustomize(env)).cmd;
const kubeconform = (await findKubeconform(env)).cmd;
const results: SizeResult[] = [];
console.log(`machine: ${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; runs ${RUNS_SPEC}, interleaved; medians`);
for (const n of SIZES) {
  const repo = await synthRepo(n);
  const config = await loadConfig(repo, env);
  const kcArgs = ['-strict', '-summary', '-kubernetes-version', config.kubernetesVersion, ...(await schemaLocations(config)).flatMap((l) => ['-schema-location', l]), '-cache', path.join(repo, '.cache', 'kubeconform')];
  await mkdir(path.join(repo, '.cache', 'kubeconform'), { recursive: true });
  const overlays = synthApps(n).flatMap((a) => SYNTH_CLUSTERS.map((c) => path.join(repo, 'overlays', c.cluster, a.system, a.service)));
  const changed = path.join(repo, 'overlays', 'prod', synthApps(n)[0].system, synthApps(n)[0].service, 'kustomization.yaml');
  const original = await readFile(changed, 'utf8');
  const ours = (args: string[], extra: NodeJS.ProcessEnv = {}, memory = false) => async () => {
    const r = await timed(process.execPath, [...CLI, 'validate', '--cwd', repo, ...args], { env: { ...env, ...extra }, memory });
    if (r.code !== 0) throw new Error(`validate ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-2000)}`);
    return r;
  };
  const variants: Array<[string, () => Promise<{ ms: number; peak?: number }>]> = [];
  if (n <= BASELINE_MAX) {
    variants.push(['loop serial: kustomize | kubeconform', async () => {
      const t = performance.now();
      for (const d of overlays) await pipeline(kustomize, kubeconform, d, kcArgs);
      return { ms: performance.now() - t };
    }]);
    variants.push(['loop 2 at a time: kustomize | kubeconform', async () => {
      const t = performance.now();
      await mapLimit(overlays, 2, (d) => pipeline(kustomize, kubeconform, d, kcArgs));
      return { ms: performance.now() - t };
    }]);
    variants.push(['kustomize alone, 2 at a time (render floor)', async () => {
      const t = performance.now();
      await mapLimit(overlays, 2, (d) => run(kustomize, ['build', '--load-restrictor', 'LoadRestrictionsRootOnly', d]).then(() => undefined));
      return { ms: performance.now() - t };
    }]);
  }
  variants.push(['validate cold (GITOPS_NO_CACHE=1)', ours([], { GITOPS_NO_CACHE: '1' }, true)]);
  // The short runs are timed without the memory sampler (a /proc walk every 50 ms took a tenth of a
  // core beside a 1.5 s run); their peak comes from the same run, prepared the same way, with it.
  const timedThenSampled = async (prepare: () => Promise<void>, args: string[], undo: () => Promise<void> = async () => {}) => {
    const once = async (memory: boolean) => {
      await prepare();
      try {
        return await ours(args, {}, memory)();
      } finally {
        await undo();
      }
    };
    return { ms: (await once(false)).ms, peak: (await once(true)).peak };
  };
  // Each warm run follows a run that filled the caches (not timed).
  if (n <= FULL_MAX) variants.push(['validate warm, nothing changed', () => timedThenSampled(() => ours([])().then(() => undefined), [])]);
  if (n <= FULL_MAX) variants.push(['validate --changed-only, one overlay changed', () => timedThenSampled(async () => {
    await ours([])();
    await writeFile(changed, original.replace(/newTag: "([^"]+)"/, 'newTag: "$1-bench"'));
  }, ['--changed-only'], () => writeFile(changed, original))]);
  const runs: Record<string, number[]> = {};
  const peaks: Record<string, number[]> = {};
  for (let i = 0; i < runsFor(n); i++) {
    for (const [label, fn] of variants) {
      const r = await fn();
      (runs[label] ??= []).push(r.ms);
      if (r.peak) (peaks[label] ??= []).push(r.peak);
      console.log(`  ${String(n).padStart(5)} apps  round ${i + 1}  ${label.padEnd(48)} ${(r.ms / 1000).toFixed(2).padStart(8)} s${r.peak ? `  peak ${(r.peak / 2 ** 20).toFixed(0)} MiB` : ''}`);
    }
  }
  const med = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, Math.round(median(v))]));
  const cold = med['validate cold (GITOPS_NO_CACHE=1)'];
  const ratios: Record<string, number> = {};
  const serial = med['loop serial: kustomize | kubeconform'];
  const two = med['loop 2 at a time: kustomize | kubeconform'];
  const floor = med['kustomize alone, 2 at a time (render floor)'];
  if (serial) ratios['serial loop / cold (target >= 3)'] = +(serial / cold).toFixed(2);
  if (two) ratios['2-at-a-time loop / cold (target >= 2)'] = +(two / cold).toFixed(2);
  if (floor) ratios['cold / render floor'] = +(cold / floor).toFixed(2);
  if (serial) ratios['warm / serial loop'] = +(med['validate warm, nothing changed'] / serial).toFixed(3);
  results.push({
    apps: n,
    overlays: overlays.length,
    medians_ms: med,
    runs_ms: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.map(Math.round)])),
    peak_mib: Object.fromEntries(Object.entries(peaks).map(([k, v]) => [k, Math.round(Math.max(...v) / 2 ** 20)])),
    ratios,
  });
}

const lines = ['', '| apps | overlays | variant | median | peak |', '| ---: | ---: | --- | ---: | ---: |'];
for (const r of results) {
  for (const [k, v] of Object.entries(r.medians_ms)) lines.push(`| ${r.apps} | ${r.overlays} | ${k} | ${(v / 1000).toFixed(2)} s | ${r.peak_mib?.[k] ? `${r.peak_mib[k]} MiB` : ''} |`);
  for (const [k, v] of Object.entries(r.ratios)) lines.push(`| ${r.apps} | ${r.overlays} | ${k} | ${v} | |`);
}
console.log(lines.join('\n'));
await mkdir(path.dirname(OUT), { recursive: true });
await writeFile(OUT, JSON.stringify({ date: new Date().toISOString(), machine: { cores: os.cpus().length, loadavg: os.loadavg().map((l) => +l.toFixed(1)) }, runs: RUNS_SPEC, results }, null, 2) + '\n');
console.log(`\nwrote ${path.relative(REPO_ROOT, OUT)}`);
