// Hostile input, round two (issue 20): what a pull request decides about its own validation.
// `--changed-only` selects by the renderer's record and fails closed where there is none, and
// counts files Argo CD's repo-server code renders (plain, Helm, jsonnet Applications); the
// schema locations and the CRD sources the change is judged by are the base revision's. Each
// test fails on the code before the fix.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { argoFixture, REPO_URL } from './argocd-fixture.js';
import { commitAll, gitInit, writeFiles } from './fixtures.js';
import { baseFiles, GITOPS_YAML, makeRepo, overlay, removeRepo, testEnv } from './repo-fixture.js';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function repoWith(files: Record<string, string>): Promise<{ repo: string; base: string }> {
  const repo = await makeRepo(files);
  cleanups.push(() => removeRepo(repo));
  return { repo, base: gitInit(repo, 'main') };
}

const show = (fs: Array<{ rule: string; overlay: string; message: string }>) => fs.map((f) => `${f.rule} ${f.overlay} ${f.message}`).join('\n');

describe('--changed-only selects by what renders read, and fails closed', () => {
  test('a change to a plain-directory Application (rendered by Argo CD\'s repo-server code) is validated, not "nothing to validate"', { timeout: 180_000 }, async () => {
    const { runValidation } = await import('../lib/validate/validation.js');
    const { repo, base } = await repoWith(argoFixture());
    // A ConfigMap value that is not a string: the schema check must see it.
    await writeFiles(repo, { 'plain/top.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: top\ndata:\n  a: 1\n' });
    commitAll(repo, 'the pull request');
    const r = await runValidation({ cwd: repo, envVars: { ...testEnv, GITOPS_NO_CACHE: '1' }, base, changedOnly: true });
    assert.ok(!r.findings.some((f) => f.rule === 'nothing-changed'), show(r.findings));
    assert.ok(r.findings.some((f) => f.severity === 'error' && /top/.test(`${f.resource} ${f.message}`) && /data|string/i.test(f.message)), show(r.findings));
  });

  test('the repository files an Application reads: its source path and the value files of a $ref source (not another repository\'s)', async () => {
    const { appSourceFiles } = await import('../lib/argocd/clusterapps.js');
    const app = {
      sources: [
        { repoURL: REPO_URL, path: './charts/tiny/', helm: { valueFiles: ['values.yaml', '$values/values/tiny-dev.yaml', '$other/values/x.yaml'] } },
        { repoURL: `${REPO_URL.replace(/\.git$/, '')}/`, ref: 'values' },
        { repoURL: 'https://elsewhere.example.com/x.git', ref: 'other', path: 'values' },
      ],
    };
    const files = ['charts/tiny/Chart.yaml', 'charts/tiny/values.yaml', 'values/tiny-dev.yaml', 'values/x.yaml', 'values/unrelated.yaml'];
    assert.deepEqual((await appSourceFiles(app as never, REPO_URL, { root: '/nonexistent', files })).sort(), ['charts/tiny/Chart.yaml', 'charts/tiny/values.yaml', 'values/tiny-dev.yaml']);
  });

  test('without the renderer\'s record (GITOPS_NO_RENDERER) a change no closure names still validates every target; with it, nothing is selected', { timeout: 180_000 }, async () => {
    const { runValidation } = await import('../lib/validate/validation.js');
    const { repo, base } = await repoWith(baseFiles());
    await writeFiles(repo, { 'notes.txt': 'a file no kustomization names\n' });
    commitAll(repo, 'the pull request');
    // Blind first: a render cache entry the renderer verified for the same inputs would vouch for the closure.
    const blind = await runValidation({ cwd: repo, envVars: { ...testEnv, GITOPS_NO_CACHE: '1', GITOPS_NO_RENDERER: '1' }, base, changedOnly: true });
    assert.ok(!blind.findings.some((f) => f.rule === 'nothing-changed'), show(blind.findings));
    const recorded = await runValidation({ cwd: repo, envVars: { ...testEnv, GITOPS_NO_CACHE: '1' }, base, changedOnly: true });
    assert.ok(recorded.findings.some((f) => f.rule === 'nothing-changed'), show(recorded.findings));
    assert.deepEqual(blind.targets.map((t) => t.dir).sort(), ['overlays/crianex/demo/web', 'overlays/minikube/demo/web']);
  });
});

