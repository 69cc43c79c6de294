// Fixture repositories in four layouts nobody here designed, described only by gitops.yaml:
//   repo          this repository's overlays/<cluster>/<system>/<service> (overlayRoot)
//   flat          one app, envs/<env>/ over base/; prod's image set by a patch
//   app-overlays  <app>/overlays/<env>/ over <app>/base; prod's api image set by a component;
//                 an Argo CD entry point in argocd/ (clusters.<name>.entryPoint)
//   yml           deploy/<env>/<team>/<app>/ with kustomization.yml and Kustomization files,
//                 `**` patterns and a folder name outside the id alphabet (Billing_API)
// Each is valid as written (validate: no errors). `apps` and `pins` say what discovery and the
// render must find, so tests of validate, diff, status and promote assert against the same facts.
import { makeRepo } from './repo-fixture.js';
import { gitInit } from './fixtures.js';

export const LAYOUTS = ['repo', 'flat', 'app-overlays', 'yml'] as const;
export type LayoutName = (typeof LAYOUTS)[number];

export const LAYOUT_DIGEST = `sha256:${'b'.repeat(64)}`;

export interface LayoutFixture {
  name: LayoutName;
  files: Record<string, string>;
  /** Every overlay discovery must find. */
  apps: Array<{ env: string; id: string; dir: string; kustomization: string }>;
  /** The rendered image of each app's container per environment, and the file that sets it. */
  pins: Array<{ env: string; id: string; container: string; image: string; file: string; line: number }>;
}

/** A Deployment that passes every policy: labels, probes, resources, runAsNonRoot. */
export function deployment(name: string, image: string, opts: { partOf?: string; container?: string } = {}): string {
  const labels = `        app: ${name}
        app.kubernetes.io/name: ${name}
        app.kubernetes.io/instance: ${name}
        app.kubernetes.io/part-of: ${opts.partOf ?? name}
        app.kubernetes.io/managed-by: argocd
`;
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels:
${labels.replace(/^ {4}/gm, '')}spec:
  replicas: 1
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
${labels}    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
      containers:
        - name: ${opts.container ?? 'main'}
          image: ${image}
          ports:
            - name: http
              containerPort: 8080
          livenessProbe:
            httpGet: {path: /health, port: http}
          readinessProbe:
            httpGet: {path: /health, port: http}
          resources:
            requests: {cpu: 10m, memory: 32Mi}
            limits: {memory: 64Mi}
`;
}

function lineOf(text: string, needle: string): number {
  const i = text.indexOf(needle);
  if (i < 0) throw new Error(`fixture: '${needle}' not in text`);
  return text.slice(0, i).split('\n').length;
}

const K = 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n';

function images(name: string, tag: string): string {
  return `images:\n  - name: ${name}\n    newTag: "${tag}"\n`;
}

function repoLayout(): LayoutFixture {
  const files: Record<string, string> = {
    'gitops.yaml': `environments:
  - name: dev
    cluster: minikube
    overlayRoot: overlays/minikube
  - name: prod
    cluster: crianex
    overlayRoot: overlays/crianex
    promotesFrom: dev
`,
    'apps/demo/web/kustomization.yaml': `${K}resources:\n  - deployment.yaml\n`,
    'apps/demo/web/deployment.yaml': deployment('demo-web', 'registry.example.com/demo-web', { partOf: 'demo' }),
    'overlays/minikube/demo/web/kustomization.yaml': `${K}namespace: demo\nresources:\n  - ../../../../apps/demo/web\n${images('registry.example.com/demo-web', '1.1.0')}`,
    'overlays/crianex/demo/web/kustomization.yaml': `${K}namespace: demo\nresources:\n  - ../../../../apps/demo/web\n${images('registry.example.com/demo-web', `1.0.0@${LAYOUT_DIGEST}`)}`,
  };
  const pin = (env: string, dir: string, image: string) => ({ env, id: 'demo/web', container: 'main', image, file: `${dir}/kustomization.yaml`, line: lineOf(files[`${dir}/kustomization.yaml`], '  - name: registry') });
  return {
    name: 'repo',
    files,
    apps: [
      { env: 'dev', id: 'demo/web', dir: 'overlays/minikube/demo/web', kustomization: 'overlays/minikube/demo/web/kustomization.yaml' },
      { env: 'prod', id: 'demo/web', dir: 'overlays/crianex/demo/web', kustomization: 'overlays/crianex/demo/web/kustomization.yaml' },
    ],
    pins: [
      pin('dev', 'overlays/minikube/demo/web', 'registry.example.com/demo-web:1.1.0'),
      pin('prod', 'overlays/crianex/demo/web', `registry.example.com/demo-web:1.0.0@${LAYOUT_DIGEST}`),
    ],
  };
}

function flatLayout(): LayoutFixture {
  const patch = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
spec:
  template:
    spec:
      containers:
        - name: main
          image: registry.example.com/shop:1.0.0
`;
  const files: Record<string, string> = {
    'gitops.yaml': `# One app, one folder per environment.
environments:
  - name: dev
    cluster: dev
    overlays: [envs/dev]
    appId: shop
  - name: prod
    cluster: prod
    overlays: [envs/prod]
    appId: shop
    promotesFrom: dev
`,
    'base/kustomization.yaml': `${K}resources:\n  - deployment.yaml\n`,
    'base/deployment.yaml': deployment('shop', 'registry.example.com/shop:0.0.1'),
    'envs/dev/kustomization.yaml': `${K}namespace: shop-dev\nresources:\n  - ../../base\n${images('registry.example.com/shop', '1.1.0')}`,
    'envs/prod/kustomization.yaml': `${K}namespace: shop\nresources:\n  - ../../base\npatches:\n  - path: image-patch.yaml\n`,
    'envs/prod/image-patch.yaml': patch,
  };
  return {
    name: 'flat',
    files,
    apps: [
      { env: 'dev', id: 'shop', dir: 'envs/dev', kustomization: 'envs/dev/kustomization.yaml' },
      { env: 'prod', id: 'shop', dir: 'envs/prod', kustomization: 'envs/prod/kustomization.yaml' },
    ],
    pins: [
      { env: 'dev', id: 'shop', container: 'main', image: 'registry.example.com/shop:1.1.0', file: 'envs/dev/kustomization.yaml', line: lineOf(files['envs/dev/kustomization.yaml'], '  - name: registry') },
      { env: 'prod', id: 'shop', container: 'main', image: 'registry.example.com/shop:1.0.0', file: 'envs/prod/image-patch.yaml', line: lineOf(patch, '          image:') },
    ],
  };
}

