// Findings do not depend on how a run is done: cold, warm (every cache hit), sharded across a
// job matrix and merged, or scoped to what changed or to one app, on a generated repository
// (tools/bench/synth.ts) with one injected error of each kind.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runValidation, shardTargets } from '../lib/validate/validation.js';
import { mergeReports } from '../commands/validate.js';
import { formatJson } from '../lib/report/report.js';
import { type Finding } from '../lib/core/finding.js';
import { FindingsError } from '../lib/core/errors.js';
import { synthFiles } from '../bench/synth.js';
import { gitInit, writeFiles } from './fixtures.js';
import { testEnv } from './repo-fixture.js';
import type { Target } from '../lib/render/rendered.js';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const key = (f: Finding) => JSON.stringify([f.overlay, f.file ?? '', f.line ?? 0, f.resource, f.rule, f.field ?? '', f.severity, f.message]);
const sorted = (fs: Finding[]) => fs.map(key).sort();

test('cold, warm, sharded and scoped runs report the same findings', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gitops-scale-'));
  dirs.push(dir);
  // The base revision is clean; the working tree injects the errors (what --changed-only sees).
  await writeFiles(dir, synthFiles({ apps: 12 }));
  gitInit(dir);
  await writeFiles(dir, synthFiles({ apps: 12, errors: true }));
  const cold = { ...testEnv, GITOPS_NO_CACHE: '1' };

  const full = await runValidation({ cwd: dir, envVars: cold });
  // (probes-set is a warning by default: gitops.yaml policies.severity raises it in this repository only)
  const rules = new Set(full.findings.filter((f) => f.severity !== 'info').map((f) => f.rule));
  for (const r of ['schema', 'probes-set', 'no-latest-image', 'ingress-backend', 'missing-file', 'yaml-syntax', 'argo-template', 'argo-unclaimed', 'argo-path']) assert.ok(rules.has(r), `injected ${r} is found (${[...rules].join(', ')})`);
  const argoTemplate = full.findings.find((f) => f.rule === 'argo-template')!;
  assert.equal(argoTemplate.overlay, 'clusters/prod');

  // Warm: the second and third runs take every outcome from the caches.
  const first = await runValidation({ cwd: dir, envVars: testEnv });
  const warm = await runValidation({ cwd: dir, envVars: testEnv });
  assert.deepEqual(sorted(first.findings), sorted(full.findings));
  assert.deepEqual(sorted(warm.findings), sorted(full.findings));
  assert.equal(warm.objects, full.objects);

  // Sharded: every target in exactly one shard; the merged reports are the full report.
  for (const count of [2, 3, 4]) {
    const parts = [];
    for (let i = 1; i <= count; i++) parts.push(await runValidation({ cwd: dir, envVars: cold, shard: { index: i, count } }));
    assert.deepEqual(parts.flatMap((p) => p.targets.map((t) => t.dir)).sort(), full.targets.map((t) => t.dir).sort(), `${count} shards cover every target once`);
    assert.deepEqual(sorted(parts.flatMap((p) => p.findings)), sorted(full.findings), `${count} shards`);
    if (count === 3) {
      const files = [];
      for (const [i, p] of parts.entries()) {
        const f = path.join(dir, `shard-${i + 1}.json`);
        await writeFile(f, formatJson(p.findings, { overlays: p.overlays, objects: p.objects }));
        files.push(f);
      }
      const out: string[] = [];
      await assert.rejects(mergeReports({ cwd: dir, files, format: 'json', write: (t) => out.push(t) }), FindingsError);
      const merged = JSON.parse(out.join('')) as { summary: { overlays: number; objects: number; error: number }; findings: Finding[] };
      assert.deepEqual(sorted(merged.findings), sorted(full.findings));
      assert.equal(merged.summary.overlays, full.overlays);
      assert.equal(merged.summary.objects, full.objects);
    }
  }

  // --changed-only: what a full run reports for the changed targets, including the generator
  // error filed under the unchanged cluster entry point about a changed overlay's file.
  for (const env of [cold, testEnv]) {
    const changed = await runValidation({ cwd: dir, envVars: env, changedOnly: true });
    const selected = new Set(changed.targets.map((t) => t.dir));
    assert.ok(selected.has('overlays/prod/sys000/svc05') && !selected.has('overlays/prod/sys000/svc00'));
    const about = (f: Finding) => [...selected].some((d) => f.message.includes(`${d}/`));
    const expected = full.findings.filter((f) => selected.has(f.overlay) || (f.overlay.startsWith('clusters/') && f.rule === 'argo-template' && about(f)));
    assert.deepEqual(sorted(changed.findings.filter((f) => f.rule !== 'immutable-field')), sorted(expected));
    assert.ok(changed.findings.some((f) => key(f) === key(argoTemplate)), 'the argo-template error under clusters/prod is reported');
  }

  // --app: the app's overlays, and the same generator error about its prod overlay.
  const app = await runValidation({ cwd: dir, envVars: testEnv, app: 'sys000/svc05' });
  assert.deepEqual(app.targets.map((t) => t.dir).sort(), ['overlays/devbox/sys000/svc05', 'overlays/prod/sys000/svc05', 'overlays/staging/sys000/svc05']);
  const expectedApp = full.findings.filter((f) => app.targets.some((t) => t.dir === f.overlay) || key(f) === key(argoTemplate));
  assert.deepEqual(sorted(app.findings), sorted(expectedApp));
});

test('shards split by whole clusters, largest first to the least loaded shard', () => {
  const t = (cluster: string, i: number): Target => ({ dir: `overlays/${cluster}/s/${i}`, cluster, kind: 'app' });
  const targets = [...Array.from({ length: 5 }, (_, i) => t('a', i)), ...Array.from({ length: 3 }, (_, i) => t('b', i)), ...Array.from({ length: 3 }, (_, i) => t('c', i))];
  const of = (i: number, n: number) => [...new Set(shardTargets(targets, { index: i, count: n }).map((x) => x.cluster))];
  assert.deepEqual([of(1, 2), of(2, 2)], [['a'], ['b', 'c']]);
  assert.deepEqual([of(1, 3), of(2, 3), of(3, 3)], [['a'], ['b'], ['c']]);
  assert.deepEqual(of(4, 4), []);
  assert.deepEqual(shardTargets(targets, { index: 1, count: 1 }), targets);
});

test('merging shard reports: a repository-level finding every shard reports is printed once', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gitops-merge-'));
  dirs.push(dir);
  const repoLevel: Finding = { severity: 'warning', rule: 'unknown-policy', overlay: '.', resource: '', file: 'gitops.yaml', message: "policies.severity names policy 'nope', which does not exist" };
  const own = (overlay: string): Finding => ({ severity: 'warning', rule: 'probes-set', overlay, resource: 'Deployment/a/web', message: 'no probes' });
  const files = [];
  for (const [i, f] of [own('overlays/a/web'), own('overlays/b/web')].entries()) {
    files.push(path.join(dir, `shard-${i + 1}.json`));
    await writeFile(files[i], formatJson([repoLevel, f], { overlays: 1, objects: 1 }));
  }
  const merged = await mergeReports({ cwd: dir, files, format: 'json', write: () => {} });
  assert.deepEqual(merged.findings.map((f) => f.overlay).sort(), ['.', 'overlays/a/web', 'overlays/b/web']);
  assert.equal(merged.overlays, 2);
});
