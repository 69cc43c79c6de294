// npm run promote <app> <env> [--from <env>]: copy what defines the release from a source environment into
// <env>, as a PR: the images the source renders (tag and digest), written where the target's value is
// decided (its overlay's images:, or a patch or component only it uses), promotion.releaseKeys, and
// promotion.files (release files of the overlay folder, copied whole).
// Environment-specific settings (names, replicas, namespaces) are never copied.
import type { Config, Environment } from '../lib/config/config.js';
import { getEnvironment } from '../lib/config/config.js';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, NameError, UsageError } from '../lib/core/errors.js';
import { copyKey, editYaml, formatPin, getKey, parseKeyPath, parseKustomization, type Pin } from '../lib/render/images.js';
import { resolveDigest, type RegistryOptions } from '../lib/remote/registry.js';
import { release, resolveTarget, type Change, type Edit, type EditContext, type ReleaseCommonOptions, type ReleaseResult } from '../lib/release/release.js';
import { checkValuesOwner, checkValuesText, findChartPlace, ownObject, releaseInventory, writeChartVersion } from '../lib/release/helm.js';
import { sameRepo } from '../lib/argocd/argocd.js';
import { targetLabel, targetsReading } from '../lib/release/inventory.js';
import type { AppOverlay } from '../lib/config/apps.js';
import { kubeconfigArg, readAppHealth } from '../lib/release/health.js';
import { kustomizationClosure } from '../lib/render/kustomize.js';
import { allTreeFiles, appKey, checkRenderedPins, imageStates, planPinEdits, readRepoFile, renderAppImages, type WantedPin } from '../lib/release/releasestate.js';
import { findKustomize } from '../lib/core/tools.js';
import { readReleaseFile } from '../lib/config/releasefiles.js';
import { createHash } from 'node:crypto';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
import { compareReleases, compareVersions, describeOrdering, registryCreated } from '../lib/release/order.js';

export interface PromoteOptions extends ReleaseCommonOptions {
  app: string;
  /** Target environment. */
  env: string;
  /** Source environment (default: the target's promotesFrom); must be on its promotion path. */
  from?: string;
  /** Look up digests of tag-only pins when the target requires digests (default true). */
  resolve?: boolean;
  registry?: RegistryOptions;
  /** Promote even when the source's release is older than the target's (a deliberate downgrade). */
  allowDowngrade?: boolean;
  /** Refuse unless the source environment's Argo CD Application is Synced and Healthy at the release. */
  requireHealthy?: boolean;
  /** `FILE[:CONTEXT]` of the source environment's cluster (default $KUBECONFIG, ~/.kube/config). */
  kubeconfig?: string;
}

/**
 * The source's Argo CD Application must be Synced and Healthy, synced to a revision whose files
 * for the source app (its kustomization closure and release files) are those of `base`: what is
 * promoted is what was seen running.
 */
async function requireHealthy(ctx: EditContext, srcApp: AppOverlay, source: string, kubeconfig: string | undefined, envVars: NodeJS.ProcessEnv): Promise<string> {
  const h = await readAppHealth(srcApp, kubeconfigArg(kubeconfig, envVars));
  const problems: string[] = [];
  if (h.sync !== 'Synced') problems.push(`sync status is ${h.sync ?? 'unknown'}, not Synced`);
  if (h.health !== 'Healthy') problems.push(`health is ${h.health ?? 'unknown'}, not Healthy${h.message ? ` (${h.message})` : ''}`);
  if (!h.revision) problems.push('it reports no synced revision');
  else if (!(await ctx.git.revParse(h.revision))) problems.push(`it is synced to ${h.revision.slice(0, 12)}, which origin's history does not have`);
  else {
    const closure = (await kustomizationClosure(path.join(ctx.root, srcApp.dir), ctx.root)).filter((f) => path.isAbsolute(f) && !path.relative(ctx.root, f).startsWith("..")).map((f) => path.relative(ctx.root, f).split(path.sep).join('/'));
    // A Helm app's release also lives in the values files its Application reads.
    const values = srcApp.helm ? (await releaseInventory(ctx.config, await findKustomize(ctx.envVars))).helm.find((h) => h.id === srcApp.id && h.env.name === srcApp.env.name)?.valueFiles ?? [] : [];
    const files = [...new Set([...closure, ...values, ...ctx.config.releaseFiles.map((f) => path.posix.join(srcApp.dir, f))])].map(ctx.repoPath);
    const changed = (await ctx.git.run(['diff', '--name-only', h.revision, ctx.base, '--', ...files])).trim();
    if (changed) problems.push(`it is synced to ${h.revision.slice(0, 12)}, but the release on origin/${ctx.config.defaultBranch} (${ctx.base.slice(0, 12)}) changed ${changed.split('\n').join(', ')} since: that release has not been seen running`);
  }
  if (problems.length) {
    throw new UsageError(
      `${srcApp.id} in ${source} is not ready to be promoted (Argo CD Application ${h.application}): ${problems.join('; ')}`,
      `wait until Argo CD has synced the release in ${source} and it is Healthy, then re-run (or drop --require-healthy)`,
    );
  }
  return `${source} is Synced and Healthy at ${h.revision!.slice(0, 12)} (Argo CD Application ${h.application})`;
}

