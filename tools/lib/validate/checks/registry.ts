// Images on a registry that needs credentials pull only with an imagePullSecret of type
// kubernetes.io/dockerconfigjson in the pod's namespace, named by the pod spec or by its
// ServiceAccount. Without one the pods sit in ErrImagePull. Checked where gitops.yaml declares
// the cluster's `privateRegistries`.
import { globMatcher } from '../../core/patterns.js';
import type { Finding } from '../../core/finding.js';
import { allContainers, finding, podTemplateOf, type ClusterView } from './common.js';
import { splitRegistry } from '../../render/images.js';

const DOCKER_TYPES = ['kubernetes.io/dockerconfigjson', 'kubernetes.io/dockercfg'];

/** Registry host of an image reference, as the release commands read it (render/images.ts splitRegistry). */
export function registryHost(image: string): string {
  return splitRegistry(image).registry.toLowerCase();
}

type PullSecretState = { ok: true } | { ok: false; why: string };

/** `namespace/name` -> whether that Secret can serve as pull credentials. */
function pullSecrets(view: ClusterView): Map<string, PullSecretState> {
  const out = new Map<string, PullSecretState>();
  const typed = (type: string | undefined, what: string): PullSecretState =>
    type && DOCKER_TYPES.includes(type) ? { ok: true } : { ok: false, why: `${what} is of type ${type || 'Opaque'}, not kubernetes.io/dockerconfigjson` };
  for (const e of view.entries) {
    if (!e.ns) continue;
    const o = e.o;
    if (e.group === '' && o.kind === 'Secret') out.set(`${e.ns}/${o.metadata.name}`, typed((o as { type?: string }).type, `Secret ${o.metadata.name}`));
    if (e.group === 'external-secrets.io' && o.kind === 'ExternalSecret') {
      const target = (o.spec as { target?: { name?: string; template?: { type?: string } } } | undefined)?.target;
      out.set(`${e.ns}/${target?.name || o.metadata.name}`, typed(target?.template?.type, `the Secret ExternalSecret ${o.metadata.name} creates (spec.target.template.type)`));
    }
    if (e.group === 'bitnami.com' && o.kind === 'SealedSecret') {
      const tpl = (o.spec as { template?: { type?: string; metadata?: { name?: string } } } | undefined)?.template;
      out.set(`${e.ns}/${tpl?.metadata?.name || o.metadata.name}`, typed(tpl?.type, `the Secret SealedSecret ${o.metadata.name} creates`));
    }
  }
  return out;
}

/** `pull-credentials`. */
export function checkPullCredentials(view: ClusterView): Finding[] {
  const registries = (view.facts?.privateRegistries ?? []).map((r) => r.toLowerCase());
  if (!registries.length) return [];
  const secrets = pullSecrets(view);
  // Secrets made outside git (gitops.yaml external) are trusted to be of the right type.
  const external = globMatcher(view.external);
  const accounts = new Map(view.entries.filter((e) => e.group === '' && e.o.kind === 'ServiceAccount' && e.ns).map((e) => [`${e.ns}/${e.o.metadata.name}`, e.o as { imagePullSecrets?: Array<{ name?: string }> }]));
  const findings: Finding[] = [];
  for (const e of view.entries) {
    const t = podTemplateOf(e.o);
    if (!t || !e.ns) continue;
    const hit = allContainers(t.spec).find(({ c }) => c.image && registries.includes(registryHost(c.image)));
    if (!hit) continue;
    const sa = t.spec.serviceAccountName || 'default';
    const fromPod = (t.spec.imagePullSecrets ?? []).map((s) => s.name).filter((n): n is string => !!n);
    const fromSa = (accounts.get(`${e.ns}/${sa}`)?.imagePullSecrets ?? []).map((s) => s.name).filter((n): n is string => !!n);
    const states = [...fromPod, ...fromSa].map((n) => ({ n, s: external(`Secret/${e.ns}/${n}`) ? ({ ok: true } as PullSecretState) : secrets.get(`${e.ns}/${n}`) }));
    if (states.some((x) => x.s?.ok)) continue;
    // A pod-spec reference to a Secret that does not exist at all is missing-reference's finding.
    if (fromPod.some((n) => !secrets.has(`${e.ns}/${n}`)) && !states.some((x) => x.s && !x.s.ok)) continue;
    const host = registryHost(hit.c.image!);
    const why = states.length
      ? states.map((x) => (x.s && !x.s.ok ? x.s.why : `${x.n} is not rendered in namespace ${e.ns}`)).join('; ')
      : `neither the pod spec nor ServiceAccount ${sa} names an imagePullSecret`;
    findings.push(finding(e, 'pull-credentials', 'error', `pulls ${hit.c.image} from ${host}, a private registry of cluster ${view.cluster} (gitops.yaml clusters.${view.cluster}.privateRegistries), without pull credentials: ${why}; the pods would fail with ErrImagePull. Reference a kubernetes.io/dockerconfigjson Secret of namespace ${e.ns} (an ExternalSecret with target.template.type kubernetes.io/dockerconfigjson) in imagePullSecrets`, `${t.pointer}/${hit.list}/${hit.i}/image`));
  }
  return findings;
}
