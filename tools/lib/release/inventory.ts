// The seam between the release commands and the inventory of what Argo CD deploys. Today an
// Application is an overlay folder of gitops.yaml's layout (lib/config/apps.ts) plus the cluster
// entry points; the inventory of Argo CD Applications (issue 16) replaces the body of these
// functions, not their callers.
import { discoverApps, type AppOverlay } from '../config/apps.js';
import type { Config } from '../config/config.js';
import { affectedTargets } from '../render/changes.js';
import { appTargets, clusterTargets } from '../render/render.js';
import { type Target } from '../render/rendered.js';

/** Every deployed app (one per environment). */
export async function releaseApps(config: Config): Promise<AppOverlay[]> {
  return discoverApps(config);
}

/** Every render target whose inputs include one of `files` (config-root-relative). */
export async function targetsReading(config: Config, files: string[]): Promise<Target[]> {
  const targets = [...appTargets(await releaseApps(config)), ...clusterTargets(config, config.environments)];
  return affectedTargets(config, targets, files);
}

/** How a target is named in messages: `overlays/crianex/demo/api (demo/api in prod)`. */
export function targetLabel(t: Target): string {
  return t.app ? `${t.dir} (${t.app.id} in ${t.env!.name})` : `${t.dir} (cluster ${t.cluster} entry point)`;
}

/**
 * The Argo CD Application that deploys an app: today the ApplicationSets of clusters/ name it
 * `<system>-<service>` (the slug) in namespace `argocd`.
 */
export function applicationOf(app: AppOverlay): { namespace: string; name: string } {
  return { namespace: 'argocd', name: app.helm && app.application ? app.application : app.slug };
}