const REPO_URL = 'https://git.example.com/team/deploy.git';

function appOverlaysLayout(): LayoutFixture {
  const component = `apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
images:
  - name: registry.example.com/api
    newTag: "2.0.0"
`;
  const files: Record<string, string> = {
    'gitops.yaml': `repoURL: ${REPO_URL}
environments:
  - name: dev
    cluster: kind
    overlays: ["*/overlays/dev"]
  - name: prod
    cluster: prod
    overlays: ["*/overlays/prod"]
    promotesFrom: dev
clusters:
  kind:
    entryPoint: argocd
  prod:
    entryPoint: null
`,
    'components/prod-images/kustomization.yaml': component,
  };
  for (const app of ['api', 'web']) {
    files[`${app}/base/kustomization.yaml`] = `${K}resources:\n  - deployment.yaml\n`;
    files[`${app}/base/deployment.yaml`] = deployment(app, `registry.example.com/${app}:0.0.1`, { partOf: 'shop' });
    files[`${app}/overlays/dev/kustomization.yaml`] = `${K}namespace: shop-dev\nresources:\n  - ../../base\n${images(`registry.example.com/${app}`, '2.1.0')}`;
  }
  files['web/overlays/prod/kustomization.yaml'] = `${K}namespace: shop\nresources:\n  - ../../base\n${images('registry.example.com/web', '2.0.0')}`;
  files['api/overlays/prod/kustomization.yaml'] = `${K}namespace: shop\nresources:\n  - ../../base\ncomponents:\n  - ../../../components/prod-images\n`;
  // Argo CD entry point of the dev cluster: a project and one Application per dev overlay.
  const application = (app: string) => `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: ${app}-dev
  namespace: argocd
spec:
  project: shop
  source:
    repoURL: ${REPO_URL}
    targetRevision: main
    path: ${app}/overlays/dev
  destination:
    server: https://kubernetes.default.svc
    namespace: shop-dev
`;
  files['argocd/kustomization.yaml'] = `${K}resources:\n  - project.yaml\n  - apps.yaml\n`;
  files['argocd/project.yaml'] = `apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: shop
  namespace: argocd
spec:
  sourceRepos: [${REPO_URL}]
  destinations:
    - server: https://kubernetes.default.svc
      namespace: shop-dev
`;
  files['argocd/apps.yaml'] = `${application('api')}---\n${application('web')}`;
  const devPin = (app: string) => ({ env: 'dev', id: app, container: 'main', image: `registry.example.com/${app}:2.1.0`, file: `${app}/overlays/dev/kustomization.yaml`, line: lineOf(files[`${app}/overlays/dev/kustomization.yaml`], '  - name: registry') });
  return {
    name: 'app-overlays',
    files,
    apps: ['api', 'web'].flatMap((app) => ['dev', 'prod'].map((env) => ({ env, id: app, dir: `${app}/overlays/${env}`, kustomization: `${app}/overlays/${env}/kustomization.yaml` }))),
    pins: [
      devPin('api'),
      devPin('web'),
      { env: 'prod', id: 'api', container: 'main', image: 'registry.example.com/api:2.0.0', file: 'components/prod-images/kustomization.yaml', line: lineOf(component, '  - name: registry') },
      { env: 'prod', id: 'web', container: 'main', image: 'registry.example.com/web:2.0.0', file: 'web/overlays/prod/kustomization.yaml', line: lineOf(files['web/overlays/prod/kustomization.yaml'], '  - name: registry') },
    ],
  };
}

