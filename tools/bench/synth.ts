// A synthetic repository shaped like ours, deterministic for a given size: `apps` services
// (ten per system) x three environments on three clusters (dev, staging, prod), each overlay
// with its cluster's components (prod's ingress trait is a strategic-merge patch, the slow
// kustomize path), and per-cluster Argo CD bootstraps (AppProjects, an ApplicationSet over
// overlay kustomizations, argocd-cm build options). Errors can be injected for tests that
// compare findings across run modes.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface SynthOptions {
  apps: number;
  /** Inject one error of each kind the checks find (schema, policy, cross-check, Argo CD, build). */
  errors?: boolean;
}

export const SYNTH_CLUSTERS = [
  { env: 'dev', cluster: 'devbox', components: ['dev-ingress'] },
  { env: 'staging', cluster: 'staging', components: ['prod-ingress'] },
  { env: 'prod', cluster: 'prod', components: ['prod-ingress', 'pool'] },
] as const;

const SERVICES_PER_SYSTEM = 10;

export function synthApps(n: number): Array<{ system: string; service: string }> {
  return Array.from({ length: n }, (_, i) => ({ system: `sys${String(Math.floor(i / SERVICES_PER_SYSTEM)).padStart(3, '0')}`, service: `svc${String(i % SERVICES_PER_SYSTEM).padStart(2, '0')}` }));
}

const GITOPS = (promote: boolean) => `repoURL: https://example.com/synth/gitops.git
defaultBranch: main
environments:
  - name: dev
    cluster: devbox
    overlayRoot: overlays/devbox
  - name: staging
    cluster: staging
    overlayRoot: overlays/staging${promote ? '\n    promotesFrom: dev' : ''}
  - name: prod
    cluster: prod
    overlayRoot: overlays/prod${promote ? '\n    promotesFrom: staging' : ''}
kubernetes:
  version: 1.35.0
schemas:
  locations: [default]
external:
  devbox: ["Secret/*/*"]
  staging: ["Secret/*/*"]
  prod: ["Secret/*/*"]
clusters:
${['devbox', 'staging', 'prod'].map((c) => `  ${c}:\n    apiServer:\n      crds:\n        - {name: argo-cd, version: v3.5.0}\n`).join('')}`;

