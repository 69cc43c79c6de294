// What a render produces, shared by render.ts (which makes it) and origins.ts (which reads it
// to point findings at the file that wrote a value).
import type { Document, LineCounter } from 'yaml';
import type { AppOverlay } from '../config/apps.js';
import type { Config, Environment } from '../config/config.js';
import type { Finding } from '../core/finding.js';
import type { K8sObject } from '../core/k8s.js';
import type { Tool } from '../core/tools.js';

export interface Target {
  /** Folder relative to the repo root: an overlay (apps.ts) or a cluster entry point (clusters/<cluster>). */
  dir: string;
  cluster: string;
  kind: 'app' | 'cluster';
  env?: Environment;
  app?: AppOverlay;
  /**
   * An Application that Argo CD's repo-server code renders (Helm, plain, jsonnet, overrides,
   * several sources): the repository files its render reads (lib/argocd/clusterapps.ts
   * appSourceFiles), which stand in for a kustomization closure.
   */
  files?: string[];
}

export interface SourceDoc {
  file: string;
  kind?: string;
  name?: string;
  doc: Document;
  lines: LineCounter;
}

export interface Rendered {
  target: Target;
  objects: K8sObject[];
  /** objectHash of each object (same order), when known. */
  hashes?: string[];
  /** Render cache key (closure contents, build options, binary), when cacheable. */
  key?: string;
  /** Files (repo-relative) the overlay reads. */
  closure: string[];
  /**
   * The renderer's record of the files kustomize read (repo-relative), when the long-lived renderer
   * built it; every one must be in `closure`, else the render is refused (unaccounted-read).
   */
  reads?: string[];
  /**
   * The renderer's record (now, or when the cache entry was written) matched `closure`: the
   * closure is every file the render reads. Unset: a build without a record (helm, remote
   * fetching, GITOPS_NO_RENDERER) or a failed one, so the closure is only the toolkit's reading.
   */
  verified?: boolean;
  sources: SourceDoc[];
  findings: Finding[];
  /** How it was built (set by renderTargets), so an origin render uses the same options. */
  build?: RenderBuild;
  /** Its render with origin annotations, once per run when a finding needs it (origins.ts). */
  originObjects?: Promise<K8sObject[] | undefined>;
}

export interface RenderBuild {
  config: Config;
  tool: Tool;
  args: string[];
  network: boolean;
}
