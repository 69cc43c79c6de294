// The promotion board in a real browser (Debian's Chromium, headless): what waits, what is ahead,
// what differs, release files, health and the open release pull requests read through the DOM at a
// desktop and a phone width; no script and no request beyond the page itself; screenshots kept
// under .cache/board-test/ as test artifacts.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { promote } from '../commands/promote.js';
import { status } from '../commands/status.js';
import { REPO_ROOT } from '../lib/core/tools.js';
import { startBrowser, type BrowserHandle } from './harness/browser.js';
import { finishFixture, startReleaseFixture, type ReleaseFixture } from './release-fixture.js';
import { BASE_KUSTOMIZATION, DEPLOYMENT, GITOPS_YAML, testEnv } from './repo-fixture.js';

const OUT = path.join(REPO_ROOT, '.cache', 'board-test');
const T = { timeout: 240_000 };
const D = (c: string) => `sha256:${c.repeat(64)}`;
const NOW = new Date('2026-12-04T09:00:00Z');

const kustomization = (app: string, pin: string, extra = '') => `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: demo
resources:
  - ../../../../apps/demo/${app}
${extra}images:
  - name: registry.example.com/demo-${app}
    newTag: "${pin}"
`;

function files(): Record<string, string> {
  const out: Record<string, string> = { 'gitops.yaml': `${GITOPS_YAML}promotion:\n  files: [settings.yaml]\n` };
  for (const app of ['web', 'api', 'worker']) {
    out[`apps/demo/${app}/kustomization.yaml`] = BASE_KUSTOMIZATION.replace(/demo-web/g, `demo-${app}`);
    out[`apps/demo/${app}/deployment.yaml`] = DEPLOYMENT.replace(/demo-web/g, `demo-${app}`);
  }
  const settings = 'configMapGenerator:\n  - name: web-settings\n    files: [settings.yaml]\n';
  // web: dev is newer (waiting), with its settings file; api: prod is newer (ahead); worker: no order (differs).
  out['overlays/minikube/demo/web/kustomization.yaml'] = kustomization('web', `2.0.0@${D('1')}`, settings);
  out['overlays/minikube/demo/web/settings.yaml'] = 'version: 2\n';
  out['overlays/crianex/demo/web/kustomization.yaml'] = kustomization('web', `1.0.0@${D('2')}`, settings);
  out['overlays/crianex/demo/web/settings.yaml'] = 'version: 1\n';
  out['overlays/minikube/demo/api/kustomization.yaml'] = kustomization('api', `2.0.0@${D('3')}`);
  out['overlays/crianex/demo/api/kustomization.yaml'] = kustomization('api', `3.0.0@${D('4')}`);
  out['overlays/minikube/demo/worker/kustomization.yaml'] = kustomization('worker', `main-4f2a@${D('5')}`);
  out['overlays/crianex/demo/worker/kustomization.yaml'] = kustomization('worker', `main-9c1b@${D('6')}`);
  return out;
}

async function board(cwd: string, envVars: NodeJS.ProcessEnv, name: string, health?: Parameters<typeof status>[0]['health']): Promise<string> {
  const out: string[] = [];
  await status({ cwd, envVars, format: 'html', registry: false, now: NOW, health, write: (t) => out.push(t) });
  await mkdir(OUT, { recursive: true });
  const file = path.join(OUT, `${name}.html`);
  await writeFile(file, out.join('\n'));
  return file;
}

