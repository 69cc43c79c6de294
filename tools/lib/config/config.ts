import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ValidateFunction } from 'ajv';
import { AJV_OPTIONS, configSchemaHash, PRECOMPILED_FILE } from './precompile.js';
import { ConfigError, NameError } from '../core/errors.js';
import { layoutProblem } from './layout.js';
import { lineOf, parseYaml } from '../core/yamlfile.js';
import { pointerToPath } from '../core/pointer.js';
import { pinnedKubernetesVersion } from '../core/tools.js';
import configSchema from './config.schema.json' with { type: 'json' };

export const CONFIG_FILE = 'gitops.yaml';

/** A policy's severity as configured, or `off`. */
export type PolicyLevel = 'error' | 'warning' | 'info' | 'off';

export interface Environment {
  name: string;
  cluster: string;
  /** Shorthand for overlays `<overlayRoot>/<system>/<service>`, when the config used it. */
  overlayRoot?: string;
  /** Glob patterns of the overlay folders (apps.ts); empty when the environment is given by `applications` only. */
  overlays: string[];
  /** App id template ({N}: N-th wildcard, {path}); undefined: the wildcards joined with '/'. */
  appId?: string;
  /** Which Argo CD Applications belong to this environment (lib/argocd/applications.ts); any selector may match. */
  applications?: AppSelector[];
  /** Policy id -> level in this environment (over policies.severity). */
  policies?: Record<string, PolicyLevel>;
  /** Environments whose releases this one takes (gitops.yaml accepts one name or a list); empty for none. */
  promotesFrom: string[];
  requireDigests: boolean;
}

/**
 * Selects Argo CD Applications (gitops.yaml environments[].applications[]): every field set must
 * match (globs). `cluster` is the cluster whose entry point renders the Application.
 */
export interface AppSelector {
  cluster?: string;
  name?: string;
  project?: string;
  namespace?: string;
  server?: string;
  destination?: string;
  path?: string;
}

/** A pinned set of CRD manifests a cluster runs (gitops.yaml clusters.<c>.apiServer.crds). */
export interface CrdSet {
  name: string;
  version: string;
  /** Upstream files; {version} is replaced. Undefined: the known default of `name` (lib/server/crds.ts). */
  urls?: string[];
  /** The head's urls were refused against a base revision (render/changes.ts trustRenderSettings). */
  urlsRefused?: boolean;
}

/** How validate's local API server stands in for one cluster. */
export interface ClusterApiServer {
  flags: string[];
  crds: CrdSet[];
}

/** A StorageClass a cluster offers: what its claims may ask for. */
export interface StorageClassFacts {
  name: string;
  accessModes: string[];
  default?: boolean;
}

export interface TaintFacts {
  key: string;
  value?: string;
  effect: string;
}

/**
 * What a cluster offers that manifests depend on and git does not create (gitops.yaml
 * `clusters.<name>`). Each list is checked only when declared: an absent key means unknown.
 */
export interface ClusterFacts {
  /** Folder with the cluster's bootstrap kustomization (default clusters/<name>; null: none). */
  entryPoint?: string | null;
  storageClasses?: StorageClassFacts[];
  /** Node label key -> values some node carries. */
  nodeLabels?: Record<string, string[]>;
  taints?: TaintFacts[];
  /** Registry hosts whose images need pull credentials. */
  privateRegistries?: string[];
  /** validate's server-side dry run: kube-apiserver flags and pinned CRD sets (normalized in Config.apiServers). */
  apiServer?: { flags?: string[]; crds?: CrdSet[] };
  /** The sync rehearsal's fake nodes, by pool (default: one node of 4 cpu, 8Gi, 110 pods). */
  nodes?: NodePool[];
  /** How the sync rehearsal stands in for the cluster's add-ons. */
  rehearsal?: RehearsalFacts;
}

/** A pool of identical fake nodes of the sync rehearsal (gitops.yaml clusters.<c>.nodes). */
export interface NodePool {
  name?: string;
  count: number;
  cpu: string;
  memory: string;
  pods?: number;
  labels?: Record<string, string>;
  taints?: TaintFacts[];
}

/** gitops.yaml clusters.<c>.rehearsal. */
export interface RehearsalFacts {
  /** IngressClasses served by a controller git does not deploy (a simulated one gives their Ingresses an address). */
  ingressClasses?: string[];
  /**
   * Add-ons the cluster runs that the rehearsal stands in for: `metrics` serves the metrics API
   * (metrics.k8s.io) from a stand-in, so the real HPA controller finds metrics (named simulated).
   */
  addons?: Array<'metrics'>;
  /** Objects expected not to be Healthy in the rehearsal, and why. */
  expectUnhealthy?: Array<{ kind: string; name?: string; reason: string }>;
  timeoutSeconds?: number;
  healthGraceSeconds?: number;
}

