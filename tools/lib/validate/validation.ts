// The validation pipeline shared by `validate`, the release commands and the bench:
// render, schema checks, policies, cross-resource checks, immutable fields against a base.
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { selectApps } from '../config/apps.js';
import { appInventory, fluxFindings, listApps, type AppInventory, type AppListing } from '../argocd/applications.js';
import { renderLikeArgo } from '../argocd/argocd.js';
import { REPO_SERVER_KINDS } from '../argocd/clusterapps.js';
import { changedFiles, loadBaseConfig, resolveBase, trustRenderSettings, withWorktree } from '../render/changes.js';
import { checkImmutable, crossChecks } from './checks/index.js';
import { changedTargets } from './changed.js';
import { CONFIG_FILE, loadConfig, type Config } from '../config/config.js';
import { layoutRoots, unrenderedFindings } from './coverage.js';
import { kubeconform, schemaLocations, type KcResult } from './kubeconform.js';
import { kustomizationClosure } from '../render/kustomize.js';
import { resourceId, type K8sObject } from '../core/k8s.js';
import { checkPolicies, loadPolicies, policyLevels, type PolicySet, type PolicyViolation } from './policies.js';
import { appTargets, beginRun, clusterTargets, endRun, entryPointFindings, kustomizationOf, locate, objectHash, rel, targetKey, workspaceFor } from '../render/render.js';
import { type Rendered, type Target } from '../render/rendered.js';
import { cachingEnabled, sha, Store, toolkitCodeHash } from '../core/workspace.js';
import { locateOrigins } from '../render/origins.js';
import type { FormatOf } from '../core/formats.js';
import type { Finding } from '../core/finding.js';
import { prestartLocal, serverCheck, serverStoreFile, type ServerCheckResult, type ServerMode } from '../server/servercheck.js';
import type { LocalApiServer } from '../server/apiserver.js';
import { mark } from '../core/timing.js';
import { parse as parseYamlText } from 'yaml';
import { findKubeconform, findKustomize, REPO_ROOT, type Tool } from '../core/tools.js';
import { pointerToDotted } from '../core/pointer.js';

export interface ValidateOptions {
  cwd: string;
  env?: string;
  app?: string;
  format?: FormatOf<'validate'>;
  /** Folder of policy files (default tools/policies of the toolkit). */
  policiesDir?: string;
  /** Where the report goes (default stdout). */
  write?: (text: string) => void;
  /** Where warnings about the tooling go (default stderr). */
  warn?: (text: string) => void;
  envVars?: NodeJS.ProcessEnv;
  /** Revision to compare with (immutable-field); default with changedOnly: merge base with the default branch. */
  base?: string;
  /** Validate only the targets whose files changed since `base`. */
  changedOnly?: boolean;
  /** Report only findings the base revision (`base`, default the merge base) does not already have. */
  newOnly?: boolean;
  /**
   * Server-side dry run (lib/server/servercheck.ts): 'auto' (the CLI's default) when the binaries are
   * installed, 'local' always, `{ kubeconfig }` against a real cluster; false (--no-server) or
   * undefined (library callers) skips it.
   */
  server?: ServerMode | false;
  /** A running local API server to reuse (tests start one per file). */
  apiServer?: LocalApiServer;
  /** This run's share of the work for a CI job matrix (1-based index of count); see shardTargets. */
  shard?: { index: number; count: number };
  /** Fetch remote bases and Helm repositories (pinned ones only); default: offline. */
  allowRemote?: boolean;
  /** Called as each phase starts (the CLI shows it on a terminal: lib/core/progress.ts). */
  onProgress?: (phase: string) => void;
}

export interface ValidateResult {
  /** Every app of every environment (lib/argocd/applications.ts): the same list status shows. */
  apps?: AppListing[];
  /** What the server-side dry run did (undefined when not asked for). */
  server?: ServerCheckResult;
  findings: Finding[];
  rendered: Rendered[];
  overlays: number;
  objects: number;
}

const dotted = pointerToDotted;

/** What kubeconform said about one object, as cached (findings are made from it each run). */
interface SchemaOutcome {
  status: KcResult['status'];
  msg?: string;
  errors?: KcResult['validationErrors'];
}

// Bumped when the way outcomes are computed changes (here: multi-document files).
const SCHEMA_CHECK_VERSION = 2;
const POLICY_CHECK_VERSION = 1;

