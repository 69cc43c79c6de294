// Fields the API server refuses to change in place: a sync that changes one fails until the
// object is replaced. Compares the objects rendered at the base revision with the working tree.
import { isDeepStrictEqual } from 'node:util';
import type { K8sObject } from '../../core/k8s.js';
import type { Rendered } from '../../render/rendered.js';
import type { Finding } from '../../core/finding.js';
import { finding, groupOf, type Entry } from './common.js';

/** Immutable fields per group/kind, as JSON pointers. */
const IMMUTABLE: Record<string, string[]> = {
  'apps/Deployment': ['/spec/selector'],
  'apps/DaemonSet': ['/spec/selector'],
  'apps/StatefulSet': ['/spec/selector', '/spec/volumeClaimTemplates', '/spec/serviceName'],
  '/Service': ['/spec/clusterIP'],
  'batch/Job': ['/spec/template'],
};

function at(o: unknown, pointer: string): unknown {
  return pointer.split('/').slice(1).reduce<unknown>((cur, k) => (cur as Record<string, unknown> | undefined)?.[k], o);
}

export function identity(cluster: string, o: K8sObject): string {
  return `${cluster}|${groupOf(o.apiVersion)}|${o.kind}|${o.metadata?.namespace ?? ''}|${o.metadata?.name}`;
}

/** `immutable-field`: objects whose identity is unchanged but an immutable field changed. */
export function checkImmutable(head: Rendered[], base: Rendered[]): Finding[] {
  const before = new Map<string, K8sObject>();
  for (const r of base) for (const o of r.objects) before.set(identity(r.target.cluster, o), o);
  const findings: Finding[] = [];
  for (const r of head) {
    for (const o of r.objects) {
      const fields = IMMUTABLE[`${groupOf(o.apiVersion)}/${o.kind}`];
      const old = fields && before.get(identity(r.target.cluster, o));
      if (!old) continue;
      // Already replaced on sync, or an Argo CD hook (recreated on every sync).
      const ann = o.metadata.annotations ?? {};
      if (/\bReplace=true\b/.test(ann['argocd.argoproj.io/sync-options'] ?? '') || ann['argocd.argoproj.io/hook']) continue;
      for (const p of fields) {
        const now = at(o, p);
        // clusterIP: only when git sets it; otherwise the cluster keeps the one it allocated.
        if (p === '/spec/clusterIP' && now === undefined) continue;
        if (isDeepStrictEqual(now, at(old, p))) continue;
        const e: Entry = { o, r, group: groupOf(o.apiVersion), ns: o.metadata.namespace };
        findings.push(finding(e, 'immutable-field', 'error', `${p.slice(1).replace(/\//g, '.')} changed since the base revision and is immutable: the sync will fail. Add the annotation argocd.argoproj.io/sync-options: Replace=true for one sync (or delete and recreate the object), or give the object a new name`, p));
      }
    }
  }
  return findings;
}