export interface Config {
  /** Repository root (absolute). */
  root: string;
  repoURL: string;
  defaultBranch: string;
  environments: Environment[];
  kubernetesVersion: string;
  schemaLocations: string[];
  /** Folder with kubernetes/v<version>/_definitions.json and crds/ (GITOPS_SCHEMA_MIRROR). */
  schemaMirror?: string;
  allowMissingSchemas: string[];
  exemptionPrefix: string;
  disabledPolicies: string[];
  /** gitops.yaml policies.severity: policy id -> level in every environment. */
  policySeverity: Record<string, PolicyLevel>;
  /** cluster -> "Kind/namespace/name" patterns created outside git. */
  external: Record<string, string[]>;
  /** cluster -> settings (gitops.yaml `clusters:`). */
  clusters: Record<string, ClusterFacts>;
  sensitiveKeys: string[];
  promotionLabels: string[];
  releaseKeys: string[];
  /** promotion.files: files (relative to each overlay folder) that are part of a release, copied whole by promote. */
  releaseFiles: string[];
  /** promotion.helm: chart versions of Argo CD Helm chart sources (default on) and the values files that travel with a release (globs). */
  releaseHelm: { chart: boolean; valueFiles: string[] };
  maxPushAttempts: number;
  /**
   * gitops.yaml `github.apiUrl` as written (repository content): never where the token goes, only
   * checked against the URL the user configured (lib/remote/github.ts tokenApiUrl).
   */
  githubApiUrl?: string;
  /** cluster -> API server flags and CRDs (gitops.yaml clusters.<c>.apiServer). */
  apiServers: Record<string, ClusterApiServer>;
  /** Folder with <name>/<version>/<file> CRD manifests (GITOPS_CRD_MIRROR). */
  crdMirror?: string;
  /** Cluster entry points set in gitops.yaml `clusters.<name>.entryPoint` (null: none); see entryPoint(). */
  entryPoints: Record<string, string | null>;
  /** Remote bases / Helm repositories: fetched only when allowed, within the timeout. */
  render: { allowRemote: boolean; remoteTimeoutSeconds: number };
}

interface RawConfig {
  repoURL?: string;
  defaultBranch?: string;
  environments: Array<Omit<Environment, 'requireDigests' | 'overlays' | 'promotesFrom'> & { requireDigests?: boolean; overlays?: string[]; promotesFrom?: string | string[] }>;
  kubernetes?: { version?: string };
  schemas?: { locations?: string[]; allowMissing?: string[] };
  policies?: { exemptionPrefix?: string; disabled?: string[]; severity?: Record<string, PolicyLevel> };
  external?: Record<string, string[]>;
  clusters?: Record<string, ClusterFacts>;
  diff?: { sensitiveKeys?: string[] };
  promotion?: { labels?: string[]; releaseKeys?: string[]; files?: string[]; maxPushAttempts?: number; helm?: { chart?: boolean; valueFiles?: string[] } };
  github?: { apiUrl?: string };
  render?: { allowRemote?: boolean; remoteTimeoutSeconds?: number };
}

let validator: ValidateFunction<RawConfig> | undefined;

/** The build's standalone validator (precompile.ts) while it is of this schema, else Ajv's compile of it. */
function configValidator(): ValidateFunction<RawConfig> {
  if (validator) return validator;
  try {
    const pre = createRequire(import.meta.url)(`./${PRECOMPILED_FILE}`) as ValidateFunction<RawConfig> & { schemaHash?: string };
    if (pre.schemaHash === configSchemaHash()) return (validator = pre);
  } catch {
    // not built (the sources run through tsx)
  }
  // Ajv itself is loaded only here: its 60 modules cost ~40 ms of a start that does not need them.
  const { Ajv } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
  return (validator = new Ajv(AJV_OPTIONS).compile<RawConfig>(configSchema));
}

type At = (p: Array<string | number>) => string;
type RawEnvironment = RawConfig['environments'][number];

/** The environments an environment promotes from (promotesFrom: one name or a list). */
const sourcesOf = (e: RawEnvironment): string[] => (e.promotesFrom === undefined ? [] : typeof e.promotesFrom === 'string' ? [e.promotesFrom] : e.promotesFrom);

