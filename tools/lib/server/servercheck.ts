// validate's server-side dry run, one cluster at a time: against the local kube-apiserver that
// `npm run setup` builds (its flags and CRDs from gitops.yaml clusters.<c>.apiServer), or,
// strictly read-only, against a real cluster from a kubeconfig.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { LocalApiServer, reapOrphans } from './apiserver.js';
import { clusters, type Config } from '../config/config.js';
import { CrdError, loadCrdSet } from './crds.js';
import { GitopsError, ToolMissingError, UsageError } from '../core/errors.js';
import { run } from '../core/exec.js';
import { KubeClient, loadKubeconfig, parseServerArg, statusMessage } from './kubeclient.js';
import { resourceId, type K8sObject } from '../core/k8s.js';
import { locate, objectHash } from '../render/render.js';
import { type Rendered } from '../render/rendered.js';
import type { Finding } from '../core/finding.js';
import { applyAll, applyEach, isCrd, namespacesOf, type DryRunItem } from './serverdryrun.js';
import { cachingEnabled, sha, Store, toolkitCodeHash } from '../core/workspace.js';
import { findApiServer, type ApiServerBinaries } from '../core/tools.js';

/**
 * 'auto': the local server when its binaries are installed (a missing one is an error under
 * CI=true); 'local': the local server, required; `{ kubeconfig }`: a real cluster, dry run only.
 */
export type ServerMode = 'auto' | 'local' | { kubeconfig: string };

export interface ServerTimings {
  startMs: number;
  crdsMs: number;
  dryRunMs: number;
}

export interface ServerCheckResult {
  findings: Finding[];
  /** One line for the user: what ran, or why it was skipped. */
  note: string;
  ran: boolean;
  timings: ServerTimings;
}

