import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../lib/exec.js';
import { ToolMissingError } from '../lib/errors.js';
import { isExecutable, readPins, toolsDir } from '../lib/tools.js';

export interface SetupOptions {
  cwd: string;
  /** Also install the Debian packages the tests run for real (registry, skopeo). */
  testDeps?: boolean;
  log?: (line: string) => void;
  envVars?: NodeJS.ProcessEnv;
}

const MODULES = {
  kustomize: (v: string) => `sigs.k8s.io/kustomize/kustomize/v5@${v}`,
  kubeconform: (v: string) => `github.com/yannh/kubeconform/cmd/kubeconform@${v}`,
};

/** Version a Go binary was built from (`go version -m`), so a stale install is replaced. */
async function builtVersion(bin: string): Promise<string | undefined> {
  const { stdout, code } = await run('go', ['version', '-m', bin], { allowFailure: true });
  if (code !== 0) return undefined;
  return /^\s+mod\s+\S+\s+(v\S+)/m.exec(stdout)?.[1];
}

/** Debian packages the release-command tests need (pinned to the versions they were written against). */
const TEST_PACKAGES: Array<{ bin: string; pkg: string; version: string }> = [
  { bin: 'docker-registry', pkg: 'docker-registry', version: '2.8.2+ds1-1' },
  { bin: 'skopeo', pkg: 'skopeo', version: '1.9.3+ds1-1+b10' },
];

async function onPath(bin: string): Promise<boolean> {
  const { code } = await run('sh', ['-c', 'command -v "$0"', bin], { allowFailure: true });
  return code === 0;
}

async function installTestPackages(log: (l: string) => void): Promise<void> {
  const missing = [];
  for (const p of TEST_PACKAGES) if (!(await onPath(p.bin))) missing.push(p);
  if (!missing.length) return log(`test packages: ${TEST_PACKAGES.map((p) => p.pkg).join(', ')} already installed`);
  const cmd = `apt-get install -y ${missing.map((p) => `${p.pkg}=${p.version}`).join(' ')}`;
  if (process.getuid?.() !== 0) throw new ToolMissingError(`missing test packages: ${missing.map((p) => p.pkg).join(', ')}`, `run as root: apt-get update && ${cmd}`);
  log(`test packages: ${cmd}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update', '-qq'], { env, timeoutMs: 600_000 });
  const pinned = await run('apt-get', ['install', '-y', '-qq', ...missing.map((p) => `${p.pkg}=${p.version}`)], { env, allowFailure: true, timeoutMs: 900_000 });
  if (pinned.code !== 0) {
    // Debian may have replaced the exact build (a security update); the tests need the tools, not the build.
    log(`warning: pinned versions unavailable (${pinned.stderr.trim().split('\n').pop()}); installing the current ones`);
    await run('apt-get', ['install', '-y', '-qq', ...missing.map((p) => p.pkg)], { env, timeoutMs: 900_000 });
  }
}

/** Installs the pinned kustomize and kubeconform into .tools/bin with `go install`. Idempotent. */
export async function setup(opts: SetupOptions): Promise<void> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const env = opts.envVars ?? process.env;
  const pins = await readPins();
  const dir = toolsDir(env);
  await mkdir(dir, { recursive: true });
  const wanted: Array<[keyof typeof MODULES, string]> = [
    ['kustomize', pins.kustomizeVersion],
    ['kubeconform', pins.kubeconformVersion],
  ];
  for (const [name, version] of wanted) {
    const bin = path.join(dir, name);
    if ((await isExecutable(bin)) && (await builtVersion(bin)) === version) {
      log(`${name} ${version}: already installed`);
      continue;
    }
    log(`${name} ${version}: go install ${MODULES[name](version)}`);
    try {
      await run('go', ['install', MODULES[name](version)], { env: { ...env, GOBIN: dir, GOFLAGS: '-mod=mod' }, timeoutMs: 900_000 });
    } catch (e) {
      if (e instanceof ToolMissingError) throw new ToolMissingError('go: not found', `install Go (1.22+) to build the pinned ${name}, or put a ${name} ${version} binary at ${bin}`);
      throw e;
    }
  }
  if (opts.testDeps) await installTestPackages(log);
}
