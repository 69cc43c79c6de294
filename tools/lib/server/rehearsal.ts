// The sync rehearsal: per cluster, a simulated copy (simcluster.ts) and the real Argo CD
// (argocdsim.ts) pulling this repository from a git daemon (gitserve.ts). The cluster is
// bootstrapped at the base revision as a user would (`kubectl apply -k clusters/<c>`), Argo CD
// syncs it, then the change is published, the entry point applied again, every Application and
// ApplicationSet refreshed, and what Argo CD reports is read back: per Application the sync with
// Argo CD's message, health with its reason (Argo CD's own health checks), hooks and waves in
// the order they ran, what was or would be pruned, every Pod the scheduler cannot place with the
// scheduler's reason, and the warning events of its objects.
import path from 'node:path';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { clusters as allClusters, entryPoint, getEnvironment, loadConfig, type Config } from '../config/config.js';
import { discoverApps, selectApps, type AppOverlay } from '../config/apps.js';
import { ToolMissingError } from '../core/errors.js';
import { findKustomize, type Tool } from '../core/tools.js';
import { kustomizeBuildObjects, ROOT_ONLY } from '../render/kustomize.js';
import type { K8sObject } from '../core/k8s.js';
import { appTargets } from '../render/render.js';
import { affectedTargets, changedFiles, resolveBase } from '../render/changes.js';
import type { Finding, Severity } from '../core/finding.js';
import { clusterRepoURL } from '../argocd/argocd.js';
import { ArgoCdSim, findArgoBinaries, type ArgoBinaries } from './argocdsim.js';
import { ServedRepo } from './gitserve.js';
import type { KubeClient } from './kubeclient.js';
import { statusMessage } from './kubeclient.js';
import { reapStale, RunDir } from './rundir.js';
import { findSimBinaries, SimCluster, type SimBinaries } from './simcluster.js';

