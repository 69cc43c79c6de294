// Promotion gated on health: the source environment's Argo CD Application, read (GET only) through
// the Kubernetes API with a kubeconfig: its sync status, health and the git revision it is synced to.
import os from 'node:os';
import path from 'node:path';
import type { AppOverlay } from '../config/apps.js';
import { UsageError } from '../core/errors.js';
import { KubeApiError, KubeClient, loadKubeconfig, parseServerArg, statusMessage } from '../server/kubeclient.js';
import { applicationOf } from './inventory.js';

export interface AppHealth {
  /** namespace/name of the Application. */
  application: string;
  sync?: string;
  health?: string;
  /** The git revision the Application is synced to (status.sync.revision). */
  revision?: string;
  /** Argo CD's own message, when it gave one (health or the last operation). */
  message?: string;
}

/** `FILE[:CONTEXT]`, else $KUBECONFIG's first file, else ~/.kube/config. */
export function kubeconfigArg(arg: string | undefined, envVars: NodeJS.ProcessEnv): { file: string; context?: string } {
  if (arg) return parseServerArg(arg);
  const first = envVars.KUBECONFIG?.split(path.delimiter).find(Boolean);
  return { file: first ?? path.join(envVars.HOME ?? os.homedir(), '.kube', 'config') };
}

/**
 * Why an Application is not Healthy: its own health message (Argo CD v2), else the resources that
 * are not Healthy with theirs (v3 keeps health per resource, in the Application with
 * --persist-resource-health). Never the last sync's message: a sync can succeed into a Degraded app.
 */
function healthReason(st: { health?: { status?: string; message?: string }; resources?: Array<{ kind?: string; namespace?: string; name?: string; health?: { status?: string; message?: string } }> }): string | undefined {
  if (st.health?.message) return st.health.message;
  if (!st.health?.status || st.health.status === 'Healthy') return undefined;
  const bad = (st.resources ?? []).filter((r) => r.health?.status && r.health.status !== 'Healthy');
  const worst = bad.filter((r) => r.health!.status === st.health!.status);
  const list = (worst.length ? worst : bad).slice(0, 3).map((r) => `${r.kind}/${r.namespace ? `${r.namespace}/` : ''}${r.name} ${r.health!.status}${r.health!.message ? `: ${r.health!.message}` : ''}`);
  return list.length ? list.join('; ') : undefined;
}

/** Reads one Application's status. A missing Application or CRD is a UsageError naming it. */
export async function readAppHealth(app: AppOverlay, kubeconfig: { file: string; context?: string }): Promise<AppHealth> {
  const { creds, context } = await loadKubeconfig(kubeconfig.file, kubeconfig.context);
  const { namespace, name } = applicationOf(app);
  const client = new KubeClient(creds);
  try {
    const url = `/apis/argoproj.io/v1alpha1/namespaces/${encodeURIComponent(namespace)}/applications/${encodeURIComponent(name)}`;
    const res = await client.request<{ status?: { sync?: { status?: string; revision?: string }; health?: { status?: string; message?: string }; resources?: Array<{ kind?: string; namespace?: string; name?: string; health?: { status?: string; message?: string } }> } }>('GET', url);
    if (res.status === 404) {
      throw new UsageError(`Argo CD Application ${namespace}/${name} (${app.id} in ${app.env.name}) not found in context '${context}' of ${kubeconfig.file}`, `is that the kubeconfig of the ${app.env.name} cluster (${app.env.cluster})? pass --kubeconfig FILE[:CONTEXT]`);
    }
    if (res.status !== 200) throw new KubeApiError(`GET ${url}: HTTP ${res.status} ${statusMessage(res.body)}`, 'the kubeconfig needs read access (get) to applications.argoproj.io in that namespace');
    const st = res.body.status ?? {};
    return {
      application: `${namespace}/${name}`,
      ...(st.sync?.status ? { sync: st.sync.status } : {}),
      ...(st.health?.status ? { health: st.health.status } : {}),
      ...(st.sync?.revision ? { revision: st.sync.revision } : {}),
      ...(healthReason(st) ? { message: healthReason(st) } : {}),
    };
  } finally {
    client.close();
  }
}
