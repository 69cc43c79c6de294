// The rehearsal's stand-in for a metrics API (gitops.yaml clusters.<c>.rehearsal.addons: [metrics]).
// metrics-server scrapes kubelets, which kwok's fake nodes do not run, so the stand-in serves
// metrics.k8s.io/v1beta1 PodMetrics itself: a CustomResourceDefinition in that group (the API
// server then registers the group's APIService as a local one, so the real HPA controller of
// kube-controller-manager reads it like metrics-server's) and one PodMetrics per Ready Pod an
// HPA targets, whose usage is the HPA's own target (so the HPA neither scales up nor down: the
// rehearsal shows whether it can read metrics, never a load it cannot know). Every HPA it
// serves is named in the report as simulated.
import type { KubeClient } from './kubeclient.js';
import { statusMessage } from './kubeclient.js';

const GROUP = 'metrics.k8s.io';
const PODS = `/apis/${GROUP}/v1beta1/namespaces`;

export const METRICS_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `pods.${GROUP}`, annotations: { 'api-approved.kubernetes.io': "unapproved, the sync rehearsal's stand-in for metrics-server" } },
  spec: {
    group: GROUP,
    scope: 'Namespaced',
    names: { plural: 'pods', singular: 'podmetrics', kind: 'PodMetrics', listKind: 'PodMetricsList' },
    versions: [{ name: 'v1beta1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
  },
};

const SUFFIX: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };

/** A Kubernetes quantity as a number of base units (cores, bytes); undefined when malformed. */
export function parseQuantity(q: string | number | undefined): number | undefined {
  if (q === undefined) return undefined;
  if (typeof q === 'number') return q;
  const m = /^([+-]?[0-9.]+)(?:[eE]([+-]?[0-9]+))?(n|u|m|k|K|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(q.trim());
  if (!m) return undefined;
  return Number(m[1]) * 10 ** Number(m[2] ?? 0) * SUFFIX[m[3] ?? ''];
}

type Resources = { requests?: Record<string, string> };
type Container = { name: string; resources?: Resources };
type Pod = { metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string }; spec: { containers: Container[] }; status?: { phase?: string; conditions?: Array<{ type: string; status: string; lastTransitionTime?: string }> } };
type Target = { type: string; averageUtilization?: number; averageValue?: string };
type MetricSpec = { type: string; resource?: { name: string; target: Target }; containerResource?: { name: string; container: string; target: Target } };
export type Hpa = { metadata: { name: string; namespace: string }; spec: { scaleTargetRef: { apiVersion?: string; kind: string; name: string }; metrics?: MetricSpec[] } };

/**
 * Each container's usage (cores, bytes) that puts every Resource and ContainerResource metric of
 * the HPA exactly on its target: utilization targets a share of the container's request, value
 * targets the Pod's average split by request. Resources the HPA does not target report half the
 * request (metrics-server reports every resource).
 */
export function podUsage(hpa: Hpa, pod: Pick<Pod, 'spec'>): Array<{ name: string; usage: Record<'cpu' | 'memory', number> }> {
  const out = pod.spec.containers.map((c) => ({ name: c.name, usage: { cpu: 0, memory: 0 } }));
  for (const r of ['cpu', 'memory'] as const) {
    const req = pod.spec.containers.map((c) => parseQuantity(c.resources?.requests?.[r]) ?? 0);
    const total = req.reduce((a, b) => a + b, 0);
    const spec = (hpa.spec.metrics ?? []).find((m) => m.type === 'Resource' && m.resource?.name === r)?.resource?.target;
    out.forEach((c, i) => {
      const cr = (hpa.spec.metrics ?? []).find((m) => m.type === 'ContainerResource' && m.containerResource?.name === r && m.containerResource.container === c.name)?.containerResource?.target;
      const t = cr ?? spec;
      if (t?.type === 'Utilization' && t.averageUtilization !== undefined) c.usage[r] = (req[i] * t.averageUtilization) / 100;
      else if (t?.type === 'AverageValue' && t.averageValue !== undefined) {
        const v = parseQuantity(t.averageValue) ?? 0;
        c.usage[r] = cr ? v : total ? (v * req[i]) / total : v / out.length;
      } else c.usage[r] = req[i] / 2;
    });
  }
  return out;
}

/** The stand-in's round: a PodMetrics for every Ready Pod of every HPA that has none yet. */
export class MetricsStandIn {
  private readonly served = new Set<string>();
  private crd = false;

  constructor(private readonly client: KubeClient, private readonly cluster: string, private readonly record: (resource: string, effect: string) => void) {}

  /** Registers metrics.k8s.io (the CRD); the round retries until it is served. */
  async install(): Promise<void> {
    const res = await this.client.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', METRICS_CRD);
    if (res.status >= 300 && res.status !== 409) throw new Error(`the metrics API stand-in (CustomResourceDefinition ${METRICS_CRD.metadata.name}): ${statusMessage(res.body)}`);
  }

  async round(): Promise<void> {
    if (!this.crd) this.crd = (await this.client.request('GET', `/apis/${GROUP}/v1beta1`)).status === 200;
    if (!this.crd) return;
    const hpas = await this.client.request<{ items?: Hpa[] }>('GET', '/apis/autoscaling/v2/horizontalpodautoscalers');
    for (const hpa of hpas.body?.items ?? []) {
      const ns = hpa.metadata.namespace;
      const ref = hpa.spec.scaleTargetRef;
      const target = await this.client.objectPath({ apiVersion: ref.apiVersion ?? 'apps/v1', kind: ref.kind, metadata: { name: ref.name, namespace: ns } }, ns);
      if (!target) continue;
      const scale = await this.client.request<{ status?: { selector?: string } }>('GET', `${target.path}/scale`);
      const selector = scale.status === 200 ? scale.body?.status?.selector : undefined;
      if (!selector) continue;
      const pods = await this.client.request<{ items?: Pod[] }>('GET', `/api/v1/namespaces/${encodeURIComponent(ns)}/pods?labelSelector=${encodeURIComponent(selector)}`);
      for (const pod of pods.body?.items ?? []) {
        const ready = pod.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True');
        // The HPA controller ignores a cpu sample taken less than one window after readiness.
        if (!ready || pod.metadata.deletionTimestamp || this.served.has(pod.metadata.uid)) continue;
        if (ready.lastTransitionTime && Date.now() - Date.parse(ready.lastTransitionTime) < 2000) continue;
        const containers = podUsage(hpa, pod).map((c) => ({ name: c.name, usage: { cpu: `${Math.round(c.usage.cpu * 1e9)}n`, memory: `${Math.round(c.usage.memory)}` } }));
        const body = { apiVersion: `${GROUP}/v1beta1`, kind: 'PodMetrics', metadata: { name: pod.metadata.name, namespace: ns, labels: pod.metadata.labels ?? {} }, timestamp: new Date().toISOString(), window: '1s', containers };
        const res = await this.client.request('POST', `${PODS}/${encodeURIComponent(ns)}/pods`, body);
        if (res.status < 300 || res.status === 409) {
          this.served.add(pod.metadata.uid);
          this.record(`HorizontalPodAutoscaler/${ns}/${hpa.metadata.name}`, `its metrics come from a simulated metrics API (gitops.yaml clusters.${this.cluster}.rehearsal.addons: metrics): each Pod reports the HPA's target, so the real HPA controller reads metrics but neither scales up nor down`);
        }
      }
    }
  }
}
