// Focused unit tests of the pure cross-resource checks (tools/lib/validate/checks) on literal objects.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { GeneratedApp } from '../lib/argocd/argocd.js';
import { buildView, isClusterScoped, type ClusterView } from '../lib/validate/checks/common.js';
import { checkHpas } from '../lib/validate/checks/hpa.js';
import { checkImmutable } from '../lib/validate/checks/immutable.js';
import { checkIngresses, routeClaims } from '../lib/validate/checks/ingress.js';
import { checkDuplicates, checkPlacement } from '../lib/validate/checks/objects.js';
import { checkReferences } from '../lib/validate/checks/references.js';
import { checkServices } from '../lib/validate/checks/services.js';
import { checkStorage, checkStorageClasses } from '../lib/validate/checks/storage.js';
import { checkPullCredentials, registryHost } from '../lib/validate/checks/registry.js';
import { checkScheduling } from '../lib/validate/checks/scheduling.js';
import { checkSyncWaves } from '../lib/validate/checks/syncwaves.js';
import type { K8sObject } from '../lib/core/k8s.js';
import type { Rendered } from '../lib/render/rendered.js';
import type { Finding } from '../lib/core/finding.js';

type Obj = K8sObject & { metadata: { name: string } };

function rendered(dir: string, objects: Obj[], kind: 'app' | 'cluster' = 'app'): Rendered {
  return { target: { dir, cluster: 'c', kind }, objects, closure: [], sources: [], findings: [] };
}

function view(targets: Rendered[], extra: Partial<ClusterView> = {}): ClusterView {
  return buildView({ cluster: 'c', rendered: targets, appsByPath: new Map(), projects: new Map(), external: [], overlayNamespaces: new Map(), ...extra });
}

const rules = (fs: Finding[]) => fs.map((f) => `${f.rule} ${f.resource}`);

function deployment(name: string, spec: Record<string, unknown> = {}, pod: Record<string, unknown> = {}, ns = 'a'): Obj {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: ns },
    spec: { selector: { matchLabels: { app: name } }, ...spec, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }], ...pod } } },
  };
}

const service = (name: string, selector: Record<string, string>, targetPort: number | string, ns = 'a'): Obj => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { selector, ports: [{ name: 'p', port: 80, targetPort }] },
});

describe('services', () => {
  test('selector and targetPort: matching passes, a miss is caught', () => {
    const v = view([rendered('o/x', [deployment('web'), service('ok', { app: 'web' }, 'http'), service('num', { app: 'web' }, 8080), service('none', { app: 'nope' }, 80), service('badname', { app: 'web' }, 'https'), service('badnum', { app: 'web' }, 9090), service('otherns', { app: 'web' }, 'http', 'b')])]);
    const fs = checkServices(v);
    assert.deepEqual(rules(fs), ['service-selects-nothing Service/a/none', 'service-target-port Service/a/badname', 'service-target-port Service/a/badnum', 'service-selects-nothing Service/b/otherns']);
    // A numeric port a container does not declare may still be served: only a warning.
    assert.deepEqual(fs.filter((f) => f.rule === 'service-target-port').map((f) => f.severity), ['error', 'warning']);
  });

  test('Services without selector (or ExternalName) are not checked', () => {
    const ext: Obj = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'e', namespace: 'a' }, spec: { type: 'ExternalName', externalName: 'x.example.com' } };
    const manual: Obj = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'm', namespace: 'a' }, spec: { ports: [{ port: 80 }] } };
    assert.deepEqual(checkServices(view([rendered('o/x', [ext, manual])])), []);
  });
});

