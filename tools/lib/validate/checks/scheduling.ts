// Node selectors, node affinities and tolerations name node labels and taints, which live on the
// nodes, not in git: one the cluster does not have leaves pods Pending (selector, required
// affinity) or tolerates nothing (toleration). Checked against gitops.yaml clusters.<cluster>
// `nodeLabels` and `taints`, each only where declared.
import type { Finding } from '../../core/finding.js';
import { finding, podTemplateOf, type ClusterView, type NodeSelectorRequirement } from './common.js';
import { escapeSegment } from '../../core/pointer.js';

/** Labels the kubelet puts on every node (any value). */
const WELL_KNOWN_LABELS = new Set([
  'kubernetes.io/hostname', 'kubernetes.io/os', 'kubernetes.io/arch',
  'topology.kubernetes.io/zone', 'topology.kubernetes.io/region', 'node.kubernetes.io/instance-type',
]);

/** Taints Kubernetes itself sets on nodes (conditions, control plane). */
const WELL_KNOWN_TAINTS = new Set([
  'node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable', 'node.kubernetes.io/unschedulable',
  'node.kubernetes.io/memory-pressure', 'node.kubernetes.io/disk-pressure', 'node.kubernetes.io/pid-pressure',
  'node.kubernetes.io/network-unavailable', 'node.cloudprovider.kubernetes.io/uninitialized',
  'node-role.kubernetes.io/control-plane',
]);

/** `node-label` and `toleration`. */
export function checkScheduling(view: ClusterView): Finding[] {
  const labels = view.facts?.nodeLabels;
  const taints = view.facts?.taints;
  if (!labels && !taints) return [];
  const declared = (key: string) => WELL_KNOWN_LABELS.has(key) || Object.hasOwn(labels ?? {}, key);
  const values = (key: string) => (WELL_KNOWN_LABELS.has(key) ? undefined : labels?.[key] ?? []);
  const list = (key: string) => (values(key) ?? []).join(', ') || 'none';
  const labelsWhere = `gitops.yaml clusters.${view.cluster}.nodeLabels`;
  const findings: Finding[] = [];
  for (const e of view.entries) {
    const t = podTemplateOf(e.o);
    if (!t) continue;
    const at = t.pointer;
    if (labels) {
      for (const [key, value] of Object.entries(t.spec.nodeSelector ?? {})) {
        const p = `${at}/nodeSelector/${escapeSegment(key)}`;
        if (!declared(key)) findings.push(finding(e, 'node-label', 'error', `nodeSelector ${key}=${value}: no node of cluster ${view.cluster} carries label ${key} (${labelsWhere}: ${Object.keys(labels).join(', ') || 'none'}), so the pods stay Pending`, p));
        else if (values(key) && !values(key)!.includes(value)) findings.push(finding(e, 'node-label', 'error', `nodeSelector ${key}=${value}: the nodes of cluster ${view.cluster} carry ${key} with ${list(key)} (${labelsWhere}), so the pods stay Pending`, p));
      }
      const na = t.spec.affinity?.nodeAffinity;
      const expr = (m: NodeSelectorRequirement, p: string, required: boolean) => {
        if (!m.key) return;
        const sev = required ? 'error' : 'warning';
        const what = required ? 'required node affinity' : 'preferred node affinity';
        const effect = required ? 'so the pods stay Pending' : 'so the preference never applies';
        if (!declared(m.key)) {
          if (m.operator !== 'DoesNotExist' && m.operator !== 'NotIn') findings.push(finding(e, 'node-label', sev, `${what} on ${m.key}: no node of cluster ${view.cluster} carries that label (${labelsWhere}), ${effect}`, `${p}/key`));
        } else if (m.operator === 'In' && values(m.key) && !(m.values ?? []).some((v) => values(m.key!)!.includes(v))) {
          findings.push(finding(e, 'node-label', sev, `${what} ${m.key} In (${(m.values ?? []).join(', ')}): the nodes of cluster ${view.cluster} carry ${list(m.key)} (${labelsWhere}), ${effect}`, `${p}/values`));
        }
      };
      for (const [i, term] of (na?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []).entries()) {
        for (const [j, m] of (term.matchExpressions ?? []).entries()) expr(m, `${at}/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/${i}/matchExpressions/${j}`, true);
      }
      for (const [i, pref] of (na?.preferredDuringSchedulingIgnoredDuringExecution ?? []).entries()) {
        for (const [j, m] of (pref.preference?.matchExpressions ?? []).entries()) expr(m, `${at}/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution/${i}/preference/matchExpressions/${j}`, false);
      }
    }
    if (taints) {
      for (const [i, tol] of (t.spec.tolerations ?? []).entries()) {
        // No key with Exists tolerates every taint: nothing to compare.
        if (!tol.key || WELL_KNOWN_TAINTS.has(tol.key)) continue;
        const match = taints.some((x) => x.key === tol.key && (tol.operator === 'Exists' || (tol.value ?? '') === (x.value ?? '')) && (!tol.effect || tol.effect === x.effect));
        if (match) continue;
        const have = taints.map((x) => `${x.key}${x.value !== undefined ? `=${x.value}` : ''}:${x.effect}`).join(', ') || 'none';
        const want = `${tol.key}${tol.operator === 'Exists' ? '' : `=${tol.value ?? ''}`}${tol.effect ? `:${tol.effect}` : ''}`;
        findings.push(finding(e, 'toleration', 'error', `toleration ${want} matches no taint of cluster ${view.cluster} (gitops.yaml clusters.${view.cluster}.taints: ${have}): the pods are not kept off or let onto the nodes it was meant for`, `${at}/tolerations/${i}`));
      }
    }
  }
  return findings;
}
