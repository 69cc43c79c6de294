// A simulated copy of one cluster for the sync rehearsal (gitops.yaml clusters.<c>): the local
// kube-apiserver of the dry run (apiserver.ts) with the cluster's flags, the real
// kube-controller-manager and kube-scheduler, and kwok's fake nodes shaped by clusters.<c>.nodes.
// What the cluster's add-ons would do is done by stand-ins that record each effect as
// simulated (a provisioner binding claims of the declared storage classes, an ingress controller
// giving Ingresses of the declared classes an address), so the report never shows a silent Healthy.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterFacts, Config, NodePool } from '../config/config.js';
import { GitopsError } from '../core/errors.js';
import { isExecutable, toolsDir, findApiServer, type ApiServerBinaries } from '../core/tools.js';
import { LocalApiServer } from './apiserver.js';
import type { KubeClient } from './kubeclient.js';
import { statusMessage } from './kubeclient.js';
import { KWOK_STAGES } from './kwokstages.js';
import { MetricsStandIn } from './metricsaddon.js';
import type { RunDir, Spawned } from './rundir.js';
import { freePort } from './ports.js';

export class SimClusterError extends GitopsError {}

/** The binaries a simulated cluster runs. */
export interface SimBinaries {
  api: ApiServerBinaries;
  controllerManager: string;
  scheduler: string;
  kwok: string;
}

/** The pinned simulated-cluster binaries, or why they are missing (with the setup command). */
export async function findSimBinaries(env: NodeJS.ProcessEnv = process.env): Promise<SimBinaries | { missing: string }> {
  const api = await findApiServer(env);
  if ('missing' in api) return api;
  const dir = toolsDir(env);
  const out = { api, controllerManager: path.join(dir, 'kube-controller-manager'), scheduler: path.join(dir, 'kube-scheduler'), kwok: path.join(dir, 'kwok') };
  for (const b of [out.controllerManager, out.scheduler, out.kwok]) {
    if (!(await isExecutable(b))) return { missing: `${path.basename(b)} not found at ${b} (build it with: npm run setup -- --rehearse)` };
  }
  return out;
}

/** Default node pool when gitops.yaml declares none. */
export const DEFAULT_NODES: NodePool[] = [{ name: 'node', count: 1, cpu: '4', memory: '8Gi', pods: 110 }];

/** What a stand-in did instead of a real add-on, keyed by Kind/namespace/name. */
export type Simulated = Map<string, string>;

const SIM_PROVISIONER = 'rehearsal.gitops/simulated';

export interface SimClusterOptions {
  config: Config;
  cluster: string;
  bins: SimBinaries;
  run: RunDir;
  log?: (line: string) => void;
  /** Bound on each component becoming ready (default 120 s). */
  timeoutMs?: number;
}

export class SimCluster {
  readonly simulated: Simulated = new Map();
  readonly timings: Record<string, number> = {};
  private standIns?: Promise<void>;
  private t0 = 0;
  private stopping = false;
  private readonly procs: Spawned[] = [];
  private metrics?: MetricsStandIn;

  private constructor(readonly name: string, readonly facts: ClusterFacts, readonly api: LocalApiServer, readonly kubeconfig: string, private readonly opts: SimClusterOptions) {}

  get client(): KubeClient {
    return this.api.client;
  }

  /** Starts the cluster and waits until every node is Ready and schedulable. */
  static async start(opts: SimClusterOptions): Promise<SimCluster> {
    const sim = await SimCluster.startApi(opts);
    await sim.startNodes();
    return sim;
  }