export interface RehearseOptions {
  cwd: string;
  env?: string;
  app?: string;
  /** Base revision (default: the merge base with the default branch); the change is the working tree. */
  base?: string;
  /** Only the Applications whose files changed since the base. */
  changedOnly?: boolean;
  /** Shard `index` of `count` of the selected Applications (a CI job matrix); see shardApps. */
  shard?: { index: number; count: number };
  envVars?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

interface Task {
  apiVersion: string;
  phase: string;
  wave: number;
  kind: string;
  namespace: string;
  name: string;
  status?: string;
  hookType?: string;
  hookPhase?: string;
  message?: string;
}

export interface AppReport {
  cluster: string;
  name: string;
  /** Source path in the repository (an overlay). */
  path: string;
  sync: { status: string; revision: string };
  operation?: { phase: string; message: string; retryCount: number };
  health: { status: string; message?: string };
  tasks: Task[];
  /** Pods the scheduler cannot place: Pod/ns/name -> the scheduler's message. */
  unschedulable: Array<{ pod: string; message: string }>;
  conditions: Array<{ type: string; message: string }>;
  pruned: string[];
  wouldPrune: string[];
  terminating: Array<{ resource: string; finalizers: string[] }>;
  unhealthy: Array<{ resource: string; status: string; message?: string; expected?: string }>;
  outOfSync: string[];
  events: Array<{ resource: string; reason: string; message: string }>;
  simulated: Array<{ resource: string; effect: string }>;
}

export interface ClusterReport {
  cluster: string;
  base?: string;
  head: string;
  timings: Record<string, number>;
  apps: AppReport[];
  /** Applications that never settled within the bound. */
  unsettled: string[];
  bootstrap: string[];
  /**
   * A scoped run (--app, --changed-only, --shard): the entry point's Applications not created
   * (name -> source path), and Applications created anyway (a generator the rehearsal cannot narrow).
   */
  skipped?: Array<{ name: string; path: string }>;
  /** Overlay folders excluded from the ApplicationSets' git generators. */
  excluded?: string[];
  unscoped?: string[];
  /** Processes of the simulated cluster or Argo CD found listening beyond 127.0.0.1. */
  exposed?: string[];
}

export interface RehearsalResult {
  clusters: ClusterReport[];
  findings: Finding[];
  timings: Record<string, number>;
  peakRssMiB: number;
  notes: string[];
  /** The run's scope: what it rehearsed of what the selection (env, app, changed-only) holds. */
  scope?: { shard?: { index: number; count: number }; apps: string[]; of: number };
}

type App = {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { project?: string; source?: { path?: string; repoURL?: string }; destination?: { namespace?: string }; syncPolicy?: { automated?: { prune?: boolean } } };
  operation?: unknown;
  status?: {
    sync?: { status?: string; revision?: string };
    health?: { status?: string; message?: string };
    conditions?: Array<{ type: string; message: string }>;
    resources?: Array<{ group?: string; kind: string; namespace?: string; name: string; status?: string; requiresPruning?: boolean; health?: { status?: string; message?: string }; hook?: boolean }>;
    operationState?: {
      phase: string;
      message?: string;
      retryCount?: number;
      finishedAt?: string;
      operation?: { sync?: { revision?: string } };
      syncResult?: { revision?: string; resources?: Array<{ group?: string; version?: string; kind: string; namespace?: string; name: string; status?: string; message?: string; hookType?: string; hookPhase?: string; syncPhase?: string }> };
    };
  };
};

const APPS = '/apis/argoproj.io/v1alpha1/namespaces/argocd/applications';
const APPSETS = '/apis/argoproj.io/v1alpha1/namespaces/argocd/applicationsets';
const PHASES = ['PreSync', 'Sync', 'PostSync', 'SyncFail'];

function key(kind: string, ns: string | undefined, name: string): string {
  return `${kind}/${ns ?? ''}/${name}`;
}

/** Branch names the cluster's Argo CD objects follow (served at each revision). */
function followedBranches(objects: K8sObject[], defaultBranch: string): string[] {
  const out = new Set<string>([defaultBranch]);
  const add = (r: unknown) => {
    if (typeof r === 'string' && r && r !== 'HEAD' && !/^[0-9a-f]{40}$/.test(r) && !r.includes('{{') && !r.startsWith('refs/')) out.add(r);
  };
  for (const o of objects) {
    if (!o.apiVersion?.startsWith('argoproj.io/')) continue;
    const spec = (o.spec ?? {}) as { source?: { targetRevision?: string }; generators?: Array<{ git?: { revision?: string } }>; template?: { spec?: { source?: { targetRevision?: string } } } };
    add(spec.source?.targetRevision);
    for (const g of spec.generators ?? []) add(g.git?.revision);
    add(spec.template?.spec?.source?.targetRevision);
  }
  return [...out];
}

const normPath = (p: string | undefined): string => (p ?? '').replace(/^\.?\/+/, '').replace(/\/+$/, '');

/**
 * A scoped run creates only the selected Applications: the entry point's other Applications are
 * left out (an app of apps too: it would bring the rest back), and every git generator of its
 * ApplicationSets excludes the other overlay folders (Argo CD's own `exclude`), so their
 * Applications are never generated. Everything else (AppProjects, namespaces, argocd-cm, CRDs,
 * the cluster's infrastructure) is applied as it is: the selected Applications depend on it.
 */
export function scopeEntryObjects(objects: K8sObject[], keep: Set<string>, others: string[]): { objects: K8sObject[]; skipped: Array<{ name: string; path: string }> } {
  const skipped: Array<{ name: string; path: string }> = [];
  const out: K8sObject[] = [];
  type Gen = { git?: { files?: Array<{ path: string; exclude?: boolean }>; directories?: Array<{ path: string; exclude?: boolean }> }; matrix?: { generators?: Gen[] }; merge?: { generators?: Gen[] } };
  const narrow = (g: Gen): void => {
    if (g.git?.files) g.git.files.push(...others.map((d) => ({ path: `${d}/*`, exclude: true })));
    if (g.git?.directories) g.git.directories.push(...others.map((d) => ({ path: d, exclude: true })));
    for (const c of [...(g.matrix?.generators ?? []), ...(g.merge?.generators ?? [])]) narrow(c);
  };
  for (const o of objects) {
    if (o.apiVersion?.startsWith('argoproj.io/') && o.kind === 'Application') {
      const spec = (o.spec ?? {}) as { source?: { path?: string }; sources?: Array<{ path?: string }> };
      const paths = [spec.source?.path, ...(spec.sources ?? []).map((x) => x.path)].filter((x): x is string => x !== undefined).map(normPath);
      if (!paths.some((p) => keep.has(p))) {
        skipped.push({ name: o.metadata?.name ?? '', path: paths.join(', ') });
        continue;
      }
    } else if (o.apiVersion?.startsWith('argoproj.io/') && o.kind === 'ApplicationSet' && others.length) {
      const copy = structuredClone(o) as K8sObject & { spec?: { generators?: Gen[] } };
      for (const g of copy.spec?.generators ?? []) narrow(g);
      out.push(copy);
      continue;
    }
    out.push(o);
  }
  return { objects: out, skipped };
}

/**
 * The Applications of shard `index` of `count`: sorted by cluster then folder and cut into
 * contiguous runs of (nearly) equal length, so that a shard starts as few simulated clusters as
 * it can; every job of a CI matrix computes the same split. More shards than Applications leave
 * the last shards empty.
 */
export function shardApps(apps: AppOverlay[], shard: { index: number; count: number }): AppOverlay[] {
  const sorted = [...apps].sort((a, b) => a.env.cluster.localeCompare(b.env.cluster) || a.dir.localeCompare(b.dir));
  const from = Math.ceil(((shard.index - 1) * sorted.length) / shard.count);
  const to = Math.ceil((shard.index * sorted.length) / shard.count);
  return sorted.slice(from, to);
}

/** Server-side applies the entry point's objects (namespaces first), as `kubectl apply -k` would. */
async function applyObjects(client: KubeClient, objects: K8sObject[]): Promise<string[]> {
  const problems: string[] = [];
  const order = (o: K8sObject) => (o.kind === 'Namespace' ? 0 : o.kind === 'CustomResourceDefinition' ? 1 : 2);
  for (const o of [...objects].sort((a, b) => order(a) - order(b))) {
    const p = await client.objectPath(o, 'default');
    if (!p) {
      problems.push(`${o.kind}/${o.metadata?.name}: ${o.apiVersion} ${o.kind} is not served by the simulated cluster (declare its CRD set in gitops.yaml clusters.<c>.apiServer.crds)`);
      continue;
    }
    const res = await client.apply(p.path, o, { dryRun: false, fieldManager: 'gitops-rehearse' });
    if (res.status >= 300) problems.push(`${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}: ${statusMessage(res.body)}`);
    if (o.kind === 'CustomResourceDefinition') client.resetDiscovery();
  }
  return problems;
}

/** An HPA Degraded for lack of metrics while a metrics API is served: it may still read them. */
const hpaWaiting = (a: App): boolean => (a.status?.resources ?? []).some((r) => r.kind === 'HorizontalPodAutoscaler' && r.health?.status === 'Degraded');

/**
 * Every resource that is not Healthy is one gitops.yaml declares will stay so (expectUnhealthy: its
 * controller is not simulated): waiting the grace for it to turn Healthy learns nothing.
 */
const onlyExpectedUnhealthy = (a: App, expect: ExpectUnhealthy): boolean => expect.length > 0 && !!a.status?.resources?.length && unhealthyResources(a.status.resources, expect).every((u) => u.expected);

export function appSettled(a: App, rev: string, now: number, graceMs: number, metricsServed = false, expect: ExpectUnhealthy = []): boolean {
  const st = a.status ?? {};
  const op = st.operationState;
  if (a.operation) return false;
  if (op?.phase === 'Running') return (op.retryCount ?? 0) > 0; // failed at least once: Argo CD's message says why
  const opAtRev = !!op && (op.syncResult?.revision === rev || op.operation?.sync?.revision === rev);
  const syncedAtRev = st.sync?.revision === rev;
  if (!opAtRev) {
    if (!syncedAtRev) return false;
    // Compared at the revision, nothing to sync (Synced), or no automated sync to start one.
    if (st.sync?.status === 'OutOfSync' && a.spec.syncPolicy?.automated) return false;
  }
  if (op && opAtRev && (op.phase === 'Failed' || op.phase === 'Error')) return true;
  const since = op?.finishedAt ? now - Date.parse(op.finishedAt) : graceMs + 1;
  if (st.health?.status === 'Progressing' && st.sync?.status === 'Synced' && onlyExpectedUnhealthy(a, expect)) return true;
  if (st.health?.status === 'Progressing' || st.sync?.status === 'OutOfSync' || !st.health?.status || (metricsServed && hpaWaiting(a))) return since > graceMs;
  return true;
}

/** Polls until the ApplicationSets generated and every Application synced at `rev` and settled. */
async function settle(client: KubeClient, rev: string, deadline: number, graceMs: number, check: () => Promise<void>, log: (l: string) => void, want: (a: App) => boolean = () => true, metricsServed = false, expect: ExpectUnhealthy = []): Promise<string[]> {
  let lastNames = '';
  let stable = 0;
  for (;;) {
    await check();
    const [appsRes, setsRes] = await Promise.all([client.request<{ items?: App[] }>('GET', APPS), client.request<{ items?: Array<{ metadata: { name: string; annotations?: Record<string, string> }; status?: { conditions?: Array<{ type: string; status: string }> } }> }>('GET', APPSETS)]);
    const apps = (appsRes.body?.items ?? []).filter(want);
    const setsDone = (setsRes.body?.items ?? []).every((s) => !s.metadata.annotations?.['argocd.argoproj.io/application-set-refresh'] && (s.status?.conditions ?? []).some((c) => (c.type === 'ResourcesUpToDate' && c.status === 'True') || (c.type === 'ErrorOccurred' && c.status === 'True')));
    const now = Date.now();
    const pending = apps.filter((a) => !appSettled(a, rev, now, graceMs, metricsServed, expect)).map((a) => a.metadata.name);
    const names = apps.map((a) => a.metadata.name).sort().join(',');
    stable = names === lastNames ? stable + 1 : 0;
    lastNames = names;
    if (setsDone && apps.length && !pending.length && stable >= 2) return [];
    if (now > deadline) return pending.length ? pending : ['(ApplicationSets not generated)'];
    if (stable % 20 === 10) log(`rehearse: waiting for ${pending.length} of ${apps.length} Applications: ${pending.slice(0, 5).join(', ')}`);
    // Half a second: a settled cluster is seen within a second (two equal polls), and a poll is
    // two LISTs the API server answers from its watch cache.
    await sleep(500);
  }
}

async function list<T>(client: KubeClient, p: string): Promise<T[]> {
  const res = await client.request<{ items?: T[] }>('GET', p);
  return res.status === 200 ? res.body?.items ?? [] : [];
}

type Owned = { metadata: { name: string; namespace?: string; ownerReferences?: Array<{ kind: string; name: string; controller?: boolean }>; deletionTimestamp?: string; finalizers?: string[] } };
type Pod = Owned & { status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> } };
type Event = { involvedObject: { kind: string; namespace?: string; name: string }; type?: string; reason?: string; message?: string; count?: number };

