import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../lib/config/config.js';
import { ConfigError, UsageError } from '../lib/core/errors.js';
import { addSchemaFiles, cacheDir } from '../lib/validate/kubeconform.js';
import { convertCrds, convertDefinitions, type SchemaFile } from '../lib/validate/schemas.js';

export interface SchemasOptions {
  cwd: string;
  /** Input files; '-' (or none) reads stdin. */
  inputs: string[];
  /** Output folder (default .cache/schemas, which validate uses first). */
  out?: string;
  /** Kubernetes version the definitions belong to (default: gitops.yaml kubernetes.version). */
  kubernetesVersion?: string;
  stdin?: () => Promise<string>;
  log?: (line: string) => void;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Converts OpenAPI v2 definitions (what `kubectl get --raw /openapi/v2` prints) and CRD
 * manifests into kubeconform's standalone strict layout.
 */
export async function schemas(opts: SchemasOptions): Promise<SchemaFile[]> {
  const config = await loadConfig(opts.cwd);
  const version = opts.kubernetesVersion ?? config.kubernetesVersion;
  const out = opts.out ? path.resolve(opts.cwd, opts.out) : cacheDir(config);
  const inputs = opts.inputs.length ? opts.inputs : ['-'];
  const files: SchemaFile[] = [];
  for (const input of inputs) {
    const text = input === '-' ? await (opts.stdin ?? readStdin)() : await readFile(path.resolve(opts.cwd, input), 'utf8');
    const name = input === '-' ? '<stdin>' : input;
    if (!text.trim()) throw new UsageError(`${name}: empty input`);
    if (/^\s*\{/.test(text)) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw new ConfigError(name, `not valid JSON: ${(e as Error).message}`);
      }
      if ((json as { kind?: string }).kind === 'CustomResourceDefinition') files.push(...convertCrds([json]));
      else {
        try {
          files.push(...convertDefinitions(json, version));
        } catch (e) {
          throw new ConfigError(name, (e as Error).message);
        }
      }
    } else {
      const docs = parseAllDocuments(text).map((d) => d.toJS());
      const crds = convertCrds(docs);
      if (!crds.length) throw new ConfigError(name, 'no CustomResourceDefinition with an openAPIV3Schema found');
      files.push(...crds);
    }
  }
  // Added beside whatever is there (another CRD of the same group, a hand-written schema): this
  // command only ever replaces the files it writes.
  await addSchemaFiles(out, files);
  (opts.log ?? ((l: string) => process.stderr.write(l + '\n')))(`wrote ${files.length} schemas to ${path.relative(opts.cwd, out) || '.'}`);
  return files;
}