  /**
   * The first half of start(): the API server alone, so that Argo CD can start beside the
   * controllers and nodes (startNodes); the caller stops it on failure.
   */
  static async startApi(opts: SimClusterOptions): Promise<SimCluster> {
    const t0 = Date.now();
    const { config, cluster, bins, run } = opts;
    const facts = config.clusters[cluster] ?? {};
    const flags = config.apiServers[cluster]?.flags ?? [];
    const api = await LocalApiServer.start(bins.api, flags, { parentDir: run.dir, log: opts.log, readyTimeoutMs: opts.timeoutMs ?? 120_000, memLimit: '1GiB' });
    const [etcdPid, apiPid] = api.pids();
    if (etcdPid) run.record(`${cluster}-etcd`, etcdPid, bins.api.etcd);
    if (apiPid) run.record(`${cluster}-kube-apiserver`, apiPid, bins.api.kubeApiserver);
    const kubeconfig = path.join(api.dir, 'kubeconfig');
    await writeFile(kubeconfig, api.kubeconfig('argocd'), { mode: 0o600 });
    const sim = new SimCluster(cluster, facts, api, kubeconfig, opts);
    sim.t0 = t0;
    sim.timings.apiServerMs = Date.now() - t0;
    return sim;
  }

  /** The second half of start(): controllers, scheduler, kwok, nodes, storage classes, stand-ins. */
  async startNodes(): Promise<void> {
    try {
      await this.startControllers();
      await this.api.podsReady();
      await this.createNodes();
      await this.createStorageClasses();
      if (this.facts.rehearsal?.addons?.includes('metrics')) {
        this.metrics = new MetricsStandIn(this.client, this.name, (r, effect) => this.simulated.set(r, effect));
        await this.metrics.install();
      }
      this.timings.upMs = Date.now() - this.t0;
      this.standIns = this.runStandIns();
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  private async startControllers(): Promise<void> {
    const { bins, run } = this.opts;
    const kc = this.kubeconfig;
    const auth = [`--kubeconfig=${kc}`, `--authentication-kubeconfig=${kc}`, `--authorization-kubeconfig=${kc}`, '--leader-elect=false', '--bind-address=127.0.0.1', '--profiling=false'];
    const pki = this.api.dir;
    // No cloud, no node IPAM, no volume attach or expand (nothing mounts on a fake node); the
    // persistent-volume binder and the claim protection stay, so claims bind and a claim in use
    // outlives its deletion as on a real cluster.
    // With a metrics API (rehearsal.addons), HPAs are read again every 5 s (15 s by default), so
    // one that found no metrics at its creation recovers within the rehearsal's health grace.
    const hpa = this.facts.rehearsal?.addons?.includes('metrics') ? ['--horizontal-pod-autoscaler-sync-period=5s'] : [];
    this.procs.push(run.spawn(`${this.name}-kube-controller-manager`, bins.controllerManager, [...auth, ...hpa, `--secure-port=${await freePort()}`,
      `--service-account-private-key-file=${path.join(pki, 'sa.key')}`, `--root-ca-file=${path.join(pki, 'serving.crt')}`,
      '--use-service-account-credentials=false',
      '--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle-controller,-attachdetach,-persistentvolume-expander',
    ], { env: { GOMEMLIMIT: '300MiB' }, keep: ['GOMEMLIMIT'] }));
    this.procs.push(run.spawn(`${this.name}-kube-scheduler`, bins.scheduler, [...auth, `--secure-port=${await freePort()}`], { env: { GOMEMLIMIT: '200MiB' }, keep: ['GOMEMLIMIT'] }));
    const stages = path.join(this.api.dir, 'kwok-stages.yaml');
    await writeFile(stages, KWOK_STAGES);
    this.procs.push(run.spawn(`${this.name}-kwok`, bins.kwok, [`--kubeconfig=${kc}`, `--config=${stages}`,
      '--manage-all-nodes=false', '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake', '--manage-nodes-with-label-selector=',
      '--disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom', '--disregard-status-with-label-selector=',
      '--cidr=10.0.0.1/24', '--node-ip=10.0.0.1', '--node-lease-duration-seconds=40',
    ], { env: { GOMEMLIMIT: '200MiB' }, keep: ['GOMEMLIMIT'] }));
  }

  /** Fails with the log's tail when a controller died. */
  async checkAlive(): Promise<void> {
    for (const p of this.procs) await this.opts.run.check(p).catch((e) => {
      throw new SimClusterError(`simulated cluster ${this.name}: ${(e as Error).message}`);
    });
  }

  private async createNodes(): Promise<void> {
    const pools = this.facts.nodes ?? DEFAULT_NODES;
    const names: string[] = [];
    for (const [pi, pool] of pools.entries()) {
      for (let i = 0; i < pool.count; i++) {
        const name = `${pool.name ?? (pools.length > 1 ? `pool${pi}` : 'node')}-${i}`;
        names.push(name);
        const alloc = { cpu: pool.cpu, memory: pool.memory, pods: String(pool.pods ?? 110) };
        const node = {
          apiVersion: 'v1', kind: 'Node',
          metadata: {
            name,
            annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'kwok.x-k8s.io/node': 'fake' },
            labels: { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': name, type: 'kwok', ...pool.labels },
          },
          spec: { taints: pool.taints ?? [] },
          status: { allocatable: alloc, capacity: alloc, nodeInfo: { architecture: 'amd64', operatingSystem: 'linux', kubeletVersion: 'fake' } },
        };
        const res = await this.client.request('POST', '/api/v1/nodes', node);
        if (res.status >= 300) throw new SimClusterError(`simulated cluster ${this.name}: node ${name} refused: ${statusMessage(res.body)}`);
      }
    }
    // kwok marks them Ready; the not-ready taint admission put on them is lifted at once (the
    // node lifecycle controller would, after its grace period).
    const deadline = Date.now() + (this.opts.timeoutMs ?? 120_000);
    for (const name of names) {
      for (;;) {
        await this.checkAlive();
        const res = await this.client.request<{ spec?: { taints?: Array<{ key: string }> }; status?: { conditions?: Array<{ type: string; status: string }> } }>('GET', `/api/v1/nodes/${name}`);
        const ready = res.body?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        if (ready) {
          const taints = (res.body.spec?.taints ?? []).filter((t) => !t.key.startsWith('node.kubernetes.io/'));
          const patch = await this.client.request('PATCH', `/api/v1/nodes/${name}`, [{ op: 'replace', path: '/spec/taints', value: taints }], 'application/json-patch+json');
          if (patch.status < 300) break;
        }
        if (Date.now() > deadline) throw new SimClusterError(`simulated cluster ${this.name}: node ${name} not Ready within ${(this.opts.timeoutMs ?? 120_000) / 1000} s (kwok log: ${this.opts.run.logFile(`${this.name}-kwok`)})`);
        await sleep(200);
      }
    }
  }

  private async createStorageClasses(): Promise<void> {
    for (const sc of this.facts.storageClasses ?? []) {
      const res = await this.client.request('POST', '/apis/storage.k8s.io/v1/storageclasses', {
        apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass',
        metadata: { name: sc.name, annotations: sc.default ? { 'storageclass.kubernetes.io/is-default-class': 'true' } : {} },
        provisioner: SIM_PROVISIONER, volumeBindingMode: 'Immediate', reclaimPolicy: 'Delete',
      });
      if (res.status >= 300 && res.status !== 409) throw new SimClusterError(`simulated cluster ${this.name}: StorageClass ${sc.name}: ${statusMessage(res.body)}`);
    }
  }

  /** IngressClasses a controller of the cluster serves (gitops.yaml rehearsal.ingressClasses) that git did not create. */
  async createIngressClasses(): Promise<void> {
    for (const name of this.facts.rehearsal?.ingressClasses ?? []) {
      const res = await this.client.request('POST', '/apis/networking.k8s.io/v1/ingressclasses', { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name }, spec: { controller: SIM_PROVISIONER } });
      if (res.status >= 300 && res.status !== 409) throw new SimClusterError(`simulated cluster ${this.name}: IngressClass ${name}: ${statusMessage(res.body)}`);
      if (res.status < 300) this.simulated.set(`IngressClass//${name}`, 'created by the rehearsal (gitops.yaml rehearsal.ingressClasses: the cluster\'s ingress controller provides it)');
    }
  }

  /** The stand-ins' loop: claims of declared classes get a volume, Ingresses of declared classes an address. */
  private async runStandIns(): Promise<void> {
    const classes = new Set((this.facts.storageClasses ?? []).map((s) => s.name));
    const ingressClasses = new Set(this.facts.rehearsal?.ingressClasses ?? []);
    while (!this.stopping) {
      try {
        if (classes.size) await this.provision(classes);
        if (ingressClasses.size) await this.addressIngresses(ingressClasses);
        if (this.metrics) await this.metrics.round();
      } catch {
        // the API server is stopping, or a transient error: the next round retries
      }
      await sleep(500);
    }
  }

  private async provision(classes: Set<string>): Promise<void> {
    type Pvc = { metadata: { name: string; namespace: string; uid: string; deletionTimestamp?: string }; spec: { storageClassName?: string; volumeName?: string; accessModes?: string[]; resources?: { requests?: { storage?: string } } }; status?: { phase?: string } };
    const res = await this.client.request<{ items?: Pvc[] }>('GET', '/api/v1/persistentvolumeclaims');
    for (const pvc of res.body?.items ?? []) {
      const sc = pvc.spec.storageClassName;
      if (!sc || !classes.has(sc) || pvc.spec.volumeName || pvc.metadata.deletionTimestamp || pvc.status?.phase !== 'Pending') continue;
      const name = `pvc-${pvc.metadata.uid}`;
      const pv = await this.client.request('POST', '/api/v1/persistentvolumes', {
        apiVersion: 'v1', kind: 'PersistentVolume',
        metadata: { name, annotations: { 'pv.kubernetes.io/provisioned-by': SIM_PROVISIONER } },
        spec: {
          capacity: { storage: pvc.spec.resources?.requests?.storage ?? '1Gi' }, accessModes: pvc.spec.accessModes ?? ['ReadWriteOnce'],
          storageClassName: sc, persistentVolumeReclaimPolicy: 'Retain', hostPath: { path: `/simulated/${name}` },
          claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: pvc.metadata.namespace, name: pvc.metadata.name, uid: pvc.metadata.uid },
        },
      });
      if (pv.status < 300) this.simulated.set(`PersistentVolumeClaim/${pvc.metadata.namespace}/${pvc.metadata.name}`, `bound by a simulated provisioner of storage class ${sc} (gitops.yaml clusters.${this.name}.storageClasses)`);
    }
  }