type NsData = { pods: Pod[]; owners: Map<string, Owned>; events: Event[] };
type OperationState = NonNullable<NonNullable<App['status']>['operationState']>;
type AppResource = NonNullable<NonNullable<App['status']>['resources']>[number];
type ExpectUnhealthy = Array<{ kind: string; name?: string; reason: string }>;

/** A per-namespace cache of Pods, their owners and events: Applications sharing a namespace read it once. */
function namespaceReader(client: KubeClient): (ns: string) => Promise<NsData> {
  const byNs = new Map<string, NsData>();
  return async (ns: string) => {
    if (!byNs.has(ns)) {
      const [pods, rs, jobs, events] = await Promise.all([
        list<Pod>(client, `/api/v1/namespaces/${ns}/pods`), list<Owned>(client, `/apis/apps/v1/namespaces/${ns}/replicasets`),
        list<Owned>(client, `/apis/batch/v1/namespaces/${ns}/jobs`), list<Event>(client, `/api/v1/namespaces/${ns}/events`),
      ]);
      const owners = new Map<string, Owned>();
      for (const o of rs) owners.set(key('ReplicaSet', ns, o.metadata.name), o);
      for (const o of jobs) owners.set(key('Job', ns, o.metadata.name), o);
      byNs.set(ns, { pods, owners, events });
    }
    return byNs.get(ns)!;
  };
}

/** The sync's tasks with their waves (from the Application's own render: Argo CD does not report them), in the order they ran. */
function syncTasks(op: OperationState | undefined, rendered: K8sObject[]): { tasks: Task[]; order: Task[] } {
  const waves = new Map<string, number>();
  for (const o of rendered) {
    const w = Number(o.metadata?.annotations?.['argocd.argoproj.io/sync-wave'] ?? 0);
    waves.set(`${o.kind}/${o.metadata?.name}`, Number.isFinite(w) ? w : 0);
  }
  const tasks: Task[] = (op?.syncResult?.resources ?? []).map((r) => ({
    apiVersion: r.group ? `${r.group}/${r.version ?? 'v1'}` : r.version ?? 'v1',
    phase: r.syncPhase ?? 'Sync', wave: waves.get(`${r.kind}/${r.name}`) ?? 0, kind: r.kind, namespace: r.namespace ?? '', name: r.name,
    status: r.status, hookType: r.hookType, hookPhase: r.hookPhase, message: r.message,
  }));
  // Phases run in order, waves in order within a phase (the objects of one wave together).
  const order = tasks.map((t, i) => ({ t, i })).sort((x, y) => PHASES.indexOf(x.t.phase) - PHASES.indexOf(y.t.phase) || x.t.wave - y.t.wave || x.i - y.i).map((x) => x.t);
  return { tasks, order };
}

