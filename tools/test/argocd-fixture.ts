// A repository whose Argo CD objects use what issue 16's proof names: a matrix of git
// directories x list with goTemplate, sprig functions and templatePatch; a Helm chart with
// valueFiles and $values from a second source; a plain directory with recurse and exclude;
// jsonnet; a Config Management Plugin; a kustomize Application with overrides; and a plain
// kustomize overlay (the fast path).
export const REPO_URL = 'https://git.example.com/fixture/deploy.git';

const APP = (name: string, spec: string) => `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: ${name}
  namespace: argocd
spec:
  project: default
  destination:
    server: https://kubernetes.default.svc
    namespace: ${name}
${spec}`;

const DEPLOYMENT = (name: string, image: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: 1
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
        - name: main
          image: ${image}
`;

export function argoFixture(): Record<string, string> {
  return {
    '.gitignore': '.cache/\n',
    'gitops.yaml': `repoURL: ${REPO_URL}
defaultBranch: main
environments:
  - name: dev
    cluster: kind
    overlayRoot: overlays/kind
kubernetes:
  version: 1.32.0
`,
    'clusters/kind/kustomization.yaml': `resources:
  - argocd-cm.yaml
  - matrix.yaml
  - overlays.yaml
  - helm.yaml
  - plain.yaml
  - jsonnet.yaml
  - plugin.yaml
  - overrides.yaml
`,
    'clusters/kind/argocd-cm.yaml': `apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
data:
  kustomize.buildOptions: --load-restrictor LoadRestrictionsRootOnly
`,
    // Matrix: git directories (services/*, one excluded) x list (two tiers); goTemplate with
    // sprig (upper, trunc, default, printf), templatePatch with an if.
    'clusters/kind/matrix.yaml': `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: services
  namespace: argocd
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
    - matrix:
        generators:
          - git:
              repoURL: ${REPO_URL}
              revision: HEAD
              directories:
                - path: services/*
                - path: services/legacy
                  exclude: true
          - list:
              elements:
                - tier: gold
                  replicas: "3"
                - tier: bronze
  template:
    metadata:
      name: '{{ .path.basename }}-{{ .tier | trunc 1 }}'
      labels:
        tier: '{{ .tier | upper }}'
        replicas: '{{ default "1" (index . "replicas") }}'
    spec:
      project: default
      source:
        repoURL: ${REPO_URL}
        targetRevision: HEAD
        path: '{{ .path.path }}'
      destination:
        server: https://kubernetes.default.svc
        namespace: '{{ printf "%s-%s" .path.basename .tier }}'
  templatePatch: |
    {{- if eq .tier "gold" }}
    spec:
      syncPolicy:
        automated:
          selfHeal: true
    {{- end }}
`,
    'services/alpha/kustomization.yaml': 'resources:\n  - deployment.yaml\n',
    'services/alpha/deployment.yaml': DEPLOYMENT('alpha', 'nginx:1.27.0'),
    'services/beta/kustomization.yaml': 'resources:\n  - deployment.yaml\n',
    'services/beta/deployment.yaml': DEPLOYMENT('beta', 'nginx:1.27.0'),
    'services/legacy/kustomization.yaml': 'resources:\n  - deployment.yaml\n',
    'services/legacy/deployment.yaml': DEPLOYMENT('legacy', 'nginx:1.27.0'),
    // The overlays of the environment, one Application each through the git files generator.
    'clusters/kind/overlays.yaml': `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: overlays
  namespace: argocd
spec:
  goTemplate: true
  generators:
    - git:
        repoURL: ${REPO_URL}
        revision: main
        files:
          - path: overlays/kind/*/kustomization.yaml
  template:
    metadata:
      name: 'kind-{{ .path.basename }}'
    spec:
      project: default
      source:
        repoURL: ${REPO_URL}
        targetRevision: main
        path: '{{ .path.path }}'
      destination:
        server: https://kubernetes.default.svc
        namespace: '{{ .namespace }}'
`,
    'overlays/kind/web/kustomization.yaml': 'namespace: web\nresources:\n  - ../../../services/alpha\nimages:\n  - name: nginx\n    newTag: 1.27.1\n',
    // Helm with valueFiles from a second source ($values), parameters and a release name.
    'clusters/kind/helm.yaml': APP('tiny', `  sources:
    - repoURL: ${REPO_URL}
      targetRevision: HEAD
      path: charts/tiny
      helm:
        releaseName: tiny-release
        valueFiles:
          - values.yaml
          - $values/values/tiny-dev.yaml
        parameters:
          - name: replicas
            value: "4"
    - repoURL: ${REPO_URL}
      targetRevision: main
      ref: values
`),
    'charts/tiny/Chart.yaml': 'apiVersion: v2\nname: tiny\nversion: 0.1.0\n',
    'charts/tiny/values.yaml': 'replicas: 1\nimage: nginx:1.27.0\nmessage: from-chart\n',
    'charts/tiny/templates/deployment.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    message: {{ .Values.message | quote }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: tiny}
  template:
    metadata:
      labels: {app: tiny}
    spec:
      containers:
        - name: main
          image: {{ .Values.image }}
`,
    'values/tiny-dev.yaml': 'message: from-values-source\n',
    // A plain directory, recursive, with an exclude.
    'clusters/kind/plain.yaml': APP('plain', `  source:
    repoURL: ${REPO_URL}
    targetRevision: HEAD
    path: plain
    directory:
      recurse: true
      exclude: 'skip/*'
`),
    'plain/top.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: top\ndata:\n  a: "1"\n',
    'plain/nested/deeper/inner.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: inner\ndata:\n  b: "2"\n',
    'plain/skip/ignored.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ignored\n',
    // Jsonnet with a top-level argument.
    'clusters/kind/jsonnet.yaml': APP('jn', `  source:
    repoURL: ${REPO_URL}
    targetRevision: HEAD
    path: jsonnet
    directory:
      jsonnet:
        tlas:
          - name: name
            value: from-tla
`),
    'jsonnet/main.jsonnet': `function(name) {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: name },
  data: { sum: std.toString(1 + 2) },
}
`,
    // A Config Management Plugin: reported, never run.
    'clusters/kind/plugin.yaml': APP('cmp', `  source:
    repoURL: ${REPO_URL}
    targetRevision: HEAD
    path: services/beta
    plugin:
      name: my-plugin
`),
    // Kustomize with the Application's own overrides (kustomize edit on a copy).
    'clusters/kind/overrides.yaml': APP('ovr', `  source:
    repoURL: ${REPO_URL}
    targetRevision: HEAD
    path: services/beta
    kustomize:
      namePrefix: ovr-
      images:
        - nginx:1.27.9
`),
  };
}
