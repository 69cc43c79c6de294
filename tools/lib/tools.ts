// Locates the pinned binaries installed by `npm run setup` (or given by env vars).
import { access, readFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ToolMissingError } from './errors.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Pins {
  kustomizeVersion: string;
  kubeconformVersion: string;
}

export async function readPins(): Promise<Pins> {
  const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { config: Pins };
  return pkg.config;
}

/** Where `npm run setup` installs binaries (GITOPS_TOOLS_DIR overrides, e.g. in tests). */
export function toolsDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.GITOPS_TOOLS_DIR ? path.resolve(env.GITOPS_TOOLS_DIR) : path.join(REPO_ROOT, '.tools', 'bin');
}

export async function isExecutable(p: string): Promise<boolean> {
  return access(p, constants.X_OK).then(() => true, () => false);
}

/** A binary plus the leading arguments that select its sub-command. */
export interface Tool {
  cmd: string;
  args: string[];
  /** Shown once per run when the pinned binary is absent and a stand-in is used. */
  warning?: string;
}

export async function findKustomize(env: NodeJS.ProcessEnv = process.env): Promise<Tool> {
  if (env.GITOPS_KUSTOMIZE) return { cmd: env.GITOPS_KUSTOMIZE, args: ['build'] };
  const pinned = path.join(toolsDir(env), 'kustomize');
  if (await isExecutable(pinned)) return { cmd: pinned, args: ['build'] };
  const { kustomizeVersion } = await readPins();
  // kubectl embeds an older kustomize: renders may differ from what Argo CD renders.
  return {
    cmd: env.GITOPS_KUBECTL ?? 'kubectl',
    args: ['kustomize'],
    warning: `pinned kustomize ${kustomizeVersion} not found at ${pinned}; falling back to 'kubectl kustomize' (older embedded kustomize, renders may differ from Argo CD). Run 'npm run setup' to install it.`,
  };
}

export async function findKubeconform(env: NodeJS.ProcessEnv = process.env): Promise<Tool> {
  if (env.GITOPS_KUBECONFORM) return { cmd: env.GITOPS_KUBECONFORM, args: [] };
  const pinned = path.join(toolsDir(env), 'kubeconform');
  if (await isExecutable(pinned)) return { cmd: pinned, args: [] };
  const { kubeconformVersion } = await readPins();
  throw new ToolMissingError(`kubeconform ${kubeconformVersion} not found at ${pinned}`, "run 'npm run setup' (needs Go) to install the pinned kubeconform");
}