/** The Application's Pods the scheduler cannot place and its objects' warning events, per namespace (ownership followed through ReplicaSets and Jobs). */
async function podsAndEvents(nsData: (ns: string) => Promise<NsData>, namespaces: string[], own: Set<string>): Promise<Pick<AppReport, 'unschedulable' | 'events'>> {
  const unschedulable: AppReport['unschedulable'] = [];
  const events: AppReport['events'] = [];
  for (const ns of namespaces) {
    const d = await nsData(ns);
    const belongs = (o: Owned, kind: string, depth = 0): boolean => {
      if (own.has(key(kind, ns, o.metadata.name))) return true;
      if (depth > 3) return false;
      return (o.metadata.ownerReferences ?? []).some((r) => {
        if (own.has(key(r.kind, ns, r.name))) return true;
        const parent = d.owners.get(key(r.kind, ns, r.name));
        return !!parent && belongs(parent, r.kind, depth + 1);
      });
    };
    const podsOf = d.pods.filter((p) => belongs(p, 'Pod'));
    for (const p of podsOf) {
      const c = p.status?.conditions?.find((x) => x.type === 'PodScheduled' && x.status === 'False');
      if (c) unschedulable.push({ pod: key('Pod', ns, p.metadata.name), message: c.message ?? c.reason ?? 'not scheduled' });
    }
    for (const e of d.events) {
      if (e.type !== 'Warning' || e.reason === 'FailedScheduling') continue;
      const io = e.involvedObject;
      const obj = io.kind === 'Pod' ? d.pods.find((p) => p.metadata.name === io.name) : d.owners.get(key(io.kind, ns, io.name));
      const ev = { resource: key(io.kind, ns, io.name), reason: e.reason ?? '', message: e.message ?? '' };
      const dup = events.some((x) => x.resource === ev.resource && x.reason === ev.reason && x.message === ev.message);
      if (!dup && (own.has(ev.resource) || (obj && belongs(obj, io.kind)))) events.push(ev);
    }
  }
  return { unschedulable, events };
}

/** The pruned objects still there with a deletion timestamp: a finalizer holds them (still in use). */
async function terminatingPruned(client: KubeClient, tasks: Task[]): Promise<AppReport['terminating']> {
  const terminating: AppReport['terminating'] = [];
  for (const r of tasks.filter((t) => t.status === 'Pruned')) {
    const p = await client.objectPath({ apiVersion: r.apiVersion, kind: r.kind, metadata: { name: r.name, namespace: r.namespace } }, r.namespace);
    if (!p) continue;
    const live = await client.request<Owned>('GET', p.path);
    if (live.status === 200 && live.body.metadata.deletionTimestamp) terminating.push({ resource: key(r.kind, r.namespace, r.name), finalizers: live.body.metadata.finalizers ?? [] });
  }
  return terminating;
}

/** The resources Argo CD finds not Healthy, each with the reason gitops.yaml expects it (expectUnhealthy), if it does. */
function unhealthyResources(resources: AppResource[], expect: ExpectUnhealthy): AppReport['unhealthy'] {
  const unhealthy: AppReport['unhealthy'] = [];
  for (const r of resources) {
    const h = r.health?.status;
    if (!h || h === 'Healthy') continue;
    const exp = expect.find((e) => e.kind === r.kind && (!e.name || e.name === r.name));
    unhealthy.push({ resource: key(r.kind, r.namespace, r.name), status: h, message: r.health?.message, expected: exp?.reason });
  }
  return unhealthy;
}

/** One Application's report: Argo CD's status joined with what the cluster says about the objects it manages. */
async function appReport(sim: SimCluster, a: App, rendered: Map<string, K8sObject[]>, nsData: (ns: string) => Promise<NsData>): Promise<AppReport> {
  const st = a.status ?? {};
  const op = st.operationState;
  const appPath = (a.spec.source?.path ?? '').replace(/^\.?\/+/, '').replace(/\/+$/, '');
  const resources = st.resources ?? [];
  const own = new Set(resources.map((r) => key(r.kind, r.namespace, r.name)));
  const { tasks, order } = syncTasks(op, rendered.get(appPath) ?? []);
  for (const t of tasks) if (t.hookType) own.add(key(t.kind, t.namespace, t.name));
  const namespaces = [...new Set([...resources.map((r) => r.namespace), a.spec.destination?.namespace].filter((n): n is string => !!n))];
  const { unschedulable, events } = await podsAndEvents(nsData, namespaces, own);
  const pruned = tasks.filter((t) => t.status === 'Pruned').map((t) => key(t.kind, t.namespace, t.name));
  const terminating = await terminatingPruned(sim.client, tasks);
  const unhealthy = unhealthyResources(resources, sim.facts.rehearsal?.expectUnhealthy ?? []);
  const simulated = [...sim.simulated].filter(([k]) => own.has(k)).map(([resource, effect]) => ({ resource, effect }));
  return {
    cluster: sim.name, name: a.metadata.name, path: appPath,
    sync: { status: st.sync?.status ?? 'Unknown', revision: st.sync?.revision ?? '' },
    operation: op ? { phase: op.phase, message: op.message ?? '', retryCount: op.retryCount ?? 0 } : undefined,
    health: { status: st.health?.status ?? 'Unknown', message: st.health?.message },
    tasks: order, unschedulable, conditions: (st.conditions ?? []).map((c) => ({ type: c.type, message: c.message })),
    pruned, wouldPrune: resources.filter((r) => r.requiresPruning).map((r) => key(r.kind, r.namespace, r.name)),
    terminating, unhealthy, outOfSync: resources.filter((r) => r.status === 'OutOfSync' && !r.requiresPruning).map((r) => key(r.kind, r.namespace, r.name)),
    events, simulated,
  };
}

