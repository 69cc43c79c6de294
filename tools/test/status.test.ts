// status: every app by environment, what waits for promotion, which environments differ (text and JSON).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { collectStatus, status, type StatusReport } from '../commands/status.js';
import { REPO_ROOT } from '../lib/tools.js';

const D1 = `sha256:${'0123456789ab'.repeat(5)}cdef`;
const D2 = `sha256:${'f'.repeat(64)}`;

describe('status', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'status-test-'));
    for (const p of ['gitops.yaml', 'apps', 'overlays', 'clusters']) await cp(path.join(REPO_ROOT, p), path.join(dir, p), { recursive: true });
    const edit = async (file: string, from: string, to: string) => {
      const p = path.join(dir, file);
      await writeFile(p, (await readFile(p, 'utf8')).replace(from, to));
    };
    // nofluxo/backend: dev runs 1.1.0@D1, prod 1.0.0 -> waiting. ai-agent: same digest, different tags -> in sync.
    await edit('overlays/minikube/nofluxo/backend/kustomization.yaml', 'newTag: "1.0.0"', `newTag: "1.1.0@${D1}"`);
    await edit('overlays/minikube/nofluxo/ai-agent/kustomization.yaml', 'newTag: "1.0.0"', `newTag: "1.0.0@${D2}"`);
    await edit('overlays/crianex/nofluxo/ai-agent/kustomization.yaml', 'newTag: "1.0.0"', `newTag: "1.0.0-prod@${D2}"`);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('text: a row per app and image, tag and 12-hex digest per environment, waiting promotions, differing environments', async () => {
    const out: string[] = [];
    await status({ cwd: dir, write: (t) => out.push(t) });
    const text = out.join('\n');
    const lines = text.split('\n');
    assert.match(lines[0]!, /^APP\s+IMAGE\s+dev\s+prod\s+STATUS$/);
    assert.match(text, new RegExp(`^nofluxo/backend\\s+nofluxo-backend\\s+1\\.1\\.0 @${D1.slice(7, 19)}\\s+1\\.0\\.0\\s+dev -> prod waiting$`, 'm'));
    assert.match(text, new RegExp(`^nofluxo/ai-agent\\s+nofluxo-ai-agent\\s+1\\.0\\.0 @ffffffffffff\\s+1\\.0\\.0-prod @ffffffffffff\\s+in sync$`, 'm'));
    assert.match(text, /^taskflow\/backend\s+taskflow-backend\s+1\.0\.0\s+-\s+only dev$/m);
    assert.match(text, /^automation\/worker\s+docker\s+27-dind\s+27-dind\s+in sync\n\s+automation-worker\s+1\.0\.0\s+1\.0\.0$/m);
    assert.match(text, /^waiting to be promoted: nofluxo\/backend \(dev -> prod\)$/m);
    assert.match(text, /^dev vs prod: 1 app differ \(nofluxo\/backend\)$/m);
  });

  test('json: the same model, machine-readable', async () => {
    const { stdout } = await promisify(execFile)('npx', ['tsx', 'tools/cli.ts', 'status', '--format', 'json', '--cwd', dir], { cwd: REPO_ROOT, timeout: 60_000 });
    const r = JSON.parse(stdout) as StatusReport;
    assert.deepEqual(r.environments, [
      { name: 'dev', requireDigests: false },
      { name: 'prod', promotesFrom: 'dev', requireDigests: true },
    ]);
    const backend = r.apps.find((a) => a.id === 'nofluxo/backend')!;
    assert.deepEqual(backend.images['registry.kubernetes.crianex.com/nofluxo-backend'], {
      dev: { tag: '1.1.0', digest: D1, short: D1.slice(7, 19) },
      prod: { tag: '1.0.0' },
    });
    assert.deepEqual(backend.pending, [{ from: 'dev', to: 'prod', images: ['registry.kubernetes.crianex.com/nofluxo-backend'] }]);
    assert.equal(backend.differs, true);
    assert.deepEqual(r.pending, [{ app: 'nofluxo/backend', from: 'dev', to: 'prod', images: ['registry.kubernetes.crianex.com/nofluxo-backend'] }]);
    assert.deepEqual(r.differences, [{ envs: ['dev', 'prod'], apps: ['nofluxo/backend'] }]);
    assert.deepEqual(r.apps.find((a) => a.id === 'todo-chatbot/backend')!.deployedTo, ['dev']);
    assert.equal(r.apps.length, 12);
  });

  test('an unknown --format is a usage error; a malformed overlay names the file', async () => {
    const fail = await promisify(execFile)('npx', ['tsx', 'tools/cli.ts', 'status', '--format', 'yaml', '--cwd', dir], { cwd: REPO_ROOT, timeout: 60_000 }).then(
      () => assert.fail('expected a failure'),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(fail.code, 2);
    assert.match(fail.stderr, /--format must be one of text, json/);
    const broken = await mkdtemp(path.join(os.tmpdir(), 'status-broken-'));
    try {
      await cp(dir, broken, { recursive: true });
      await writeFile(path.join(broken, 'overlays/crianex/nofluxo/backend/kustomization.yaml'), 'images: {oops: 1}\n');
      await assert.rejects(collectStatus(broken), /overlays\/crianex\/nofluxo\/backend\/kustomization\.yaml: images: must be a list/);
    } finally {
      await rm(broken, { recursive: true, force: true });
    }
  });
});
