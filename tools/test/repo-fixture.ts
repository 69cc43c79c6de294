// Temporary fixture repositories for tests: a minimal valid GitOps repo that each test
// breaks in one place.
import { mkdir, mkdtemp, writeFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { REPO_ROOT } from '../lib/core/tools.js';

/**
 * The offline schema mirror: GITOPS_SCHEMA_MIRROR if set, else ../shared/schemas beside the
 * repo when it exists; without one, tests use kubeconform's default (online) locations.
 */
export const MIRROR: string | undefined = process.env.GITOPS_SCHEMA_MIRROR
  ? path.resolve(REPO_ROOT, process.env.GITOPS_SCHEMA_MIRROR)
  : existsSync(path.resolve(REPO_ROOT, '../shared/schemas'))
    ? path.resolve(REPO_ROOT, '../shared/schemas')
    : undefined;

/** The offline CRD mirror for the server dry run: GITOPS_CRD_MIRROR, else ../shared/crds when it exists. */
export const CRD_MIRROR: string | undefined = process.env.GITOPS_CRD_MIRROR
  ? path.resolve(REPO_ROOT, process.env.GITOPS_CRD_MIRROR)
  : existsSync(path.resolve(REPO_ROOT, '../shared/crds'))
    ? path.resolve(REPO_ROOT, '../shared/crds')
    : undefined;

export const testEnv: NodeJS.ProcessEnv = {
  ...process.env,
  ...(MIRROR ? { GITOPS_SCHEMA_MIRROR: MIRROR } : {}),
  ...(CRD_MIRROR ? { GITOPS_CRD_MIRROR: CRD_MIRROR } : {}),
};

export const DIGEST = `sha256:${'a'.repeat(64)}`;

export const GITOPS_YAML = `environments:
  - name: dev
    cluster: minikube
    overlayRoot: overlays/minikube
  - name: prod
    cluster: crianex
    overlayRoot: overlays/crianex
    promotesFrom: dev
    requireDigests: true
kubernetes:
  version: 1.35.0
`;

export const BASE_KUSTOMIZATION = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
labels:
  - pairs:
      app: demo-web
      app.kubernetes.io/instance: demo-web
    includeSelectors: true
  - pairs:
      app.kubernetes.io/name: web
      app.kubernetes.io/part-of: demo
      app.kubernetes.io/managed-by: argocd
    includeTemplates: true
resources:
  - deployment.yaml
`;

export const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo-web
spec:
  replicas: 1
  template:
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
      containers:
        - name: web
          image: registry.example.com/demo-web
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

export function overlay(namespace: string, pin: string): string {
  return `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ${namespace}
resources:
  - ../../../../apps/demo/web
images:
  - name: registry.example.com/demo-web
    ${pin}
`;
}

export function baseFiles(): Record<string, string> {
  return {
    'gitops.yaml': GITOPS_YAML,
    'apps/demo/web/kustomization.yaml': BASE_KUSTOMIZATION,
    'apps/demo/web/deployment.yaml': DEPLOYMENT,
    'overlays/minikube/demo/web/kustomization.yaml': overlay('demo', 'newTag: "1.0.0"'),
    'overlays/crianex/demo/web/kustomization.yaml': overlay('demo', `newTag: "1.0.0@${DIGEST}"`),
  };
}

/** Writes `files` into a new temp folder (fixtures.ts gitInit makes it a repository). */
export async function makeRepo(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gitops-fixture-'));
  await writeFiles(dir, files);
  return dir;
}

/** Writes (or, with `null`, deletes) files relative to `dir`. */
export async function writeFiles(dir: string, files: Record<string, string | null>): Promise<void> {
  for (const [rel, text] of Object.entries(files)) {
    const p = path.join(dir, rel);
    if (text === null) {
      await rm(p, { force: true });
      continue;
    }
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, text);
  }
}

export async function removeRepo(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

