// Object identity and placement within one cluster: duplicates across Applications, objects
// outside the namespace their Application deploys to, cluster-scoped objects a project forbids.
import { globMatcher } from '../../core/patterns.js';
import type { Finding } from '../../core/finding.js';
import { finding, type ClusterView, type Entry } from './common.js';

// AppProject patterns: exact, '*' (which matches the empty core group too) or a glob.
export const glob = (pattern: string | undefined, value: string): boolean =>
  (pattern ?? '') === value || pattern === '*' || (!!pattern && !!value && globMatcher([pattern])(value));

/** `duplicate-object`: the same group, kind, namespace and name rendered twice in one cluster. */
export function checkDuplicates(view: ClusterView): Finding[] {
  const byId = new Map<string, Entry[]>();
  for (const e of view.entries) {
    const id = `${e.group}/${e.o.kind}/${e.ns ?? ''}/${e.o.metadata.name}`;
    if (!byId.has(id)) byId.set(id, []);
    byId.get(id)!.push(e);
  }
  const findings: Finding[] = [];
  for (const list of byId.values()) {
    if (list.length < 2) continue;
    for (const e of list) {
      const others = [...new Set(list.filter((x) => x !== e).map((x) => x.r.target.dir))].join(', ');
      findings.push(finding(e, 'duplicate-object', 'error', `also rendered by ${others}: two Applications would fight over this object`));
    }
  }
  return findings;
}

export interface ProjectSpec {
  sourceRepos?: string[];
  destinations?: Array<{ server?: string; name?: string; namespace?: string }>;
  /** `name` (Argo CD 3.x, a glob) narrows an entry to named objects. */
  clusterResourceWhitelist?: Array<{ group?: string; kind?: string; name?: string }>;
  clusterResourceBlacklist?: Array<{ group?: string; kind?: string; name?: string }>;
  namespaceResourceBlacklist?: Array<{ group?: string; kind?: string }>;
  namespaceResourceWhitelist?: Array<{ group?: string; kind?: string }>;
}

export function projectAllowsKind(spec: ProjectSpec, group: string, kind: string, clusterScoped: boolean, name?: string): boolean {
  const named = (g: { name?: string }) => !g.name || (name !== undefined && glob(g.name, name));
  const match = (l: Array<{ group?: string; kind?: string; name?: string }> | undefined) => (l ?? []).some((g) => glob(g.group, group) && glob(g.kind, kind) && named(g));
  if (clusterScoped) return match(spec.clusterResourceWhitelist) && !match(spec.clusterResourceBlacklist);
  return (spec.namespaceResourceWhitelist === undefined || match(spec.namespaceResourceWhitelist)) && !match(spec.namespaceResourceBlacklist);
}

/** `namespace-mismatch` and `cluster-scoped-not-allowed`. */
export function checkPlacement(view: ClusterView): Finding[] {
  const findings: Finding[] = [];
  for (const e of view.entries) {
    const dir = e.r.target.dir;
    const expected = view.overlayNamespaces.get(dir);
    if (e.ns !== undefined) {
      if (e.r.target.kind === 'app' && expected && e.ns !== expected) {
        findings.push(finding(e, 'namespace-mismatch', 'error', `namespace ${e.ns} is not ${expected}, the namespace this overlay's Application deploys to (its kustomization's namespace:)`, '/metadata/namespace'));
      }
      continue;
    }
    const seen = new Set<string>();
    for (const app of view.appsByPath.get(dir) ?? []) {
      if (seen.has(app.project)) continue;
      seen.add(app.project);
      const project = view.projects.get(app.project);
      if (!project) continue; // argo-project reports it
      if (!projectAllowsKind((project.spec ?? {}) as ProjectSpec, e.group, e.o.kind, true, e.o.metadata.name)) {
        findings.push(finding(e, 'cluster-scoped-not-allowed', 'error', `cluster-scoped ${e.group || 'core'}/${e.o.kind} is not in the clusterResourceWhitelist of AppProject ${app.project} (Application ${app.name}): the sync fails; move it to the cluster bootstrap or whitelist it`));
      }
    }
  }
  return findings;
}