  private async addressIngresses(classes: Set<string>): Promise<void> {
    type Ing = { metadata: { name: string; namespace: string; annotations?: Record<string, string> }; spec?: { ingressClassName?: string }; status?: { loadBalancer?: { ingress?: unknown[] } } };
    const res = await this.client.request<{ items?: Ing[] }>('GET', '/apis/networking.k8s.io/v1/ingresses');
    for (const ing of res.body?.items ?? []) {
      const cls = ing.spec?.ingressClassName ?? ing.metadata.annotations?.['kubernetes.io/ingress.class'];
      if (!cls || !classes.has(cls) || ing.status?.loadBalancer?.ingress?.length) continue;
      const p = `/apis/networking.k8s.io/v1/namespaces/${ing.metadata.namespace}/ingresses/${ing.metadata.name}/status`;
      const r = await this.client.request('PATCH', p, { status: { loadBalancer: { ingress: [{ ip: '10.0.0.1' }] } } }, 'application/merge-patch+json');
      if (r.status < 300) this.simulated.set(`Ingress/${ing.metadata.namespace}/${ing.metadata.name}`, `address given by a simulated ingress controller of class ${cls} (gitops.yaml clusters.${this.name}.rehearsal.ingressClasses)`);
    }
  }

  /** Stops the stand-ins and the API server (the controllers go with the run folder). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.standIns;
    await Promise.all(this.procs.map((p) => this.opts.run.kill(p)));
    await this.api.stop();
  }
}
