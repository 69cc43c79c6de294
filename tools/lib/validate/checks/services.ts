// Services against the pods they select, within one rendered cluster.
import type { Finding } from '../../core/finding.js';
import { allContainers, finding, podTemplateOf, selects, type ClusterView, type Entry, type PodTemplate } from './common.js';

interface ServiceSpec {
  type?: string;
  selector?: Record<string, string>;
  ports?: Array<{ name?: string; port?: number; targetPort?: number | string }>;
}

/** Pod templates of the cluster by namespace. */
export function podTemplates(view: ClusterView): Map<string, Array<{ e: Entry; t: PodTemplate }>> {
  const out = new Map<string, Array<{ e: Entry; t: PodTemplate }>>();
  for (const e of view.entries) {
    const t = podTemplateOf(e.o);
    if (!t || !e.ns) continue;
    if (!out.has(e.ns)) out.set(e.ns, []);
    out.get(e.ns)!.push({ e, t });
  }
  return out;
}

/** `service-selects-nothing` and `service-target-port`. */
export function checkServices(view: ClusterView): Finding[] {
  const findings: Finding[] = [];
  const pods = podTemplates(view);
  for (const e of view.entries) {
    if (e.group !== '' || e.o.kind !== 'Service') continue;
    const spec = (e.o.spec ?? {}) as ServiceSpec;
    if (spec.type === 'ExternalName' || !spec.selector || !Object.keys(spec.selector).length) continue;
    const selected = (pods.get(e.ns!) ?? []).filter((p) => selects(spec.selector!, p.t.labels));
    if (!selected.length) {
      const sel = Object.entries(spec.selector).map(([k, v]) => `${k}=${v}`).join(',');
      findings.push(finding(e, 'service-selects-nothing', 'error', `selector ${sel} matches no pod template in namespace ${e.ns}: the Service has no endpoints`, '/spec/selector'));
      continue;
    }
    const ports = selected.flatMap((p) => allContainers(p.t.spec).filter((c) => c.list === 'containers').flatMap((c) => c.c.ports ?? []));
    for (const [i, p] of (spec.ports ?? []).entries()) {
      const target = p.targetPort ?? p.port;
      if (target === undefined) continue;
      const byName = typeof target === 'string' && !/^\d+$/.test(target);
      const ok = byName ? ports.some((cp) => cp.name === target) : ports.some((cp) => cp.containerPort === Number(target));
      if (ok) continue;
      const known = ports.map((cp) => (cp.name ? `${cp.name}=${cp.containerPort}` : String(cp.containerPort))).join(', ') || 'none';
      const workloads = selected.map((s) => `${s.e.o.kind}/${s.e.o.metadata.name}`).join(', ');
      // A named port that no container declares gets no endpoints; a number may still be served
      // by a container that just does not declare it, so that is only a warning.
      findings.push(finding(e, 'service-target-port', byName ? 'error' : 'warning', `port ${p.name ?? i}: targetPort ${target} matches no container port of ${workloads} (ports: ${known})`, `/spec/ports/${i}/targetPort`));
    }
  }
  return findings;
}
