// Locates the pinned binaries installed by `npm run setup` (or given by env vars).
import { access, readFile } from 'node:fs/promises';
import { constants, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ToolMissingError } from './errors.js';
import { sharedRenderer, type Renderer } from './renderer.js';

// tools/lib, or dist/tools/lib when running the compiled toolkit (tools/run.mjs).
const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const REPO_ROOT = path.basename(HERE) === 'dist' ? path.dirname(HERE) : HERE;

/** Folder of the Go modules that pin the toolkit's binaries (one module per tool). */
export const GO_TOOLS_DIR = path.join(REPO_ROOT, 'tools', 'go');

/** A pinned Go tool: the module folder that pins it and the package `go build` makes. */
export interface GoTool {
  /** Binary name in the tools folder. */
  name: string;
  /** Folder under tools/go holding the go.mod with the `tool` directive. */
  module: string;
  /** Package path of the main package. */
  pkg: string;
  /** Module whose required version is the tool's version. */
  versionOf: string;
  /** Extra `go build -ldflags` (a version stamp); may use {version}, {bare} (no v), {major} and {minor}. */
  ldflags?: string;
  /** Folder (under the module) of our own Go sources, part of the build stamp. */
  sources?: string;
  /**
   * Built only when asked for or needed: 'helm' (`npm run setup -- --helm`, or an argocd-cm
   * enabling helm), 'rehearse' (`npm run setup -- --rehearse` or `--test-deps`: the simulated
   * clusters' controllers and fake nodes).
   */
  optional?: 'helm' | 'rehearse';
  /**
   * One-line source edits of the pinned module (`versionOf`), applied with `go build -overlay`:
   * each `from` must occur exactly once in `file` (a path inside that module), else setup stops.
   */
  patches?: SourcePatch[];
}

export interface SourcePatch {
  file: string;
  from: string;
  to: string;
  /** Why the pinned release is patched, shown when the patch no longer applies. */
  why: string;
}

// Without the -X stamps a Kubernetes binary reports v0.0.0-master.
const KUBE_LDFLAGS = '-X k8s.io/component-base/version.gitVersion={version} -X k8s.io/component-base/version.gitMajor={major} -X k8s.io/component-base/version.gitMinor={minor} -X k8s.io/component-base/version.gitTreeState=clean';

// The application controller binds its metrics on every interface, with no flag to change it;
// the rehearsal listens on 127.0.0.1 only (and the machine's other addresses must not see it).
const ARGOCD_PATCHES: SourcePatch[] = [{ file: 'controller/appcontroller.go', from: 'fmt.Sprintf("0.0.0.0:%d", metricsPort)', to: 'fmt.Sprintf("127.0.0.1:%d", metricsPort)', why: 'the application controller\'s metrics listen on 127.0.0.1 only' }];

