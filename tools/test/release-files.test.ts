// Releases beyond images: gitops.yaml promotion.files names files of the overlay folder that are
// part of a release (a settings file with its version). status compares them, promote copies them
// whole (it said "nothing to change" before), rollback restores them, diff names them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { collectStatus } from '../commands/status.js';
import { promote } from '../commands/promote.js';
import { rollback } from '../commands/rollback.js';
import { parseConfig } from '../lib/config/config.js';
import { ConfigError } from '../lib/core/errors.js';
import { capture, finishFixture, startReleaseFixture } from './release-fixture.js';
import { BASE_KUSTOMIZATION, DEPLOYMENT, GITOPS_YAML, baseFiles, makeRepo, removeRepo, testEnv } from './repo-fixture.js';
import { formatDiffText, formatMarkdown, renderedDiff } from '../lib/report/diff.js';
import { gitInit, writeFiles } from './fixtures.js';

const D = `sha256:${'5'.repeat(64)}`;
const T = { timeout: 240_000 };
const CFG = `${GITOPS_YAML}promotion:\n  files: [settings.yaml]\n`;
const overlay = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: demo
resources:
  - ../../../../apps/demo/web
configMapGenerator:
  - name: web-settings
    files: [settings.yaml]
images:
  - name: registry.example.com/demo-web
    newTag: "1.0.0@${D}"
`;
const V1 = '# web settings, released with the app\nversion: 1\nfeature: off\n';
const V2 = '# web settings, released with the app\nversion: 2\nfeature: on\n';
const DEV = 'overlays/minikube/demo/web';
const PROD = 'overlays/crianex/demo/web';

describe('release files (promotion.files)', () => {
  test('status shows them per environment, promote copies the file whole, rollback restores it', T, async () => {
    const f = await startReleaseFixture({
      files: {
        'gitops.yaml': CFG,
        'apps/demo/web/kustomization.yaml': BASE_KUSTOMIZATION,
        'apps/demo/web/deployment.yaml': DEPLOYMENT,
        [`${DEV}/kustomization.yaml`]: overlay,
        [`${DEV}/settings.yaml`]: V2,
        [`${PROD}/kustomization.yaml`]: overlay,
        [`${PROD}/settings.yaml`]: V1,
      },
    });
    try {
      const st = await collectStatus(f.work, f.envVars, { lookup: false });
      const web = st.apps.find((a) => a.id === 'demo/web')!;
      assert.deepEqual(Object.keys(web.files), ['settings.yaml']);
      assert.equal(web.files['settings.yaml']!.dev!.file, `${DEV}/settings.yaml`);
      assert.notEqual(web.files['settings.yaml']!.dev!.sha256, web.files['settings.yaml']!.prod!.sha256);
      // Files carry no version: a difference in them alone is "differs", never "waiting".
      assert.deepEqual(web.relations.map((r) => [r.from, r.to, r.state, r.items.filter((i) => i.relation !== 'same').map((i) => `${i.kind} ${i.name}`)]), [['dev', 'prod', 'differs', ['file settings.yaml']]]);
      assert.deepEqual(st.differences, [{ envs: ['dev', 'prod'], apps: ['demo/web'] }]);

      const c = capture();
      const r = await promote({ cwd: f.work, app: 'demo/web', env: 'prod', envVars: f.envVars, log: c.log, write: c.write });
      assert.equal(r.status, 'pr-opened', c.out.join('\n'));
      assert.equal(await f.remoteFile(r.branch, `${PROD}/settings.yaml`), V2);
      assert.equal((await f.remoteGit(['diff', '--name-only', `main..${r.branch}`])).trim(), `${PROD}/settings.yaml`);
      assert.deepEqual(r.changes?.map((x) => x.what), ['file settings.yaml']);
      assert.match(f.api.state.pulls[0]!.body ?? '', /`file settings\.yaml`/);

      // Merged; then rolled back: the file as it was before comes back.
      await f.pushToMain({ [`${PROD}/settings.yaml`]: V2 }, 'promote settings v2 to prod');
      await f.pull();
      const rb = await rollback({ cwd: f.work, app: 'demo/web', env: 'prod', envVars: f.envVars, log: () => {}, write: () => {} });
      assert.equal(rb.status, 'pr-opened');
      assert.equal(await f.remoteFile(rb.branch, `${PROD}/settings.yaml`), V1);
      assert.deepEqual(rb.changes?.map((x) => x.what), ['file settings.yaml']);
    } finally {
      await finishFixture(f);
    }
  });

  test('diff names a changed release file, also one the render does not read', async () => {
    const dir = await makeRepo({ ...baseFiles(), 'gitops.yaml': `${GITOPS_YAML}promotion:\n  files: [release-notes.md]\n`, 'overlays/crianex/demo/web/release-notes.md': 'v1\n' });
    try {
      gitInit(dir, 'v1');
      await writeFiles(dir, { 'overlays/crianex/demo/web/release-notes.md': 'v2\n', 'overlays/minikube/demo/web/release-notes.md': 'v2\n' });
      const d = await renderedDiff({ cwd: dir, base: 'HEAD', envVars: testEnv });
      assert.deepEqual(d.overlays.map((o) => [o.overlay, o.objects.length, o.releaseFiles]), [
        ['overlays/crianex/demo/web', 0, [{ file: 'release-notes.md', change: 'changed' }]],
        ['overlays/minikube/demo/web', 0, [{ file: 'release-notes.md', change: 'added' }]],
      ]);
      assert.match(formatDiffText(d), /^overlays\/crianex\/demo\/web \(demo\/web in prod\)\n {2}~ release file release-notes\.md$/m);
      assert.match(formatMarkdown(d), /```diff\n! release file release-notes\.md\n```/);
    } finally {
      await removeRepo(dir);
    }
  });

  test('a release file path that leaves the overlay folder is a config error', () => {
    assert.throws(() => parseConfig('/tmp/x', `${GITOPS_YAML}promotion:\n  files: [../secrets.env]\n`, {}), (e: unknown) => e instanceof ConfigError && /promotion\.files\.0/.test(e.message));
    assert.deepEqual(parseConfig('/tmp/x', CFG, {}).releaseFiles, ['settings.yaml']);
  });
});
