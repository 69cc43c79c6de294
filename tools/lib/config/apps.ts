import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Config, Environment } from './config.js';
import { CONFIG_FILE, getEnvironment } from './config.js';
import { NameError, UsageError } from '../core/errors.js';
import { compilePattern, fillAppId, isValidId, KUSTOMIZATION_NAMES, matchPattern, normalizeId } from './layout.js';
import type { Finding } from '../core/finding.js';

/** One deployment of one service to one environment: an overlay folder. */
export interface AppOverlay {
  /** Derived from the folder by the environment's `appId`, e.g. `nofluxo/backend`. */
  id: string;
  /** First and last segment of the id (the same for a one-segment id). */
  system: string;
  service: string;
  /** The id with '/' as '-': Kubernetes names, labels, Argo CD Application name, branch names. */
  slug: string;
  env: Environment;
  /** Overlay folder relative to the repo root, POSIX separators. */
  dir: string;
  /** Its kustomization file (kustomization.yaml, kustomization.yml or Kustomization), repo-relative. */
  kustomization: string;
  /** The id as the folder names spelled it, when that was outside the id alphabet. */
  normalizedFrom?: string;
  /** The Argo CD Application this app comes from, when no overlays pattern declares the folder (lib/argocd/applications.ts). */
  application?: string;
  /** Deployed by that Application's Helm source (lib/release/helm.ts): `dir` is then its cluster entry point folder. */
  helm?: boolean;
}

export function slugOf(id: string): string {
  return id.replaceAll('/', '-');
}

// Folders never searched for overlays: dot-folders (Argo CD's git generators skip them too) and
// dependency trees.
const SKIP = (name: string) => name.startsWith('.') || name === 'node_modules';

// The walk is synchronous: a thousand folders and their kustomization files cost several times
// more as thread-pool round trips (fs.promises), and a run has nothing else to do meanwhile.
function listDirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && !SKIP(e.name)).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

function isFile(p: string): boolean {
  return statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
}

/** The kustomization file of a folder (repo-relative), if it has one. */
export async function kustomizationFile(root: string, dir: string): Promise<string | undefined> {
  for (const name of KUSTOMIZATION_NAMES) if (isFile(path.join(root, dir, name))) return path.posix.join(dir, name);
  return undefined;
}

export interface Layout {
  apps: AppOverlay[];
  /** Configured roots that do not exist, patterns that match nothing, ids that had to be normalised or collide. */
  findings: Finding[];
}

/**
 * Every overlay of the given environments: folders matching one of the environment's
 * `overlays` patterns that hold a kustomization. Nothing is dropped silently: a missing root,
 * a pattern that matches nothing and a folder name outside the id alphabet are findings.
 */