/** Reads back what Argo CD and the cluster say about each Application. */
async function collect(sim: SimCluster, rendered: Map<string, K8sObject[]>, config: Config): Promise<AppReport[]> {
  const nsData = namespaceReader(sim.client);
  const out: AppReport[] = [];
  for (const a of await list<App>(sim.client, APPS)) out.push(await appReport(sim, a, rendered, nsData));
  void config;
  return out;
}

function shortRev(r: string): string {
  return r.slice(0, 7);
}

/** Findings (every format, SARIF, the PR comment) from the per-Application reports. */
export function rehearsalFindings(config: Config, reports: ClusterReport[], selected?: (app: AppReport) => boolean): Finding[] {
  const out: Finding[] = [];
  for (const c of reports) {
    const entry = entryPoint(config, c.cluster) ?? '.';
    for (const b of c.bootstrap) out.push({ severity: 'error', rule: 'rehearsal-bootstrap', overlay: entry, resource: '', message: `applying ${entry} to the simulated ${c.cluster} failed: ${b}` });
    // A warning, not an error: a released argocd (setup --argocd-binary) binds its metrics so, and the rehearsal's findings still hold.
    for (const x of c.exposed ?? []) out.push({ severity: 'warning', rule: 'rehearsal-exposed', overlay: entry, resource: '', message: `${c.cluster}: ${x}: listens beyond 127.0.0.1 while the rehearsal runs (the argocd that setup builds binds its controller's metrics to 127.0.0.1)` });
    if (c.skipped?.length || c.excluded?.length) {
      const what = [...(c.skipped ?? []).map((k) => `Application ${k.name}${k.path ? ` (${k.path})` : ''}`), ...(c.excluded?.length ? [`the Applications of ${c.excluded.join(', ')} (excluded from the ApplicationSets' git generators)`] : [])];
      out.push({ severity: 'info', rule: 'rehearsal-scope', overlay: entry, resource: '', message: `${c.cluster}: not rehearsed, outside the selection and never created in the simulated cluster: ${what.join('; ')}` });
    }
    if (c.unscoped?.length) out.push({ severity: 'info', rule: 'rehearsal-scope', overlay: entry, resource: '', message: `${c.cluster}: created although outside the selection (a generator the rehearsal cannot narrow), synced but not reported: ${c.unscoped.join(', ')}` });
    for (const u of c.unsettled) out.push({ severity: 'error', rule: 'rehearsal-timeout', overlay: entry, resource: u === '(ApplicationSets not generated)' ? '' : `Application/argocd/${u}`, message: `${u === '(ApplicationSets not generated)' ? 'the ApplicationSets did not generate their Applications' : `Application ${u} did not finish syncing and settle`} within the rehearsal's bound on ${c.cluster} (gitops.yaml clusters.${c.cluster}.rehearsal.timeoutSeconds)` });
    for (const a of c.apps) {
      if (selected && !selected(a)) continue;
      const overlay = a.path || entry;
      const kfile = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].map((f) => `${overlay}/${f}`).find((f) => existsSync(path.join(config.root, f)));
      const at = (severity: Severity, rule: string, resource: string, message: string): void => {
        out.push({ severity, rule, overlay, resource, message: `${a.cluster}: Application ${a.name}: ${message}`, ...(kfile ? { file: kfile } : {}) });
      };
      const ran = PHASES.flatMap((ph) => {
        const ts = a.tasks.filter((t) => t.phase === ph);
        const ws = [...new Set(ts.map((t) => t.wave))];
        return ws.map((w) => `${ph} wave ${w}: ${ts.filter((t) => t.wave === w).map((t) => `${t.kind}/${t.name}${t.hookType ? ` (${t.hookType} hook ${t.hookPhase ?? ''})` : t.status ? ` ${t.status}` : ''}`).join(', ')}`);
      });
      const op = a.operation;
      at('info', 'rehearsal-sync', `Application/argocd/${a.name}`, `sync ${op ? `${op.phase} ("${op.message}")` : 'not needed'}; ${a.sync.status} at ${shortRev(a.sync.revision)}; health ${a.health.status}${a.health.message ? ` (${a.health.message})` : ''}${ran.length ? `. Ran: ${ran.join('; ')}` : ''}`);
      if (op && (op.phase === 'Failed' || op.phase === 'Error')) at('error', 'rehearsal-sync-failed', `Application/argocd/${a.name}`, `Argo CD's sync ${op.phase.toLowerCase()}: ${op.message}`);
      else if (op?.phase === 'Running') at('error', op.retryCount ? 'rehearsal-sync-failed' : 'rehearsal-timeout', `Application/argocd/${a.name}`, op.retryCount ? `Argo CD's sync keeps failing (retry ${op.retryCount}): ${op.message}` : `Argo CD's sync did not finish: ${op.message}`);
      for (const t of a.tasks) {
        const res = key(t.kind, t.namespace, t.name);
        if (t.hookType && (t.hookPhase === 'Failed' || t.hookPhase === 'Error')) at('error', 'rehearsal-hook-failed', res, `${t.hookType} hook ${t.kind}/${t.name} (wave ${t.wave}) ${t.hookPhase.toLowerCase()}: ${t.message ?? ''}`);
        else if (t.status === 'SyncFailed') at('error', 'rehearsal-sync-failed', res, `${t.phase} wave ${t.wave}: ${t.message ?? 'sync failed'}`);
      }
      for (const p of a.unschedulable) at('error', 'rehearsal-unschedulable', p.pod, `the scheduler cannot place this Pod on the simulated ${a.cluster} nodes (gitops.yaml clusters.${a.cluster}.nodes): ${p.message}`);
      for (const cnd of a.conditions) {
        if (cnd.type === 'SharedResourceWarning') at('error', 'rehearsal-shared-resource', `Application/argocd/${a.name}`, `two Applications manage the same object: ${cnd.message}`);
        else at(/Error$/.test(cnd.type) ? 'error' : 'warning', 'rehearsal-condition', `Application/argocd/${a.name}`, `${cnd.type}: ${cnd.message}`);
      }
      for (const r of a.pruned) at('info', 'rehearsal-prune', r, 'pruned by the sync');
      for (const r of a.wouldPrune) at('warning', 'rehearsal-prune', r, 'no longer in git: would be pruned by a sync with prune (Argo CD: requires pruning)');
      for (const t of a.terminating) at('error', 'rehearsal-prune-in-use', t.resource, `pruned, but still in use: it stays Terminating (finalizers: ${t.finalizers.join(', ') || 'none'})`);
      for (const u of a.unhealthy) {
        if (u.expected) at('info', 'rehearsal-unhealthy-expected', u.resource, `${u.status}${u.message ? ` (${u.message})` : ''}: expected in the rehearsal, ${u.expected} (gitops.yaml clusters.${a.cluster}.rehearsal.expectUnhealthy)`);
        else {
          // An HPA without metrics: say which declaration the cluster is missing.
          const noMetrics = u.resource.startsWith('HorizontalPodAutoscaler/') && !config.clusters[a.cluster]?.rehearsal?.addons?.includes('metrics')
            ? ` (the rehearsal serves no metrics API: declare gitops.yaml clusters.${a.cluster}.rehearsal.addons: [metrics] if the cluster runs metrics-server, else expectUnhealthy)` : '';
          at(u.status === 'Suspended' ? 'warning' : 'error', 'rehearsal-unhealthy', u.resource, `${u.status} after the sync${u.message ? `: ${u.message}` : ''}${noMetrics}`);
        }
      }
      if (!a.unhealthy.length && a.health.status !== 'Healthy' && a.health.status !== 'Unknown') at('error', 'rehearsal-unhealthy', `Application/argocd/${a.name}`, `health ${a.health.status}${a.health.message ? `: ${a.health.message}` : ''}`);
      if (a.sync.status === 'OutOfSync' && op?.phase === 'Succeeded') at('error', 'rehearsal-out-of-sync', `Application/argocd/${a.name}`, `OutOfSync right after a successful sync (another manager changes it back, or a mutating default): ${a.outOfSync.join(', ') || 'see Argo CD'}`);
      for (const e of a.events) {
        // The events of an object expected not to be Healthy (an HPA without metrics) say the same thing again.
        const expected = a.unhealthy.find((u) => u.resource === e.resource && u.expected);
        if (expected) at('info', 'rehearsal-event', e.resource, `${e.reason}: ${e.message} (expected: ${expected.expected})`);
        else at('warning', 'rehearsal-event', e.resource, `${e.reason}: ${e.message}`);
      }
      for (const s of a.simulated) at('info', 'rehearsal-simulated', s.resource, `simulated: ${s.effect}`);
    }
  }
  return out;
}

