// A ReadWriteOnce volume can be mounted by the pods of one node only: several replicas of a
// workload sharing one such claim get stuck in ContainerCreating as soon as they spread.
import type { Finding } from '../report.js';
import { finding, podTemplateOf, type ClusterView } from './common.js';
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