function base(system: string, service: string, port: number, broken: { noProbes?: boolean; badField?: boolean; badSelector?: boolean }): Record<string, string> {
  const slug = `${system}-${service}`;
  const probes = broken.noProbes ? '' : `          livenessProbe:
            httpGet: {path: /health, port: http}
            periodSeconds: 30
          readinessProbe:
            httpGet: {path: /health, port: http}
            periodSeconds: 10
`;
  return {
    'kustomization.yaml': `# ${slug}: a synthetic service
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
labels:
  - pairs:
      app: ${slug}
      app.kubernetes.io/instance: ${slug}
    includeSelectors: true
  - pairs:
      app.kubernetes.io/name: ${service}
      app.kubernetes.io/part-of: ${system}
      app.kubernetes.io/managed-by: argocd
    includeTemplates: true
resources:
  - deployment.yaml
  - service.yaml
  - ingress.yaml
configMapGenerator:
  - name: ${slug}-config
    literals: [LOG_LEVEL=info, PORT=${port}]
`,
    'deployment.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${slug}
spec:
  replicas: 1
  template:
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 1001
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: ${service}
          image: registry.example.com/${slug}
          ports:
            - name: http
              containerPort: ${port}
          envFrom:
            - configMapRef: {name: ${slug}-config}
${probes}          resources:
            requests: {cpu: 50m, memory: 64Mi}
            limits: {cpu: 500m, memory: 256Mi}
          securityContext:
            allowPrivilegeEscalation: false${broken.badField ? '\n            runAsUsr: 1000' : ''}
            capabilities: {drop: ["ALL"]}
`,
    'service.yaml': `apiVersion: v1
kind: Service
metadata:
  name: ${slug}
spec:
  type: ClusterIP
  ports:
    - name: http
      port: ${port}
      targetPort: http
`,
    'ingress.yaml': `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ${slug}
  annotations:
    synth.example.com/owner: ${system}
spec:
  rules:
    - host: ${service}.${system}.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: ${broken.badSelector ? `${slug}-gone` : slug}
                port: {name: http}
`,
  };
}

const COMPONENTS: Record<string, string> = {
  'dev-ingress': `apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
  - target: {kind: Ingress}
    patch: |-
      - op: add
        path: /spec/ingressClassName
        value: nginx
`,
  // A strategic merge: the slow path of kustomize (its patch schema).
  'prod-ingress': `apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
  - target: {kind: Ingress}
    patch: |-
      apiVersion: networking.k8s.io/v1
      kind: Ingress
      metadata:
        name: any
        annotations:
          cert-manager.io/cluster-issuer: letsencrypt-prod
          traefik.ingress.kubernetes.io/router.tls: "true"
      spec:
        ingressClassName: traefik
`,
  pool: `apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
  - target: {kind: Deployment}
    patch: |-
      - op: add
        path: /spec/template/spec/nodeSelector
        value: {synth.example.com/pool: general}
`,
};

function cluster(name: string, systems: string[], repoURL: string): Record<string, string> {
  const projects = systems
    .map((s) => `---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: ${s}
  namespace: argocd
spec:
  sourceRepos: [${repoURL}]
  destinations:
    - server: https://kubernetes.default.svc
      namespace: ${s}-${name}
  clusterResourceWhitelist:
    - {group: "", kind: Namespace}
`)
    .join('');
  return {
    'kustomization.yaml': `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [argocd-cm.yaml, appprojects.yaml, applicationset.yaml]
`,
    'argocd-cm.yaml': `apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
data:
  kustomize.buildOptions: --load-restrictor LoadRestrictionsRootOnly
`,
    'appprojects.yaml': projects.slice(4),
    'applicationset.yaml': `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: ${name}-apps
  namespace: argocd
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
    - git:
        repoURL: ${repoURL}
        revision: main
        files:
          - path: overlays/${name}/*/*/kustomization.yaml
  template:
    metadata:
      name: '{{index .path.segments 2}}-{{index .path.segments 3}}'
    spec:
      project: '{{index .path.segments 2}}'
      source:
        repoURL: ${repoURL}
        targetRevision: main
        path: '{{.path.path}}'
      destination:
        server: https://kubernetes.default.svc
        namespace: '{{.namespace}}'
`,
  };
}

/** Files of the synthetic repository, relative to its root. */
export function synthFiles(opts: SynthOptions): Record<string, string> {
  const files: Record<string, string> = { 'gitops.yaml': GITOPS(true), '.gitignore': '.cache/\n' };
  const apps = synthApps(opts.apps);
  const err = (i: number) => (opts.errors ? i : -1);
  apps.forEach(({ system, service }, i) => {
    const broken = { noProbes: i === err(1), badField: i === err(2), badSelector: i === err(3) };
    for (const [f, t] of Object.entries(base(system, service, 8000 + (i % 1000), broken))) files[`apps/${system}/${service}/${f}`] = t;
    for (const c of SYNTH_CLUSTERS) {
      const dir = `overlays/${c.cluster}/${system}/${service}`;
      const tag = `1.${i % 7}.${c.env === 'prod' ? 0 : 1}`;
      let k = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ${system}-${c.cluster}
resources:
  - ../../../../apps/${system}/${service}
components:
${c.components.map((x) => `  - ../../../components/${x}`).join('\n')}
images:
  - name: registry.example.com/${system}-${service}
    newTag: "${tag}"
`;
      // Errors injected in the prod overlays (findings under an overlay and under the cluster).
      if (c.env === 'prod' && i === err(4)) k = k.replace('resources:\n', 'resources:\n  - missing.yaml\n');
      if (c.env === 'prod' && i === err(5)) k = k.replace(`namespace: ${system}-${c.cluster}`, 'namespace: [broken');
      if (c.env === 'staging' && i === err(6)) k = k.replace('newTag: "', 'newTag: "latest" # was "');
      files[`${dir}/kustomization.yaml`] = k;
    }
  });
  for (const [n, t] of Object.entries(COMPONENTS)) files[`overlays/components/${n}/kustomization.yaml`] = t;
  const systems = [...new Set(apps.map((a) => a.system))];
  for (const c of SYNTH_CLUSTERS) for (const [f, t] of Object.entries(cluster(c.cluster, systems, 'https://example.com/synth/gitops.git'))) files[`clusters/${c.cluster}/${f}`] = t;
  return files;
}

export async function writeSynth(root: string, opts: SynthOptions): Promise<number> {
  const files = synthFiles(opts);
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), text);
  }
  return Object.keys(files).length;
}
