// Which targets a change affects, for `validate --changed-only` (pull-request.yml's step). The
// renderer's record of what each render read decides, not the toolkit's reading of the
// kustomizations: a target whose render has no such record (helm, remote fetching,
// GITOPS_NO_RENDERER, a failed build) cannot prove it reads none of the changed files, so it
// counts as affected. Fail closed: a selection the toolkit cannot account for validates more.
import type { AppInventory } from '../argocd/applications.js';
import { renderLikeArgo } from '../argocd/argocd.js';
import { renderInventoryApps } from '../argocd/clusterapps.js';
import { CONFIG_FILE, type Config } from '../config/config.js';
import type { Tool } from '../core/tools.js';
import type { Workspace } from '../core/workspace.js';
import { affectedTargets } from '../render/changes.js';
import { clusterTargets } from '../render/render.js';
import { type Target } from '../render/rendered.js';

/**
 * The targets among `targets` that a change of `changed` (repo-relative files) affects: those whose
 * kustomization closure or renderer-recorded reads include a changed file, those whose reads are
 * not on record (fail closed), and the cluster entry point of every Application Argo CD's
 * repo-server code renders from a changed path (they are checked with their cluster).
 */
export async function changedTargets(config: Config, tool: Tool, inventory: AppInventory, targets: Target[], changed: string[], ws?: Workspace): Promise<Target[]> {
  if (changed.includes(CONFIG_FILE)) return targets;
  const set = new Set(changed);
  const picked = new Set(await affectedTargets(config, targets, changed, ws));
  // Applications Argo CD's repo-server code renders (Helm, plain, ...) are checked with their
  // cluster's entry point: a change to a file their sources read selects it.
  const argo = (await renderInventoryApps(config, tool, inventory, { select: async () => [] })).targets;
  const hit = new Set((await affectedTargets(config, argo, changed)).map((t) => t.cluster));
  for (const t of targets) if (t.kind === 'cluster' && hit.has(t.cluster)) picked.add(t);
  const rest = targets.filter((t) => !picked.has(t));
  if (!rest.length) return targets.filter((t) => picked.has(t));
  // Rendered with their clusters' build options (the entry points carry them), from the cache when warm.
  const entries = clusterTargets(config, config.environments).filter((e) => !rest.some((t) => t.kind === 'cluster' && t.cluster === e.cluster && t.dir === e.dir));
  const renders = await renderLikeArgo(config, tool, [...rest, ...entries]);
  for (const r of renders.slice(0, rest.length)) {
    if (!r.verified || r.closure.some((f) => set.has(f)) || r.reads?.some((f) => set.has(f))) picked.add(r.target);
  }
  return targets.filter((t) => picked.has(t));
}
