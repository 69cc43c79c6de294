// Order, not difference: status says waiting only when the source is newer (semver, else the
// registry's build time of each digest), ahead when the target is newer, differs when no order can
// be told; promote refuses a downgrade unless --allow-downgrade.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { status } from '../commands/status.js';
import { promote } from '../commands/promote.js';
import { UsageError } from '../lib/core/errors.js';
import { compareReleases } from '../lib/release/order.js';
import { pushImage, startRegistry, type RegistryHandle } from './harness/registry.js';
import { baseFiles, makeRepo, overlay, removeRepo, testEnv } from './repo-fixture.js';
import { capture, digestOf, finishFixture, overlayFile, startReleaseFixture } from './release-fixture.js';

const D1 = digestOf('one');
const D2 = digestOf('two');
const DEV = 'overlays/minikube/demo/web/kustomization.yaml';
const PROD = 'overlays/crianex/demo/web/kustomization.yaml';
const WEB = 'registry.example.com/demo-web';

async function statusOf(dev: string, prod: string, opts: { registry?: boolean; envVars?: NodeJS.ProcessEnv } = {}) {
  const dir = await makeRepo({ ...baseFiles(), [DEV]: overlay('demo', dev), [PROD]: overlay('demo', prod) });
  try {
    const out: string[] = [];
    const r = await status({ cwd: dir, envVars: opts.envVars ?? testEnv, registry: opts.registry, write: (t) => out.push(t) });
    return { r, text: out.join('\n'), web: r.apps.find((a) => a.id === 'demo/web')! };
  } finally {
    await removeRepo(dir);
  }
}

describe('status orders releases', () => {
  test('dev 2.0.0, prod 3.0.0: prod is ahead of dev, nothing waits (it said "waiting" before)', async () => {
    const { r, text, web } = await statusOf(`newTag: "2.0.0@${D1}"`, `newTag: "3.0.0@${D2}"`, { registry: false });
    assert.deepEqual(r.pending, []);
    assert.deepEqual(web.relations.map((x) => [x.from, x.to, x.state]), [['dev', 'prod', 'ahead']]);
    assert.deepEqual(web.relations[0]!.items, [{ kind: 'image', name: WEB, from: `2.0.0@sha256:${D1.slice(7, 19)}`, to: `3.0.0@sha256:${D2.slice(7, 19)}`, relation: 'older', by: 'semver' }]);
    assert.match(text, /^demo\/web\s+demo-web\s+2\.0\.0 @\w{12}\s+3\.0\.0 @\w{12}\s+prod ahead of dev$/m);
    assert.match(text, /demo\/web dev -> prod demo-web: 2\.0\.0@sha256:\w{12} vs 3\.0\.0@sha256:\w{12} is older in dev \(prod is ahead; promote would downgrade\) by semantic version/);
    assert.match(text, /^nothing waiting to be promoted$/m);
  });

  test('dev v1.10.0, prod v1.9.0: semver, not string order, says dev -> prod waiting', async () => {
    const { r, web } = await statusOf(`newTag: "v1.10.0@${D1}"`, `newTag: "v1.9.0@${D2}"`, { registry: false });
    assert.deepEqual(r.pending, [{ app: 'demo/web', from: 'dev', to: 'prod', images: [WEB] }]);
    assert.equal(web.relations[0]!.state, 'waiting');
  });

  test('tags that are not semver and no registry to ask: "differs", never "waiting"', async () => {
    const { r, text, web } = await statusOf(`newTag: "main-4f2a@${D1}"`, `newTag: "main-9c1b@${D2}"`, { registry: false });
    assert.deepEqual(r.pending, []);
    assert.equal(web.relations[0]!.state, 'differs');
    assert.equal(web.relations[0]!.items[0]!.relation, 'unordered');
    assert.match(web.relations[0]!.items[0]!.why!, /not semver.*build times not looked up/);
    assert.match(text, /^demo\/web\s.*dev -> prod differs$/m);
    assert.ok(!/waiting/.test(text.split('\n').find((l) => l.startsWith('demo/web'))!));
  });

  test('compareReleases: the same version rebuilt is ordered by build time', async () => {
    const lookup = async (_n: string, d: string) => ({ created: d === D1 ? '2026-03-01T00:00:00Z' : '2026-01-01T00:00:00Z' });
    assert.deepEqual(await compareReleases(WEB, { tag: '1.0.0', digest: D1 }, { tag: '1.0.0', digest: D2 }, lookup), { relation: 'newer', by: 'created', why: 'built 2026-03-01T00:00:00Z vs 2026-01-01T00:00:00Z' });
    assert.equal((await compareReleases(WEB, { tag: '1.0.0', digest: D1 }, { tag: '1.0.0', digest: D1 })).relation, 'same');
    assert.equal((await compareReleases(WEB, { tag: 'latest' }, { tag: 'stable' }, lookup)).relation, 'unordered');
  });

  describe('build time from the registry (the OCI config blob\'s created)', () => {
    let registry: RegistryHandle;
    let regDir: string;
    let older: string;
    let newer: string;
    before(async () => {
      regDir = await mkdtemp(path.join(os.tmpdir(), 'order-registry-'));
      registry = await startRegistry({ dir: regDir, username: 'ci', password: 'pw' });
      older = (await pushImage(registry, { name: 'demo-web', tag: 'main-4f2a', created: '2026-01-01T10:00:00Z' })).digest;
      newer = (await pushImage(registry, { name: 'demo-web', tag: 'main-9c1b', created: '2026-02-01T10:00:00Z', asIndex: true })).digest;
    });
    after(async () => {
      await registry?.stop();
      if (regDir) await rm(regDir, { recursive: true, force: true });
    });
    const env = () => ({ ...testEnv, GITOPS_REGISTRY_HOST: registry.host, GITOPS_REGISTRY_USER: 'ci', GITOPS_REGISTRY_PASSWORD: 'pw' });
    const pin = (tag: string, d: string) => `newName: ${registry.host}/demo-web\n    newTag: "${tag}@${d}"`;

    test('dev built later than prod: dev -> prod waiting, by registry build time (an index resolved to its linux/amd64 image)', async () => {
      const { r, web, text } = await statusOf(pin('main-9c1b', newer), pin('main-4f2a', older), { envVars: env() });
      assert.deepEqual(r.pending.map((p) => [p.app, p.from, p.to]), [['demo/web', 'dev', 'prod']]);
      assert.deepEqual({ ...web.relations[0]!.items[0]!, why: undefined }, { kind: 'image', name: WEB, from: `main-9c1b@sha256:${newer.slice(7, 19)}`, to: `main-4f2a@sha256:${older.slice(7, 19)}`, relation: 'newer', by: 'created', why: undefined });
      assert.match(web.relations[0]!.items[0]!.why!, /built 2026-02-01T10:00:00Z vs 2026-01-01T10:00:00Z/);
      assert.match(text, /dev -> prod waiting$/m);
    });

    test('dev built earlier: prod ahead of dev; without credentials the registry refuses and it is "differs" with the reason', async () => {
      const { web } = await statusOf(pin('main-4f2a', older), pin('main-9c1b', newer), { envVars: env() });
      assert.equal(web.relations[0]!.state, 'ahead');
      const anon = await statusOf(pin('main-4f2a', older), pin('main-9c1b', newer));
      assert.equal(anon.web.relations[0]!.state, 'differs');
      assert.match(anon.web.relations[0]!.items[0]!.why!, /refused access|requires credentials/);
    });

  });
});

