import { mkdir, readFile, rm, stat, writeFile, rename } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { Config } from '../config/config.js';
import { childEnv, run } from '../core/exec.js';
import { ConfigError } from '../core/errors.js';
import { convertDefinitions } from './schemas.js';
import type { Tool } from '../core/tools.js';
import { writeAtomic } from '../core/workspace.js';

export const K8S_TEMPLATE = '{{.NormalizedKubernetesVersion}}-standalone{{.StrictSuffix}}/{{.ResourceKind}}{{.KindSuffix}}.json';
export const CRD_TEMPLATE = 'crds/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json';

export function cacheDir(config: Config): string {
  return path.join(config.root, '.cache', 'schemas');
}

/** Writes converted schema files atomically (a half-written cache is never used). */
export async function writeSchemaFiles(outDir: string, files: { path: string; schema: unknown }[]): Promise<void> {
  const tmp = `${outDir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  for (const f of files) {
    const p = path.join(tmp, f.path);
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, JSON.stringify(f.schema));
  }
  await rm(outDir, { recursive: true, force: true });
  await mkdir(path.dirname(outDir), { recursive: true });
  await rename(tmp, outDir);
}

/**
 * Adds schema files under `outDir`, each replaced atomically (write beside, rename over): files
 * already there that this call does not write are left alone, whoever wrote them.
 */
export async function addSchemaFiles(outDir: string, files: { path: string; schema: unknown }[]): Promise<void> {
  for (const f of files) {
    await writeAtomic(path.join(outDir, f.path), JSON.stringify(f.schema));
  }
}

/**
 * kubeconform -schema-location list: locally generated schemas (npm run schemas) first, then
 * GITOPS_SCHEMA_MIRROR's (its OpenAPI definitions converted once into .cache/schemas, keyed by
 * the input's size and mtime; its crds/ folder as is), then the configured locations: the
 * mirror adds to them, it does not replace them.
 */
export async function schemaLocations(config: Config): Promise<string[]> {
  const cache = cacheDir(config);
  const local: string[] = [];
  if (existsSync(path.join(cache, `v${config.kubernetesVersion}-standalone-strict`))) local.push(path.join(cache, K8S_TEMPLATE));
  if (existsSync(path.join(cache, 'crds'))) local.push(path.join(cache, CRD_TEMPLATE));
  if (!config.schemaMirror) return [...local, ...config.schemaLocations];
  const localK8s = local.filter((l) => l.endsWith(K8S_TEMPLATE));
  const localCrds = local.filter((l) => l.endsWith(CRD_TEMPLATE));

  const defsFile = path.join(config.schemaMirror, 'kubernetes', `v${config.kubernetesVersion}`, '_definitions.json');
  const st = await stat(defsFile).catch(() => undefined);
  if (!st) throw new ConfigError(defsFile, `GITOPS_SCHEMA_MIRROR has no definitions for Kubernetes ${config.kubernetesVersion}`);
  const key = createHash('sha256').update(`${defsFile}:${st.size}:${st.mtimeMs}:1`).digest('hex').slice(0, 12);
  const outDir = path.join(cache, 'mirror', key);
  if (!existsSync(path.join(outDir, `v${config.kubernetesVersion}-standalone-strict`))) {
    const files = convertDefinitions(JSON.parse(await readFile(defsFile, 'utf8')), config.kubernetesVersion, { strict: [true] });
    await writeSchemaFiles(outDir, files);
  }
  return [...localK8s, path.join(outDir, K8S_TEMPLATE), ...localCrds, path.join(config.schemaMirror, CRD_TEMPLATE), ...config.schemaLocations];
}

export interface KcError {
  path: string;
  msg: string;
}

export interface KcResult {
  filename: string;
  kind: string;
  name: string;
  version: string;
  status: 'statusValid' | 'statusInvalid' | 'statusError' | 'statusSkipped' | 'statusEmpty';
  msg?: string;
  validationErrors?: KcError[];
}

/** Runs kubeconform -strict once over all files (one process amortises schema loading). */
export async function kubeconform(tool: Tool, paths: string[], opts: { locations: string[]; kubernetesVersion: string; cacheDir?: string }): Promise<KcResult[]> {
  // One worker: each kubeconform worker compiles its own copy of every schema, and compiling
  // the large standalone schemas costs more than validating (measured: -n 1 0.34 s, -n 4 ~0.9 s).
  const args = [...tool.args, '-strict', '-output', 'json', '-verbose', '-kubernetes-version', opts.kubernetesVersion, '-n', '1'];
  for (const l of opts.locations) args.push('-schema-location', l);
  if (opts.cacheDir) {
    await mkdir(opts.cacheDir, { recursive: true });
    args.push('-cache', opts.cacheDir);
  }
  // The network settings only: kubeconform may download schemas; it never needs a credential.
  const { stdout, stderr, code } = await run(tool.cmd, [...args, ...paths], { allowFailure: true, env: childEnv({ network: true }) });
  let parsed: { resources?: KcResult[] };
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new Error(`kubeconform produced no JSON report (exit ${code}): ${stderr || stdout}`);
  }
  return parsed.resources ?? [];
}
