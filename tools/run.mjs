#!/usr/bin/env node
// What the npm scripts run: the compiled toolkit (dist/, built by `npm run setup` and on
// `npm ci`) while it is at least as new as every TypeScript source, else the sources through
// tsx. Start-up then costs a plain Node start instead of compiling TypeScript on every run.
//   node tools/run.mjs <command> [args]     run a command
//   node tools/run.mjs --build              compile to dist/ (tsc -p tsconfig.build.json)
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stampFile = path.join(root, 'dist', '.sources-stamp');

/** Newest modification time of the inputs of the build (sources, configs, JSON imports). */
function sourcesStamp() {
  let newest = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        // (tools/renovate/node_modules alone holds 12,000 files: not inputs of the build)
        if (!['test', 'bench', 'go', 'node_modules'].includes(e.name)) walk(p);
      } else if (/\.(ts|json)$/.test(e.name)) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(path.join(root, 'tools'));
  for (const f of ['tsconfig.json', 'tsconfig.build.json', 'package.json']) newest = Math.max(newest, statSync(path.join(root, f)).mtimeMs);
  return String(newest);
}

function fresh() {
  try {
    return readFileSync(stampFile, 'utf8') === sourcesStamp();
  } catch {
    return false;
  }
}

if (process.argv[2] === '--build') {
  const stamp = sourcesStamp();
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) {
    // Installed without dev dependencies: the scripts run the sources through tsx instead.
    process.stderr.write('typescript is not installed: not compiling the toolkit (the npm scripts run it through tsx)\n');
    process.exit(0);
  }
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  // gitops.yaml's schema as standalone validation code (lib/config/precompile.ts): no compile at start.
  const { writePrecompiled } = await import(pathToFileURL(path.join(root, 'dist', 'tools', 'lib', 'config', 'precompile.js')).href);
  writePrecompiled(path.join(root, 'dist', 'tools', 'lib', 'config'));
  writeFileSync(stampFile, stamp);
  process.exit(0);
}

let cli;
if (!process.env.GITOPS_NO_DIST && fresh()) {
  cli = await import(pathToFileURL(path.join(root, 'dist', 'tools', 'cli.js')).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(pathToFileURL(path.join(root, 'tools', 'cli.ts')).href);
}
await cli.runAsEntryPoint(process.argv.slice(2));
