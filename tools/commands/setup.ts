import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../lib/exec.js';
import { ToolMissingError } from '../lib/errors.js';
import { isExecutable, readPins, toolsDir } from '../lib/tools.js';

export interface SetupOptions {
  cwd: string;
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
}