/**
 * Promotes a Helm app: the chart version of its Application's chart source (refusing a downgrade)
 * and the values files promotion.helm.valueFiles names, copied whole from the source's.
 */
async function promoteHelm(ctx: EditContext, srcApp: AppOverlay, source: string, opts: { allowDowngrade?: boolean; notes: string[] }): Promise<Edit | null> {
  const target = ctx.app.env.name;
  const tool = await findKustomize(ctx.envVars);
  const { helm: all } = await releaseInventory(ctx.config, tool);
  const find = (env: string) => all.find((h) => h.id === ctx.app.id && h.env.name === env);
  const src = find(source);
  const dst = find(target);
  if (!src || !dst) {
    const [what, where] = !src ? [srcApp, source] : [ctx.app, target];
    throw new UsageError(`${ctx.app.id} is deployed by a Helm source in ${!src ? target : source} but by overlay ${what.dir} in ${where}; promote cannot carry one into the other`, 'deploy it the same way in both environments');
  }
  for (const h of [src, dst]) if (h.problem) throw new UsageError(`${h.id} in ${h.env.name} (Argo CD Application ${h.name}): ${h.problem}`);
  const notes = [...opts.notes];
  const changes: Change[] = [];
  const files: Record<string, string> = {};
  const own: NonNullable<Edit['own']> = [];
  // The chart version, ordered like an image tag.
  if (ctx.config.releaseHelm.chart && src.chart && dst.chart && src.chart.version !== dst.chart.version) {
    if (src.chart.name !== dst.chart.name || !sameRepo(src.chart.repoURL, dst.chart.repoURL)) {
      throw new UsageError(`${ctx.app.id} deploys chart ${src.chart.name} from ${src.chart.repoURL} in ${source} but ${dst.chart.name} from ${dst.chart.repoURL} in ${target}; promote carries a version, not another chart`);
    }
    const o = compareVersions(src.chart.version, dst.chart.version);
    const what = `chart ${dst.chart.name}`;
    if (o.relation === 'older') {
      const d = `${what}: ${target} runs ${dst.chart.version}, ${source} has the older ${src.chart.version} (${describeOrdering(o)})`;
      if (!opts.allowDowngrade) throw new UsageError(`promoting ${ctx.app.id} from ${source} to ${target} would downgrade it:\n  ${d}`, `pass --allow-downgrade to promote the older release anyway, or move ${source} forward first`);
      notes.push(`downgrade (--allow-downgrade): ${d}`);
    } else if (o.relation === 'unordered') notes.push(`${what}: ${src.chart.version} (${source}) and ${dst.chart.version} (${target}) ${describeOrdering(o)}`);
    ctx.log(`finding where the chart version of Argo CD Application ${dst.name} is written`);
    const place = await findChartPlace(ctx.config, tool, dst);
    const w = await writeChartVersion(ctx.config, tool, dst, place, src.chart.version);
    files[w.file] = w.text;
    own.push(ownObject(dst));
    changes.push({ what, from: dst.chart.version, to: src.chart.version });
    if (w.file !== dst.file) notes.push(`${what} of ${dst.name} is set in ${w.file} (${place.path.join('.')})`);
  } else if (src.chart && !dst.chart) notes.push(`${source} deploys chart ${src.chart.name} from a chart repository, ${target} a chart of this repository (${dst.localChart}); chart version not promoted`);
  // Released values files travel whole.
  for (const { pattern, file } of src.released) {
    const to = dst.released.find((r) => r.pattern === pattern);
    if (!to) {
      notes.push(`values file ${file} (promotion.helm.valueFiles '${pattern}') has no counterpart in ${target}'s Application ${dst.name}; not promoted`);
      continue;
    }
    if (to.file === file) continue; // one file both read: nothing travels
    const text = await readRepoFile(ctx.root, file);
    const before = await readFile(path.join(ctx.root, to.file)).catch(() => undefined);
    if (before?.equals(Buffer.from(text))) continue;
    checkValuesText(file, text);
    checkValuesOwner(all, dst, to.file);
    const readers = await targetsReading(ctx.config, [to.file]);
    if (readers.length) throw new UsageError(`values file ${to.file} of ${ctx.app.id} in ${target} is also read by ${readers.map(targetLabel).join(', ')}; nothing was committed`, `give ${target}'s Application a values file of its own`);
    files[to.file] = text;
    changes.push({ what: `values ${to.file}`, from: before === undefined ? '(none)' : `sha256:${sha256(before).slice(0, 12)}`, to: `sha256:${sha256(Buffer.from(text)).slice(0, 12)} (${file})` });
  }
  if (!changes.length) return null;
  const srcFiles = [...new Set([src.file ?? src.entryDir, ...src.released.map((r) => r.file)])];
  const sha = (await ctx.git.run(['log', '-1', '--format=%H%x00%s', ctx.base, '--', ...srcFiles.map(ctx.repoPath)])).trim();
  const [srcSha, subject] = sha.split('\0');
  const chart = changes.find((c) => c.what.startsWith('chart '));
  return {
    files,
    title: `promote ${ctx.app.id} ${source} -> ${target}: ${chart && changes.length === 1 ? `${chart.what.slice('chart '.length)} ${chart.to}` : `${changes.length} changes`}`,
    changes,
    notes,
    own,
    source: srcSha ? { label: `source: ${source} (Argo CD Application ${src.name}) at commit`, sha: srcSha, subject } : undefined,
  };
}

