// A ReadWriteOnce volume can be mounted by the pods of one node only: several replicas of a
// workload sharing one such claim get stuck in ContainerCreating as soon as they spread.
import type { Finding } from '../../core/finding.js';
import { finding, podTemplateOf, type ClusterView, type Entry } from './common.js';
import { autoscaled } from './hpa.js';

/** `rwo-multi-replica`. */
export function checkStorage(view: ClusterView): Finding[] {
  const findings: Finding[] = [];
  const pvcs = new Map<string, string[]>();
  for (const e of view.entries) {
    if (e.group === '' && e.o.kind === 'PersistentVolumeClaim') pvcs.set(`${e.ns}/${e.o.metadata.name}`, (e.o.spec as { accessModes?: string[] })?.accessModes ?? []);
  }
  const hpas = autoscaled(view);
  for (const e of view.entries) {
    if (!['Deployment', 'StatefulSet', 'ReplicaSet'].includes(e.o.kind)) continue;
    const t = podTemplateOf(e.o);
    if (!t) continue;
    const replicas = (e.o.spec as { replicas?: number }).replicas ?? 1;
    const hpaMax = Math.max(0, ...hpas.filter((h) => h.target === e).map((h) => h.max));
    const most = Math.max(replicas, hpaMax);
    if (most <= 1) continue;
    for (const [i, v] of (t.spec.volumes ?? []).entries()) {
      const claim = v.persistentVolumeClaim?.claimName;
      const modes = claim ? pvcs.get(`${e.ns}/${claim}`) : undefined;
      if (!modes?.length || !modes.every((m) => m === 'ReadWriteOnce' || m === 'ReadWriteOncePod')) continue;
      const why = hpaMax > replicas ? `its HorizontalPodAutoscaler scales it to ${hpaMax}` : `it runs ${replicas} replicas`;
      findings.push(finding(e, 'rwo-multi-replica', 'error', `${why} but mounts PersistentVolumeClaim ${claim}, which is ${modes.join('/')}: pods on a second node cannot attach it; use ReadWriteMany, one replica, or a StatefulSet volumeClaimTemplate`, `${t.pointer}/volumes/${i}/persistentVolumeClaim/claimName`));
    }
  }
  return findings;
}

interface ClaimSpec {
  storageClassName?: string | null;
  accessModes?: string[];
}

/**
 * Every claim a cluster's objects make: rendered PersistentVolumeClaims and StatefulSet
 * volumeClaimTemplates, with the JSON pointer of the claim spec inside its object.
 */
function claims(view: ClusterView): Array<{ e: Entry; spec: ClaimSpec; pointer: string; name: string }> {
  const out: Array<{ e: Entry; spec: ClaimSpec; pointer: string; name: string }> = [];
  for (const e of view.entries) {
    if (e.group === '' && e.o.kind === 'PersistentVolumeClaim') out.push({ e, spec: (e.o.spec ?? {}) as ClaimSpec, pointer: '/spec', name: `PersistentVolumeClaim ${e.o.metadata.name}` });
    if (e.group === 'apps' && e.o.kind === 'StatefulSet') {
      const templates = ((e.o.spec as { volumeClaimTemplates?: Array<{ metadata?: { name?: string }; spec?: ClaimSpec }> } | undefined)?.volumeClaimTemplates ?? []);
      for (const [i, t] of templates.entries()) out.push({ e, spec: t.spec ?? {}, pointer: `/spec/volumeClaimTemplates/${i}/spec`, name: `volumeClaimTemplate ${t.metadata?.name ?? i}` });
    }
  }
  return out;
}

/**
 * `pvc-storage-class` and `pvc-access-mode`: a claim names a class the cluster does not offer
 * (or relies on a default it does not have), or asks for an access mode its class cannot serve.
 * Either way the claim stays Pending and so do its pods. Checked only where gitops.yaml
 * declares the cluster's `storageClasses`.
 */
export function checkStorageClasses(view: ClusterView): Finding[] {
  const offered = view.facts?.storageClasses;
  if (!offered) return [];
  const where = `gitops.yaml clusters.${view.cluster}.storageClasses`;
  // A StorageClass rendered from git is offered too; its access modes depend on its provisioner.
  const rendered = new Set(view.entries.filter((e) => e.group === 'storage.k8s.io' && e.o.kind === 'StorageClass').map((e) => e.o.metadata.name));
  const byName = new Map(offered.map((c) => [c.name, c]));
  const fallback = offered.find((c) => c.default);
  const names = offered.map((c) => `${c.name}${c.default ? ' (default)' : ''}: ${c.accessModes.join('/')}`).join('; ');
  const findings: Finding[] = [];
  for (const { e, spec, pointer, name } of claims(view)) {
    const cls = spec.storageClassName;
    if (cls === '') {
      findings.push(finding(e, 'pvc-storage-class', 'warning', `${name} sets storageClassName "", which binds only to a pre-created PersistentVolume without class; name a class of ${where} (${names}) to have one provisioned`, `${pointer}/storageClassName`));
      continue;
    }
    if (cls && rendered.has(cls)) continue;
    const c = cls ? byName.get(cls) : fallback;
    if (!c) {
      findings.push(finding(e, 'pvc-storage-class', 'error', cls
        ? `${name} asks for storage class ${cls}, which cluster ${view.cluster} does not offer (${where}: ${names || 'none'}): the claim stays Pending`
        : `${name} names no storageClassName and cluster ${view.cluster} has no default class (${where}: ${names || 'none'}): the claim stays Pending`, cls ? `${pointer}/storageClassName` : pointer));
      continue;
    }
    const missing = (spec.accessModes ?? []).filter((m) => !c.accessModes.includes(m));
    if (!missing.length) continue;
    const serving = offered.filter((x) => (spec.accessModes ?? []).every((m) => x.accessModes.includes(m))).map((x) => x.name);
    findings.push(finding(e, 'pvc-access-mode', 'error', `${name} asks for ${missing.join('/')}, which storage class ${c.name}${cls ? '' : ' (the default, since it names no storageClassName)'} does not offer (${c.accessModes.join('/')}): the claim stays Pending; ${serving.length ? `set storageClassName to ${serving.join(' or ')}` : `no class of ${where} offers it`}`, `${pointer}/accessModes`));
  }
  return findings;
}
