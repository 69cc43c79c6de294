import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Config, Environment } from './config.js';
import { getEnvironment } from './config.js';
import { NameError, UsageError } from './errors.js';

/** One deployment of one service to one environment: an overlay folder. */
export interface AppOverlay {
  /** `<system>/<service>`, e.g. `nofluxo/backend`. */
  id: string;
  system: string;
  service: string;
  /** `<system>-<service>`: Kubernetes names, labels, Argo CD Application name. */
  slug: string;
  env: Environment;
  /** Overlay folder relative to the repo root, POSIX separators. */
  dir: string;
}

const SEGMENT = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export function slugOf(id: string): string {
  return id.replace('/', '-');
}

async function listDirs(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    // Dot-folders are skipped, as Argo CD's git generators skip them.
    return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

async function isFile(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isFile(), () => false);
}

/** Every `<overlayRoot>/<system>/<service>/kustomization.yaml` of the given environments. */
export async function discoverApps(config: Config, envs: Environment[] = config.environments): Promise<AppOverlay[]> {
  const out: AppOverlay[] = [];
  for (const env of envs) {
    const rootDir = path.join(config.root, env.overlayRoot);
    for (const system of await listDirs(rootDir)) {
      for (const service of await listDirs(path.join(rootDir, system))) {
        const dir = path.posix.join(env.overlayRoot, system, service);
        if (!(await isFile(path.join(config.root, dir, 'kustomization.yaml')))) continue;
        if (!SEGMENT.test(system) || !SEGMENT.test(service)) continue;
        const id = `${system}/${service}`;
        out.push({ id, system, service, slug: slugOf(id), env, dir });
      }
    }
  }
  return out;
}

/** Checks a user-typed app name before it touches a path, a branch or a shell. */
export function checkAppName(name: string): void {
  const parts = name.split('/');
  if (parts.length > 2 || parts.some((p) => !SEGMENT.test(p))) {
    throw new UsageError(`invalid app name '${name}': use <system>/<service> or a suffix of it (lower-case letters, digits, '-')`);
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