/** Environments a target may be promoted from: its promotesFrom sources and theirs, nearest first. */
export function promotionSources(config: Config, target: Environment): string[] {
  const out: string[] = [];
  let level = [...target.promotesFrom];
  while (level.length) {
    const next: string[] = [];
    for (const name of level) {
      if (out.includes(name) || name === target.name) continue;
      out.push(name);
      next.push(...getEnvironment(config, name).promotesFrom);
    }
    level = next;
  }
  return out;
}

/** The source of a promotion: --from, else the target's only promotesFrom; several sources need --from. */
export function chooseSource(config: Config, target: Environment, from: string | undefined, appId: string): string {
  const allowed = promotionSources(config, target);
  if (!allowed.length) {
    throw new UsageError(`environment '${target.name}' is not promoted from any environment (gitops.yaml environments: no promotesFrom)`, `use 'npm run bump ${appId} ${target.name} <image-ref>' to set its images`);
  }
  if (from !== undefined) {
    const name = getEnvironment(config, from).name;
    if (!allowed.includes(name)) throw new UsageError(`cannot promote to '${target.name}' from '${name}': not on its promotion path\n  allowed sources: ${allowed.join(', ')}`);
    return name;
  }
  if (target.promotesFrom.length > 1) {
    throw new NameError(`environment '${target.name}' promotes from several environments; choose one with --from`, target.promotesFrom);
  }
  return target.promotesFrom[0]!;
}