/** Unique names; overlayRoot or overlays (with appId); a layout the overlays patterns can serve. */
function checkEnvironments(raw: RawConfig, at: At): void {
  const names = new Set<string>();
  for (const [i, e] of raw.environments.entries()) {
    const where = at(['environments', i]);
    if (names.has(e.name)) throw new ConfigError(where, `environments.${i}.name: duplicate environment '${e.name}'`);
    names.add(e.name);
    if (e.overlayRoot !== undefined && e.overlays !== undefined) throw new ConfigError(where, `environments.${i}: set either overlayRoot (the <root>/<system>/<service> shorthand) or overlays, not both`);
    if (e.overlayRoot !== undefined && e.appId !== undefined) throw new ConfigError(where, `environments.${i}.appId: goes with overlays; overlayRoot always derives {1}/{2}`);
    const problem = layoutProblem(e.overlays ?? [], e.appId);
    if (problem) throw new ConfigError(at(['environments', i, problem.field]), `environments.${i}.${problem.field}: ${problem.message}`);
  }
}

/** Promotion sources name other, known environments, and promotion ends: never a loop. */
function checkPromotion(raw: RawConfig, at: At): void {
  const names = new Set(raw.environments.map((e) => e.name));
  for (const [i, e] of raw.environments.entries()) {
    for (const [j, from] of sourcesOf(e).entries()) {
      const one = typeof e.promotesFrom === 'string';
      const where = at(one ? ['environments', i, 'promotesFrom'] : ['environments', i, 'promotesFrom', j]);
      const field = one ? `environments.${i}.promotesFrom` : `environments.${i}.promotesFrom.${j}`;
      if (!names.has(from)) throw new ConfigError(where, `${field}: unknown environment '${from}' (known: ${[...names].join(', ')})`);
      if (from === e.name) throw new ConfigError(where, `${field}: '${e.name}' cannot promote from itself`);
    }
  }
  // dev <- staging <- prod (or several sources), never a loop.
  const byName = new Map(raw.environments.map((e) => [e.name, sourcesOf(e)]));
  const done = new Set<string>();
  const visit = (name: string, path: string[]): void => {
    if (path.includes(name)) throw new ConfigError(CONFIG_FILE, `environments: promotion cycle through '${name}' (${[...path.slice(path.indexOf(name)), name].join(' <- ')})`);
    if (done.has(name)) return;
    for (const from of byName.get(name) ?? []) visit(from, [...path, name]);
    done.add(name);
  };
  for (const e of raw.environments) visit(e.name, []);
}

/** Clusters (in selectors and under clusters:) are ones an environment runs on; one default storage class at most. */
function checkClusters(raw: RawConfig, at: At): void {
  const known = new Set(raw.environments.map((e) => e.cluster));
  for (const [i, e] of raw.environments.entries()) {
    for (const [j, sel] of (e.applications ?? []).entries()) {
      if (sel.cluster !== undefined && !known.has(sel.cluster)) {
        throw new ConfigError(at(['environments', i, 'applications', j, 'cluster']), `environments.${i}.applications.${j}.cluster: no environment runs on cluster '${sel.cluster}' (known: ${[...known].join(', ')})`);
      }
    }
  }
  for (const [name, c] of Object.entries(raw.clusters ?? {})) {
    if (!known.has(name)) throw new ConfigError(at(['clusters', name]), `clusters.${name}: no environment runs on cluster '${name}' (known: ${[...known].join(', ')})`);
    const defaults = (c.storageClasses ?? []).flatMap((s, i) => (s.default ? [i] : []));
    if (defaults.length > 1) {
      throw new ConfigError(at(['clusters', name, 'storageClasses', defaults[1]!]), `clusters.${name}.storageClasses: ${defaults.length} default classes; a cluster has at most one`);
    }
  }
}

