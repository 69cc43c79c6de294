// Release state from the render on repositories whose pins live outside the overlays' images:
// blocks (a patch, a component) and in four layouts: status names the file that sets each image,
// promote and bump edit that file (and only it, byte for byte outside the value), and refuse a file
// another environment or overlay shares. End to end through the git http-backend and the
// OpenAPI-checked GitHub stand-in.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { bump } from '../commands/bump.js';
import { promote } from '../commands/promote.js';
import { rollback } from '../commands/rollback.js';
import { collectStatus } from '../commands/status.js';
import { FindingsError, NameError, UsageError } from '../lib/core/errors.js';
import { LAYOUTS, layoutFixture, makeLayoutRepo, type LayoutName } from './layouts-fixture.js';
import { API, D_API, D_DEV, D_PROD, WEB, componentPinnedRepo, patchPinnedRepo } from './pin-fixture.js';
import { capture, finishFixture, startReleaseFixture, type ReleaseFixture } from './release-fixture.js';
import { GITOPS_YAML, removeRepo, testEnv } from './repo-fixture.js';

const T = { timeout: 240_000 };

let fx: ReleaseFixture | undefined;
afterEach(async () => {
  const f = fx;
  fx = undefined;
  await finishFixture(f);
});

/** The lines that differ between two texts, as `-old` / `+new`. */
function changedLines(before: string, after: string): string[] {
  const a = before.split('\n');
  const b = after.split('\n');
  assert.equal(a.length, b.length, 'same number of lines');
  return a.flatMap((l, i) => (l === b[i] ? [] : [`-${l}`, `+${b[i]}`]));
}

const quiet = (f: ReleaseFixture) => ({ cwd: f.work, envVars: f.envVars, log: () => {}, write: () => {} });

describe('status on four layouts: the rendered image and the file that sets it', () => {
  for (const name of LAYOUTS) {
    test(name, async () => {
      const { dir, fixture } = await makeLayoutRepo(name);
      try {
        const r = await collectStatus(dir, testEnv);
        for (const pin of fixture.pins) {
          const app = r.apps.find((a) => a.id === pin.id);
          assert.ok(app, `${pin.id} in status`);
          const views = Object.values(app.images).map((per) => per[pin.env]).filter((v) => v);
          const v = views.find((x) => `${x!.name}${x!.tag ? `:${x!.tag}` : ''}${x!.digest ? `@${x!.digest}` : ''}` === pin.image);
          assert.ok(v, `${pin.id} in ${pin.env} renders ${pin.image}; status has ${JSON.stringify(views)}`);
          assert.deepEqual([v!.setBy?.file, v!.setBy?.line], [pin.file, pin.line], `${pin.id} in ${pin.env}`);
        }
      } finally {
        await removeRepo(dir);
      }
    });
  }
});

