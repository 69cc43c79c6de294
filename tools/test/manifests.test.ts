// Facts about the shipped manifests that no generic rule knows: what the seeds ask for (probe
// budgets, log labels, secret examples) and how the pieces of one pod fit together.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { K8sObject } from '../lib/kustomize.js';
import { podSpecOf } from '../lib/policies.js';
import { runValidation } from '../lib/validation.js';
import { REPO_ROOT } from '../lib/tools.js';
import type { Rendered } from '../lib/render.js';
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
