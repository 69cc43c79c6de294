// HorizontalPodAutoscalers: target, bounds, and the replicas field Argo CD would fight over.
import { parseYamlData } from '../../core/yamlfile.js';
import type { K8sObject } from '../../core/k8s.js';
import type { Finding } from '../../core/finding.js';
import { finding, groupOf, type ClusterView, type Entry } from './common.js';

interface HpaSpec {
  scaleTargetRef?: { apiVersion?: string; kind?: string; name?: string };
  minReplicas?: number;
  maxReplicas?: number;
}

export interface Scaled {
  hpa: Entry;
  target?: Entry;
  max: number;
}

const isHpa = (e: Entry) => e.group === 'autoscaling' && e.o.kind === 'HorizontalPodAutoscaler';

/** HPAs of the cluster with the workload each one scales (if rendered). */
export function autoscaled(view: ClusterView): Scaled[] {
  return view.entries.filter(isHpa).map((hpa) => {
    const spec = (hpa.o.spec ?? {}) as HpaSpec;
    const ref = spec.scaleTargetRef ?? {};
    const target = view.entries.find((e) => e.ns === hpa.ns && e.o.kind === ref.kind && e.o.metadata.name === ref.name && e.group === groupOf(ref.apiVersion));
    return { hpa, target, max: spec.maxReplicas ?? 1 };
  });
}

interface IgnoreRule {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  jsonPointers?: string[];
  jqPathExpressions?: string[];
  managedFieldsManagers?: string[];
}

function ignoresReplicas(rules: IgnoreRule[], o: K8sObject, ns: string | undefined, groupKindImplied = false): boolean {
  const group = groupOf(o.apiVersion);
  return rules.some(
    (r) =>
      (groupKindImplied || ((r.group ?? '') === group && (r.kind === o.kind || r.kind === '*'))) &&
      (!r.name || r.name === o.metadata.name) &&
      (!r.namespace || r.namespace === ns) &&
      ((r.jsonPointers ?? []).includes('/spec/replicas') || (r.jqPathExpressions ?? []).includes('.spec.replicas') || (r.managedFieldsManagers ?? []).includes('kube-controller-manager')),
  );
}

/**
 * Whether Argo CD leaves spec.replicas of `e` alone: ignored in the Application's
 * ignoreDifferences (or argocd-cm resource.customizations), and, for syncs not to reset it
 * anyway, with the RespectIgnoreDifferences=true sync option.
 */
export function replicasIgnored(view: ClusterView, e: Entry): { ignored: boolean; respected: boolean } {
  const apps = view.appsByPath.get(e.r.target.dir) ?? [];
  let ignored = apps.some((a) => ignoresReplicas(((a.app.spec as { ignoreDifferences?: IgnoreRule[] })?.ignoreDifferences ?? []), e.o, e.ns));
  const data = (view.argocdCm?.data ?? {}) as Record<string, string>;
  for (const key of [`resource.customizations.ignoreDifferences.${e.group ? `${e.group}_` : ''}${e.o.kind}`, 'resource.customizations.ignoreDifferences.all']) {
    if (!data[key]) continue;
    // A malformed customization is Argo CD's to report.
    const rule = parseYamlData(key, String(data[key])).docs[0] as IgnoreRule | undefined;
    if (rule && ignoresReplicas([rule], e.o, e.ns, true)) ignored = true;
  }
  const respected = apps.length > 0 && apps.every((a) => ((a.app.spec as { syncPolicy?: { syncOptions?: string[] } })?.syncPolicy?.syncOptions ?? []).includes('RespectIgnoreDifferences=true'));
  return { ignored, respected };
}

/** `hpa-target`, `hpa-min-max` and `hpa-replicas`. */
export function checkHpas(view: ClusterView): Finding[] {
  const findings: Finding[] = [];
  for (const { hpa, target } of autoscaled(view)) {
    const spec = (hpa.o.spec ?? {}) as HpaSpec;
    const ref = spec.scaleTargetRef ?? {};
    if (!target) {
      findings.push(finding(hpa, 'hpa-target', 'error', `scaleTargetRef ${ref.kind}/${ref.name} (${ref.apiVersion}) is not rendered in namespace ${hpa.ns}`, '/spec/scaleTargetRef'));
    }
    const min = spec.minReplicas ?? 1;
    if (spec.maxReplicas !== undefined && min > spec.maxReplicas) {
      findings.push(finding(hpa, 'hpa-min-max', 'error', `minReplicas ${min} is greater than maxReplicas ${spec.maxReplicas}`, '/spec/minReplicas'));
    }
    const replicas = (target?.o.spec as { replicas?: number } | undefined)?.replicas;
    if (!target || replicas === undefined) continue;
    const { ignored, respected } = replicasIgnored(view, target);
    if (ignored && respected) continue;
    findings.push(
      ignored
        ? finding(target, 'hpa-replicas', 'warning', `spec.replicas (${replicas}) is ignored in diffs, but without the RespectIgnoreDifferences=true sync option every sync still resets what HorizontalPodAutoscaler/${hpa.o.metadata.name} scaled to`, '/spec/replicas')
        : finding(target, 'hpa-replicas', 'error', `spec.replicas (${replicas}) is set while HorizontalPodAutoscaler/${hpa.o.metadata.name} scales this ${target.o.kind}: Argo CD resets the count on every sync; remove spec.replicas (the HPA's minReplicas is the floor), or ignore /spec/replicas in the Application's ignoreDifferences with the RespectIgnoreDifferences=true sync option`, '/spec/replicas'),
    );
  }
  return findings;
}