describe('promotion board in headless Chromium', () => {
  let browser: BrowserHandle;
  let fx: ReleaseFixture;
  let page: string;
  before(async () => {
    browser = await startBrowser();
    fx = await startReleaseFixture({ files: files() });
    // One open release pull request, opened by the tool itself.
    const r = await promote({ cwd: fx.work, app: 'demo/web', env: 'prod', envVars: fx.envVars, log: () => {}, write: () => {} });
    assert.equal(r.status, 'pr-opened');
    page = await board(fx.work, fx.envVars, 'board', { 'demo/web': { dev: { sync: 'Synced', health: 'Healthy', revision: 'abc123' }, prod: { sync: 'OutOfSync', health: 'Progressing' } } });
  });
  after(async () => {
    await browser?.close();
    await finishFixture(fx);
  });

  for (const width of [1280, 390]) {
    test(`reads through the DOM at ${width} px, fits the width, loads nothing else`, T, async () => {
      const { page: p, requests } = await browser.open(pathToFileURL(page).href, { width, height: 900 });
      try {
        assert.deepEqual(requests, [pathToFileURL(page).href], 'the page requests nothing but itself');
        assert.equal(await p.locator('script, link[href], img[src], iframe').count(), 0);
        const text = (sel: string) => p.locator(sel).innerText();
        const web = 'article[data-app="demo/web"]';
        assert.match(await text(`${web} .states`), /dev → prod waiting/);
        assert.match(await text(`${web} section[data-env="dev"]`), /demo-web\s+2\.0\.0\s+@111111111111/);
        assert.match(await text(`${web} section[data-env="prod"]`), /demo-web\s+1\.0\.0\s+@222222222222/);
        assert.match(await text(`${web} section[data-env="dev"]`), /settings\.yaml\s+[0-9a-f]{12}/);
        assert.match(await text(`${web} section[data-env="dev"] h4`), /Synced · Healthy/);
        assert.match(await text(`${web} section[data-env="prod"] h4`), /OutOfSync · Progressing/);
        assert.match(await text(`${web} .prs`), /#1 promote → prod/);
        const api = 'article[data-app="demo/api"]';
        assert.match(await text(`${api} .states`), /prod ahead of dev/);
        assert.match(await text(`${api} .details`), /older in dev: promoting would downgrade prod — by semantic version/);
        const worker = 'article[data-app="demo/worker"]';
        assert.match(await text(`${worker} .states`), /dev → prod differs/);
        assert.match(await text(`${worker} .details`), /cannot be ordered \(main-4f2a@sha256:555555555555 and main-9c1b@sha256:666666666666 are not semver/);
        assert.equal(await text('[data-stat="waiting"] b'), '1');
        assert.equal(await text('[data-stat="ahead (would downgrade)"] b'), '1');
        assert.equal(await text('[data-stat="differs"] b'), '1');
        assert.equal(await text('[data-stat="open release PRs"] b'), '1');
        const pr = p.locator('table a').first();
        assert.equal(await pr.innerText(), '#1');
        assert.match((await pr.getAttribute('href'))!, /^http:\/\/127\.0\.0\.1:\d+\/crianex\/gitops\/pull\/1$/);
        assert.match(await text('main'), /npm run promote demo\/web prod/);
        // Fits the viewport: no sideways scrolling; on a phone the pipeline stacks.
        const layout = await p.evaluate(() => ({
          scroll: document.documentElement.scrollWidth,
          inner: window.innerWidth,
          direction: getComputedStyle(document.querySelector('.pipeline')!).flexDirection,
        }));
        assert.ok(layout.scroll <= layout.inner, `page is ${layout.scroll} px wide in a ${layout.inner} px viewport`);
        assert.equal(layout.direction, width < 720 ? 'column' : 'row');
        await p.screenshot({ path: path.join(OUT, `board-${width}.png`), fullPage: true });
      } finally {
        await p.close();
      }
    });
  }

  test('the board of this repository: every app with its pipeline', T, async () => {
    const file = await board(REPO_ROOT, { ...testEnv, GITHUB_TOKEN: undefined, GH_TOKEN: undefined }, 'repository');
    for (const width of [1280, 390]) {
      const { page: p } = await browser.open(pathToFileURL(file).href, { width, height: 900 });
      try {
        const apps = await p.locator('article.app').evaluateAll((els) => els.map((e) => e.getAttribute('data-app')));
        assert.ok(apps.includes('nofluxo/backend') && apps.includes('todo-chatbot/frontend'), apps.join(', '));
        assert.equal(await p.locator('article[data-app="nofluxo/backend"] section.env').count(), 2);
        assert.match(await p.locator('article[data-app="taskflow/backend"] section[data-env="prod"]').innerText(), /not deployed/);
        const w = await p.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
        assert.ok(w[0]! <= w[1]!, `page is ${w[0]} px wide in a ${w[1]} px viewport`);
        await p.screenshot({ path: path.join(OUT, `repository-${width}.png`), fullPage: true });
      } finally {
        await p.close();
      }
    }
  });
});
