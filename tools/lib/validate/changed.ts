// Which targets a change affects, for `validate --changed-only` (pull-request.yml's step). The
// renderer's record of what each render read decides, not the toolkit's reading of the
// kustomizations: a target whose render has no such record (helm, remote fetching,
// GITOPS_NO_RENDERER, a failed build) cannot prove it reads none of the changed files, so it
// counts as affected. Fail closed: a selection the toolkit cannot account for validates more.
import path from 'node:path';
import type { AppInventory } from '../argocd/applications.js';
import { renderLikeArgo, sameRepo, type GeneratedApp } from '../argocd/argocd.js';
import { CONFIG_FILE, type Config } from '../config/config.js';
import type { Tool } from '../core/tools.js';
import type { Workspace } from '../core/workspace.js';
import { affectedTargets } from '../render/changes.js';
import { clusterTargets, type Target } from '../render/render.js';
import { clusterRepoURL } from './checks/index.js';

/**
 * The repository paths an Application rendered by Argo CD's repo-server code reads: each source
 * path of this repository (a folder), and the value files a `$ref` source points into.
 */
export function argoAppInputs(app: GeneratedApp, repoURL: string): string[] {
  const ours = app.sources.filter((s) => sameRepo(s.repoURL, repoURL));
  const refs = new Set(ours.map((s) => s.ref).filter((r): r is string => typeof r === 'string' && r !== ''));
  const clean = (p: string) => path.posix.normalize(p.replace(/^\.?\/+/, '')).replace(/\/+$/, '');
  const out = ours.filter((s) => typeof s.path === 'string').map((s) => clean(s.path!));
  for (const s of app.sources) {
    const files = [(s.helm as { valueFiles?: unknown } | undefined)?.valueFiles, ((s.helm as { fileParameters?: Array<{ path?: unknown }> } | undefined)?.fileParameters ?? []).map((f) => f?.path)].flat(2);
    for (const f of files) {
      if (typeof f !== 'string') continue;
      const m = /^\$([^/]+)\/(.+)$/.exec(f);
      if (m && refs.has(m[1]!)) out.push(clean(m[2]!));
    }
  }
  return [...new Set(out.map((p) => (p === '.' ? '' : p)))];
}

/**
 * The targets among `targets` that a change of `changed` (repo-relative files) affects: those whose
 * kustomization closure or renderer-recorded reads include a changed file, those whose reads are
 * not on record (fail closed), and the cluster entry point of every Application Argo CD's
 * repo-server code renders from a changed path (they are checked with their cluster).
 */
export async function changedTargets(config: Config, tool: Tool, inventory: Pick<AppInventory, 'applications' | 'entries'>, targets: Target[], changed: string[], ws?: Workspace): Promise<Target[]> {
  if (changed.includes(CONFIG_FILE)) return targets;
  const set = new Set(changed);
  const picked = new Set(await affectedTargets(config, targets, changed, ws));
  const under = (p: string) => changed.some((f) => p === '' || f === p || f.startsWith(`${p}/`));
  for (const a of inventory.applications) {
    if (a.state !== 'rendered' || a.source === 'kustomize' || a.source === undefined) continue;
    const entry = inventory.entries.find((e) => e.target.cluster === a.cluster);
    if (!argoAppInputs(a.generated, clusterRepoURL(config, entry)).some(under)) continue;
    for (const t of targets) if (t.kind === 'cluster' && t.cluster === a.cluster) picked.add(t);
  }
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
