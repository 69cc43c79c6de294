// Facts about the shipped manifests that no generic rule knows: what the seeds ask for (probe
// budgets, log labels, secret examples) and how the pieces of one pod fit together.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { K8sObject } from '../lib/core/k8s.js';
import { podSpecOf } from '../lib/validate/policies.js';
import { runValidation } from '../lib/validate/validation.js';
import { REPO_ROOT } from '../lib/core/tools.js';
import type { Rendered } from '../lib/render/rendered.js';
import { testEnv } from './repo-fixture.js';

interface Probe { periodSeconds?: number; failureThreshold?: number; initialDelaySeconds?: number }
interface Ctr { name: string; image?: string; args?: string[]; env?: Array<{ name: string; value?: string }>; startupProbe?: Probe }
interface Pod { containers: Ctr[]; automountServiceAccountToken?: boolean }

let rendered: Rendered[] = [];
before(async () => {
  rendered = (await runValidation({ cwd: REPO_ROOT, envVars: testEnv })).rendered;
});

const objects = (cluster?: string) => rendered.filter((r) => !cluster || r.target.cluster === cluster).flatMap((r) => r.objects.map((o) => ({ o, r })));
const workloads = (cluster?: string) => objects(cluster).filter(({ o }) => podSpecOf(o)).map(({ o, r }) => ({ o, r, pod: podSpecOf(o)!.spec as unknown as Pod }));
const workload = (cluster: string, name: string) => {
  const w = workloads(cluster).find(({ o }) => o.metadata.name === name);
  assert.ok(w, `${name} not rendered on ${cluster}`);
  return w;
};