describe('promote and bump write where the pin lives', () => {
  test('a pin set by a patch: promote rewrites the prod patch scalar (one line, comment kept) and opens a PR; a shared patch is refused', T, async () => {
    fx = await startReleaseFixture({ files: patchPinnedRepo() });
    const f = fx;
    const PATCH = 'overlays/crianex/demo/web/image.yaml';
    const before = await f.remoteFile('main', PATCH);
    const c = capture();
    const r = await promote({ cwd: f.work, app: 'web', env: 'prod', envVars: f.envVars, log: c.log, write: c.write });
    assert.equal(r.status, 'pr-opened');
    assert.equal((await f.remoteGit(['diff', '--name-only', `main..${r.branch}`])).trim(), PATCH);
    assert.deepEqual(changedLines(before, await f.remoteFile(r.branch, PATCH)), [
      `-          image: "${WEB}:1.0.0@${D_PROD}" # prod: keep this comment`,
      `+          image: "${WEB}:1.1.0@${D_DEV}" # prod: keep this comment`,
    ]);
    assert.deepEqual(r.changes, [{ what: WEB, from: `1.0.0@${D_PROD}`, to: `1.1.0@${D_DEV}` }]);
    const pr = f.api.state.pulls[0]!;
    assert.ok(pr.body?.includes(`${WEB} is set in ${PATCH} (the patch that sets it, used only by overlays/crianex/demo/web)`), pr.body ?? '');
    assert.ok(pr.body?.includes(`image: ${WEB}:1.1.0@${D_DEV}`), 'the rendered diff shows the new image');
    // demo/api's pin is in a component patch both environments use: refused, naming file and overlay.
    const refs = await f.remoteRefs();
    await assert.rejects(bump({ ...quiet(f), app: 'api', env: 'prod', image: `${API}:2.1.0@${D_DEV}` }), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /overlays\/components\/api-image\/image\.yaml:11 \(patch image:\) sets registry\.example\.com\/demo-api for demo\/api in prod, and other overlays use that patch too: overlays\/minikube\/demo\/api \(dev\)/);
      assert.match(e.hint ?? '', /pin registry\.example\.com\/demo-api in overlays\/crianex\/demo\/api\/kustomization\.yaml \(images:\)/);
      return true;
    });
    assert.deepEqual(await f.remoteRefs(), refs, 'nothing pushed');
    // rollback reads the history of the patch, and writes the earlier pin back into it.
    await f.pushToMain({ [PATCH]: before.replace(`1.0.0@${D_PROD}`, `1.2.0@${D_API}`) }, 'prod 1.2.0 by patch');
    const rb = await rollback({ ...quiet(f), app: 'web', env: 'prod', noPr: true });
    assert.equal(rb.status, 'committed');
    assert.equal(await f.git(['show', `${rb.branch}:${PATCH}`]), before);
    assert.match(rb.message ?? '', /^rollback demo\/web in prod: demo-web 1\.2\.0@sha256:333333333333 -> 1\.0\.0@sha256:222222222222\n/);
    // The shared api patch has no history that belongs to prod alone.
    await assert.rejects(rollback({ ...quiet(f), app: 'api', env: 'prod', noPr: true }), (e: unknown) => e instanceof UsageError && /nothing to roll back\n {2}overlays\/components\/api-image\/image\.yaml:11/.test(e.message));
  });

  test('a pin set by a component: promote edits the prod component, bump the dev one; a component both environments use is refused', T, async () => {
    fx = await startReleaseFixture({ files: componentPinnedRepo() });
    const f = fx;
    const PROD_C = 'overlays/components/prod-release/kustomization.yaml';
    const DEV_C = 'overlays/components/dev-release/kustomization.yaml';
    const r = await promote({ ...quiet(f), app: 'demo/web', env: 'prod' });
    assert.equal(r.status, 'pr-opened');
    assert.equal((await f.remoteGit(['diff', '--name-only', `main..${r.branch}`])).trim(), PROD_C);
    assert.deepEqual(changedLines(await f.remoteFile('main', PROD_C), await f.remoteFile(r.branch, PROD_C)), [`-    newTag: "1.0.0@${D_PROD}" # prod`, `+    newTag: "1.1.0@${D_DEV}" # prod`]);
    // bump in dev: the dev component (used by dev overlays only) is the place.
    const b = await bump({ ...quiet(f), app: 'web', env: 'dev', image: `${WEB}:1.2.0@${D_API}`, noPr: true });
    assert.equal(b.status, 'committed');
    assert.deepEqual(changedLines(await f.remoteFile('main', DEV_C), await f.git(['show', `${b.branch}:${DEV_C}`])), [`-    newTag: "1.1.0@${D_DEV}" # dev`, `+    newTag: "1.2.0@${D_API}" # dev`]);
    // --dry-run prints the edit of the component.
    const c = capture();
    const d = await bump({ cwd: f.work, envVars: f.envVars, app: 'web', env: 'dev', image: `${WEB}:1.3.0@${D_PROD}`, dryRun: true, log: c.log, write: c.write });
    assert.equal(d.status, 'dry-run');
    assert.ok(c.out.join('\n').includes(`+    newTag: "1.3.0@${D_PROD}" # dev`), c.out.join('\n'));
    // A dry run shows the edit even when validation would block it, then fails saying so.
    const blocked = capture();
    const refs = await f.remoteRefs();
    await assert.rejects(
      bump({ cwd: f.work, envVars: f.envVars, app: 'web', env: 'dev', image: `${WEB}:latest`, resolve: false, dryRun: true, log: blocked.log, write: blocked.write }),
      (e: unknown) => e instanceof FindingsError && /validation of overlays\/minikube\/demo\/web failed with 1 error after the bump; a real run would stop here/.test(e.message),
    );
    const out = blocked.out.join('\n');
    assert.ok(out.includes(`-    newTag: "1.1.0@${D_DEV}" # dev\n+    newTag: "latest" # dev`), out);
    assert.match(out, /validation would block this bump:\n[^]*no-latest-image/);
    assert.deepEqual(await f.remoteRefs(), refs);
    // The api component pins dev and prod alike.
    await assert.rejects(bump({ ...quiet(f), app: 'api', env: 'prod', image: `${API}:2.1.0@${D_DEV}` }), (e: unknown) => e instanceof UsageError && /overlays\/components\/api-release\/kustomization\.yaml:5 \(images entry registry\.example\.com\/demo-api\) sets registry\.example\.com\/demo-api for demo\/api in prod, and other environments use that file too: overlays\/minikube\/demo\/api \(dev\)/.test(e.message));
  });

  test('promotesFrom: [dev, hotfix] needs --from, with the choices; --from hotfix promotes what hotfix renders', T, async () => {
    const files = componentPinnedRepo();
    files['gitops.yaml'] = GITOPS_YAML.replace('  - name: prod\n', '  - name: hotfix\n    cluster: minikube\n    overlayRoot: overlays/hotfix\n  - name: prod\n').replace('promotesFrom: dev\n', 'promotesFrom: [dev, hotfix]\n');
    files['overlays/hotfix/demo/web/kustomization.yaml'] = files['overlays/minikube/demo/web/kustomization.yaml']!.replace('dev-release', 'hotfix-release');
    files['overlays/components/hotfix-release/kustomization.yaml'] = files['overlays/components/prod-release/kustomization.yaml']!.replace(`1.0.0@${D_PROD}`, `1.0.1@${D_API}`);
    fx = await startReleaseFixture({ files });
    const f = fx;
    await assert.rejects(promote({ ...quiet(f), app: 'web', env: 'prod' }), (e: unknown) => e instanceof NameError && /'prod' promotes from several environments; choose one with --from\n {2}candidates: dev, hotfix/.test(e.message));
    const r = await promote({ ...quiet(f), app: 'web', env: 'prod', from: 'hotfix', noPr: true });
    assert.equal(r.status, 'committed');
    assert.match(r.message ?? '', /^promote demo\/web hotfix -> prod: demo-web 1\.0\.1@sha256:333333333333/);
    assert.ok((await f.git(['show', `${r.branch}:overlays/components/prod-release/kustomization.yaml`])).includes(`newTag: "1.0.1@${D_API}" # prod`));
  });
});