/** Parses and checks gitops.yaml text. Pure apart from reading `env`. */
export function parseConfig(root: string, text: string, env: NodeJS.ProcessEnv = process.env): Config {
  const { parsed, problems } = parseYaml(CONFIG_FILE, text);
  if (problems.length) throw new ConfigError(`${CONFIG_FILE}:${problems[0].line}`, problems[0].message);
  const doc = parsed.docs[0];
  const raw = (doc?.toJS() ?? {}) as RawConfig;
  const validateRaw = configValidator();
  if (!validateRaw(raw)) {
    const e = validateRaw.errors![0];
    const p = pointerToPath(e.instancePath);
    const where = `${CONFIG_FILE}:${lineOf(doc, parsed.lines, p)}`;
    const field = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '(top level)';
    const extra = e.keyword === 'additionalProperties' ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'` : '';
    throw new ConfigError(where, `${field}: ${e.message}${extra}`);
  }
  const at = (p: Array<string | number>) => `${CONFIG_FILE}:${lineOf(doc, parsed.lines, p)}`;
  checkEnvironments(raw, at);
  checkPromotion(raw, at);
  checkClusters(raw, at);
  const envLocations = env.GITOPS_SCHEMA_LOCATIONS?.split(',').map((s) => s.trim()).filter(Boolean);
  return {
    root,
    repoURL: raw.repoURL ?? '',
    defaultBranch: raw.defaultBranch ?? 'main',
    environments: raw.environments.map((e) => ({
      ...e,
      overlays: e.overlays ?? (e.overlayRoot !== undefined ? [`${e.overlayRoot.replace(/\/+$/, '')}/*/*`] : []),
      appId: e.overlayRoot !== undefined ? '{1}/{2}' : e.appId,
      promotesFrom: sourcesOf(e),
      requireDigests: e.requireDigests ?? false,
    })),
    // Unset: the minor of the pinned kube-apiserver, so schemas and the server dry run agree.
    kubernetesVersion: env.GITOPS_KUBERNETES_VERSION ?? raw.kubernetes?.version ?? pinnedKubernetesVersion(),
    schemaLocations: envLocations?.length ? envLocations : raw.schemas?.locations ?? ['default'],
    schemaMirror: env.GITOPS_SCHEMA_MIRROR ? path.resolve(root, env.GITOPS_SCHEMA_MIRROR) : undefined,
    allowMissingSchemas: raw.schemas?.allowMissing ?? [],
    exemptionPrefix: raw.policies?.exemptionPrefix ?? 'exempt.policy.crianex.com/',
    disabledPolicies: raw.policies?.disabled ?? [],
    policySeverity: raw.policies?.severity ?? {},
    external: raw.external ?? {},
    clusters: raw.clusters ?? {},
    sensitiveKeys: raw.diff?.sensitiveKeys ?? [],
    promotionLabels: raw.promotion?.labels ?? [],
    releaseKeys: raw.promotion?.releaseKeys ?? [],
    releaseFiles: raw.promotion?.files ?? [],
    releaseHelm: { chart: raw.promotion?.helm?.chart ?? true, valueFiles: raw.promotion?.helm?.valueFiles ?? [] },
    maxPushAttempts: raw.promotion?.maxPushAttempts ?? 3,
    githubApiUrl: raw.github?.apiUrl,
    apiServers: Object.fromEntries(
      Object.entries(raw.clusters ?? {}).map(([c, v]) => [c, { flags: v.apiServer?.flags ?? [], crds: v.apiServer?.crds ?? [] }]),
    ),
    crdMirror: env.GITOPS_CRD_MIRROR ? path.resolve(root, env.GITOPS_CRD_MIRROR) : undefined,
    entryPoints: Object.fromEntries(
      Object.entries(raw.clusters ?? {}).filter(([, c]) => c.entryPoint !== undefined).map(([name, c]) => [name, c.entryPoint === null ? null : c.entryPoint!.replace(/\/+$/, '')]),
    ),
    render: { allowRemote: raw.render?.allowRemote ?? false, remoteTimeoutSeconds: raw.render?.remoteTimeoutSeconds ?? 60 },
  };
}

export async function loadConfig(cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  const root = path.resolve(cwd);
  let text: string;
  try {
    text = await readFile(path.join(root, CONFIG_FILE), 'utf8');
  } catch {
    throw new ConfigError(path.join(root, CONFIG_FILE), 'not found', 'run the command from the repository root (or pass --cwd)');
  }
  return parseConfig(root, text, env);
}

export function getEnvironment(config: Config, name: string): Environment {
  const env = config.environments.find((e) => e.name === name);
  if (!env) throw new NameError(`unknown environment '${name}'`, config.environments.map((e) => e.name));
  return env;
}

/**
 * The folder a cluster is bootstrapped from (`kubectl apply -k`, then Argo CD's root
 * Application): gitops.yaml `clusters.<name>.entryPoint`, default `clusters/<name>`; null: none.
 */
export function entryPoint(config: Config, cluster: string): string | null {
  return cluster in config.entryPoints ? config.entryPoints[cluster] : `clusters/${cluster}`;
}

/** Distinct clusters in declaration order. */
export function clusters(config: Config): string[] {
  return [...new Set(config.environments.map((e) => e.cluster))];
}
