// Runs the pinned Renovate (tools/renovate, on its own Node 24) offline: the config validator, the
// extract-only dry run over a throw-away copy of a repository, and Renovate's rule matching.
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageUse } from '../../lib/argocd/inventory.js';
import { isExecutable, renovatePaths } from '../../lib/core/tools.js';
import { run } from './proc.js';

const { renovate } = renovatePaths();
const RULES_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'renovate-rules.mjs');

/** Only what Renovate needs: no token from the caller's environment, proxies pointing nowhere. */
function offlineEnv(baseDir: string): NodeJS.ProcessEnv {
  const dead = 'http://127.0.0.1:9';
  return {
    PATH: process.env.PATH,
    HOME: baseDir,
    LANG: 'C.UTF-8',
    RENOVATE_BASE_DIR: baseDir,
    LOG_LEVEL: 'debug',
    LOG_FORMAT: 'json',
    HTTP_PROXY: dead,
    HTTPS_PROXY: dead,
    http_proxy: dead,
    https_proxy: dead,
    NO_PROXY: '',
  };
}

export async function renovateInstalled(): Promise<boolean> {
  return isExecutable(renovate.node);
}

/** renovate-config-validator --strict on the config files in `dir` (as Renovate finds them there). */
export async function validateConfig(dir: string): Promise<{ ok: boolean; output: string }> {
  const base = await mkdtemp(path.join(os.tmpdir(), 'renovate-validate-'));
  try {
    const env: NodeJS.ProcessEnv = { ...offlineEnv(base), LOG_LEVEL: 'info' };
    delete env.LOG_FORMAT; // human-readable lines for the assertion message
    const r = await run(renovate.node, [renovate.validator, '--strict'], { cwd: dir, env, timeoutMs: 120_000 })
      .then((x) => ({ ok: true, output: x.stdout + x.stderr }))
      .catch((e: { stdout?: string; stderr?: string; message: string }) => ({ ok: false, output: `${e.stdout ?? ''}${e.stderr ?? e.message}` }));
    return r;
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

export interface ExtractedDep {
  depName?: string;
  currentValue?: string;
  currentDigest?: string;
  depType?: string;
  skipReason?: string;
  enabled?: boolean;
  datasource?: string;
}

export interface ExtractReport {
  repositories: Record<string, { packageFiles: Record<string, Array<{ packageFile: string; deps: ExtractedDep[] }>>; problems: unknown[] }>;
}

export interface Extraction {
  report: ExtractReport;
  /** Where the report was written (kept until cleanup). */
  reportPath: string;
  /** Renovate's own count of HTTP requests (its "HTTP statistics" log line). */
  httpRequests: number;
  /** Datasource lookups Renovate made ("getReleases statistics summary"). */
  lookups: number;
  cleanup: () => Promise<void>;
}

/**
 * `renovate --platform=local --dry-run=extract` over a copy of `dir`'s working tree (tracked and
 * untracked files, as git lists them), committed into a fresh repository: Renovate lists files
 * with git, so uncommitted edits count and the real checkout is never touched.
 */
export async function extract(dir: string): Promise<Extraction> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'renovate-extract-'));
  const cleanup = () => rm(work, { recursive: true, force: true });
  try {
    const repo = path.join(work, 'repo');
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: dir, encoding: 'utf8' }).split('\0').filter(Boolean);
    for (const f of files) {
      const to = path.join(repo, f);
      await mkdir(path.dirname(to), { recursive: true });
      await copyFile(path.join(dir, f), to).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e; // deleted but not yet staged
      });
    }
    const g = (...args: string[]) => execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', '-c', 'init.defaultBranch=main', ...args], { cwd: repo, stdio: 'pipe' });
    g('init', '-q');
    g('add', '-A');
    g('commit', '-q', '-m', 'snapshot');
    const reportPath = path.join(work, 'report.json');
    const base = path.join(work, 'renovate');
    const { stdout } = await run(renovate.node, [renovate.cli, '--platform=local', '--dry-run=extract', '--report-type=file', `--report-path=${reportPath}`], {
      cwd: repo,
      env: offlineEnv(base),
      timeoutMs: 180_000,
    });
    const log = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const fatal = log.filter((l) => Number(l.level) >= 50);
    if (fatal.length) throw new Error(`renovate logged errors: ${JSON.stringify(fatal).slice(0, 2000)}`);
    const http = log.find((l) => l.msg === 'HTTP statistics');
    const releases = log.find((l) => l.msg === 'getReleases statistics summary') as { stats?: { count?: number } } | undefined;
    if (!http || !releases) throw new Error('renovate did not log its HTTP and lookup statistics; cannot tell whether it stayed offline');
    return {
      report: JSON.parse(await readFile(reportPath, 'utf8')) as ExtractReport,
      reportPath,
      httpRequests: Number(http.requests),
      lookups: Number(releases.stats?.count),
      cleanup,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

export function packageFiles(report: ExtractReport, manager: string): Array<{ packageFile: string; deps: ExtractedDep[] }> {
  return Object.values(report.repositories)[0]?.packageFiles[manager] ?? [];
}

/** An extracted kustomize dependency as the reference kustomize renders: name[:tag][@digest]. */
export function refOf(d: ExtractedDep): string {
  return `${d.depName}${d.currentValue ? `:${d.currentValue}` : ''}${d.currentDigest ? `@${d.currentDigest}` : ''}`;
}

export interface ImageComparison {
  /** Per overlay: rendered images Renovate does not see in any kustomization the overlay reads. */
  unseen: Array<{ dir: string; image: string }>;
  /** Per overlay: images Renovate would bump that the overlay does not render. */
  unrendered: Array<{ dir: string; image: string }>;
  /** Kustomize package files Renovate found that no overlay or cluster entry point reads. */
  orphans: string[];
}

/**
 * Renovate's view (kustomize `images:` entries, per kustomization file) against the rendered
 * inventory: each overlay's rendered images must equal the images of the kustomizations it reads.
 */
export function compareImages(inventory: ImageUse[], report: ExtractReport): ImageComparison {
  const byFile = new Map(packageFiles(report, 'kustomize').map((p) => [p.packageFile, p.deps.filter((d) => !d.skipReason).map(refOf)]));
  const out: ImageComparison = { unseen: [], unrendered: [], orphans: [] };
  const read = new Set<string>();
  for (const use of inventory) {
    const seen = new Set<string>();
    for (const f of use.closure) {
      read.add(f);
      for (const ref of byFile.get(f) ?? []) seen.add(ref);
    }
    for (const image of use.images) if (!seen.has(image)) out.unseen.push({ dir: use.dir, image });
    for (const image of seen) if (!use.images.includes(image)) out.unrendered.push({ dir: use.dir, image });
  }
  out.orphans = [...byFile].filter(([f, deps]) => deps.length && !read.has(f)).map(([f]) => f);
  return out;
}

export interface SimulatedUpdate {
  manager: string;
  packageFile: string;
  depName: string;
  depType?: string;
  updateType: string;
  automerge: boolean;
  branchName: string;
  labels: string[];
  groupName: string | null;
}

/** Renovate's packageRules and branch naming applied to every extracted dependency (renovate-rules.mjs). */
export async function simulateRules(configFile: string, reportPath: string): Promise<SimulatedUpdate[]> {
  const base = await mkdtemp(path.join(os.tmpdir(), 'renovate-rules-'));
  try {
    const { stdout } = await run(renovate.node, [RULES_SCRIPT, renovate.dist, configFile, reportPath], { env: { ...offlineEnv(base), LOG_LEVEL: 'fatal' }, timeoutMs: 120_000 });
    return JSON.parse(stdout) as SimulatedUpdate[];
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}
