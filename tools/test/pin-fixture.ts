// Fixture repositories whose image pins live outside the overlays' `images:` blocks: in a patch
// file, or in a component. Two apps each: demo/web, whose pin belongs to one overlay (a patch or a
// component only that environment uses), and demo/api, whose pin sits in a file both
// environments share (a release must refuse to edit it).
import { BASE_KUSTOMIZATION, DEPLOYMENT, GITOPS_YAML } from './repo-fixture.js';

export const D_DEV = `sha256:${'1'.repeat(64)}`;
export const D_PROD = `sha256:${'2'.repeat(64)}`;
export const D_API = `sha256:${'3'.repeat(64)}`;
export const WEB = 'registry.example.com/demo-web';
export const API = 'registry.example.com/demo-api';

function base(app: 'web' | 'api'): Record<string, string> {
  return {
    [`apps/demo/${app}/kustomization.yaml`]: BASE_KUSTOMIZATION.replace(/demo-web/g, `demo-${app}`).replace('app.kubernetes.io/name: web', `app.kubernetes.io/name: ${app}`),
    [`apps/demo/${app}/deployment.yaml`]: DEPLOYMENT.replace(/demo-web/g, `demo-${app}`).replace('- name: web', `- name: ${app}`),
  };
}

const kustomization = (body: string) => `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n${body}`;

/** A strategic-merge patch that sets the image of container `app` of Deployment demo-<app>. */
export function imagePatch(app: 'web' | 'api', image: string, comment = ''): string {
  return `# the release pin of demo-${app} lives here, not in images:
apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo-${app}
spec:
  template:
    spec:
      containers:
        - name: ${app}
          image: ${image}${comment}
`;
}

/**
 * Pins set by patches: each environment's demo/web overlay has its own `image.yaml` patch;
 * demo/api's overlays share the patch of component `overlays/components/api-image` (kustomize
 * loads a patch file only from inside the kustomization that lists it).
 */
export function patchPinnedRepo(): Record<string, string> {
  return {
    'gitops.yaml': GITOPS_YAML,
    ...base('web'),
    ...base('api'),
    'overlays/minikube/demo/web/kustomization.yaml': kustomization('namespace: demo\nresources:\n  - ../../../../apps/demo/web\npatches:\n  - path: image.yaml\n'),
    'overlays/minikube/demo/web/image.yaml': imagePatch('web', `"${WEB}:1.1.0@${D_DEV}"`),
    'overlays/crianex/demo/web/kustomization.yaml': kustomization('namespace: demo\nresources:\n  - ../../../../apps/demo/web\npatches:\n  - path: image.yaml\n'),
    'overlays/crianex/demo/web/image.yaml': imagePatch('web', `"${WEB}:1.0.0@${D_PROD}"`, ' # prod: keep this comment'),
    'overlays/components/api-image/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n  - path: image.yaml\n',
    'overlays/components/api-image/image.yaml': imagePatch('api', `${API}:2.0.0@${D_API}`),
    'overlays/minikube/demo/api/kustomization.yaml': kustomization('namespace: demo\nresources:\n  - ../../../../apps/demo/api\ncomponents:\n  - ../../../components/api-image\n'),
    'overlays/crianex/demo/api/kustomization.yaml': kustomization('namespace: demo\nresources:\n  - ../../../../apps/demo/api\ncomponents:\n  - ../../../components/api-image\n'),
  };
}

const component = (images: string) => `apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n# release pins of this environment\nimages:\n${images}`;

/**
 * Pins set by components: `components/dev-release` (used by dev overlays only) and
 * `components/prod-release` pin demo/web; `components/api-release` pins demo/api for both.
 */
export function componentPinnedRepo(): Record<string, string> {
  const ov = (app: string, comps: string[]) => kustomization(`namespace: demo\nresources:\n  - ../../../../apps/demo/${app}\ncomponents:\n${comps.map((c) => `  - ../../../components/${c}\n`).join('')}`);
  return {
    'gitops.yaml': GITOPS_YAML,
    ...base('web'),
    ...base('api'),
    'overlays/components/dev-release/kustomization.yaml': component(`  - name: ${WEB}\n    newTag: "1.1.0@${D_DEV}" # dev\n`),
    'overlays/components/prod-release/kustomization.yaml': component(`  - name: ${WEB}\n    newTag: "1.0.0@${D_PROD}" # prod\n`),
    'overlays/components/api-release/kustomization.yaml': component(`  - name: ${API}\n    newTag: "2.0.0@${D_API}"\n`),
    'overlays/minikube/demo/web/kustomization.yaml': ov('web', ['dev-release']),
    'overlays/crianex/demo/web/kustomization.yaml': ov('web', ['prod-release']),
    'overlays/minikube/demo/api/kustomization.yaml': ov('api', ['api-release']),
    'overlays/crianex/demo/api/kustomization.yaml': ov('api', ['api-release']),
  };
}