describe('ingress', () => {
  const ingress = (name: string, host: string, path: string, svc: string, port: Record<string, unknown>): Obj => ({
    apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, namespace: 'a' },
    spec: { rules: [{ ...(host ? { host } : {}), http: { paths: [{ path, pathType: 'Prefix', backend: { service: { name: svc, port } } }] } }] },
  });

  test('backends by port name and number; an empty host is a host too', () => {
    const svc = service('s', { app: 'web' }, 'http');
    const ok = view([rendered('o/x', [deployment('web'), svc, ingress('i1', '', '/', 's', { name: 'p' }), ingress('i2', '', '/api', 's', { number: 80 })])]);
    assert.deepEqual(checkIngresses(ok), []);
    const bad = view([rendered('o/x', [deployment('web'), svc, ingress('i1', '', '/', 's', { name: 'q' }), ingress('i2', '', '/x', 'missing', { number: 80 })]), rendered('o/y', [ingress('i3', '', '/', 's', { number: 80 })])]);
    assert.deepEqual(rules(checkIngresses(bad)), ['ingress-backend Ingress/a/i1', 'ingress-backend Ingress/a/i2', 'duplicate-host-path Ingress/a/i1', 'duplicate-host-path Ingress/a/i3']);
  });

  test('Traefik match rules yield host and path claims', () => {
    assert.deepEqual(routeClaims('Host(`a.example.com`, `b.example.com`) && PathPrefix(`/api`)'), [{ host: 'a.example.com', path: '/api' }, { host: 'b.example.com', path: '/api' }]);
    assert.deepEqual(routeClaims('PathPrefix(`/x`)'), [{ host: '', path: '/x' }]);
    assert.deepEqual(routeClaims('Host(`a`)'), [{ host: 'a', path: '/' }]);
  });
});

describe('references', () => {
  test('every kind of reference, and every way to provide one', () => {
    const pod = {
      imagePullSecrets: [{ name: 'pull' }],
      containers: [{ name: 'c', envFrom: [{ secretRef: { name: 'sealed' } }, { configMapRef: { name: 'cm', optional: true } }] }],
      volumes: [{ name: 'p', projected: { sources: [{ secret: { name: 'proj' } }, { configMap: { name: 'ext-cm' } }] } }, { name: 'v', persistentVolumeClaim: { claimName: 'claim' } }],
    };
    const sealed: Obj = { apiVersion: 'bitnami.com/v1alpha1', kind: 'SealedSecret', metadata: { name: 'sealed', namespace: 'a' }, spec: {} };
    const es: Obj = { apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret', metadata: { name: 'pull', namespace: 'a' }, spec: {} };
    const v = view([rendered('o/x', [deployment('web', {}, pod), sealed, es])], { external: ['ConfigMap/a/ext-*'] });
    assert.deepEqual(checkReferences(v).map((f) => f.message.split(' ')[0]), ['Secret/a/proj', 'PersistentVolumeClaim/a/claim']);
  });

  test('a StatefulSet mounting its claim template is not missing a PVC', () => {
    const sts: Obj = {
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 's', namespace: 'a' },
      spec: { template: { spec: { containers: [{ name: 'c' }], volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }] } }, volumeClaimTemplates: [{ metadata: { name: 'data' } }] },
    };
    assert.deepEqual(checkReferences(view([rendered('o/x', [sts])])), []);
  });
});

describe('hpa', () => {
  const hpa = (target: string, min: number | undefined, max: number): Obj => ({
    apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: `h-${target}`, namespace: 'a' },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target }, ...(min === undefined ? {} : { minReplicas: min }), maxReplicas: max },
  });

  test('target, bounds and replicas', () => {
    assert.deepEqual(checkHpas(view([rendered('o/x', [deployment('web'), hpa('web', undefined, 1)])])), []);
    const fs = checkHpas(view([rendered('o/x', [deployment('web', { replicas: 2 }), hpa('web', 3, 2), hpa('ghost', 1, 2)])]));
    assert.deepEqual(rules(fs), ['hpa-min-max HorizontalPodAutoscaler/a/h-web', 'hpa-replicas Deployment/a/web', 'hpa-target HorizontalPodAutoscaler/a/h-ghost']);
  });

  test('argocd-cm resource customizations can ignore replicas too', () => {
    const app = { destination: {}, app: { spec: { syncPolicy: { syncOptions: ['RespectIgnoreDifferences=true'] } } } } as unknown as GeneratedApp;
    const argocdCm: K8sObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'argocd-cm' }, data: { 'resource.customizations.ignoreDifferences.apps_Deployment': 'jsonPointers:\n- /spec/replicas\n' } };
    const v = view([rendered('o/x', [deployment('web', { replicas: 2 }), hpa('web', 1, 2)])], { argocdCm, appsByPath: new Map([['o/x', [app]]]) });
    assert.deepEqual(checkHpas(v), []);
  });
});