describe('shipped manifests', () => {
  test('dind listens on 127.0.0.1 only, on the port the worker container dials over the shared loopback', () => {
    for (const cluster of ['minikube', 'crianex']) {
      const { pod } = workload(cluster, 'automation-worker');
      const dind = pod.containers.find((c) => c.name === 'dind')!;
      const worker = pod.containers.find((c) => c.name === 'worker')!;
      // A leading `dockerd` keeps the image entrypoint from adding its tcp://0.0.0.0:2375 default.
      assert.equal(dind.args?.[0], 'dockerd');
      const tcp = (dind.args ?? []).filter((a) => a.startsWith('--host=tcp://')).map((a) => new URL(a.slice('--host='.length)));
      assert.deepEqual(tcp.map((u) => u.hostname), ['127.0.0.1']);
      const dial = new URL(worker.env!.find((e) => e.name === 'DOCKER_HOST')!.value!);
      assert.equal(dial.hostname, '127.0.0.1', 'localhost may resolve to ::1, where dockerd does not listen');
      assert.equal(dial.port, tcp[0].port);
    }
  });

  test('no pod mounts a service account token (none of them calls the Kubernetes API)', () => {
    const mounting = workloads().filter(({ pod }) => pod.automountServiceAccountToken !== false).map(({ o, r }) => `${r.target.dir} ${o.kind}/${o.metadata.name}`);
    assert.deepEqual(mounting, []);
  });

  test('startup probes allow what the Dockerfile HEALTHCHECKs allow (start period + retries x interval)', () => {
    // Seeds: nofluxo k8s.backend.Dockerfile (60s + 3 x 30s), k8s.ai-agent.Dockerfile (30s + 3 x 30s),
    // todo-chatbot architecture 4.2 (Docker defaults: 0s + 3 x 30s).
    const healthcheck: Array<[string, string, number]> = [
      ['crianex', 'nofluxo-backend', 60 + 3 * 30], ['minikube', 'nofluxo-backend', 60 + 3 * 30],
      ['crianex', 'nofluxo-ai-agent', 30 + 3 * 30], ['minikube', 'nofluxo-ai-agent', 30 + 3 * 30],
      ['minikube', 'todo-chatbot-backend', 0 + 3 * 30],
    ];
    for (const [cluster, name, seconds] of healthcheck) {
      const p = workload(cluster, name).pod.containers[0].startupProbe;
      assert.ok(p, `${name} has no startup probe`);
      const budget = (p.initialDelaySeconds ?? 0) + (p.periodSeconds ?? 10) * (p.failureThreshold ?? 3);
      assert.ok(budget >= seconds, `${name} on ${cluster}: startup probe allows ${budget}s, HEALTHCHECK ${seconds}s`);
    }
  });

  test("NoFluxo pods carry app.kubernetes.io/name = app, so Loki's {app=\"nofluxo-backend\"} finds them", () => {
    for (const name of ['nofluxo-backend', 'nofluxo-ai-agent']) {
      for (const cluster of ['minikube', 'crianex']) {
        const labels = (workload(cluster, name).o.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
        assert.equal(labels.app, name);
        assert.equal(labels['app.kubernetes.io/name'], name);
      }
    }
  });

  test('the RabbitMQ URL in secret.env.example names the rendered RabbitMQ Service and its AMQP port', async () => {
    const text = await readFile(path.join(REPO_ROOT, 'apps/automation/producer/secret.env.example'), 'utf8');
    const url = new URL(/^rabbitmq-url=(.+)$/m.exec(text)![1]);
    for (const cluster of ['minikube', 'crianex']) {
      const svc = objects(cluster).find(({ o }) => o.kind === 'Service' && o.metadata.name === url.hostname)?.o as (K8sObject & { spec: { ports: Array<{ port: number }> } }) | undefined;
      assert.ok(svc, `no Service ${url.hostname} on ${cluster}`);
      assert.ok(svc.spec.ports.some((p) => p.port === Number(url.port)));
    }
  });
});

/** CPU in millicores, memory in MiB. */
function quantity(q: string | number | undefined, unit: 'cpu' | 'mem'): number {
  if (q === undefined) return 0;
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(String(q));
  assert.ok(m, `quantity ${q}`);
  const n = Number(m[1]);
  if (unit === 'cpu') return m[2] === 'm' ? n : n * 1000;
  const f: Record<string, number> = { Ki: 1 / 1024, Mi: 1, Gi: 1024, K: 1e3 / 2 ** 20, M: 1e6 / 2 ** 20, G: 1e9 / 2 ** 20, '': 1 / 2 ** 20 };
  return n * f[m[2]];
}

describe("README's minikube walkthrough", () => {
  let lines: string[] = [];
  let section = '';
  before(async () => {
    const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf('## Run a system on minikube');
    assert.ok(start >= 0, 'README has no "## Run a system on minikube" section');
    const end = readme.indexOf('\n## ', start + 1);
    section = readme.slice(start, end < 0 ? undefined : end);
    lines = [...section.matchAll(/```bash\n([\s\S]*?)```/g)]
      .flatMap((m) => m[1].split('\n'))
      .map((l) => l.replace(/(^|\s)#.*$/, '').trim())
      .flatMap((l) => l.split('&&').map((x) => x.trim()))
      .filter(Boolean);
    assert.ok(lines.length > 20);
  });

  const mk = () => {
    const ws = workloads('minikube');
    const objs = objects('minikube').map(({ o }) => o);
    const namespaces = new Set(ws.map(({ o }) => o.metadata.namespace));
    const services = objs.filter((o) => o.kind === 'Service') as Array<K8sObject & { spec: { type?: string; ports: Array<{ port: number; nodePort?: number }> } }>;
    return { ws, objs, namespaces, services };
  };
  const arg = (l: string, flag: string) => new RegExp(`(?:^|\\s)${flag}[ =](\\S+)`).exec(l)?.[1];

  test('every image it builds or loads is one a minikube overlay runs, and every local image is loaded', () => {
    const { ws } = mk();
    const rendered = new Set(ws.flatMap(({ pod }) => pod.containers.map((c) => c.image!)));
    const local = new Set(ws.flatMap(({ pod }) => (pod.containers as Array<Ctr & { imagePullPolicy?: string }>).filter((c) => c.imagePullPolicy === 'Never').map((c) => c.image!)));
    const built = lines.filter((l) => l.startsWith('docker build')).map((l) => arg(l, '-t')!);
    const loaded = lines.filter((l) => l.startsWith('minikube image load')).map((l) => l.split(/\s+/)[3]);
    for (const img of [...built, ...loaded]) assert.ok(rendered.has(img), `${img} is not the image of any minikube workload (${[...rendered].join(', ')})`);
    assert.deepEqual([...new Set(loaded)].sort(), [...local].sort());
  });

  test('namespaces, Secrets (names and keys), Services, node ports, hosts and folders exist in the render', async () => {
    const { ws, objs, namespaces, services } = mk();
    const created = new Set<string>();
    for (const l of lines) {
      const ns = arg(l, '-n');
      if (ns && !l.startsWith('kubectl create namespace') && !l.includes('argocd')) assert.ok(namespaces.has(ns), `${l}: no minikube workload in namespace ${ns}`);
      let m: RegExpExecArray | null;
      if ((m = /^kubectl create namespace (\S+)$/.exec(l)) && m[1] !== 'argocd') assert.ok(namespaces.has(m[1]), `${l}: no overlay deploys to ${m[1]}`);
      if ((m = /^kubectl create secret generic (\S+)/.exec(l))) {
        const [name, file] = [m[1], arg(l, '--from-env-file')!];
        created.add(`Secret/${ns}/${name}`);
        const example = await readFile(path.join(REPO_ROOT, `${file}.example`), 'utf8');
        const keys = new Set(example.split('\n').filter((x) => /^[A-Za-z_][\w.-]*=/.test(x)).map((x) => x.split('=')[0]));
        const used = ws.filter(({ o }) => o.metadata.namespace === ns).flatMap(({ pod }) => pod.containers.flatMap((c) => (c.env ?? []) as Array<{ valueFrom?: { secretKeyRef?: { name: string; key: string } } }>)).map((e) => e.valueFrom?.secretKeyRef).filter((r) => r?.name === name).map((r) => r!.key);
        assert.ok(used.length, `${l}: no workload in ${ns} reads Secret ${name}`);
        for (const k of used) assert.ok(keys.has(k), `${file}.example lacks key ${k} that the pods read from Secret ${name}`);
      }
      if ((m = /^cp (\S+) (\S+)$/.exec(l))) await readFile(path.join(REPO_ROOT, m[1]), 'utf8');
      if ((m = /^kubectl (?:apply|delete) -k (\S+)$/.exec(l)) && !m[1].includes('<')) {
        const k = await readFile(path.join(REPO_ROOT, m[1], 'kustomization.yaml'), 'utf8');
        const system = /^clusters\/minikube\/systems\/([^/]+)$/.exec(m[1])?.[1];
        if (system) assert.match(await readFile(path.join(REPO_ROOT, m[1], 'applicationset.yaml'), 'utf8'), new RegExp(`path: overlays/minikube/${system}/\\*/kustomization\\.yaml`), k);
      }
      if ((m = /^minikube service (\S+)/.exec(l)) && !m[1].startsWith('<')) {
        const svc = services.find((s) => s.metadata.name === m![1] && s.metadata.namespace === ns);
        assert.equal(svc?.spec.type, 'NodePort', `${l}: no NodePort Service ${m[1]} in ${ns}`);
      }
      if ((m = /^kubectl port-forward .*svc\/(\S+) \d+:(\d+)$/.exec(l))) {
        assert.ok(services.some((s) => s.metadata.name === m![1] && s.metadata.namespace === ns && s.spec.ports.some((p) => p.port === Number(m![2]))), l);
      }
      if ((m = /deployment\/(\S+)/.exec(l)) && l.startsWith('kubectl')) assert.ok(objs.some((o) => o.kind === 'Deployment' && o.metadata.name === m![1] && o.metadata.namespace === ns), l);
      if ((m = /-l (\S+)=(\S+)/.exec(l))) {
        const [k, v] = [m[1], m[2]];
        assert.ok(ws.some(({ o }) => o.metadata.namespace === ns && (o.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels[k] === v), `${l}: selects no pod`);
      }
      if ((m = /Host: ([^'"\s]+)/.exec(l))) {
        assert.ok(objs.some((o) => o.kind === 'Ingress' && ((o.spec as { rules?: Array<{ host?: string }> }).rules ?? []).some((r) => r.host === m![1])), `${l}: no minikube Ingress for host ${m[1]}`);
      }
    }
    // Every Secret the minikube pods need but git does not create is made in the walkthrough.
    const config = await import('../lib/config/config.js').then((c) => c.loadConfig(REPO_ROOT, testEnv));
    assert.deepEqual([...created].sort(), config.external.minikube.filter((e) => e.startsWith('Secret/')).sort());
    // Node ports the text mentions are those of NodePort Services.
    const nodePorts = new Set(services.flatMap((s) => s.spec.ports.map((p) => p.nodePort)).filter(Boolean));
    for (const [, port] of section.matchAll(/:(3\d{4})\b/g)) assert.ok(nodePorts.has(Number(port)), `node port ${port} is no minikube Service's`);
  });

  test("each system's requests at its maximum replicas fit the seed's minikube size beside the cluster's own pods", () => {
    // Seeds: Todo `minikube start --cpus=2 --memory=4096`, TaskFlow `--cpus=4 --memory=8192`.
    // Reserved for minikube's own pods (control plane ~750m, ingress-nginx 100m/90Mi,
    // metrics-server 100m/200Mi, CoreDNS, etcd) and Argo CD (no requests): 1 CPU and 1.5 GiB.
    const sizes: Record<string, { cpu: number; mem: number }> = { 'todo-chatbot': { cpu: 2000, mem: 4096 }, taskflow: { cpu: 4000, mem: 8192 } };
    const hpas = objects('minikube').filter(({ o }) => o.kind === 'HorizontalPodAutoscaler').map(({ o }) => o.spec as { scaleTargetRef: { name: string }; maxReplicas: number });
    for (const [system, size] of Object.entries(sizes)) {
      let cpu = 0;
      let mem = 0;
      for (const { o, pod } of workloads('minikube').filter(({ r }) => r.target.dir.startsWith(`overlays/minikube/${system}/`))) {
        const replicas = hpas.find((h) => h.scaleTargetRef.name === o.metadata.name)?.maxReplicas ?? (o.spec as { replicas?: number }).replicas ?? 1;
        const req = (c: Ctr) => (c as { resources?: { requests?: { cpu?: string; memory?: string } } }).resources?.requests ?? {};
        const init = ((pod as { initContainers?: Ctr[] }).initContainers ?? []).map(req);
        const sum = (k: 'cpu' | 'memory', u: 'cpu' | 'mem') => Math.max(pod.containers.reduce((n, c) => n + quantity(req(c)[k], u), 0), ...init.map((r) => quantity(r[k], u)));
        cpu += replicas * sum('cpu', 'cpu');
        mem += replicas * sum('memory', 'mem');
      }
      assert.ok(cpu > 0 && cpu <= size.cpu - 1000, `${system}: ${cpu}m CPU requested, ${size.cpu - 1000}m available`);
      assert.ok(mem > 0 && mem <= size.mem - 1536, `${system}: ${mem}Mi requested, ${size.mem - 1536}Mi available`);
    }
  });
});