export interface ServerCheckOptions {
  mode: ServerMode;
  /** The targets to check (every object is dry-run). */
  rendered: Rendered[];
  /** Every target of their clusters (CRDs the repository itself renders). */
  all: Rendered[];
  /** Renders of the base revision, applied for real first (local server only). */
  base?: Rendered[];
  /** A running local server to reuse (tests share one per file); not stopped here. */
  server?: LocalApiServer;
  /** A local server the caller started early (prestartLocal); owned, and stopped, here. */
  starting?: Promise<LocalApiServer | undefined>;
  /** --env, to tell which cluster a kubeconfig points at. */
  env?: string;
  envVars: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

const items = (rs: Rendered[]): DryRunItem[] => rs.flatMap((r) => r.objects.map((o) => ({ r, o })));

/** `group/Kind` of an object (the core group is ''), as a CRD defines it. */
const groupKind = (o: K8sObject) => `${o.apiVersion?.includes('/') ? o.apiVersion.split('/')[0] : ''}/${o.kind}`;

/** The CRDs among `crds` that define one of these `group/Kind`s. */
function crdsFor(crds: K8sObject[], kinds: Set<string>): K8sObject[] {
  return crds.filter((x) => {
    const spec = x.spec as { group?: string; names?: { kind?: string } } | undefined;
    return kinds.has(`${spec?.group}/${spec?.names?.kind}`);
  });
}

/** `Kubernetes v1.35.4` -> `1.35`. */
function minorOf(v: string): string | undefined {
  return /v?(\d+)\.(\d+)/.exec(v)?.slice(1, 3).join('.');
}

async function binaryVersion(bins: ApiServerBinaries): Promise<string> {
  const res = await run(bins.kubeApiserver, ['--version'], { allowFailure: true, timeoutMs: 30_000 });
  return /v\d+\.\d+\.\d+\S*/.exec(res.stdout)?.[0] ?? 'unknown';
}

/** Where the dry-run outcomes are kept (a Store named 'server'). */
export function serverStoreFile(root: string): string {
  return path.join(root, '.cache', 'findings', 'server.json');
}

// Bumped when what a cached outcome holds changes; the toolkit's code hash is in the key too.
const SERVER_CHECK_VERSION = 2;

/** A cached dry-run finding: located again on every run (lines move while the object does not). */
type CachedFinding = Omit<Finding, 'overlay' | 'resource' | 'file' | 'line'>;


const binSig = async (bins: ApiServerBinaries) => {
  const sig = async (p: string) => stat(p).then((x) => `${x.size}:${x.mtimeMs}`, () => '-');
  return JSON.stringify([bins.kubeApiserver, await sig(bins.kubeApiserver), bins.etcd, await sig(bins.etcd)]);
};

/**
 * Starts the local server for these clusters ahead of need (while the repository renders), with
 * the flags of the first: undefined when it cannot (serverCheck then says why). The caller hands
 * the promise to serverCheck, or stops the server itself.
 */
export async function prestartLocal(config: Config, clusterNames: string[], envVars: NodeJS.ProcessEnv, log?: (line: string) => void): Promise<LocalApiServer | undefined> {
  const bins = await findApiServer(envVars);
  if ('missing' in bins) return undefined;
  if (minorOf(await cachedVersion(config, bins, envVars)) !== minorOf(config.kubernetesVersion)) return undefined;
  const first = clusters(config).find((c) => clusterNames.includes(c));
  return LocalApiServer.start(bins, (first && config.apiServers[first]?.flags) || [], { log });
}

export async function serverCheck(config: Config, opts: ServerCheckOptions): Promise<ServerCheckResult> {
  // Servers of a killed run go now, also when every outcome is cached and none starts.
  reapOrphans(opts.log);
  const early = opts.starting;
  let started: LocalApiServer | undefined;
  const t = performance.now();
  try {
    started = await early;
  } catch {
    started = undefined; // started again below, where a failure is reported
  }
  // What was left of a prestarted server's start to wait for counts as its start.
  const waited = early ? performance.now() - t : 0;
  try {
    const r = await check(config, { ...opts, starting: undefined }, started);
    r.timings.startMs += waited;
    return r;
  } finally {
    await started?.stop();
  }
}

type Skip = { skip: ServerCheckResult };

async function check(config: Config, opts: ServerCheckOptions, started: LocalApiServer | undefined): Promise<ServerCheckResult> {
  const timings: ServerTimings = { startMs: 0, crdsMs: 0, dryRunMs: 0 };
  if (!opts.rendered.length) return { findings: [], note: 'server dry run: nothing to check', ran: false, timings };
  if (typeof opts.mode === 'object') return remoteCheck(config, opts, opts.mode.kubeconfig, timings);
  const server = opts.server ?? started;
  const bins = await ourBinaries(config, opts, server, timings);
  if (bins && 'skip' in bins) return bins.skip;
  const present = clusters(config).filter((c) => opts.rendered.some((r) => r.target.cluster === c));
  const crdsOf = await clusterCrds(config, opts, present, timings);
  if ('skip' in crdsOf) return crdsOf.skip;
  const serverSig = bins ? await binSig(bins) : `reused:${opts.server!.version}`;
  const known = await knownOutcomes(config, opts, present, crdsOf, serverSig);
  const objects = opts.rendered.reduce((n, r) => n + r.objects.length, 0);
  const cachedNote = (n: number) => (n ? `; ${n} of them unchanged since an earlier run, their outcome from .cache/findings` : '');
  if (!known.todo.size) {
    const version = server?.version ?? (await cachedVersion(config, bins!, opts.envVars));
    return { findings: known.findings, ran: true, timings, note: `server dry run: ${objects} objects against kube-apiserver ${version} (${present.join(', ')})${cachedNote(objects)}` };
  }
  const name = await dryRunOnServer(config, opts, { server, bins, crdsOf, known, timings });
  const checked = [...known.todo.values()].reduce((n, x) => n + x.length, 0);
  return { findings: known.findings, ran: true, timings, note: `server dry run: ${objects} objects against ${name} (${present.join(', ')})${opts.base ? ', base revision applied first' : ''}${cachedNote(objects - checked)}` };
}

/**
 * The pinned binaries when the run starts its own server (undefined: the caller's server); a
 * skip outside CI when they are missing; an error when their version is not gitops.yaml's.
 */
async function ourBinaries(config: Config, opts: ServerCheckOptions, server: LocalApiServer | undefined, timings: ServerTimings): Promise<ApiServerBinaries | Skip | undefined> {
  // Ours (prestarted or still to start) is known by its binaries; a server the caller runs, by its version.
  const found = opts.server ? undefined : await findApiServer(opts.envVars);
  if (found && 'missing' in found) {
    const why = `${found.missing}; 'npm run setup' builds the pinned kube-apiserver and etcd (or set GITOPS_KUBE_APISERVER and GITOPS_ETCD, e.g. to setup-envtest binaries)`;
    if (opts.mode === 'auto' && !opts.envVars.CI) return { skip: { findings: [], note: `server dry run skipped: ${why}; --no-server silences this`, ran: false, timings } };
    throw new ToolMissingError(`server dry run: ${found.missing}`, opts.envVars.CI ? "CI must run 'npm run setup' before validate (or pass --no-server)" : why);
  }
  const bins = found as ApiServerBinaries | undefined;
  if (bins && !server) {
    const version = await cachedVersion(config, bins, opts.envVars);
    if (minorOf(version) !== minorOf(config.kubernetesVersion)) {
      throw new ToolMissingError(
        `server dry run: kube-apiserver ${version} (${bins.source}) does not match gitops.yaml kubernetes.version ${config.kubernetesVersion}`,
        `set gitops.yaml kubernetes.version to ${minorOf(version)}.0 (or leave it out: it defaults to the pinned server's version); to check against ${config.kubernetesVersion} instead, bump tools/go/apiserver to that minor and run 'npm run setup', or point GITOPS_KUBE_APISERVER at a matching binary`,
      );
    }
  }
  return bins;
}

/** Per cluster, the CRDs its server needs: of the pinned sets, those of kinds its objects use, and those it renders. */
async function clusterCrds(config: Config, opts: ServerCheckOptions, present: string[], timings: ServerTimings): Promise<Map<string, K8sObject[]> | Skip> {
  const crdsOf = new Map<string, K8sObject[]>();
  for (const c of present) {
    const crds: K8sObject[] = [];
    for (const set of config.apiServers[c]?.crds ?? []) {
      try {
        crds.push(...(await loadCrdSet(config, set)));
      } catch (e) {
        // Offline without a mirror: like missing binaries, a skip outside CI, an error in it.
        if (!(e instanceof CrdError) || opts.mode !== 'auto' || opts.envVars.CI) throw e;
        return { skip: { findings: [], note: `server dry run skipped: ${e.message}${e.hint ? ` (${e.hint})` : ''}`, ran: false, timings } };
      }
    }
    // Of the pinned sets, only the CRDs of kinds the cluster's objects use (6 of 34 here): the
    // outcome is the same, and each CRD costs the server time until Established.
    const mine = items([...opts.all, ...opts.rendered, ...(opts.base ?? [])].filter((r) => r.target.cluster === c));
    const pinned = crdsFor(crds, new Set(mine.map((i) => groupKind(i.o))));
    // CRDs the repository renders itself are installed like the pinned ones.
    const rendered = items(opts.all.filter((r) => r.target.cluster === c)).map((i) => i.o).filter(isCrd);
    crdsOf.set(c, [...pinned, ...rendered.filter((x) => !pinned.some((p) => p.metadata.name === x.metadata.name))]);
  }
  return crdsOf;
}

interface KnownOutcomes {
  /** Findings of the objects whose outcome is cached (the dry run adds the rest). */
  findings: Finding[];
  store?: Store<CachedFinding[]>;
  keyOf: Map<DryRunItem, string>;
  /** Per cluster, the objects still to dry-run. */
  todo: Map<string, DryRunItem[]>;
}

/**
 * A dry run (dryRun=All, on a store that holds nothing but namespaces) depends only on the
 * object and on the cluster's server: binaries, flags and CRDs. Its outcome is kept by object
 * hash under that key, so a run that changed nothing starts no server. Not with a base applied
 * for real first (the outcome then depends on what is stored).
 */
async function knownOutcomes(config: Config, opts: ServerCheckOptions, present: string[], crdsOf: Map<string, K8sObject[]>, serverSig: string): Promise<KnownOutcomes> {
  const findings: Finding[] = [];
  const store = !opts.base && cachingEnabled(opts.envVars)
    ? await Store.open<CachedFinding[]>(config.root, 'server', `${SERVER_CHECK_VERSION}:${toolkitCodeHash()}`, opts.envVars)
    : undefined;
  const keyOf = new Map<DryRunItem, string>();
  const todo = new Map<string, DryRunItem[]>();
  for (const c of present) {
    const clusterKey = sha(JSON.stringify([c, serverSig, config.apiServers[c]?.flags ?? [], crdsOf.get(c)]));
    const miss: DryRunItem[] = [];
    for (const item of items(opts.rendered.filter((r) => r.target.cluster === c))) {
      const i = item.r.objects.indexOf(item.o);
      const k = sha(`${clusterKey}\0${item.r.hashes?.[i] ?? objectHash(item.o)}`);
      keyOf.set(item, k);
      const hit = store?.get(k);
      if (hit) findings.push(...hit.map((f) => ({ ...f, overlay: item.r.target.dir, resource: resourceId(item.o), ...locate(item.r, item.o, f.pointer) })));
      else miss.push(item);
    }
    if (miss.length) todo.set(c, miss);
  }
  return { findings, store, keyOf, todo };
}

/**
 * Dry-runs what is still to check, cluster by cluster, on one server (started here unless the
 * run has one), and keeps the outcomes; returns the server's name for the note.
 */
async function dryRunOnServer(config: Config, opts: ServerCheckOptions, run: { server?: LocalApiServer; bins?: ApiServerBinaries; crdsOf: Map<string, K8sObject[]>; known: KnownOutcomes; timings: ServerTimings }): Promise<string> {
  const { crdsOf, known, timings } = run;
  // Installed: the CRDs of the kinds the objects still to check use (each CRD costs the server a
  // second or more until Established; the outcome of any other object does not depend on it),
  // and those the repository renders when it renders objects of them.
  const needed = new Map<string, K8sObject[]>();
  for (const [c, miss] of known.todo) {
    const base = items((opts.base ?? []).filter((r) => r.target.cluster === c));
    needed.set(c, crdsFor(crdsOf.get(c)!, new Set([...miss, ...base].map((i) => groupKind(i.o)))));
  }
  let server = run.server;
  // A reused server keeps the CRDs of its last cluster: start with the one that needs them most.
  const installed = new Set(server?.crds.keys() ?? []);
  const overlap = (c: string) => needed.get(c)!.filter((x) => installed.has(x.metadata.name!)).length;
  const order = [...known.todo.keys()].sort((a, b) => overlap(b) - overlap(a));
  const own = !server; // (a prestarted server is stopped by serverCheck)
  const t = performance.now();
  try {
    server ??= await LocalApiServer.start(run.bins!, config.apiServers[order[0]]?.flags ?? [], { log: opts.log });
    timings.startMs += performance.now() - t;
    const name = `kube-apiserver ${server.version}`;
    for (const cluster of order) await dryRunCluster(config, opts, { server, name, cluster, crds: needed.get(cluster)!, known, timings });
    await known.store?.save();
    return name;
  } finally {
    if (own) await server?.stop();
  }
}

/** One cluster on the server: its flags and CRDs, its namespaces (and ServiceAccounts for Pods), the base applied for real, then the dry run. */
async function dryRunCluster(config: Config, opts: ServerCheckOptions, c: { server: LocalApiServer; name: string; cluster: string; crds: K8sObject[]; known: KnownOutcomes; timings: ServerTimings }): Promise<void> {
  const { server, name, cluster, known, timings } = c;
  let t = performance.now();
  await server.reset((config.apiServers[cluster] ?? { flags: [] }).flags);
  timings.startMs += performance.now() - t;

  t = performance.now();
  await server.applyCrds(c.crds);
  timings.crdsMs += performance.now() - t;

  t = performance.now();
  const head = known.todo.get(cluster)!;
  const base = items((opts.base ?? []).filter((r) => r.target.cluster === cluster));
  // The namespaces the render needs exist in the cluster (Argo CD's CreateNamespace, or made once).
  for (const ns of (await namespacesOf(server.client, [...base, ...head])).keys()) await server.ensureNamespace(ns);
  const isPod = (i: DryRunItem) => i.o.kind === 'Pod' && i.o.apiVersion === 'v1';
  if (head.some(isPod)) {
    await server.podsReady();
    // A Pod is admitted only if its ServiceAccount exists: the ones the cluster's render
    // holds are stored for real first (a Pod's outcome depends on them: never cached).
    server.dirty = true;
    const accounts = items([...opts.all, ...opts.rendered].filter((r) => r.target.cluster === cluster)).filter((i) => i.o.kind === 'ServiceAccount' && i.o.apiVersion === 'v1');
    await applyAll(server.client, [...new Map(accounts.map((i) => [resourceId(i.o), i])).values()], { serverName: name, dryRun: false });
  }
  if (base.length) {
    // What is deployed now, stored for real, so that the change is checked as an update.
    server.dirty = true;
    await applyAll(server.client, base, { serverName: name, dryRun: false });
  }
  const each = await applyEach(server.client, head, { serverName: name, dryRun: true });
  each.forEach((fs, i) => {
    known.findings.push(...fs);
    if (!isPod(head[i])) known.store?.set(known.keyOf.get(head[i])!, fs.map(({ overlay: _o, resource: _r, file: _f, line: _l, ...f }) => f));
  });
  timings.dryRunMs += performance.now() - t;
}

/** `kube-apiserver --version`, kept by the binaries' signature (a process start saved per run). */
async function cachedVersion(config: Config, bins: ApiServerBinaries, envVars: NodeJS.ProcessEnv): Promise<string> {
  // (`kube-apiserver --version` by the binaries' path, size and modification time)
  const store = await Store.open<string>(config.root, 'server-version', String(SERVER_CHECK_VERSION), envVars);
  const key = sha(await binSig(bins));
  const hit = store.get(key);
  if (hit) return hit;
  const version = await binaryVersion(bins);
  store.set(key, version);
  await store.save();
  return version;
}

/** Which of the repository's clusters a kubeconfig context stands for. */
function clusterForContext(config: Config, rendered: Rendered[], context: string, env?: string): string {
  if (env) return config.environments.find((e) => e.name === env)!.cluster;
  const known = clusters(config);
  if (known.includes(context)) return context;
  const present = [...new Set(rendered.map((r) => r.target.cluster))];
  if (present.length === 1) return present[0];
  throw new UsageError(`--server: context '${context}' is not named like a cluster of gitops.yaml (${known.join(', ')}); pass --env to say which environment it runs`);
}

/** Dry run against a real cluster: only GETs and dryRun=All requests, nothing is ever stored. */
async function remoteCheck(config: Config, opts: ServerCheckOptions, arg: string, timings: ServerTimings): Promise<ServerCheckResult> {
  const { file, context } = parseServerArg(arg);
  const kc = await loadKubeconfig(file, context);
  const cluster = clusterForContext(config, opts.rendered, kc.context, opts.env);
  const client = new KubeClient(kc.creds);
  const name = `the API server of context ${kc.context}`;
  const t = performance.now();
  try {
    const v = await client.request<{ gitVersion?: string }>('GET', '/version').catch((e: Error) => {
      throw new GitopsError(`--server: cannot reach ${kc.creds.server} (context ${kc.context}): ${e.message}`);
    });
    if (v.status !== 200) throw new GitopsError(`--server: ${kc.creds.server} answered HTTP ${v.status} to /version: ${statusMessage(v.body)}`);
    const head = items(opts.rendered.filter((r) => r.target.cluster === cluster));
    const findings: Finding[] = [];
    const skipped = new Set<DryRunItem>();
    for (const [ns, its] of await namespacesOf(client, head)) {
      const res = await client.request('GET', `/api/v1/namespaces/${encodeURIComponent(ns)}`);
      if (res.status !== 404) continue;
      // Never created here (read-only): objects of a namespace the cluster lacks are not checked.
      for (const i of its) skipped.add(i);
      const first = its[0];
      findings.push({ severity: 'warning', rule: 'server-namespace-missing', overlay: first.r.target.dir, resource: resourceId(first.o), message: `namespace ${ns} does not exist in context ${kc.context}: its ${its.length} object(s) were not dry-run (validate never creates anything there; Argo CD's CreateNamespace or 'kubectl create namespace ${ns}' does)`, ...locate(first.r, first.o) });
    }
    const unique = head.filter((i) => !skipped.has(i));
    findings.push(...(await applyAll(client, unique, { serverName: name, dryRun: true })));
    timings.dryRunMs = performance.now() - t;
    return { findings, ran: true, timings, note: `server dry run: ${unique.length} objects of cluster ${cluster} against ${name} (${v.body.gitVersion ?? '?'}, dryRun=All only)` };
  } finally {
    client.close();
  }
}