describe('storage', () => {
  const pvc = (name: string, modes: string[]): Obj => ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: 'a' }, spec: { accessModes: modes } });
  const mounting = (replicas: number, claim: string) => deployment(`d-${claim}-${replicas}`, { replicas }, { volumes: [{ name: 'v', persistentVolumeClaim: { claimName: claim } }] });

  test('ReadWriteOnce shared by replicas is caught; one replica or ReadWriteMany passes', () => {
    const fs = checkStorage(view([rendered('o/x', [pvc('rwo', ['ReadWriteOnce']), pvc('rwop', ['ReadWriteOncePod']), pvc('rwx', ['ReadWriteMany']), mounting(1, 'rwo'), mounting(2, 'rwx'), mounting(2, 'rwo'), mounting(3, 'rwop')])]));
    assert.deepEqual(rules(fs), ['rwo-multi-replica Deployment/a/d-rwo-2', 'rwo-multi-replica Deployment/a/d-rwop-3']);
  });
});

describe('cluster facts (gitops.yaml clusters.<cluster>)', () => {
  const pvc = (name: string, modes: string[], cls?: string): Obj => ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: 'a' }, spec: { accessModes: modes, ...(cls === undefined ? {} : { storageClassName: cls }) } });
  const sts = (cls?: string): Obj => ({
    apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 's', namespace: 'a' },
    spec: { template: { spec: { containers: [{ name: 'c' }] } }, volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteMany'], ...(cls ? { storageClassName: cls } : {}) } }] },
  });
  const classes = { storageClasses: [{ name: 'local', accessModes: ['ReadWriteOnce'], default: true }, { name: 'nfs', accessModes: ['ReadWriteOnce', 'ReadWriteMany'] }] };

  test('storage: unknown class, missing default and an access mode the class lacks are caught; a class that serves passes', () => {
    const v = view([rendered('o/x', [pvc('ok-default', ['ReadWriteOnce']), pvc('ok-rwx', ['ReadWriteMany'], 'nfs'), pvc('rwx-default', ['ReadWriteMany']), pvc('typo', ['ReadWriteOnce'], 'nsf'), pvc('empty', ['ReadWriteOnce'], ''), sts(), sts('nfs')])], { facts: classes });
    const fs = checkStorageClasses(v);
    assert.deepEqual(fs.map((f) => `${f.rule} ${f.severity} ${f.resource} ${f.field}`), [
      'pvc-access-mode error PersistentVolumeClaim/a/rwx-default spec.accessModes',
      'pvc-storage-class error PersistentVolumeClaim/a/typo spec.storageClassName',
      'pvc-storage-class warning PersistentVolumeClaim/a/empty spec.storageClassName',
      'pvc-access-mode error StatefulSet/a/s spec.volumeClaimTemplates.0.spec.accessModes',
    ]);
    assert.match(fs[0].message, /ReadWriteMany, which storage class local \(the default.*set storageClassName to nfs/);
    assert.match(fs[1].message, /storage class nsf, which cluster c does not offer \(gitops\.yaml clusters\.c\.storageClasses: local \(default\): ReadWriteOnce; nfs: ReadWriteOnce\/ReadWriteMany\)/);
    // No default class: a claim without storageClassName cannot be served.
    const noDefault = checkStorageClasses(view([rendered('o/x', [pvc('p', ['ReadWriteOnce'])])], { facts: { storageClasses: [{ name: 'nfs', accessModes: ['ReadWriteMany'] }] } }));
    assert.deepEqual(noDefault.map((f) => f.message.split(':')[0]), ['PersistentVolumeClaim p names no storageClassName and cluster c has no default class (gitops.yaml clusters.c.storageClasses']);
    // Not declared: not checked.
    assert.deepEqual(checkStorageClasses(view([rendered('o/x', [pvc('typo', ['ReadWriteOnce'], 'nsf')])])), []);
  });

  test('scheduling: undeclared node labels, values and taints are caught; declared and well-known ones pass', () => {
    const facts = { nodeLabels: { pool: ['batch'] }, taints: [{ key: 'pool', value: 'batch', effect: 'NoSchedule' }] };
    const good = deployment('good', {}, {
      nodeSelector: { pool: 'batch', 'kubernetes.io/os': 'linux' },
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['batch', 'x'] }] }] } } },
      tolerations: [{ key: 'pool', operator: 'Equal', value: 'batch', effect: 'NoSchedule' }, { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' }, { operator: 'Exists' }],
    });
    const bad = deployment('bad', {}, {
      nodeSelector: { 'example.com/app-class': 'batch', pool: 'web' },
      affinity: { nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['web'] }, { key: 'gpu', operator: 'Exists' }] }] },
        preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [{ key: 'zone-ish', operator: 'In', values: ['a'] }] } }],
      } },
      tolerations: [{ key: 'example.com/app-class', operator: 'Equal', value: 'batch', effect: 'NoSchedule' }, { key: 'pool', operator: 'Equal', value: 'web', effect: 'NoSchedule' }],
    });
    const fs = checkScheduling(view([rendered('o/x', [good, bad])], { facts }));
    assert.deepEqual(fs.map((f) => `${f.rule} ${f.severity} ${f.resource} ${f.field}`), [
      'node-label error Deployment/a/bad spec.template.spec.nodeSelector.example.com/app-class',
      'node-label error Deployment/a/bad spec.template.spec.nodeSelector.pool',
      'node-label error Deployment/a/bad spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms.0.matchExpressions.0.values',
      'node-label error Deployment/a/bad spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms.0.matchExpressions.1.key',
      'node-label warning Deployment/a/bad spec.template.spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution.0.preference.matchExpressions.0.key',
      'toleration error Deployment/a/bad spec.template.spec.tolerations.0',
      'toleration error Deployment/a/bad spec.template.spec.tolerations.1',
    ]);
    assert.match(fs[0].message, /no node of cluster c carries label example\.com\/app-class \(gitops\.yaml clusters\.c\.nodeLabels: pool\)/);
    assert.match(fs[5].message, /toleration example\.com\/app-class=batch:NoSchedule matches no taint of cluster c \(gitops\.yaml clusters\.c\.taints: pool=batch:NoSchedule\)/);
    assert.deepEqual(checkScheduling(view([rendered('o/x', [bad])])), []);
  });

  test('registry: a private image needs a dockerconfigjson Secret named by the pod or its ServiceAccount', () => {
    const facts = { privateRegistries: ['registry.example.com'] };
    const img = (name: string, pod: Record<string, unknown> = {}, ns = 'a'): Obj => {
      const d = deployment(name, {}, pod, ns);
      ((d.spec as { template: { spec: { containers: Array<Record<string, unknown>> } } }).template.spec.containers[0]).image = 'registry.example.com/team/app:1.0';
      return d;
    };
    const es = (name: string, type?: string, ns = 'a'): Obj => ({ apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret', metadata: { name, namespace: ns }, spec: { target: { name, ...(type ? { template: { type } } : {}) } } });
    const secret = (name: string, type: string): Obj => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'a' }, type } as Obj);
    const sa: Obj = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'puller', namespace: 'a' }, imagePullSecrets: [{ name: 'pull-es' }] } as Obj;
    const pub = deployment('public', {}, { containers: [{ name: 'c', image: 'docker.io/library/redis:7' }] });
    const v = view([rendered('o/x', [
      es('pull-es', 'kubernetes.io/dockerconfigjson'), es('opaque-es'), secret('pull-secret', 'kubernetes.io/dockerconfigjson'), sa, pub,
      img('via-pod', { imagePullSecrets: [{ name: 'pull-es' }] }),
      img('via-secret', { imagePullSecrets: [{ name: 'pull-secret' }] }),
      img('via-sa', { serviceAccountName: 'puller' }),
      img('via-external', { imagePullSecrets: [{ name: 'made-by-hand' }] }),
      img('none'),
      img('opaque', { imagePullSecrets: [{ name: 'opaque-es' }] }),
      img('missing', { imagePullSecrets: [{ name: 'ghost' }] }),
      img('other-ns', { imagePullSecrets: [{ name: 'pull-es' }] }, 'b'),
      img('sa-other-ns', { serviceAccountName: 'puller' }, 'b'),
    ])], { facts, external: ['Secret/a/made-by-hand'] });
    const fs = checkPullCredentials(v);
    // `missing` and `other-ns` name Secrets that do not exist at all: missing-reference's findings.
    // A ServiceAccount (or Secret) of another namespace does not count.
    assert.deepEqual(fs.map((f) => `${f.rule} ${f.resource} ${f.field}`), [
      'pull-credentials Deployment/a/none spec.template.spec.containers.0.image',
      'pull-credentials Deployment/a/opaque spec.template.spec.containers.0.image',
      'pull-credentials Deployment/b/sa-other-ns spec.template.spec.containers.0.image',
    ]);
    assert.match(fs[0].message, /neither the pod spec nor ServiceAccount default names an imagePullSecret/);
    assert.match(fs[1].message, /ExternalSecret opaque-es creates \(spec\.target\.template\.type\) is of type Opaque/);
    assert.deepEqual(checkPullCredentials(view([rendered('o/x', [img('none')])])), []);
    assert.deepEqual(['nginx', 'library/nginx:1', 'registry.example.com/a', 'localhost:5000/a', 'ghcr.io/a/b@sha256:00', 'index.docker.io/library/nginx', '[::1]:5000/a'].map(registryHost), ['docker.io', 'docker.io', 'registry.example.com', 'localhost:5000', 'ghcr.io', 'docker.io', '[::1]:5000']);
  });
});