export const GO_TOOLS: GoTool[] = [
  { name: 'kustomize', module: 'kustomize', pkg: 'sigs.k8s.io/kustomize/kustomize/v5', versionOf: 'sigs.k8s.io/kustomize/kustomize/v5' },
  // Same module as kustomize, so it links exactly the kustomize API the binary is built from.
  { name: 'kustomize-renderer', module: 'kustomize', pkg: './renderer', versionOf: 'sigs.k8s.io/kustomize/api', sources: 'renderer' },
  { name: 'kubeconform', module: 'kubeconform', pkg: 'github.com/yannh/kubeconform/cmd/kubeconform', versionOf: 'github.com/yannh/kubeconform', ldflags: '-X main.version={version}' },
  // The API server validate dry-runs against (about 8 minutes of build on a fresh 2-core machine;
  // the stamp skips it afterwards). Without the -X stamps it reports v0.0.0-master.
  {
    name: 'kube-apiserver',
    module: 'apiserver',
    pkg: 'k8s.io/kubernetes/cmd/kube-apiserver',
    versionOf: 'k8s.io/kubernetes',
    ldflags: KUBE_LDFLAGS,
  },
  // etcd from the same module graph: the version k8s.io/kubernetes itself is tested with, no root or apt needed.
  { name: 'etcd', module: 'apiserver', pkg: 'go.etcd.io/etcd/server/v3', versionOf: 'go.etcd.io/etcd/server/v3' },
  { name: 'actionlint', module: 'actionlint', pkg: 'github.com/rhysd/actionlint/cmd/actionlint', versionOf: 'github.com/rhysd/actionlint' },
  // Renders helmCharts when argocd-cm enables helm: kustomize gets --helm-command <this binary>.
  { name: 'helm', module: 'helm', pkg: 'helm.sh/helm/v3/cmd/helm', versionOf: 'helm.sh/helm/v3', ldflags: '-X helm.sh/helm/v3/internal/version.version={version}', optional: 'helm' },
  // Argo CD itself (one multicall binary: argocd-repo-server, argocd-application-controller,
  // argocd-applicationset-controller by argv[0]); about 17 CPU-minutes on a fresh machine.
  { name: 'argocd', module: 'argocd', pkg: 'github.com/argoproj/argo-cd/v3/cmd', versionOf: 'github.com/argoproj/argo-cd/v3', ldflags: '-X github.com/argoproj/argo-cd/v3/common.version={bare} -X github.com/argoproj/argo-cd/v3/common.gitTreeState=clean',
    patches: ARGOCD_PATCHES },
  // Ours, in Argo CD's module (so it links exactly the Argo CD the binary is built from): the
  // ApplicationSet expansion and the repo-server's manifest generation, offline (lib/argocd/helper.ts).
  // Built from the same patched tree as argocd, so the two builds share Argo CD's compiled packages.
  { name: 'argocd-helper', module: 'argocd', pkg: './helper', versionOf: 'github.com/argoproj/argo-cd/v3', sources: 'helper', patches: ARGOCD_PATCHES },
  // The simulated clusters of the sync rehearsal: the controllers from the API server's module
  // graph (same Kubernetes version, mostly the same build cache) and kwok's fake nodes.
  { name: 'kube-controller-manager', module: 'apiserver', pkg: 'k8s.io/kubernetes/cmd/kube-controller-manager', versionOf: 'k8s.io/kubernetes', ldflags: KUBE_LDFLAGS, optional: 'rehearse' },
  { name: 'kube-scheduler', module: 'apiserver', pkg: 'k8s.io/kubernetes/cmd/kube-scheduler', versionOf: 'k8s.io/kubernetes', ldflags: KUBE_LDFLAGS, optional: 'rehearse' },
  { name: 'kwok', module: 'kwok', pkg: 'sigs.k8s.io/kwok/cmd/kwok', versionOf: 'sigs.k8s.io/kwok', optional: 'rehearse' },
];

/** Renovate, pinned with the Node 24 it runs on in a package of its own (tools/renovate). */
export const RENOVATE_DIR = path.join(REPO_ROOT, 'tools', 'renovate');