function show(v: unknown): string {
  if (v === undefined) return '(unset)';
  const s = JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

export async function promote(opts: PromoteOptions): Promise<ReleaseResult> {
  const envVars = opts.envVars ?? process.env;
  const { config, app } = await resolveTarget(opts.cwd, opts.app, opts.env, envVars, { helm: true });
  const target = app.env;
  const source = chooseSource(config, target, opts.from, app.id);
  const releaseKeys = config.releaseKeys.map((k) => ({ key: k, segs: parseKeyPath(k) }));
  const resolved = new Map<string, string>();
  const lookup = registryCreated({ envVars, ...opts.registry });

  return release(
    {
      kind: 'promote',
      appId: app.id,
      env: target.name,
      async edit(ctx) {
        let healthNote: string | undefined;
        const srcApp = ctx.apps.find((a) => a.id === ctx.app.id && a.env.name === source);
        if (!srcApp) {
          throw new ConfigError(`${getEnvironment(ctx.config, source).overlays.join(', ')}`, `${ctx.app.id} is not deployed to '${source}', so there is nothing to promote from it`);
        }
        if (opts.requireHealthy) {
          ctx.log(`reading the Argo CD Application of ${srcApp.id} in ${source}`);
          healthNote = await requireHealthy(ctx, srcApp, source, opts.kubeconfig, envVars);
        }
        if (ctx.app.helm || srcApp.helm) return promoteHelm(ctx, srcApp, source, { allowDowngrade: opts.allowDowngrade, notes: healthNote ? [healthNote] : [] });
        // What each environment renders, not what its overlay's images: block says.
        const tool = await findKustomize(ctx.envVars);
        const rendered = await renderAppImages(ctx.config, tool, [srcApp, ctx.app]);
        const src = rendered.get(appKey(srcApp))!;
        const dst = rendered.get(appKey(ctx.app))!;
        for (const r of [src, dst]) if (r.error) throw new ConfigError(r.overlayFile, `does not render: ${r.error}`);
        const dstStates = imageStates(dst);
        const wanted: WantedPin[] = [];
        const notes: string[] = healthNote ? [healthNote] : [];
        const downgrades: string[] = [];
        for (const [key, s] of imageStates(src)) {
          if (!s.pin.tag && !s.pin.digest) continue; // nothing pinned: nothing to carry
          if (s.mixed) {
            throw new UsageError(`${ctx.app.id} in ${source} runs ${key} as ${[...new Set(s.containers.map((c) => c.image))].join(' and ')} in different containers; promote cannot tell which one to copy`, `make them agree in ${source}, or use npm run bump ${ctx.app.id} ${target.name} <image-ref>`);
          }
          if (!dstStates.has(key)) {
            notes.push(`${key} runs in ${source} but not in ${target.name}; not promoted`);
            continue;
          }
          let pin: Pin = { ...s.pin };
          if (target.requireDigests && !pin.digest) {
            const where = s.containers[0]!.pinFrom?.file ?? src.overlayFile;
            if (opts.resolve === false) {
              throw new UsageError(
                `${where}: image '${key}' is pinned by tag only (${pin.tag}) and '${target.name}' requires digests; --no-resolve forbids looking the digest up`,
                `drop --no-resolve, or pin the digest in ${source} first: npm run bump ${ctx.app.id} ${source} ${s.name}:${pin.tag}@sha256:<digest>`,
              );
            }
            const k = `${s.name}:${pin.tag}`;
            if (!resolved.has(k)) {
              ctx.log(`resolving ${k} in its registry (${target.name} requires digests)`);
              resolved.set(k, await resolveDigest(s.name, pin.tag!, { envVars, ...opts.registry }));
            }
            pin = { tag: pin.tag, digest: resolved.get(k) };
          }
          wanted.push({ key, pin });
          // Order, not difference: a source that is older than the target is a downgrade.
          const d = dstStates.get(key)!;
          const o = await compareReleases(s.name, s.pin, d.pin, lookup);
          if (o.relation === 'older') downgrades.push(`${key}: ${target.name} runs ${formatPin(d.pin)}, ${source} has the older ${formatPin(s.pin)} (${describeOrdering(o)})`);
          else if (o.relation === 'unordered') notes.push(`${key}: ${formatPin(s.pin)} (${source}) and ${formatPin(d.pin)} (${target.name}) ${describeOrdering(o)}`);
        }
        if (downgrades.length) {
          if (!opts.allowDowngrade) {
            throw new UsageError(`promoting ${ctx.app.id} from ${source} to ${target.name} would downgrade it:\n  ${downgrades.join('\n  ')}`, `pass --allow-downgrade to promote the older release anyway, or bump ${source} first`);
          }
          notes.push(...downgrades.map((d) => `downgrade (--allow-downgrade): ${d}`));
        }
        const full = (p: Pin | undefined) => formatPin(p, { full: true });
        const trees = await allTreeFiles(ctx.root, ctx.apps);
        const plan = await planPinEdits(ctx.root, dst, wanted, trees, full);
        const changes: Change[] = plan.changes.map(({ what, from, to }) => ({ what, from, to }));
        for (const c of plan.changes) if (c.file !== dst.overlayFile) notes.push(`${c.what} is set in ${c.file} (${c.why})`);
        // Release keys travel between the overlays' own kustomizations.
        if (releaseKeys.length) {
          const srcText = await readRepoFile(ctx.root, src.overlayFile);
          const dstText = plan.files[dst.overlayFile] ?? (await readRepoFile(ctx.root, dst.overlayFile));
          const srcDoc = parseKustomization(src.overlayFile, srcText);
          const text = editYaml(dst.overlayFile, dstText, (doc) => {
            for (const { key, segs } of releaseKeys) {
              const before = getKey(doc, segs).value;
              const r = copyKey(srcDoc, doc, segs);
              if (r.missingInSource) notes.push(`release key ${key} is not set in ${source}; left as it is in ${target.name}`);
              if (r.changed) changes.push({ what: key, from: show(before), to: show(getKey(doc, segs).value) });
            }
          });
          if (text !== dstText) plan.files[dst.overlayFile] = text;
        }
        // Release files travel whole, from the source overlay folder to the target's.
        for (const f of ctx.config.releaseFiles) {
          const from = await readReleaseFile(ctx.root, srcApp.dir, f);
          if (from === undefined) {
            notes.push(`release file ${f} is not in ${srcApp.dir}; left as it is in ${target.name}`);
            continue;
          }
          const to = await readReleaseFile(ctx.root, ctx.app.dir, f);
          if (to !== undefined && to.equals(from)) continue;
          const dstFile = path.posix.join(ctx.app.dir, f);
          plan.files[dstFile] = from.toString('utf8');
          changes.push({ what: `file ${f}`, from: to === undefined ? '(none)' : `sha256:${sha256(to).slice(0, 12)}`, to: `sha256:${sha256(from).slice(0, 12)} (${srcApp.dir}/${f})` });
        }
        if (!changes.length || !Object.keys(plan.files).length) return null;
        for (const [file, text] of Object.entries(plan.files)) await writeFile(path.join(ctx.root, file), text);
        await checkRenderedPins(ctx.config, tool, ctx.app, wanted, full);
        const srcFiles = [...new Set([`${srcApp.dir}/`, ...src.containers.flatMap((c) => (c.pinFrom ? [c.pinFrom.file] : []))])];
        const sha = (await ctx.git.run(['log', '-1', '--format=%H%x00%s', ctx.base, '--', ...srcFiles.map(ctx.repoPath)])).trim();
        const [srcSha, subject] = sha.split('\0');
        const images = changes.filter((c) => !c.what.startsWith('/') && !c.what.startsWith('file ') && !releaseKeys.some((k) => k.key === c.what));
        const summary = images.length === 1 && changes.length === 1 ? `${images[0]!.what.split('/').pop()} ${formatPin(wanted.find((w) => w.key === images[0]!.what)?.pin)}` : `${changes.length} changes`;
        return {
          files: plan.files,
          title: `promote ${ctx.app.id} ${source} -> ${target.name}: ${summary}`,
          changes,
          notes,
          source: srcSha ? { label: `source: ${source} (${srcApp.dir}) at commit`, sha: srcSha, subject } : undefined,
        };
      },
    },
    { ...opts, envVars },
  );
}