describe('promote refuses a downgrade', () => {
  const BACKEND_DEV = overlayFile('minikube', 'nofluxo/backend');
  const BACKEND_PROD = overlayFile('crianex', 'nofluxo/backend');
  test('dev 2.0.0 -> prod 3.0.0 is refused naming both versions; --allow-downgrade opens the PR and says so', { timeout: 180_000 }, async () => {
    const f = await startReleaseFixture();
    try {
      const dev = (await f.remoteFile('main', BACKEND_DEV)).replace('newTag: "1.0.0"', `newTag: "2.0.0@${D1}"`);
      const prod = (await f.remoteFile('main', BACKEND_PROD)).replace('newTag: "1.0.0"', `newTag: "3.0.0@${D2}"`);
      await f.pushToMain({ [BACKEND_DEV]: dev, [BACKEND_PROD]: prod }, 'dev 2.0.0, prod 3.0.0');
      const refs = await f.remoteRefs();
      const c = capture();
      await assert.rejects(promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', envVars: f.envVars, log: c.log, write: c.write }), (e: unknown) => {
        assert.ok(e instanceof UsageError, String(e));
        assert.match(e.message, /would downgrade it:\n {2}registry\.kubernetes\.crianex\.com\/nofluxo-backend: prod runs 3\.0\.0@sha256:\w{12}, dev has the older 2\.0\.0@sha256:\w{12} \(by semantic version\)/);
        assert.match(e.hint ?? '', /--allow-downgrade/);
        return true;
      });
      assert.deepEqual(await f.remoteRefs(), refs, 'nothing pushed');
      assert.deepEqual(f.api.requests, []);
      const r = await promote({ cwd: f.work, app: 'nofluxo/backend', env: 'prod', allowDowngrade: true, envVars: f.envVars, log: () => {}, write: () => {} });
      assert.equal(r.status, 'pr-opened');
      assert.match(await f.remoteFile(r.branch, BACKEND_PROD), new RegExp(`newTag: "2\\.0\\.0@${D1}"`));
      assert.match(f.api.state.pulls[0]!.body ?? '', /downgrade \(--allow-downgrade\): registry\.kubernetes\.crianex\.com\/nofluxo-backend: prod runs 3\.0\.0/);
      assert.match(await readFile(path.join(f.work, 'gitops.yaml'), 'utf8'), /environments:/);
    } finally {
      await finishFixture(f);
    }
  });
});
