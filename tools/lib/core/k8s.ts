// The shape every layer shares: a Kubernetes object as rendered, its id, and a rendered stream
// parsed into objects under the YAML limits.
import { GitopsError } from './errors.js';
import { parseYamlData, YAML_LIMITS } from './yamlfile.js';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

/** `Kind/namespace/name` (namespace `-` for cluster-scoped or unset). */
export function resourceId(o: Pick<K8sObject, 'kind' | 'metadata'>): string {
  return `${o.kind}/${o.metadata?.namespace ?? '-'}/${o.metadata?.name ?? '?'}`;
}

/** Objects of a rendered stream; over-large or malformed output is an error, never a crash. */
export function parseStream(text: string): K8sObject[] {
  const { docs, problem } = parseYamlData('kustomize output', text, { maxBytes: YAML_LIMITS.maxStreamBytes });
  if (problem) throw new GitopsError(`kustomize output line ${problem.line}: ${problem.message}`);
  return docs.filter((o): o is K8sObject => o !== null && typeof o === 'object' && !Array.isArray(o));
}