describe('promote on four layouts', () => {
  /** Where each layout's prod pin of the promoted app lives, and the line that must read after promote. */
  const cases: Record<LayoutName, { app: string; file: string; expect: string; dev?: Record<string, string> }> = {
    repo: { app: 'demo/web', file: 'overlays/crianex/demo/web/kustomization.yaml', expect: `newTag: "1.1.0@${D_DEV}"` },
    flat: { app: 'shop', file: 'envs/prod/image-patch.yaml', expect: 'image: registry.example.com/shop:1.1.0' },
    'app-overlays': { app: 'api', file: 'components/prod-images/kustomization.yaml', expect: 'newTag: "2.1.0"' },
    yml: { app: 'store/catalog', file: 'deploy/prod/store/catalog/kustomization.yml', expect: 'newTag: "3.1.0"' },
  };
  for (const name of LAYOUTS) {
    test(name, T, async () => {
      const fixture = layoutFixture(name);
      const files = { ...fixture.files };
      // prod requires digests in this repository's layout: dev carries one, so no registry is needed.
      if (name === 'repo') for (const [k, v] of Object.entries(files)) if (k.startsWith('overlays/minikube/')) files[k] = v.replace(/newTag: "?1\.1\.0"?/, `newTag: "1.1.0@${D_DEV}"`);
      fx = await startReleaseFixture({ files });
      const f = fx;
      const want = cases[name];
      const before = await f.remoteFile('main', want.file);
      const r = await promote({ ...quiet(f), app: want.app, env: 'prod', noPr: true });
      assert.equal(r.status, 'committed', JSON.stringify(r));
      const changed = (await f.git(['diff', '--name-only', `main..${r.branch}`])).trim();
      assert.equal(changed, want.file);
      const lines = changedLines(before, await f.git(['show', `${r.branch}:${want.file}`]));
      assert.equal(lines.length, 2, lines.join('\n'));
      assert.ok(lines[1]!.trim().endsWith(want.expect) || lines[1]!.includes(want.expect), lines.join('\n'));
    });
  }
});
