// Argo CD applies sync waves in order and waits for each to be healthy: an object in an earlier
// wave than the CRD defining its kind, or than its Namespace, fails on a fresh cluster.
import type { Finding } from '../../core/finding.js';
import { finding, groupOf, syncWave, type ClusterView } from './common.js';

/** `sync-wave-order`, within each rendered target. */
export function checkSyncWaves(view: ClusterView): Finding[] {
  const findings: Finding[] = [];
  for (const r of view.rendered) {
    const crds = new Map<string, number>();
    const namespaces = new Map<string, number>();
    for (const o of r.objects) {
      const spec = o.spec as { group?: string; names?: { kind?: string } } | undefined;
      if (o.kind === 'CustomResourceDefinition' && spec?.names?.kind) crds.set(`${spec.group}/${spec.names.kind}`, syncWave(o));
      if (o.kind === 'Namespace' && o.apiVersion === 'v1') namespaces.set(o.metadata.name!, syncWave(o));
    }
    if (!crds.size && !namespaces.size) continue;
    for (const e of view.entries.filter((x) => x.r === r)) {
      const wave = syncWave(e.o);
      const crdWave = crds.get(`${groupOf(e.o.apiVersion)}/${e.o.kind}`);
      if (crdWave !== undefined && wave < crdWave) {
        findings.push(finding(e, 'sync-wave-order', 'error', `sync wave ${wave} is earlier than wave ${crdWave} of the CustomResourceDefinition of ${e.o.kind}: the kind does not exist yet when Argo CD applies it`, '/metadata/annotations'));
      }
      const nsWave = e.ns !== undefined ? namespaces.get(e.ns) : undefined;
      if (nsWave !== undefined && wave < nsWave) {
        findings.push(finding(e, 'sync-wave-order', 'error', `sync wave ${wave} is earlier than wave ${nsWave} of Namespace ${e.ns}: the namespace does not exist yet when Argo CD applies it`, '/metadata/annotations'));
      }
    }
  }
  return findings;
}
