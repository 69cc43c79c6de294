// Client of tools/go/argocd/helper (argocd-helper): Argo CD v3.5.8's own ApplicationSet
// expansion and repo-server manifest generation, linked into one long-lived process that answers
// JSON lines. One process per run, started on first use; every request is bounded in time (a
// request that does not answer in time ends the process, which the next request restarts).
import path from 'node:path';
import { childEnv } from '../core/exec.js';
import { JsonLinesClient, MAX_ANSWER_BYTES } from '../core/jsonlines.js';
import { ToolMissingError } from '../core/errors.js';
import { findHelm, isExecutable, toolsDir } from '../core/tools.js';

/** The repository under test as Argo CD would read it. */
export interface RepoContext {
  /** Absolute working tree. */
  root: string;
  repoURL: string;
  /** targetRevision / generator revision values that name the revision under test. */
  revisions: string[];
  /** Repo-relative files of the revision under test (tracked plus untracked, not ignored). */
  files: string[];
  /** The namespace Argo CD runs in (default argocd). */
  argocdNamespace?: string;
}

/** A cluster as the cluster generator sees it (an Argo CD cluster Secret). */
export interface ClusterSecret {
  name: string;
  server: string;
  project?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface GeneratorError {
  /** Index in spec.generators, -1 for the ApplicationSet itself. */
  generator: number;
  message: string;
  /** The generator (or what it reads) is not evaluated offline: a limit, not the repository's fault. */
  offline?: boolean;
}

export interface AppSetResult {
  apps: Array<{ generator: number; application: Record<string, unknown> }>;
  errors: GeneratorError[];
}

export interface SourceRender {
  index: number;
  /** Helm, Kustomize, Directory (plain YAML, JSON and jsonnet) or Plugin. */
  sourceType?: string;
  manifests: Array<Record<string, unknown>>;
  commands?: string[];
  error?: string;
  /** Why the source is not rendered offline (a chart repository, another repository, a plugin). */
  offline?: string;
  /** A `ref:` source that only lends its files ($values) to the others. */
  ref?: boolean;
}

/** Seconds a request may take (GITOPS_ARGOCD_TIMEOUT overrides). */
function timeoutSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.GITOPS_ARGOCD_TIMEOUT);
  return Number.isFinite(n) && n > 0 ? n : 120;
}

export class ArgoHelper {
  private readonly client: JsonLinesClient<Record<string, unknown> & { id: number }>;

  constructor(readonly cmd: string, readonly args: string[], readonly timeoutMs: number) {
    this.client = new JsonLinesClient({
      name: 'argocd-helper',
      cmd,
      args,
      // The scrubbed environment of every child: it reads repository content, never a token.
      // GOMEMLIMIT bounds its heap (it sets 2 GiB itself when unset).
      env: () => childEnv({ keep: ['GOMEMLIMIT'] }),
      maxLineBytes: MAX_ANSWER_BYTES,
      // Bounded: a request that does not answer in time ends the helper (and its children).
      timeoutMs,
      timeoutHint: 'GITOPS_ARGOCD_TIMEOUT',
      spawnError: (e) => (e.code === 'ENOENT' ? new ToolMissingError(`${cmd}: not found`, "run 'npm run setup'") : e),
    });
  }

  private async request<T>(op: string, body: Record<string, unknown>): Promise<T> {
    return (await this.client.request({ ...body, op }, op)) as T;
  }

  /** One result per ApplicationSet (same order), and the repository files the generators read. */
  async expand(ctx: RepoContext, req: { applicationSets: unknown[]; projects: unknown[]; clusters: ClusterSecret[] }): Promise<{ results: AppSetResult[]; reads: string[] }> {
    const res = await this.request<{ results?: AppSetResult[]; reads?: string[]; error?: string }>('expand', { ...ctx, ...req });
    if (res.error !== undefined) throw new Error(`argocd-helper: ${res.error}`);
    return { results: res.results ?? [], reads: res.reads ?? [] };
  }

  async manifests(ctx: RepoContext, req: { application: unknown; kustomizeBuildOptions: string; kubeVersion?: string; apiVersions?: string[] }): Promise<{ sources: SourceRender[]; error?: string }> {
    const res = await this.request<{ sources?: SourceRender[]; error?: string }>('manifests', { ...ctx, ...req, timeoutSeconds: Math.max(1, Math.floor(this.timeoutMs / 1000) - 1) });
    return { sources: res.sources ?? [], ...(res.error !== undefined ? { error: res.error } : {}) };
  }

  close(): void {
    this.client.close();
  }
}

const shared = new Map<string, ArgoHelper>();

/**
 * The helper `npm run setup` builds beside the pinned Argo CD (GITOPS_ARGOCD_HELPER overrides),
 * started with the pinned kustomize and helm: Argo CD runs no other.
 */
export async function findArgoHelper(env: NodeJS.ProcessEnv = process.env): Promise<ArgoHelper> {
  const bin = env.GITOPS_ARGOCD_HELPER ? path.resolve(env.GITOPS_ARGOCD_HELPER) : path.join(toolsDir(env), 'argocd-helper');
  if (!(await isExecutable(bin))) {
    throw new ToolMissingError(`argocd-helper not found at ${bin}: the Applications Argo CD generates and what it renders come from Argo CD's own code`, "run 'npm run setup' (needs Go) to build it");
  }
  const kustomize = env.GITOPS_KUSTOMIZE ? path.resolve(env.GITOPS_KUSTOMIZE) : path.join(toolsDir(env), 'kustomize');
  const helm = await findHelm(env);
  const args = ['-kustomize', kustomize, ...(helm ? ['-helm', helm] : [])];
  const key = [bin, ...args].join('\0');
  let h = shared.get(key);
  if (!h) shared.set(key, (h = new ArgoHelper(bin, args, timeoutSeconds(env) * 1000)));
  return h;
}