/** What the clusters of one run share: the selection, the tools, the run folder, and the reports and notes so far. */
interface RunContext {
  opts: RehearseOptions;
  config: Config;
  log: (line: string) => void;
  simBins: SimBinaries;
  argoBins: ArgoBinaries;
  kustomize: Tool;
  rd: RunDir;
  base?: string;
  apps: AppOverlay[];
  selectedDirs: Set<string>;
  scoped: boolean;
  notes: string[];
  reports: ClusterReport[];
  peakKiB: number;
}

/** One cluster's rehearsal: its revisions, the running simulated cluster and Argo CD, and its report. */
interface ClusterRun {
  cluster: string;
  dir: string;
  repo: ServedRepo;
  branches: string[];
  baseCommit?: string;
  head: string;
  sim: SimCluster;
  argo: ArgoCdSim;
  report: ClusterReport;
}

/** The Applications to rehearse (env, app, changed-only, shard) and the base revision: resolved before any process starts. */
async function selectRun(opts: RehearseOptions, config: Config, envs: Config['environments'], notes: string[]) {
  let apps: AppOverlay[] = selectApps(config, await discoverApps(config, envs), { env: opts.env, app: opts.app });
  let base: string | undefined;
  try {
    base = await resolveBase(opts.cwd, opts.base, config.defaultBranch);
  } catch (e) {
    if (opts.base !== undefined || opts.changedOnly) throw e;
    notes.push(`no base revision (${(e as Error).message}): the change is synced into an empty cluster`);
  }
  if (opts.changedOnly && base) {
    const changed = await changedFiles(opts.cwd, base);
    const affected = new Set((await affectedTargets(config, appTargets(apps), changed)).map((t) => t.dir));
    apps = apps.filter((a) => affected.has(a.dir));
  }
  const selectionSize = apps.length;
  if (opts.shard) apps = shardApps(apps, opts.shard);
  const scoped = opts.app !== undefined || opts.changedOnly === true || opts.shard !== undefined;
  const scope: RehearsalResult['scope'] = scoped ? { ...(opts.shard ? { shard: opts.shard } : {}), apps: apps.map((a) => `${a.env.name}:${a.id}`), of: selectionSize } : undefined;
  if (opts.shard) {
    // Each shard runs its own simulated clusters: what Applications share there is not seen.
    notes.push(`shard ${opts.shard.index}/${opts.shard.count}: ${apps.length} of ${selectionSize} Applications${apps.length ? ` (${apps.map((a) => `${a.env.cluster}:${a.dir}`).join(', ')})` : ''}; node capacity is per shard: the Pods of other shards' Applications are not on its simulated nodes, so capacity the Applications share, and objects two Applications of different shards both manage, are not checked (run unsharded to see them)`);
  }
  return { apps, base, scoped, scope, selectedDirs: new Set(apps.map((a) => a.dir)) };
}

