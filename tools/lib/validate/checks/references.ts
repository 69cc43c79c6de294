// Secrets, ConfigMaps and PVCs that pods reference must exist in the pod's namespace:
// rendered, produced by an ExternalSecret or SealedSecret, or declared external in gitops.yaml.
import { globMatcher } from '../../core/patterns.js';
import type { Finding } from '../../core/finding.js';
import { allContainers, finding, podTemplateOf, type ClusterView, type Entry } from './common.js';

type RefKind = 'Secret' | 'ConfigMap' | 'PersistentVolumeClaim';

export interface PodRef {
  kind: RefKind;
  name: string;
  /** JSON pointer inside the workload. */
  pointer: string;
}

/** Every non-optional Secret, ConfigMap and PVC reference of a workload's pod template. */
export function podReferences(e: Entry): PodRef[] {
  const t = podTemplateOf(e.o);
  if (!t) return [];
  const refs: PodRef[] = [];
  const add = (kind: RefKind, name: string | undefined, optional: boolean | undefined, pointer: string) => {
    if (name && !optional) refs.push({ kind, name, pointer: `${t.pointer}${pointer}` });
  };
  for (const { c, list, i } of allContainers(t.spec)) {
    const at = `/${list}/${i}`;
    for (const [j, env] of (c.env ?? []).entries()) {
      const s = env.valueFrom?.secretKeyRef;
      const cm = env.valueFrom?.configMapKeyRef;
      add('Secret', s?.name, s?.optional, `${at}/env/${j}/valueFrom/secretKeyRef/name`);
      add('ConfigMap', cm?.name, cm?.optional, `${at}/env/${j}/valueFrom/configMapKeyRef/name`);
    }
    for (const [j, ef] of (c.envFrom ?? []).entries()) {
      add('Secret', ef.secretRef?.name, ef.secretRef?.optional, `${at}/envFrom/${j}/secretRef/name`);
      add('ConfigMap', ef.configMapRef?.name, ef.configMapRef?.optional, `${at}/envFrom/${j}/configMapRef/name`);
    }
  }
  for (const [i, v] of (t.spec.volumes ?? []).entries()) {
    add('Secret', v.secret?.secretName, v.secret?.optional, `/volumes/${i}/secret/secretName`);
    add('ConfigMap', v.configMap?.name, v.configMap?.optional, `/volumes/${i}/configMap/name`);
    add('PersistentVolumeClaim', v.persistentVolumeClaim?.claimName, false, `/volumes/${i}/persistentVolumeClaim/claimName`);
    for (const [j, s] of (v.projected?.sources ?? []).entries()) {
      add('Secret', s.secret?.name, s.secret?.optional, `/volumes/${i}/projected/sources/${j}/secret/name`);
      add('ConfigMap', s.configMap?.name, s.configMap?.optional, `/volumes/${i}/projected/sources/${j}/configMap/name`);
    }
  }
  for (const [i, s] of (t.spec.imagePullSecrets ?? []).entries()) add('Secret', s.name, false, `/imagePullSecrets/${i}/name`);
  return refs;
}

/** `Kind/namespace/name` of everything the cluster's rendered objects create or have created. */
export function providedObjects(view: ClusterView): Set<string> {
  const out = new Set<string>();
  for (const e of view.entries) {
    const { o, ns } = e;
    if (!ns) continue;
    if (e.group === '' && (o.kind === 'Secret' || o.kind === 'ConfigMap' || o.kind === 'PersistentVolumeClaim')) out.add(`${o.kind}/${ns}/${o.metadata.name}`);
    if (e.group === 'external-secrets.io' && o.kind === 'ExternalSecret') {
      out.add(`Secret/${ns}/${(o.spec as { target?: { name?: string } } | undefined)?.target?.name || o.metadata.name}`);
    }
    if (e.group === 'bitnami.com' && o.kind === 'SealedSecret') {
      out.add(`Secret/${ns}/${(o.spec as { template?: { metadata?: { name?: string } } } | undefined)?.template?.metadata?.name || o.metadata.name}`);
    }
  }
  return out;
}

/** `missing-reference`. */
export function checkReferences(view: ClusterView): Finding[] {
  const provided = providedObjects(view);
  const external = globMatcher(view.external);
  const findings: Finding[] = [];
  for (const e of view.entries) {
    if (!e.ns) continue;
    // The pods of a StatefulSet mount their volumeClaimTemplates by template name.
    const templates = e.o.kind === 'StatefulSet' ? ((e.o.spec as { volumeClaimTemplates?: Array<{ metadata?: { name?: string } }> }).volumeClaimTemplates ?? []).map((t) => t.metadata?.name) : [];
    // One finding per workload and missing object, at its first reference.
    const missing = new Map<string, { ref: PodRef; count: number }>();
    for (const ref of podReferences(e)) {
      const id = `${ref.kind}/${e.ns}/${ref.name}`;
      if (provided.has(id) || external(id) || (ref.kind === 'PersistentVolumeClaim' && templates.includes(ref.name))) continue;
      if (missing.has(id)) missing.get(id)!.count++;
      else missing.set(id, { ref, count: 1 });
    }
    for (const [id, { ref, count }] of missing) {
      const how = ref.kind === 'Secret' ? 'an ExternalSecret or SealedSecret, ' : '';
      const times = count > 1 ? ` (${count} references)` : '';
      findings.push(finding(e, 'missing-reference', 'error', `${id} is referenced${times} but not rendered in cluster ${view.cluster}; add it (or ${how}or list "${id}" under external.${view.cluster} in gitops.yaml if it is created outside git)`, ref.pointer));
    }
  }
  return findings;
}

