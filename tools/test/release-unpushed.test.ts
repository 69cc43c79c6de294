// Works before anything is pushed: a dry run uses the checkout's gitops.yaml (and says how it
// differs from origin's), diff and validate --new-only read a base revision without gitops.yaml
// with the current one (and say so), and kubernetes.version defaults to the pinned API server's.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { bump } from '../commands/bump.js';
import { diff } from '../commands/diff.js';
import { parseConfig } from '../lib/config/config.js';
import { ConfigError } from '../lib/core/errors.js';
import { renderedDiff } from '../lib/report/diff.js';
import { runValidation } from '../lib/validate/validation.js';
import { commitAll, gitInit, writeFiles } from './fixtures.js';
import { capture, finishFixture, startReleaseFixture } from './release-fixture.js';
import { baseFiles, makeRepo, removeRepo, testEnv, GITOPS_YAML } from './repo-fixture.js';

const T = { timeout: 240_000 };
const D = `sha256:${'4'.repeat(64)}`;
const withoutConfig = () => Object.fromEntries(Object.entries(baseFiles()).filter(([f]) => f !== 'gitops.yaml'));

describe('release commands before gitops.yaml is pushed', () => {
  test('--dry-run uses the local gitops.yaml and says origin does not have it; a real run says to push it first', T, async () => {
    const f = await startReleaseFixture({ files: withoutConfig() });
    try {
      await writeFile(path.join(f.work, 'gitops.yaml'), GITOPS_YAML);
      const c = capture();
      const r = await bump({ cwd: f.work, envVars: f.envVars, app: 'demo/web', env: 'dev', image: `registry.example.com/demo-web:1.1.0@${D}`, dryRun: true, log: c.log, write: c.write });
      assert.equal(r.status, 'dry-run');
      assert.ok(c.err.some((l) => /^note: using your checkout's gitops\.yaml, which origin\/main does not have yet \(a real run needs it pushed\)$/.test(l)), c.err.join('\n'));
      assert.ok(r.fileDiff?.includes(`+    newTag: "1.1.0@${D}"`), r.fileDiff);
      const refs = await f.remoteRefs();
      await assert.rejects(bump({ cwd: f.work, envVars: f.envVars, app: 'demo/web', env: 'dev', image: `registry.example.com/demo-web:1.1.0@${D}`, log: () => {}, write: () => {} }), (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.match(e.message, /^gitops\.yaml: not on origin\/main \([0-9a-f]{12}\)/);
        assert.match(e.hint ?? '', /commit and push gitops\.yaml first; --dry-run shows the change with your local gitops\.yaml/);
        return true;
      });
      assert.deepEqual(await f.remoteRefs(), refs);
      // A local gitops.yaml that differs from origin's: the dry run says so and uses the local one.
      await f.pushToMain({ 'gitops.yaml': GITOPS_YAML }, 'adopt the toolkit');
      await writeFile(path.join(f.work, 'gitops.yaml'), `${GITOPS_YAML}promotion:\n  labels: [release, tried-locally]\n`);
      const c2 = capture();
      await bump({ cwd: f.work, envVars: f.envVars, app: 'demo/web', env: 'dev', image: `registry.example.com/demo-web:1.1.0@${D}`, dryRun: true, log: c2.log, write: c2.write });
      assert.ok(c2.err.some((l) => /^note: using your checkout's gitops\.yaml, which differs from origin\/main's/.test(l)), c2.err.join('\n'));
    } finally {
      await finishFixture(f);
    }
  });
});

describe('a base revision without gitops.yaml', () => {
  const dirs: string[] = [];
  after(async () => Promise.all(dirs.map(removeRepo)));

  test('diff and validate --new-only read it with the current gitops.yaml and say so: only what changed is a change', async () => {
    const dir = await makeRepo(withoutConfig());
    dirs.push(dir);
    gitInit(dir, 'overlays before the toolkit');
    await writeFiles(dir, { 'gitops.yaml': GITOPS_YAML, 'overlays/minikube/demo/web/kustomization.yaml': baseFiles()['overlays/minikube/demo/web/kustomization.yaml']!.replace('newTag: "1.0.0"', 'newTag: "1.1.0"') });
    const d = await renderedDiff({ cwd: dir, base: 'HEAD', envVars: testEnv });
    assert.deepEqual(d.notes, ['the base revision has no gitops.yaml: it is read with the current gitops.yaml']);
    assert.deepEqual(d.overlays.map((o) => [o.overlay, o.objects.map((x) => `${x.change} ${x.resource} ${x.fields.map((f) => f.path).join(',')}`)]), [
      ['overlays/minikube/demo/web', ['changed Deployment/demo/demo-web spec.template.spec.containers[web].image']],
    ]);
    const out: string[] = [];
    await diff({ cwd: dir, base: 'HEAD', envVars: testEnv, write: (t) => out.push(t) });
    assert.match(out[0]!, /^note: the base revision has no gitops\.yaml: it is read with the current gitops\.yaml\n/);
    const v = await runValidation({ cwd: dir, envVars: testEnv, base: 'HEAD', newOnly: true, server: false });
    assert.ok(v.findings.some((x) => x.rule === 'baseline' && x.message === '--new-only: the base revision has no gitops.yaml: it is read with the current gitops.yaml'), JSON.stringify(v.findings));
    commitAll(dir, 'adopt');
  });
});

describe('kubernetes.version', () => {
  test('defaults to the pinned kube-apiserver\'s minor (tools/go/apiserver), not a fixed older one', () => {
    const cfg = parseConfig('/tmp/x', GITOPS_YAML.replace(/kubernetes:\n {2}version: .*\n/, ''), {});
    assert.equal(cfg.kubernetesVersion, '1.35.0');
    assert.equal(parseConfig('/tmp/x', GITOPS_YAML, {}).kubernetesVersion, '1.35.0');
  });

  test('validate with the server dry run passes on a repository that does not set it', T, async () => {
    const dir = await makeRepo({ ...baseFiles(), 'gitops.yaml': GITOPS_YAML.replace(/kubernetes:\n {2}version: .*\n/, '') });
    try {
      const v = await runValidation({ cwd: dir, envVars: testEnv, server: 'local' });
      assert.deepEqual(v.findings.filter((x) => x.severity === 'error').map((x) => `${x.rule} ${x.message}`), []);
    } finally {
      await removeRepo(dir);
    }
  });
});
