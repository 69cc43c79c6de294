// A real kube-apiserver (with its etcd) on 127.0.0.1 for validate's server-side dry run: free
// ports, a temporary folder, always stopped (finally, and on SIGINT/SIGTERM), reused across the
// clusters of a run. Each cluster gets a fresh etcd prefix when anything was stored for real or
// its flags differ, since clusters share object names (AppProjects) but not their state.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, openSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GitopsError, ToolMissingError } from '../core/errors.js';
import { childEnv, run } from '../core/exec.js';
import { KubeClient, statusMessage } from './kubeclient.js';
import type { K8sObject } from '../core/k8s.js';
import type { ApiServerBinaries } from '../core/tools.js';
import { KillOnExit } from '../core/cleanup.js';
import { killGroup, reapStale, recordPid } from './pidfolder.js';
import { freePort } from './ports.js';

export class ApiServerError extends GitopsError {}

export const FIELD_MANAGER = 'gitops-validate';

export interface StartOptions {
  /** Bound on waiting for /readyz (default 90 s: a loaded 2-core machine is slow). */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
  /** Folder to make the server's temporary folder in (default: the system's; the rehearsal's run folder). */
  parentDir?: string;
  /**
   * The servers' soft heap limit (GOMEMLIMIT; default 300MiB, sized for the dry run). A simulated
   * cluster's server holds more live heap (Argo CD's CRDs, every controller's watches): under
   * 300MiB it spent two thirds of its CPU in GC and slowed the whole rehearsal.
   */
  memLimit?: string;
}

const DIR_PREFIX = 'gitops-apiserver-';

/**
 * Removes the servers of dead runs: every `gitops-apiserver-<pid>-*` folder whose owner pid is
 * gone, its recorded process groups killed first (pidfolder.ts).
 */
export function reapOrphans(log?: (line: string) => void, tmp = os.tmpdir()): number {
  const reaped = reapStale(DIR_PREFIX, tmp).length;
  if (reaped) log?.(`removed ${reaped} local API server${reaped > 1 ? 's' : ''} left by a killed run`);
  return reaped;
}

/** Tail of a log file, for an error message. */
async function tail(file: string, lines = 15): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** Every live server of this process, killed on SIGINT/SIGTERM/exit (core/cleanup.ts). */
const live = new KillOnExit<LocalApiServer>();

const PRIORITY_HOOK = 'poststarthook/scheduling/bootstrap-system-priority-classes';

/** A running etcd + kube-apiserver pair; `client` talks to it as a system:masters admin. */
export class LocalApiServer {
  client!: KubeClient;
  /** Flags the current kube-apiserver runs with (beyond the fixed ones). */
  flags: string[] = [];
  /** Whether anything beyond namespaces and CRDs was stored for real since the last reset. */
  dirty = false;
  /** CRD name -> JSON of what was applied, so an unchanged set is not re-applied. */
  readonly crds = new Map<string, string>();
  version = '';
  private etcd?: ChildProcess;
  private api?: ChildProcess;
  private etcdPort = 0;
  private prefixes = 0;
  private readonly token = randomBytes(24).toString('hex');

  private constructor(readonly bins: ApiServerBinaries, readonly dir: string, private readonly opts: StartOptions) {}

  /** Starts etcd and kube-apiserver and waits until the API server is ready. */
  static async start(bins: ApiServerBinaries, flags: string[], opts: StartOptions = {}): Promise<LocalApiServer> {
    // What a SIGKILLed run left (its handlers never ran) is reaped first; the folder's name
    // carries this process's pid so a later run can tell whether its owner is still alive.
    reapOrphans(opts.log);
    const dir = await mkdtemp(path.join(opts.parentDir ?? os.tmpdir(), `${DIR_PREFIX}${process.pid}-`));
    const s = new LocalApiServer(bins, dir, opts);
    live.add(s);
    try {
      // etcd starts while the certificate and keys are made; kube-apiserver does not wait for
      // etcd's health (it retries its storage, and its /readyz covers etcd).
      const etcd = s.startEtcd([await freePort(), await freePort()]);
      etcd.catch(() => {}); // awaited below
      await s.prepareFiles();
      await Promise.all([etcd, s.startApi(flags)]);
      return s;
    } catch (e) {
      await s.stop();
      throw e;
    }
  }