describe('the rules a change is judged by come from the base revision', () => {
  test('schemas.locations in the pull request\'s gitops.yaml is not used against the base: its schema host gets no request', { timeout: 180_000 }, async () => {
    const { runValidation } = await import('../lib/validate/validation.js');
    const seen: string[] = [];
    // A permissive schema for anything: what a hostile location would serve.
    const srv = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => srv.close(() => r())));
    const port = (srv.address() as AddressInfo).port;
    const { repo, base } = await repoWith(baseFiles());
    await writeFiles(repo, {
      'gitops.yaml': `${GITOPS_YAML}schemas:\n  locations:\n    - http://127.0.0.1:${port}/{{.Group}}/{{.ResourceKind}}.json\n`,
      'overlays/minikube/demo/web/widget.yaml': 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  anything: goes\n',
      'overlays/minikube/demo/web/kustomization.yaml': overlay('demo', 'newTag: "1.0.0"').replace('  - ../../../../apps/demo/web\n', '  - ../../../../apps/demo/web\n  - widget.yaml\n'),
    });
    commitAll(repo, 'the pull request');
    const r = await runValidation({ cwd: repo, envVars: { ...testEnv, GITOPS_NO_CACHE: '1' }, base, changedOnly: true, env: 'dev' });
    assert.deepEqual(seen, [], 'kubeconform fetched a schema from the pull request\'s own location');
    assert.ok(r.findings.some((f) => f.rule === 'untrusted-setting' && /schemas\.locations/.test(f.message)), show(r.findings));
    assert.ok(r.findings.some((f) => /Widget/.test(`${f.resource} ${f.message}`)), show(r.findings));
    // Without a base (a run on the default branch), the file's own locations are used.
    await runValidation({ cwd: repo, envVars: { ...testEnv, GITOPS_NO_CACHE: '1' }, env: 'dev' });
    assert.ok(seen.length > 0, 'the configured location is used outside a pull request');
  });

  test('CRD set urls the pull request writes are not fetched: the base\'s urls, the known upstream, or a clear refusal', async () => {
    const { trustRenderSettings } = await import('../lib/render/changes.js');
    const { loadConfig } = await import('../lib/config/config.js');
    const { crdUrls, CrdError } = await import('../lib/server/crds.js');
    const crds = (sets: string) => `clusters:\n  minikube:\n    apiServer:\n      crds:\n${sets}`;
    const { repo, base } = await repoWith({
      ...baseFiles(),
      'gitops.yaml': `${GITOPS_YAML}${crds('        - name: cert-manager\n          version: v1.16.2\n        - name: mine\n          version: v1.0.0\n          urls: [https://crds.example.com/mine.yaml]\n')}`,
    });
    await writeFiles(repo, {
      'gitops.yaml': `${GITOPS_YAML}${crds([
        '        - name: cert-manager\n          version: v1.16.2\n          urls: [https://evil.example.com/cm.yaml]\n',
        '        - name: mine\n          version: v1.0.0\n          urls: [https://evil.example.com/mine.yaml]\n',
        '        - name: new-one\n          version: v1.0.0\n          urls: [https://evil.example.com/new.yaml]\n',
      ].join(''))}`,
    });
    const config = await loadConfig(repo, testEnv);
    const notes = await trustRenderSettings(config, base, testEnv);
    const sets = config.apiServers.minikube!.crds;
    assert.ok(crdUrls(sets[0]!).every((u) => u.startsWith('https://raw.githubusercontent.com/cert-manager/')), crdUrls(sets[0]!).join(' '));
    assert.deepEqual(crdUrls(sets[1]!), ['https://crds.example.com/mine.yaml']);
    assert.throws(() => crdUrls(sets[2]!), (e: unknown) => e instanceof CrdError && /new-one/.test(e.message) && /change under validation/.test(e.message));
    assert.equal(notes.filter((n) => /apiServer\.crds/.test(n)).length, 3, notes.join('\n'));
  });
});