/**
 * Everything a schema outcome depends on besides the object: kubeconform's binary, the schema
 * locations (a local folder by its modification time too) and the Kubernetes version.
 */
async function schemaChecksKey(tool: Tool, locations: string[], kubernetesVersion: string): Promise<string> {
  const sig = async (p: string) => stat(p).then((s) => `${s.size}:${s.mtimeMs}`, () => '-');
  const local = await Promise.all(locations.filter((l) => !/^(https?:|default$)/.test(l)).map((l) => sig(l.split('{{')[0])));
  return sha(JSON.stringify([SCHEMA_CHECK_VERSION, tool.cmd, await sig(tool.cmd), locations, local, kubernetesVersion]));
}

/** Objects per kubeconform input file: one file per object costs a write each. */
const DOCS_PER_FILE = 200;

type SchemaItem = { r: Rendered; o: K8sObject; hash: string };

/**
 * Schema checks for every rendered object: one kubeconform process for every object not checked
 * before (outcomes are cached by object hash and checks key, see schemaChecksKey).
 */
async function schemaFindings(config: Config, rendered: Rendered[], envVars: NodeJS.ProcessEnv): Promise<Finding[]> {
  const items: SchemaItem[] = rendered.flatMap((r) => r.objects.map((o, i) => ({ r, o, hash: r.hashes?.[i] ?? objectHash(o) })));
  if (!items.length) return [];
  const tool = await findKubeconform(envVars);
  const locations = await schemaLocations(config);
  const store = await Store.open<SchemaOutcome>(config.root, 'schema', await schemaChecksKey(tool, locations, config.kubernetesVersion), envVars);
  const outcomes = new Map<string, SchemaOutcome>();
  const todo = new Map<string, K8sObject>();
  for (const it of items) {
    const hit = store.get(it.hash);
    if (hit) outcomes.set(it.hash, hit);
    else todo.set(it.hash, it.o);
  }
  if (todo.size) {
    for (const [hash, outcome] of await runKubeconform(config, tool, locations, todo)) {
      outcomes.set(hash, outcome);
      // A download that failed (offline, rate-limited) says nothing lasting about the object.
      if (!/^failed downloading schema/.test(outcome.msg ?? '')) store.set(hash, outcome);
    }
    await store.save();
  }
  return items.flatMap((it) => {
    const res = outcomes.get(it.hash);
    return res ? outcomeFindings(config, it, res) : [];
  });
}

/**
 * One kubeconform per core, each given whole kinds: a process compiles the schema of every kind
 * it sees, so splitting by kind (not by object) compiles each schema once. Outcomes by object hash.
 */
