import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { run } from './exec.js';
import { CommandFailedError, ConfigError } from './errors.js';
import { rendererSupports } from './renderer.js';
import type { Workspace } from './workspace.js';
import type { Tool } from './tools.js';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

/** `Kind/namespace/name` (namespace `-` for cluster-scoped or unset). */
export function resourceId(o: Pick<K8sObject, 'kind' | 'metadata'>): string {
  return `${o.kind}/${o.metadata?.namespace ?? '-'}/${o.metadata?.name ?? '?'}`;
}

/**
 * Renders one kustomization folder; returns the YAML stream. The long-lived renderer answers
 * when there is one and it takes these options (its output is byte-identical to the binary's);
 * otherwise, or when it declines, one kustomize process. A build error reads the same either way.
 */
export async function kustomizeBuild(tool: Tool, dir: string, extraArgs: string[] = []): Promise<string> {
  return (await kustomizeBuildObjects(tool, dir, extraArgs, false)).yaml;
}

/** kustomizeBuild plus the parsed objects (parsed by the renderer, in Go, when it answers). */
export async function kustomizeBuildObjects(tool: Tool, dir: string, extraArgs: string[] = [], parse = true): Promise<{ yaml: string; objects: K8sObject[] }> {
  if (tool.renderer && rendererSupports(extraArgs)) {
    const answer = await tool.renderer.render(path.resolve(dir), extraArgs, { json: parse });
    if ('yaml' in answer) return { yaml: answer.yaml, objects: parse ? ((answer.objects as K8sObject[] | undefined) ?? parseStream(answer.yaml)) : [] };
    if ('error' in answer) throw new CommandFailedError([tool.cmd, ...tool.args, ...extraArgs, dir].join(' '), 1, `Error: ${answer.error}\n`);
  }
  const { stdout } = await run(tool.cmd, [...tool.args, ...extraArgs, dir]);
  return { yaml: stdout, objects: parse ? parseStream(stdout) : [] };
}

export function parseStream(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

interface Kustomization {
  resources?: string[];
  components?: string[];
  bases?: string[];
  patches?: Array<{ path?: string }>;
  patchesStrategicMerge?: string[];
  patchesJson6902?: Array<{ path?: string }>;
  configMapGenerator?: Array<{ files?: string[]; envs?: string[]; env?: string }>;
  secretGenerator?: Array<{ files?: string[]; envs?: string[]; env?: string }>;
  replacements?: Array<{ path?: string }>;
  crds?: string[];
  generators?: string[];
  transformers?: string[];
  openapi?: { path?: string };
  configurations?: string[];
  helmCharts?: unknown[];
}

/** Closure marker: the kustomization reads something outside the repository. */
export const REMOTE = '<remote>';

const KUSTOMIZATION_NAMES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

async function readKustomization(dir: string, ws?: Workspace): Promise<{ file: string; k: Kustomization } | undefined> {
  if (ws) return ws.memo(`kustomization:${dir}`, () => readKustomizationOnce(dir, ws));
  return readKustomizationOnce(dir);
}

async function readKustomizationOnce(dir: string, ws?: Workspace): Promise<{ file: string; k: Kustomization } | undefined> {
  const parse = (text: string) => (parseAllDocuments(text)[0]?.toJS() ?? {}) as Kustomization;
  for (const name of KUSTOMIZATION_NAMES) {
    const file = path.join(dir, name);
    if (ws) {
      const k = await ws.parsedFile(file, 'kustomization', parse);
      if (k !== undefined) return { file, k };
      continue;
    }
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    return { file, k: parse(text) };
  }
  return undefined;
}

function fileSources(k: Kustomization): string[] {
  const gen = [...(k.configMapGenerator ?? []), ...(k.secretGenerator ?? [])].flatMap((g) =>
    [...(g.files ?? []).map((f) => f.split('=').pop()!), ...(g.envs ?? []), ...(g.env ? [g.env] : [])],
  );
  return [
    ...(k.patches ?? []).map((p) => p.path),
    ...(k.patchesStrategicMerge ?? []).filter((p) => !p.includes('\n')),
    ...(k.patchesJson6902 ?? []).map((p) => p.path),
    ...(k.replacements ?? []).map((r) => r.path),
    ...(k.crds ?? []),
    ...(k.openapi?.path ? [k.openapi.path] : []),
    ...(k.configurations ?? []),
    ...gen,
  ].filter((p): p is string => typeof p === 'string');
}

/**
 * Every local file a kustomization reads, following resources, components and patches
 * (absolute paths). Remote resources (URLs) are skipped: they are pinned by ?ref=.
 * With a Workspace, kustomizations shared by many overlays are read and parsed once per run.
 */
export async function kustomizationClosure(dir: string, seen = new Set<string>(), ws?: Workspace): Promise<string[]> {
  const abs = path.resolve(dir);
  if (seen.has(abs)) return [];
  seen.add(abs);
  const found = await readKustomization(abs, ws);
  if (!found) throw new ConfigError(abs, 'no kustomization.yaml in this folder');
  const files = new Set<string>([found.file]);
  const { k } = found;
  const refs = [...(k.resources ?? []), ...(k.bases ?? []), ...(k.components ?? []), ...(k.generators ?? []), ...(k.transformers ?? [])];
  // Inputs the closure cannot list (remote bases, Helm charts) make the render uncacheable.
  if (k.helmCharts?.length) files.add(REMOTE);
  for (const ref of refs) {
    if (/^[a-z]+:\/\/|^git@|github\.com\//.test(ref)) {
      files.add(REMOTE);
      continue;
    }
    const target = path.resolve(abs, ref);
    if (await readKustomization(target, ws)) {
      for (const f of await kustomizationClosure(target, seen, ws)) files.add(f);
    } else {
      files.add(target);
    }
  }
  for (const f of fileSources(k)) files.add(path.resolve(abs, f));
  return [...files];
}