describe('objects', () => {
  test('duplicates: same group, kind, namespace and name; another group is another object', () => {
    const cm = (ns: string): Obj => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: ns } });
    const knative: Obj = { apiVersion: 'serving.knative.dev/v1', kind: 'Service', metadata: { name: 's', namespace: 'a' } };
    const fs = checkDuplicates(view([rendered('o/x', [cm('a'), service('s', { app: 's' }, 80)]), rendered('o/y', [cm('a'), cm('b'), knative])]));
    assert.deepEqual(rules(fs), ['duplicate-object ConfigMap/a/x', 'duplicate-object ConfigMap/a/x']);
  });

  test('cluster-scoped kinds: built in, from rendered CRDs, and whitelisted by glob', () => {
    assert.ok(isClusterScoped('rbac.authorization.k8s.io', 'ClusterRole'));
    assert.ok(!isClusterScoped('apps', 'Deployment'));
    const crd: Obj = { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'gadgets.example.com' }, spec: { group: 'example.com', scope: 'Cluster', names: { kind: 'Gadget' } } };
    const gadget: Obj = { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g', namespace: 'set-by-kustomize' } };
    const project = (whitelist: unknown[]): K8sObject => ({ apiVersion: 'argoproj.io/v1alpha1', kind: 'AppProject', metadata: { name: 'p' }, spec: { clusterResourceWhitelist: whitelist } });
    const app = { project: 'p', name: 'x', destination: {} } as GeneratedApp;
    const mk = (whitelist: unknown[]) => view([rendered('o/x', [gadget]), rendered('clusters/c', [crd], 'cluster')], { projects: new Map([['p', project(whitelist)]]), appsByPath: new Map([['o/x', [app]]]), overlayNamespaces: new Map([['o/x', 'a']]) });
    assert.deepEqual(rules(checkPlacement(mk([]))), ['cluster-scoped-not-allowed Gadget/set-by-kustomize/g']);
    assert.deepEqual(checkPlacement(mk([{ group: '*', kind: '*' }])), []);
    assert.deepEqual(checkPlacement(mk([{ group: 'example.com', kind: 'Gadget' }])), []);
    // Argo CD 3.x: `name` narrows an entry to named objects (a glob).
    assert.deepEqual(checkPlacement(mk([{ group: 'example.com', kind: 'Gadget', name: 'g*' }])), []);
    assert.deepEqual(rules(checkPlacement(mk([{ group: 'example.com', kind: 'Gadget', name: 'other' }]))), ['cluster-scoped-not-allowed Gadget/set-by-kustomize/g']);
  });

  test('namespace-mismatch only for app overlays with a namespace', () => {
    const cm = (ns: string): Obj => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: ns } });
    const v = view([rendered('o/x', [cm('a'), cm('b')]), rendered('o/y', [cm('z')]), rendered('clusters/c', [cm('q')], 'cluster')], { overlayNamespaces: new Map([['o/x', 'a'], ['o/y', undefined]]) });
    assert.deepEqual(rules(checkPlacement(v)), ['namespace-mismatch ConfigMap/b/x']);
  });
});