export function renovatePaths(): { version: string; renovate: { node: string; dist: string; cli: string; validator: string } } {
  const modules = path.join(RENOVATE_DIR, 'node_modules');
  const dist = path.join(modules, 'renovate', 'dist');
  const pkg = JSON.parse(readFileSync(path.join(RENOVATE_DIR, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  return {
    version: pkg.dependencies.renovate,
    renovate: { node: path.join(modules, 'node', 'bin', 'node'), dist, cli: path.join(dist, 'renovate.js'), validator: path.join(dist, 'config-validator.js') },
  };
}

/** The version a tool's go.mod requires (the pin), read from its require lines. */
export async function pinnedVersion(tool: GoTool): Promise<string> {
  const text = await readFile(path.join(GO_TOOLS_DIR, tool.module, 'go.mod'), 'utf8');
  const esc = tool.versionOf.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^\\s*(?:require\\s+)?${esc}\\s+(v\\S+)`, 'm').exec(text);
  if (!m) throw new ToolMissingError(`tools/go/${tool.module}/go.mod does not require ${tool.versionOf}`);
  return m[1];
}

let kubeVersion: string | undefined;

/**
 * The Kubernetes version the toolkit's pinned kube-apiserver serves, as `<major>.<minor>.0` (schemas
 * and the server check go by minor): the default of gitops.yaml kubernetes.version. Read once from
 * tools/go/apiserver/go.mod.
 */
export function pinnedKubernetesVersion(): string {
  if (kubeVersion) return kubeVersion;
  const text = readFileSync(path.join(GO_TOOLS_DIR, 'apiserver', 'go.mod'), 'utf8');
  const m = /^\s*(?:require\s+)?k8s\.io\/kubernetes\s+v(\d+)\.(\d+)\.\d+/m.exec(text);
  if (!m) throw new ToolMissingError('tools/go/apiserver/go.mod does not require k8s.io/kubernetes');
  kubeVersion = `${m[1]}.${m[2]}.0`;
  return kubeVersion;
}

function goTool(name: string): GoTool {
  return GO_TOOLS.find((t) => t.name === name)!;
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
  /** Long-lived renderer linking the same kustomize (kustomize only; absent: one process per build). */
  renderer?: Renderer;
}

export async function findKustomize(env: NodeJS.ProcessEnv = process.env): Promise<Tool> {
  if (env.GITOPS_KUSTOMIZE) return { cmd: env.GITOPS_KUSTOMIZE, args: ['build'] };
  const pinned = path.join(toolsDir(env), 'kustomize');
  if (await isExecutable(pinned)) return { cmd: pinned, args: ['build'], renderer: await findRenderer(env) };
  const kustomizeVersion = await pinnedVersion(goTool('kustomize'));
  // kubectl embeds an older kustomize: renders may differ from what Argo CD renders.
  return {
    cmd: env.GITOPS_KUBECTL ?? 'kubectl',
    args: ['kustomize'],
    warning: `pinned kustomize ${kustomizeVersion} not found at ${pinned}; falling back to 'kubectl kustomize' (older embedded kustomize, renders may differ from Argo CD). Run 'npm run setup' to install it.`,
  };
}

/**
 * The renderer built beside the pinned kustomize (same module, same kustomize API);
 * GITOPS_NO_RENDERER=1 makes every build a kustomize process.
 */
async function findRenderer(env: NodeJS.ProcessEnv): Promise<Renderer | undefined> {
  if (env.GITOPS_NO_RENDERER) return undefined;
  const bin = path.join(toolsDir(env), 'kustomize-renderer');
  return (await isExecutable(bin)) ? sharedRenderer(bin) : undefined;
}

export async function findKubeconform(env: NodeJS.ProcessEnv = process.env): Promise<Tool> {
  if (env.GITOPS_KUBECONFORM) return { cmd: env.GITOPS_KUBECONFORM, args: [] };
  const pinned = path.join(toolsDir(env), 'kubeconform');
  if (await isExecutable(pinned)) return { cmd: pinned, args: [] };
  const kubeconformVersion = await pinnedVersion(goTool('kubeconform'));
  throw new ToolMissingError(`kubeconform ${kubeconformVersion} not found at ${pinned}`, "run 'npm run setup' (needs Go) to install the pinned kubeconform");
}

/** The kube-apiserver and etcd binaries validate's server-side dry run starts. */
export interface ApiServerBinaries {
  kubeApiserver: string;
  etcd: string;
  /** Where they came from, for messages. */
  source: string;
}

/**
 * GITOPS_KUBE_APISERVER / GITOPS_ETCD, else KUBEBUILDER_ASSETS (a setup-envtest folder), else
 * the pinned builds in the tools folder. Undefined (with why) when one is missing.
 */
export async function findApiServer(env: NodeJS.ProcessEnv = process.env): Promise<ApiServerBinaries | { missing: string }> {
  const dir = toolsDir(env);
  const assets = env.KUBEBUILDER_ASSETS ? path.resolve(env.KUBEBUILDER_ASSETS) : undefined;
  const pick = (override: string | undefined, name: string): { path: string; from: string } =>
    override ? { path: path.resolve(override), from: `GITOPS_${name === 'etcd' ? 'ETCD' : 'KUBE_APISERVER'}` } : assets ? { path: path.join(assets, name), from: 'KUBEBUILDER_ASSETS' } : { path: path.join(dir, name), from: 'npm run setup' };
  const api = pick(env.GITOPS_KUBE_APISERVER, 'kube-apiserver');
  const etcd = pick(env.GITOPS_ETCD, 'etcd');
  for (const b of [api, etcd]) if (!(await isExecutable(b.path))) return { missing: `${path.basename(b.path)} not found at ${b.path} (${b.from})` };
  return { kubeApiserver: api.path, etcd: etcd.path, source: [...new Set([api.from, etcd.from])].join(', ') };
}

export async function findActionlint(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const pinned = path.join(toolsDir(env), 'actionlint');
  if (await isExecutable(pinned)) return pinned;
  throw new ToolMissingError(`actionlint ${await pinnedVersion(goTool('actionlint'))} not found at ${pinned}`, "run 'npm run setup' (needs Go) to install the pinned actionlint");
}

/**
 * The toolkit's pinned helm (built by `npm run setup -- --helm`), or GITOPS_HELM; undefined when
 * absent. Renders never run a helm the repository names.
 */
export async function findHelm(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (env.GITOPS_HELM) return path.resolve(env.GITOPS_HELM);
  const pinned = path.join(toolsDir(env), 'helm');
  return (await isExecutable(pinned)) ? pinned : undefined;
}