async function runKubeconform(config: Config, tool: Tool, locations: string[], todo: Map<string, K8sObject>): Promise<Map<string, SchemaOutcome>> {
  const groups = new Map<string, Array<[string, K8sObject]>>();
  for (const e of todo) {
    const kind = `${e[1].apiVersion}/${e[1].kind}`;
    if (!groups.has(kind)) groups.set(kind, []);
    groups.get(kind)!.push(e);
  }
  const bins = Array.from({ length: Math.max(1, Math.min(os.availableParallelism(), groups.size, 4)) }, () => [] as Array<[string, K8sObject]>);
  for (const g of [...groups.values()].sort((a, b) => b.length - a.length)) bins.reduce((min, b) => (b.length < min.length ? b : min)).push(...g);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gitops-validate-'));
  const outcomes = new Map<string, SchemaOutcome>();
  try {
    const results = await Promise.all(bins.filter((b) => b.length).map(async (bin, bi) => {
      // JSON, not YAML: kubeconform reads YAML 1.1, where an unquoted `yes` would turn boolean.
      // Several documents per file; kubeconform (one worker) reports them in file order.
      const dir = path.join(tmp, String(bi));
      await mkdir(dir);
      const files = new Map<string, Array<[string, K8sObject]>>();
      for (let n = 0; n * DOCS_PER_FILE < bin.length; n++) {
        const batch = bin.slice(n * DOCS_PER_FILE, (n + 1) * DOCS_PER_FILE);
        const file = path.join(dir, `${String(n).padStart(5, '0')}.yaml`);
        files.set(file, batch);
        await writeFile(file, batch.map(([, o]) => JSON.stringify(o)).join('\n---\n') + '\n');
      }
      return { files, results: await kubeconform(tool, [dir], { locations, kubernetesVersion: config.kubernetesVersion, cacheDir: path.join(config.root, '.cache', 'kubeconform') }) };
    }));
    for (const { files, results: rs } of results) {
      const seen = new Map<string, number>();
      for (const res of rs) {
        const batch = files.get(res.filename);
        if (!batch) continue;
        const i = seen.get(res.filename) ?? 0;
        seen.set(res.filename, i + 1);
        const [hash, o] = batch[i] ?? [];
        if (!o || (res.kind && res.kind !== o.kind) || (res.name && res.name !== (o.metadata?.name ?? ''))) throw new Error(`kubeconform reported ${res.kind} ${res.name} where ${o?.kind} ${o?.metadata?.name} was expected (${res.filename})`);
        outcomes.set(hash!, { status: res.status, msg: res.msg || undefined, errors: res.validationErrors });
      }
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return outcomes;
}

/** The findings of one object's schema outcome: each validation error at its field, or the missing schema. */
function outcomeFindings(config: Config, { r, o }: SchemaItem, res: SchemaOutcome): Finding[] {
  const base = { overlay: r.target.dir, resource: resourceId(o) };
  if (res.status === 'statusInvalid') {
    return (res.errors ?? [{ path: '', msg: res.msg ?? 'invalid' }]).map((e) => ({ ...base, severity: 'error' as const, rule: 'schema', field: dotted(e.path), message: e.msg, ...locate(r, o, e.path) }));
  }
  if (res.status !== 'statusError') return [];
  // A remote location that cannot be reached (offline, with a mirror that lacks the kind) is
  // a missing schema too, with the reason.
  const unreachable = /^failed downloading schema at (\S+?):/.exec(res.msg ?? '');
  const missing = /could not find schema/.test(res.msg ?? '') || !!unreachable;
  const why = unreachable ? ` (${unreachable[1].replace(/^(https?:\/\/[^/]+).*/, '$1')} could not be reached)` : '';
  const allowed = config.allowMissingSchemas.includes(o.kind) || config.allowMissingSchemas.includes(`${o.apiVersion}/${o.kind}`);
  return [{
    ...base,
    severity: missing && allowed ? 'info' : 'error',
    rule: missing ? 'schema-missing' : 'schema',
    message: missing
      ? allowed
        ? `no schema for ${o.apiVersion} ${o.kind}${why}; allowed by gitops.yaml schemas.allowMissing, so it was not checked`
        : `no schema for ${o.apiVersion} ${o.kind} in any schema location${why}; add its CRD schema (npm run schemas -- <crd.yaml>) or list the kind in gitops.yaml schemas.allowMissing`
      : res.msg ?? 'schema error',
    ...locate(r, o),
  }];
}

/**
 * Policy violations of every rendered object, cached by object hash, context (levels included)
 * and policy files; plus a warning for each level gitops.yaml sets for a policy that does not exist.
 */
async function policyFindings(config: Config, rendered: Rendered[], policiesDir: string, envVars: NodeJS.ProcessEnv): Promise<Finding[]> {
  const files = (await readdir(policiesDir).catch(() => [] as string[])).filter((f) => /\.ya?ml$/.test(f)).sort();
  const texts = await Promise.all(files.map((f) => readFile(path.join(policiesDir, f), 'utf8')));
  const findings: Finding[] = [];
  // A level for a policy that does not exist is a typo that would silently change nothing.
  const levelsSet = [['policies.severity', config.policySeverity], ...config.environments.map((e) => [`environments[${e.name}].policies`, e.policies ?? {}] as const)] as const;
  const ids = levelsSet.some(([, levels]) => Object.keys(levels).length)
    ? new Set(texts.map((t) => (parseYamlText(t) as { id?: unknown } | null)?.id).filter((id): id is string => typeof id === 'string').concat(config.disabledPolicies))
    : new Set<string>();
  for (const [where, levels] of levelsSet) {
    for (const id of Object.keys(levels).filter((k) => !ids.has(k))) {
      findings.push({ severity: 'warning', rule: 'unknown-policy', overlay: '.', resource: '', file: CONFIG_FILE, message: `${where} names policy '${id}', which does not exist (known: ${[...ids].sort().join(', ')})` });
    }
  }
  const key = sha(JSON.stringify([POLICY_CHECK_VERSION, toolkitCodeHash(), files, texts, config.disabledPolicies, config.exemptionPrefix]));
  const store = await Store.open<PolicyViolation[]>(config.root, 'policies', key, envVars);
  let policies: PolicySet | undefined; // compiled only when some object was not checked before
  for (const r of rendered) {
    const ctx = { env: r.target.env, app: r.target.app?.id, scope: r.target.kind === 'app' ? ('apps' as const) : ('clusters' as const), exemptionPrefix: config.exemptionPrefix, levels: policyLevels(config, r.target.env) };
    const ctxKey = JSON.stringify([ctx.env?.name, ctx.env?.requireDigests, ctx.app, ctx.scope, ctx.levels]);
    for (const [i, o] of r.objects.entries()) {
      const k = sha(`${ctxKey}\0${r.hashes?.[i] ?? objectHash(o)}`);
      let violations = store.get(k);
      if (!violations) {
        policies ??= await loadPolicies(policiesDir, config.disabledPolicies);
        violations = checkPolicies(policies, o, ctx);
        store.set(k, violations);
      }
      for (const v of violations) {
        findings.push({ severity: v.severity, rule: v.rule, overlay: r.target.dir, resource: resourceId(o), message: v.message, field: v.path ? dotted(v.path) : undefined, ...locate(r, o, v.path) });
      }
    }
  }
  await store.save();
  return findings;
}

/**
 * The targets of shard `index` of `count`. Cross-resource checks need every object of a cluster,
 * so whole clusters are the unit: the largest clusters go first to the least loaded shard
 * (ties to the lower index), a deterministic split that every job of the matrix computes alike.
 * With more shards than clusters, the extra shards have nothing to do.
 */
export function shardTargets(targets: Target[], shard: { index: number; count: number }): Target[] {
  const sizes = new Map<string, number>();
  for (const t of targets) sizes.set(t.cluster, (sizes.get(t.cluster) ?? 0) + 1);
  const loads = new Array<number>(shard.count).fill(0);
  const owner = new Map<string, number>();
  for (const [cluster, n] of [...sizes].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) {
    const i = loads.indexOf(Math.min(...loads));
    owner.set(cluster, i + 1);
    loads[i] += n;
  }
  return targets.filter((t) => owner.get(t.cluster) === shard.index);
}

/**
 * Renders the targets' files at the base revision (a temporary worktree) and reports immutable
 * fields that changed. Cluster entry points come along for their argocd-cm build options.
 */
async function immutableFindings(config: Config, tool: Tool, head: Rendered[], base: string, envVars: NodeJS.ProcessEnv): Promise<{ findings: Finding[]; base: Rendered[] }> {
  return withWorktree(config.root, base, async (dir) => {
    // The base revision is read with its own gitops.yaml and layout; without one, nothing existed.
    const { config: baseConfig } = await loadBaseConfig(dir, envVars, await readFile(path.join(config.root, CONFIG_FILE), 'utf8').catch(() => undefined));
    if (!baseConfig) return { findings: [], base: [] };
    baseConfig.render = config.render;
    const clusters = new Set(head.map((r) => r.target.cluster));
    const wanted = new Set(head.map((r) => targetKey(r.target)));
    const baseApps = (await appInventory(baseConfig, tool)).overlays.filter((a) => clusters.has(a.env.cluster));
    const targets = [
      ...appTargets(baseApps).filter((t) => wanted.has(targetKey(t))),
      ...clusterTargets(baseConfig, baseConfig.environments.filter((e) => clusters.has(e.cluster))),
    ];
    const rendered = await renderLikeArgo(baseConfig, tool, targets);
    return { findings: checkImmutable(head, rendered), base: rendered };
  });
}

/**
 * What a finding is about, independent of lines and folders: rule, app and environment (or
 * cluster entry point), object and field. Findings about a file (no object) add the file.
 */
function findingKey(f: Finding, scopes: Map<string, string>): string {
  return [f.rule, scopes.get(f.overlay) ?? f.overlay, f.resource, f.field ?? '', f.resource ? '' : f.file ?? ''].join('\0');
}

function scopesOf(targets: Target[]): Map<string, string> {
  return new Map(targets.map((t) => [t.dir, targetKey(t)]));
}

/**
 * Renders, schema-checks, policy-checks and cross-checks the selected overlays; prints nothing.
 * With `newOnly`, the base revision is validated too (with its own gitops.yaml) and the
 * findings it already has are left out, so a team can adopt the toolkit before fixing them all.
 */
export async function runValidation(opts: Omit<ValidateOptions, 'format' | 'write'>): Promise<ValidateResult & { config: Config; targets: Target[] }> {
  const head = await validateTree(opts);
  if (!opts.newOnly) return { ...head, findings: await locateOrigins(head.findings) };
  const envVars = opts.envVars ?? process.env;
  const rev = await resolveBase(head.config.root, opts.base, head.config.defaultBranch);
  const current = await readFile(path.join(head.config.root, CONFIG_FILE), 'utf8');
  let note: string | undefined;
  const known = await withWorktree(head.config.root, rev, async (dir) => {
    const loaded = await loadBaseConfig(dir, envVars, current);
    note = loaded.note;
    const baseConfig = loaded.config;
    if (!baseConfig) return new Set<string>(); // no toolkit config at the base: every finding is new
    // Read with the current gitops.yaml: the base's temporary checkout gets a copy of it.
    if (loaded.note) await writeFile(path.join(dir, CONFIG_FILE), current);
    const env = opts.env && baseConfig.environments.some((e) => e.name === opts.env) ? opts.env : undefined;
    const r = await validateTree({ ...opts, cwd: dir, env, app: undefined, base: undefined, changedOnly: false, newOnly: false, server: false, warn: () => {} });
    const scopes = scopesOf(r.rendered.map((x) => x.target));
    return new Set(r.findings.map((f) => findingKey(f, scopes)));
  });
  const scopes = scopesOf(head.rendered.map((x) => x.target));
  const fresh = head.findings.filter((f) => f.severity === 'info' || !known.has(findingKey(f, scopes)));
  const hidden = head.findings.length - fresh.length;
  if (note) fresh.push({ severity: 'info', rule: 'baseline', overlay: '.', resource: '', message: `--new-only: ${note}` });
  if (hidden) fresh.push({ severity: 'info', rule: 'baseline', overlay: '.', resource: '', message: `${hidden} finding(s) that ${rev.slice(0, 12)} already has are not reported (--new-only)` });
  return { ...head, findings: await locateOrigins(fresh) };
}

async function validateTree(opts: Omit<ValidateOptions, 'format' | 'write'>): Promise<ValidateResult & { config: Config; targets: Target[] }> {
  const envVars = opts.envVars ?? process.env;
  const config = await loadConfig(opts.cwd, envVars);
  mark('config');
  if (opts.allowRemote) config.render.allowRemote = true;
  // Against a base revision (a pull request), what a render may fetch is the base's setting.
  const trustNotes = opts.base !== undefined || opts.changedOnly || opts.newOnly ? await trustRenderSettings(config, await resolveBase(config.root, opts.base, config.defaultBranch), envVars, opts.allowRemote) : [];
  beginRun(config, envVars);
  try {
    const r = await validateRun(config, opts, envVars);
    for (const message of trustNotes) r.findings.push({ severity: 'info', rule: 'untrusted-setting', overlay: '.', resource: '', file: CONFIG_FILE, message });
    return r;
  } finally {
    await endRun(config);
  }
}

/** Whether the run does a server dry run: asked for (the CLI's 'auto'), or handed a server. */
function wantsServer(opts: Pick<ValidateOptions, 'server' | 'apiServer'>): boolean {
  return opts.server !== false && (opts.server !== undefined || !!opts.apiServer);
}

async function validateRun(config: Config, opts: Omit<ValidateOptions, 'format' | 'write'>, envVars: NodeJS.ProcessEnv): Promise<ValidateResult & { config: Config; targets: Target[] }> {
  // A cold run, or one that will need the server anyway (a base revision to apply first), starts
  // the local API server first thing, so that its start (seconds) overlaps the whole run; a warm
  // run waits to see whether every dry-run outcome is cached.
  const wantServer = wantsServer(opts);
  const willNeed = opts.base !== undefined || !!opts.changedOnly || !cachingEnabled(envVars) || !existsSync(serverStoreFile(config.root));
  const envClusters = (opts.env ? config.environments.filter((e) => e.name === opts.env) : config.environments).map((e) => e.cluster);
  let starting = wantServer && willNeed && !opts.apiServer && typeof opts.server !== 'object' ? prestartLocal(config, envClusters, envVars, opts.warn) : undefined;
  starting?.catch(() => {}); // serverCheck awaits it (and reports a failure by starting again)
  /** The prestarted server, handed over once: serverCheck owns (and stops) it from then on. */
  const handOver = () => {
    const srv = starting;
    starting = undefined;
    return srv;
  };
  try {
    return await selectAndCheck(config, opts, envVars, handOver);
  } finally {
    // Not handed to serverCheck (nothing to check, or the run failed first): stopped here.
    await handOver()?.then((srv) => srv?.stop(), () => {});
  }
}

type CheckResult = ValidateResult & { config: Config; targets: Target[] };

/** What a run checks: the inventory, the selected targets (--env, --app, --changed-only, --shard) and the layout and mapping findings about them. */
interface Selection {
  inventory: AppInventory;
  envs: Config['environments'];
  targets: Target[];
  /** The targets of every shard (the coverage check reads them all). */
  everyTarget: Target[];
  base?: string;
  layoutFindings: Finding[];
}

async function selectAndCheck(config: Config, opts: Omit<ValidateOptions, 'format' | 'write'>, envVars: NodeJS.ProcessEnv, handOver: () => Promise<LocalApiServer | undefined> | undefined): Promise<CheckResult> {
  const kustomize = await findKustomize(envVars);
  const sel = await selectTargets(config, opts, kustomize);
  if (!sel.targets.length) return nothingSelected(config, opts, sel);
  if (kustomize.warning) (opts.warn ?? ((t) => process.stderr.write(`warning: ${t}\n`)))(kustomize.warning);
  const { inventory, targets, base } = sel;
  const allApps = inventory.overlays;

  // Cross-resource checks need whole clusters: render every target of the clusters the selected
  // targets deploy to, and report only what concerns the selection.
  const clusterNames = new Set(targets.map((t) => t.cluster));
  const contextTargets = [
    ...appTargets(allApps.filter((a) => clusterNames.has(a.env.cluster))),
    ...clusterTargets(config, config.environments.filter((e) => clusterNames.has(e.cluster))),
  ];
  const step = opts.onProgress ?? (() => {});
  step(`rendering ${contextTargets.length} targets`);
  mark('setup');
  const all = await renderLikeArgo(config, kustomize, contextTargets);
  mark('render');
  // The toolkit chose the changed targets from its reading of the kustomizations; a render that
  // read a file that reading missed means the choice cannot be trusted: validate everything.
  if (opts.changedOnly && all.some((r) => r.findings.some((f) => f.rule === 'unaccounted-read'))) {
    const r = await selectAndCheck(config, { ...opts, changedOnly: false }, envVars, handOver);
    r.findings.push({ severity: 'info', rule: 'changed-only-widened', overlay: '.', resource: '', message: 'a render read files the toolkit\'s reading of the kustomizations does not account for (unaccounted-read): --changed-only validated every target instead' });
    return r;
  }
  const selected = new Set(targets.map((t) => t.dir));
  const rendered = all.filter((r) => selected.has(r.target.dir));

  const findings: Finding[] = [...sel.layoutFindings, ...rendered.flatMap((r) => r.findings)];
  // The server dry run needs only the renders: without a base to apply first it runs alongside
  // the schema, policy and cross-checks (the API server's start and CRDs are mostly waiting).
  const wantServer = wantsServer(opts);
  const serverOpts = { mode: opts.server || ('local' as const), rendered, all, server: opts.apiServer, env: opts.env, envVars, log: opts.warn };
  const early = wantServer && !base ? serverCheck(config, { ...serverOpts, starting: handOver() }) : undefined;
  early?.catch(() => {}); // awaited below; until then a failure must not count as unhandled
  const argoRendered: Rendered[] = [];
  findings.push(...(await localFindings(config, opts, { kustomize, targets, contextTargets, all, rendered, argoRendered })));
  findings.push(...(await coverage(config, opts, sel, rendered, [...all, ...argoRendered], findings)));
  let baseRendered: Rendered[] | undefined;
  if (base && rendered.length) {
    step(`immutable fields against ${base.slice(0, 12)}`);
    const imm = await immutableFindings(config, kustomize, rendered, base, envVars);
    findings.push(...imm.findings);
    // Only targets the change touches are applied: the rest of the base would be checked unchanged.
    const keys = new Set(rendered.map((r) => targetKey(r.target)));
    baseRendered = imm.base.filter((r) => keys.has(targetKey(r.target)));
  }
  const warn = opts.warn ?? ((t: string) => process.stderr.write(`${t}\n`));
  let server: ServerCheckResult | undefined;
  if (opts.server === false) {
    warn('server dry run skipped: --no-server');
  } else if (wantServer) {
    step('server-side dry run');
    server = await (early ?? serverCheck(config, { ...serverOpts, base: baseRendered, starting: handOver() }));
    findings.push(...serverFindings(findings, server));
    warn(server.note);
    mark(`server (start ${server.timings.startMs.toFixed(0)} ms, CRDs ${server.timings.crdsMs.toFixed(0)} ms, dry runs ${server.timings.dryRunMs.toFixed(0)} ms)`);
  }
  mark('end');
  return { config, server, apps: listApps(inventory), targets: rendered.map((r) => r.target), findings: findings.map(({ subjects: _s, pointer: _p, ...f }) => f), rendered, overlays: rendered.length, objects: rendered.reduce((n, r) => n + r.objects.length, 0) };
}

/**
 * The checks that need no server: schemas and policies of the selected renders, the cross-resource
 * and Argo CD checks over their clusters, and schemas and policies of what Argo CD's repo-server
 * code renders (`argoRendered` receives those renders).
 */
async function localFindings(config: Config, opts: Omit<ValidateOptions, 'format' | 'write'>, run: { kustomize: Tool; targets: Target[]; contextTargets: Target[]; all: Rendered[]; rendered: Rendered[]; argoRendered: Rendered[] }): Promise<Finding[]> {
  const { kustomize, targets, contextTargets, all, rendered, argoRendered } = run;
  const envVars = opts.envVars ?? process.env;
  const step = opts.onProgress ?? (() => {});
  const selected = new Set(targets.map((t) => t.dir));
  const findings: Finding[] = [];
  const policiesDir = opts.policiesDir ?? path.join(REPO_ROOT, 'tools', 'policies');
  step(`checking the schemas of ${rendered.reduce((n, r) => n + r.objects.length, 0)} objects`);
  findings.push(...(await schemaFindings(config, rendered, envVars)));
  mark('schema');
  step('applying policies');
  findings.push(...(await policyFindings(config, rendered, policiesDir, envVars)));
  mark('policies');
  // Folders that Applications deploy but that are no known overlay belong to the cluster entry point.
  const known = new Set(contextTargets.map((t) => t.dir));
  const entrySelected = targets.some((t) => t.kind === 'cluster');
  step('cross-resource checks');
  // A finding filed under a cluster entry point that is about a selected folder (a generator
  // failing on its file) is reported with it, as a full run reports it.
  findings.push(...(await crossChecks(config, kustomize, all, argoRendered)).filter((f) => selected.has(f.overlay) || (entrySelected && !known.has(f.overlay)) || f.subjects?.some((d) => selected.has(d))));
  mark('cross-checks');
  // What Applications deploy beyond the known overlays (Helm charts, plain and jsonnet folders,
  // kustomize with the Application's overrides, rendered by Argo CD's repo-server code): their
  // objects get the schema and policy checks too, reported with the cluster entry point.
  const argoChecked = entrySelected ? argoRendered.filter((r) => !known.has(r.target.dir)) : [];
  if (argoChecked.length) {
    findings.push(...(await schemaFindings(config, argoChecked, envVars)));
    findings.push(...(await policyFindings(config, argoChecked, policiesDir, envVars)));
  }
  return findings;
}

/** The local checks already name an immutable field that changed; the server's finding for it is not repeated. */
function serverFindings(findings: Finding[], server: ServerCheckResult): Finding[] {
  const immutable = new Set(findings.filter((f) => f.rule === 'immutable-field').map((f) => f.resource));
  return server.findings.filter((f) => !(f.rule === 'server-immutable-field' && immutable.has(f.resource)));
}

async function selectTargets(config: Config, opts: Omit<ValidateOptions, 'format' | 'write'>, kustomize: Tool): Promise<Selection> {
  // One inventory: the layout's overlays plus every Application the cluster entry points create.
  // Helm, plain, jsonnet, overridden and multi-source Applications are rendered by Argo CD's
  // repo-server code in the cross-checks (checks/index.ts), so they count as rendered here.
  const inventory = await appInventory(config, kustomize, { rendersAlso: [...REPO_SERVER_KINDS] });
  mark('inventory');
  const layout = inventory.layout;
  const allApps = inventory.overlays;
  const apps = selectApps(config, allApps, { env: opts.env, app: opts.app });
  const envs = opts.env ? config.environments.filter((e) => e.name === opts.env) : config.environments;
  let targets = [...appTargets(apps), ...(opts.app ? [] : clusterTargets(config, envs))];
  // Layout problems of the selected environments (with --app, only those of the selected overlays).
  const envOverlays = new Set(envs.flatMap((e) => allApps.filter((a) => a.env === e).map((a) => a.dir)));
  const layoutFindings = [...layout.findings, ...(await entryPointFindings(config, envs))].filter((f) =>
    opts.app ? apps.some((a) => a.dir === f.overlay) : !allApps.some((a) => a.dir === f.overlay) || envOverlays.has(f.overlay),
  );
  const base = opts.base !== undefined || opts.changedOnly ? await resolveBase(config.root, opts.base, config.defaultBranch) : undefined;
  if (opts.changedOnly) targets = await changedTargets(config, kustomize, inventory, targets, await changedFiles(config.root, base!), workspaceFor(config));
  // A shard owns whole clusters; the targets of the others are still needed by the coverage check.
  const everyTarget = targets;
  if (opts.shard) targets = shardTargets(targets, opts.shard);
  // The mapping's findings: for the clusters this run checks (with --app, those about its folders).
  const runClusters = new Set(targets.map((t) => t.cluster));
  const selectedDirs = new Set(targets.map((t) => t.dir));
  layoutFindings.push(...inventory.findings.slice(layout.findings.length)
    .filter((f) => (!opts.app && (f.cluster === undefined ? !opts.shard || opts.shard.index === 1 : runClusters.has(f.cluster))) || f.subjects?.some((d) => selectedDirs.has(d)))
    .map(({ cluster: _c, ...f }) => f));
  return { inventory, envs, targets, everyTarget, base, layoutFindings };
}

/** Nothing to render: say why instead of reporting "0 overlays, 0 objects" as a success. */
function nothingSelected(config: Config, opts: Omit<ValidateOptions, 'format' | 'write'>, sel: Selection): CheckResult {
  // A shard that owns nothing (more shards than clusters) has nothing to report.
  if (opts.shard && sel.everyTarget.length) return { config, targets: [], findings: [], rendered: [], overlays: 0, objects: 0 };
  const what = opts.app ? `app '${opts.app}'` : opts.env ? `environment ${opts.env}` : 'the configured environments';
  const finding: Finding = opts.changedOnly
    ? { severity: 'info', rule: 'nothing-changed', overlay: '.', resource: '', message: `no overlay or cluster entry point of ${what} reads a file changed since ${sel.base!.slice(0, 12)}: nothing to validate` }
    : { severity: 'error', rule: 'nothing-checked', overlay: '.', resource: '', file: CONFIG_FILE, message: `no overlay or cluster entry point selected for ${what}: check the environments' overlays patterns and clusters.<name>.entryPoint in ${CONFIG_FILE}` };
  return { config, targets: [], apps: listApps(sel.inventory), findings: [...sel.layoutFindings, finding], rendered: [], overlays: 0, objects: 0 };
}

/**
 * What renders nothing, and (whole-repository runs only: a partial selection reads only part of
 * the roots) manifests no render reads and Flux objects. Of a sharded run, shard 1 reports the
 * roots, from the closures of every shard's targets (no render needed).
 */
async function coverage(config: Config, opts: Omit<ValidateOptions, 'format' | 'write'>, sel: Selection, rendered: Rendered[], read: Rendered[], findings: Finding[]): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const r of rendered) {
    if (!r.objects.length && !r.findings.some((f) => f.severity === 'error')) {
      out.push({ severity: 'warning', rule: 'empty-render', overlay: r.target.dir, resource: '', file: kustomizationOf(r), message: `${r.target.dir} renders no object: nothing of it is deployed or checked` });
    }
  }
  if (rendered.length && !rendered.some((r) => r.objects.length) && ![...findings, ...out].some((f) => f.severity === 'error')) {
    out.push({ severity: 'error', rule: 'nothing-checked', overlay: '.', resource: '', message: `${rendered.length} target(s) rendered, but no object: nothing was checked` });
  }
  if (opts.app || opts.changedOnly || (opts.shard && opts.shard.index !== 1)) return out;
  const selected = new Set(sel.targets.map((t) => t.dir));
  const others = opts.shard
    ? await Promise.all(sel.everyTarget.filter((t) => !selected.has(t.dir)).map(async (t) => ({ closure: await kustomizationClosure(path.join(config.root, t.dir), config.root, workspaceFor(config)).then((c) => c.map((f) => rel(config, f)), () => []) })))
    : [];
  out.push(...(await unrenderedFindings(config, layoutRoots(config, sel.envs, sel.inventory.overlays), [...read, ...others])));
  out.push(...(await fluxFindings(config)));
  return out;
}

