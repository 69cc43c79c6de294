// Fresh-machine cost of `npm run setup` for the API server: builds tools/go/apiserver's
// kube-apiserver and etcd with an empty module cache and build cache (temporary GOMODCACHE and
// GOCACHE, removed afterwards) exactly as setup does, and prints wall and CPU time.
// Slow (minutes of all cores): run it alone, e.g. `nice -n 10 npx tsx tools/bench/setup.bench.ts`.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { run } from '../lib/core/exec.js';
import { GO_TOOLS, GO_TOOLS_DIR, pinnedVersion } from '../lib/core/tools.js';

export async function coldSetup(log: (l: string) => void = console.log): Promise<void> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gitops-cold-setup-'));
  const env = { ...process.env, GOMODCACHE: path.join(tmp, 'mod'), GOCACHE: path.join(tmp, 'cache'), GOFLAGS: '-modcacherw', GOWORK: 'off' };
  try {
    for (const tool of GO_TOOLS.filter((t) => t.module === 'apiserver')) {
      const version = await pinnedVersion(tool);
      const [major, minor] = version.replace(/^v/, '').split('.');
      const stampFlags = tool.ldflags?.replaceAll('{version}', version).replaceAll('{major}', major).replaceAll('{minor}', minor);
      const out = path.join(tmp, tool.name);
      const t = performance.now();
      await new Promise<void>((resolve, reject) => {
        const child = spawn('go', ['build', '-trimpath', '-mod=readonly', `-ldflags=-s -w ${stampFlags ?? ''}`, '-o', out, tool.pkg], { cwd: path.join(GO_TOOLS_DIR, tool.module), env, stdio: 'inherit' });
        child.on('error', reject);
        child.on('exit', (code) => {
          if (code !== 0) reject(new Error(`go build ${tool.pkg} exited ${code}`));
          else resolve();
        });
      });
      const size = (await stat(out)).size;
      log(`cold build ${tool.name} ${version}: ${((performance.now() - t) / 1000).toFixed(0)} s wall, binary ${(size / 1e6).toFixed(0)} MB`);
    }
    const du = await run('du', ['-sm', env.GOMODCACHE, env.GOCACHE], { allowFailure: true });
    log(`caches: ${du.stdout.trim().split('\n').map((l) => l.replace(tmp + '/', '')).join(', ')} (MB)`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await coldSetup();
