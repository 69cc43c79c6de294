// An edit moves only its target: before committing, every other app (and cluster entry point)
// whose inputs include an edited file is rendered before and after; one that renders differently
// stops the release, named. Three shapes that used to slip through: an overlay another
// Application uses as its base, an overlay folder two environments share, and a component a
// cluster entry point of the other cluster also uses. End to end through the git http-backend.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { bump } from '../commands/bump.js';
import { UsageError } from '../lib/core/errors.js';
import { D_DEV, D_PROD, WEB } from './pin-fixture.js';
import { finishFixture, startReleaseFixture, type ReleaseFixture } from './release-fixture.js';
import { BASE_KUSTOMIZATION, DEPLOYMENT, GITOPS_YAML, overlay } from './repo-fixture.js';

const T = { timeout: 240_000 };
let fx: ReleaseFixture | undefined;
afterEach(async () => {
  const f = fx;
  fx = undefined;
  await finishFixture(f);
});

const kustomization = (body: string) => `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n${body}`;
const base = { 'apps/demo/web/kustomization.yaml': BASE_KUSTOMIZATION, 'apps/demo/web/deployment.yaml': DEPLOYMENT };
const NEW = `${WEB}:1.1.0@${D_DEV}`;

async function refused(files: Record<string, string>, app: string, env: string, want: RegExp): Promise<void> {
  fx = await startReleaseFixture({ files });
  const f = fx;
  const refs = await f.remoteRefs();
  await assert.rejects(bump({ cwd: f.work, envVars: f.envVars, app, env, image: NEW, log: () => {}, write: () => {} }), (e: unknown) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.match(e.message, want);
    assert.match(e.message, /nothing was committed/);
    return true;
  });
  assert.deepEqual(await f.remoteRefs(), refs, 'nothing pushed');
  assert.deepEqual(f.api.requests, [], 'no pull request');
}

describe('an edit moves only its target', () => {
  test('an overlay that another Application uses as its base: bumping it is refused, naming the other', T, async () => {
    await refused(
      {
        'gitops.yaml': GITOPS_YAML,
        ...base,
        'overlays/minikube/demo/web/kustomization.yaml': kustomization('namespace: demo\nresources:\n  - ../../../../apps/demo/web\n'),
        // The canary Application builds on the web overlay and changes only its name suffix.
        'overlays/minikube/demo/web-canary/kustomization.yaml': kustomization('nameSuffix: -canary\nresources:\n  - ../web\n'),
        'overlays/crianex/demo/web/kustomization.yaml': overlay('demo', `newTag: "1.0.0@${D_PROD}"`),
      },
      'demo/web',
      'dev',
      /would also change another target; nothing was committed:\n {2}overlays\/minikube\/demo\/web-canary \(demo\/web-canary in dev\): Deployment\/demo\/demo-web-canary spec\.template\.spec\.containers\[web\]\.image/,
    );
  });

  test('an overlay folder two environments share: bumping it for one is refused, naming the other environment', T, async () => {
    const cfg = GITOPS_YAML.replace('  - name: prod\n', '  - name: qa\n    cluster: minikube\n    overlays: [overlays/minikube/*/*]\n  - name: prod\n');
    await refused(
      {
        'gitops.yaml': cfg,
        ...base,
        'overlays/minikube/demo/web/kustomization.yaml': overlay('demo', 'newTag: "1.0.0"'),
        'overlays/crianex/demo/web/kustomization.yaml': overlay('demo', `newTag: "1.0.0@${D_PROD}"`),
      },
      'demo/web',
      'dev',
      /overlays\/minikube\/demo\/web \(demo\/web in qa\): Deployment\/demo\/demo-web spec\.template\.spec\.containers\[web\]\.image/,
    );
  });

  test('a component a cluster entry point of the other cluster also uses: refused, naming that entry point; an app that reads it unchanged is not named', T, async () => {
    const component = `apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nimages:\n  - name: ${WEB}\n    newTag: "1.0.0@${D_PROD}"\n`;
    const smoke = DEPLOYMENT.replace('name: demo-web\n', 'name: smoke-web\n  namespace: smoke\n');
    await refused(
      {
        'gitops.yaml': GITOPS_YAML,
        ...base,
        'apps/demo/api/kustomization.yaml': BASE_KUSTOMIZATION.replace(/demo-web/g, 'demo-api'),
        'apps/demo/api/deployment.yaml': DEPLOYMENT.replace(/demo-web/g, 'demo-api'),
        'overlays/components/web-release/kustomization.yaml': component,
        'overlays/minikube/demo/web/kustomization.yaml': kustomization('namespace: demo\nresources:\n  - ../../../../apps/demo/web\ncomponents:\n  - ../../../components/web-release\n'),
        // Reads the component too, but runs no demo-web: its render does not change.
        'overlays/minikube/demo/api/kustomization.yaml': kustomization('namespace: demo\nresources:\n  - ../../../../apps/demo/api\ncomponents:\n  - ../../../components/web-release\n'),
        'overlays/crianex/demo/web/kustomization.yaml': overlay('demo', `newTag: "1.0.0@${D_PROD}"`),
        'clusters/crianex/kustomization.yaml': kustomization('resources:\n  - smoke.yaml\ncomponents:\n  - ../../overlays/components/web-release\n'),
        'clusters/crianex/smoke.yaml': smoke,
      },
      'demo/web',
      'dev',
      /would also change another target; nothing was committed:\n {2}clusters\/crianex \(cluster crianex entry point\): Deployment\/smoke\/smoke-web spec\.template\.spec\.containers\[web\]\.image$/,
    );
  });
});
