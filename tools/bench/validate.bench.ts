// Speed figures for the main job. Prints numbers; asserts nothing (targets live here, not in tests).
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { runValidation } from '../lib/validate/validation.js';
import { renderedDiff } from '../lib/report/diff.js';
import { loadConfig } from '../lib/config/config.js';
import { discoverApps } from '../lib/config/apps.js';
import { kustomizeBuild } from '../lib/render/kustomize.js';
import { findApiServer, findKubeconform, findKustomize, REPO_ROOT } from '../lib/core/tools.js';
import { setup } from '../commands/setup.js';
import { coldSetup } from './setup.bench.js';
import { run } from '../lib/core/exec.js';

// Offline machines point GITOPS_SCHEMA_MIRROR at their mirror, as for `npm run validate`.
const env = { ...process.env };

async function time<T>(label: string, fn: () => Promise<T>, runs = 3): Promise<T> {
  let result!: T;
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    result = await fn();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  console.log(`${label.padEnd(48)} median ${ms[Math.floor(ms.length / 2)].toFixed(0).padStart(6)} ms   min ${ms[0].toFixed(0).padStart(6)} ms   (${runs} runs)`);
  return result;
}

const config = await loadConfig(REPO_ROOT, env);
const apps = await discoverApps(config);
const kustomize = await findKustomize(env);
const kubeconform = await findKubeconform(env);
console.log(`repository: ${apps.length} overlays; kustomize ${kustomize.cmd}; kubeconform ${kubeconform.cmd}`);
await time('kustomize build, one overlay', () => kustomizeBuild(kustomize, path.join(REPO_ROOT, apps[0].dir)), 10);
await time('kubectl kustomize, one overlay (fallback)', () => run('kubectl', ['kustomize', path.join(REPO_ROOT, apps[0].dir)]), 5);
process.env.GITOPS_NO_CACHE = '1';
await time('npm run validate, cold (no render cache)', () => runValidation({ cwd: REPO_ROOT, envVars: env }), 3);
delete process.env.GITOPS_NO_CACHE;
const r = await time('npm run validate, warm (render cache)', () => runValidation({ cwd: REPO_ROOT, envVars: env }), 5);
console.log(`  ${r.overlays} targets, ${r.objects} objects, ${r.findings.length} findings`);
await time('validate --app nofluxo/backend', () => runValidation({ cwd: REPO_ROOT, envVars: env, app: 'nofluxo/backend' }), 5);
await time('diff HEAD~1 vs working tree', () => renderedDiff({ cwd: REPO_ROOT, base: 'HEAD~1', envVars: env }), 3);

// The server part of a validate run: start (etcd + kube-apiserver), CRDs until Established, dry runs.
const api = await findApiServer(env);
if ('missing' in api) {
  console.log(`server dry run: skipped (${api.missing}; npm run setup builds it)`);
} else {
  // Cold: no outcome cached, the server prestarted while the repository renders (its start
  // overlaps; "start" is what was left of it to wait for). Warm: every outcome cached, no server.
  const ms = (n: number) => `${(n / 1000).toFixed(1)} s`;
  for (const [label, extra] of [['cold', { GITOPS_NO_CACHE: '1' }], ['warm', {}]] as const) {
    if (label === 'warm') await runValidation({ cwd: REPO_ROOT, envVars: env, server: 'local', warn: () => {} }); // fills the caches
    const t = performance.now();
    const s = await runValidation({ cwd: REPO_ROOT, envVars: { ...env, ...extra }, server: 'local', warn: () => {} });
    const total = performance.now() - t;
    console.log(`validate with server dry run, ${label} (${s.objects} objects)`.padEnd(48) + ` total ${ms(total)}: server start ${ms(s.server!.timings.startMs)}, CRDs ${ms(s.server!.timings.crdsMs)}, dry runs ${ms(s.server!.timings.dryRunMs)}`);
  }
}
const st = performance.now();
await setup({ cwd: REPO_ROOT, log: () => {} });
console.log(`npm run setup, warm (every build stamp current)`.padEnd(48) + ` ${((performance.now() - st) / 1000).toFixed(1)} s`);
if (process.env.BENCH_COLD_SETUP) {
  await coldSetup((l) => console.log(`setup, fresh machine: ${l}`));
} else {
  console.log('setup, fresh machine: BENCH_COLD_SETUP=1 npm run bench builds kube-apiserver and etcd with empty Go caches (minutes; README "Server-side dry run" has the figure)');
}