/** The cluster's base and change commits in the served repository (its URL rewritten to the daemon's) and the branches its Argo CD objects follow. */
async function clusterCommits(ctx: RunContext, repo: ServedRepo, url: string, cluster: string, dir: string): Promise<{ baseCommit?: string; head: string; branches: string[] }> {
  const headObjects = (await kustomizeBuildObjects(ctx.kustomize, path.join(ctx.opts.cwd, dir), ROOT_ONLY)).objects;
  const repoURL = clusterRepoURL(ctx.config, { target: { dir, cluster, kind: 'cluster' }, objects: headObjects } as never);
  const rewrite = repoURL ? { from: repoURL, to: url } : undefined;
  let baseCommit = ctx.base ? await repo.commit(ctx.base, rewrite, undefined, 'base') : undefined;
  const head = await repo.commit(undefined, rewrite, baseCommit, 'change');
  // No change (the bench, a rehearsal of main itself): one sync into the empty cluster.
  if (baseCommit && (await repo.treeOf(baseCommit)) === (await repo.treeOf(head))) baseCommit = undefined;
  return { baseCommit, head, branches: followedBranches(headObjects, ctx.config.defaultBranch) };
}

/** Applies the entry point of a checked-out revision (narrowed in a scoped run); false when it makes no Application to wait for. */
async function applyEntry(ctx: RunContext, run: ClusterRun, tree: string, label: string): Promise<boolean> {
  const { dir, report } = run;
  let objects = await kustomizeBuildObjects(ctx.kustomize, path.join(tree, dir), ROOT_ONLY).then((r) => r.objects, (e: Error) => {
    if (label === 'change') report.bootstrap.push(`kustomize build ${dir}: ${e.message.split('\n').slice(0, 3).join(' ')}`);
    return [] as K8sObject[];
  });
  // Nothing to wait for when the entry point makes no Application.
  const hasEntry = objects.some((o) => o.apiVersion?.startsWith('argoproj.io/') && (o.kind === 'Application' || o.kind === 'ApplicationSet'));
  if (ctx.scoped) {
    // The other overlays of this revision's tree: their Applications are not created.
    const clusterEnvs = ctx.config.environments.filter((e) => e.cluster === run.cluster);
    const inTree = await discoverApps({ ...ctx.config, root: tree }, clusterEnvs).catch(() => [] as AppOverlay[]);
    const others = [...new Set(inTree.map((a) => a.dir).filter((d) => !ctx.selectedDirs.has(d)))].sort();
    const narrowed = scopeEntryObjects(objects, ctx.selectedDirs, others);
    objects = narrowed.objects;
    for (const k of narrowed.skipped) if (!report.skipped!.some((x) => x.name === k.name)) report.skipped!.push(k);
    report.excluded = [...new Set([...report.excluded!, ...others])].sort();
  }
  const problems = await applyObjects(run.sim.client, objects);
  if (label === 'change') report.bootstrap.push(...problems);
  await run.sim.createIngressClasses();
  return hasEntry;
}

/** Asks Argo CD to compare every Application and regenerate every ApplicationSet now, instead of at its next poll. */
async function refreshAll(client: KubeClient): Promise<void> {
  for (const a of await list<App>(client, APPS)) await client.request('PATCH', `${APPS}/${a.metadata.name}`, { metadata: { annotations: { 'argocd.argoproj.io/refresh': 'normal' } } }, 'application/merge-patch+json');
  for (const s of await list<{ metadata: { name: string } }>(client, APPSETS)) await client.request('PATCH', `${APPSETS}/${s.metadata.name}`, { metadata: { annotations: { 'argocd.argoproj.io/application-set-refresh': 'true' } } }, 'application/merge-patch+json');
}

/** Publishes one revision, applies its entry point as a user would, and waits until Argo CD has synced it and it settled. */
async function syncRevision(ctx: RunContext, run: ClusterRun, commit: string, label: string, refresh: boolean): Promise<{ unsettled: string[]; rendered: string }> {
  const { sim, argo, cluster } = run;
  const ts = Date.now();
  await run.repo.publish(run.branches, commit);
  const tree = path.join(ctx.rd.dir, `tree-${cluster}-${label}`);
  await run.repo.checkout(commit, tree);
  const hasEntry = existsSync(path.join(tree, run.dir)) && (await applyEntry(ctx, run, tree, label));
  if (refresh) await refreshAll(sim.client);
  const timeoutMs = (sim.facts.rehearsal?.timeoutSeconds ?? 300) * 1000;
  const graceMs = (sim.facts.rehearsal?.healthGraceSeconds ?? 20) * 1000;
  const check = async () => {
    await sim.checkAlive();
    await argo.checkAlive();
  };
  // A scoped run (--app, --changed-only) waits for its Applications only.
  const want = (a: App) => !ctx.scoped || ctx.selectedDirs.has((a.spec.source?.path ?? '').replace(/^\.?\/+/, '').replace(/\/+$/, ''));
  const unsettled = hasEntry ? await settle(sim.client, commit, Date.now() + timeoutMs, graceMs, check, ctx.log, want, sim.facts.rehearsal?.addons?.includes('metrics'), sim.facts.rehearsal?.expectUnhealthy) : [];
  run.report.timings[`${label}SyncMs`] = Date.now() - ts;
  ctx.log(`rehearse: ${cluster}: ${label} synced in ${((Date.now() - ts) / 1000).toFixed(1)} s${unsettled.length ? ` (${unsettled.length} not settled)` : ''}`);
  return { unsettled, rendered: tree };
}