function ymlLayout(): LayoutFixture {
  const files: Record<string, string> = {
    'gitops.yaml': `environments:
  - name: dev
    cluster: dev
    overlays: ["deploy/dev/**"]
  - name: prod
    cluster: prod
    overlays: ["deploy/prod/**"]
    promotesFrom: dev
`,
    'bases/catalog/kustomization.yml': `${K}resources:\n  - deployment.yml\n`,
    'bases/catalog/deployment.yml': deployment('catalog', 'registry.example.com/catalog:0.0.1', { partOf: 'store' }),
    'bases/billing/Kustomization': `${K}resources:\n  - deployment.yml\n`,
    'bases/billing/deployment.yml': deployment('billing', 'registry.example.com/billing:0.0.1', { partOf: 'payments' }),
  };
  const apps: LayoutFixture['apps'] = [];
  const pins: LayoutFixture['pins'] = [];
  for (const [env, tag] of [['dev', '3.1.0'], ['prod', '3.0.0']]) {
    const catalog = `deploy/${env}/store/catalog/kustomization.yml`;
    const billing = `deploy/${env}/payments/Billing_API/Kustomization`;
    files[catalog] = `${K}namespace: store\nresources:\n  - ../../../../bases/catalog\n${images('registry.example.com/catalog', tag)}`;
    files[billing] = `${K}namespace: payments\nresources:\n  - ../../../../bases/billing\n${images('registry.example.com/billing', tag)}`;
    apps.push({ env, id: 'payments/billing-api', dir: `deploy/${env}/payments/Billing_API`, kustomization: billing });
    apps.push({ env, id: 'store/catalog', dir: `deploy/${env}/store/catalog`, kustomization: catalog });
    pins.push({ env, id: 'payments/billing-api', container: 'main', image: `registry.example.com/billing:${tag}`, file: billing, line: lineOf(files[billing], '  - name: registry') });
    pins.push({ env, id: 'store/catalog', container: 'main', image: `registry.example.com/catalog:${tag}`, file: catalog, line: lineOf(files[catalog], '  - name: registry') });
  }
  return { name: 'yml', files, apps, pins };
}

export function layoutFixture(name: LayoutName): LayoutFixture {
  switch (name) {
    case 'repo':
      return repoLayout();
    case 'flat':
      return flatLayout();
    case 'app-overlays':
      return appOverlaysLayout();
    case 'yml':
      return ymlLayout();
  }
}

/** Writes the layout into a temp folder and commits it on `main`; remove with removeRepo. */
export async function makeLayoutRepo(name: LayoutName, extra: Record<string, string> = {}): Promise<{ dir: string; fixture: LayoutFixture }> {
  const fixture = layoutFixture(name);
  const dir = await makeRepo({ ...fixture.files, ...extra });
  gitInit(dir);
  return { dir, fixture };
}
