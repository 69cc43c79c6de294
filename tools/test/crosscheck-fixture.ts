// A small Argo CD-managed repository (one cluster `kind`, system `shop` with apps api and web,
// an ApplicationSet over overlay kustomizations, projects, a CRD and a Namespace with sync
// waves) that passes every cross-resource and Argo CD rule. Tests break it one way at a time.

export const REPO_URL = 'https://example.com/gitops.git';

const labels = (app: string, name: string) => `labels:
  - pairs:
      app: ${app}
    includeSelectors: true
  - pairs:
      app.kubernetes.io/name: ${name}
      app.kubernetes.io/part-of: shop
    includeTemplates: true
`;

export const API_DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop-api
spec:
  template:
    spec:
      containers:
        - name: api
          image: registry.example.com/shop-api
          ports:
            - name: http
              containerPort: 8080
          envFrom:
            - configMapRef:
                name: api-config
          env:
            - name: TOKEN
              valueFrom:
                secretKeyRef:
                  name: api-credentials
                  key: token
            - name: OPTIONAL
              valueFrom:
                secretKeyRef:
                  name: maybe-there
                  key: x
                  optional: true
          volumeMounts:
            - name: data
              mountPath: /data
            - name: tls
              mountPath: /tls
      volumes:
        - name: data
          persistentVolumeClaim:
            claimName: api-data
        - name: tls
          secret:
            secretName: api-tls
`;

export const API_PVC = `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: api-data
spec:
  accessModes: [ReadWriteMany]
  resources:
    requests:
      storage: 1Gi
`;

export const API_HPA = `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: shop-api
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: shop-api
  minReplicas: 1
  maxReplicas: 3
`;

export const API_INGRESS = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop-api
spec:
  rules:
    - host: shop.example.com
      http:
        paths:
          - path: /api
            pathType: Prefix
            backend:
              service:
                name: shop-api
                port:
                  name: http
`;

export const WEB_ROUTE = `apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: shop-web
spec:
  routes:
    - match: Host(\`shop.example.com\`) && PathPrefix(\`/\`)
      kind: Rule
      services:
        - name: shop-web
          port: 80
`;

export const WEB_STATEFULSET = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: shop-web
spec:
  serviceName: shop-web
  replicas: 2
  template:
    spec:
      containers:
        - name: web
          image: registry.example.com/shop-web
          ports:
            - containerPort: 3000
          volumeMounts:
            - name: cache
              mountPath: /cache
  volumeClaimTemplates:
    - metadata:
        name: cache
      spec:
        accessModes: [ReadWriteOnce]
        resources:
          requests:
            storage: 1Gi
`;

export const APPLICATIONSET = `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: kind-apps
  namespace: argocd
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
    - git:
        repoURL: ${REPO_URL}
        revision: main
        files:
          - path: overlays/kind/*/*/kustomization.yaml
  template:
    metadata:
      name: '{{index .path.segments 2}}-{{index .path.segments 3}}'
    spec:
      project: '{{index .path.segments 2}}'
      source:
        repoURL: ${REPO_URL}
        targetRevision: main
        path: '{{.path.path}}'
      destination:
        server: https://kubernetes.default.svc
        namespace: '{{.namespace}}'
`;

export const application = (name: string, project: string, path: string, namespace: string) => `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: ${name}
  namespace: argocd
spec:
  project: ${project}
  source:
    repoURL: ${REPO_URL}
    targetRevision: main
    path: ${path}
  destination:
    server: https://kubernetes.default.svc
    namespace: ${namespace}
`;

export const wave = (n: number) => `  annotations:\n    argocd.argoproj.io/sync-wave: "${n}"\n`;

export const widget = (w: number) => `apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
  namespace: widgets
${wave(w)}`;

export const role = (w: number) => `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
  namespace: widgets
${wave(w)}rules: []
`;

export function goodRepo(): Record<string, string> {
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
schemas:
  allowMissing: [Widget]
external:
  kind:
    - Secret/shop/api-credentials
`,
    'apps/shop/api/kustomization.yaml': `${labels('shop-api', 'api')}resources:
  - deployment.yaml
  - service.yaml
  - ingress.yaml
  - hpa.yaml
  - pvc.yaml
  - configmap.yaml
`,
    'apps/shop/api/deployment.yaml': API_DEPLOYMENT,
    'apps/shop/api/service.yaml': `apiVersion: v1
kind: Service
metadata:
  name: shop-api
spec:
  ports:
    - name: http
      port: 80
      targetPort: http
`,
    'apps/shop/api/ingress.yaml': API_INGRESS,
    'apps/shop/api/hpa.yaml': API_HPA,
    'apps/shop/api/pvc.yaml': API_PVC,
    'apps/shop/api/configmap.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: api-config\ndata:\n  MODE: test\n',
    'apps/shop/web/kustomization.yaml': `${labels('shop-web', 'web')}resources:
  - statefulset.yaml
  - service.yaml
  - ingressroute.yaml
`,
    'apps/shop/web/statefulset.yaml': WEB_STATEFULSET,
    'apps/shop/web/service.yaml': `apiVersion: v1
kind: Service
metadata:
  name: shop-web
spec:
  clusterIP: None
  ports:
    - port: 80
      targetPort: 3000
`,
    'apps/shop/web/ingressroute.yaml': WEB_ROUTE,
    'overlays/kind/shop/api/kustomization.yaml': `namespace: shop
resources:
  - ../../../../apps/shop/api
  - externalsecret.yaml
`,
    'overlays/kind/shop/api/externalsecret.yaml': `apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: api-tls-source
spec:
  secretStoreRef:
    kind: ClusterSecretStore
    name: vault
  target:
    name: api-tls
  data:
    - secretKey: tls.crt
      remoteRef: {key: api-tls, property: crt}
`,
    'overlays/kind/shop/web/kustomization.yaml': `namespace: shop
resources:
  - ../../../../apps/shop/web
`,
    'clusters/kind/kustomization.yaml': `resources:
  - argocd-cm.yaml
  - appprojects.yaml
  - applicationset.yaml
  - bootstrap.yaml
  - namespace.yaml
  - crd.yaml
  - widget.yaml
  - role.yaml
`,
    'clusters/kind/argocd-cm.yaml': `apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
data:
  kustomize.buildOptions: --load-restrictor LoadRestrictionsRootOnly
`,
    'clusters/kind/appprojects.yaml': `apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: platform
  namespace: argocd
spec:
  sourceRepos: ['${REPO_URL}']
  destinations:
    - {server: https://kubernetes.default.svc, namespace: argocd}
    - {server: https://kubernetes.default.svc, namespace: widgets}
  clusterResourceWhitelist:
    - {group: '', kind: Namespace}
    - {group: apiextensions.k8s.io, kind: CustomResourceDefinition}
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: shop
  namespace: argocd
spec:
  sourceRepos: ['https://example.com/*']
  destinations:
    - {server: https://kubernetes.default.svc, namespace: shop}
    - {server: https://kubernetes.default.svc, namespace: web}
  clusterResourceWhitelist: []
`,
    'clusters/kind/applicationset.yaml': APPLICATIONSET,
    'clusters/kind/bootstrap.yaml': application('kind-bootstrap', 'platform', 'clusters/kind', 'argocd'),
    'clusters/kind/namespace.yaml': `apiVersion: v1
kind: Namespace
metadata:
  name: widgets
${wave(-1)}`,
    'clusters/kind/crd.yaml': `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
${wave(-1)}spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`,
    'clusters/kind/widget.yaml': widget(0),
    'clusters/kind/role.yaml': role(0),
  };
}