export async function discoverLayout(config: Config, envs: Environment[] = config.environments): Promise<Layout> {
  const apps: AppOverlay[] = [];
  const findings: Finding[] = [];
  const where = (env: Environment) => `environments[${env.name}].${env.overlayRoot !== undefined ? 'overlayRoot' : 'overlays'}`;
  for (const env of envs) {
    const seen = new Set<string>();
    for (const pattern of env.overlays) {
      const p = compilePattern(pattern);
      const shown = env.overlayRoot ?? pattern;
      const prefixAbs = path.join(config.root, p.prefix);
      if (!statSync(prefixAbs, { throwIfNoEntry: false })?.isDirectory()) {
        findings.push({ severity: 'error', rule: 'layout-root', overlay: p.prefix || '.', resource: '', file: CONFIG_FILE, message: `${where(env)} '${shown}': folder ${p.prefix || '.'} does not exist, so environment ${env.name} has no overlays there; fix the path in ${CONFIG_FILE}` });
        continue;
      }
      let matched = 0;
      const visit = async (dir: string, depth: number): Promise<void> => {
        const captures = matchPattern(p, dir);
        if (captures && !seen.has(dir)) {
          const kustomization = await kustomizationFile(config.root, dir);
          if (kustomization) {
            seen.add(dir);
            matched++;
            const raw = fillAppId(env.appId, captures, dir);
            const id = normalizeId(raw);
            if (!id || !isValidId(id)) {
              findings.push({ severity: 'error', rule: 'app-id', overlay: dir, resource: '', file: kustomization, message: `app id '${raw}' derived from ${dir} by appId '${env.appId ?? '(the wildcards)'}' has no usable characters: rename the folder or change appId in ${CONFIG_FILE}` });
            } else {
              const parts = id.split('/');
              const app: AppOverlay = { id, system: parts[0], service: parts[parts.length - 1], slug: slugOf(id), env, dir, kustomization };
              if (id !== raw) app.normalizedFrom = raw;
              apps.push(app);
            }
          }
        }
        if (depth >= p.depth) return;
        for (const sub of listDirs(path.join(config.root, dir))) await visit(dir ? `${dir}/${sub}` : sub, depth + 1);
      };
      await visit(p.prefix, 0);
      if (!matched) findings.push({ severity: 'warning', rule: 'layout-empty', overlay: p.prefix || '.', resource: '', file: CONFIG_FILE, message: `${where(env)} '${shown}' matches no folder with a kustomization (kustomization.yaml, kustomization.yml or Kustomization): environment ${env.name} has no overlays there` });
    }
  }
  // Reported once per overlay, so a rename is easy to spot; the app still validates.
  for (const a of apps) {
    if (a.normalizedFrom !== undefined) findings.push({ severity: 'info', rule: 'app-id', overlay: a.dir, resource: '', file: a.kustomization, message: `folder names '${a.normalizedFrom}' are outside the id alphabet [a-z0-9-]: app id is '${a.id}'` });
  }
  for (const env of envs) {
    const byId = new Map<string, AppOverlay[]>();
    for (const a of apps.filter((x) => x.env === env)) byId.set(a.id, [...(byId.get(a.id) ?? []), a]);
    for (const [id, same] of byId) {
      if (same.length < 2) continue;
      for (const a of same) findings.push({ severity: 'error', rule: 'app-id', overlay: a.dir, resource: '', file: a.kustomization, message: `app id '${id}' in environment ${env.name} is derived from ${same.length} folders (${same.map((x) => x.dir).join(', ')}): release commands could not tell them apart; change appId in ${CONFIG_FILE} or rename one` });
    }
  }
  return { apps, findings };
}

/** Every overlay of the given environments (see discoverLayout for what it reports). */
export async function discoverApps(config: Config, envs: Environment[] = config.environments): Promise<AppOverlay[]> {
  return (await discoverLayout(config, envs)).apps;
}

/** Checks a user-typed app name before it touches a path, a branch or a shell. */
export function checkAppName(name: string): void {
  if (!isValidId(name)) {
    throw new UsageError(`invalid app name '${name}': use an app id (e.g. <system>/<service>) or a suffix of it (lower-case letters, digits, '-', segments joined by '/')`);
  }
}

/**
 * Resolves `name` (an app id, its slug, or any unambiguous suffix such as `backend`) among
 * the apps deployed to environment `envName`.
 */
export function resolveApp(config: Config, apps: AppOverlay[], name: string, envName: string): AppOverlay {
  const env = getEnvironment(config, envName);
  checkAppName(name);
  const inEnv = apps.filter((a) => a.env.name === env.name);
  const exact = inEnv.filter((a) => a.id === name || a.slug === name);
  if (exact.length === 1) return exact[0];
  const matches = inEnv.filter((a) => a.id.endsWith(`/${name}`) || a.id.split('/').slice(-name.split('/').length).join('/') === name);
  if (matches.length === 1) return matches[0];
  if (matches.length > 1) {
    throw new NameError(`app name '${name}' is ambiguous in environment '${env.name}'`, matches.map((a) => a.id));
  }
  throw new NameError(`unknown app '${name}' in environment '${env.name}'`, inEnv.map((a) => a.id));
}

/** Filters for --env / --app on validate and diff: an unknown name fails with candidates. */
export function selectApps(config: Config, apps: AppOverlay[], opts: { env?: string; app?: string }): AppOverlay[] {
  let sel = apps;
  if (opts.env) {
    const env = getEnvironment(config, opts.env);
    sel = sel.filter((a) => a.env.name === env.name);
  }
  if (opts.app) {
    checkAppName(opts.app);
    const byName = sel.filter((a) => a.id === opts.app || a.slug === opts.app || a.id.endsWith(`/${opts.app}`) || a.system === opts.app);
    if (!byName.length) throw new NameError(`unknown app '${opts.app}'`, [...new Set(sel.map((a) => a.id))]);
    sel = byName;
  }
  return sel;
}