describe('sync waves', () => {
  const ann = (w: number) => ({ 'argocd.argoproj.io/sync-wave': String(w) });
  test('same or later wave passes; earlier than its CRD or Namespace is caught', () => {
    const crd: Obj = { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'ws.example.com', annotations: ann(-1) }, spec: { group: 'example.com', scope: 'Namespaced', names: { kind: 'W' } } };
    const ns: Obj = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n' } };
    const w = (name: string, wave: number): Obj => ({ apiVersion: 'example.com/v1', kind: 'W', metadata: { name, namespace: 'n', annotations: ann(wave) } });
    const fs = checkSyncWaves(view([rendered('clusters/c', [crd, ns, w('same', -1), w('later', 3), w('early', -2)], 'cluster')]));
    assert.deepEqual(fs.map((f) => `${f.resource} ${/CustomResourceDefinition|Namespace n/.exec(f.message)?.[0]}`), ['W/n/same Namespace n', 'W/n/early CustomResourceDefinition', 'W/n/early Namespace n']);
    // In another target, the CRD's wave does not order anything.
    assert.deepEqual(checkSyncWaves(view([rendered('clusters/c', [crd], 'cluster'), rendered('o/x', [w('early', -5)])])), []);
  });
});

describe('immutable fields', () => {
  const svc = (ip?: string): Obj => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'a' }, spec: { ...(ip ? { clusterIP: ip } : {}), ports: [{ port: 80 }] } });
  const job = (image: string, hook = false): Obj => ({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j', namespace: 'a', ...(hook ? { annotations: { 'argocd.argoproj.io/hook': 'PreSync' } } : {}) }, spec: { template: { spec: { containers: [{ name: 'c', image }] } } } });

  test('clusterIP only when set in git; Job templates; hooks are recreated anyway', () => {
    const head = (objs: Obj[]) => [rendered('o/x', objs)];
    assert.deepEqual(checkImmutable(head([svc()]), head([svc('10.0.0.1')])), []);
    assert.deepEqual(rules(checkImmutable(head([svc('None')]), head([svc()]))), ['immutable-field Service/a/s']);
    assert.deepEqual(rules(checkImmutable(head([job('b')]), head([job('a')]))), ['immutable-field Job/a/j']);
    assert.deepEqual(checkImmutable(head([job('b', true)]), head([job('a', true)])), []);
    // Same fields, or an object new at head: nothing to say.
    assert.deepEqual(checkImmutable(head([deployment('d'), svc('None')]), head([svc('None')])), []);
  });

  test('identity is per cluster: the same object on another cluster is another object', () => {
    const a = rendered('o/x', [deployment('d')]);
    const b: Rendered = { ...rendered('o/x', [deployment('d', { selector: { matchLabels: { app: 'other' } } })]), target: { dir: 'o/x', cluster: 'other', kind: 'app' } };
    assert.deepEqual(checkImmutable([a], [b]), []);
  });
});

