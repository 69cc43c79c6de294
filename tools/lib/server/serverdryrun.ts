// Server-side apply dry run of rendered objects against a real API server (the local one that
// setup builds, or a developer's cluster), with each rejection turned into a finding at the file
// and line of the offending field.
import { mapLimit } from '../core/exec.js';
import { FIELD_MANAGER } from './apiserver.js';
import type { KubeClient, KubeStatus } from './kubeclient.js';
import { resourceId, type K8sObject } from '../core/k8s.js';
import { locate } from '../render/render.js';
import { type Rendered } from '../render/rendered.js';
import type { Finding } from '../core/finding.js';
import { scrubSecrets, secretValuesOf } from '../core/redact.js';
import { toPointer } from '../core/pointer.js';

type Seg = string | number;

/**
 * A field path of an API server error (`spec.template.spec.containers[0].resources.requests[memory]`,
 * server-side apply's `.spec.ports[name="http",protocol="TCP"]`) as path segments inside `o`.
 * List items selected by key (`[name="web"]`) are resolved to their index in `o`.
 */
export function fieldPath(field: string, o: unknown): Seg[] {
  const segs: Seg[] = [];
  let cur: unknown = o;
  const push = (s: Seg) => {
    segs.push(s);
    cur = cur && typeof cur === 'object' ? (cur as Record<string | number, unknown>)[s] : undefined;
  };
  const re = /\.?([^.[\]]+)|\[((?:[^\]"]|"(?:[^"\\]|\\.)*")*)\]/g;
  for (const m of field.replace(/^\./, '').matchAll(re)) {
    if (m[1] !== undefined) {
      push(m[1]);
      continue;
    }
    const inner = m[2];
    if (/^\d+$/.test(inner) && Array.isArray(cur)) {
      push(Number(inner));
    } else if (inner.includes('=') && Array.isArray(cur)) {
      // [key="value",key2=80]: the list item whose keys match.
      const keys = [...inner.matchAll(/([\w-]+)=("(?:[^"\\]|\\.)*"|[^,]+)/g)].map((k) => [k[1], k[2].startsWith('"') ? JSON.parse(k[2]) : k[2]] as const);
      const i = (cur as Array<Record<string, unknown>>).findIndex((item) => keys.every(([k, v]) => String(item?.[k] ?? (k === 'protocol' ? 'TCP' : '')) === String(v)));
      if (i < 0) break;
      push(i);
    } else {
      push(inner.replace(/^"|"$/g, ''));
    }
  }
  return segs;
}


function dotted(segs: Seg[]): string {
  return segs.map((s, i) => (typeof s === 'number' ? `[${s}]` : `${i ? '.' : ''}${s}`)).join('');
}

export interface DryRunItem {
  r: Rendered;
  o: K8sObject;
}

/** Rule of a rejection: immutable fields and unknown kinds get their own ids. */
function ruleOf(message: string): string {
  if (/immutable|cannot be changed|updates to \S+ spec for fields other than/i.test(message)) return 'server-immutable-field';
  return 'server-dry-run';
}

/** Findings of one rejected (or warned about) object. */
export function statusFindings(item: DryRunItem, status: KubeStatus | undefined, httpStatus: number, server: string): Finding[] {
  const { r, o } = item;
  const base = { overlay: r.target.dir, resource: resourceId(o) };
  const mk = (message: string, field?: string): Finding => {
    const segs = field && field !== '<nil>' ? fieldPath(field, o) : [];
    const pointer = toPointer(segs);
    // The server quotes values it cannot decode (a wrong-typed stringData entry): never a secret value in a finding.
    return { ...base, severity: 'error', rule: ruleOf(message), field: segs.length ? dotted(segs) : undefined, message: scrubSecrets(`${server} rejects it: ${message}`, secretValuesOf(o)), pointer: pointer || undefined, ...locate(r, o, pointer) };
  };
  const causes = (status?.details?.causes ?? []).filter((c) => c.message || c.field);
  if (causes.length) return causes.map((c) => mk(c.field && c.field !== '<nil>' ? `${c.field}: ${c.message ?? c.reason}` : c.message ?? c.reason ?? '', c.field));
  const msg = status?.message ?? `HTTP ${httpStatus}`;
  // Decoding fails before validation, naming no field: find the malformed quantities ourselves.
  if (/unable to parse quantity|quantities must match/.test(msg)) {
    const bad = badQuantities(o);
    if (bad.length) return bad.map((p) => mk(`${dotted(p)}: Invalid value: "${String(at(o, p))}": quantities must match the regular expression '${QUANTITY.source}' (${msg.replace(/^.*: /, '')})`, dotted(p)));
  }
  // Server-side apply lists each schema problem on a line of its own: "errors:\n  .spec.x: expected string, ...".
  const lines = [...msg.matchAll(/^\s+(\.\S+): (.+)$/gm)];
  if (lines.length) return lines.map((l) => mk(`${l[1].replace(/^\./, '')}: ${l[2]}`, l[1]));
  // Server-side apply names a single schema problem in the message (".spec.foo: field not declared in
  // schema"), JSON decoding by Go struct field ("Go struct field DeploymentSpec.spec.replicas of type int32").
  const m = /(?:^|: )(\.[\w.[\]="-]+): /.exec(msg) ?? /Go struct field \w+\.([\w.]+) of type/.exec(msg);
  return [mk(msg, m?.[1])];
}

/** A Kubernetes resource.Quantity (k8s.io/apimachinery/pkg/api/resource). */
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;

function at(o: unknown, p: Seg[]): unknown {
  return p.reduce<unknown>((cur, k) => (cur as Record<string | number, unknown> | undefined)?.[k], o);
}

/** Paths of malformed quantities: resource requests/limits/capacity, sizeLimit, storage requests. */
export function badQuantities(o: unknown, p: Seg[] = []): Seg[][] {
  if (Array.isArray(o)) return o.flatMap((v, i) => badQuantities(v, [...p, i]));
  if (!o || typeof o !== 'object') return [];
  const out: Seg[][] = [];
  for (const [k, v] of Object.entries(o)) {
    const parent = p[p.length - 1];
    const isQuantity = (typeof parent === 'string' && /^(requests|limits|capacity|hard|overhead|allocatable)$/.test(parent)) || k === 'sizeLimit';
    if (isQuantity && (typeof v === 'string' || typeof v === 'number')) {
      if (!QUANTITY.test(String(v))) out.push([...p, k]);
    } else if (typeof v === 'object') out.push(...badQuantities(v, [...p, k]));
  }
  return out;
}

export interface DryRunOptions {
  /** Words for messages: "kube-apiserver v1.35.4" or "the API server of context minikube". */
  serverName: string;
  /** false: apply for real (the base revision before the change). */
  dryRun: boolean;
  concurrency?: number;
}

/**
 * Applies each object (server-side apply, dryRun=All unless told otherwise) and returns the
 * findings of rejections. Objects whose kind the server does not serve are findings too.
 */
export async function applyAll(client: KubeClient, items: DryRunItem[], opts: DryRunOptions): Promise<Finding[]> {
  return (await applyEach(client, items, opts)).flat();
}

/** applyAll, with the findings of each item apart (in the items' order). */
export async function applyEach(client: KubeClient, items: DryRunItem[], opts: DryRunOptions): Promise<Finding[][]> {
  return mapLimit(items, opts.concurrency ?? 8, async (item): Promise<Finding[]> => {
    const { r, o } = item;
    const where = await client.objectPath(o, defaultNamespace(item));
    if (!where) {
      return [{ severity: 'error', rule: 'server-unknown-kind', overlay: r.target.dir, resource: resourceId(o), message: `${opts.serverName} does not serve ${o.apiVersion} ${o.kind}: the sync would fail; declare the CRD set that defines it under clusters.${r.target.cluster}.apiServer.crds in gitops.yaml (or fix the apiVersion)`, ...locate(r, o) }];
    }
    const body = where.namespace && !o.metadata?.namespace ? { ...o, metadata: { ...o.metadata, namespace: where.namespace } } : o;
    const res = await client.apply(where.path, body, { dryRun: opts.dryRun, fieldManager: FIELD_MANAGER });
    if (res.status < 300) {
      return opts.dryRun
        ? res.warnings.map((w) => ({ severity: 'warning' as const, rule: 'server-warning', overlay: r.target.dir, resource: resourceId(o), message: `${opts.serverName} warns: ${w}`, ...locate(r, o) }))
        : [];
    }
    return statusFindings(item, res.body as KubeStatus, res.status, opts.serverName);
  });
}

/** Namespace for a namespaced object that names none (overlays set one on every object). */
function defaultNamespace(_item: DryRunItem): string {
  return 'default';
}

/** Namespaces the objects land in (for namespaced kinds the server serves). */
export async function namespacesOf(client: KubeClient, items: DryRunItem[]): Promise<Map<string, DryRunItem[]>> {
  const out = new Map<string, DryRunItem[]>();
  for (const item of items) {
    const where = await client.objectPath(item.o, defaultNamespace(item));
    if (!where?.namespace) continue;
    if (!out.has(where.namespace)) out.set(where.namespace, []);
    out.get(where.namespace)!.push(item);
  }
  return out;
}

export function isCrd(o: K8sObject): boolean {
  return o.kind === 'CustomResourceDefinition' && o.apiVersion.startsWith('apiextensions.k8s.io/');
}