  private async prepareFiles(): Promise<void> {
    const d = this.dir;
    // Serving certificate for 127.0.0.1, trusted by our client as its own CA.
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', path.join(d, 'serving.key'), '-out', path.join(d, 'serving.crt')]).catch((e) => {
      if (e instanceof ToolMissingError) throw new ToolMissingError('openssl: not found (needed for the local API server certificate)', 'install openssl, or run validate with --no-server');
      throw e;
    });
    const sa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }); // ES256 tokens: faster to make than RSA
    await writeFile(path.join(d, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(path.join(d, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(path.join(d, 'tokens.csv'), `${this.token},gitops-validate,gitops-validate,"system:masters"\n`);
  }

  private spawnLogged(cmd: string, args: string[], log: string): ChildProcess {
    const fd = openSync(path.join(this.dir, log), 'a');
    try {
      // Own process group, so stop() ends the binary and anything it forked.
      // The scrubbed environment every child gets (no token reaches it). GOMEMLIMIT: the heap of
      // a server that answers thousands of dry runs grows past half a GiB at Go's defaults; a
      // soft limit makes it collect harder only then (3,000 overlays: process-tree peak 917 ->
      // 795 MiB, no slower; GOGC=50 did as well on memory but slowed every start by 10-20%).
      // A GOGC or GOMEMLIMIT the caller sets wins.
      const env = childEnv({ keep: ['GOGC', 'GOMEMLIMIT'] });
      const child = spawn(cmd, args, { cwd: this.dir, detached: true, stdio: ['ignore', fd, fd], env: { GOMEMLIMIT: this.opts.memLimit ?? '300MiB', ...env } });
      child.on('error', () => {}); // reported through the exit/readiness checks
      // The pid and binary, for reapOrphans should this process die without stopping it (a
      // restarted kube-apiserver gets a record of its own).
      if (child.pid) recordPid(this.dir, `${path.basename(log, '.log')}-${child.pid}`, child.pid, cmd);
      return child;
    } finally {
      closeSync(fd);
    }
  }

  private async startEtcd([client, peer]: number[]): Promise<void> {
    this.etcdPort = client;
    this.etcd = this.spawnLogged(this.bins.etcd, [
      '--name=validate', `--data-dir=${path.join(this.dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${client}`, `--advertise-client-urls=http://127.0.0.1:${client}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=validate=http://127.0.0.1:${peer}`,
      // Scratch data: durability buys nothing and fsync costs seconds on a busy disk.
      '--unsafe-no-fsync',
    ], 'etcd.log');
    await this.waitFor('etcd', this.etcd, 'etcd.log', async () => {
      const res = await fetch(`http://127.0.0.1:${client}/health`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
      return res?.status === 200;
    });
  }

  private async startApi(flags: string[]): Promise<void> {
    const port = await freePort();
    const d = this.dir;
    this.flags = flags;
    // A flag the cluster sets (gitops.yaml apiServer.flags) replaces ours of that name: several
    // flags refuse to be given twice.
    const own = (f: string) => !flags.some((x) => x.split('=')[0] === f.split('=')[0]);
    this.api = this.spawnLogged(this.bins.kubeApiserver, [
      `--etcd-servers=http://127.0.0.1:${this.etcdPort}`,
      `--etcd-prefix=/registry-${++this.prefixes}`,
      '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${port}`,
      `--cert-dir=${d}`, `--tls-cert-file=${path.join(d, 'serving.crt')}`, `--tls-private-key-file=${path.join(d, 'serving.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${path.join(d, 'sa.pub')}`, `--service-account-signing-key-file=${path.join(d, 'sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/12',
      // The one client is system:masters, for whom RBAC allows everything (escalation checks
      // included), so AlwaysAllow answers alike without RBAC's bootstrap at start; nothing here
      // needs request fairness either. Both save start time, not checks.
      `--token-auth-file=${path.join(d, 'tokens.csv')}`, '--authorization-mode=AlwaysAllow',
      '--enable-priority-and-fairness=false',
      // No nodes or controllers behind this server: it needs no endpoints of its own.
      '--endpoint-reconciler-type=none',
      '--profiling=false',
    ].filter(own).concat(flags), 'kube-apiserver.log');
    this.client?.close();
    this.client = new KubeClient({ server: `https://127.0.0.1:${port}`, ca: await readFile(path.join(d, 'serving.crt')), token: this.token });
    await this.waitFor('kube-apiserver', this.api, 'kube-apiserver.log', async () => {
      // Not waiting for the system PriorityClasses (about a second of start-up): only Pods are
      // admitted against them, and podsReady() waits for them before a Pod is sent.
      const res = await this.client.request('GET', `/readyz?exclude=${PRIORITY_HOOK}`).catch(() => undefined);
      return res?.status === 200;
    });
    const v = await this.client.request<{ gitVersion?: string }>('GET', '/version');
    this.version = v.body.gitVersion ?? '';
    this.dirty = false;
    this.crds.clear();
  }

  private async waitFor(name: string, child: ChildProcess, log: string, ready: () => Promise<boolean>): Promise<void> {
    const timeout = this.opts.readyTimeoutMs ?? 90_000;
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new ApiServerError(`${name} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${await tail(path.join(this.dir, log))}`);
      }
      if (await ready()) return;
      await sleep(50);
    }
    throw new ApiServerError(`${name} was not ready within ${timeout / 1000} s:\n${await tail(path.join(this.dir, log))}`);
  }

  /**
   * Ready for the next cluster: a fresh kube-apiserver on a new etcd prefix (an empty store)
   * when anything was stored for real or the flags differ; else the same server.
   */
  async reset(flags: string[]): Promise<void> {
    if (!this.dirty && JSON.stringify(flags) === JSON.stringify(this.flags)) return;
    this.opts.log?.(`kube-apiserver: restarting on a fresh store (${this.dirty ? 'objects stored for real' : 'different flags'})`);
    await killAndWait(this.api);
    await this.startApi(flags);
  }

  /** Applies CRDs for real (deleting those no longer wanted) and waits until each is Established. */
  async applyCrds(crds: K8sObject[], timeoutMs = 120_000): Promise<void> {
    const want = new Map(crds.map((c) => [c.metadata.name!, JSON.stringify(c)]));
    const deadline = Date.now() + timeoutMs;
    const gone = [...this.crds.keys()].filter((n) => !want.has(n));
    const goneKinds = servedKinds(gone.map((n) => JSON.parse(this.crds.get(n)!) as K8sObject));
    await Promise.all(gone.map((name) => this.client.request('DELETE', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`)));
    // A terminating CRD would swallow a re-apply: wait until each is really gone.
    for (const name of gone) {
      while ((await this.client.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`)).status !== 404) {
        if (Date.now() > deadline) throw new ApiServerError(`CRD ${name} not deleted within ${timeoutMs / 1000} s`);
        await sleep(100);
      }
      this.crds.delete(name);
    }
    // Discovery lags behind the deletion too: until it stops listing a removed kind, the next
    // cluster's dry run would find it served (a missed server-unknown-kind, seen under load).
    for (const [gv, kinds] of goneKinds) {
      await this.untilDiscovery(gv, (served) => ![...kinds].some((k) => served.has(k)), deadline, async () => `API group ${gv} still lists ${[...kinds].join(', ')} ${timeoutMs / 1000} s after its CRD was deleted`);
    }
    const changed = crds.filter((c) => this.crds.get(c.metadata.name!) !== want.get(c.metadata.name!));
    await Promise.all(changed.map(async (c) => {
      const res = await this.client.apply(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${c.metadata.name}`, c, { dryRun: false, fieldManager: FIELD_MANAGER });
      if (res.status >= 300) throw new ApiServerError(`CRD ${c.metadata.name} was refused: ${statusMessage(res.body)}`);
    }));
    // Discovery lists a CRD's kind once it is Established (the discovery controller waits for
    // that condition): polling it is enough, and far lighter than GETting megabytes of CRD.
    for (const [gv, kinds] of servedKinds(changed)) {
      await this.untilDiscovery(gv, (served) => [...kinds].every((k) => served.has(k)), deadline, async () => `API group ${gv} does not list ${[...kinds].join(', ')} within ${timeoutMs / 1000} s${await this.crdConditions(changed)}`);
    }
    for (const c of changed) this.crds.set(c.metadata.name!, want.get(c.metadata.name!)!);
    this.client.resetDiscovery();
  }

  /** Polls the discovery document of `gv` (empty when the group is not served) until `done`. */
  private async untilDiscovery(gv: string, done: (served: Set<string>) => boolean, deadline: number, failure: () => Promise<string>): Promise<void> {
    for (;;) {
      const res = await this.client.request<{ resources?: Array<{ kind: string }> }>('GET', `/apis/${gv}`);
      if ((res.status === 200 || res.status === 404) && done(new Set((res.body?.resources ?? []).map((r) => r.kind)))) return;
      if (Date.now() > deadline) throw new ApiServerError(await failure());
      await sleep(50);
    }
  }

  /** Waits until the server is fully ready, the system PriorityClasses included (see startApi). */
  async podsReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.client.request('GET', '/readyz').catch(() => undefined))?.status !== 200) {
      if (Date.now() > deadline) throw new ApiServerError(`kube-apiserver did not create its system PriorityClasses within ${timeoutMs / 1000} s`);
      await sleep(50);
    }
  }

  /** The conditions of CRDs that are not Established, for an error message. */
  private async crdConditions(crds: K8sObject[]): Promise<string> {
    const out: string[] = [];
    for (const c of crds) {
      const res = await this.client.request<{ status?: { conditions?: Array<{ type: string; status: string; message?: string }> } }>('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${c.metadata.name}`);
      const conds = res.body?.status?.conditions ?? [];
      if (!conds.some((x) => x.type === 'Established' && x.status === 'True')) out.push(`${c.metadata.name}: ${conds.map((x) => `${x.type}=${x.status}${x.message ? ` (${x.message})` : ''}`).join(', ') || 'no conditions'}`);
    }
    return out.length ? `: ${out.join('; ')}` : '';
  }

  /** Creates a namespace for real unless it exists. */
  async ensureNamespace(name: string): Promise<void> {
    const res = await this.client.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    if (res.status >= 300 && res.status !== 409) throw new ApiServerError(`creating namespace ${name}: ${statusMessage(res.body)}`);
    // A cluster's controller-manager gives every namespace its `default` ServiceAccount, which
    // the admission of a Pod that names none looks up; nothing runs that controller here.
    const sa = await this.client.request('POST', `/api/v1/namespaces/${encodeURIComponent(name)}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: name } });
    if (sa.status >= 300 && sa.status !== 409) throw new ApiServerError(`creating the default ServiceAccount of ${name}: ${statusMessage(sa.body)}`);
  }

  /** Process ids of etcd and kube-apiserver (the sync rehearsal records them to reap after a kill). */
  pids(): number[] {
    return [this.etcd?.pid, this.api?.pid].filter((p): p is number => typeof p === 'number');
  }

  /**
   * A kubeconfig (YAML text) for the admin token, for the controllers a simulated cluster runs
   * (lib/server/simcluster.ts). Holds the token: written only into this server's private folder.
   */
  kubeconfig(namespace = 'default'): string {
    const server = this.client.creds.server;
    return [
      'apiVersion: v1', 'kind: Config',
      'clusters:', '- name: local', '  cluster:', `    server: ${server}`, `    certificate-authority: ${path.join(this.dir, 'serving.crt')}`,
      'users:', '- name: admin', '  user:', `    token: ${this.token}`,
      'contexts:', '- name: local', '  context:', '    cluster: local', '    user: admin', `    namespace: ${namespace}`,
      'current-context: local', '',
    ].join('\n');
  }

  /** Kills both processes at once (signal and exit handlers: no awaiting there). */
  killNow(): void {
    for (const c of [this.api, this.etcd]) if (c?.pid && c.exitCode === null && c.signalCode === null) killGroup(c.pid, 'SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Stops both processes and removes the temporary folder. */
  async stop(): Promise<void> {
    this.client?.close();
    await Promise.all([killAndWait(this.api), killAndWait(this.etcd)]);
    live.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * SIGKILL to the process group; resolves when the process is gone. Both servers hold only
 * scratch data in a folder about to be removed: a graceful shutdown (kube-apiserver drains for
 * about a second) buys nothing.
 */
async function killAndWait(child: ChildProcess | undefined): Promise<void> {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(child.pid, 'SIGKILL');
  await gone;
}

/** The kinds each group/version of these CRDs serves ("group/version" -> kinds). */
function servedKinds(crds: K8sObject[]): Map<string, Set<string>> {
  const kinds = new Map<string, Set<string>>();
  for (const c of crds) {
    const spec = c.spec as { group: string; names: { kind: string }; versions: Array<{ name: string; served: boolean }> };
    for (const v of spec.versions.filter((x) => x.served)) {
      const gv = `${spec.group}/${v.name}`;
      if (!kinds.has(gv)) kinds.set(gv, new Set());
      kinds.get(gv)!.add(spec.names.kind);
    }
  }
  return kinds;
}
