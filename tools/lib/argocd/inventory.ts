// The image inventory: every container image of every rendered object, per overlay and cluster
// entry point, rendered the way Argo CD renders them. What Renovate must be able to see and bump.
import { inventoryApps } from './applications.js';
import { renderLikeArgo } from './argocd.js';
import { loadConfig } from '../config/config.js';
import { GitopsError } from '../core/errors.js';
import { containerImages } from '../render/images.js';
import type { K8sObject } from '../core/k8s.js';
import { appTargets, clusterTargets } from '../render/render.js';
import { findKustomize } from '../core/tools.js';

export interface ImageUse {
  /** Overlay or cluster entry point folder (repo-relative). */
  dir: string;
  app?: string;
  env?: string;
  /** Image references exactly as rendered (name[:tag][@digest]), sorted. */
  images: string[];
  /** Images every container of which has `imagePullPolicy: Never` (loaded into the node, never pulled). */
  neverPulled: string[];
  /** Files (repo-relative) the render read. */
  closure: string[];
}

/** Images of containers whose every use says imagePullPolicy: Never. */
function neverPulledImages(objects: K8sObject[]): string[] {
  const policies = new Map<string, Set<string>>();
  const walk = (v: unknown, depth: number): void => {
    if (depth > 30 || v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) return v.forEach((x) => walk(x, depth + 1));
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if ((k === 'containers' || k === 'initContainers' || k === 'ephemeralContainers') && Array.isArray(x)) {
        for (const c of x as Array<{ image?: unknown; imagePullPolicy?: unknown }>) {
          if (typeof c?.image !== 'string') continue;
          if (!policies.has(c.image)) policies.set(c.image, new Set());
          policies.get(c.image)!.add(typeof c.imagePullPolicy === 'string' ? c.imagePullPolicy : '');
        }
      }
      walk(x, depth + 1);
    }
  };
  objects.forEach((o) => walk(o, 0));
  return [...policies].filter(([, p]) => p.size === 1 && p.has('Never')).map(([i]) => i).sort();
}

/** Renders every overlay and cluster entry point; a target that fails to render is an error. */
export async function imageInventory(opts: { cwd: string; envVars?: NodeJS.ProcessEnv }): Promise<ImageUse[]> {
  const envVars = opts.envVars ?? process.env;
  const config = await loadConfig(opts.cwd, envVars);
  const tool = await findKustomize(envVars);
  // Every app the other commands know: overlays plus the kustomize folders Applications deploy.
  const targets = [...appTargets(await inventoryApps(config, tool)), ...clusterTargets(config, config.environments)];
  const rendered = await renderLikeArgo(config, tool, targets);
  const failed = rendered.filter((r) => r.findings.some((f) => f.severity === 'error'));
  if (failed.length) {
    const first = failed[0].findings.find((f) => f.severity === 'error')!;
    throw new GitopsError(`cannot list images: ${failed.map((r) => r.target.dir).join(', ')} did not render (${first.file ?? first.overlay}: ${first.message})`, "run 'npm run validate' for every finding");
  }
  return rendered
    .map((r) => ({ dir: r.target.dir, app: r.target.app?.id, env: r.target.env?.name, images: containerImages(r.objects), neverPulled: neverPulledImages(r.objects), closure: r.closure }))
    .sort((a, b) => a.dir.localeCompare(b.dir));
}