/** With the cluster and Argo CD up: syncs the base then the change, and reads back the report of each Application. */
async function syncAndCollect(ctx: RunContext, run: ClusterRun): Promise<void> {
  const { sim, argo, cluster, report } = run;
  Object.assign(report.timings, sim.timings, { argoUpMs: argo.timings.upMs, argoCrdsMs: argo.timings.crdsMs });
  ctx.log(`rehearse: ${cluster}: cluster up in ${(sim.timings.upMs / 1000).toFixed(1)} s, Argo CD in ${(argo.timings.upMs / 1000).toFixed(1)} s (from the API server)`);
  if (run.baseCommit) await syncRevision(ctx, run, run.baseCommit, 'base', false);
  const done = await syncRevision(ctx, run, run.head, 'change', !!run.baseCommit);
  report.unsettled = done.unsettled;
  // Each reported Application's own render (its waves): from the served tree.
  const tc = Date.now();
  const rendered = new Map<string, K8sObject[]>();
  for (const a of ctx.apps.filter((x) => x.env.cluster === cluster)) {
    const objs = await kustomizeBuildObjects(ctx.kustomize, path.join(done.rendered, a.dir), ROOT_ONLY).then((r) => r.objects, () => []);
    rendered.set(a.dir, objs);
  }
  report.apps = await collect(sim, rendered, ctx.config);
  report.exposed = ctx.rd.exposed();
  report.timings.collectMs = Date.now() - tc;
  // Generated anyway (a generator other than git's, or a folder outside the layout).
  if (ctx.scoped) report.unscoped = report.apps.filter((a) => !ctx.selectedDirs.has(a.path)).map((a) => a.name);
  ctx.peakKiB = Math.max(ctx.peakKiB, ctx.rd.peakRssKiB());
}

/** One cluster from start to stop: its report is pushed, and Argo CD and the cluster stopped, however it ends. */
async function rehearseCluster(ctx: RunContext, repo: ServedRepo, url: string, cluster: string): Promise<void> {
  const dir = entryPoint(ctx.config, cluster);
  if (dir === null || !existsSync(path.join(ctx.opts.cwd, dir))) {
    ctx.notes.push(`cluster ${cluster} has no entry point: not rehearsed`);
    return;
  }
  const tc = Date.now();
  const { baseCommit, head, branches } = await clusterCommits(ctx, repo, url, cluster, dir);
  const commitsMs = Date.now() - tc;
  ctx.log(`rehearse: ${cluster}: starting the simulated cluster`);
  const sim = await SimCluster.startApi({ config: ctx.config, cluster, bins: ctx.simBins, run: ctx.rd, log: ctx.log });
  let argo: ArgoCdSim | undefined;
  const report: ClusterReport = { cluster, base: baseCommit, head, timings: { commitsMs }, apps: [], unsettled: [], bootstrap: [], ...(ctx.scoped ? { skipped: [], excluded: [], unscoped: [] } : {}) };
  try {
    // Argo CD needs only the API server: it starts while the controllers and nodes come up.
    const started = await Promise.allSettled([sim.startNodes(), ArgoCdSim.start({ config: ctx.config, cluster: sim, run: ctx.rd, bins: ctx.argoBins })]);
    if (started[1].status === 'fulfilled') argo = started[1].value;
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    await syncAndCollect(ctx, { cluster, dir, repo, branches, baseCommit, head, sim, argo: argo!, report });
  } finally {
    await argo?.stop();
    await sim.stop();
    report.timings.totalMs = Date.now() - tc;
    ctx.reports.push(report);
  }
}

/** Runs the rehearsal on every selected cluster, one at a time (each stopped before the next). */
export async function rehearse(opts: RehearseOptions): Promise<RehearsalResult & { config: Config }> {
  const log = opts.log ?? (() => {});
  const envVars = opts.envVars ?? process.env;
  const t0 = Date.now();
  const config = await loadConfig(opts.cwd, envVars);
  for (const d of reapStale()) log(`rehearse: reaped ${d} (left by a killed run)`);
  const simBins = await findSimBinaries(envVars);
  if ('missing' in simBins) throw new ToolMissingError(`sync rehearsal: ${simBins.missing}`, 'npm run setup -- --rehearse');
  const argoBins = await findArgoBinaries(envVars);
  if ('missing' in argoBins) throw new ToolMissingError(`sync rehearsal: ${argoBins.missing}`, 'npm run setup -- --rehearse');
  const envs = opts.env ? [getEnvironment(config, opts.env)] : config.environments;
  const notes: string[] = [];
  const { apps, base, scoped, scope, selectedDirs } = await selectRun(opts, config, envs, notes);
  const clusterNames = allClusters(config).filter((c) => envs.some((e) => e.cluster === c) && (!scoped || apps.some((a) => a.env.cluster === c)));
  const kustomize = await findKustomize(envVars);
  const rd = await RunDir.create();
  const ctx: RunContext = { opts, config, log, simBins, argoBins, kustomize, rd, base, apps, selectedDirs, scoped, notes, reports: [], peakKiB: 0 };
  const timings: Record<string, number> = {};
  try {
    const repo = await ServedRepo.create(rd, opts.cwd);
    const url = clusterNames.length ? await repo.serve() : '';
    if (url) notes.push(`Argo CD pulled this repository from ${url} (a git daemon on 127.0.0.1): every file naming the repository's URL names that one instead`);
    for (const cluster of clusterNames) await rehearseCluster(ctx, repo, url, cluster);
  } finally {
    // GITOPS_REHEARSE_LOGS=<dir>: keep every process's log (the run folder itself always goes).
    await rd.stop(3000, envVars.GITOPS_REHEARSE_LOGS ? path.resolve(envVars.GITOPS_REHEARSE_LOGS) : undefined);
  }
  timings.totalMs = Date.now() - t0;
  const isSelected = (a: AppReport): boolean => (scoped ? selectedDirs.has(a.path) : true);
  const findings = rehearsalFindings(config, ctx.reports, isSelected);
  if (opts.shard) findings.unshift({ severity: 'info', rule: 'rehearsal-scope', overlay: '.', resource: '', message: notes.find((n) => n.startsWith('shard '))! });
  if (scope && !clusterNames.length) notes.push(opts.shard ? `shard ${opts.shard.index}/${opts.shard.count} has no Application to rehearse` : 'no Application selected: nothing rehearsed');
  return { config, clusters: ctx.reports, findings, timings, peakRssMiB: Math.round((ctx.peakKiB + process.resourceUsage().maxRSS) / 1024), notes, ...(scope ? { scope } : {}) };
}
